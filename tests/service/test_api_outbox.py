"""The outbox's admin view: states, attempts and errors listed; a failed call re-queued."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session
from svc_webhook import Receiver

from store.outbox import OutboxMessage, enqueue

Headers = dict[str, dict[str, str]]
T0 = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)


def _seed(engine: Engine, target: str) -> dict[str, int]:
    """Three messages: E-1 delivered, E-2 failed (20 attempts), E-3 pending for tomorrow.

    Written in one transaction: the app's delivery worker is running, and must never see
    one of them due."""
    m = OutboxMessage
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with Session(engine) as session:
        for i in (1, 2, 3):
            enqueue(
                session,
                key=f"emergency_reading:E-{i}",
                kind="emergency_reading",
                target=target,
                payload={"measurement_id": f"E-{i}", "resident_id": "R01"},
                now=T0 + dt.timedelta(seconds=i),
            )
        session.execute(update(m).values(next_attempt_at=tomorrow))
        session.execute(
            update(m)
            .where(m.idempotency_key == "emergency_reading:E-1")
            .values(
                state="delivered",
                attempts=1,
                last_status=204,
                delivered_at=T0 + dt.timedelta(seconds=2),
            )
        )
        session.execute(
            update(m)
            .where(m.idempotency_key == "emergency_reading:E-2")
            .values(state="failed", attempts=20, last_error="HTTP 503", last_status=503)
        )
        session.commit()
        return {k.rsplit(":", 1)[1]: i for k, i in session.query(m.idempotency_key, m.id)}


def test_admin_lists_the_outbox_by_state(api: TestClient, auth: Headers, engine: Engine) -> None:
    ids = _seed(engine, "http://127.0.0.1:9/hook")
    page = api.get("/api/v1/admin/outbox", headers=auth["admin1"]).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 100, 0)
    assert [m["idempotency_key"] for m in page["items"]] == [
        "emergency_reading:E-3",
        "emergency_reading:E-2",
        "emergency_reading:E-1",
    ]
    assert all("payload" not in m and "resident_id" not in str(m) for m in page["items"])
    failed = api.get("/api/v1/admin/outbox?state=failed", headers=auth["admin1"]).json()
    assert failed["total"] == 1
    (row,) = failed["items"]
    assert (row["id"], row["state"], row["attempts"], row["last_error"], row["last_status"]) == (
        ids["E-2"],
        "failed",
        20,
        "HTTP 503",
        503,
    )
    delivered = api.get("/api/v1/admin/outbox?state=delivered", headers=auth["admin1"]).json()
    assert [m["id"] for m in delivered["items"]] == [ids["E-1"]]
    assert dt.datetime.fromisoformat(delivered["items"][0]["delivered_at"]) == T0 + dt.timedelta(
        seconds=2
    )
    second = api.get("/api/v1/admin/outbox?limit=1&offset=1", headers=auth["admin1"]).json()
    assert second["total"] == 3 and [m["id"] for m in second["items"]] == [ids["E-2"]]
    bad = api.get("/api/v1/admin/outbox?state=lost", headers=auth["admin1"])
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_admin_requeues_a_failed_call_and_it_is_delivered(
    api: TestClient, auth: Headers, engine: Engine
) -> None:
    receiver = Receiver().start()
    try:
        ids = _seed(engine, receiver.url)
        r = api.post(f"/api/v1/admin/outbox/{ids['E-2']}/retry", headers=auth["admin1"])
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["attempts"]) == ("pending", 0)
        # The retry wakes this process's delivery worker.
        assert receiver.wait_for(1, 5)
        deadline = time.monotonic() + 5
        while True:
            rows = api.get("/api/v1/admin/outbox?state=delivered", headers=auth["admin1"])
            if rows.json()["total"] == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert sorted(m["id"] for m in rows.json()["items"]) == sorted([ids["E-1"], ids["E-2"]])
        assert dict(receiver.counts) == {"emergency_reading:E-2": 1}  # E-3 is not due yet
    finally:
        receiver.stop()
    again = api.post(f"/api/v1/admin/outbox/{ids['E-2']}/retry", headers=auth["admin1"])
    assert again.status_code == 409 and "delivered already" in again.json()["detail"]
    unknown = api.post("/api/v1/admin/outbox/999999999/retry", headers=auth["admin1"])
    assert unknown.status_code == 404 and "999999999" in unknown.json()["detail"]
    records: list[dict[str, Any]] = api.get(
        "/admin/audit", params={"action": "admin"}, headers=auth["admin1"]
    ).json()["items"]
    assert [
        (a["resource_type"], a["resource_id"]) for a in records if a["resource_type"] == "outbox"
    ] == [("outbox", str(ids["E-2"]))]
