"""One service for a province: each county's requests go to that county's own app.

A province deployment (docs/province.md) keeps each county in a partition of the store
(:mod:`store.counties`). The service started on the root store finds the registered
counties at startup and makes, for each, the single-county app of :func:`create_app` on
its partition, with the county's own token key and audience (``Settings.token_auth``), its
caches, its live channel and its 06:00 lists. :class:`CountyDispatch`, the outermost layer
of the root app, hands each request to the app of its county:

1. the audience of the bearer token (``healthmap:370725``), read without checking the
   signature — only to choose the app; that app checks the signature with the county's
   key, so a token made for one county is refused (401) by every other. A request with a
   token is decided by it alone;
2. else an ``X-Healthmap-County`` header (terminals and scripts);
3. else a ``county`` query parameter (the log-in form: ``POST /auth/token?county=370725``).

A request naming no county is the root app's: the pages, the province's own log-ins and
its aggregate routes (``service.routes.province``). A county that is not registered is a
404 problem. A single-county deployment has no counties registered and the layer passes
everything through.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import NotFound, problem_response
from service.settings import Settings
from store.province import counties

#: The header naming a request's county when no token does (terminals, scripts).
COUNTY_HEADER = "x-healthmap-county"


def token_county(authorization: str | None, root_audience: str) -> str | None:
    """The county a bearer token's audience names (``healthmap:370725`` → ``370725``).

    Unverified: it only chooses which county's app checks the token.

    Examples
    --------
    >>> import jwt
    >>> t = jwt.encode({"aud": "healthmap:370725"}, "k" * 32, algorithm="HS256")
    >>> token_county(f"Bearer {t}", "healthmap")
    '370725'
    >>> token_county("Bearer not-a-token", "healthmap") is None
    True
    """
    if not authorization or authorization[:7].lower() != "bearer ":
        return None
    parts = authorization[7:].strip().split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    aud = payload.get("aud") if isinstance(payload, dict) else None
    prefix = f"{root_audience}:"
    if isinstance(aud, str) and aud.startswith(prefix):
        return aud[len(prefix) :]
    return None


def request_county(scope: Scope, root_audience: str) -> str | None:
    """The county a request names (module docstring), or None for the root app.

    A bearer token decides alone: a root token's request is the root's even when it
    names a county in its query (the province map's drill-down, ``?county=370725``).
    """
    headers = Headers(scope=scope)
    authorization = headers.get("authorization")
    if authorization:
        return token_county(authorization, root_audience)
    named = headers.get(COUNTY_HEADER)
    if named:
        return named
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
        if key == "county" and value:
            return value
    return None


class CountyDispatch:
    """The root app's outermost layer: a county's request goes to the county's app."""

    def __init__(self, app: ASGIApp, audience: str) -> None:
        self.app = app
        self.audience = audience

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The root app's county apps (none before its startup, none for a single county);
        # Starlette puts the app in the scope before its middleware runs.
        apps: dict[str, ASGIApp] = getattr(scope["app"].state, "county_apps", None) or {}
        if not apps or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        county = request_county(scope, self.audience)
        if county is None:
            await self.app(scope, receive, send)
            return
        target = apps.get(county[:6])
        if target is None:
            if scope["type"] == "http":
                error = NotFound(
                    f"No county {county!r} in this deployment; GET /api/v1/counties lists them."
                )
                await problem_response(error, scope)(scope, receive, send)
            return
        await target(dict(scope), receive, send)


def county_apps_factory(
    settings: Settings, make_app: Callable[[Settings], FastAPI]
) -> Callable[[FastAPI, Engine], Any]:
    """A context manager starting every registered county's app beside the root app.

    ``make_app`` is :func:`service.app.create_app`; each county's app gets
    ``settings.for_county(code)``. Their lifespans run inside the root's, so they stop
    with it.
    """

    @asynccontextmanager
    async def run(root: FastAPI, store: Engine) -> AsyncIterator[dict[str, FastAPI]]:
        apps: dict[str, FastAPI] = {}
        if settings.county is not None:
            yield apps
            return
        registry = counties(store, partitioned_only=True)
        async with AsyncExitStack() as stack:
            for code in registry["county_code"]:
                sub = make_app(settings.for_county(code[:6]))
                sub.state.scheduler_enabled = root.state.scheduler_enabled
                await stack.enter_async_context(sub.router.lifespan_context(sub))
                apps[code[:6]] = sub
            yield apps

    return run
