"""A write recomputes only its resident's tasks; the spliced list equals the list computed whole.

Over the small county of ``svc_county`` on both stores, through the API: after each write
(a visit that closes a task, an emergency reading that opens a red one, a dismissal, a
reading that changes nothing) the cached list of the team is spliced — the cache's
``spliced`` counter moves, ``computed`` does not — and the frame it serves equals
:func:`pipelines.pushlist.team_push_list` computed whole from the store.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from svc_county import TODAY, r02_controlled_visit

from pipelines.pushlist import refresh_team_list, team_list, team_push_list
from service.worklists import WorklistCache, inputs_key, list_rows, only_live_writes_between
from store.list_snapshots import ListSnapshot, bytes_frame, frame_bytes, load_snapshot

Headers = dict[str, dict[str, str]]


def _cache(api: TestClient) -> WorklistCache:
    cache: WorklistCache = api.app.state.worklists  # type: ignore[attr-defined]
    return cache


def _served(api: TestClient, auth: Headers, team: str) -> dict[str, Any]:
    r = api.get(
        f"/api/v1/teams/{team}/pushlist", headers=auth["doctor1" if team == "T01" else "doctor2"]
    )
    assert r.status_code == 200, r.text
    return {f"{e['resident_id']}/{e['disease']}": e for e in r.json()["entries"]}


def _same_as_whole(api: TestClient, engine: Engine, team: str) -> pd.DataFrame:
    cache = _cache(api)
    got = cache.entries(cache.version(team), team, TODAY)
    whole = team_push_list(
        engine, team, TODAY, cache.rules, masked=False, model_path=cache.model_path
    )
    # pandas infers str or object for a text column depending on the rows (the list
    # computed whole does too): the values must be equal, and what is served identical.
    pd.testing.assert_frame_equal(got, whole, check_dtype=False)
    assert list_rows(got) == list_rows(whole)
    return got


def _now_local() -> str:
    shanghai = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
    return shanghai.replace(microsecond=0, tzinfo=None).isoformat()


def test_writes_splice_the_list_and_it_equals_a_full_recompute(
    api: TestClient, auth: Headers, engine: Engine
) -> None:
    cache = _cache(api)
    first = _served(api, auth, "T01")
    assert set(first) == {"R01/htn", "R02/t2dm", "R03/htn"}
    _served(api, auth, "T02")
    assert (cache.computed, cache.spliced) == (2, 0)
    _same_as_whole(api, engine, "T01")

    # 1. A visit closes R02's uncontrolled_recheck.
    r = api.post("/api/v1/followups", json=r02_controlled_visit("FU-S-1"), headers=auth["doctor1"])
    assert r.status_code == 201, r.text
    # The visit's list is spliced at once, in the background (the doctor reads it next).
    assert cache.settle()
    assert (cache.computed, cache.spliced, cache.refreshed) == (2, 1, 1)
    hits = cache.hits
    assert "R02/t2dm" not in _served(api, auth, "T01")
    assert (cache.computed, cache.spliced) == (2, 1) and cache.hits > hits
    _same_as_whole(api, engine, "T01")

    # 2. An emergency reading opens a red task for R01, first on the list.
    r = api.post(
        "/api/v1/measurements",
        json={"resident_id": "R01", "measured_at": _now_local(), "sbp": 186, "dbp": 112},
        headers=auth["admin1"],
    )
    assert r.status_code == 201 and r.json()["emergencies"] == 1, r.text
    served = _served(api, auth, "T01")
    assert next(iter(served)) == "R01/htn"
    assert (served["R01/htn"]["task_code"], served["R01/htn"]["colour"]) == (
        "emergency_reading",
        "red",
    )
    assert (cache.computed, cache.spliced) == (2, 2)
    _same_as_whole(api, engine, "T01")

    # 3. A dismissal closes R03's first_followup.
    task = served["R03/htn"]
    r = api.post(
        "/api/v1/tasks/dismiss",
        json={
            "resident_id": "R03",
            "disease": "htn",
            "task_code": task["task_code"],
            "due_date": task["due_date"],
            "reason": "已住院",
        },
        headers=auth["doctor1"],
    )
    assert r.status_code == 201, r.text
    assert cache.settle() and cache.refreshed == 2
    assert "R03/htn" not in _served(api, auth, "T01")
    assert (cache.computed, cache.spliced) == (2, 3)
    _same_as_whole(api, engine, "T01")

    # 4. A visit closes the emergency task; a normal reading changes nothing but is spliced.
    r = api.post(
        "/api/v1/followups",
        json={
            "followup_id": "FU-S-2",
            "resident_id": "R01",
            "disease": "htn",
            "visit_date": TODAY.isoformat(),
            "method": "clinic",
            "sbp": 128,
            "dbp": 80,
            "next_visit_date": (TODAY + dt.timedelta(days=90)).isoformat(),
        },
        headers=auth["doctor1"],
    )
    assert r.status_code == 201, r.text
    assert cache.settle() and cache.refreshed == 3
    r = api.post(
        "/api/v1/measurements",
        json={"resident_id": "R01", "measured_at": _now_local(), "sbp": 121, "dbp": 79},
        headers=auth["admin1"],
    )
    assert r.status_code == 201 and r.json()["emergencies"] == 0, r.text
    assert _served(api, auth, "T01") == {}
    # The visit's splice in the background, the reading's on this read (readings are not
    # refreshed ahead: 2,600 terminals' readings would remake lists nobody is reading).
    assert (cache.computed, cache.spliced, cache.refreshed) == (2, 5, 3)
    _same_as_whole(api, engine, "T01")

    # 5. A reading about T02's resident leaves T01's list cached; T02's is spliced.
    r = api.post(
        "/api/v1/measurements",
        json={"resident_id": "R04", "measured_at": _now_local(), "sbp": 190, "dbp": 100},
        headers=auth["admin1"],
    )
    assert r.status_code == 201, r.text
    hits = cache.hits
    _served(api, auth, "T01")
    assert cache.hits > hits
    assert _served(api, auth, "T02")["R04/htn"]["task_code"] == "emergency_reading"
    assert (cache.computed, cache.spliced) == (2, 6)
    _same_as_whole(api, engine, "T02")


def test_refresh_reports_the_residents_written(
    api: TestClient, auth: Headers, engine: Engine
) -> None:
    rules = _cache(api).rules
    base = team_list(engine, "T01", TODAY, rules)
    assert refresh_team_list(engine, base, rules).spliced == ()
    r = api.post(
        "/api/v1/measurements",
        json={
            "resident_id": "R02",
            "measured_at": _now_local(),
            "glucose": 2.8,
            "glucose_type": "random",
        },
        headers=auth["doctor1"],
    )
    assert r.status_code == 201, r.text
    fresh = refresh_team_list(engine, base, rules)
    assert fresh.spliced == ("R02",)
    whole = team_list(engine, "T01", TODAY, rules).entries
    pd.testing.assert_frame_equal(fresh.entries, whole, check_dtype=False)


def test_only_live_writes_between() -> None:
    old = (("3", "7", "t", "i", "12", "5"), (1.0, 10))
    assert only_live_writes_between(old, (("3", "7", "t", "i", "12", "6"), (1.0, 10)))
    assert not only_live_writes_between(old, (("3", "8", "t", "i", "12", "6"), (1.0, 10)))
    assert not only_live_writes_between(old, (("4", "7", "t", "i", "12", "5"), (1.0, 10)))
    assert not only_live_writes_between(old, (("3", "7", "t", "i", "12", "5"), (2.0, 10)))


def test_a_second_worker_takes_the_stored_list_instead_of_computing_it(
    api: TestClient, auth: Headers, engine: Engine
) -> None:
    """Two workers' caches over one store: the list one computed, the other reads from the
    store (``list_snapshots``); after a write the first to miss splices and stores, the
    other takes that; each serves what the list computed whole says."""
    first = _cache(api)
    _served(api, auth, "T01")
    assert (first.computed, first.spliced) == (1, 0)
    other = WorklistCache(engine, first.rules, first.model_path)

    def served_by_other() -> pd.DataFrame:
        return other.entries(other.version("T01"), "T01", TODAY)

    pd.testing.assert_frame_equal(served_by_other(), _same_as_whole(api, engine, "T01"))
    assert (other.computed, other.spliced, other.shared) == (0, 0, 1)

    r = api.post(
        "/api/v1/measurements",
        json={"resident_id": "R01", "measured_at": _now_local(), "sbp": 186, "dbp": 112},
        headers=auth["admin1"],
    )
    assert r.status_code == 201 and r.json()["emergencies"] == 1, r.text
    spliced = _same_as_whole(api, engine, "T01")  # the first worker splices and stores it
    assert (first.computed, first.spliced) == (1, 1)
    pd.testing.assert_frame_equal(served_by_other(), spliced)
    assert (other.computed, other.spliced, other.shared) == (0, 0, 2)
    assert list_rows(served_by_other())[0]["task_code"] == "emergency_reading"


def test_a_stored_list_of_another_build_is_not_taken(
    api: TestClient, auth: Headers, engine: Engine
) -> None:
    """A stored list whose inputs differ beyond the team's counter (here: its key, as an
    ingest, a build or a retrained model would change it) is computed again, and replaced."""
    first = _cache(api)
    _served(api, auth, "T01")
    with engine.begin() as conn:
        conn.execute(update(ListSnapshot).values(key='[["older"], null]', team_version=99))
    other = WorklistCache(engine, first.rules, first.model_path)
    got = other.entries(other.version("T01"), "T01", TODAY)
    assert (other.computed, other.shared) == (1, 0)
    pd.testing.assert_frame_equal(got, _same_as_whole(api, engine, "T01"))
    stored = load_snapshot(engine, "T01", TODAY)
    assert stored is not None and stored.key == inputs_key(other.version("T01"))
    assert stored.team_version == 0


def test_a_stored_list_survives_the_round_trip() -> None:
    frame = pd.DataFrame(
        {
            "resident_id": ["R1", "R2"],
            "due_date": [dt.date(2026, 12, 1), None],
            "sex": [1.0, float("nan")],
            "risk_score": [0.25, None],
            "name": ["张三", None],
        }
    )
    back = bytes_frame(frame_bytes(frame))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert list_rows(back) == list_rows(frame)


def test_writes_refresh_ahead_only_the_lists_in_use(api: TestClient, auth: Headers) -> None:
    # A resident is also on the lists of their grid's and registry's teams, which nobody
    # may be reading here: only lists this worker made for the day are refreshed ahead.
    cache = _cache(api)
    _served(api, auth, "T01")  # T02's list is never read
    computed = cache.computed
    cache.refresh_soon(["R04"], TODAY)  # T02's resident
    assert cache.settle()
    assert (cache.refreshed, cache.computed) == (0, computed)
    cache.refresh_soon(["R02"], TODAY)  # T01's
    assert cache.settle()
    assert cache.refreshed == 1 and cache.computed == computed
