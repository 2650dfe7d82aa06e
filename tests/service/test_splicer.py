"""A splice's fresh entries computed in a child process of the worker (service.splicer)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from svc_county import TODAY, r02_controlled_visit
from svc_helpers import make_settings, token_headers

from pipelines.pushlist import residents_entries, team_push_list
from service.app import create_app
from service.splicer import Splicer
from service.worklists import WorklistCache
from store.engine import make_engine

RESIDENTS = ["R01", "R02", "R03"]


@pytest.fixture
def splicer(engine: Engine, county: Any) -> Iterator[Splicer]:
    s = Splicer(engine, make_settings().rules, None)
    yield s
    s.close()


def test_the_child_computes_what_the_worker_would(engine: Engine, splicer: Splicer) -> None:
    made = splicer("T01", TODAY, RESIDENTS)
    here = residents_entries(engine, "T01", TODAY, splicer.rules, RESIDENTS)
    assert len(made) > 0
    pd.testing.assert_frame_equal(made, here)
    assert (splicer.calls, splicer.fallbacks) == (1, 0)


def test_a_dead_child_falls_back_to_the_worker(engine: Engine, splicer: Splicer) -> None:
    pid = splicer._pool.submit(os.getpid).result()
    os.kill(pid, 9)  # the pool is broken from now on
    made = splicer("T01", TODAY, RESIDENTS)
    pd.testing.assert_frame_equal(
        made, residents_entries(engine, "T01", TODAY, splicer.rules, RESIDENTS)
    )
    assert splicer.fallbacks == 1
    splicer("T01", TODAY, RESIDENTS)  # the dead child is not asked again
    assert splicer.fallbacks == 2 and splicer._broken


def test_where_the_child_is_wanted(engine: Engine, migrated_store_url: str) -> None:
    on = make_settings(migrated_store_url, service={"splice_process": True})
    assert Splicer.wanted(on, engine)
    assert not Splicer.wanted(make_settings(migrated_store_url), engine)  # the tests' default
    # A county's app inside a province's service splices in the worker.
    assert not Splicer.wanted(on.model_copy(update={"county": "370783"}), engine)
    # A child cannot open an in-memory store.
    assert not Splicer.wanted(on, make_engine("sqlite:///:memory:"))


def test_a_visit_is_spliced_by_the_child_and_equals_the_list_made_whole(
    migrated_store_url: str, engine: Engine, county: Any
) -> None:
    settings = make_settings(migrated_store_url, service={"splice_process": True})
    with TestClient(create_app(settings, engine)) as api:
        cache: WorklistCache = api.app.state.worklists  # type: ignore[attr-defined]
        assert isinstance(cache.fresh, Splicer)
        h = token_headers(engine, settings)["doctor1"]
        assert api.get("/api/v1/teams/T01/pushlist", headers=h).status_code == 200
        r = api.post("/api/v1/followups", json=r02_controlled_visit("FU-CHILD-1"), headers=h)
        assert r.status_code == 201, r.text
        assert cache.settle()
        assert cache.spliced == 1 and cache.fresh.calls == 1 and cache.fresh.fallbacks == 0
        served = api.get("/api/v1/teams/T01/pushlist", headers=h).json()["entries"]
        assert ("R02", "t2dm") not in {(e["resident_id"], e["disease"]) for e in served}
        got = cache.entries(cache.version("T01"), "T01", TODAY)
        whole = team_push_list(engine, "T01", TODAY, cache.rules, masked=False)
        pd.testing.assert_frame_equal(got, whole, check_dtype=False)
