"""The audit log: who read, wrote or exported what, and when.

Append-only. This module has no update or delete function, the API has no such endpoint,
and the store's triggers (migration ``0002``) reject UPDATE and DELETE on ``audit_log``.

What goes in: the account (id, username, role), the action (``read``, ``write``,
``export``, ``login``, ``admin``, ``denied``), the endpoint (method and route template),
the resource type and id (e.g. ``resident`` / ``R000123``), the client address and a small
JSON ``detail`` (filters, counts). What never goes in: a resident's name, ID number, phone
or address, or any value read from the store — the audit log must be safe to hand to an
inspector.

Refusals are recorded too (:class:`DenialAudit`, called by the access-log middleware for
every answer): a 401 to a credential that did not hold, a 403 to a role, a 404 to a signed
in caller (an id outside its scope answers exactly like an unknown one) — who, which
endpoint and id, and why, as action ``denied``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from collections.abc import MutableMapping
from concurrent.futures import Future
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.orm import Session

from service.auth import Principal, utcnow
from service.batching import BatchingThread
from service.errors import Invalid
from service.ratelimit import TokenBucketLimiter
from service.schemas.common import Page, fill_page
from store.accounts import AUDIT_ACTIONS, AuditAction, AuditLog
from store.engine import relaxed_commit

logger = logging.getLogger("healthmap.service")

#: Local time zone of date filters (RULES.md: dates are Asia/Shanghai dates).
DEFAULT_TIMEZONE = "Asia/Shanghai"
MAX_PAGE = 500


class AuditEntry(BaseModel):
    """One audit record, as the API and the CLI show it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: dt.datetime
    user_id: int | None
    username: str | None
    role: str | None
    action: str
    endpoint: str
    resource_type: str | None
    resource_id: str | None
    client: str | None
    detail: dict[str, Any] | None


class AuditPage(Page[AuditEntry]):
    """A page of audit records, newest first, and how many match in all."""


def audit_values(
    *,
    action: AuditAction | str,
    endpoint: str,
    user: Principal | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    client: str | None = None,
    detail: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The column values of one record (see :func:`record_audit` for the arguments)."""
    if action not in AUDIT_ACTIONS:
        raise Invalid(f"Unknown audit action {action!r}.")
    return {
        "at": at or utcnow(),
        "user_id": user.id if user else None,
        "username": user.username if user else None,
        "role": user.role if user else None,
        "action": action,
        "endpoint": endpoint[:200],
        "resource_type": resource_type,
        "resource_id": None if resource_id is None else str(resource_id)[:100],
        "client": None if client is None else client[:64],
        "detail": detail,
    }


def record_audit(target: Session | Connection | Engine, **fields: Any) -> None:
    """Append one record.

    Parameters
    ----------
    target
        An ``Engine`` writes and commits at once, in its own transaction (so the record
        stays even when the request's work fails). A ``Session`` or ``Connection`` adds the
        record to the caller's transaction (a write and its record commit together).
    **fields
        ``action`` (``read``, ``write``, ``export``, ``login`` or ``admin``), ``endpoint``
        (``"GET /residents/{resident_id}"``: the route template, not the raw path, or
        ``"cli"``), and optionally ``user``, ``resource_type``, ``resource_id``, ``client``,
        ``detail`` (small JSON; ids, filters and counts only, never personal data) and
        ``at`` — :func:`audit_values`.
    """
    stmt = insert(AuditLog).values(**audit_values(**fields))
    if isinstance(target, Engine):
        with target.begin() as conn:
            conn.execute(stmt)
    else:
        target.execute(stmt)


class AuditWriter:
    """Commits the records of concurrent requests together (group commit), in one thread.

    A request's record must be in the store before its response leaves, so
    :meth:`write` waits for the commit. Committed one by one, the records of a busy
    worker queued behind each other at the store's write lock (SQLite) or its log flush
    (PostgreSQL): a commit each, and the push list's latency under load was mostly that
    wait. Here one thread takes every record queued meanwhile and commits them in one
    transaction; the requests waiting on them go on together.

    Parameters
    ----------
    engine : Engine
        The store.
    max_batch : int
        Records per transaction at most.
    timeout : float
        Seconds :meth:`write` waits for the commit before it raises ``TimeoutError``.
    """

    def __init__(self, engine: Engine, *, max_batch: int = 500, timeout: float = 60.0) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.timeout = timeout
        self._batches: BatchingThread[tuple[dict[str, Any], Future[None]]] = BatchingThread(
            self._commit, name="audit-writer", max_batch=max_batch
        )
        #: Transactions committed (a test reads it to see records grouped).
        self.commits = 0

    def write(self, **fields: Any) -> None:
        """Append one record (the :func:`record_audit` fields); returns once committed.

        Raises what the commit raised (the request then fails: no record, no answer).
        """
        self.submit(**fields).result(timeout=self.timeout)

    def submit(self, **fields: Any) -> Future[None]:
        """Queue one record; the future is done when its batch is committed (or failed).

        For the event loop, which must not block on the commit: ``await
        asyncio.wrap_future(writer.submit(...))``.
        """
        done: Future[None] = Future()
        self._batches.put((audit_values(**fields), done))
        return done

    def close(self) -> None:
        """Commit what is queued and stop the thread."""
        self._batches.close()

    def _commit(self, batch: list[tuple[dict[str, Any], Future[None]]]) -> None:
        try:
            with self.engine.begin() as conn:
                # In the store, for every reader, before the response leaves; not waiting
                # for the disk (store.engine.relaxed_commit). The records of writes are in
                # the write's own transaction, flushed with it.
                relaxed_commit(conn)
                conn.execute(insert(AuditLog), [values for values, _ in batch])
            self.commits += 1
        except Exception as exc:  # handed to every request waiting on the batch
            for _, done in batch:
                done.set_exception(exc)
        else:
            for _, done in batch:
                done.set_result(None)


# ----------------------------------------------------------------------------------------
# Refusals
# ----------------------------------------------------------------------------------------
#: Values of a path parameter that must not reach the log even as "the id asked for": an
#: ID-card number (18 or 15 characters) or a mobile number typed where an id belongs.
_PERSONAL_VALUE = re.compile(r"^(\d{17}[\dXx]|\d{15}|1\d{10})$")
#: Refusals recorded per client address and minute in one worker (and at once, after a
#: pause); past that a flood of forged tokens would grow the append-only log without end.
#: What is not recorded is still in the access log.
DENIALS_PER_MINUTE, DENIALS_BURST = 60, 30


def denial_reason(status: int, www_authenticate: str | None, signed_in: bool) -> str | None:
    """Why a request was refused, or None when the refusal is not audited.

    A 401 with no credential at all (``WWW-Authenticate: Bearer``: a page opened before
    logging in) says nothing about anyone and is left to the access log; a 404 is audited
    only for a signed-in caller (an unknown problem page is no probe).
    """
    if status == 401:
        challenge = www_authenticate or ""
        if 'error="invalid_grant"' in challenge:
            return "bad_credentials"
        if 'error="invalid_token"' in challenge:
            return "invalid_token"
        return None
    if status == 403 and signed_in:
        return "role_not_allowed"
    if status == 404 and signed_in:
        return "not_found_or_out_of_scope"
    return None


def _safe_id(value: object) -> str:
    text = str(value)[:100]
    return "[personal value withheld]" if _PERSONAL_VALUE.match(text) else text


def denial_values(
    scope: MutableMapping[str, Any], status: int, reason: str, client: str | None
) -> dict[str, Any]:
    """The record of a refused request (the :func:`record_audit` fields).

    The resource is the route's first path parameter (``resident_id`` → ``resident``); the
    others go into ``detail``. A value shaped like an ID-card or phone number is withheld.
    """
    route = scope.get("route")
    template = str(scope.get("root_path", "")) + str(getattr(route, "path", ""))
    params = {k: _safe_id(v) for k, v in (scope.get("path_params") or {}).items()}
    first = next(iter(params), None)
    detail: dict[str, Any] = {"reason": reason, "status": status}
    if len(params) > 1:
        detail["path_params"] = params
    return {
        "action": "denied",
        "endpoint": f"{scope.get('method')} {template}",
        "user": scope.get("state", {}).get("principal"),
        "resource_type": first.removesuffix("_id") if first else None,
        "resource_id": params[first] if first else None,
        "client": client,
        "detail": detail,
    }


class DenialAudit:
    """Records refused requests through the app's :class:`AuditWriter` (group commit).

    Called by the access-log middleware after the answer has left, so the refusal costs
    the client no commit; the record is committed before the request's task ends.
    """

    def __init__(self, per_minute: float = DENIALS_PER_MINUTE, burst: int = DENIALS_BURST) -> None:
        self.budget = TokenBucketLimiter(per_minute=per_minute, burst=burst)
        #: Refusals not recorded for want of budget (they are in the access log).
        self.skipped = 0

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        status: int,
        www_authenticate: str | None,
        client: str | None,
    ) -> bool:
        """Record the refusal, if it is one; whether a record was written."""
        if scope.get("route") is None:  # unmatched path: no endpoint, no id; access log only
            return False
        signed_in = scope.get("state", {}).get("principal") is not None
        reason = denial_reason(status, www_authenticate, signed_in)
        if reason is None:
            return False
        app = scope.get("app")
        writer: AuditWriter | None = getattr(getattr(app, "state", None), "audit_writer", None)
        if writer is None:  # the app was not started (no store): nothing to write to
            return False
        if not self.budget.allow(f"denied:{client}"):
            self.skipped += 1
            return False
        try:
            await asyncio.wrap_future(writer.submit(**denial_values(scope, status, reason, client)))
        except Exception:  # the answer is sent already; the store may be down (→ 503s)
            logger.warning("a refused request could not be audited", exc_info=True)
            return False
        return True


def query_audit(
    target: Engine | Session,
    *,
    username: str | None = None,
    action: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    limit: int = 100,
    offset: int = 0,
    timezone: str = DEFAULT_TIMEZONE,
) -> AuditPage:
    """A page of audit records, newest first (what ``GET /admin/audit`` returns).

    Parameters
    ----------
    username, action
        Exact matches, when given.
    since, until
        Local dates (``timezone``), both inclusive.
    limit, offset
        Page; ``limit`` is capped at 500.
    """
    if action is not None and action not in AUDIT_ACTIONS:
        raise Invalid(f"Unknown audit action {action!r}; one of {', '.join(AUDIT_ACTIONS)}.")
    if since and until and since > until:
        raise Invalid("`since` is after `until`.")
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    tz = ZoneInfo(timezone)
    conditions = []
    if username is not None:
        conditions.append(AuditLog.username == username.strip().lower())
    if action is not None:
        conditions.append(AuditLog.action == action)
    if since is not None:
        conditions.append(AuditLog.at >= dt.datetime.combine(since, dt.time(), tz))
    if until is not None:
        next_day = until + dt.timedelta(days=1)
        conditions.append(AuditLog.at < dt.datetime.combine(next_day, dt.time(), tz))
    count = select(func.count()).select_from(AuditLog).where(*conditions)
    page = (
        select(AuditLog).where(*conditions).order_by(AuditLog.id.desc()).limit(limit).offset(offset)
    )

    def run(session: Session) -> AuditPage:
        total = session.scalar(count) or 0
        items = [AuditEntry.model_validate(r) for r in session.scalars(page)]
        return fill_page(AuditPage, items, total=total, limit=limit, offset=offset)

    if isinstance(target, Session):
        return run(target)
    with Session(target) as session:
        return run(session)


def list_audit(
    engine: Engine | Session,
    *,
    username: str | None = None,
    action: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    limit: int = 100,
    offset: int = 0,
    timezone: str = DEFAULT_TIMEZONE,
) -> pd.DataFrame:
    """Audit records as a table, newest first, for the CLI (``healthmap audit``).

    Same filters as :func:`query_audit`; ``detail`` is rendered as JSON text.
    """
    page = query_audit(
        engine,
        username=username,
        action=action,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
        timezone=timezone,
    )
    rows = [e.model_dump() for e in page.items]
    frame = pd.DataFrame(rows, columns=list(AuditEntry.model_fields))
    frame["detail"] = [
        None if d is None else json.dumps(d, ensure_ascii=False) for d in frame["detail"]
    ]
    return frame
