"""Helpers of the browser tests (plain code; the fixtures are in conftest.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from service.accounts import DEMO_USERS

#: The as-of date of the test county (fixed: the same data, the same first task, every day).
AS_OF = "2026-06-30"
#: The console command of this environment.
HEALTHMAP = str(Path(sys.executable).with_name("healthmap"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(
    options: list[str], serve_options: list[str], log_path: Path, env: dict[str, str], **popen: Any
) -> Iterator[str]:
    """``healthmap OPTIONS serve --host 127.0.0.1 --port P SERVE_OPTIONS`` until the block
    ends; yields its base URL once ``/readyz`` answers 200 (at most 90 s; the server's log
    in the error when it exits or does not get ready)."""
    port = free_port()
    cmd = [HEALTHMAP, *options, "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*cmd, *serve_options], stdout=log, stderr=subprocess.STDOUT, env=env, **popen
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                if proc.poll() is not None:
                    log.flush()
                    raise RuntimeError(f"the server exited: {log_path.read_text()}")
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not become ready in 90 s")
                time.sleep(0.3)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


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
