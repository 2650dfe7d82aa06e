"""The smaller guards of issue 17 (item 9): accounts name real teams, passwords stay off
the command line, an old build is not made current by accident, a visit outside the
registry is kept with a warning."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from svc_county import TODAY
from svc_helpers import assert_problem, seed_teams_and_towns
from typer.testing import CliRunner

import healthmap.cli as cli
from service.shaping import MAX_BUILD_REWIND_DAYS
from store.accounts import User
from store.models import ChronicRegistry

Headers = dict[str, dict[str, str]]


@pytest.fixture(autouse=True)
def fresh_cli_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's commands resolve their own settings and engine (the state is global)."""
    monkeypatch.setattr(cli, "state", cli.State())


# ----------------------------------------------------------------------------------------
# Accounts from the command line
# ----------------------------------------------------------------------------------------
def _users_add(url: str, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> Any:
    return CliRunner().invoke(
        cli.app, ["users", "add", *args, "--db", url], env=env or {}, input=stdin
    )


def _usernames(engine: Engine) -> set[str]:
    with Session(engine) as session:
        return set(session.scalars(select(User.username)))


def test_users_add_refuses_an_unknown_team_or_town(migrated_store_url: str, engine: Engine) -> None:
    seed_teams_and_towns(engine)
    env = {"HEALTHMAP_NEW_PASSWORD": "a-long-password-1"}
    r = _users_add(migrated_store_url, "dr_x", "--role", "doctor", "--team", "NOPE99", env=env)
    assert r.exit_code == 1
    assert "No team 'NOPE99'" in r.output
    r = _users_add(
        migrated_store_url, "cc_x", "--role", "chronic_center", "--town", "370783000000", env=env
    )  # the county's code, not a township's
    assert r.exit_code == 1 and "No township" in r.output
    assert _usernames(engine) == set()
    r = _users_add(migrated_store_url, "dr_x", "--role", "doctor", "--team", "T01", env=env)
    assert r.exit_code == 0, r.output
    assert _usernames(engine) == {"dr_x"}


def test_the_password_never_is_an_option(migrated_store_url: str, engine: Engine) -> None:
    seed_teams_and_towns(engine)
    r = _users_add(
        migrated_store_url, "bureau_1", "--role", "bureau", "--password", "a-long-pass-1"
    )
    assert r.exit_code == 2  # no such option
    assert _usernames(engine) == set()


def test_password_from_file_env_or_prompt(
    migrated_store_url: str, engine: Engine, tmp_path: Path
) -> None:
    from service.auth import verify_password

    secret = tmp_path / "pw"
    secret.write_text("from-the-file-1\n", encoding="utf-8")
    assert (
        _users_add(
            migrated_store_url, "bureau_1", "--role", "bureau", "--password-file", str(secret)
        ).exit_code
        == 0
    )
    env = {"HEALTHMAP_NEW_PASSWORD": "from-the-env-22"}
    assert _users_add(migrated_store_url, "bureau_2", "--role", "bureau", env=env).exit_code == 0
    typed = _users_add(
        migrated_store_url,
        "bureau_3",
        "--role",
        "bureau",
        stdin="typed-twice-333\ntyped-twice-333\n",
    )
    assert typed.exit_code == 0, typed.output
    assert "typed-twice-333" not in typed.output  # not echoed
    with Session(engine) as session:
        hashes = {u.username: u.password_hash for u in session.scalars(select(User))}
    assert verify_password(hashes["bureau_1"], "from-the-file-1")
    assert verify_password(hashes["bureau_2"], "from-the-env-22")
    assert verify_password(hashes["bureau_3"], "typed-twice-333")


def test_the_api_refuses_unknown_teams_too(api: TestClient, auth: Headers) -> None:
    body = {"username": "dr_y", "password": "a-long-password-1", "role": "doctor"}
    r = api.post("/api/v1/admin/users", json={**body, "team_id": "NOPE99"}, headers=auth["admin1"])
    assert_problem(r, 422, "invalid")
    r = api.post("/api/v1/admin/users", json={**body, "team_id": "T02"}, headers=auth["admin1"])
    assert r.status_code == 201, r.text


# ----------------------------------------------------------------------------------------
# An old build made current
# ----------------------------------------------------------------------------------------
def test_an_old_build_needs_force(api: TestClient, auth: Headers) -> None:
    """The county's build is for TODAY; a 1999 one, or one a quarter back, is refused."""
    h = auth["admin1"]
    for day in ("1999-01-01", (TODAY - dt.timedelta(days=MAX_BUILD_REWIND_DAYS + 1)).isoformat()):
        r = api.post("/api/v1/admin/build", params={"as_of": day}, headers=h)
        body = assert_problem(r, 409, "conflict")
        assert "force" in body["detail"]
    assert api.app.state.jobs.list() == []  # type: ignore[attr-defined]


def test_a_recent_or_forced_build_is_queued(
    api: TestClient, auth: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted: list[dict[str, Any]] = []
    jobs = api.app.state.jobs  # type: ignore[attr-defined]
    real = jobs.submit

    def submit(kind: str, params: dict[str, Any], work: Any, **kw: Any) -> Any:
        submitted.append(params)  # queued, not run: a build takes far too long for this test
        return real(kind, params, lambda: {}, **kw)

    monkeypatch.setattr(jobs, "submit", submit)
    h = auth["admin1"]
    recent = (TODAY - dt.timedelta(days=MAX_BUILD_REWIND_DAYS)).isoformat()
    assert api.post("/api/v1/admin/build", params={"as_of": recent}, headers=h).status_code == 202
    forced = {"as_of": "1999-01-01", "force": "true"}
    assert api.post("/api/v1/admin/build", params=forced, headers=h).status_code == 202
    assert [p["as_of"] for p in submitted] == [recent, "1999-01-01"]


def test_cli_build_refuses_an_old_date_without_force(
    migrated_store_url: str, engine: Engine, county: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.build

    built: list[dt.date] = []

    def fake_build(engine: Engine, as_of: dt.date, rules: Any, **kw: Any) -> dict[str, Any]:
        built.append(as_of)
        return {"build_id": 99, "seconds": 0.0, "rows": {}}

    monkeypatch.setattr(pipelines.build, "run_build", fake_build)
    args = ["--db", migrated_store_url, "build", "--as-of", "1999-01-01"]
    r = CliRunner().invoke(cli.app, args)
    assert r.exit_code == 1 and "force" in r.output
    assert built == []
    assert CliRunner().invoke(cli.app, [*args, "--force"]).exit_code == 0
    assert built == [dt.date(1999, 1, 1)]


# ----------------------------------------------------------------------------------------
# A visit outside the registry
# ----------------------------------------------------------------------------------------
def test_a_visit_outside_the_registry_is_kept_with_a_warning(
    api: TestClient, auth: Headers, engine: Engine
) -> None:
    with Session(engine) as session:
        rows = session.execute(
            select(ChronicRegistry.resident_id, ChronicRegistry.disease).where(
                ChronicRegistry.team_id == "T01", ChronicRegistry.closed_date.is_(None)
            )
        ).all()
    enrolled = {(r.resident_id, r.disease) for r in rows}
    other_of = {"htn": "t2dm", "t2dm": "htn"}
    # A T01 patient enrolled for one disease only: the other is outside the registry.
    rid, disease = sorted((r, d) for r, d in enrolled if (r, other_of[d]) not in enrolled)[0]
    other = other_of[disease]
    visit = {"resident_id": rid, "disease": disease, "visit_date": TODAY.isoformat()}
    r = api.post("/api/v1/followups", json=visit, headers=auth["doctor1"])
    assert r.status_code == 201, r.text
    assert r.json()["warnings"] == []
    outside = {**visit, "disease": other, "followup_id": "FU-OUTSIDE-1"}
    r = api.post("/api/v1/followups", json=outside, headers=auth["doctor1"])
    assert r.status_code == 201, r.text
    warnings = r.json()["warnings"]
    assert [w["code"] for w in warnings] == ["not_in_registry"]
    assert TODAY.isoformat() in warnings[0]["message"]
    # Stored all the same; the replay says the same.
    again = api.post("/api/v1/followups", json=outside, headers=auth["doctor1"])
    assert again.status_code == 200 and again.json()["warnings"] == warnings
