"""Residents' accounts: a doctor's activation code, the resident's PIN, lock-out, revoke.

No SMS on a county intranet: the family doctor issues an **activation code** (8 letters and
digits without look-alikes, e.g. ``K7QM-3XPA``) on a printed slip and as a QR code for the
household's door plate; the resident opens ``/r/``, types the code and a new 6-digit PIN,
and from then on logs in with the **login id** on the slip (8 digits, the account's only
name) and the PIN.

* The code is kept only as a keyed hash (HMAC-SHA256 under a key derived from
  ``auth.secret``), is spent by the activation and expires after
  ``residents.activation_days``. The PIN is Argon2-hashed like a staff password.
* ``residents.max_failed_pins`` wrong PINs in a row **lock** the account; it stays locked
  (no timer) until the doctor reissues. A reissue makes a new code, spends the old one,
  clears the PIN and the lock; a revoke disables the account until the next issue.
* Logins are also throttled per client address, in the store, exactly like the staff
  login (``service.ratelimit.LoginThrottle``), and every attempt lands in
  ``login_attempts`` (the login id only as a keyed hash).

A resident's account is a ``users`` row (role ``resident``, ``resident_id`` set); its
activation state is ``store.resident_accounts.ResidentAccount``. The staff login refuses it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import io
import secrets
from dataclasses import dataclass

import segno
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from geo.push_list import mask_name
from geo.vocabulary import RESIDENT_ROLE
from service.auth import (
    Principal,
    burn_time,
    hash_password,
    username_key,
    utcnow,
    verify_password,
)
from service.errors import Invalid, NotFound, ResidentLocked, Unauthorized
from service.scope import managing_team
from service.settings import Settings
from store.accounts import LoginAttempt, User
from store.models import ChronicRegistry, Facility, Resident, Team
from store.resident_accounts import ResidentAccount

#: Letters and digits of an activation code: no 0/O, 1/I/L (read aloud, typed by the elderly).
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
LOGIN_ID_DIGITS = 8
PIN_DIGITS = 6
#: ``users.username`` of a resident is this prefix and the login id: a staff name never
#: collides with it, and the staff login refuses it anyway.
USERNAME_PREFIX = "r"
#: A password hash no PIN verifies against (an account issued but not activated yet).
NO_PIN = "!not-activated"

BAD_CODE = "The activation code is wrong, spent or expired; ask your family doctor for a new one."
BAD_PIN = "Wrong login id or PIN."
LOCKED = (
    "Too many wrong PINs: this account is locked. Ask your family doctor for a new"
    " activation code, then set a new PIN."
)


# ----------------------------------------------------------------------------------------
# Codes, ids and PINs
# ----------------------------------------------------------------------------------------
def new_code() -> str:
    """A fresh activation code (``CODE_LENGTH`` characters of :data:`CODE_ALPHABET`)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """What a resident typed, as stored: upper case, without spaces or dashes."""
    return "".join(c for c in code.upper() if c.isalnum())


def display_code(code: str) -> str:
    """``K7QM3XPA`` → ``K7QM-3XPA`` (easier to read out and type)."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def code_hash(code: str, secret: str) -> str:
    """Keyed hash of an activation code, as kept in ``resident_accounts.code_hash``."""
    key = hmac.new(secret.encode("utf-8"), b"healthmap.activation.v1", hashlib.sha256).digest()
    return hmac.new(key, normalise_code(code).encode("ascii"), hashlib.sha256).hexdigest()


def check_pin(pin: str) -> str:
    """The PIN if it is exactly :data:`PIN_DIGITS` digits; 422 naming the rule otherwise."""
    if len(pin) != PIN_DIGITS or not pin.isascii() or not pin.isdigit():
        raise Invalid(f"The PIN must be exactly {PIN_DIGITS} digits (0-9).")
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        raise Invalid("The PIN is too easy to guess (all one digit or a run); choose another.")
    return pin


def login_username(login_id: str) -> str:
    """``users.username`` of a login id as typed (spaces dropped)."""
    return USERNAME_PREFIX + "".join(c for c in login_id if not c.isspace())


def login_id_of(username: str) -> str:
    """The login id a resident types (the username without its prefix)."""
    return username.removeprefix(USERNAME_PREFIX)


def _new_login_id(session: Session) -> str:
    for _ in range(20):
        candidate = "".join(secrets.choice("0123456789") for _ in range(LOGIN_ID_DIGITS))
        taken = session.scalar(select(User.id).where(User.username == login_username(candidate)))
        if candidate[0] != "0" and taken is None:
            return candidate
    raise RuntimeError("no free login id after 20 draws")  # 1e8 ids: never in practice


# ----------------------------------------------------------------------------------------
# The doctor's side: issue, status, revoke
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Issued:
    """A fresh activation: the only moment the code exists in clear."""

    resident_id: str
    login_id: str
    code: str
    expires_at: dt.datetime
    issued_at: dt.datetime


def issue_activation(
    session: Session, resident_id: str, doctor: Principal, settings: Settings
) -> Issued:
    """Create the resident's account, or give it a new code (the old one is spent).

    The PIN and a lock are cleared and a revoked account is enabled again: the resident
    sets a new PIN with the new code. The caller checks the doctor's scope and commits.
    """
    now = utcnow()
    code = new_code()
    expires = now + dt.timedelta(days=settings.residents.activation_days)
    account = session.get(ResidentAccount, resident_id)
    if account is None:
        login_id = _new_login_id(session)
        user = User(
            username=login_username(login_id),
            password_hash=NO_PIN,
            role=RESIDENT_ROLE,
            resident_id=resident_id,
            disabled=False,
            created_at=now,
            failed_count=0,
        )
        session.add(user)
        session.flush()
        account = ResidentAccount(resident_id=resident_id, user_id=user.id, failures=0)
        session.add(account)
    else:
        user = session.get_one(User, account.user_id)
        login_id = login_id_of(user.username)
        user.password_hash, user.disabled = NO_PIN, False
        user.failed_count, user.locked_until = 0, None
    account.code_hash = code_hash(code, settings.auth.secret)
    account.code_expires_at = expires
    account.issued_at, account.issued_by = now, doctor.id
    account.activated_at = account.locked_at = account.revoked_at = None
    account.failures = 0
    session.flush()
    return Issued(resident_id, login_id, code, expires, now)


def demo_activation(session: Session, settings: Settings) -> Issued | None:
    """A fresh activation for the demo resident (demo stores only; the caller commits).

    The demo resident is the first hypertension patient (by resident id) registered with
    the demo doctor's team; the demo doctor (``demo_doctor``, made first) issues it, so
    ``serve --demo-users`` prints a code the resident's page takes at once. None when the
    store has no such patient or no demo doctor.
    """
    doctor = session.scalar(select(User).where(User.username == "demo_doctor"))
    if doctor is None or doctor.team_id is None:
        return None
    resident_id = session.scalar(
        select(ChronicRegistry.resident_id)
        .where(
            ChronicRegistry.team_id == doctor.team_id,
            ChronicRegistry.disease == "htn",
            ChronicRegistry.closed_date.is_(None),
        )
        .order_by(ChronicRegistry.resident_id)
        .limit(1)
    )
    if resident_id is None:
        return None
    return issue_activation(session, resident_id, Principal.of(doctor), settings)


@dataclass(frozen=True)
class ActivationState:
    """What a doctor sees of a resident's account (never a code or a PIN)."""

    resident_id: str
    login_id: str
    state: str  # issued | expired | active | locked | revoked
    issued_at: dt.datetime
    expires_at: dt.datetime | None
    activated_at: dt.datetime | None
    locked_at: dt.datetime | None
    revoked_at: dt.datetime | None


def activation_state(session: Session, resident_id: str) -> ActivationState:
    """The account's state; 404 when none was ever issued."""
    account = session.get(ResidentAccount, resident_id)
    if account is None:
        raise NotFound()
    user = session.get_one(User, account.user_id)
    now = utcnow()
    if account.revoked_at is not None:
        state = "revoked"
    elif account.locked_at is not None:
        state = "locked"
    elif account.activated_at is not None:
        state = "active"
    elif account.code_expires_at is not None and account.code_expires_at <= now:
        state = "expired"
    else:
        state = "issued"
    return ActivationState(
        resident_id,
        login_id_of(user.username),
        state,
        account.issued_at,
        account.code_expires_at if account.activated_at is None else None,
        account.activated_at,
        account.locked_at,
        account.revoked_at,
    )


def revoke_activation(session: Session, resident_id: str) -> None:
    """Disable the resident's account and spend its code (404 when there is none).

    Its tokens stop working at the next request (``principal_from_claims`` refuses a
    disabled account). The caller commits."""
    account = session.get(ResidentAccount, resident_id)
    if account is None:
        raise NotFound()
    user = session.get_one(User, account.user_id)
    user.disabled = True
    user.password_hash = NO_PIN
    account.code_hash = None
    account.code_expires_at = None
    account.revoked_at = utcnow()


# ----------------------------------------------------------------------------------------
# The resident's side: activate, log in
# ----------------------------------------------------------------------------------------
def _attempt(
    session: Session,
    key: str,
    user_id: int | None,
    success: bool,
    reason: str,
    client: str | None,
    now: dt.datetime,
) -> None:
    session.add(
        LoginAttempt(
            at=now, user_id=user_id, username_key=key, client=client, success=success, reason=reason
        )
    )


def activate(
    session: Session, code: str, pin: str, settings: Settings, *, client: str | None = None
) -> Principal:
    """Spend an activation code and set the PIN; the resident is logged in. Commits.

    Raises
    ------
    Invalid
        A PIN that is not 6 digits, or too easy.
    Unauthorized
        An unknown, spent or expired code (one message for all).
    """
    check_pin(pin)
    now = utcnow()
    digest = code_hash(code, settings.auth.secret)
    key = username_key("activation:" + digest[:16], settings.auth.secret)
    account = session.scalar(select(ResidentAccount).where(ResidentAccount.code_hash == digest))
    usable = (
        account is not None
        and account.revoked_at is None
        and account.code_expires_at is not None
        and account.code_expires_at > now
    )
    if account is None or not usable:
        _attempt(session, key, account.user_id if account else None, False, "bad_code", client, now)
        session.commit()
        raise Unauthorized(BAD_CODE, error="invalid_grant")
    user = session.get_one(User, account.user_id)
    user.password_hash = hash_password(pin)
    user.disabled = False
    account.code_hash = None  # one-time
    account.code_expires_at = None
    account.activated_at = now
    account.failures = 0
    account.locked_at = None
    _attempt(session, key, user.id, True, "activated", client, now)
    principal = Principal.of(user)
    session.commit()
    return principal


def authenticate_resident(
    session: Session,
    login_id: str,
    pin: str,
    settings: Settings,
    *,
    client: str | None = None,
) -> Principal:
    """Check a resident's login id and PIN; count failures and lock. Commits.

    Raises
    ------
    Unauthorized
        Unknown login id, wrong PIN, an account not activated or revoked (one message).
    ResidentLocked
        The account is locked (now, or since earlier failures): the doctor must reissue.
    """
    now = utcnow()
    username = login_username(login_id)
    key = username_key(username, settings.auth.secret)
    user = session.scalar(select(User).where(User.username == username, User.role == RESIDENT_ROLE))
    account = session.get(ResidentAccount, user.resident_id) if user and user.resident_id else None
    if user is None or account is None:
        burn_time(pin)
        _attempt(session, key, None, False, "unknown_user", client, now)
        session.commit()
        raise Unauthorized(BAD_PIN, error="invalid_grant")
    if account.locked_at is not None:
        _attempt(session, key, user.id, False, "locked", client, now)
        session.commit()
        raise ResidentLocked(LOCKED)
    if not verify_password(user.password_hash, pin):
        # Counted in the database, atomically: parallel guesses cannot slip past the limit.
        failures = session.execute(
            update(ResidentAccount)
            .where(ResidentAccount.resident_id == account.resident_id)
            .values(failures=ResidentAccount.failures + 1)
            .returning(ResidentAccount.failures)
        ).scalar_one()
        locked = failures >= settings.residents.max_failed_pins and not user.disabled
        if locked:
            session.execute(
                update(ResidentAccount)
                .where(ResidentAccount.resident_id == account.resident_id)
                .values(locked_at=now)
            )
        _attempt(session, key, user.id, False, "bad_password", client, now)
        session.commit()
        if locked:
            raise ResidentLocked(LOCKED)
        raise Unauthorized(BAD_PIN, error="invalid_grant")
    if user.disabled or account.activated_at is None:
        _attempt(session, key, user.id, False, "disabled", client, now)
        session.commit()
        raise Unauthorized(BAD_PIN, error="invalid_grant")
    account.failures = 0
    _attempt(session, key, user.id, True, "ok", client, now)
    principal = Principal.of(user)
    session.commit()
    return principal


# ----------------------------------------------------------------------------------------
# The slip and its QR code
# ----------------------------------------------------------------------------------------
def activation_url(base_url: str, code: str) -> str:
    """The ``/r/`` URL with the code in its fragment (a fragment never reaches the server,
    so the code stays out of every access log and proxy log)."""
    return f"{base_url.rstrip('/')}/r/#code={normalise_code(code)}"


def qr_svg(url: str) -> str:
    """The QR code of ``url`` as an SVG document (no XML declaration, with its namespace:
    the phone page shows it as an image, which needs ``xmlns``; inline HTML takes it too)."""
    qr = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    qr.save(
        out,
        kind="svg",
        xmldecl=False,
        svgns=True,
        nl=False,
        scale=6,
        border=2,
        dark="#000",
        light="#fff",
    )
    return out.getvalue().decode("utf-8")


@dataclass(frozen=True)
class Slip:
    """What the printed slip shows (the phone page may print the HTML as it is)."""

    name_masked: str
    team_name: str | None
    clinic_name: str | None
    phone: str
    html: str


def slip(session: Session, issued: Issued, url: str, svg: str, settings: Settings) -> Slip:
    """The printable slip of an activation (Chinese; the name masked: it may hang on a door)."""
    person = session.get_one(Resident, issued.resident_id)
    team_id = managing_team(session, issued.resident_id, "htn")
    team = session.get(Team, team_id) if team_id else None
    clinic = session.get(Facility, team.facility_id) if team else None
    phone = settings.residents.team_phones.get(team_id or "", settings.residents.hotline)
    local = issued.expires_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
    e = html.escape
    rows = [
        ("居民", mask_name(person.name)),
        ("登录号", f"{issued.login_id[:4]} {issued.login_id[4:]}"),
        ("开通码", display_code(issued.code)),
        ("有效期至", local.strftime("%Y-%m-%d %H:%M")),
        ("家庭医生团队", team.name if team else "—"),
        ("联系电话", phone),
    ]
    body = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    page = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        "<title>居民健康档案开通凭证</title><style>"
        "body{font:20px/1.5 sans-serif;margin:24px}th{text-align:left;padding-right:1em}"
        "td{font-weight:bold}.qr svg{width:60mm;height:60mm}</style></head><body>"
        "<h1>居民健康档案开通凭证</h1>"
        f"<table>{body}</table>"
        f'<div class="qr">{svg}</div>'
        f"<p>用手机扫描二维码，或打开 {e(url.split('#')[0])} ，输入开通码并设置6位数字密码。"
        "开通码只能使用一次。</p></body></html>"
    )
    return Slip(
        mask_name(person.name),
        team.name if team else None,
        clinic.name if clinic else None,
        phone,
        page,
    )
