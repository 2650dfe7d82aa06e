"""Helpers of the browser tests (plain code; the fixtures are in conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from service.accounts import DEMO_USERS

#: The as-of date of the test county (fixed: the same data, the same first task, every day).
AS_OF = "2026-06-30"


def demo_password(role: str) -> tuple[str, str]:
    """(username, password) of the demo account of ``role``."""
    for username, password, r in DEMO_USERS:
        if r == role:
            return username, password
    raise KeyError(role)


def api_token(base: str, role: str) -> str:
    username, password = demo_password(role)
    r = httpx.post(f"{base}/auth/token", data={"username": username, "password": password})
    r.raise_for_status()
    return str(r.json()["access_token"])


@dataclass
class Watch:
    """What a page did: console errors, uncaught exceptions, every requested URL."""

    base: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def attach(self, context: Any, page: Any) -> None:
        own = urlsplit(self.base).netloc

        def route(r: Any) -> None:
            url = r.request.url
            self.urls.append(url)
            if urlsplit(url).netloc == own:
                r.continue_()
            else:
                r.abort()  # recorded and failed by the test; never sent anywhere

        # On the context: it also sees the requests of MapLibre's web worker (tiles).
        context.route("**/*", route)
        context.on("request", lambda req: self.urls.append(req.url))
        page.on(
            "console",
            lambda msg: (
                self.console_errors.append(f"{msg.text} @ {msg.location}")
                if msg.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))

    def foreign(self) -> list[str]:
        """Requests to anything but the server (data:/blob: URLs are not requests)."""
        own = urlsplit(self.base).netloc
        return sorted(
            {
                u
                for u in self.urls
                if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).netloc != own
            }
        )

    def assert_clean(self) -> None:
        assert not self.page_errors, f"uncaught exceptions: {self.page_errors}"
        assert not self.console_errors, f"console errors: {self.console_errors}"
        assert not self.foreign(), f"requests to other hosts: {self.foreign()}"
        assert self.urls, "no request was recorded at all"


@contextmanager
def watched_page(browser: Any, server: str, **context_options: Any) -> Iterator[Any]:
    """A page in a fresh browser context, under :class:`Watch`; clean on a normal exit."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    watch = Watch(server)
    watch.attach(context, page)
    try:
        yield page
        watch.assert_clean()
    finally:
        context.close()


def log_in(page: Any, role: str, *, tap: bool = False) -> None:
    """Fill the login form of the page on screen with ``role``'s demo account and submit."""
    username, password = demo_password(role)
    page.fill("#login-form input[name=username]", username)
    page.fill("#login-form input[name=password]", password)
    submit = "#login-form button[type=submit]"
    page.tap(submit) if tap else page.click(submit)
