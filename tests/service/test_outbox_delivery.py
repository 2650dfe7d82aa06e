"""The emergency webhook through the outbox: once per reading, retried with back-off.

A stub receiver (``svc_webhook.Receiver``) counts the POSTs by ``Idempotency-Key``. The
back-off is made short here; for the receiver that is down (base 0.5 s, cap 2 s) the
schedule is watched in the store: nominal waits 0.5, 1, 2, 2 s (±20 % jitter) after
attempts 1, 2, 3, 4.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from svc_helpers import make_settings, token_headers
from svc_webhook import Receiver

from service.app import create_app
from service.outbox import OutboxWorker
from service.settings import OutboxSettings
from store.engine import make_engine, migrate
from store.outbox import OutboxMessage, enqueue

#: Fast delivery settings: poll 0.1 s; back-off 0.25 s doubling, capped at 1 s.
FAST = {
    "poll_seconds": 0.1,
    "timeout_seconds": 1.0,
    "backoff_base_seconds": 0.25,
    "backoff_cap_seconds": 1.0,
    "lease_seconds": 5.0,
}
#: What a loaded 2-core machine may add to a scheduled attempt (the poll, the claim).
SLACK = 1.0

#: When the readings were taken: fixed, so that posting one again is the same reading.
AT = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)

Serve = Callable[..., tuple[TestClient, dict[str, dict[str, str]]]]


def reading(mid: str, sbp: float = 186, dbp: float = 112, rid: str = "R01") -> dict[str, Any]:
    return {
        "measurement_id": mid,
        "resident_id": rid,
        "measured_at": AT.isoformat(),
        "sbp": sbp,
        "dbp": dbp,
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def serve(migrated_store_url: str, engine: Engine, county: Any, tmp_path: Path) -> Iterator[Serve]:
    """Start an app over the county with the webhook at ``url``; its client and headers."""
    clients: list[TestClient] = []

    def start(url: str | None, **outbox: Any) -> tuple[TestClient, dict[str, dict[str, str]]]:
        settings = make_settings(
            migrated_store_url,
            data_dir=tmp_path / "data",
            service={"rate_limit_per_minute": 0, "emergency_webhook_url": url},
            outbox={**FAST, **outbox},
        )
        app = create_app(settings, engine)
        app.state.scheduler_enabled = False
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client, token_headers(engine, settings)

    yield start
    for c in clients:
        c.__exit__(None, None, None)


def messages(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        session.expunge_all()
        return rows


def wait_until(check: Callable[[], bool], timeout: float, every: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


def test_an_emergency_reading_is_delivered_once_within_a_second(
    serve: Serve, receiver: Receiver, engine: Engine
) -> None:
    receiver.start()
    api, auth = serve(receiver.url)
    r = api.post("/api/v1/measurements", json=reading("HOOK-1"), headers=auth["admin1"])
    answered = time.monotonic()  # the reading was committed before the answer
    assert r.status_code == 201 and r.json()["emergencies"] == 1, r.text
    assert receiver.wait_for(1, 5), "the webhook was not called"
    # Woken by the commit, not by the next poll (a poll alone would do it too, in 0.1 s
    # here; the default is 0.5 s): well under a second.
    assert receiver.first_seen["emergency_reading:HOOK-1"] - answered < 1.0
    body = receiver.bodies["emergency_reading:HOOK-1"]
    assert (body["event"], body["measurement_id"], body["sbp"]) == (
        "emergency_reading",
        "HOOK-1",
        186,
    )
    assert receiver.content_types["emergency_reading:HOOK-1"] == "application/json"
    # The same reading again (unchanged), and a batch with a second emergency reading and
    # a routine one: one more key.
    again = api.post("/api/v1/measurements", json=reading("HOOK-1"), headers=auth["admin1"])
    assert again.status_code == 200
    batch = [reading("HOOK-2", sbp=120, dbp=115, rid="R01"), reading("HOOK-3", 128, 80)]
    r = api.post("/api/v1/measurements", json=batch, headers=auth["admin1"])
    assert r.status_code == 201 and r.json()["emergencies"] == 1, r.text
    assert receiver.wait_for(2, 5)
    assert wait_until(lambda: all(m.state == "delivered" for m in messages(engine)), 5)
    time.sleep(0.5)  # a second delivery would come within a few polls
    assert dict(receiver.counts) == {"emergency_reading:HOOK-1": 1, "emergency_reading:HOOK-2": 1}
    rows = messages(engine)
    assert [(m.idempotency_key, m.state, m.attempts, m.last_status) for m in rows] == [
        ("emergency_reading:HOOK-1", "delivered", 1, 204),
        ("emergency_reading:HOOK-2", "delivered", 1, 204),
    ]
    assert all(m.target == receiver.url and m.delivered_at is not None for m in rows)


def test_a_receiver_down_is_retried_with_backoff_then_delivered_once(
    serve: Serve, receiver: Receiver, engine: Engine
) -> None:
    # Back-off 0.5 s doubling, capped at 2 s: nominal waits 0.5, 1, 2, 2 s (±20 %).
    api, auth = serve(receiver.url, backoff_base_seconds=0.5, backoff_cap_seconds=2.0)
    r = api.post("/api/v1/measurements", json=reading("DOWN-1"), headers=auth["admin1"])
    assert r.status_code == 201 and r.json()["emergencies"] == 1
    # Watch the failed attempts: after attempt n the row is due again at next_attempt_at.
    due: dict[int, dt.datetime] = {}

    def seen_four() -> bool:
        (m,) = messages(engine)
        if m.leased_until is None and m.attempts:
            due.setdefault(m.attempts, m.next_attempt_at)
            assert m.state == "pending" and m.last_error == "ConnectError"
        return {1, 2, 3, 4} <= due.keys()

    assert wait_until(seen_four, 20), due
    assert not receiver.counts
    created = messages(engine)[0].created_at
    gaps = [(due[1] - created).total_seconds()] + [
        (due[n + 1] - due[n]).total_seconds() for n in (1, 2, 3)
    ]
    # Each gap is the wait after a failure (nominal 0.5, 1, 2, 2 s; ±20 %, never above the
    # 2 s cap) plus the time to reach the attempt once due (a poll, the claim, the refusal).
    # Uncapped, the last would be 4 s ± 20 %: at least 3.2 s.
    assert 0.4 <= gaps[0] <= 0.6 + SLACK, gaps
    assert 0.8 <= gaps[1] <= 1.2 + SLACK, gaps
    assert 1.6 <= gaps[2] <= 2.0 + SLACK, gaps
    assert 1.6 <= gaps[3] <= 2.0 + SLACK, gaps
    receiver.start()
    assert receiver.wait_for(1, 2.0 + 2 + SLACK), "not delivered once the receiver was up"
    assert wait_until(lambda: messages(engine)[0].state == "delivered", 5)
    time.sleep(0.5)
    assert dict(receiver.counts) == {"emergency_reading:DOWN-1": 1}
    (m,) = messages(engine)
    assert m.attempts >= 5 and m.last_error is None and m.last_status == 204


def test_a_routine_reading_sends_nothing(serve: Serve, receiver: Receiver, engine: Engine) -> None:
    receiver.start()
    api, auth = serve(receiver.url)
    r = api.post("/api/v1/measurements", json=reading("CALM-1", 128, 80), headers=auth["admin1"])
    assert r.status_code == 201 and r.json()["emergencies"] == 0
    time.sleep(0.6)
    assert messages(engine) == [] and not receiver.counts


def test_without_a_webhook_url_nothing_is_queued(serve: Serve, engine: Engine) -> None:
    api, auth = serve(None)
    r = api.post("/api/v1/measurements", json=reading("NOURL-1"), headers=auth["admin1"])
    assert r.status_code == 201 and r.json()["emergencies"] == 1
    assert messages(engine) == []


def test_the_worker_outlives_a_store_it_cannot_read(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A store without the outbox (as good as down): logged once, then delivery resumes."""
    receiver.start()
    engine = make_engine(f"sqlite:///{tmp_path / 'late.db'}")
    worker = OutboxWorker(engine, OutboxSettings(poll_seconds=0.05, timeout_seconds=1.0))
    caplog.set_level(logging.WARNING, logger="healthmap.service")
    worker.start()
    try:
        time.sleep(0.4)  # ~8 failed polls
        down = [r for r in caplog.records if "cannot reach the store" in r.getMessage()]
        assert len(down) == 1
        migrate(engine)
        with Session(engine) as session:
            enqueue(
                session,
                key="emergency_reading:LATE-1",
                kind="emergency_reading",
                target=receiver.url,
                payload={"measurement_id": "LATE-1"},
                now=dt.datetime.now(dt.UTC),
            )
            session.commit()
        assert receiver.wait_for(1, 5), "the worker did not resume"
        assert any("answers again" in r.getMessage() for r in caplog.records)
    finally:
        worker.stop()
        engine.dispose()
    assert dict(receiver.counts) == {"emergency_reading:LATE-1": 1}
