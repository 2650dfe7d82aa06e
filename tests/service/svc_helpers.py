"""Helpers of the service tests (plain functions; the fixtures are in conftest.py)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service.settings import AuthSettings, ServiceSettings, Settings, load_settings
from store.models import Area, Team

#: The accounts every ``users`` fixture creates: username -> (password, role, team, town).
USERS: dict[str, tuple[str, str, str | None, str | None]] = {
    "admin1": ("admin-password-1", "admin", None, None),
    "doctor1": ("doctor-password-1", "doctor", "T01", None),
    "doctor2": ("doctor-password-2", "doctor", "T02", None),
    "center1": ("center-password-1", "chronic_center", None, "370783001000"),
    "bureau1": ("bureau-password-1", "bureau", None, None),
    "planner1": ("planner-password-1", "planner", None, None),
}


def make_settings(store: str = "sqlite:///:memory:", **overrides: Any) -> Settings:
    """Test settings: small lock-out numbers; ``auth=``/``service=`` dicts are merged."""
    auth = {"max_failed_logins": 3, "lockout_minutes": 15, **overrides.pop("auth", {})}
    # TestClient's requests name the host `testserver` (service.allowed_hosts).
    # No access-log handlers either (they would write var/access.log and hide the lines
    # from caplog); tests/service/test_access_log.py turns the log on.
    # Nor a splice child process per app (tests/service/test_splicer.py starts one).
    svc = {
        "allowed_hosts": ("testserver", "localhost"),
        "access_log": False,
        "splice_process": False,
        **overrides.pop("service", {}),
    }
    return load_settings(
        database_url=store,
        mode=overrides.pop("mode", "demo"),
        auth=AuthSettings(**auth),
        service=ServiceSettings(**svc),
        **overrides,
    )


def login(client: TestClient, username: str, password: str | None = None) -> dict[str, Any]:
    """Log in; the token response."""
    password = password if password is not None else USERS[username][0]
    r = client.post("/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


def bearer(client: TestClient, username: str) -> dict[str, str]:
    """Authorization header of a fresh login."""
    return {"Authorization": f"Bearer {login(client, username)['access_token']}"}


def seed_teams_and_towns(engine: Engine) -> None:
    """Two towns and two teams (the first of each is what ``ensure_demo_users`` picks)."""
    with Session(engine) as session:
        session.add_all(
            [
                Area(area_code="370783000000", name="寿光市", level="county"),
                Area(
                    area_code="370783001000",
                    name="圣城街道",
                    level="town",
                    parent_code="370783000000",
                ),
                Area(
                    area_code="370783002000",
                    name="文家街道",
                    level="town",
                    parent_code="370783000000",
                ),
                Team(team_id="T01", name="一队", facility_id="F01", max_daily_visits=12),
                Team(team_id="T02", name="二队", facility_id="F02", max_daily_visits=12),
            ]
        )
        session.commit()


# ----------------------------------------------------------------------------------------
# Problem shape (used by every test file)
# ----------------------------------------------------------------------------------------
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance"}


def assert_problem(response: Any, status: int, type_: str | None = None) -> dict[str, Any]:
    """Check the RFC 9457 shape of an error response; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body.keys() >= PROBLEM_MEMBERS, body
    assert body["status"] == status
    assert all(isinstance(body[k], str) and body[k] for k in PROBLEM_MEMBERS - {"status"})
    assert body["type"] == "about:blank" or body["type"].startswith("/problems/")
    assert body["instance"] == f"urn:uuid:{response.headers['x-request-id']}"
    if type_ is not None:
        assert body["type"] == f"/problems/{type_}", body
    text_ = response.text
    assert "Traceback" not in text_ and 'File "' not in text_
    # Security headers travel on errors too.
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    return body


def token_headers(engine: Engine, settings: Settings) -> dict[str, dict[str, str]]:
    """``Authorization`` headers of every account in the store, minted without a login."""
    from service.auth import Principal, issue_token
    from store.accounts import User

    with Session(engine) as session:
        principals = [Principal.of(u) for u in session.query(User).all()]
    return {
        p.username: {"Authorization": f"Bearer {issue_token(p, settings.auth, 'access')[0]}"}
        for p in principals
    }
