"""Care teams over HTTP: live push lists, masking, audit, recording, routes, dismissals.

The lists are computed live from the store, so what a doctor records changes its list at
once: an emergency reading opens a red task, a visit closes the open task, a dismissal
removes it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from svc_county import SECRET_NAME, SECRET_PHONE, TODAY, days, r02_controlled_visit

from geo.rules import age_on_scalar
from store.worklists import PushListEntry, PushListRun

Headers = dict[str, dict[str, str]]


def tasks(api: TestClient, headers: dict[str, str], team: str = "T01") -> dict[str, Any]:
    r = api.get(f"/api/v1/teams/{team}/pushlist", headers=headers)
    assert r.status_code == 200, r.text
    return {f"{e['resident_id']}/{e['disease']}": e for e in r.json()["entries"]}


def audit_log(api: TestClient, auth: Headers, **params: Any) -> list[dict[str, Any]]:
    return api.get("/admin/audit", params=params, headers=auth["admin1"]).json()["items"]


def test_doctor_sees_names_centre_sees_them_masked(api: TestClient, auth: Headers) -> None:
    mine = api.get("/api/v1/teams/T01/pushlist", headers=auth["doctor1"]).json()
    assert mine["masked"] is False and mine["date"] == TODAY.isoformat()
    assert [(e["resident_id"], e["task_code"]) for e in mine["entries"]] == [
        ("R02", "uncontrolled_recheck"),
        ("R03", "first_followup"),
        ("R01", "routine_followup"),
    ]
    r01 = mine["entries"][2]
    assert (r01["name"], r01["phone"], r01["colour"]) == (SECRET_NAME, SECRET_PHONE, "green")
    centre = api.get("/api/v1/teams/T01/pushlist", headers=auth["center1"])
    assert SECRET_NAME not in centre.text and SECRET_PHONE not in centre.text
    masked = centre.json()["entries"][2]
    assert (masked["name"], masked["phone"]) == ("张**", "138****5678")
    assert centre.headers["cache-control"] == "no-store"
    other = api.get("/api/v1/teams/T02/pushlist", headers=auth["doctor2"]).json()
    assert [e["resident_id"] for e in other["entries"]] == ["R04"]


def test_centre_unmasks_only_with_a_reason_and_it_is_audited(
    api: TestClient, auth: Headers
) -> None:
    path = "/api/v1/teams/T01/pushlist"
    reason = "电话随访失访患者"
    full = api.get(path, params={"unmask": "true", "reason": reason}, headers=auth["center1"])
    assert full.status_code == 200, full.text
    body = full.json()
    assert body["masked"] is False
    r01 = next(e for e in body["entries"] if e["resident_id"] == "R01")
    assert (r01["name"], r01["phone"]) == (SECRET_NAME, SECRET_PHONE)
    # Masked again by default: unmasking is per request, never sticky (nor cached across).
    again = api.get(path, headers=auth["center1"])
    assert again.json()["masked"] is True and SECRET_NAME not in again.text
    csv_full = api.get(
        path, params={"format": "csv", "unmask": "true", "reason": reason}, headers=auth["center1"]
    )
    assert csv_full.status_code == 200 and SECRET_PHONE in csv_full.text
    # No reason, or a blank or too short one: 422 naming the field; nothing unmasked.
    for params in (
        {"unmask": "true"},
        {"unmask": "true", "reason": "    "},
        {"unmask": "true", "reason": "ab"},
    ):
        r = api.get(path, params=params, headers=auth["center1"])
        assert r.status_code == 422 and SECRET_NAME not in r.text
        assert r.json()["errors"][0]["loc"] == "query.reason", r.text
    # Outside its township: 404 exactly like any other out-of-scope team.
    assert (
        api.get(
            "/api/v1/teams/T02/pushlist",
            params={"unmask": "true", "reason": reason},
            headers=auth["center1"],
        ).status_code
        == 404
    )
    # The audit log: the unmasked read and export with endpoint, reason and resident ids;
    # the masked read without them.
    entries = [
        e
        for e in audit_log(api, auth)
        if e["resource_type"] == "pushlist" and e["role"] == "chronic_center"
    ]
    unmasked = [e for e in entries if e["detail"].get("unmasked")]
    assert [e["action"] for e in unmasked] == ["export", "read"]  # newest first
    for e in unmasked:
        assert e["endpoint"] == "GET /api/v1/teams/{team_id}/pushlist"
        assert e["resource_id"] == "T01" and e["detail"]["reason"] == reason
        assert e["detail"]["masked"] is False
        assert e["detail"]["resident_ids"] == sorted(x["resident_id"] for x in body["entries"])
        assert SECRET_NAME not in json.dumps(e, ensure_ascii=False)
    masked = [e for e in entries if not e["detail"].get("unmasked")]
    assert len(masked) == 1 and masked[0]["detail"]["masked"] is True
    assert "reason" not in masked[0]["detail"]


def test_doctor_unmask_is_a_no_op(api: TestClient, auth: Headers) -> None:
    r = api.get(
        "/api/v1/teams/T01/pushlist", params={"unmask": "true"}, headers=auth["doctor1"]
    ).json()
    assert r["masked"] is False
    read = audit_log(api, auth, action="read")[0]
    assert "unmasked" not in read["detail"] and "reason" not in read["detail"]


def test_list_reads_and_csv_exports_are_audited_with_resident_ids(
    api: TestClient, auth: Headers
) -> None:
    api.get("/api/v1/teams/T01/pushlist", headers=auth["doctor1"])
    r = api.get("/api/v1/teams/T01/pushlist", params={"format": "csv"}, headers=auth["center1"])
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert [row["resident_id"] for row in rows] == ["R02", "R03", "R01"]
    assert rows[2]["name"] == "张**" and rows[0]["sex"] == "2"
    api.get("/api/v1/residents/R01", headers=auth["doctor1"])
    reads = audit_log(api, auth, action="read")
    resident, pushlist = reads[0], reads[1]
    assert (resident["resource_type"], resident["resource_id"]) == ("resident", "R01")
    assert pushlist["endpoint"] == "GET /api/v1/teams/{team_id}/pushlist"
    assert pushlist["detail"]["resident_ids"] == ["R01", "R02", "R03"]
    export = audit_log(api, auth, action="export")[0]
    assert (export["username"], export["resource_id"]) == ("center1", "T01")
    assert export["detail"]["masked"] is True and export["detail"]["entries"] == 3
    text = json.dumps(audit_log(api, auth), ensure_ascii=False)
    assert SECRET_NAME not in text and SECRET_PHONE not in text


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    keys: ClassVar[list[str]] = []
    seen: ClassVar[threading.Event] = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append(json.loads(body))
        Hook.keys.append(self.headers["Idempotency-Key"])
        self.send_response(204)
        self.end_headers()
        Hook.seen.set()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    """A stub receiver on 127.0.0.1; yields its URL."""
    Hook.received, Hook.keys, Hook.seen = [], [], threading.Event()
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_emergency_reading_is_a_red_task_at_once_and_calls_the_webhook(
    api: TestClient, auth: Headers, webhook: str
) -> None:
    api.app.state.emergency_webhook_url = webhook  # type: ignore[attr-defined]
    assert "R01/htn" in tasks(api, auth["doctor1"])  # routine, green
    # Posted by a terminal (admin service account), local time without offset.
    shanghai = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(
        microsecond=0, tzinfo=None
    )
    r = api.post(
        "/api/v1/measurements",
        json={
            "measurement_id": "DEV-1",
            "resident_id": "R01",
            "measured_at": shanghai.isoformat(),
            "sbp": 186,
            "dbp": 112,
            "device_id": "DEV",
        },
        headers=auth["admin1"],
    )
    assert r.status_code == 201, r.text
    item = r.json()["items"][0]
    assert item["emergency"] is True and item["emergency_diseases"] == ["htn"]
    assert item["measured_date"] == TODAY.isoformat() and item["status"] == "created"
    assert item["measured_at"].endswith("Z") or item["measured_at"].endswith("+00:00")
    red = tasks(api, auth["doctor1"])["R01/htn"]
    assert (red["task_code"], red["colour"]) == ("emergency_reading", "red")
    assert next(iter(tasks(api, auth["doctor1"]))) == "R01/htn"  # red comes first
    assert Hook.seen.wait(5), "the webhook was not called"
    payload = Hook.received[0]
    assert payload["event"] == "emergency_reading" and payload["resident_id"] == "R01"
    assert payload["teams"] == ["T01"] and payload["sbp"] == 186
    assert SECRET_NAME not in json.dumps(payload, ensure_ascii=False)
    assert "phone" not in payload and "name" not in payload
    # The same reading again: unchanged, no second webhook call.
    again = api.post(
        "/api/v1/measurements",
        json=[
            {
                "measurement_id": "DEV-1",
                "resident_id": "R01",
                "measured_at": shanghai.isoformat(),
                "sbp": 186,
                "dbp": 112,
                "device_id": "DEV",
            }
        ],
        headers=auth["admin1"],
    )
    assert again.status_code == 200 and again.json()["items"][0]["status"] == "unchanged"
    # Through the outbox (service.outbox): delivered once, by its key (the outcome is
    # written just after the receiver answered).
    deadline = time.monotonic() + 5
    while True:
        outbox = api.get("/api/v1/admin/outbox?state=delivered", headers=auth["admin1"]).json()
        if outbox["items"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [(m["idempotency_key"], m["state"]) for m in outbox["items"]] == [
        ("emergency_reading:DEV-1", "delivered")
    ]
    assert Hook.keys == ["emergency_reading:DEV-1"]


def test_webhook_failure_never_fails_the_request(api: TestClient, auth: Headers) -> None:
    api.app.state.emergency_webhook_url = "http://127.0.0.1:9/closed"  # type: ignore[attr-defined]
    r = api.post(
        "/api/v1/measurements",
        json={
            "resident_id": "R02",
            "measured_at": dt.datetime.now(dt.UTC).isoformat(),
            "glucose": 2.8,
            "glucose_type": "random",
        },
        headers=auth["doctor1"],
    )
    assert r.status_code == 201 and r.json()["emergencies"] == 1
    mid = r.json()["items"][0]["measurement_id"]
    assert mid.startswith("MS-")
    # The failed call stays in the outbox, to be retried after its back-off. The attempt
    # is counted when it is claimed, before the POST; its error is written after it, so
    # wait for the error (CI once read the row in between).
    deadline = time.monotonic() + 5
    while True:
        (message,) = api.get("/api/v1/admin/outbox", headers=auth["admin1"]).json()["items"]
        if message["last_error"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert (message["idempotency_key"], message["state"]) == (f"emergency_reading:{mid}", "pending")
    assert message["attempts"] == 1 and message["last_error"] == "ConnectError"


def test_recorded_visit_closes_the_open_task(api: TestClient, auth: Headers) -> None:
    assert tasks(api, auth["doctor1"])["R02/t2dm"]["task_code"] == "uncontrolled_recheck"
    body = r02_controlled_visit("FU-T-1")
    r = api.post("/api/v1/followups", json=body, headers=auth["doctor1"])
    assert r.status_code == 201, r.text
    stored = r.json()
    assert (stored["classification"], stored["classification_source"]) == (
        "satisfactory",
        "computed",
    )
    assert "R02/t2dm" not in tasks(api, auth["doctor1"])
    # Idempotent on followup_id; a different body with the same id is a conflict.
    again = api.post("/api/v1/followups", json=body, headers=auth["doctor1"])
    assert again.status_code == 200 and again.json() == stored
    clash = api.post(
        "/api/v1/followups", json={**body, "fasting_glucose": 9.9}, headers=auth["doctor1"]
    )
    assert clash.status_code == 409
    writes = audit_log(api, auth, action="write")
    assert [(w["resource_type"], w["resource_id"]) for w in writes] == [("followup", "FU-T-1")]


def test_dismissal_removes_the_task_and_is_idempotent(api: TestClient, auth: Headers) -> None:
    task = tasks(api, auth["doctor1"])["R03/htn"]
    body = {
        "resident_id": "R03",
        "disease": "htn",
        "task_code": task["task_code"],
        "due_date": task["due_date"],
        "reason": "已住院",
    }
    r = api.post("/api/v1/tasks/dismiss", json=body, headers=auth["doctor1"])
    assert r.status_code == 201 and r.json()["team_id"] == "T01"
    assert "R03/htn" not in tasks(api, auth["doctor1"])
    again = api.post("/api/v1/tasks/dismiss", json=body, headers=auth["doctor1"])
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    assert audit_log(api, auth, action="write")[0]["resource_type"] == "task_dismissal"


def test_resident_record(api: TestClient, auth: Headers) -> None:
    body = api.get("/api/v1/residents/R02", headers=auth["doctor1"]).json()
    assert body["name"] == "李四" and body["id_masked"].startswith("3707*")
    assert [r["disease"] for r in body["registry"]] == ["t2dm"]
    assert [f["followup_id"] for f in body["followups"]] == ["V03", "V02"]
    assert body["age"] == age_on_scalar(dt.date(1955, 5, 6), TODAY)
    r01 = api.get("/api/v1/residents/R01", headers=auth["doctor1"]).json()
    assert r01["measurements"][0]["measurement_id"] == "M01"
    assert r01["measurements"][0]["measured_at"].endswith("Z")
    # R06 lives in T01's grid without a registry row or signing: still T01's resident.
    assert api.get("/api/v1/residents/R06", headers=auth["doctor1"]).status_code == 200
    assert api.get("/api/v1/residents/R06", headers=auth["doctor2"]).status_code == 404


def test_route_and_runs(api: TestClient, auth: Headers, engine: Any) -> None:
    r = api.get("/api/v1/teams/T01/route", params={"mode": "walk"}, headers=auth["doctor1"]).json()
    assert r["mode"] == "walk" and {s["resident_id"] for s in r["stops"]} == {"R01", "R02", "R03"}
    assert len(r["legs"]) == 4 and r["total_seconds"] > 0
    kinds = [f["properties"]["kind"] for f in r["geometry"]["features"]]
    assert kinds[:2] == ["route", "base"] and kinds.count("stop") == 3
    assert audit_log(api, auth, action="read")[0]["resource_type"] == "route"
    from sqlalchemy.orm import Session

    now = dt.datetime.now(dt.UTC)
    with Session(engine) as session:
        session.add(
            PushListRun(
                list_date=TODAY,
                generated_at=now,
                teams=2,
                entries=4,
                seconds=1.5,
                risk_source="fallback",
            )
        )
        session.add(
            PushListEntry(
                list_date=TODAY,
                team_id="T01",
                resident_id="R01",
                disease="htn",
                rank=1,
                task_code="routine_followup",
                colour="green",
                due_date=days(30),
                days_overdue=30,
                risk_source="fallback",
                generated_at=now,
            )
        )
        session.commit()
    runs = api.get("/api/v1/teams/T01/pushlist/runs", headers=auth["center1"]).json()
    assert runs["items"][0]["list_date"] == TODAY.isoformat()
    assert runs["items"][0]["team_entries"] == 1 and runs["items"][0]["entries"] == 4
    bad = api.get(
        "/api/v1/teams/T01/pushlist", params={"date": "0001-01-01"}, headers=auth["doctor1"]
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == "query.date"


def test_a_request_holds_one_pooled_connection_at_a_time(
    migrated_store_url: str, api_settings: Any, county: Any
) -> None:
    # With a pool of one connection, any request that takes a second connection while
    # holding one would wait for itself until the pool timeout (a deadlock under load).
    from conftest import quiet_app
    from svc_helpers import token_headers

    from store.engine import make_engine

    tight = make_engine(migrated_store_url, pool_size=1, max_overflow=0, pool_timeout=3)
    try:
        auth = token_headers(tight, api_settings)
        with TestClient(quiet_app(api_settings, tight), raise_server_exceptions=False) as c:
            calls = [
                ("doctor1", "GET", "/api/v1/teams/T01/pushlist", None),
                ("doctor1", "GET", "/api/v1/teams/T01/route", None),
                ("doctor1", "GET", "/api/v1/residents/R01", None),
                ("center1", "GET", "/api/v1/indicators?level=grid", None),
                ("center1", "GET", "/api/v1/indicators/grid/G01", None),
                ("center1", "GET", "/api/v1/hotspots?indicator=htn_prevalence&level=grid", None),
                ("center1", "GET", "/api/v1/export/indicators.csv?level=village", None),
                ("center1", "GET", "/api/v1/export/indicators.geojson?level=grid", None),
                ("bureau1", "GET", "/api/v1/meta", None),
                ("bureau1", "GET", "/api/v1/search?q=村", None),
                ("bureau1", "GET", "/tiles/town_indicators/10/849/399.mvt", None),
                ("admin1", "GET", "/admin/audit", None),
                (
                    "doctor1",
                    "POST",
                    "/api/v1/measurements",
                    {
                        "resident_id": "R01",
                        "measured_at": dt.datetime.now(dt.UTC).isoformat(),
                        "sbp": 190,
                        "dbp": 100,
                    },
                ),
            ]
            for user, method, path, body in calls:
                r = c.request(method, path, headers=auth[user], json=body)
                assert r.status_code < 400, (path, r.status_code, r.text[:300])
    finally:
        tight.dispose()
