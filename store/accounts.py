"""Service accounts, the audit log and login attempts (migration ``0002``); the login
throttle per client address (migration ``0013``).

These tables share :class:`store.models.Base`, so importing this module adds them
to the one metadata the store has. They hold no personal data of residents: users are
health-system staff accounts, and the audit log records *which* resource was touched (type
and id), never its content.

Times are stored in UTC. SQLite keeps no offset, so :class:`UTCDateTime` converts aware
datetimes to UTC on the way in and marks naive values as UTC on the way out; code above the
store always sees aware UTC datetimes on both backends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Connection,
    Index,
    Integer,
    String,
    case,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import DateTime, TypeDecorator

from geo import vocabulary
from store.models import Base
from store.types import as_utc

Role = Literal["resident", "doctor", "chronic_center", "bureau", "planner", "admin"]
#: Every role, least to most administrative (docs/security.md has what each may see).
ROLES: tuple[Role, ...] = cast("tuple[Role, ...]", vocabulary.ROLES)

AuditAction = Literal["read", "write", "export", "login", "admin", "denied"]
#: ``denied``: a request refused with 401/403/404 (who, which endpoint and id, why) —
#: added by migration ``0013``.
AUDIT_ACTIONS: tuple[AuditAction, ...] = ("read", "write", "export", "login", "admin", "denied")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[dt.datetime]):
    """``timestamp with time zone``; always UTC-aware in Python, on both backends."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        # A naive value is taken as UTC: the service only ever creates aware ones.
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return as_utc(value)  # SQLite drops the offset; what it holds is UTC


# BIGINT on PostgreSQL; INTEGER on SQLite, where only INTEGER PRIMARY KEY autoincrements.
_BigId = BigInteger().with_variant(Integer, "sqlite")


class User(Base):
    """An account. ``team_id`` scopes a doctor, ``town_code`` a chronic-disease centre,
    ``resident_id`` a resident (migration ``0018``: one account per resident, made by a
    doctor's activation; ``store.resident_accounts`` holds its activation code)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[str | None] = mapped_column(String(40))
    town_code: Mapped[str | None] = mapped_column(String(12))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resident_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    __table_args__ = (
        CheckConstraint(_in_list("role", ROLES), name="role"),
        # A scoped role without its scope would see nothing or, worse, be treated as
        # unscoped by a careless query; the store refuses such a row outright.
        CheckConstraint(
            "(role <> 'doctor' OR team_id IS NOT NULL)"
            " AND (role <> 'chronic_center' OR town_code IS NOT NULL)",
            name="scope",
        ),
        # A resident's account speaks for exactly one resident, and only a resident's does.
        CheckConstraint("(role = 'resident') = (resident_id IS NOT NULL)", name="resident"),
    )


class AuditLog(Base):
    """One access to the service. Append-only: triggers reject UPDATE and DELETE."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    # No foreign key: the log must outlive anything that happens to the users table.
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    username: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(10), index=True)
    endpoint: Mapped[str] = mapped_column(String(200))
    resource_type: Mapped[str | None] = mapped_column(String(40))
    resource_id: Mapped[str | None] = mapped_column(String(100))
    client: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSON)
    __table_args__ = (
        CheckConstraint(_in_list("action", AUDIT_ACTIONS), name="action"),
        # A resident's "who read my record" (migration 0018) asks by resource.
        Index("ix_audit_log_resource_type_resource_id", "resource_type", "resource_id"),
    )


class LoginAttempt(Base):
    """One login attempt. The typed username is kept only as a keyed hash.

    People type passwords into the username field; storing what was typed in clear would
    put passwords into the database. ``user_id`` is set when the name matched an account.
    """

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    username_key: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str | None] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(20))  # ok | bad_password | unknown_user | ...


class LoginThrottle(Base):
    """Failed logins per client address in the current window, and the block they earned.

    One row per key (``addr:<address>``; an IPv6 address by its /64). Kept in the store,
    not in a worker's memory, so every worker of ``healthmap serve --workers N`` sees the
    same count and the same block (``service.ratelimit.LoginThrottle``).
    """

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


#: The account tables, in creation order.
ACCOUNT_TABLES: tuple[str, ...] = ("users", "audit_log", "login_attempts", "login_throttle")

_THROTTLE = LoginThrottle.__table__.c


def login_blocked_until(conn: Connection, key: str, now: dt.datetime) -> dt.datetime | None:
    """Until when logins under ``key`` are refused; None when they are not."""
    until = conn.execute(select(_THROTTLE.blocked_until).where(_THROTTLE.key == key)).scalar()
    return until if until is not None and _aware(until) > now else None


def count_login_failure(conn: Connection, key: str, now: dt.datetime, window: dt.timedelta) -> int:
    """Count one failed login under ``key``; the failures of its window, this one included.

    One atomic upsert (``INSERT … ON CONFLICT DO UPDATE … RETURNING``), so failures that
    workers count at the same moment are all counted. A window older than ``window``
    starts again at 1 (and its block, if it has run out, is forgotten).
    """
    cutoff = now - window
    expired = _THROTTLE.window_start <= cutoff
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(LoginThrottle.__table__).values(
        key=key, failures=1, window_start=now, blocked_until=None
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[_THROTTLE.key],
        set_={
            "failures": case((expired, 1), else_=_THROTTLE.failures + 1),
            "window_start": case((expired, now), else_=_THROTTLE.window_start),
        },
    ).returning(_THROTTLE.failures)
    return int(conn.execute(stmt).scalar_one())


def block_logins(conn: Connection, key: str, until: dt.datetime) -> None:
    """Refuse logins under ``key`` until ``until`` (a later block already set stays)."""
    conn.execute(
        update(LoginThrottle)
        .where(_THROTTLE.key == key)
        .where((_THROTTLE.blocked_until.is_(None)) | (_THROTTLE.blocked_until < until))
        .values(blocked_until=until)
    )


def _aware(value: dt.datetime) -> dt.datetime:
    # Core selects of a TypeDecorator column come back through it (aware); be safe anyway.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
