"""A resident's own page: activation, PIN and lock-out, revoke/reissue, scoping, readings,
the right-to-know log (service/routes/residents.py, docs/residents.md).

The county is ``svc_county``: R01–R03 are T01's (doctor1), R04–R05 T02's (doctor2);
``resident1`` is R01's account and ``resident2`` R04's (tokens minted). A login through
``/auth/resident/token`` needs an activation, so the flows below start with a doctor's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from svc_county import TODAY, days
from svc_helpers import assert_problem

from service.resident_accounts import code_hash, normalise_code
from store.accounts import AuditLog, User
from store.models import Measurement
from store.resident_accounts import SELF_REPORTED, ResidentAccount

PIN, NEW_PIN = "482916", "730251"


def issue(api: TestClient, auth: dict[str, Any], rid: str, doctor: str = "doctor1") -> Any:
    r = api.post(f"/api/v1/residents/{rid}/activation", headers=auth[doctor])
    assert r.status_code == 201, r.text
    return r.json()


def activate(api: TestClient, code: str, pin: str = PIN) -> Any:
    return api.post("/auth/resident/activate", json={"code": code, "pin": pin})


def login(api: TestClient, login_id: str, pin: str = PIN) -> Any:
    return api.post("/auth/resident/token", json={"login_id": login_id, "pin": pin})


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


# ----------------------------------------------------------------------------------------
# Activation
# ----------------------------------------------------------------------------------------
def test_activation_flow(api: TestClient, auth: dict[str, Any], engine: Engine) -> None:
    slip = issue(api, auth, "R02")
    code, login_id = slip["code"], slip["login_id"]
    assert len(normalise_code(code)) == 8 and "-" in code
    assert login_id.isdigit() and len(login_id) == 8
    assert slip["url"].endswith(f"/r/#code={normalise_code(code)}")  # in the fragment
    assert slip["qr_svg"].startswith("<svg") and "<path" in slip["qr_svg"]
    assert 'xmlns="http://www.w3.org/2000/svg"' in slip["qr_svg"]  # shown as an image too
    assert code in slip["slip_html"] and slip["qr_svg"] in slip["slip_html"]
    assert slip["name_masked"] == "李*" and "李四" not in slip["slip_html"]
    assert slip["team_name"] == "一队" and slip["phone"] == "12320"  # no team phone: hotline
    expires = dt.datetime.fromisoformat(slip["expires_at"])
    assert (
        dt.timedelta(days=13, hours=23) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=14)
    )
    # Only the keyed hash is stored.
    with Session(engine) as session:
        account = session.get_one(ResidentAccount, "R02")
        assert account.code_hash == code_hash(code, api.app.state.settings.auth.secret)
        assert normalise_code(code) not in account.code_hash
    state = api.get("/api/v1/residents/R02/activation", headers=auth["doctor1"]).json()
    assert state["state"] == "issued" and state["login_id"] == login_id

    # Not yet activated: no login.
    assert_problem(login(api, login_id), 401, "unauthorized")
    # A bad PIN is refused before the code is spent.
    assert_problem(activate(api, code, "12345"), 422, "invalid")
    assert_problem(activate(api, code, "111111"), 422, "invalid")
    r = activate(api, code.lower().replace("-", " "))
    assert r.status_code == 200, r.text
    assert r.json()["login_id"] == login_id
    me = api.get("/api/v1/me", headers=bearer(r.json())).json()
    assert me["resident_id"] == "R02" and me["name"] == "李四"
    # The code is spent.
    assert_problem(activate(api, code, NEW_PIN), 401, "unauthorized")
    # Login id + PIN now work, and only through the residents' login.
    r = login(api, f"{login_id[:4]} {login_id[4:]}")
    assert r.status_code == 200, r.text
    assert api.get("/api/v1/me", headers=bearer(r.json())).json()["resident_id"] == "R02"
    staff = api.post("/auth/token", data={"username": "r" + login_id, "password": PIN})
    assert_problem(staff, 401, "unauthorized")
    # Refresh works like the staff's.
    fresh = api.post("/auth/refresh", json={"refresh_token": r.json()["refresh_token"]})
    assert fresh.status_code == 200
    state = api.get("/api/v1/residents/R02/activation", headers=auth["doctor1"]).json()
    assert state["state"] == "active" and state["expires_at"] is None


def test_only_the_managing_doctor_issues(api: TestClient, auth: dict[str, Any]) -> None:
    for doctor, rid in (("doctor2", "R01"), ("doctor1", "R04"), ("doctor1", "R99")):
        r = api.post(f"/api/v1/residents/{rid}/activation", headers=auth[doctor])
        assert_problem(r, 404, "not-found")
    for role in ("center1", "bureau1", "admin1", "resident1"):
        r = api.post("/api/v1/residents/R01/activation", headers=auth[role])
        assert_problem(r, 403, "forbidden")
    # R06 has no registry row: the managing team is its grid's (G01 → T01).
    assert api.post("/api/v1/residents/R06/activation", headers=auth["doctor1"]).status_code == 201


def test_expired_code_is_refused(api: TestClient, auth: dict[str, Any], engine: Engine) -> None:
    code = issue(api, auth, "R03")["code"]
    with Session(engine) as session:
        session.execute(
            update(ResidentAccount)
            .where(ResidentAccount.resident_id == "R03")
            .values(code_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
        session.commit()
    assert_problem(activate(api, code), 401, "unauthorized")
    state = api.get("/api/v1/residents/R03/activation", headers=auth["doctor1"]).json()
    assert state["state"] == "expired"


# ----------------------------------------------------------------------------------------
# Lock-out, revoke, reissue
# ----------------------------------------------------------------------------------------
def test_wrong_pins_lock_until_the_doctor_reissues(api: TestClient, auth: dict[str, Any]) -> None:
    limit = api.app.state.settings.residents.max_failed_pins
    assert limit == 5
    slip = issue(api, auth, "R02")
    login_id = slip["login_id"]
    assert activate(api, slip["code"]).status_code == 200
    for _ in range(limit - 1):
        assert_problem(login(api, login_id, "999990"), 401, "unauthorized")
    assert_problem(login(api, login_id, "999990"), 403, "resident-locked")
    # Locked: the right PIN does not help either, and no timer lifts it.
    body = assert_problem(login(api, login_id, PIN), 403, "resident-locked")
    assert "doctor" in body["detail"]
    state = api.get("/api/v1/residents/R02/activation", headers=auth["doctor1"]).json()
    assert state["state"] == "locked"
    # The doctor reissues: same login id, a new code, a new PIN.
    again = issue(api, auth, "R02")
    assert again["login_id"] == login_id and again["code"] != slip["code"]
    assert_problem(login(api, login_id, PIN), 401, "unauthorized")  # the old PIN is gone
    assert_problem(activate(api, slip["code"], NEW_PIN), 401, "unauthorized")
    assert activate(api, again["code"], NEW_PIN).status_code == 200
    assert login(api, login_id, NEW_PIN).status_code == 200


def test_a_success_resets_the_count(api: TestClient, auth: dict[str, Any]) -> None:
    slip = issue(api, auth, "R03")
    assert activate(api, slip["code"]).status_code == 200
    for _ in range(2):
        for _ in range(4):
            assert login(api, slip["login_id"], "999990").status_code == 401
        assert login(api, slip["login_id"]).status_code == 200
    # The address back-off of the staff login holds here too (auth.address_free_failures:
    # 10 failures from one address are free; the 11th makes it wait).
    for _ in range(3):
        assert login(api, slip["login_id"], "999990").status_code == 401
    assert_problem(login(api, slip["login_id"]), 429, "too-many-requests")


def test_revoke_disables_at_once_and_reissue_restores(
    api: TestClient, auth: dict[str, Any]
) -> None:
    slip = issue(api, auth, "R02")
    tokens = activate(api, slip["code"]).json()
    assert api.get("/api/v1/me", headers=bearer(tokens)).status_code == 200
    assert_problem(api.delete("/api/v1/residents/R02/activation", headers=auth["doctor2"]), 404)
    r = api.delete("/api/v1/residents/R02/activation", headers=auth["doctor1"])
    assert r.status_code == 204
    assert_problem(api.get("/api/v1/me", headers=bearer(tokens)), 401, "unauthorized")
    assert_problem(login(api, slip["login_id"]), 401, "unauthorized")
    state = api.get("/api/v1/residents/R02/activation", headers=auth["doctor1"]).json()
    assert state["state"] == "revoked"
    again = issue(api, auth, "R02")
    assert activate(api, again["code"], NEW_PIN).status_code == 200
    assert login(api, slip["login_id"], NEW_PIN).status_code == 200
    # No account ever issued: 404 for state and revoke.
    assert_problem(api.get("/api/v1/residents/R03/activation", headers=auth["doctor1"]), 404)
    assert_problem(api.delete("/api/v1/residents/R03/activation", headers=auth["doctor1"]), 404)


def test_residents_cannot_be_made_as_staff_users(api: TestClient, auth: dict[str, Any]) -> None:
    body = {"username": "someone", "password": "long-password-1", "role": "resident"}
    assert_problem(api.post("/api/v1/admin/users", json=body, headers=auth["admin1"]), 422)
    r = api.put(
        "/api/v1/admin/users/resident1/role", json={"role": "bureau"}, headers=auth["admin1"]
    )
    assert_problem(r, 422, "invalid")


# ----------------------------------------------------------------------------------------
# Scoping: every /me endpoint answers about the caller only
# ----------------------------------------------------------------------------------------
ME_PATHS = (
    "/api/v1/me",
    "/api/v1/me/trends",
    "/api/v1/me/vaccinations",
    "/api/v1/me/clinics",
    "/api/v1/me/access-log",
)


def test_every_me_endpoint_is_the_callers_own(api: TestClient, auth: dict[str, Any]) -> None:
    r1 = {p: api.get(p, headers=auth["resident1"]) for p in ME_PATHS}
    r4 = {p: api.get(p, headers=auth["resident2"]) for p in ME_PATHS}
    assert all(r.status_code == 200 for r in (*r1.values(), *r4.values()))
    assert r1["/api/v1/me"].json()["resident_id"] == "R01"
    assert r4["/api/v1/me"].json()["resident_id"] == "R04"
    assert r1["/api/v1/me"].json()["team"]["team_id"] == "T01"
    assert r4["/api/v1/me"].json()["team"]["team_id"] == "T02"
    # R01's one reading (M01, 135/85) is on R01's trend only.
    p1 = r1["/api/v1/me/trends"].json()["points"]
    p4 = r4["/api/v1/me/trends"].json()["points"]
    assert {(p["kind"], p["sbp"]) for p in p1} == {("reading", 135.0), ("visit", 132.0)}
    assert {(p["kind"], p["sbp"]) for p in p4} == {("visit", 128.0)}
    # The other resident's name appears nowhere in the answers.
    for r in r1.values():
        assert "赵六" not in r.text and "R04" not in r.text
    for r in r4.values():
        assert "张三丰" not in r.text and "R01" not in r.text
    # Staff endpoints are closed to a resident, whatever the id (no probing).
    for path in ("/api/v1/residents/R01", "/api/v1/residents/R04", "/api/v1/teams/T01/pushlist"):
        assert_problem(api.get(path, headers=auth["resident1"]), 403, "forbidden")
    # A body naming another resident is 404, like an unknown one.
    for rid in ("R04", "R99"):
        r = api.post(
            "/api/v1/me/readings", json={"resident_id": rid, "sbp": 130}, headers=auth["resident1"]
        )
        assert_problem(r, 404, "not-found")
    # Staff have no /me.
    for role in ("doctor1", "center1", "bureau1", "planner1", "admin1"):
        assert_problem(api.get("/api/v1/me", headers=auth[role]), 403, "forbidden")


def test_my_record_shows_the_next_followup_and_team(api: TestClient, auth: dict[str, Any]) -> None:
    me = api.get("/api/v1/me", headers=auth["resident1"]).json()
    assert me["age"] == TODAY.year - 1955 - ((TODAY.month, TODAY.day) < (5, 6))
    assert [d["disease"]["code"] for d in me["diseases"]] == ["htn"]
    assert me["team"]["clinic"]["name"] == "圣城卫生院"
    assert me["team"]["phone_is_hotline"] is True
    # svc_county: R01's routine follow-up was due 30 days ago (visit 120 days ago + 90).
    nxt = me["next_followup"]
    assert nxt["task"]["code"] == "routine_followup" and nxt["task"]["zh"] == "常规随访"
    assert nxt["due_date"] == days(30).isoformat() and nxt["overdue"] is True
    # R05's next visit is 80 days ahead: shown although not due.
    # (resident2 is R04; R05 has no account, so ask through R04: routine due 10 days ago.)
    r4 = api.get("/api/v1/me", headers=auth["resident2"]).json()
    assert r4["next_followup"]["due_date"] == days(10).isoformat()


def test_team_phone_comes_from_the_settings(
    make_client: Any, county: Any, engine: Engine, api_settings: Any
) -> None:
    from svc_helpers import token_headers

    client = make_client(residents={"team_phones": {"T01": "0536-5201234"}})
    headers = token_headers(engine, client.app.state.settings)
    team = client.get("/api/v1/me", headers=headers["resident1"]).json()["team"]
    assert team["phone"] == "0536-5201234" and team["phone_is_hotline"] is False


def test_trend_targets_are_the_rules(api: TestClient, auth: dict[str, Any]) -> None:
    t = api.get("/api/v1/me/trends", headers=auth["resident1"]).json()["targets"]
    # R01 was born 1955: 65+, so the elderly target (RULES.md: SBP < 150, DBP < 90).
    assert t["elderly"] is True and t["sbp_below"] == 150.0 and t["dbp_below"] == 90.0
    assert t["fasting_glucose_below"] == 7.0 and t["glucose_low"] == 3.9
    assert_problem(api.get("/api/v1/me/trends?days=3", headers=auth["resident1"]), 422)


def test_nearest_clinics_and_vaccinations(api: TestClient, auth: dict[str, Any]) -> None:
    near = api.get("/api/v1/me/clinics", headers=auth["resident1"]).json()
    # R01 lives in VA1, 0.001° from F01's spot; F02 is a village box (0.05°) east.
    assert [c["facility_id"] for c in near["items"]] == ["F01", "F02"]
    assert near["items"][0]["distance_m"] < 300 < near["items"][1]["distance_m"]
    assert near["items"][0]["walk_minutes"] < 5
    vax = api.get("/api/v1/me/vaccinations", headers=auth["resident1"]).json()
    assert vax["items"] == [] and vax["influenza_this_season"] is False
    assert vax["influenza_recommended"] is True  # born 1955: 65+


# ----------------------------------------------------------------------------------------
# Home readings
# ----------------------------------------------------------------------------------------
def test_home_reading_is_marked_and_never_a_followup(
    api: TestClient, auth: dict[str, Any], engine: Engine
) -> None:
    before = api.get("/api/v1/me", headers=auth["resident1"]).json()["next_followup"]
    r = api.post("/api/v1/me/readings", json={"sbp": 146, "dbp": 88}, headers=auth["resident1"])
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["self_reported"] is True and out["emergency"] is False
    with Session(engine) as session:
        row = session.get_one(Measurement, out["measurement_id"])
        assert row.source == SELF_REPORTED and row.resident_id == "R01"
    # The team sees it on the patient record, marked.
    record = api.get("/api/v1/residents/R01", headers=auth["doctor1"]).json()
    marks = {m["measurement_id"]: m["self_reported"] for m in record["measurements"]}
    assert marks == {out["measurement_id"]: True, "M01": False}
    assert record["followups"][0]["followup_id"] == "V01"  # no visit was made of it
    # The follow-up task is untouched (a reading is no visit).
    after = api.get("/api/v1/me", headers=auth["resident1"]).json()["next_followup"]
    assert after == before
    pushlist = api.get("/api/v1/teams/T01/pushlist", headers=auth["doctor1"]).json()
    r01 = [e for e in pushlist["entries"] if e["resident_id"] == "R01"]
    assert [e["task_code"] for e in r01] == ["routine_followup"]
    # On the resident's own trend, as "self".
    points = api.get("/api/v1/me/trends", headers=auth["resident1"]).json()["points"]
    assert ("self", 146.0) in {(p["kind"], p["sbp"]) for p in points}


def test_home_reading_ranges_are_the_terminals(api: TestClient, auth: dict[str, Any]) -> None:
    h = auth["resident1"]
    for body in (
        {"sbp": 400},
        {"sbp": 120, "dbp": 130},  # DBP not below SBP
        {},  # no value
        {"glucose": 0.2},
        {"sbp": 120, "spb": 1},  # unknown field
        {"sbp": 120, "measured_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()},
    ):
        assert_problem(api.post("/api/v1/me/readings", json=body, headers=h), 422, "invalid")


def test_emergency_home_reading_is_flagged(api: TestClient, auth: dict[str, Any]) -> None:
    r = api.post("/api/v1/me/readings", json={"sbp": 186, "dbp": 100}, headers=auth["resident1"])
    assert r.status_code == 201 and r.json()["emergency"] is True
    pushlist = api.get("/api/v1/teams/T01/pushlist", headers=auth["doctor1"]).json()
    r01 = [e["task_code"] for e in pushlist["entries"] if e["resident_id"] == "R01"]
    assert r01 == ["emergency_reading"]


# ----------------------------------------------------------------------------------------
# Who read my record
# ----------------------------------------------------------------------------------------
def test_access_log_lists_staff_reads_only(
    api: TestClient, auth: dict[str, Any], engine: Engine
) -> None:
    assert api.get("/api/v1/me/access-log", headers=auth["resident1"]).json()["items"] == []
    assert api.get("/api/v1/residents/R01", headers=auth["doctor1"]).status_code == 200
    assert api.get("/api/v1/residents/R04", headers=auth["doctor2"]).status_code == 200
    api.get("/api/v1/me", headers=auth["resident1"])  # the resident's own read: not listed
    items = api.get("/api/v1/me/access-log", headers=auth["resident1"]).json()["items"]
    assert len(items) == 1
    entry = items[0]
    assert entry["username"] == "doctor1" and entry["team_id"] == "T01"
    assert entry["role"] == {"code": "doctor", "zh": "家庭医生", "en": "Family doctor"}
    assert entry["action"] == "read" and entry["what"] == "record"
    at = dt.datetime.fromisoformat(entry["at"])
    assert abs(at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    # R04's log has doctor2's read and not doctor1's.
    other = api.get("/api/v1/me/access-log", headers=auth["resident2"]).json()["items"]
    assert [e["username"] for e in other] == ["doctor2"]
    # The read is queryable by resource in the audit log (indexed), with the team.
    with Session(engine) as session:
        rows = session.scalars(
            select(AuditLog).where(
                AuditLog.resource_type == "resident", AuditLog.resource_id == "R01"
            )
        ).all()
        assert [(r.username, (r.detail or {}).get("team_id")) for r in rows] == [("doctor1", "T01")]


@pytest.mark.parametrize("path", ["/auth/resident/token", "/auth/resident/activate"])
def test_login_bodies_are_checked(api: TestClient, path: str) -> None:
    assert_problem(api.post(path, json={}), 422, "invalid")
    assert_problem(api.post(path, json={"code": "x", "pin": "1", "login_id": "1"}), 422)


def test_unknown_login_id_is_401_and_recorded(api: TestClient, engine: Engine) -> None:
    assert_problem(login(api, "99999999"), 401, "unauthorized")
    with Session(engine) as session:
        users = session.scalars(select(User.username).where(User.role == "resident")).all()
    assert set(users) == {"resident1", "resident2"}


def test_the_page_is_served_at_r(api: TestClient) -> None:
    r = api.get("/r", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == "/r/"
    from service.routes import pages

    page = api.get("/r/")
    if not (pages.STATIC_DIR / "r" / "index.html").is_file():
        assert page.status_code == 503 and "make frontend" in page.text
        return
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    assert "/static/assets/resident-" in page.text and " style=" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_the_demo_prints_a_working_activation(api: TestClient, engine: Engine) -> None:
    # `serve --demo-users`: the demo doctor (team T01, the first team) issues an activation
    # for its first hypertension patient by id: R01 (R02 has diabetes only, R03 is later).
    from service.accounts import ensure_demo_users
    from service.resident_accounts import demo_activation

    with Session(engine) as session:
        ensure_demo_users(session)
        session.commit()
        issued = demo_activation(session, api.app.state.settings)
        session.commit()
    assert issued is not None and issued.resident_id == "R01"
    r = activate(api, issued.code)
    assert r.status_code == 200, r.text
    assert login(api, issued.login_id).status_code == 200
