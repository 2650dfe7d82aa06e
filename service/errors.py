"""Domain errors and the one mapping from any error to an RFC 9457 problem response.

Every layer raises the errors of :mod:`geo.errors` (``NotFoundError``,
``InvalidInputError``…; here also under their older names ``NotFound``, ``Invalid``…);
the service adds the errors only HTTP knows (``Unauthorized``, ``Forbidden``,
``PayloadTooLarge``, ``TooManyRequests``). One table, :data:`STATUS_CODES`, gives each
error class its problem type and status; a subclass takes its nearest mapped ancestor's.
:func:`problem_response` is the only place an error becomes HTTP;
:func:`install_error_handlers` routes the domain errors, FastAPI's validation errors and
Starlette's HTTP errors (unknown route, wrong method) to it, and the catch-all middleware
(``service.middleware``) sends everything unexpected there as a 500.

Every error body has the same shape (``application/problem+json``)::

    {"type": "/problems/not-found", "title": "Not found", "status": 404,
     "detail": "...", "instance": "urn:uuid:<request id>"}

``type`` is a relative reference to ``GET /problems/<slug>``, which describes it;
``instance`` is the request id, also sent as ``X-Request-ID`` and written to the access
log, so a user's error report leads to the log line. Validation problems add ``errors``
(where and what, never the submitted value: it may be an ID number or a name).
"""

from __future__ import annotations

import http
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from geo.errors import (
    BadParameterError,
    ConflictError,
    HealthmapError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)

logger = logging.getLogger("healthmap.service")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_PREFIX = "/problems/"


@dataclass(frozen=True)
class ProblemType:
    """A documented kind of problem (served at ``/problems/<slug>``)."""

    slug: str
    status: int
    title: str
    description: str

    @property
    def uri(self) -> str:
        return PROBLEM_PREFIX + self.slug


_TYPES = [
    ProblemType("bad-request", 400, "Bad request", "The request could not be read."),
    ProblemType(
        "unauthorized",
        401,
        "Not authenticated",
        "No valid access token: log in at POST /auth/token, or refresh at POST /auth/refresh.",
    ),
    ProblemType(
        "forbidden",
        403,
        "Forbidden",
        "Your role may not use this endpoint (docs/security.md lists what each role may do).",
    ),
    ProblemType(
        "not-found",
        404,
        "Not found",
        "No such resource, or it is outside your scope (a doctor's own team, a centre's own"
        " township): the service does not reveal which.",
    ),
    ProblemType(
        "method-not-allowed", 405, "Method not allowed", "The Allow header lists the methods."
    ),
    ProblemType("conflict", 409, "Conflict", "The request conflicts with the current state."),
    ProblemType(
        "content-too-large",
        413,
        "Content too large",
        "The request body is larger than the service accepts (service.max_body_bytes).",
    ),
    ProblemType(
        "unsupported-media-type", 415, "Unsupported media type", "Send the documented type."
    ),
    ProblemType(
        "invalid",
        422,
        "Invalid request",
        "A parameter or the body is invalid; `errors` lists where and why.",
    ),
    ProblemType(
        "too-many-requests",
        429,
        "Too many requests",
        "The per-user request budget is used up; retry after Retry-After seconds.",
    ),
    ProblemType(
        "account-locked",
        429,
        "Account temporarily locked",
        "Too many failed logins; retry after Retry-After seconds (auth.lockout_minutes).",
    ),
    ProblemType(
        "resident-locked",
        403,
        "Resident account locked",
        "Too many wrong PINs (residents.max_failed_pins): the family doctor issues a new"
        " activation code, with which the resident sets a new PIN (docs/residents.md).",
    ),
    ProblemType(
        "internal",
        500,
        "Internal server error",
        "An unexpected error; the instance (request id) is in the server log.",
    ),
    ProblemType(
        "unavailable",
        503,
        "Service unavailable",
        "The store is unreachable, busy or not migrated; retry after Retry-After seconds."
        " A write answered 503 was not stored (retry it with the same id).",
    ),
]
#: Every problem type, by slug.
PROBLEM_TYPES: dict[str, ProblemType] = {t.slug: t for t in _TYPES}
# The generic type of each status (``account-locked`` is a refinement of 429).
_BY_STATUS: dict[int, ProblemType] = {}
for _t in _TYPES:
    _BY_STATUS.setdefault(_t.status, _t)


# ----------------------------------------------------------------------------------------
# Errors: the domain's (geo.errors) under the service's old names, and HTTP's own
# ----------------------------------------------------------------------------------------
#: The service's names of the domain errors (one class each: ``NotFound is NotFoundError``).
NotFound = NotFoundError
Invalid = InvalidInputError
BadRequest = BadParameterError
Conflict = ConflictError
ServiceUnavailable = UnavailableError


class HTTPError(HealthmapError):
    """An error only HTTP knows (authentication, roles, body size, rate): may carry headers.

    Parameters
    ----------
    detail
        Human-readable explanation for the client. Must not contain personal data.
    headers
        Extra response headers (``Retry-After``, ``WWW-Authenticate``…).
    extra
        Extension members added to the problem body.
    """

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail, extra=extra)
        self.headers = dict(headers or {})


class Unauthorized(HTTPError):
    """No, an expired or a forged token; wrong credentials (401)."""

    def __init__(self, detail: str | None = None, *, error: str | None = "invalid_token") -> None:
        # RFC 6750 §3: tell Bearer clients what went wrong, in the header they parse (no
        # error code when the request simply carried no token).
        challenge = f'Bearer error="{error}"' if error else "Bearer"
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(HTTPError):
    """The role may not use this endpoint at all (403). Out-of-scope data is NotFound."""


class PayloadTooLarge(HTTPError):
    """The request body exceeds ``service.max_body_bytes`` (413)."""


class TooManyRequests(HTTPError):
    """Rate limit reached (429); ``retry_after`` seconds go to the Retry-After header."""

    def __init__(self, detail: str | None = None, *, retry_after: float = 1.0) -> None:
        seconds = max(1, round(retry_after + 0.5))
        super().__init__(detail, headers={"Retry-After": str(seconds)})
        self.retry_after = seconds


class AccountLocked(TooManyRequests):
    """Too many failed logins for this username (429, type ``account-locked``)."""


class ResidentLocked(Forbidden):
    """A resident's account locked by wrong PINs (403, type ``resident-locked``); only a
    doctor's reissue lifts it, so no Retry-After."""


class TerminalUnauthorized(Unauthorized):
    """A terminal's signed request that does not hold (401, type ``unauthorized``).

    ``reason`` (a problem extension member) says which check failed: ``missing_headers``,
    ``unknown_terminal``, ``revoked``, ``bad_signature``, ``stale_timestamp``,
    ``replayed_nonce`` or ``terminal_credentials_elsewhere`` (docs/terminals.md).
    """

    def __init__(self, detail: str, *, reason: str) -> None:
        HTTPError.__init__(
            self,
            detail,
            headers={"WWW-Authenticate": 'HealthmapTerminal error="invalid_token"'},
            extra={"reason": reason},
        )


# ----------------------------------------------------------------------------------------
# The one table: error class → problem type (and so status)
# ----------------------------------------------------------------------------------------
#: The problem type of each error class, after tipg's ``DEFAULT_STATUS_CODES``. An error
#: takes the entry of the nearest class of its MRO, so a subclass (``NoBuildError``,
#: ``UnknownLayerError``, a tile parameter error…) needs no entry and no handler. A
#: :class:`HealthmapError` with no mapped ancestor is a 500, like any unexpected error.
STATUS_CODES: dict[type[Exception], ProblemType] = {
    BadParameterError: PROBLEM_TYPES["bad-request"],
    Unauthorized: PROBLEM_TYPES["unauthorized"],
    Forbidden: PROBLEM_TYPES["forbidden"],
    NotFoundError: PROBLEM_TYPES["not-found"],
    ConflictError: PROBLEM_TYPES["conflict"],
    PayloadTooLarge: PROBLEM_TYPES["content-too-large"],
    InvalidInputError: PROBLEM_TYPES["invalid"],
    TooManyRequests: PROBLEM_TYPES["too-many-requests"],
    AccountLocked: PROBLEM_TYPES["account-locked"],
    ResidentLocked: PROBLEM_TYPES["resident-locked"],
    UnavailableError: PROBLEM_TYPES["unavailable"],
}


#: Seconds a client is told to wait (``Retry-After``) when the store is unavailable: a
#: PostgreSQL restart takes a few; clients retrying at once would only add to the queue.
RETRY_AFTER_SECONDS = 5

#: Messages of SQLite's errors that mean the file cannot be used now (locked by a writer
#: beyond the busy timeout, missing or unreadable, read-only, failing disk), not a bug.
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "database table is locked",
    "unable to open database",
    "disk i/o error",
    "readonly database",
    "database or disk is full",
)


def _store_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the store cannot be reached or used now.

    PostgreSQL (psycopg): the connection is lost or refused, the server shuts down or
    starts (SQLAlchemy's disconnect detection, ``connection_invalidated``), or any
    ``OperationalError``/``InterfaceError`` of the driver (classes 08, 53, 57, 58) —
    wrapped by SQLAlchemy or, from a raw-connection read (``COPY``), not. A session whose
    connection died mid-transaction says so with ``PendingRollbackError``. SQLite: the
    messages of :data:`_SQLITE_UNAVAILABLE`. The causes of ``exc`` are looked at too (a
    reader may re-raise). A constraint violation or an SQL error is not an outage (it
    stays a 500, or the route's own 409).
    """
    seen: set[int] = set()
    err: BaseException | None = exc
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if _unavailable_itself(err):
            return True
        err = err.__cause__ or err.__context__
    return False


def _unavailable_itself(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.PendingRollbackError):
        return True  # no pooled connection free in time; a connection lost mid-transaction
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        if not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return False
        return _driver_unavailable(exc.orig)
    return _driver_unavailable(exc)


def _driver_unavailable(orig: BaseException | None) -> bool:
    """Whether a driver's own exception (not SQLAlchemy's wrapper) is an outage."""
    if orig is None:
        return False
    module = type(orig).__module__
    names = {c.__name__ for c in type(orig).__mro__}
    if module.startswith("sqlite3"):
        if not names & {"OperationalError", "InterfaceError"}:
            return False
        message = str(orig).lower()
        return any(m in message for m in _SQLITE_UNAVAILABLE)
    return module.startswith("psycopg") and bool(names & {"OperationalError", "InterfaceError"})


def domain_error(exc: BaseException) -> BaseException:
    """The domain error a library error stands for, or ``exc`` itself.

    The store's unavailability, however the driver says it, is an
    :class:`~geo.errors.UnavailableError` (503 with ``Retry-After``): the table below
    maps that error, so an outage is one row, not a handler per driver.
    """
    if isinstance(exc, HealthmapError):
        return exc  # already the product's own error (its detail is the route's)
    if _store_unavailable(exc):
        logger.warning("store unavailable: %s", type(exc.__cause__ or exc).__name__)
        return UnavailableError(
            "The store is unavailable for the moment; nothing was changed. Retry after"
            f" {RETRY_AFTER_SECONDS} seconds."
        )
    return exc


def problem_type_of(error: type[BaseException]) -> ProblemType | None:
    """The problem type of an error class: its nearest ancestor's in :data:`STATUS_CODES`."""
    for cls in error.__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return None


# ----------------------------------------------------------------------------------------
# The one mapping
# ----------------------------------------------------------------------------------------
def request_id(scope: Scope) -> str:
    """The id of the request (set by the context middleware; made up if it did not run)."""
    state = scope.setdefault("state", {})
    rid = state.get("request_id")
    if not rid:
        rid = state["request_id"] = str(uuid.uuid4())
    return str(rid)


def problem_body(
    problem: ProblemType | None, status: int, detail: str | None, scope: Scope, **extra: Any
) -> dict[str, Any]:
    """The RFC 9457 members, plus extensions.

    ``problem`` None is a status the service has no type for: RFC 9457's ``about:blank``,
    whose title is the status phrase.
    """
    body: dict[str, Any] = {
        "type": problem.uri if problem else "about:blank",
        "title": problem.title if problem else _phrase(status),
        "status": status,
        "detail": detail or (problem.description if problem else _phrase(status)),
        "instance": f"urn:uuid:{request_id(scope)}",
    }
    body.update(extra)
    return body


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ProblemResponse(Response):
    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def problem_response(exc: BaseException, scope: Scope) -> ProblemResponse:
    """Turn any exception into its problem response. The only error-to-HTTP mapping.

    Parameters
    ----------
    exc
        An error of :data:`STATUS_CODES` (by its class or an ancestor), a Starlette/FastAPI
        HTTP error, a validation error or anything else (which becomes a 500 whose body says
        nothing about the cause).
    scope
        The ASGI scope of the request (for the request id).
    """
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    problem: ProblemType | None
    exc = domain_error(exc)
    mapped = problem_type_of(type(exc))
    if mapped is not None:
        problem, status = mapped, mapped.status
        # Only the product's own errors say why: any other message may hold data.
        detail = exc.detail if isinstance(exc, HealthmapError) else None
        headers.update(getattr(exc, "headers", {}))
        extra.update(getattr(exc, "extra", {}))
    elif isinstance(exc, RequestValidationError):
        problem, status = PROBLEM_TYPES["invalid"], 422
        errors = _validation_errors(exc.errors())
        detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5])
        extra["errors"] = errors
    elif isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        problem = _BY_STATUS.get(status)
        # Starlette's default detail is just the status phrase: say something more useful.
        plain = not isinstance(exc.detail, str) or exc.detail == _phrase(status)
        detail = None if plain else exc.detail
        headers.update(exc.headers or {})
    else:
        problem, status, detail = PROBLEM_TYPES["internal"], 500, None
        logger.error(
            "unhandled error, request %s",
            request_id(scope),
            exc_info=(type(exc), exc, exc.__traceback__),
        )
    if status == 503:
        # RFC 9110 §10.2.3: when to come back (a route's own value wins).
        headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    body = problem_body(problem, status, detail, scope, **extra)
    headers.pop("content-length", None)
    return ProblemResponse(body, status_code=status, headers=headers)


def _validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # FastAPI's default echoes the submitted value ("input") and pydantic's context; either
    # may be an ID number or a name, so only where and what is kept.
    out = []
    for e in errors:
        loc = ".".join(str(p) for p in e.get("loc", ()))
        out.append({"loc": loc, "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))})
    return out


async def problem_handler(request: Request, exc: Exception) -> Response:
    """The exception handler of every error: :func:`problem_response`."""
    return problem_response(exc, request.scope)


def install_error_handlers(app: FastAPI) -> None:
    """Route the errors of ``app`` that are not the product's own to :func:`problem_response`.

    The product's errors (:class:`geo.errors.HealthmapError`, raised by every layer) have
    their one handler in ``service.app``; here are FastAPI's validation errors,
    Starlette's HTTP errors and the last resort.
    """
    app.add_exception_handler(RequestValidationError, problem_handler)
    app.add_exception_handler(StarletteHTTPException, problem_handler)
    # The store's errors: an outage becomes a 503 (domain_error), anything else a 500.
    app.add_exception_handler(sa_exc.DBAPIError, problem_handler)
    app.add_exception_handler(sa_exc.TimeoutError, problem_handler)
    # Last resort behind the catch-all middleware (e.g. a failure inside a middleware).
    app.add_exception_handler(Exception, problem_handler)


def problem_doc(description: str) -> dict[str, Any]:
    """An OpenAPI response entry for one documented error status of an operation."""
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


#: OpenAPI schema of a problem body (added to components by ``service.app``).
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details; every error of the service has this shape.",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "description": "`/problems/<slug>` or `about:blank`."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "`urn:uuid:<request id>`."},
        "errors": {
            "type": "array",
            "description": "Validation problems only: where and what (never the value).",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "string"},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
