"""Every FastAPI dependency of the service, as ``Annotated`` types.

Routes declare what they need by type::

    @router.get("/teams/{team_id}/tasks")
    def tasks(team_id: str, user: DoctorOrCenter, session: SessionDep, audit: AuditDep): ...

Dependencies that do no I/O are ``async def`` so that FastAPI calls them on the event
loop instead of handing each to its thread pool; those that query the store
(:func:`get_current_user`) stay plain ``def``.

Access rules (docs/security.md):

* a role that may not use an endpoint at all gets **403** (``require_roles``);
* a resource outside the caller's scope (another team's patient, another township's grid)
  is **404**, exactly as if it did not exist (``ensure_in_scope``), so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geo.vocabulary import (
    ANALYST_ROLES,
    CARE_ROLES,
    RESIDENT_ROLE,
    ROLES,
    TEAM_SCOPED_ROLE,
    TOWN_SCOPED_ROLE,
)
from service.audit import AuditWriter, record_audit
from service.auth import Principal, decode_token, principal_from_claims
from service.caching import SingleFlightLRU
from service.client import client_address  # its home is service.client
from service.errors import Forbidden, NotFound, TerminalUnauthorized, Unauthorized
from service.ratelimit import TokenBucketLimiter
from service.settings import Settings
from service.terminal_auth import HEADER_ID
from service.worklists import WorklistCache

# auto_error=False: a missing token must become our 401 problem, not FastAPI's own error.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    """The store's engine."""
    engine: Engine = request.app.state.engine
    return engine


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for this request; routes commit explicitly, anything else is rolled back.

    ``async``, like the other dependencies that only look things up: FastAPI runs a plain
    ``def`` dependency in its thread pool, and those hand-offs (two for a generator) were
    a good part of a cached request's cost. Making a session does no I/O; closing one
    that a route did not :func:`release` returns its connection (a rollback) on the event
    loop — a short local call.
    """
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A session for a route that only reads: no transaction of its own on PostgreSQL
    (:func:`store.engine.reads_engine`: two round trips fewer per request). Each
    statement sees what was committed when it started, as in a READ COMMITTED
    transaction; a route that writes, or needs one snapshot for several statements,
    takes :func:`get_session`."""
    with Session(request.app.state.reads, expire_on_commit=False) as session:
        yield session


async def get_worklists(request: Request) -> WorklistCache:
    """The app's push-list and route cache (``service.worklists``)."""
    cache: WorklistCache = request.app.state.worklists
    return cache


async def get_answers(request: Request) -> SingleFlightLRU[bytes]:
    """The app's cache of computed response bodies (``service.caching``)."""
    cache: SingleFlightLRU[bytes] = request.app.state.answers
    return cache


async def get_limiter(request: Request) -> TokenBucketLimiter:
    """The app's rate limiter."""
    limiter: TokenBucketLimiter = request.app.state.rate_limiter
    return limiter


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
LimiterDep = Annotated[TokenBucketLimiter, Depends(get_limiter)]
WorklistsDep = Annotated[WorklistCache, Depends(get_worklists)]
AnswersDep = Annotated[SingleFlightLRU[bytes], Depends(get_answers)]
TokenDep = Annotated[str | None, Depends(oauth2_scheme)]


def _caller(
    request: Request,
    token: str | None,
    settings: Settings,
    limiter: TokenBucketLimiter,
    bucket: str,
) -> Principal:
    if request.headers.get(HEADER_ID) is not None:
        # A terminal's key may post readings and nothing else (docs/terminals.md).
        raise TerminalUnauthorized(
            "Terminal credentials are accepted only by POST /api/v1/terminal/readings.",
            reason="terminal_credentials_elsewhere",
        )
    if not token:
        raise Unauthorized("Log in first: send `Authorization: Bearer <access token>`.", error=None)
    claims = decode_token(token, settings.token_auth, "access")
    # Counted before the store is asked: a runaway client costs a signature check only.
    limiter.hit(f"{bucket}:{claims['sub']}")
    principal = principal_from_claims(request.app.state.reads, claims)
    # The access log reads this: it logs the numeric id, never the username.
    request.state.user_id = principal.id
    # The access log's role and the audit of a refusal (403, 404) read the principal.
    request.state.principal = principal
    return principal


def release(session: Session) -> None:
    """Give the session's connection back to the pool now (the session stays usable).

    A request must never hold two pooled connections at once: under load every worker
    thread would hold one and wait for a second, and the pool would deadlock until its
    timeout. So a route that goes on to functions taking the engine (the store queries,
    the push lists, an audit record outside the request's transaction) releases its
    session first.
    """
    session.close()


def get_current_user(
    request: Request,
    token: TokenDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> Principal:
    """The caller, from a valid access token; counts against the caller's rate limit."""
    return _caller(request, token, settings, limiter, "user")


async def get_tile_limiter(request: Request) -> TokenBucketLimiter:
    """The limiter of the tile routes (a map view fetches dozens of tiles at once)."""
    limiter: TokenBucketLimiter = request.app.state.tile_rate_limiter
    return limiter


def get_tile_user(
    request: Request,
    token: TokenDep,
    settings: SettingsDep,
    limiter: Annotated[TokenBucketLimiter, Depends(get_tile_limiter)],
) -> Principal:
    """The caller of a tile route, counted against the (larger) tile budget."""
    return _caller(request, token, settings, limiter, "tiles")


CurrentUser = Annotated[Principal, Depends(get_current_user)]
TileUser = Annotated[Principal, Depends(get_tile_user)]


def require_roles(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only ``roles`` (403 for the others)."""
    allowed = frozenset(roles)
    if unknown := allowed.difference(ROLES):
        raise ValueError(f"unknown roles {sorted(unknown)}; the roles are {ROLES}")

    async def check(user: CurrentUser) -> Principal:
        if user.role not in allowed:
            raise Forbidden(f"Role {user.role} may not use this endpoint.")
        return user

    return check


AdminUser = Annotated[Principal, Depends(require_roles("admin"))]
DoctorUser = Annotated[Principal, Depends(require_roles("doctor"))]
CareUser = Annotated[Principal, Depends(require_roles(*CARE_ROLES))]
AggregateUser = Annotated[Principal, Depends(require_roles(*ANALYST_ROLES))]
#: Terminals post readings with a service account of role admin; doctors for their patients.
RecorderUser = Annotated[Principal, Depends(require_roles("doctor", "admin"))]


async def _resident(
    user: Annotated[Principal, Depends(require_roles(RESIDENT_ROLE))],
) -> Principal:
    # The role's check constraint binds every resident account to one resident; refuse
    # anyway rather than let a query run unscoped.
    if not user.resident_id:
        raise Forbidden("This resident account is bound to no resident.")
    return user


#: A resident on their own page (``/r/``): ``user.resident_id`` is the one resident every
#: query of the route must be scoped to (docs/residents.md).
ResidentUser = Annotated[Principal, Depends(_resident)]


def ensure_in_scope(
    user: Principal, *, team_id: str | None = None, town_code: str | None = None
) -> None:
    """Raise :class:`NotFound` unless the individual-level resource is in ``user``'s scope.

    Parameters
    ----------
    team_id
        The team the resource belongs to (a patient's managing team, a route's team).
    town_code
        The township the resource lies in. A doctor is judged by team only, a centre by
        township only; the other roles see no individual-level data at all.
    """
    if user.role == TEAM_SCOPED_ROLE and team_id is not None and team_id == user.team_id:
        return
    if user.role == TOWN_SCOPED_ROLE and town_code is not None and town_code == user.town_code:
        return
    raise NotFound()


class Auditor:
    """Records audit entries for the current request and user."""

    def __init__(
        self, request: Request, engine: Engine, user: Principal, writer: AuditWriter | None
    ) -> None:
        self.engine = engine
        self.user = user
        self.writer = writer
        self.client = client_address(request)
        route = request.scope.get("route")
        self.endpoint = f"{request.method} {getattr(route, 'path', request.url.path)}"

    def __call__(
        self,
        action: str,
        resource_type: str | None = None,
        resource_id: str | None = None,
        detail: dict[str, Any] | None = None,
        *,
        session: Session | None = None,
    ) -> None:
        """Append a record; in ``session``'s transaction if given, else committed before
        this returns — together with other requests' records (:class:`AuditWriter`)."""
        fields: dict[str, Any] = {
            "action": action,
            "endpoint": self.endpoint,
            "user": self.user,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "client": self.client,
            "detail": detail,
        }
        if session is not None:
            record_audit(session, **fields)
        elif self.writer is not None:
            self.writer.write(**fields)
        else:
            record_audit(self.engine, **fields)


async def get_auditor(request: Request, engine: EngineDep, user: CurrentUser) -> Auditor:
    """An :class:`Auditor` bound to this request (and to the app's :class:`AuditWriter`)."""
    return Auditor(request, engine, user, getattr(request.app.state, "audit_writer", None))


AuditDep = Annotated[Auditor, Depends(get_auditor)]
