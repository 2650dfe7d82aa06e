"""Managing accounts: the functions behind ``healthmap user …`` (the CLI only wires them).

Each function takes a SQLAlchemy ``Session`` on a migrated store, commits its change,
and raises :class:`service.errors.Invalid` / ``Conflict`` / ``NotFound`` with a message
fit to print. Account changes are written to the audit log (action ``admin``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import astuple, dataclass, fields

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.vocabulary import (
    PROVINCE_ROLE,
    RESIDENT_ROLE,
    ROLES,
    TEAM_SCOPED_ROLE,
    TOWN_SCOPED_ROLE,
)
from service.audit import record_audit
from service.auth import Principal, hash_password, normalise_username, utcnow
from service.errors import Conflict, Invalid, NotFound
from store.accounts import User
from store.models import Area, Team

#: Used until ``settings.auth.min_password_length`` exists.
MIN_PASSWORD_LENGTH = 10

#: The demo accounts: username, password, role (the scope is filled in from the store).
DEMO_USERS: tuple[tuple[str, str, str], ...] = (
    ("demo_doctor", "demo-doctor-pass", "doctor"),
    ("demo_center", "demo-center-pass", "chronic_center"),
    ("demo_bureau", "demo-bureau-pass", "bureau"),
    ("demo_planner", "demo-planner-pass", "planner"),
    ("demo_admin", "demo-admin-pass", "admin"),
    ("demo_province", "demo-province-pass", "province"),
)


@dataclass(frozen=True)
class UserInfo:
    """What ``list_users`` shows of an account (never the hash)."""

    id: int
    username: str
    role: str
    team_id: str | None
    town_code: str | None
    disabled: bool
    locked_until: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def of(cls, user: User) -> UserInfo:
        return cls(
            user.id,
            user.username,
            user.role,
            user.team_id,
            user.town_code,
            user.disabled,
            user.locked_until,
            user.created_at,
        )

    @property
    def scope(self) -> str:
        """``team:T01``, ``town:370783001000`` or ``county``."""
        if self.role == TEAM_SCOPED_ROLE:
            return f"team:{self.team_id}"
        if self.role == TOWN_SCOPED_ROLE:
            return f"town:{self.town_code}"
        return "province" if self.role == PROVINCE_ROLE else "county"


def _check_scope(role: str, team_id: str | None, town_code: str | None) -> None:
    if role not in ROLES:
        raise Invalid(f"Unknown role {role!r}; one of {', '.join(ROLES)}.")
    if role == RESIDENT_ROLE:
        raise Invalid(
            "A resident's account is made by the family doctor's activation"
            " (POST /api/v1/residents/{id}/activation), not as a staff user."
        )
    if role == TEAM_SCOPED_ROLE and not team_id:
        raise Invalid("A doctor needs a team (--team).")
    if role == TOWN_SCOPED_ROLE and not town_code:
        raise Invalid("A chronic-disease centre needs a township code (--town).")
    if role != TEAM_SCOPED_ROLE and team_id:
        raise Invalid(f"Role {role} takes no team.")
    if role != TOWN_SCOPED_ROLE and town_code:
        raise Invalid(f"Role {role} takes no township.")


def check_scope_known(session: Session, team_id: str | None, town_code: str | None) -> None:
    """422 unless the team and the township are in the store (a typo such as ``NOPE99``
    would make an account that sees nothing). The command line and the API's account
    routes call it; :func:`add_user` does not, so accounts can be seeded before data."""
    if team_id is not None and session.get(Team, team_id) is None:
        raise Invalid(f"No team {team_id!r} in the store (load the teams first).")
    if town_code is not None and (
        session.scalar(select(Area.level).where(Area.area_code == town_code)) != "town"
    ):
        raise Invalid(f"No township {town_code!r} in the store (load the areas first).")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")


def _get(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None:
        raise NotFound(f"No user {normalise_username(username)!r}.")
    return user


@dataclass(frozen=True)
class Actor:
    """Who makes an account change and from where (the API passes it; the CLI does not)."""

    user: Principal | None = None
    endpoint: str = "cli"
    client: str | None = None


CLI = Actor()


def _audit(session: Session, what: str, user: User, actor: Actor = CLI, **detail: object) -> None:
    record_audit(
        session,
        action="admin",
        endpoint=actor.endpoint,
        user=actor.user,
        resource_type="user",
        resource_id=str(user.id),
        client=actor.client,
        detail={"change": what, "username": user.username, **detail},
    )


def add_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    *,
    team_id: str | None = None,
    town_code: str | None = None,
    actor: Actor = CLI,
) -> UserInfo:
    """Create an account.

    Parameters
    ----------
    username
        Stored lower-case; letters, digits, ``._-``, 3–64 characters.
    role
        One of ``doctor``, ``chronic_center``, ``bureau``, ``planner``, ``admin``.
    team_id, town_code
        The doctor's team, the centre's township; no other role takes a scope.
    actor
        Who makes the change, for the audit log (default: the command line).
    """
    name = normalise_username(username)
    if not (3 <= len(name) <= 64) or not all(c.isalnum() or c in "._-" for c in name):
        raise Invalid("A username has 3–64 letters, digits, '.', '_' or '-'.")
    _check_scope(role, team_id, town_code)
    _check_password(password)
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise Conflict(f"User {name!r} exists already.")
    user = User(
        username=name,
        password_hash=hash_password(password),
        role=role,
        team_id=team_id,
        town_code=town_code,
        disabled=False,
        created_at=utcnow(),
        failed_count=0,
    )
    session.add(user)
    session.flush()
    _audit(session, "add", user, actor, role=role, team_id=team_id, town_code=town_code)
    session.commit()
    return UserInfo.of(user)


def list_users(session: Session) -> pd.DataFrame:
    """Every account, by username, as a table (never the password hash)."""
    infos = [UserInfo.of(u) for u in session.scalars(select(User).order_by(User.username))]
    columns = [f.name for f in fields(UserInfo)] + ["scope"]
    return pd.DataFrame([[*astuple(i), i.scope] for i in infos], columns=columns)


def disable_user(
    session: Session, username: str, disabled: bool = True, *, actor: Actor = CLI
) -> UserInfo:
    """Disable (or, with ``disabled=False``, enable) an account; its tokens stop working."""
    user = _get(session, username)
    user.disabled = disabled
    _audit(session, "disable" if disabled else "enable", user, actor)
    session.commit()
    return UserInfo.of(user)


def set_role(
    session: Session,
    username: str,
    role: str,
    *,
    team_id: str | None = None,
    town_code: str | None = None,
    actor: Actor = CLI,
) -> UserInfo:
    """Change an account's role and scope; its existing tokens stop working."""
    _check_scope(role, team_id, town_code)
    user = _get(session, username)
    if user.role == RESIDENT_ROLE:
        raise Invalid(f"{user.username!r} is a resident's account; its role cannot change.")
    user.role, user.team_id, user.town_code = role, team_id, town_code
    _audit(session, "set_role", user, actor, role=role, team_id=team_id, town_code=town_code)
    session.commit()
    return UserInfo.of(user)


def set_password(session: Session, username: str, password: str) -> UserInfo:
    """Set a new password and lift a lock-out."""
    _check_password(password)
    user = _get(session, username)
    user.password_hash = hash_password(password)
    user.failed_count, user.locked_until = 0, None
    _audit(session, "set_password", user)
    session.commit()
    return UserInfo.of(user)


def ensure_demo_users(session: Session) -> list[tuple[str, str, str, str]]:
    """Create (or reset) one demo account per role; for demo stores only.

    The doctor gets the first team (by ``team_id``), the chronic-disease centre the first
    township (by ``area_code``). When the store has no team (or no township) yet, that
    account is skipped. An existing demo account gets its demo password, role and scope
    back and is enabled and unlocked, so what the demo prints always works.

    Returns
    -------
    list of (username, password, role, scope)
        ``scope`` is ``team:<id>``, ``town:<code>`` or ``county``.
    """
    first_team = session.scalar(select(Team.team_id).order_by(Team.team_id).limit(1))
    first_town = session.scalar(
        select(Area.area_code).where(Area.level == "town").order_by(Area.area_code).limit(1)
    )
    out: list[tuple[str, str, str, str]] = []
    for username, password, role in DEMO_USERS:
        team_id = first_team if role == TEAM_SCOPED_ROLE else None
        town_code = first_town if role == TOWN_SCOPED_ROLE else None
        if (role == TEAM_SCOPED_ROLE and not team_id) or (
            role == TOWN_SCOPED_ROLE and not town_code
        ):
            continue
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            info = add_user(session, username, password, role, team_id=team_id, town_code=town_code)
        else:
            user.password_hash = hash_password(password)
            user.role, user.team_id, user.town_code = role, team_id, town_code
            user.disabled, user.failed_count, user.locked_until = False, 0, None
            _audit(session, "demo_reset", user)
            session.commit()
            info = UserInfo.of(user)
        out.append((username, password, role, info.scope))
    return out
