"""Login, tokens, lock-out, roles and scopes, account management."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from svc_helpers import USERS, assert_problem, bearer, login, make_settings, seed_teams_and_towns

from service import auth
from service.accounts import (
    DEMO_USERS,
    add_user,
    disable_user,
    ensure_demo_users,
    list_users,
    set_password,
    set_role,
)
from service.app import create_app
from service.auth import Principal, issue_token, signing_key
from service.deps import CareUser, ensure_in_scope
from service.errors import Conflict, Invalid, NotFound
from store.accounts import LoginAttempt, User


def token_of(client: TestClient, username: str) -> str:
    return str(login(client, username)["access_token"])


def me(client: TestClient, token: str) -> Any:
    return client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})


# ----------------------------------------------------------------------------------------
# Login and tokens
# ----------------------------------------------------------------------------------------
def test_login_issues_tokens_with_the_claims(client: TestClient, users: Any, settings: Any) -> None:
    pair = login(client, "doctor1")
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == settings.auth.access_minutes * 60
    assert pair["refresh_expires_in"] == settings.auth.refresh_minutes * 60
    claims = jwt.decode(
        pair["access_token"],
        signing_key(settings.auth.secret),
        algorithms=["HS256"],
        audience=settings.auth.audience,
    )
    assert {"sub", "role", "team_id", "town_code", "exp", "iat", "jti", "type"} <= claims.keys()
    assert claims["aud"] == "healthmap"  # the root store's (a county's: healthmap:<code>)
    assert (claims["role"], claims["team_id"], claims["town_code"], claims["type"]) == (
        "doctor",
        "T01",
        None,
        "access",
    )
    assert claims["exp"] - claims["iat"] == settings.auth.access_minutes * 60
    assert "password" not in str(claims) and "doctor1" not in str(claims)
    body = me(client, pair["access_token"]).json()
    assert body == {
        "id": int(claims["sub"]),
        "username": "doctor1",
        "role": "doctor",
        "team_id": "T01",
        "town_code": None,
    }


def test_username_is_case_insensitive(client: TestClient, users: Any) -> None:
    assert login(client, "  Doctor1 ", USERS["doctor1"][0])["access_token"]


def test_login_failure_is_one_401(client: TestClient, users: Any) -> None:
    # Wrong password, unknown user, absurd password: one answer, nothing to tell them apart.
    for username, password in [
        ("doctor1", "wrong-password"),
        ("nobody", "doctor-password-1"),
        ("doctor1", "x" * 500),
    ]:
        r = client.post("/auth/token", data={"username": username, "password": password})
        body = assert_problem(r, 401, "unauthorized")
        assert body["detail"] == auth.BAD_CREDENTIALS


def test_disabled_account_cannot_log_in_and_its_tokens_stop(
    client: TestClient, users: Any, engine: Engine
) -> None:
    token = token_of(client, "bureau1")
    with Session(engine) as session:
        disable_user(session, "bureau1")
    assert_problem(me(client, token), 401, "unauthorized")
    r = client.post("/auth/token", data={"username": "bureau1", "password": USERS["bureau1"][0]})
    assert assert_problem(r, 401)["detail"] == auth.BAD_CREDENTIALS
    with Session(engine) as session:
        disable_user(session, "bureau1", disabled=False)
    assert me(client, token).status_code == 200


def test_role_change_invalidates_tokens(client: TestClient, users: Any, engine: Engine) -> None:
    token = token_of(client, "doctor1")
    with Session(engine) as session:
        set_role(session, "doctor1", "doctor", team_id="T02")
    assert "scope has changed" in assert_problem(me(client, token), 401)["detail"]
    assert me(client, token_of(client, "doctor1")).json()["team_id"] == "T02"


def test_expired_token_is_401(client: TestClient, users: Any, settings: Any) -> None:
    principal = Principal(1, "admin1", "admin")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    token, _ = issue_token(principal, settings.auth, "access", now=long_ago)
    body = assert_problem(me(client, token), 401, "unauthorized")
    assert "expired" in body["detail"]


def _claims(user_id: int = 1, role: str = "admin", **extra: Any) -> dict[str, Any]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    return {
        "sub": str(user_id),
        "role": role,
        "team_id": None,
        "town_code": None,
        "iat": now,
        "exp": now + 600,
        "jti": "x",
        "type": "access",
        "aud": "healthmap",
        **extra,
    }


def test_forged_tokens_are_401(client: TestClient, users: Any, settings: Any) -> None:
    admin_id = me(client, token_of(client, "admin1")).json()["id"]
    good = jwt.encode(_claims(admin_id), signing_key(settings.auth.secret), algorithm="HS256")
    assert me(client, good).status_code == 200  # the reference: a correctly signed token
    forged = [
        # Another secret, or the configured string itself instead of the derived key.
        jwt.encode(_claims(admin_id), signing_key("another-secret"), algorithm="HS256"),
        jwt.encode(_claims(admin_id), settings.auth.secret.ljust(32, "!"), algorithm="HS256"),
        # alg=none.
        jwt.encode(_claims(admin_id), None, algorithm="none"),
        # A valid token with its payload swapped (role escalation attempt).
        _swap_payload(
            jwt.encode(
                _claims(admin_id, role="bureau"),
                signing_key(settings.auth.secret),
                algorithm="HS256",
            ),
            _claims(admin_id, role="admin"),
        ),
        # Correctly signed but missing a required claim, or naming a user that is not.
        jwt.encode(
            {k: v for k, v in _claims(admin_id).items() if k != "jti"},
            signing_key(settings.auth.secret),
            algorithm="HS256",
        ),
        jwt.encode(_claims(99999), signing_key(settings.auth.secret), algorithm="HS256"),
        # Right key, but addressed to a county, or to no one (store.counties).
        jwt.encode(
            _claims(admin_id, aud="healthmap:370725"),
            signing_key(settings.auth.secret),
            algorithm="HS256",
        ),
        jwt.encode(
            {k: v for k, v in _claims(admin_id).items() if k != "aud"},
            signing_key(settings.auth.secret),
            algorithm="HS256",
        ),
        # Right signature, wrong role for the account.
        jwt.encode(
            _claims(admin_id, role="bureau"), signing_key(settings.auth.secret), algorithm="HS256"
        ),
        "garbage",
    ]
    for token in forged:
        assert_problem(me(client, token), 401, "unauthorized")


def _swap_payload(token: str, claims: dict[str, Any]) -> str:
    import base64
    import json

    header, _, signature = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def test_refresh(client: TestClient, users: Any, settings: Any) -> None:
    pair = login(client, "center1")
    r = client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 200
    new = r.json()
    assert new["access_token"] != pair["access_token"]
    assert me(client, new["access_token"]).json()["town_code"] == "370783001000"
    # A refresh token is not an access token, and the other way round.
    assert_problem(me(client, pair["refresh_token"]), 401)
    r = client.post("/auth/refresh", json={"refresh_token": pair["access_token"]})
    assert_problem(r, 401)
    # An expired refresh token.
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=settings.auth.refresh_minutes + 1)
    principal = Principal(me(client, new["access_token"]).json()["id"], "center1", "chronic_center")
    old, _ = issue_token(principal, settings.auth, "refresh", now=long_ago)
    body = assert_problem(client.post("/auth/refresh", json={"refresh_token": old}), 401)
    assert "expired" in body["detail"]


# ----------------------------------------------------------------------------------------
# Lock-out
# ----------------------------------------------------------------------------------------
def test_lockout_after_max_failures(
    client: TestClient, users: Any, engine: Engine, settings: Any
) -> None:
    n = settings.auth.max_failed_logins
    wrong = {"username": "planner1", "password": "not-the-password"}
    for _ in range(n):
        assert_problem(client.post("/auth/token", data=wrong), 401)
    # Locked: even the right password is refused, with 429 and Retry-After.
    right = {"username": "planner1", "password": USERS["planner1"][0]}
    r = client.post("/auth/token", data=right)
    assert_problem(r, 429, "account-locked")
    retry = int(r.headers["retry-after"])
    assert 0 < retry <= settings.auth.lockout_minutes * 60 + 1
    # Other accounts are unaffected.
    assert login(client, "bureau1")
    # When the lock has run out, the right password works and the count starts again.
    with Session(engine) as session:
        session.execute(
            update(User)
            .where(User.username == "planner1")
            .values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        session.commit()
    assert login(client, "planner1")
    with Session(engine) as session:
        user = session.scalar(select(User).where(User.username == "planner1"))
        assert user is not None and user.failed_count == 0 and user.locked_until is None


def test_unknown_usernames_lock_out_the_same(client: TestClient, users: Any, settings: Any) -> None:
    wrong = {"username": "ghost", "password": "whatever-it-is"}
    for _ in range(settings.auth.max_failed_logins):
        assert_problem(client.post("/auth/token", data=wrong), 401)
    assert_problem(client.post("/auth/token", data=wrong), 429, "account-locked")


def test_set_password_lifts_a_lock(
    client: TestClient, users: Any, engine: Engine, settings: Any
) -> None:
    for _ in range(settings.auth.max_failed_logins):
        client.post("/auth/token", data={"username": "doctor2", "password": "nope-nope"})
    with Session(engine) as session:
        set_password(session, "doctor2", "a-new-password")
    assert login(client, "doctor2", "a-new-password")


def test_login_attempts_keep_no_typed_username(
    client: TestClient, users: Any, engine: Engine
) -> None:
    typed = "MySecretPassw0rd"  # a password typed into the username field
    client.post("/auth/token", data={"username": typed, "password": "x"})
    login(client, "doctor1")
    with Session(engine) as session:
        rows = session.scalars(select(LoginAttempt).order_by(LoginAttempt.id)).all()
    assert [(r.success, r.reason) for r in rows] == [(False, "unknown_user"), (True, "ok")]
    assert rows[0].user_id is None and rows[1].user_id is not None
    dump = str([vars(r) for r in rows]).lower()
    assert typed.lower() not in dump and "doctor1" not in dump
    assert rows[0].at.tzinfo is not None


# ----------------------------------------------------------------------------------------
# Roles and scopes
# ----------------------------------------------------------------------------------------
TEAM_TOWN = {"T01": "370783001000", "T02": "370783002000"}
scoped = APIRouter(prefix="/_test")


@scoped.get("/teams/{team_id}/patients")
def team_patients(team_id: str, user: CareUser) -> dict[str, str]:
    # The pattern the patient endpoints will follow: role check by type, scope by lookup.
    ensure_in_scope(user, team_id=team_id, town_code=TEAM_TOWN.get(team_id))
    return {"team_id": team_id}


@pytest.fixture
def scoped_client(migrated_store_url: str, engine: Engine, users: Any) -> Any:
    app: FastAPI = create_app(make_settings(migrated_store_url), engine)
    app.include_router(scoped)
    with TestClient(app) as c:
        yield c


#: (user, team asked for, expected status)
SCOPE_CASES = [
    ("doctor1", "T01", 200),
    ("doctor1", "T02", 404),  # another team's: as if it did not exist
    ("doctor1", "T99", 404),  # a team that does not exist: the same answer
    ("doctor2", "T02", 200),
    ("center1", "T01", 200),  # a team of the centre's township
    ("center1", "T02", 404),  # a team of another township
    ("bureau1", "T01", 403),  # the role never sees individual lists
    ("planner1", "T01", 403),
    ("admin1", "T01", 403),
]


def test_role_and_scope(scoped_client: TestClient) -> None:
    unknown = assert_problem(scoped_client.get("/nowhere"), 404)
    headers = {u: bearer(scoped_client, u) for u in {u for u, _, _ in SCOPE_CASES}}
    for username, team, status in SCOPE_CASES:
        r = scoped_client.get(f"/_test/teams/{team}/patients", headers=headers[username])
        if status == 200:
            assert r.json() == {"team_id": team}, (username, team)
            continue
        body = assert_problem(r, status)
        if status == 404:  # nothing tells an out-of-scope id from an unknown one
            assert (body["type"], body["title"], body["detail"]) == (
                unknown["type"],
                unknown["title"],
                unknown["detail"],
            ), (username, team)


def test_admin_endpoint_is_403_for_other_roles(client: TestClient, users: Any) -> None:
    for username in ("doctor1", "center1", "bureau1", "planner1"):
        assert_problem(client.get("/admin/audit", headers=bearer(client, username)), 403)
    assert client.get("/admin/audit", headers=bearer(client, "admin1")).status_code == 200


def test_ensure_in_scope_unit() -> None:
    doctor = Principal(1, "d", "doctor", team_id="T01")
    center = Principal(2, "c", "chronic_center", town_code="370783001000")
    ensure_in_scope(doctor, team_id="T01")
    ensure_in_scope(center, town_code="370783001000", team_id="T02")
    for user, kw in [
        (doctor, {"team_id": None}),
        (doctor, {"town_code": "370783001000"}),
        (center, {"town_code": None, "team_id": "T01"}),
        (Principal(3, "b", "bureau"), {"team_id": "T01", "town_code": "370783001000"}),
    ]:
        with pytest.raises(NotFound):
            ensure_in_scope(user, **kw)


# ----------------------------------------------------------------------------------------
# Account functions (the CLI's)
# ----------------------------------------------------------------------------------------
def test_account_functions_validate(engine: Engine) -> None:
    with Session(engine) as session:
        with pytest.raises(Invalid, match="team"):
            add_user(session, "doc", "long-enough-pw", "doctor")
        with pytest.raises(Invalid, match="township"):
            add_user(session, "cen", "long-enough-pw", "chronic_center")
        with pytest.raises(Invalid, match="takes no team"):
            add_user(session, "bur", "long-enough-pw", "bureau", team_id="T01")
        with pytest.raises(Invalid, match="Unknown role"):
            add_user(session, "who", "long-enough-pw", "superuser")
        with pytest.raises(Invalid, match="characters"):
            add_user(session, "bur", "short", "bureau")
        with pytest.raises(Invalid, match="username"):
            add_user(session, "a b", "long-enough-pw", "bureau")
        add_user(session, "Bur", "long-enough-pw", "bureau")
        with pytest.raises(Conflict):
            add_user(session, "bur", "long-enough-pw", "bureau")
        with pytest.raises(NotFound):
            disable_user(session, "nobody")
        with pytest.raises(Invalid):
            set_role(session, "bur", "doctor")
        users = list_users(session)
    assert users.to_dict("records")[0]["username"] == "bur"
    assert "password_hash" not in users.columns and "scope" in users.columns


def test_demo_users(engine: Engine, client: TestClient) -> None:
    seed_teams_and_towns(engine)
    with Session(engine) as session:
        first = ensure_demo_users(session)
        again = ensure_demo_users(session)  # idempotent, and the passwords still work
    assert first == again
    assert [(u, r) for u, _, r, _ in first] == [(u, r) for u, _, r in DEMO_USERS]
    scopes = {role: scope for _, _, role, scope in first}
    assert scopes == {
        "doctor": "team:T01",
        "chronic_center": "town:370783001000",
        "bureau": "county",
        "planner": "county",
        "admin": "county",
        "province": "province",
    }
    for username, password, role, _ in first:
        assert me(client, login(client, username, password)["access_token"]).json()["role"] == role


def test_demo_users_without_teams_skip_the_scoped_roles(engine: Engine) -> None:
    with Session(engine) as session:
        roles = [r for _, _, r, _ in ensure_demo_users(session)]
    assert roles == ["bureau", "planner", "admin", "province"]
