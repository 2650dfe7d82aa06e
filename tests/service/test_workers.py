"""Several workers on one store: the push-list cache, the scheduler and the jobs.

Two apps (or two engines) on one store stand for two uvicorn worker processes: each has
its own in-process push-list cache, and only the store's write version
(``store.version``) tells it about the other's writes; the store's locks
(``store.locks``) let one of them run the 06:00 lists and keep their background
jobs from interleaving.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import quiet_app
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from svc_county import TODAY

from service.scheduler import SchedulerLock, run_as_leader
from service.settings import Settings
from store.engine import make_engine
from store.version import (
    bump_store_version,
    bump_team_versions,
    resident_teams,
    store_version,
)

Headers = dict[str, dict[str, str]]


def entries(client: TestClient, headers: dict[str, str], team: str = "T01") -> dict[str, Any]:
    r = client.get(f"/api/v1/teams/{team}/pushlist", headers=headers)
    assert r.status_code == 200, r.text
    return {f"{e['resident_id']}/{e['disease']}": e for e in r.json()["entries"]}


@pytest.fixture
def second(api_settings: Settings, engine: Engine, api: TestClient) -> Iterator[TestClient]:
    """Another 'worker': a second app (own cache) on the same store."""
    with TestClient(quiet_app(api_settings, engine), raise_server_exceptions=False) as c:
        yield c


def test_repeated_reads_are_cache_hits_and_masking_is_per_variant(
    api: TestClient, auth: Headers
) -> None:
    cache = api.app.state.worklists  # type: ignore[attr-defined]
    first = api.get("/api/v1/teams/T01/pushlist", headers=auth["doctor1"])
    hits = cache.hits
    again = api.get("/api/v1/teams/T01/pushlist", headers=auth["doctor1"])
    assert again.content == first.content and cache.hits > hits
    assert again.headers["content-type"] == "application/json"
    # The centre's masked view is its own variant of the same computed list.
    centre = api.get("/api/v1/teams/T01/pushlist", headers=auth["center1"]).json()
    assert centre["masked"] is True and first.json()["masked"] is False
    assert [e["resident_id"] for e in centre["entries"]] == [
        e["resident_id"] for e in first.json()["entries"]
    ]
    assert {e["name"] for e in centre["entries"]}.isdisjoint(
        {e["name"] for e in first.json()["entries"]}
    )
    # A cached read is still audited, every time.
    reads = api.get("/admin/audit", params={"action": "read"}, headers=auth["admin1"]).json()[
        "items"
    ]
    assert sum(r["resource_type"] == "pushlist" for r in reads) == 3


def test_a_visit_recorded_in_another_worker_closes_the_task_at_once(
    api: TestClient, second: TestClient, auth: Headers
) -> None:
    assert entries(api, auth["doctor1"])["R02/t2dm"]["task_code"] == "uncontrolled_recheck"
    route = api.get("/api/v1/teams/T01/route", headers=auth["doctor1"]).json()
    assert "R02" in {s["resident_id"] for s in route["stops"]}
    body = {
        "followup_id": "FU-W-1",
        "resident_id": "R02",
        "disease": "t2dm",
        "visit_date": TODAY.isoformat(),
        "fasting_glucose": 6.2,
        "next_visit_date": (TODAY + dt.timedelta(days=90)).isoformat(),
    }
    assert second.post("/api/v1/followups", json=body, headers=auth["doctor1"]).status_code == 201
    assert "R02/t2dm" not in entries(api, auth["doctor1"])
    # The route is recomputed from the new list too (R02 has no other open task).
    route = api.get("/api/v1/teams/T01/route", headers=auth["doctor1"]).json()
    assert "R02" not in {s["resident_id"] for s in route["stops"]}


def test_an_emergency_reading_in_another_worker_is_red_at_once(
    api: TestClient, second: TestClient, auth: Headers
) -> None:
    assert entries(api, auth["doctor1"])["R01/htn"]["colour"] == "green"
    reading = {
        "resident_id": "R01",
        "measured_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "sbp": 190,
        "dbp": 100,
    }
    r = second.post("/api/v1/measurements", json=reading, headers=auth["admin1"])
    assert r.status_code == 201 and r.json()["emergencies"] == 1
    assert entries(api, auth["doctor1"])["R01/htn"]["colour"] == "red"


def test_a_dismissal_in_another_worker_removes_the_task_at_once(
    api: TestClient, second: TestClient, auth: Headers
) -> None:
    task = entries(api, auth["doctor1"])["R03/htn"]
    body = {
        "resident_id": "R03",
        "disease": "htn",
        "task_code": task["task_code"],
        "due_date": task["due_date"],
        "reason": "已住院",
    }
    assert second.post("/api/v1/tasks/dismiss", json=body, headers=auth["doctor1"]).status_code == (
        201
    )
    assert "R03/htn" not in entries(api, auth["doctor1"])


def test_a_write_makes_stale_only_the_lists_of_the_residents_teams(
    api: TestClient, second: TestClient, auth: Headers, engine: Engine
) -> None:
    cache = api.app.state.worklists  # type: ignore[attr-defined]
    t2 = api.get("/api/v1/teams/T02/pushlist", headers=auth["doctor2"])
    assert "R02/t2dm" in entries(api, auth["doctor1"])
    v1, v2 = store_version(engine, "T01"), store_version(engine, "T02")
    body = {
        "followup_id": "FU-W-2",
        "resident_id": "R02",  # T01's patient
        "disease": "t2dm",
        "visit_date": TODAY.isoformat(),
        "fasting_glucose": 6.0,
        "next_visit_date": (TODAY + dt.timedelta(days=90)).isoformat(),
    }
    assert second.post("/api/v1/followups", json=body, headers=auth["doctor1"]).status_code == 201
    assert store_version(engine, "T01") != v1
    assert store_version(engine, "T02") == v2
    # T02's list is still the cached one (a hit); T01's is recomputed (no hit).
    hits = cache.hits
    again = api.get("/api/v1/teams/T02/pushlist", headers=auth["doctor2"])
    assert again.content == t2.content and cache.hits == hits + 1
    hits = cache.hits
    assert "R02/t2dm" not in entries(api, auth["doctor1"])
    assert cache.hits == hits


def test_resident_teams_follow_the_list_membership_rule(engine: Engine, county: Any) -> None:
    with engine.connect() as conn:
        # R06 is no patient: only the team of its grid (G01) lists it.
        assert resident_teams(conn, ["R06"]) == {"T01"}
        assert resident_teams(conn, ["R04", "R01"]) == {"T01", "T02"}
        assert resident_teams(conn, ["nobody"]) == set()
        # Signed with T01 while living in T02's grid and registered with T02: both lists.
        conn.execute(text("UPDATE residents SET signed_team_id = 'T01' WHERE resident_id = 'R04'"))
        assert resident_teams(conn, ["R04"]) == {"T01", "T02"}
        before = store_version(conn, "T01"), store_version(conn, "T02")
        assert bump_team_versions(conn, ["R04"]) == {"T01", "T02"}
        after = store_version(conn, "T01"), store_version(conn, "T02")
        assert after[0][-1] != before[0][-1] and after[1][-1] != before[1][-1]
        # The store-wide part is untouched by a team's write.
        assert after[0][:-1] == before[0][:-1]
        conn.rollback()


def test_failed_or_repeated_writes_leave_the_version_alone(
    api: TestClient, auth: Headers, engine: Engine
) -> None:
    before = store_version(engine, "T01")
    bad = {"resident_id": "R01", "measured_at": "2099-01-01T00:00:00Z", "sbp": 120, "dbp": 80}
    assert api.post("/api/v1/measurements", json=bad, headers=auth["admin1"]).status_code == 422
    # Reads (and their audit records) are not writes of list inputs either.
    entries(api, auth["doctor1"])
    assert store_version(engine, "T01") == before


def test_store_version_moves_with_bumps_and_survives_an_emptied_table(engine: Engine) -> None:
    def counter(version: tuple[str, ...]) -> int:
        return 0 if version[0] == "None" else int(version[0])  # the tests empty tables

    first = store_version(engine)
    bump_store_version(engine)
    second = store_version(engine)
    assert second != first and counter(second) == counter(first) + 1
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM store_version"))
    assert store_version(engine)[0] == "None"
    bump_store_version(engine)  # recreates the row
    assert store_version(engine)[0] == "1"


def test_store_version_moves_with_a_build_mark(
    api: TestClient, auth: Headers, engine: Engine
) -> None:
    entries(api, auth["doctor1"])
    before = store_version(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE builds SET finished_at = :t WHERE build_id ="
                " (SELECT build_id FROM build_current WHERE name = 'current')"
            ),
            {"t": dt.datetime(2030, 1, 1, tzinfo=dt.UTC)},
        )
    assert store_version(engine) != before


def test_only_one_process_holds_the_scheduler_lock(migrated_store_url: str) -> None:
    # Two engines stand for two worker processes (flock and advisory locks are per open
    # file / per session, so this holds within one process too).
    a, b = make_engine(migrated_store_url), make_engine(migrated_store_url)
    first, second = SchedulerLock(a), SchedulerLock(b)
    try:
        assert first.try_acquire() is True
        assert first.try_acquire() is True  # held: idempotent
        assert second.try_acquire() is False
        first.release()
        assert second.try_acquire() is True
        assert first.try_acquire() is False
    finally:
        first.release()
        second.release()
        a.dispose()
        b.dispose()


def test_a_waiting_worker_takes_over_when_the_leader_goes(migrated_store_url: str) -> None:
    import asyncio
    import threading

    a, b = make_engine(migrated_store_url), make_engine(migrated_store_url)
    leader, follower = SchedulerLock(a), SchedulerLock(b)
    ran: list[str] = []
    attempts = [0]

    async def fake_sleep(_: float) -> None:
        attempts[0] += 1
        if attempts[0] == 2:
            leader.release()  # the leading worker exits

    async def schedule() -> None:
        ran.append("follower")

    try:
        assert leader.try_acquire()
        # In a thread of its own: the browser tests' Playwright keeps an event loop running
        # in the main thread for the whole session, and asyncio.run refuses to nest.
        errors: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(run_as_leader(follower, schedule, sleep=fake_sleep))
            except BaseException as exc:  # re-raised below, in the test's thread
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(60)
        assert not thread.is_alive() and not errors, errors
        assert ran == ["follower"] and attempts[0] == 2
        assert follower.held is False  # released when its schedule ended
    finally:
        leader.release()
        a.dispose()
        b.dispose()


def test_jobs_of_two_workers_do_not_interleave(migrated_store_url: str) -> None:
    import threading

    from service.jobs import JobRegistry
    from store.locks import StoreLock

    a, b = make_engine(migrated_store_url), make_engine(migrated_store_url)
    first, second = JobRegistry(lock=StoreLock(a, "jobs")), JobRegistry(lock=StoreLock(b, "jobs"))
    release = threading.Event()
    order: list[str] = []

    def slow() -> dict[str, Any]:
        order.append("first starts")
        release.wait(10)
        order.append("first ends")
        return {}

    def quick() -> dict[str, Any]:
        order.append("second runs")
        return {}

    try:
        one = first.submit("build", {}, slow)
        while one.status != "running":
            threading.Event().wait(0.01)
        two = second.submit("ingest", {}, quick)
        threading.Event().wait(0.3)
        assert two.status == "queued" and order == ["first starts"]
        release.set()
        first.wait(one.job_id, timeout=10)
        second.wait(two.job_id, timeout=10)
        assert order == ["first starts", "first ends", "second runs"]
        assert (one.status, two.status) == ("succeeded", "succeeded")
    finally:
        release.set()
        first.shutdown()
        second.shutdown()
        a.dispose()
        b.dispose()


def _read_twice(api: TestClient, auth: Headers, path: str) -> tuple[Any, Any]:
    """The bureau's answer at ``path``, read twice: the second read is a cache hit."""
    first = api.get(path, headers=auth["bureau1"])
    assert first.status_code == 200, first.text
    answers = api.app.state.answers  # type: ignore[attr-defined]
    hits = answers.hits
    assert api.get(path, headers=auth["bureau1"]).content == first.content
    assert answers.hits == hits + 1
    return first, answers


def _rebuilt_with_value(engine: Engine, where: str, finished: dt.date) -> None:
    """Grid indicators matching ``where`` set to 0.987 and the current build's finish moved
    to ``finished``: what a new build becoming current looks like to the caches."""
    with engine.begin() as conn:
        conn.execute(
            text(f"UPDATE indicator_values SET value = 0.987 WHERE level = 'grid' AND {where}")
        )
        conn.execute(
            text(
                "UPDATE builds SET finished_at = :t WHERE build_id ="
                " (SELECT build_id FROM build_current WHERE name = 'current')"
            ),
            {"t": dt.datetime(finished.year, finished.month, finished.day, tzinfo=dt.UTC)},
        )


def test_a_units_indicators_are_cached_until_the_build_changes(
    api: TestClient, auth: Headers, engine: Engine
) -> None:
    path = "/api/v1/indicators/grid/G01"
    first, answers = _read_twice(api, auth, path)
    hits = answers.hits - 1
    # A live write does not touch aggregates: still a hit.
    bump_store_version(engine)
    assert api.get(path, headers=auth["bureau1"]).content == first.content
    assert answers.hits == hits + 2
    # A (re)build becoming current does.
    _rebuilt_with_value(engine, "unit_id = 'G01' AND suppressed = false", dt.date(2030, 1, 1))
    fresh = api.get(path, headers=auth["bureau1"]).json()
    values = {i["value"] for i in fresh["indicators"] if not i["suppressed"]}
    assert values == {0.987}
    # Scope is checked before the cache: the centre still gets 404 outside its township.
    assert api.get("/api/v1/indicators/grid/G02", headers=auth["center1"]).status_code == 404


def test_indicator_pages_are_cached_per_caller_scope_until_the_build_changes(
    api: TestClient, auth: Headers, engine: Engine
) -> None:
    path = "/api/v1/indicators?level=grid&limit=50"
    first, _ = _read_twice(api, auth, path)
    # The centre's page is its own (its township's grids), not the bureau's cached one.
    centre = api.get(path, headers=auth["center1"]).json()
    bureau_units = {r["unit_id"] for r in first.json()["items"]}
    centre_units = {r["unit_id"] for r in centre["items"]}
    assert centre_units and centre_units < bureau_units
    _rebuilt_with_value(engine, "true", dt.date(2030, 1, 2))
    fresh = api.get(path, headers=auth["bureau1"]).json()
    assert {r["value"] for r in fresh["items"] if r["value"] is not None} == {0.987}
