"""The worker's interpreter settings (service.interpreter)."""

from __future__ import annotations

import asyncio
import gc
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from svc_helpers import make_settings

from service.app import create_app
from service.interpreter import NO_AUTOMATIC_FULL, full_collections, tuned


def full_runs() -> int:
    return int(gc.get_stats()[2]["collections"])


def test_full_collections_run_on_the_timer_only_and_the_thresholds_come_back() -> None:
    before = gc.get_threshold()

    async def scenario() -> tuple[tuple[int, int, int], int]:
        async with full_collections(0.05):
            inside = gc.get_threshold()
            start = full_runs()
            for _ in range(100):  # a full collection of the test process takes a while
                await asyncio.sleep(0.05)
                if full_runs() - start >= 2:
                    break
            return inside, full_runs() - start

    inside, collected = asyncio.run(scenario())
    assert inside == (before[0], before[1], NO_AUTOMATIC_FULL)
    assert collected >= 2
    assert gc.get_threshold() == before


def test_zero_leaves_pythons_schedule_alone() -> None:
    before = gc.get_threshold()

    async def scenario() -> tuple[int, int, int]:
        async with full_collections(0):
            return gc.get_threshold()

    assert asyncio.run(scenario()) == before


def test_the_switch_interval_is_set_and_given_back() -> None:
    before = sys.getswitchinterval()

    async def scenario(ms: float) -> float:
        async with tuned(ms, 0):
            return sys.getswitchinterval()

    assert asyncio.run(scenario(0.5)) == pytest.approx(0.0005)
    assert sys.getswitchinterval() == before
    assert asyncio.run(scenario(0)) == before


def test_the_app_tunes_its_interpreter_while_it_runs(
    migrated_store_url: str, engine: Engine
) -> None:
    before = gc.get_threshold(), sys.getswitchinterval()
    service = {"full_gc_seconds": 300, "switch_interval_ms": 0.25}
    app = create_app(make_settings(migrated_store_url, service=service), engine)
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        assert gc.get_threshold()[2] == NO_AUTOMATIC_FULL
        assert sys.getswitchinterval() == pytest.approx(0.00025)
    # The lifespan ended: Python's own schedule and interval again.
    assert (gc.get_threshold(), sys.getswitchinterval()) == before
