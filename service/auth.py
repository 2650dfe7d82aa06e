"""Passwords, tokens, login and lock-out.

Passwords are hashed with Argon2id (argon2-cffi's defaults; a hash made with older
parameters is upgraded at the next successful login).

Tokens are JWTs signed with HS256. Claims: ``sub`` (the user's numeric id, as a string),
``role``, ``team_id``, ``town_code``, ``exp``, ``iat``, ``jti`` and ``type`` (``access`` or
``refresh``). The HMAC key is derived from ``auth.secret`` (HMAC-SHA256 of a fixed label),
so every secret yields a full-length 256-bit key and the key is never the configured
string itself. Every request re-reads the account: a disabled account, or one whose role or
scope changed since the token was issued, is refused at once (401) rather than when the
token expires.

Lock-out: after ``auth.max_failed_logins`` consecutive failures an account is locked for
``auth.lockout_minutes``; while locked every login answers **429** (type
``account-locked``, ``Retry-After``) without the password even being checked, so a locked
account cannot be used as a password oracle. 429 rather than 401 because the client must
wait, not change the credentials. Unknown usernames get the same treatment (counted from
``login_attempts``), so lock-out does not reveal which usernames exist; wrong password,
unknown user and disabled account all answer the same 401.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from geo.vocabulary import RESIDENT_ROLE
from service.errors import AccountLocked, Unauthorized
from service.settings import AuthSettings
from store.accounts import LoginAttempt, User

TokenType = Literal["access", "refresh"]
ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "role", "exp", "iat", "jti", "type", "aud"]

#: The hasher of the service (tests swap in a cheap one).
password_hasher = PasswordHasher()
_dummy_hash: tuple[PasswordHasher, str] | None = None

BAD_CREDENTIALS = "Wrong username or password."


def utcnow() -> dt.datetime:
    """Now, UTC-aware (a function so tests can move the clock)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Principal:
    """Who is calling: what the token says, confirmed against the account."""

    id: int
    username: str
    role: str
    team_id: str | None = None
    town_code: str | None = None
    #: The one resident a ``resident`` account speaks for (None for staff).
    resident_id: str | None = None

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(
            user.id, user.username, user.role, user.team_id, user.town_code, user.resident_id
        )


# ----------------------------------------------------------------------------------------
# Passwords
# ----------------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    """Argon2id hash of ``password``."""
    return password_hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (False for a malformed hash)."""
    try:
        return password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _burn_time(password: str) -> None:
    # An unknown username costs one hash verification too, so response time does not
    # tell whether an account exists.
    global _dummy_hash
    if _dummy_hash is None or _dummy_hash[0] is not password_hasher:
        _dummy_hash = (password_hasher, password_hasher.hash("not-a-password"))
    verify_password(_dummy_hash[1], password)


#: Public name of the unknown-account delay: the residents' PIN login uses it too
#: (``service.resident_accounts``).
burn_time = _burn_time


def normalise_username(username: str) -> str:
    """Usernames compare case-insensitively and without surrounding spaces."""
    return username.strip().lower()


def username_key(username: str, secret: str) -> str:
    """Keyed hash of a typed username, as kept in ``login_attempts``."""
    msg = normalise_username(username).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), b"login:" + msg, hashlib.sha256).hexdigest()


# ----------------------------------------------------------------------------------------
# Tokens
# ----------------------------------------------------------------------------------------
def signing_key(secret: str) -> bytes:
    """The HS256 key derived from ``auth.secret``."""
    return hmac.new(secret.encode("utf-8"), b"healthmap.jwt.v1", hashlib.sha256).digest()


def issue_token(
    principal: Principal, auth: AuthSettings, kind: TokenType, now: dt.datetime | None = None
) -> tuple[str, int]:
    """A signed token for ``principal`` and its lifetime in seconds."""
    now = now or utcnow()
    minutes = auth.access_minutes if kind == "access" else auth.refresh_minutes
    lifetime = int(minutes * 60)
    claims: dict[str, Any] = {
        "sub": str(principal.id),
        "role": principal.role,
        "team_id": principal.team_id,
        "town_code": principal.town_code,
        "resident_id": principal.resident_id,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + lifetime,
        "jti": uuid.uuid4().hex,
        "type": kind,
        # Whose token: the root store's, or one county partition's (Settings.token_auth).
        "aud": auth.audience,
    }
    return jwt.encode(claims, signing_key(auth.secret), algorithm=ALGORITHM), lifetime


def decode_token(token: str, auth: AuthSettings, kind: TokenType) -> dict[str, Any]:
    """The claims of a valid token of type ``kind``; :class:`Unauthorized` otherwise."""
    try:
        claims = jwt.decode(
            token,
            signing_key(auth.secret),
            algorithms=[ALGORITHM],  # fixed: never let the token choose ("none", RS/HS mix-up)
            audience=auth.audience,  # another county's token is refused, not just unknown
            options={"require": _REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The token has expired.") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("The token is not valid.") from None
    if claims.get("type") != kind:
        raise Unauthorized(f"An {kind} token is required here.")
    if not str(claims["sub"]).isdigit():
        raise Unauthorized("The token is not valid.")
    return claims


#: The columns of an account a request needs (Core: no ORM object per request).
_ACCOUNT = User.__table__.c
_ACCOUNT_BY_ID = select(
    _ACCOUNT.id,
    _ACCOUNT.username,
    _ACCOUNT.role,
    _ACCOUNT.team_id,
    _ACCOUNT.town_code,
    _ACCOUNT.resident_id,
    _ACCOUNT.disabled,
)


def principal_from_claims(reads: Engine, claims: dict[str, Any]) -> Principal:
    """The account a token speaks for, if it is still enabled and unchanged.

    ``reads`` is the app's engine for transaction-free reads
    (:func:`store.engine.reads_engine`): every request makes this one statement.
    """
    with reads.connect() as conn:
        row = conn.execute(_ACCOUNT_BY_ID.where(_ACCOUNT.id == int(claims["sub"]))).first()
    if row is None or row.disabled:
        raise Unauthorized("The account is disabled or no longer exists.")
    principal = Principal(
        row.id, row.username, row.role, row.team_id, row.town_code, row.resident_id
    )
    if (principal.role, principal.team_id, principal.town_code, principal.resident_id) != (
        claims.get("role"),
        claims.get("team_id"),
        claims.get("town_code"),
        claims.get("resident_id"),
    ):
        raise Unauthorized("The account's role or scope has changed; log in again.")
    return principal


# ----------------------------------------------------------------------------------------
# Login
# ----------------------------------------------------------------------------------------
def authenticate(
    session: Session,
    username: str,
    password: str,
    auth: AuthSettings,
    *,
    client: str | None = None,
    now: dt.datetime | None = None,
) -> Principal:
    """Check a login, count failures and lock; commit what it records.

    Raises
    ------
    Unauthorized
        Wrong password, unknown username or disabled account (one message for all).
    AccountLocked
        Too many failures; nothing else was checked.
    """
    now = now or utcnow()
    key = username_key(username, auth.secret)
    lock = dt.timedelta(minutes=auth.lockout_minutes)

    def attempt(user_id: int | None, success: bool, reason: str) -> None:
        session.add(
            LoginAttempt(
                at=now,
                user_id=user_id,
                username_key=key,
                client=client,
                success=success,
                reason=reason,
            )
        )
        session.commit()

    user = session.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None:
        recent = session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(
                LoginAttempt.username_key == key,
                LoginAttempt.success.is_(False),
                LoginAttempt.at > now - lock,
            )
        )
        if (recent or 0) >= auth.max_failed_logins:
            attempt(None, False, "locked")
            raise AccountLocked("Too many failed logins.", retry_after=lock.total_seconds())
        _burn_time(password)
        attempt(None, False, "unknown_user")
        raise Unauthorized(BAD_CREDENTIALS, error="invalid_grant")

    if user.role == RESIDENT_ROLE:
        # A resident logs in with a PIN at /auth/resident/token (service.resident_accounts),
        # whose lock-out holds until a doctor reissues; never here, and the answer is the
        # same 401 whatever PIN was typed (no oracle, no count against the resident).
        _burn_time(password)
        attempt(user.id, False, "disabled")
        raise Unauthorized(BAD_CREDENTIALS, error="invalid_grant")

    if user.locked_until is not None and user.locked_until > now:
        attempt(user.id, False, "locked")
        raise AccountLocked(
            "Too many failed logins.", retry_after=(user.locked_until - now).total_seconds()
        )

    if not verify_password(user.password_hash, password):
        # Counted in the database, atomically: parallel guesses cannot slip past the limit.
        failed = session.execute(
            update(User)
            .where(User.id == user.id)
            .values(failed_count=User.failed_count + 1)
            .returning(User.failed_count)
        ).scalar_one()
        if failed >= auth.max_failed_logins:
            session.execute(
                update(User)
                .where(User.id == user.id)
                .values(failed_count=0, locked_until=now + lock)
            )
        attempt(user.id, False, "bad_password")
        raise Unauthorized(BAD_CREDENTIALS, error="invalid_grant")

    if user.disabled:
        attempt(user.id, False, "disabled")
        raise Unauthorized(BAD_CREDENTIALS, error="invalid_grant")

    user.failed_count = 0
    user.locked_until = None
    if password_hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    principal = Principal.of(user)
    attempt(user.id, True, "ok")
    return principal
