"""Smart terminals over the API: registry, signed requests, per-reading outcomes, quarantine.

The small county of ``svc_county`` (R01–R03 patients of T01; R01 hypertensive). A terminal
is registered by admin1, bound to facility F01, and posts with
:func:`service.terminal_auth.signed_headers` (what a device does).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from svc_county import TODAY
from svc_helpers import assert_problem

from service.settings import Settings
from service.terminal_auth import HEADER_NONCE, HEADER_TIMESTAMP, signed_headers
from service.terminal_intake import id_card_hash
from store.accounts import AuditLog
from store.models import Measurement, Resident
from store.terminals import TerminalNonce, TerminalQuarantine

Headers = dict[str, dict[str, str]]
PATH = "/api/v1/terminal/readings"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
#: A valid GB 11643 number (checksum X), only ever sent, never stored.
ID_CARD = "11010519491231002X"


def now_local(minutes: float = 0) -> str:
    t = dt.datetime.now(SHANGHAI) + dt.timedelta(minutes=minutes)
    return t.replace(microsecond=0).isoformat()


#: The time of the readings a test posts twice (so they are the same reading).
BASE = now_local(-5)


def reading(mid: str, rid: str = "R01", **kw: Any) -> dict[str, Any]:
    values = kw.pop("values", {"sbp": 132, "dbp": 84, "heart_rate": 71})
    return {"measurement_id": mid, "measured_at": BASE, "resident_id": rid, **kw} | {
        "values": values
    }


class Device:
    """A terminal as the device sees itself: id, key, and a way to post."""

    def __init__(self, api: TestClient, terminal_id: str, key: str) -> None:
        self.api, self.terminal_id, self.key = api, terminal_id, key

    def headers(self, body: bytes, **kw: Any) -> dict[str, str]:
        now = kw.pop("now", time.time())
        h = signed_headers(
            self.terminal_id, self.key, "POST", PATH, body, now, kw.pop("nonce", None)
        )
        return {**h, "Content-Type": "application/json", **kw.pop("extra", {})}

    def post(self, payload: Any, **kw: Any) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.api.post(PATH, content=body, headers=self.headers(body, **kw))


def register(
    api: TestClient, auth: Headers, tid: str = "TM-0001", facility: str | None = "F01"
) -> Device:
    r = api.post(
        "/api/v1/admin/terminals",
        json={"terminal_id": tid, "facility_id": facility, "label": "圣城卫生院 1号机"},
        headers=auth["admin1"],
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "active" and body["key_generation"] == 1 and len(body["key"]) == 43
    return Device(api, tid, body["key"])


@pytest.fixture
def device(api: TestClient, auth: Headers) -> Device:
    return register(api, auth)


# ----------------------------------------------------------------------------------------
# Registry and keys
# ----------------------------------------------------------------------------------------
def test_register_post_stored(
    device: Device, api: TestClient, auth: Headers, engine: Engine
) -> None:
    r = device.post(reading("TM1-1"))
    assert r.status_code == 201, r.text
    out = r.json()
    assert (out["created"], out["unchanged"], out["quarantined"]) == (1, 0, 0)
    item = out["items"][0]
    assert item["status"] == "created" and item["resident_id"] == "R01" and item["index"] == 0
    with Session(engine) as s:
        m = s.get(Measurement, "TM1-1")
        assert m is not None and (m.device_id, m.facility_id, m.sbp) == ("TM-0001", "F01", 132)
        assert m.measured_date == TODAY or m.measured_date == TODAY - dt.timedelta(days=1)
        seen = s.scalar(select(AuditLog).where(AuditLog.username == "terminal:TM-0001"))
        assert seen is not None and seen.action == "write" and seen.role == "terminal"
        assert (seen.detail or {})["measurement_ids"] == ["TM1-1"]
    listed = api.get("/api/v1/admin/terminals", headers=auth["admin1"]).json()
    assert listed["total"] == 1 and listed["items"][0]["last_seen_at"] is not None
    assert "key" not in listed["items"][0]
    # The same reading again (a device retrying): unchanged, 200.
    again = device.post(reading("TM1-1"))
    assert again.status_code == 200 and again.json()["items"][0]["status"] == "unchanged"


def test_register_conflict_unknown_facility_and_bind(
    api: TestClient, auth: Headers, device: Device
) -> None:
    dup = api.post(
        "/api/v1/admin/terminals", json={"terminal_id": "TM-0001"}, headers=auth["admin1"]
    )
    assert_problem(dup, 409, "conflict")
    bad = api.post(
        "/api/v1/admin/terminals",
        json={"terminal_id": "TM-0002", "facility_id": "F99"},
        headers=auth["admin1"],
    )
    assert_problem(bad, 422, "invalid")
    badid = api.post(
        "/api/v1/admin/terminals", json={"terminal_id": "TM 2"}, headers=auth["admin1"]
    )
    assert_problem(badid, 422, "invalid")
    r = api.patch(
        "/api/v1/admin/terminals/TM-0001", json={"facility_id": "F02"}, headers=auth["admin1"]
    )
    assert r.status_code == 200 and r.json()["facility_id"] == "F02"
    assert r.json()["label"] == "圣城卫生院 1号机"  # not sent: kept
    assert device.post(reading("TM1-F2")).json()["items"][0]["status"] == "created"
    got = api.get("/api/v1/admin/terminals/TM-0001", headers=auth["admin1"]).json()
    assert got["facility_id"] == "F02"
    assert_problem(api.get("/api/v1/admin/terminals/NOPE", headers=auth["admin1"]), 404)


def test_rotate_refuses_the_old_key_at_once(api: TestClient, auth: Headers, device: Device) -> None:
    r = api.post("/api/v1/admin/terminals/TM-0001/rotate", headers=auth["admin1"])
    assert r.status_code == 200 and r.json()["key_generation"] == 2
    body = assert_problem(device.post(reading("TM1-R1")), 401, "unauthorized")
    assert body["reason"] == "bad_signature"
    device.key = r.json()["key"]
    assert device.post(reading("TM1-R1")).status_code == 201


def test_revoked_terminal_is_refused(api: TestClient, auth: Headers, device: Device) -> None:
    r = api.post("/api/v1/admin/terminals/TM-0001/revoke", headers=auth["admin1"])
    assert r.status_code == 200 and r.json()["status"] == "revoked" and r.json()["revoked_at"]
    res = device.post(reading("TM1-V1"))
    assert assert_problem(res, 401, "unauthorized")["reason"] == "revoked"
    assert "HealthmapTerminal" in res.headers["www-authenticate"]
    assert_problem(api.post("/api/v1/admin/terminals/TM-0001/rotate", headers=auth["admin1"]), 409)


def test_forged_replayed_stale_unknown_are_401(
    device: Device, api: TestClient, engine: Engine
) -> None:
    body = json.dumps(reading("TM1-X1")).encode()
    # Forged: signed with another key; or the body changed after signing.
    forged = Device(api, "TM-0001", "A" * 43)
    assert assert_problem(forged.post(reading("TM1-X1")), 401)["reason"] == "bad_signature"
    h = device.headers(body)
    tampered = body.replace(b"132", b"133")
    r = api.post(PATH, content=tampered, headers=h)
    assert assert_problem(r, 401)["reason"] == "bad_signature"
    # Replayed: the same signed request twice.
    h = device.headers(body)
    assert api.post(PATH, content=body, headers=h).status_code == 201
    r = api.post(PATH, content=body, headers=h)
    assert assert_problem(r, 401)["reason"] == "replayed_nonce"
    # Clock skew beyond the window (300 s), both ways; inside it is fine.
    for skew in (-301, 400):
        r = api.post(PATH, content=body, headers=device.headers(body, now=time.time() + skew))
        assert assert_problem(r, 401)["reason"] == "stale_timestamp"
    r = api.post(PATH, content=body, headers=device.headers(body, now=time.time() - 200))
    assert r.status_code == 200
    # Unknown device.
    stranger = Device(api, "TM-9999", device.key)
    assert assert_problem(stranger.post(reading("TM1-X2")), 401)["reason"] == "unknown_terminal"
    # Missing headers; a user's token is no terminal credential here.
    assert (
        assert_problem(api.post(PATH, json=reading("TM1-X3")), 401)["reason"] == "missing_headers"
    )
    with Session(engine) as s:
        assert (
            s.scalar(
                select(Measurement).where(Measurement.measurement_id.in_(["TM1-X2", "TM1-X3"]))
            )
            is None
        )
        assert s.scalar(select(TerminalNonce.nonce).where(TerminalNonce.nonce == h[HEADER_NONCE]))


def test_a_user_token_is_refused_and_terminal_headers_elsewhere_too(
    device: Device, api: TestClient, auth: Headers
) -> None:
    r = api.post(PATH, json=reading("TM1-U1"), headers=auth["admin1"])
    assert assert_problem(r, 401)["reason"] == "missing_headers"
    body = json.dumps(reading("TM1-U2", "R01")).encode()
    h = device.headers(body)
    # The terminal's signed headers on the doctors' endpoint, with or without a token.
    for extra in ({}, auth["admin1"]):
        r = api.post("/api/v1/measurements", content=body, headers={**h, **extra})
        assert assert_problem(r, 401)["reason"] == "terminal_credentials_elsewhere"
    r = api.get("/api/v1/teams/T01/pushlist", headers={**h, **auth["doctor1"]})
    assert_problem(r, 401)


def test_nonces_older_than_the_window_are_pruned(
    device: Device, api: TestClient, engine: Engine
) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with Session(engine) as s:
        s.add(TerminalNonce(terminal_id="TM-0001", nonce="ancient-nonce", seen_at=old))
        s.commit()
    api.app.state.terminal_nonces_pruned = 0.0  # type: ignore[attr-defined]
    assert device.post(reading("TM1-P1")).status_code == 201
    with Session(engine) as s:
        nonces = s.scalars(select(TerminalNonce.nonce)).all()
    assert "ancient-nonce" not in nonces and len(nonces) == 1


# ----------------------------------------------------------------------------------------
# Per-reading outcomes
# ----------------------------------------------------------------------------------------
def test_a_bad_reading_among_good_ones_is_quarantined_the_good_kept(
    device: Device, api: TestClient, auth: Headers, engine: Engine
) -> None:
    batch = {
        "readings": [
            reading("B-1"),
            reading("B-2", values={"sbp": 320, "dbp": 80}),  # out of range
            "not a reading",
            reading("B-4", "R99"),  # unknown resident
            reading("B-5", values={"sbp": 120, "dbp": 130}),  # dbp above sbp
            {"measurement_id": "B-6", "measured_at": now_local(), "values": {"sbp": 120}},
            reading("B-7", measured_at=now_local(60)),  # an hour ahead of the clock
            reading("B-8", measured_at=now_local(-60 * 24 * 45)),  # 45 days old
            reading("B-9", "R02", values={"glucose": 7.1, "glucose_type": "fasting"}),
            reading("B-10", measured_at=now_local(-60 * 24 * 3)),  # offline 3 days: fine
            reading("B-1", values={"sbp": 150, "dbp": 90}),  # same id, other content
            reading("B-1"),  # same id, same content
        ]
    }
    r = device.post(batch)
    assert r.status_code == 201, r.text
    out = r.json()
    got = [(i["status"], i["reason"], i["field"]) for i in out["items"]]
    assert got == [
        ("created", None, None),
        ("quarantined", "out_of_range", "sbp"),
        ("quarantined", "malformed", None),
        ("quarantined", "unknown_resident", "resident_id"),
        ("quarantined", "out_of_range", "dbp"),
        ("quarantined", "malformed", None),  # no resident named
        ("quarantined", "future_timestamp", "measured_at"),
        ("quarantined", "too_old", "measured_at"),
        ("created", None, None),
        ("created", None, None),
        ("quarantined", "duplicate_conflict", "measurement_id"),
        ("unchanged", None, None),
    ]
    assert (out["created"], out["unchanged"], out["quarantined"]) == (3, 1, 8)
    assert all(i["quarantine_id"] for i in out["items"] if i["status"] == "quarantined")
    with Session(engine) as s:
        stored = set(
            s.scalars(
                select(Measurement.measurement_id).where(Measurement.measurement_id.like("B-%"))
            )
        )
        assert stored == {"B-1", "B-9", "B-10"}
        assert s.get(Measurement, "B-1").sbp == 132  # type: ignore[union-attr]
    page = api.get("/api/v1/admin/terminal-quarantine", headers=auth["admin1"]).json()
    assert page["total"] == 8
    by_reason = {q["reason"]: q for q in page["items"]}
    assert by_reason["out_of_range"]["raw"]["values"]["sbp"] in (320, 120)
    assert by_reason["malformed"]["terminal_id"] == "TM-0001"
    only = api.get(
        "/api/v1/admin/terminal-quarantine?reason=too_old&terminal_id=TM-0001",
        headers=auth["admin1"],
    ).json()
    assert only["total"] == 1 and only["items"][0]["measurement_id"] == "B-8"
    bad = api.get("/api/v1/admin/terminal-quarantine?reason=nope", headers=auth["admin1"])
    assert_problem(bad, 422, "invalid")


def test_a_body_that_is_no_reading_is_quarantined_whole(
    device: Device, api: TestClient, auth: Headers
) -> None:
    r = device.post(b'{"readings": [ {"measurement_id": "C-1", 11010519491231002X')
    body = assert_problem(r, 422, "invalid")
    assert body["quarantine_id"]
    q = api.get("/api/v1/admin/terminal-quarantine", headers=auth["admin1"]).json()["items"][0]
    assert q["reason"] == "malformed" and "C-1" in q["raw"]["body"]
    assert ID_CARD not in json.dumps(q) and "1101**********002X" in q["raw"]["body"]
    too_many = {"readings": [reading(f"D-{i}") for i in range(501)]}
    assert_problem(device.post(too_many), 422, "invalid")
    assert_problem(device.post({"readings": []}), 422, "invalid")
    assert_problem(device.post([reading("D-x")]), 422, "invalid")


def test_id_card_and_card_token_name_the_resident(
    device: Device, api: TestClient, auth: Headers, engine: Engine, api_settings: Settings
) -> None:
    digest = id_card_hash(ID_CARD, api_settings.ingest.id_hash_key)
    with Session(engine) as s:
        s.execute(update(Resident).where(Resident.resident_id == "R03").values(id_hash=digest))
        s.commit()
    # Full-width digits and a lower-case x are the same number (as in ingestion).
    wide = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c.lower() for c in ID_CARD)
    token = api.get("/api/v1/residents/R02/card-token", headers=auth["doctor1"]).json()[
        "card_token"
    ]
    assert token.startswith("R02.") and len(token) == 4 + 16
    admin_token = api.get("/api/v1/residents/R02/card-token", headers=auth["admin1"]).json()
    assert admin_token["card_token"] == token
    assert_problem(api.get("/api/v1/residents/R04/card-token", headers=auth["doctor1"]), 404)
    assert_problem(api.get("/api/v1/residents/R04/card-token", headers=auth["bureau1"]), 403)

    def base(mid: str, **who: Any) -> dict[str, Any]:
        return {
            "measurement_id": mid,
            "measured_at": now_local(-1),
            "values": {"sbp": 128, "dbp": 80},
            **who,
        }

    r = device.post(
        {
            "readings": [
                base("K-1", id_card=ID_CARD),
                base("K-2", id_card=wide),
                base("K-3", card_token=token),
                base("K-4", card_token=token[:-1] + ("A" if token[-1] != "A" else "B")),
                base("K-5", id_card="110105194912310038"),
                base("K-6", id_card=ID_CARD, resident_id="R03"),
            ]
        }
    )
    items = r.json()["items"]
    assert [(i["status"], i["resident_id"] or i["reason"]) for i in items] == [
        ("created", "R03"),
        ("created", "R03"),
        ("created", "R02"),
        ("quarantined", "unknown_resident"),
        ("quarantined", "unknown_resident"),
        ("quarantined", "malformed"),
    ]
    # Two residents with the same hash: ambiguous, quarantined.
    with Session(engine) as s:
        s.execute(update(Resident).where(Resident.resident_id == "R06").values(id_hash=digest))
        s.commit()
    amb = device.post(base("K-7", id_card=ID_CARD)).json()["items"][0]
    assert (amb["status"], amb["reason"]) == ("quarantined", "ambiguous_resident")
    # The clear number is nowhere: not in the quarantine, not in the audit log.
    with Session(engine) as s:
        raws = s.scalars(select(TerminalQuarantine.raw)).all()
        audit = s.scalars(select(AuditLog.detail)).all()
    dumped = json.dumps([raws, audit], ensure_ascii=False)
    assert ID_CARD not in dumped and "110105194912310038" not in dumped and digest in dumped


def test_emergency_reading_via_terminal_is_a_red_task(
    device: Device, api: TestClient, auth: Headers
) -> None:
    r = device.post(reading("E-1", values={"sbp": 186, "dbp": 112}, measured_at=now_local(-1)))
    assert r.status_code == 201, r.text
    item = r.json()["items"][0]
    assert item["emergency"] is True and item["emergency_diseases"] == ["htn"]
    assert r.json()["emergencies"] == 1
    lst = api.get("/api/v1/teams/T01/pushlist", headers=auth["doctor1"]).json()["entries"]
    first = lst[0]
    assert (first["resident_id"], first["task_code"], first["colour"]) == (
        "R01",
        "emergency_reading",
        "red",
    )


def test_timestamps_without_offset_are_local_and_old_readings_come_in_any_order(
    device: Device, engine: Engine
) -> None:
    local = (dt.datetime.now(SHANGHAI) - dt.timedelta(days=2)).replace(microsecond=0, tzinfo=None)
    later = reading("O-2", measured_at=local.isoformat())
    earlier = reading("O-1", measured_at=(local - dt.timedelta(days=1)).isoformat())
    r = device.post({"readings": [later, earlier]})
    assert [i["status"] for i in r.json()["items"]] == ["created", "created"]
    with Session(engine) as s:
        m = s.get(Measurement, "O-2")
        assert m is not None and m.measured_date == local.date()


def test_timestamp_header_must_be_numeric(device: Device, api: TestClient) -> None:
    body = json.dumps(reading("N-1")).encode()
    h = {**device.headers(body), HEADER_TIMESTAMP: "soon"}
    assert (
        assert_problem(api.post(PATH, content=body, headers=h), 401)["reason"] == "stale_timestamp"
    )
    h = {**device.headers(body), HEADER_NONCE: "short"}
    assert (
        assert_problem(api.post(PATH, content=body, headers=h), 401)["reason"] == "missing_headers"
    )
