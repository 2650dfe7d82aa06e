"""Bad input to the recording endpoints: every mistake is a problem that names the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt
from fastapi.testclient import TestClient
from svc_county import TODAY
from svc_helpers import assert_problem

from service.auth import Principal, issue_token, signing_key

Headers = dict[str, dict[str, str]]
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def reading(**kw: Any) -> dict[str, Any]:
    return {"resident_id": "R01", "measured_at": NOW.isoformat(), "sbp": 130, "dbp": 80, **kw}


def visit(**kw: Any) -> dict[str, Any]:
    return {
        "resident_id": "R01",
        "disease": "htn",
        "visit_date": TODAY.isoformat(),
        "sbp": 130,
        "dbp": 80,
        **kw,
    }


def locs(response: Any) -> set[str]:
    return {e["loc"] for e in response.json().get("errors", [])}


BAD_VISITS = [
    (visit(sbp=301), "body.sbp"),
    (visit(sbp=49), "body.sbp"),
    (visit(dbp=201), "body.dbp"),
    (visit(dbp=29), "body.dbp"),
    (visit(sbp=120, dbp=120), "body.dbp"),  # sbp must exceed dbp
    (visit(fasting_glucose=40.1), "body.fasting_glucose"),
    (visit(fasting_glucose=0.9), "body.fasting_glucose"),
    (visit(heart_rate=251), "body.heart_rate"),
    (visit(heart_rate=19), "body.heart_rate"),
    (visit(disease="flu"), "body.disease"),
    (visit(sbp="high"), "body.sbp"),
    (visit(visit_date="yesterday"), "body.visit_date"),
    (visit(spb=130), "body.spb"),  # a misspelt field is refused, not dropped
    (visit(visit_date=(TODAY + dt.timedelta(days=2)).isoformat()), "body.visit_date"),
    (visit(staff_id="NOBODY"), "body.staff_id"),
    (visit(next_visit_date="2000-01-01"), "body"),
]


def test_followup_ranges_are_the_data_contracts(api: TestClient, auth: Headers) -> None:
    for body, field in BAD_VISITS:
        r = api.post("/api/v1/followups", json=body, headers=auth["doctor1"])
        assert_problem(r, 422, "invalid")
        assert field in locs(r), (body, r.json())
        assert all("input" not in e for e in r.json()["errors"])  # values are never echoed


def test_edges_of_the_ranges_are_accepted(api: TestClient, auth: Headers) -> None:
    ok = visit(sbp=300, dbp=200, heart_rate=20, followup_id="FU-EDGE")
    assert api.post("/api/v1/followups", json=ok, headers=auth["doctor1"]).status_code == 201
    edge = reading(sbp=51, dbp=50, glucose=40.0, heart_rate=250)
    assert api.post("/api/v1/measurements", json=edge, headers=auth["doctor1"]).status_code == 201


def test_measurement_mistakes(api: TestClient, auth: Headers) -> None:
    post = lambda body, user="doctor1": api.post(  # noqa: E731
        "/api/v1/measurements", json=body, headers=auth[user]
    )
    assert "body.item.sbp" in locs(assert_problem_r(post(reading(sbp=400)), 422))
    assert "body.items.1.dbp" in locs(post([reading(), reading(dbp=10)]))
    assert "body.item" in locs(post({"resident_id": "R01", "measured_at": NOW.isoformat()}))
    future = (NOW + dt.timedelta(hours=2)).isoformat()
    assert locs(post(reading(measured_at=future))) == {"body.measured_at"}
    assert locs(post([reading(), reading(measured_at="1999-12-31T23:00:00")])) == {
        "body.items.1.measured_at"
    }
    assert locs(post(reading(facility_id="F404"))) == {"body.facility_id"}
    assert_problem(post(reading(glucose_type="after_lunch")), 422)
    assert_problem(post([]), 422)
    assert_problem(post([reading(measurement_id=f"B{i}") for i in range(501)]), 422)
    # Unknown resident: 404 (the same for a doctor as an out-of-team patient).
    assert_problem(post(reading(resident_id="R999")), 404, "not-found")
    assert_problem(post(reading(resident_id="R999"), "admin1"), 404, "not-found")
    # All or nothing: one bad reading stores none of the batch.
    r = post([reading(measurement_id="OK-1"), reading(measurement_id="BAD", facility_id="F404")])
    assert r.status_code == 422
    again = post(reading(measurement_id="OK-1"))
    assert again.json()["items"][0]["status"] == "created"


def assert_problem_r(response: Any, status: int) -> Any:
    assert_problem(response, status)
    return response


def test_measurement_ids_are_idempotent(api: TestClient, auth: Headers) -> None:
    h = auth["admin1"]
    first = api.post("/api/v1/measurements", json=reading(measurement_id="X1"), headers=h)
    assert first.status_code == 201 and first.json()["created"] == 1
    same = api.post("/api/v1/measurements", json=[reading(measurement_id="X1")], headers=h)
    assert same.status_code == 200
    assert same.json()["unchanged"] == 1 and same.json()["items"][0]["status"] == "unchanged"
    # The same instant written with another offset is the same reading.
    shifted = NOW.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()
    assert (
        api.post(
            "/api/v1/measurements",
            json=reading(measurement_id="X1", measured_at=shifted),
            headers=h,
        ).status_code
        == 200
    )
    other = api.post("/api/v1/measurements", json=reading(measurement_id="X1", sbp=131), headers=h)
    assert_problem(other, 409, "conflict")
    # Repeated inside one request: stored once.
    dup = api.post(
        "/api/v1/measurements",
        json=[reading(measurement_id="X2"), reading(measurement_id="X2")],
        headers=h,
    ).json()
    assert [i["status"] for i in dup["items"]] == ["created", "unchanged"]


def test_local_time_without_offset_is_shanghai(api: TestClient, auth: Headers) -> None:
    # 00:30 local on TODAY is 16:30 UTC the day before: measured_date is the local date.
    local = dt.datetime.combine(TODAY, dt.time(0, 30))
    r = api.post(
        "/api/v1/measurements",
        json=reading(measurement_id="TZ-1", measured_at=local.isoformat()),
        headers=auth["admin1"],
    ).json()["items"][0]
    assert r["measured_date"] == TODAY.isoformat()
    utc = dt.datetime.fromisoformat(r["measured_at"].replace("Z", "+00:00"))
    assert utc == dt.datetime.combine(TODAY - dt.timedelta(days=1), dt.time(16, 30), dt.UTC)


def test_malformed_bodies(api: TestClient, auth: Headers, make_client: Any) -> None:
    h = {**auth["doctor1"], "content-type": "application/json"}
    r = api.post("/api/v1/followups", content=b'{"resident_id": "R01",', headers=h)
    assert_problem(r, 422, "invalid")
    r = api.post("/api/v1/measurements", content=b'{"sbp": NaN}', headers=h)
    assert r.status_code == 422
    r = api.post("/api/v1/measurements", content=b"[1, 2, 3]", headers=h)
    assert_problem(r, 422)
    r = api.post("/api/v1/followups", content=b"\xff\xfe\x00", headers=h)
    assert r.status_code in (400, 422)
    r = api.post("/api/v1/tasks/dismiss", json={"resident_id": ["R01"]}, headers=h)
    assert_problem(r, 422)
    # Huge bodies: refused before they are read.
    small = make_client(service={"max_body_bytes": 2000, "rate_limit_per_minute": 0})
    big = [reading(measurement_id=f"H{i}") for i in range(200)]
    assert_problem(
        small.post("/api/v1/measurements", json=big, headers=auth["admin1"]),
        413,
        "content-too-large",
    )


def test_expired_and_forged_tokens(api: TestClient, auth: Headers, api_settings: Any) -> None:
    user = Principal(id=1, username="x", role="admin")
    old, _ = issue_token(
        user, api_settings.auth, "access", now=dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    )
    forged = jwt.encode(
        {"sub": "1", "role": "admin", "exp": 9_999_999_999, "iat": 0, "jti": "x", "type": "access"},
        signing_key("not-the-secret"),
        algorithm="HS256",
    )
    none_alg = jwt.encode(
        {"sub": "1", "role": "admin", "exp": 9_999_999_999, "iat": 0, "jti": "x", "type": "access"},
        None,
        algorithm="none",
    )
    for token, words in ((old, "expired"), (forged, "not valid"), (none_alg, "not valid")):
        for method, path in (("GET", "/api/v1/meta"), ("POST", "/api/v1/measurements")):
            r = api.request(method, path, headers={"Authorization": f"Bearer {token}"}, json={})
            body = assert_problem(r, 401, "unauthorized")
            assert words in body["detail"]
            assert 'error="invalid_token"' in r.headers["www-authenticate"]
    refresh, _ = issue_token(user, api_settings.auth, "refresh")
    r = api.get("/api/v1/meta", headers={"Authorization": f"Bearer {refresh}"})
    assert_problem(r, 401)


def test_nul_characters_are_refused_everywhere(api: TestClient, auth: Headers) -> None:
    # PostgreSQL text cannot hold U+0000: without the guard these were 500s there.
    cases = [
        ("bureau1", "GET", "/api/v1/search?q=%00", {}),
        ("center1", "GET", "/api/v1/teams/T%0001/pushlist", {}),
        ("doctor1", "GET", "/api/v1/residents/%00", {}),
        ("bureau1", "GET", "/api/v1/indicators?level=town&unit_id=%00", {}),
        ("admin1", "POST", "/api/v1/admin/users/%00/disable", {}),
        (None, "POST", "/auth/token", {"data": {"username": "\x00", "password": "x"}}),
        ("doctor1", "POST", "/api/v1/followups", {"json": visit(resident_id="R\x0001")}),
        ("admin1", "POST", "/api/v1/measurements", {"json": [reading(device_id="a\x00")]}),
    ]
    for user, method, path, kwargs in cases:
        r = api.request(method, path, headers=auth[user] if user else {}, **kwargs)
        assert_problem(r, 400, "bad-request")
