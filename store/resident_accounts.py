"""Residents' accounts: the activation a family doctor issues (migration ``0018``).

A resident's account is a row of ``users`` (role ``resident``, ``resident_id`` set, the PIN's
Argon2 hash as its password hash); this table holds what only a resident's account has:
the one-time activation code (its keyed hash only, never the code), when it expires, who
issued it, and the PIN's failure count and lock. A doctor's reissue replaces the code, clears
the lock and the PIN; a revoke disables the account until the next issue.

Importing this module adds the table to :class:`store.models.Base`'s metadata.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from store.accounts import UTCDateTime
from store.models import Base

#: ``measurements.source`` of a reading a resident entered at home (migration ``0018``);
#: NULL is a reading taken by staff or a device.
SELF_REPORTED = "self"


class ResidentAccount(Base):
    """The activation state of one resident's account (one row per resident)."""

    __tablename__ = "resident_accounts"
    resident_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: ``users.id`` of the account (no foreign key: accounts are never deleted, only disabled).
    user_id: Mapped[int] = mapped_column(Integer, unique=True)
    #: Keyed hash (HMAC-SHA256 under ``auth.secret``) of the current activation code.
    code_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    code_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: ``users.id`` of the doctor who issued the current code.
    issued_by: Mapped[int] = mapped_column(Integer)
    #: When the resident set a PIN with the current code (NULL: not activated yet).
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: Consecutive wrong PINs (and wrong codes at activation) since the last success.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    #: Set after ``residents.max_failed_pins`` failures; only a reissue lifts it.
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


#: The tables of this module.
RESIDENT_ACCOUNT_TABLES: tuple[str, ...] = ("resident_accounts",)
