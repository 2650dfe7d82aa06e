"""The live channel (``service.live``, ``GET /api/v1/live``, migration 0017).

The hub is driven on an event loop of the test's own (``asyncio.run``); the route through
the TestClient with ``?once=true`` (it waits for whole responses) and, for the endless
stream itself, through a real uvicorn server in a thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import quiet_app
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from svc_county import SECRET_NAME, SECRET_PHONE, TOWN_A, TOWN_B

import service.routes.live as live_routes
from service.live import LiveHub, LiveMessage, Subscriber, publish
from service.settings import Settings
from store.engine import make_engine
from store.live_events import LiveEvent, last_live_event_id, prune_live_events
from store.models import Base

Headers = dict[str, dict[str, str]]


def _publish(engine: Engine, team: str, town: str, **payload: Any) -> None:
    with Session(engine) as session:
        publish(session, kind="emergency_reading", team_id=team, town_code=town, payload=payload)
        session.commit()


async def _next(sub: Subscriber, timeout: float = 3.0) -> LiveMessage | None:
    return await asyncio.wait_for(sub.queue.get(), timeout)


def _emergency(rid: str, mid: str, sbp: int = 188) -> dict[str, Any]:
    return {
        "measurement_id": mid,
        "resident_id": rid,
        "measured_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "sbp": sbp,
        "dbp": 100,
    }


def _events(text: str) -> list[dict[str, Any]]:
    """The events of an SSE body: their ``event``, ``id`` and parsed ``data``."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
            out.append(fields)
    return out


# ----------------------------------------------------------------------------------------
# The store
# ----------------------------------------------------------------------------------------
def test_migration_matches_the_model(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert [d for d in diffs if "live_events" in repr(d)] == []


def test_prune_deletes_old_events_and_ids_keep_growing(engine: Engine) -> None:
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as session:
        publish(session, kind="k", team_id="T01", town_code=TOWN_A, payload={}, now=now)
        publish(
            session,
            kind="k",
            team_id="T01",
            town_code=TOWN_A,
            payload={},
            now=now - dt.timedelta(hours=2),
        )
        session.commit()
    top = last_live_event_id(engine)
    assert prune_live_events(engine, now) == 1
    assert prune_live_events(engine, now + dt.timedelta(hours=2)) == 1
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(LiveEvent)) == 0
    _publish(engine, "T01", TOWN_A)
    # An empty table must not hand out an id already used (SQLite AUTOINCREMENT).
    assert last_live_event_id(engine) == top + 1


# ----------------------------------------------------------------------------------------
# The hub
# ----------------------------------------------------------------------------------------
def test_a_published_event_reaches_its_subscribers_and_only_them(engine: Engine) -> None:
    async def run() -> None:
        hub = LiveHub(engine, poll_seconds=5.0)  # the commit's wake-up, not the poll
        hub.start()
        try:
            t01 = hub.subscribe(team_id="T01")
            t02 = hub.subscribe(team_id="T02")
            centre_a = hub.subscribe(town_code=TOWN_A)
            centre_b = hub.subscribe(town_code=TOWN_B)
            began = time.monotonic()
            _publish(engine, "T01", TOWN_A, resident_id="R01", sbp=190)
            got = await _next(t01)
            assert time.monotonic() - began < 1.0
            assert got is not None and got.kind == "emergency_reading"
            assert (got.team_id, got.town_code) == ("T01", TOWN_A)
            assert got.data()["resident_id"] == "R01" and got.data()["sbp"] == 190
            centre = await _next(centre_a)
            assert centre is not None and centre.id == got.id
            # T02's doctor and town B's centre never see it; T02's own event reaches them.
            _publish(engine, "T02", TOWN_B, resident_id="R04")
            other = await _next(t02)
            assert other is not None and other.data()["resident_id"] == "R04"
            assert (await _next(centre_b)) == other
            assert t01.queue.empty() and centre_a.queue.empty()
            assert t02.queue.empty() and centre_b.queue.empty()
        finally:
            await hub.stop()
        assert t01.queue.get_nowait() is None  # stopping ends every stream

    asyncio.run(run())


def test_two_workers_both_deliver_an_event_of_either(
    engine: Engine, migrated_store_url: str
) -> None:
    other_engine = make_engine(migrated_store_url)  # another process's own engine

    async def run() -> None:
        a = LiveHub(engine, poll_seconds=0.05)
        b = LiveHub(other_engine, poll_seconds=0.05)
        a.start()
        b.start()
        try:
            on_a, on_b = a.subscribe(team_id="T01"), b.subscribe(team_id="T01")
            _publish(engine, "T01", TOWN_A, n=1)  # written by "worker A"
            _publish(other_engine, "T01", TOWN_A, n=2)  # by "worker B"
            for sub in (on_a, on_b):
                got = [await _next(sub), await _next(sub)]
                assert [m.data()["n"] for m in got if m is not None] == [1, 2]
            # One query per process, whatever the number of pages: the hub's own count.
            assert a.dispatched == 2 and b.dispatched == 2
        finally:
            await a.stop()
            await b.stop()

    try:
        asyncio.run(run())
    finally:
        other_engine.dispose()


def test_a_slow_subscriber_is_dropped_not_waited_for(engine: Engine) -> None:
    async def run() -> None:
        hub = LiveHub(engine, poll_seconds=5.0)
        slow, quick = hub.subscribe(team_id="T01"), hub.subscribe(team_id="T01")
        messages = [
            LiveMessage(i, "emergency_reading", "T01", TOWN_A, "", {}) for i in range(1, 301)
        ]
        for m in messages:
            hub._fan_out([m])
            if not quick.queue.empty():
                quick.queue.get_nowait()  # this page keeps up
        assert slow.dropped and not quick.dropped
        assert slow.queue.qsize() == 1 and slow.queue.get_nowait() is None
        assert slow not in hub.subscribers and quick in hub.subscribers
        assert hub.dropped == 1

    asyncio.run(run())


def test_an_id_committed_late_is_still_delivered(engine: Engine) -> None:
    hub = LiveHub(engine, gap_seconds=60)
    hub._advance([1, 3])
    assert hub.floor == 1  # 2 may still commit
    hub._advance([2])
    assert hub.floor == 3
    quick = LiveHub(engine, gap_seconds=0)
    quick._advance([1, 3])
    assert quick.floor == 3  # a rolled-back id is not waited for


# ----------------------------------------------------------------------------------------
# The route (whole responses: ?once=true)
# ----------------------------------------------------------------------------------------
def test_route_replays_the_scope_after_last_event_id(api: TestClient, auth: Headers) -> None:
    ready = api.get("/api/v1/live?once=true", headers=auth["doctor1"])
    assert ready.status_code == 200
    assert ready.headers["content-type"].startswith("text/event-stream")
    start = int(_events(ready.text)[0]["id"])
    for rid, mid in (("R01", "LIVE-1"), ("R04", "LIVE-2"), ("R03", "LIVE-3")):
        r = api.post("/api/v1/measurements", json=_emergency(rid, mid), headers=auth["admin1"])
        assert r.status_code == 201 and r.json()["emergencies"] == 1, r.text

    def replay(user: str, after: int) -> list[dict[str, Any]]:
        r = api.get("/api/v1/live?once=true", headers={**auth[user], "Last-Event-ID": str(after)})
        assert r.status_code == 200, r.text
        events = _events(r.text)
        assert events[0]["event"] == "ready"
        return events[1:]

    t01 = replay("doctor1", start)
    assert [e["data"]["measurement_id"] for e in t01] == ["LIVE-1", "LIVE-3"]
    assert all(e["event"] == "emergency_reading" for e in t01)
    first = t01[0]["data"]
    assert (first["resident_id"], first["team_id"], first["town_code"]) == ("R01", "T01", TOWN_A)
    assert first["diseases"] == ["htn"] and first["sbp"] == 188
    assert SECRET_NAME not in json.dumps(t01, ensure_ascii=False)
    assert SECRET_PHONE not in json.dumps(t01)
    # Resume after the first: only the later one.
    assert [e["data"]["measurement_id"] for e in replay("doctor1", int(t01[0]["id"]))] == ["LIVE-3"]
    # T02's doctor: only R04's; town A's centre: T01's (its township), not T02's.
    assert [e["data"]["measurement_id"] for e in replay("doctor2", start)] == ["LIVE-2"]
    assert [e["data"]["measurement_id"] for e in replay("center1", start)] == [
        "LIVE-1",
        "LIVE-3",
    ]


def test_route_refuses_other_roles_and_bad_ids(api: TestClient, auth: Headers) -> None:
    for user in ("bureau1", "planner1", "admin1"):
        r = api.get("/api/v1/live?once=true", headers=auth[user])
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")
    assert api.get("/api/v1/live?once=true").status_code == 401
    bad = api.get("/api/v1/live?once=true", headers={**auth["doctor1"], "Last-Event-ID": "x"})
    assert bad.status_code == 422 and "last-event-id" in bad.text.lower()


# ----------------------------------------------------------------------------------------
# The endless stream, over HTTP
# ----------------------------------------------------------------------------------------
@pytest.fixture
def served(api_settings: Settings, engine: Engine, county: Any) -> Iterator[str]:
    """The app behind a real uvicorn server in a thread (the TestClient cannot stream)."""
    app = quiet_app(api_settings, engine)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_stream_delivers_an_emergency_reading_at_once(served: str, auth: Headers) -> None:
    lines: list[str] = []
    got = threading.Event()
    ready = threading.Event()

    def listen() -> None:
        with (
            httpx.Client(base_url=served, timeout=10, headers={"Host": "localhost"}) as client,
            client.stream("GET", "/api/v1/live", headers=auth["doctor1"]) as r,
        ):
            assert r.status_code == 200
            for line in r.iter_lines():
                lines.append(line)
                if line == "event: ready":
                    ready.set()
                if line.startswith("data:") and "LIVE-S" in line:
                    got.set()
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(10), lines
    r = httpx.post(
        f"{served}/api/v1/measurements",
        json=_emergency("R01", "LIVE-S", sbp=192),
        headers={**auth["admin1"], "Host": "localhost"},
    )
    assert r.status_code == 201, r.text
    posted = time.monotonic()
    assert got.wait(2.0), f"no event within 2 s: {lines}"
    print(f"event after {time.monotonic() - posted:.3f} s")
    thread.join(5)
    event = next(line for line in lines if "LIVE-S" in line)
    assert json.loads(event.partition(":")[2])["sbp"] == 192


def test_a_stream_ends_with_its_token_lifetime(
    served: str, auth: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One second instead of auth.access_minutes: the page then reconnects with its token.
    monkeypatch.setattr(live_routes, "stream_seconds", lambda settings: 1.0)
    began = time.monotonic()
    with (
        httpx.Client(base_url=served, timeout=10, headers={"Host": "localhost"}) as client,
        client.stream("GET", "/api/v1/live", headers=auth["center1"]) as r,
    ):
        assert r.status_code == 200
        lines = list(r.iter_lines())  # returns when the server ends the stream
    assert "event: ready" in lines
    assert 0.9 < time.monotonic() - began < 5
