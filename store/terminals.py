"""Smart measuring terminals: the registry, the nonces seen, and their quarantine (``0015``).

A terminal (智能检测终端) is a device in a clinic or a home that posts readings with its own
key (``service.terminal_auth``). No key is stored: each is derived from a master secret,
the terminal id and ``key_generation``, so rotating a key is ``key_generation + 1`` and
revoking it is ``status = 'revoked'``. ``terminal_nonces`` remembers every signed request's
nonce for the signature window so a replayed request is refused; rows older than the
window are pruned. ``terminal_quarantine`` keeps every reading that could not be stored,
with its reason, never dropped (the ID-card number of a reading is kept only as the keyed
hash and the masked form).

These tables share :class:`store.models.Base`; ``store/__init__.py`` imports this module
so the one metadata (and Alembic's comparison) sees them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    String,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from geo.errors import ConflictError
from store.accounts import UTCDateTime
from store.engine import upsert_insert
from store.models import Base

TerminalStatus = Literal["active", "revoked"]
TERMINAL_STATUSES: tuple[TerminalStatus, ...] = ("active", "revoked")


class Terminal(Base):
    """A registered device. ``key_generation`` names its current key (see module doc)."""

    __tablename__ = "terminals"
    terminal_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    facility_id: Mapped[str | None] = mapped_column(String(40), index=True)
    label: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))
    key_generation: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    __table_args__ = (
        CheckConstraint("status IN ('active', 'revoked')", name="ck_terminals_status"),
        CheckConstraint("key_generation >= 1", name="ck_terminals_key_generation"),
    )


class TerminalNonce(Base):
    """A nonce a terminal has used inside the signature window (replay refusal)."""

    __tablename__ = "terminal_nonces"
    terminal_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)


class TerminalQuarantine(Base):
    """A reading a terminal posted that could not be stored, and why."""

    __tablename__ = "terminal_quarantine"
    # BIGINT on PostgreSQL; INTEGER on SQLite, where only INTEGER PRIMARY KEY autoincrements.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    terminal_id: Mapped[str] = mapped_column(String(60))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    measurement_id: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(30), index=True)
    field: Mapped[str | None] = mapped_column(String(60))
    detail: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[Any] = mapped_column(JSON, nullable=True)
    __table_args__ = (Index("ix_terminal_quarantine_terminal", "terminal_id", "received_at"),)


# ----------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------
def get_terminal(session: Session, terminal_id: str) -> Terminal | None:
    """The terminal ``terminal_id``, or None."""
    return session.get(Terminal, terminal_id)


def list_terminals(
    session: Session,
    *,
    status: str | None = None,
    facility_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Terminal], int]:
    """A page of terminals by id, and how many match in all."""
    where = []
    if status is not None:
        where.append(Terminal.status == status)
    if facility_id is not None:
        where.append(Terminal.facility_id == facility_id)
    total = session.scalar(select(func.count()).select_from(Terminal).where(*where)) or 0
    rows = session.scalars(
        select(Terminal).where(*where).order_by(Terminal.terminal_id).limit(limit).offset(offset)
    ).all()
    return list(rows), int(total)


def add_terminal(
    session: Session,
    terminal_id: str,
    now: dt.datetime,
    *,
    facility_id: str | None = None,
    label: str | None = None,
) -> Terminal:
    """Register a terminal at key generation 1 (the caller commits).

    Raises
    ------
    ConflictError
        The id is registered already.
    """
    if session.get(Terminal, terminal_id) is not None:
        raise ConflictError(f"Terminal {terminal_id} is registered already; rotate its key.")
    terminal = Terminal(
        terminal_id=terminal_id,
        facility_id=facility_id,
        label=label,
        status="active",
        key_generation=1,
        created_at=now,
    )
    session.add(terminal)
    return terminal


def rotate_key(session: Session, terminal: Terminal, now: dt.datetime) -> int:
    """Move ``terminal`` to its next key generation (the old key stops deriving); the new one.

    Raises
    ------
    ConflictError
        The terminal is revoked (register the device anew).
    """
    if terminal.status != "active":
        raise ConflictError(
            f"Terminal {terminal.terminal_id} is revoked; register the device anew."
        )
    terminal.key_generation += 1
    terminal.rotated_at = now
    return terminal.key_generation


def revoke(session: Session, terminal: Terminal, now: dt.datetime) -> bool:
    """Revoke ``terminal``; False when it was revoked already (nothing changes)."""
    if terminal.status == "revoked":
        return False
    terminal.status = "revoked"
    terminal.revoked_at = now
    return True


def touch_terminal(session: Session, terminal_id: str, now: dt.datetime) -> None:
    """Set ``last_seen_at`` to ``now`` (one UPDATE by primary key, in the caller's transaction)."""
    session.execute(
        update(Terminal).where(Terminal.terminal_id == terminal_id).values(last_seen_at=now)
    )


# ----------------------------------------------------------------------------------------
# Nonces
# ----------------------------------------------------------------------------------------
def remember_nonce(session: Session, terminal_id: str, nonce: str, now: dt.datetime) -> bool:
    """Record ``nonce`` as used by ``terminal_id``; False when it was used already.

    Two concurrent requests with the same nonce: the primary key lets only one insert
    (the other's ``IntegrityError`` reaches the caller, which rolls back and asks again).
    """
    # One statement (a round trip saved on every post): the row comes back only when it
    # was inserted, so nothing back means the nonce was there already.
    stmt = (
        upsert_insert(session.get_bind().dialect.name, TerminalNonce)
        .values(terminal_id=terminal_id, nonce=nonce, seen_at=now)
        .on_conflict_do_nothing(index_elements=["terminal_id", "nonce"])
        .returning(TerminalNonce.nonce)
    )
    return session.execute(stmt).scalar() is not None


def prune_nonces(session: Session, before: dt.datetime) -> int:
    """Forget nonces seen before ``before`` (older than the signature window); how many."""
    result = session.execute(delete(TerminalNonce).where(TerminalNonce.seen_at < before))
    return int(cast(Any, result).rowcount or 0)


# ----------------------------------------------------------------------------------------
# Quarantine
# ----------------------------------------------------------------------------------------
def list_quarantine(
    session: Session,
    *,
    terminal_id: str | None = None,
    reason: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[TerminalQuarantine], int]:
    """A page of quarantined readings, newest first, and how many match in all."""
    where = []
    if terminal_id is not None:
        where.append(TerminalQuarantine.terminal_id == terminal_id)
    if reason is not None:
        where.append(TerminalQuarantine.reason == reason)
    total = session.scalar(select(func.count()).select_from(TerminalQuarantine).where(*where))
    rows = session.scalars(
        select(TerminalQuarantine)
        .where(*where)
        .order_by(TerminalQuarantine.received_at.desc(), TerminalQuarantine.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total or 0)
