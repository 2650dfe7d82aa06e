"""``healthmap build`` end to end on a small sample county, on both stores.

What is checked here is the build's own job: every period and level stored, the county
row of every indicator always present, results equal to the spatial core's on the same
frames, the atomic swap (a failed rebuild leaves the previous build current and intact),
and a store that is still sound after the forked workers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.orm import Session
from tests_support import StoreBackend

from geo.indicators import INDICATORS, LEVELS
from geo.rules import DEFAULT_RULES
from pipelines import build as build_module
from pipelines.build import (
    build_periods,
    compute_period,
    drop_superseded_builds,
    prepare_frames,
    run_build,
)
from pipelines.ingest.delivery import ingest_delivery
from pipelines.sample.county import generate_county
from store.engine import make_engine, migrate
from store.frames import read_frames
from store.queries import current_build, hotspot_results, indicator_values
from store.results import (
    Build,
    BurdenRow,
    HealthIndex,
    HotspotResult,
    IndicatorValue,
    RiskCell,
    SurveillanceAlert,
)

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("county")
    generate_county(out, scale=0.01, seed=3, as_of=AS_OF)
    return out


@pytest.fixture(scope="module")
def built(
    store_backend: StoreBackend, delivery: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """One ingested and built store per backend for the whole module (tests run in order:
    the rebuild tests come last and leave a valid current build behind)."""
    urls = store_backend.fresh_urls(tmp_path_factory)
    url = next(urls)
    engine = make_engine(url)
    migrate(engine)
    ingest_delivery(delivery, engine)
    run_build(engine, AS_OF, DEFAULT_RULES, workers=2)
    yield engine
    engine.dispose()
    urls.close()


def test_build_periods_are_d_and_twelve_month_ends() -> None:
    periods = build_periods(dt.date(2026, 3, 15))
    assert periods[0] == dt.date(2026, 3, 15)
    assert periods[1:4] == [dt.date(2026, 2, 28), dt.date(2026, 1, 31), dt.date(2025, 12, 31)]
    assert periods[-1] == dt.date(2025, 3, 31)
    assert len(periods) == 13


@pytest.mark.slow
def test_every_period_level_and_indicator_is_stored(built: Engine) -> None:
    build = current_build(built)
    assert build["as_of"] == AS_OF
    assert len(build["periods"]) == 13
    with built.connect() as conn:
        rows = conn.execute(
            select(IndicatorValue.period, IndicatorValue.level, func.count())
            .where(IndicatorValue.build_id == build["build_id"])
            .group_by(IndicatorValue.period, IndicatorValue.level)
        ).all()
    assert {str(p) for p, _, _ in rows} == set(build["periods"])
    assert {level for _, level, _ in rows} == set(LEVELS)
    county = indicator_values(built, "county")
    # The county total is always shown (RULES.md small numbers).
    assert set(county["indicator"]) == {d.name for d in INDICATORS}
    assert not county["suppressed"].any()
    assert county["value"].notna().all()


@pytest.mark.slow
def test_stored_values_equal_the_spatial_core(built: Engine) -> None:
    frames = prepare_frames(read_frames(built), DEFAULT_RULES)
    _, shown, _ = compute_period(AS_OF, frames, DEFAULT_RULES)
    expected = shown[shown["level"] == "town"].set_index(["unit_id", "indicator"])["value"]
    stored = indicator_values(built, "town").set_index(["unit_id", "indicator"])["value"]
    pd.testing.assert_series_equal(
        stored.sort_index().astype(float),
        expected.sort_index().astype(float),
        check_names=False,
    )
    hot = hotspot_results(built, "htn_prevalence", "h3:8")
    assert len(hot) > 0
    assert set(hot["hotspot_class"]) <= {"hot", "cold", "none"}


@pytest.mark.slow
def test_a_failed_rebuild_leaves_the_previous_build_current(
    built: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = current_build(built)["build_id"]
    town_before = indicator_values(built, "town")

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("planted failure in the hotspots step")

    monkeypatch.setattr(build_module, "compute_hotspots", boom)
    with pytest.raises(RuntimeError, match="planted failure"):
        run_build(built, AS_OF, DEFAULT_RULES, workers=1)
    assert current_build(built)["build_id"] == before
    pd.testing.assert_frame_equal(indicator_values(built, "town"), town_before)
    with built.connect() as conn:
        failed = conn.execute(select(Build.status).where(Build.build_id > before)).scalars()
        assert list(failed) == ["failed"]
        # nothing of the failed build is left behind
        leftovers = conn.execute(
            select(func.count()).where(IndicatorValue.build_id > before)
        ).scalar_one()
    assert leftovers == 0


def _kept(engine: Engine) -> tuple[set[int], dict[int, str]]:
    """Builds with indicator rows, and every build's status."""
    with engine.connect() as conn:
        ids = set(conn.execute(select(IndicatorValue.build_id).distinct()).scalars())
        status = dict(conn.execute(select(Build.build_id, Build.status)).all())
        if engine.dialect.name == "sqlite":
            # the forked workers of the builds left the file sound
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    return ids, status


@pytest.mark.slow
def test_a_rebuild_replaces_the_previous_one(built: Engine) -> None:
    first = current_build(built)["build_id"]
    town_first = indicator_values(built, "town")
    run_build(built, AS_OF, DEFAULT_RULES, workers=1)
    second = current_build(built)["build_id"]
    assert second > first
    # The replaced build keeps its rows (superseded) until the next build drops them.
    ids, status = _kept(built)
    assert ids == {first, second}
    assert (status[first], status[second]) == ("superseded", "ready")
    pd.testing.assert_frame_equal(indicator_values(built, "town"), town_first)
    # Forked workers, the early warning forked before the claims are read, and the first
    # build dropped by a spawned process meanwhile: the same results, the file sound.
    run_build(built, AS_OF, DEFAULT_RULES, workers=2)
    third = current_build(built)["build_id"]
    pd.testing.assert_frame_equal(indicator_values(built, "town"), town_first)
    ids, status = _kept(built)
    assert ids == {second, third}
    assert [status[b] for b in (first, second, third)] == ["dropped", "superseded", "ready"]
    with built.connect() as conn:
        for table in (HealthIndex, BurdenRow, HotspotResult, SurveillanceAlert, RiskCell):
            left = set(conn.execute(select(table.build_id).distinct()).scalars())
            assert first not in left, table.__tablename__
            if table in (HealthIndex, BurdenRow):
                assert left == {second, third}, table.__tablename__


@pytest.mark.slow
def test_a_killed_build_is_dropped_once_stale(built: Engine) -> None:
    now = dt.datetime.now(dt.UTC)
    current = current_build(built)["build_id"]
    ids = {}
    with Session(built) as session:
        for name, started in (("killed", now - dt.timedelta(hours=7)), ("running", now)):
            build = Build(as_of=AS_OF, started_at=started, status="building")
            session.add(build)
            session.flush()
            ids[name] = build.build_id
            session.add(
                IndicatorValue(
                    build_id=build.build_id,
                    period=AS_OF,
                    level="county",
                    unit_id="370783",
                    indicator="signing_rate",
                    suppressed=False,
                )
            )
        session.commit()
    superseded = sorted(b for b, s in _kept(built)[1].items() if s == "superseded")
    assert sorted(drop_superseded_builds(built, {current})) == sorted([*superseded, ids["killed"]])
    ids_left, status = _kept(built)
    assert ids["killed"] not in ids_left and status[ids["killed"]] == "dropped"
    assert ids["running"] in ids_left and status[ids["running"]] == "building"
    with Session(built) as session:  # leave the store as the other tests expect it
        session.execute(delete(IndicatorValue).where(IndicatorValue.build_id == ids["running"]))
        running = Build.build_id == ids["running"]
        session.execute(update(Build).where(running).values(status="failed"))
        session.commit()
