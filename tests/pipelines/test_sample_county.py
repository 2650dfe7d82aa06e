"""Acceptance of the sample county (issue 18): generated, ingested and built once.

The county (scale 0.05) must behave like a county to its users: short push lists with
few red tasks, rates in the seed case's ranges and flat over the built months, and the
planted spatial patterns found by the product's hotspot analysis (and nothing far away).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h3
import pandas as pd
import pytest
from sqlalchemy import Engine
from tests_support import StoreBackend

from geo.push_list import push_list
from geo.rules import DEFAULT_RULES
from pipelines.build import run_build
from pipelines.ingest.delivery import ingest_delivery
from pipelines.pushlist import read_rule_frames, tasks_from_frames
from pipelines.sample.county import generate_county
from store.engine import make_engine, migrate
from store.queries import current_build, hotspot_results, indicator_values

AS_OF = dt.date(2026, 11, 30)
SCALE = 0.05


@pytest.fixture(scope="module")
def county(
    store_backend: StoreBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The generated, ingested and built county with its manifest and ingest summary."""
    out = tmp_path_factory.mktemp("county18")
    manifest = generate_county(out, scale=SCALE, seed=0, as_of=AS_OF)
    urls = store_backend.fresh_urls(tmp_path_factory)
    engine = make_engine(next(urls))
    migrate(engine)
    summary = ingest_delivery(out, engine)
    run_build(engine, AS_OF, DEFAULT_RULES, workers=2)
    yield {"engine": engine, "manifest": manifest, "summary": summary, "dir": Path(out)}
    engine.dispose()
    urls.close()


@pytest.fixture(scope="module")
def lists(county: dict[str, Any]) -> pd.DataFrame:
    engine: Engine = county["engine"]
    frames = read_rule_frames(engine, claims_for=(AS_OF, DEFAULT_RULES))
    tasks = tasks_from_frames(frames, AS_OF, DEFAULT_RULES)
    out = push_list(tasks, AS_OF, config=DEFAULT_RULES)
    return out[out["team_id"].notna()]


@pytest.mark.slow
def test_clean_sample_ingests_with_nothing_quarantined(county: dict[str, Any]) -> None:
    tables = county["summary"].tables
    assert {n: t.quarantined for n, t in tables.items() if t.quarantined} == {}
    assert tables["mobility"].loaded == county["manifest"]["counts"]["mobility"]


@pytest.mark.slow
def test_push_lists_are_short_and_mostly_not_red(lists: pd.DataFrame) -> None:
    sizes = lists.groupby("team_id").size()
    assert 8 <= sizes.median() <= 30
    assert (lists["colour"] == "red").mean() < 0.10
    assert (lists["days_overdue"] > 90).mean() < 0.05


@pytest.mark.slow
def test_rates_in_range_and_flat_over_the_built_months(county: dict[str, Any]) -> None:
    engine = county["engine"]
    periods = sorted(current_build(engine)["periods"])
    first, last = (
        indicator_values(engine, "county", period=dt.date.fromisoformat(p)).set_index("indicator")[
            "value"
        ]
        for p in (periods[0], periods[-1])
    )
    for d in ("htn", "t2dm"):
        assert 0.40 <= last[f"{d}_management_rate"] <= 0.60
        assert 0.50 <= last[f"{d}_control_rate"] <= 0.65
        assert last[f"{d}_standard_rate"] >= 0.6
    # No false rise in the trend charts: the first month looks like the last.
    for name in last.index:
        if name.endswith("_rate") and "share" not in name:
            assert abs(first[name] - last[name]) <= 0.05, name


@pytest.mark.slow
def test_planted_patterns_are_found_and_nothing_far_from_them(county: dict[str, Any]) -> None:
    engine = county["engine"]
    planted = county["manifest"]["planted_patterns"]
    patterns = planted["prevalence_clusters"] + planted["poor_control_areas"]
    assert [p["expect"] for p in planted["prevalence_clusters"]].count("hot") >= 2
    assert [p["expect"] for p in planted["prevalence_clusters"]].count("cold") >= 1
    assert planted["poor_control_areas"]
    area = planted["poor_control_areas"][0]
    assert area["clinic_km"] > area["county_median_clinic_km"]
    near = {n for p in patterns for c in p["cells"] for n in h3.grid_disk(c, 2)}
    for indicator in (
        "htn_prevalence",
        "t2dm_prevalence",
        "htn_uncontrolled_share",
        "t2dm_uncontrolled_share",
    ):
        res = hotspot_results(engine, indicator, "h3:8")
        cls = dict(zip(res["unit_id"], res["hotspot_class"], strict=True))
        for p in patterns:
            if indicator in p["indicators"]:
                found = [cls.get(c) for c in p["cells"]]
                assert p["expect"] in found, (indicator, p["kind"], found)
        far = {u: c for u, c in cls.items() if c != "none" and u not in near}
        assert far == {}, indicator


@pytest.mark.slow
def test_manifest_says_what_the_generator_aimed_for_and_got(county: dict[str, Any]) -> None:
    care = county["manifest"]["care"]
    assert care["history_days"] >= 3 * 365
    got = care["got"]
    assert 8 <= got["followup_tasks_per_team_median"] <= 30
    assert got["followup_tasks_red_share"] < care["aimed"]["red_share_max"]
    assert 0.40 <= got["htn_management_rate"] <= 0.60
