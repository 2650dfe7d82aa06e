"""ASGI middlewares: request context and access log, security headers, body limit, NUL guard,
catch-all.

Pure ASGI (no ``BaseHTTPMiddleware``) so streamed responses (tiles, exports) pass through
untouched. The order, outermost first, is set in ``service.app``::

    RequestContext → SecurityHeaders → [CORS] → CatchAll → BodyLimit → NulGuard → FastAPI

so the access log sees the final status of everything, every response carries the
security headers (500s and 413s included), nothing unexpected reaches Starlette's
plain-text 500 page, and a body is measured before it is scanned for NUL characters.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.access_log import access_fields, access_logger, log_path, write_access_line
from service.audit import DenialAudit
from service.errors import BadRequest, PayloadTooLarge, problem_response

__all__ = ["access_logger", "log_path"]  # their home is service.access_log

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


# ----------------------------------------------------------------------------------------
# Request context and access log
# ----------------------------------------------------------------------------------------
class RequestContextMiddleware:
    """Give each request an id, write its access-log line and audit it if it was refused.

    The line (``service.access_log``) has method, route template, query parameter
    *names*, status, duration, the account's numeric id and role (set by the auth
    dependency), the client address and the request id — never query values or path
    parameters: they may be a resident id, an ID number or a name. A refusal (401 to a
    credential, 403, 404 to a signed-in caller) is then recorded in the audit log
    (:class:`service.audit.DenialAudit`), after the answer has left.

    A UUID in an incoming ``X-Request-ID`` (from the reverse proxy) is kept; anything else
    is replaced, so the id is always safe to log and to put in ``instance``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.denials = DenialAudit()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        rid = incoming if _UUID_RE.match(incoming) else str(uuid.uuid4())
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        start = time.perf_counter()
        status = 500
        challenge: str | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status, challenge
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = rid
                challenge = headers.get("www-authenticate")
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            names = sorted({k for k, _ in parse_qsl(_qs(scope), keep_blank_values=True)})
            fields = access_fields(scope, status, (time.perf_counter() - start) * 1000, rid, names)
            write_access_line(fields)
            if status in (401, 403, 404):
                await self.denials(scope, status, challenge, fields["client"])


def _qs(scope: Scope) -> str:
    raw = scope.get("query_string", b"")
    return raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)


# ----------------------------------------------------------------------------------------
# Security headers
# ----------------------------------------------------------------------------------------
def content_security_policy(extra_origins: Iterable[str] = ()) -> str:
    """The CSP of the application: everything from the service itself.

    ``data:``/``blob:`` images and ``blob:`` workers are what MapLibre needs (sprites, its
    worker); they are not other origins. ``extra_origins`` are the basemap tile hosts, when
    a deployment configures one.
    """
    extra = " ".join(extra_origins)
    tiles = f" {extra}" if extra else ""
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data: blob:" + tiles,
        "font-src": "'self'",
        "connect-src": "'self'" + tiles,
        "worker-src": "'self' blob:",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{k} {v}" for k, v in directives.items())


def basemap_origin(url_template: str | None) -> str | None:
    """CSP source of a basemap URL template (``https://t{s}.tianditu.gov.cn/…``).

    A host label holding a ``{placeholder}`` (tile-server sharding) becomes ``*``.
    """
    if not url_template:
        return None
    parts = urlsplit(url_template)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    labels = ["*" if "{" in label else label for label in parts.netloc.split(".")]
    if "*" in labels[1:]:
        return None  # CSP allows a wildcard only as the leftmost label
    return f"{parts.scheme}://{'.'.join(labels)}"


class SecurityHeadersMiddleware:
    """Add the security headers to every response (a response may set its own CSP).

    ``Cache-Control: no-store`` goes on JSON answers that set no caching themselves: they
    may hold personal data, and a shared clinic computer must not keep them.
    """

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Content-Security-Policy", self.csp)
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                headers.setdefault(
                    "Permissions-Policy", "geolocation=(self), camera=(), microphone=()"
                )
                if https:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
                if "json" in headers.get("content-type", ""):
                    headers.setdefault("Cache-Control", "no-store")
                elif "csv" in headers.get("content-type", ""):
                    # Exports are audited one by one; a kept copy would skip the audit.
                    headers.setdefault("Cache-Control", "private, no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


# ----------------------------------------------------------------------------------------
# Body limit
# ----------------------------------------------------------------------------------------
class BodyLimitMiddleware:
    """Answer 413 (problem) to a request body larger than ``max_bytes``.

    A declared Content-Length over the limit is refused before anything is read. A chunked
    body is counted as it is read; when it passes the limit, reading raises a 413 HTTP
    error, and should the endpoint swallow that, its response is replaced by the 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"The request body exceeds {self.max_bytes} bytes."
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await problem_response(PayloadTooLarge(detail), scope)(scope, receive, send)
            return

        received = 0
        exceeded = False
        replaced = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    # An HTTP error, not a domain error: FastAPI re-raises HTTP errors from
                    # body parsing but turns any other exception into a 400.
                    raise StarletteHTTPException(413, detail)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            if message["type"] == "http.response.start" and exceeded and message["status"] != 413:
                replaced = True
                await problem_response(PayloadTooLarge(detail), scope)(scope, receive, send)
                return
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


# ----------------------------------------------------------------------------------------
# NUL characters
# ----------------------------------------------------------------------------------------
_NUL_MARKS = (b"\x00", b"%00", b"\\u0000")
_SCANNED_BODIES = ("application/json", "application/x-www-form-urlencoded", "+json")


def _has_nul(data: bytes) -> bool:
    lowered = data.lower()
    return any(mark in lowered for mark in _NUL_MARKS)


class NulGuardMiddleware:
    """Answer 400 to a NUL character (U+0000) in the path, the query or a JSON/form body.

    No field of the service may hold one, and PostgreSQL text cannot: such a value would
    otherwise fail deep inside a query as a 500. JSON and form bodies are read in full to
    be checked (they are small; the body limit applies first) and then handed on;
    multipart uploads are not scanned (files may hold NUL bytes; their names are cleaned).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = "The request holds a NUL character (U+0000), which no value may contain."
        raw_path = scope.get("raw_path") or str(scope.get("path", "")).encode("utf-8", "replace")
        path = str(scope.get("path", "")).encode("utf-8", "replace")
        if _has_nul(raw_path) or _has_nul(path) or _has_nul(scope.get("query_string", b"")):
            await problem_response(BadRequest(detail), scope)(scope, receive, send)
            return
        ctype = Headers(scope=scope).get("content-type", "").lower()
        if not any(kind in ctype for kind in _SCANNED_BODIES):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        if _has_nul(body):
            await problem_response(BadRequest(detail), scope)(scope, receive, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


# ----------------------------------------------------------------------------------------
# Catch-all
# ----------------------------------------------------------------------------------------
class CatchAllMiddleware:
    """Turn an exception nobody handled into a 500 problem (logged with its traceback)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            if started:
                raise  # too late for a problem body; the server aborts the response
            await problem_response(exc, scope)(scope, receive, send)
