"""The outbox (migration 0016): messages to other systems, kept until they are delivered.

A message is written in the same transaction as the fact it tells of (an emergency
reading, ``service.emergencies.announce``), so a committed reading is a committed message:
nothing is lost when the process dies before, during or after the delivery. The delivery
worker (``service.outbox``) claims due rows, POSTs them and marks the outcome here.

States: ``pending`` (waiting for its ``next_attempt_at``, or being delivered under a lease),
``delivered`` (a 2xx answer), ``failed`` (``max_attempts`` used up; an admin may re-queue
it). A row is unique by its ``idempotency_key`` (``emergency_reading:<measurement_id>``):
recording the same reading twice enqueues once, and the key is sent as the
``Idempotency-Key`` header so the receiver can drop a repeat.

Claiming is atomic across processes. A claim sets ``leased_until`` (and a fresh
``lease_token``) on a due, unleased pending row and counts the attempt; until the lease
runs out no other claimer gets the row — another uvicorn worker, or the same server
restarted after a ``kill -9`` (whose abandoned leases simply expire). On PostgreSQL the
claim is one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)``; on SQLite, whose
writers are serialised, a conditional ``UPDATE … WHERE state = 'pending' AND (leased_until
IS NULL OR leased_until < now)`` per candidate, taken when its row count is 1. The outcome
is written only under the claim's own token, so a worker that overran its lease cannot
overwrite what the next claimer did.

Times are passed in (UTC, aware): the tests hand-compute schedules, and every process
reads the same clock.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    Engine,
    Index,
    Integer,
    String,
    Text,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from geo.errors import ConflictError, NotFoundError
from store.accounts import UTCDateTime
from store.engine import upsert_insert
from store.models import Base

OutboxState = Literal["pending", "delivered", "failed"]
#: Every state of an outbox row, in the order of its life.
OUTBOX_STATES: tuple[OutboxState, ...] = ("pending", "delivered", "failed")
#: Longest ``last_error`` kept: the exception's class or the HTTP status, never a body.
ERROR_CHARS = 200
#: Spread of the back-off: each delay is its nominal value × (1 ± JITTER), so that
#: readings queued together during an outage do not all come back at the same instant.
JITTER = 0.2

# BIGINT on PostgreSQL; INTEGER on SQLite, where only INTEGER PRIMARY KEY autoincrements.
_BigId = BigInteger().with_variant(Integer, "sqlite")


class OutboxMessage(Base):
    """One message to deliver (see the module's docstring for the states and the lease)."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    # The receiver's URL when the message was enqueued; delivery goes there (a changed
    # setting applies to messages enqueued after the change).
    target: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    leased_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(ERROR_CHARS), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)


@dataclass(frozen=True)
class Claimed:
    """A row claimed for one delivery attempt (``attempts`` includes this one)."""

    id: int
    idempotency_key: str
    kind: str
    target: str
    payload: dict[str, Any]
    attempts: int
    lease_token: str


def enqueue(
    session: Session,
    *,
    key: str,
    kind: str,
    target: str,
    payload: dict[str, Any],
    now: dt.datetime,
) -> bool:
    """Add a pending message in the session's transaction, due at once.

    Parameters
    ----------
    key
        The idempotency key; a message with this key already (any state) is left alone.

    Returns
    -------
    bool
        True when a row was added, False when the key existed.
    """
    values = {
        "idempotency_key": key,
        "kind": kind,
        "target": target,
        "payload": payload,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    stmt = (
        upsert_insert(session.get_bind().dialect.name, OutboxMessage)
        .values(values)
        .on_conflict_do_nothing()
    )
    # RETURNING, not the row count: psycopg's count of a skipped INSERT is not reliable.
    return session.execute(stmt.returning(OutboxMessage.id)).first() is not None


def _due(now: dt.datetime) -> Any:
    m = OutboxMessage
    return (
        (m.state == "pending")
        & (m.next_attempt_at <= now)
        & or_(m.leased_until.is_(None), m.leased_until < now)
    )


def claim(
    engine: Engine, now: dt.datetime, *, lease_seconds: float, limit: int = 1
) -> list[Claimed]:
    """Claim up to ``limit`` due pending rows for one attempt each, oldest due first.

    Each claimed row is leased until ``now + lease_seconds`` under a new token and its
    ``attempts`` is counted (a process that dies mid-delivery used the attempt). Committed
    before returning: the delivery itself runs outside any transaction.
    """
    m = OutboxMessage
    until = now + dt.timedelta(seconds=lease_seconds)
    token = secrets.token_hex(16)
    lease = {
        "leased_until": until,
        "lease_token": token,
        "attempts": m.attempts + 1,
    }
    with Session(engine) as session, session.begin():
        if engine.dialect.name == "postgresql":
            due = (
                select(m.id)
                .where(_due(now))
                .order_by(m.next_attempt_at, m.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            ids = list(
                session.scalars(update(m).where(m.id.in_(due)).values(lease).returning(m.id))
            )
        else:
            candidates = session.scalars(
                select(m.id).where(_due(now)).order_by(m.next_attempt_at, m.id).limit(limit)
            ).all()
            ids = []
            for row_id in candidates:
                # The condition again, in the UPDATE: another process may have taken it.
                done = session.execute(update(m).where(m.id == row_id, _due(now)).values(lease))
                if done.rowcount == 1:  # type: ignore[attr-defined]
                    ids.append(row_id)
        if not ids:
            return []
        rows = session.scalars(select(m).where(m.id.in_(ids)).order_by(m.next_attempt_at, m.id))
        return [
            Claimed(
                id=r.id,
                idempotency_key=r.idempotency_key,
                kind=r.kind,
                target=r.target,
                payload=dict(r.payload),
                attempts=r.attempts,
                lease_token=token,
            )
            for r in rows
        ]


def backoff_seconds(attempts: int, *, base: float, cap: float, rand: float = 0.5) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt.

    Nominal ``min(cap, base × 2**(attempts - 1))``, spread by ±:data:`JITTER` with
    ``rand`` in [0, 1) (0.5 = the nominal value), and never above ``cap``.
    """
    nominal = min(cap, base * 2.0 ** max(0, attempts - 1))
    return min(cap, nominal * (1.0 - JITTER + 2.0 * JITTER * rand))


def mark_delivered(
    engine: Engine, claimed: Claimed, now: dt.datetime, *, status: int | None
) -> bool:
    """Record a delivery; False when the claim's lease was lost (nothing written)."""
    m = OutboxMessage
    with engine.begin() as conn:
        done = conn.execute(
            update(m)
            .where(m.id == claimed.id, m.lease_token == claimed.lease_token)
            .values(
                state="delivered",
                delivered_at=now,
                leased_until=None,
                lease_token=None,
                last_status=status,
                last_error=None,
            )
        )
    return done.rowcount == 1


def mark_failed_attempt(
    engine: Engine,
    claimed: Claimed,
    now: dt.datetime,
    *,
    error: str,
    status: int | None,
    max_attempts: int,
    base: float,
    cap: float,
    rand: float = 0.5,
) -> OutboxState | None:
    """Record a failed attempt: ``pending`` again after the back-off, or ``failed`` when
    ``max_attempts`` are used up. None when the claim's lease was lost (nothing written).

    ``error`` is kept short (:data:`ERROR_CHARS`): an exception's class or an HTTP status,
    never a response body, which might echo personal data.
    """
    m = OutboxMessage
    state: OutboxState = "failed" if claimed.attempts >= max_attempts else "pending"
    delay = backoff_seconds(claimed.attempts, base=base, cap=cap, rand=rand)
    values: dict[str, Any] = {
        "state": state,
        "leased_until": None,
        "lease_token": None,
        "last_error": error[:ERROR_CHARS],
        "last_status": status,
    }
    if state == "pending":
        values["next_attempt_at"] = now + dt.timedelta(seconds=delay)
    with engine.begin() as conn:
        done = conn.execute(
            update(m).where(m.id == claimed.id, m.lease_token == claimed.lease_token).values(values)
        )
    return state if done.rowcount == 1 else None


def list_messages(
    session: Session, *, state: OutboxState | None, limit: int, offset: int
) -> tuple[int, list[OutboxMessage]]:
    """(how many in all, the window at ``offset``) of the messages, newest first."""
    m = OutboxMessage
    where = [] if state is None else [m.state == state]
    total = session.scalar(select(func.count()).select_from(m).where(*where)) or 0
    rows = session.scalars(
        select(m).where(*where).order_by(m.id.desc()).limit(limit).offset(offset)
    ).all()
    return int(total), list(rows)


def requeue(session: Session, message_id: int, now: dt.datetime) -> OutboxMessage:
    """Make a ``failed`` (or still ``pending``) message due at once with fresh attempts.

    Raises
    ------
    NotFoundError
        No message ``message_id``.
    ConflictError
        The message was delivered already (sending it again would break once per reading).
    """
    row = session.get(OutboxMessage, message_id, with_for_update=True)
    if row is None:
        raise NotFoundError(f"No outbox message {message_id}.")
    if row.state == "delivered":
        raise ConflictError(
            f"Outbox message {message_id} was delivered already; it is not sent twice."
        )
    row.state = "pending"
    row.attempts = 0
    row.next_attempt_at = now
    session.flush()
    return row
