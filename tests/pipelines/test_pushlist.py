"""Morning push lists on the sample county, on both stores (the push-list issue's acceptance).

Every team has a list, the planted emergency readings are red ``emergency_reading`` tasks,
and each patient's task is on exactly the team RULES.md assigns: the registry's team, else
the resident's signed team, else the team of the resident's grid — worked out here from the
delivered CSV files, not from the code under test.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select, text
from tests_support import StoreBackend

from geo.rules import DEFAULT_RULES
from pipelines.ingest.delivery import ingest_delivery
from pipelines.pushlist import (
    generate_push_lists,
    read_rule_frames,
    task_claims_filter,
    tasks_from_frames,
    team_push_list,
    team_route,
)
from pipelines.sample.county import generate_county
from store.engine import make_engine, migrate
from store.worklists import PushListEntry

AS_OF = dt.date(2026, 11, 15)


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("county")
    # Seed 10: a county with emergency readings still open on D (the simulated teams answer
    # most within three days, so at this scale some seeds have none left open).
    generate_county(out, scale=0.01, seed=10, as_of=AS_OF)
    return out


@pytest.fixture(scope="module")
def loaded(
    store_backend: StoreBackend, delivery: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    urls = store_backend.fresh_urls(tmp_path_factory)
    engine = make_engine(next(urls))
    migrate(engine)
    ingest_delivery(delivery, engine)
    generate_push_lists(engine, AS_OF, DEFAULT_RULES)
    yield engine
    engine.dispose()
    urls.close()


def _lists(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                PushListEntry.team_id,
                PushListEntry.resident_id,
                PushListEntry.disease,
                PushListEntry.task_code,
                PushListEntry.colour,
            ).where(PushListEntry.list_date == AS_OF)
        ).all()
    return pd.DataFrame(rows, columns=["team_id", "resident_id", "disease", "task_code", "colour"])


def _expected_team(delivery: Path) -> pd.Series:
    """RULES.md team assignment of every managed (resident, disease), from the CSVs."""
    residents = pd.read_csv(delivery / "residents.csv", dtype=str)
    registry = pd.read_csv(delivery / "chronic_registry.csv", dtype=str)
    grids = pd.read_csv(delivery / "grids.csv", dtype=str)
    village_grid = {
        v: g
        for g, vs in zip(grids["grid_id"], grids["village_codes"], strict=True)
        for v in str(vs).split(";")
    }
    grid_team = dict(zip(grids["grid_id"], grids["team_id"], strict=True))
    registry["disease"] = (
        registry["disease"]
        .str.upper()
        .map(lambda d: "htn" if d in ("HTN",) or d.startswith("I1") else "t2dm")
    )
    merged = registry.merge(residents, on="resident_id", suffixes=("", "_res"))
    grid_of = merged["area_code"].map(village_grid)
    team = merged["team_id"].fillna(merged["signed_team_id"]).fillna(grid_of.map(grid_team))
    return pd.Series(
        team.to_numpy(), index=pd.MultiIndex.from_frame(merged[["resident_id", "disease"]])
    )


@pytest.mark.slow
def test_every_team_has_a_list(loaded: Engine, delivery: Path) -> None:
    teams = set(pd.read_excel(delivery / "teams.xlsx", dtype=str)["team_id"])
    lists = _lists(loaded)
    assert teams == set(lists["team_id"])


@pytest.mark.slow
def test_planted_emergency_readings_are_red_tasks(loaded: Engine, delivery: Path) -> None:
    manifest = json.loads((delivery / "manifest.json").read_text())
    planted = manifest["planted_emergency_readings"]
    assert planted
    lists = _lists(loaded)
    red = lists[(lists["task_code"] == "emergency_reading") & (lists["colour"] == "red")]
    red_pairs = set(zip(red["resident_id"], red["disease"], strict=True))
    for reading in planted:
        for disease in reading["emergency_for"]:
            assert (reading["resident_id"], disease) in red_pairs


@pytest.mark.slow
def test_a_patient_is_on_exactly_the_team_rules_assign(loaded: Engine, delivery: Path) -> None:
    lists = _lists(loaded)
    managed = lists[lists["task_code"] != "suspected_unmanaged"]
    on_teams = managed.groupby(["resident_id", "disease"])["team_id"].agg(set)
    assert (on_teams.map(len) == 1).all()  # one task, one team
    expected = _expected_team(delivery)
    got = on_teams.map(lambda s: next(iter(s)))
    joined = pd.concat([got.rename("got"), expected.rename("expected")], axis=1, join="inner")
    assert len(joined) == len(got)
    assert (joined["got"] == joined["expected"]).all()


@pytest.mark.slow
def test_one_team_live_list_equals_the_morning_list(loaded: Engine) -> None:
    lists = _lists(loaded)
    team = lists["team_id"].value_counts().index[0]
    live = team_push_list(loaded, team, AS_OF, DEFAULT_RULES)
    morning = lists[lists["team_id"] == team]
    assert set(zip(live["resident_id"], live["disease"], live["task_code"], strict=True)) == set(
        zip(morning["resident_id"], morning["disease"], morning["task_code"], strict=True)
    )
    assert live["name"].str.contains(r"\*").all()  # masked outside the team's own view
    route = team_route(loaded, team, AS_OF, DEFAULT_RULES, entries=live)
    assert 0 < len(route.stops) <= 15
    reds = (route.stops["colour"] == "red").to_numpy()
    assert not (~reds[:-1] & reds[1:]).any()  # red stops come first


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ({"model": {"roc_auc": 0.72}, "fallback": {"roc_auc": 0.70}}, True),
        ({"model": {"roc_auc": 0.70}, "fallback": {"roc_auc": 0.70}}, True),
        ({"model": {"roc_auc": 0.65}, "fallback": {"roc_auc": 0.70}}, False),
        ({}, False),
    ],
)
def test_the_list_uses_the_model_only_when_it_ranks_better(
    metrics: dict[str, dict[str, float]], expected: bool
) -> None:
    from pipelines.pushlist import model_beats_fallback

    assert model_beats_fallback(metrics) is expected


@pytest.mark.slow
@pytest.mark.parametrize("day", [AS_OF, AS_OF - dt.timedelta(days=200)])
def test_reading_only_task_claims_changes_no_task(loaded: Engine, day: dt.date) -> None:
    full = read_rule_frames(loaded)
    cut = read_rule_frames(loaded, claims_for=(day, DEFAULT_RULES))
    assert len(cut["claims"]) < len(full["claims"]) / 2
    want = tasks_from_frames(full, day, DEFAULT_RULES)
    got = tasks_from_frames(cut, day, DEFAULT_RULES)
    # The sample plants both kinds of claim task, so a filter cutting too much would show.
    assert {"suspected_unmanaged", "post_discharge"} <= set(want["task_code"])
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))


@pytest.mark.slow
def test_task_claims_filter_keeps_the_window_edges(loaded: Engine) -> None:
    """Hand-placed claims at the edges of both windows (365 and 30 days ending D)."""
    day = dt.date(2026, 11, 15)
    where, params = task_claims_filter(day, DEFAULT_RULES)
    edges = {
        "in_case_window": ("2025-11-16", None, "I10"),  # D-364: the window's first day
        "discharged_d_minus_30": ("2025-06-01", "2026-10-16", "E11.9"),
        "lower_case_icd": ("2026-11-15", None, " i25 "),
        "other_diagnosis": ("2026-11-15", None, "J18"),
        "after_d": ("2026-11-17", None, "I10"),
        "long_before": ("2024-01-01", "2024-01-10", "I10"),
    }
    with loaded.connect() as conn:
        # Dates as stored: ISO text on SQLite (what a bound date becomes), date on PostgreSQL.
        date = "CAST({} AS DATE)" if loaded.dialect.name == "postgresql" else "{}"
        sql = text(
            f"SELECT count(*) FROM (SELECT {date.format(':visit')} AS visit_date,"
            f" {date.format(':discharge')} AS discharge_date, CAST(:icd AS VARCHAR) AS icd10)"
            " AS c WHERE " + where.format(**{k: f":{k}" for k in params})
        )
        kept = {
            name: conn.execute(
                sql,
                {
                    "visit": dt.date.fromisoformat(v),
                    "discharge": d and dt.date.fromisoformat(d),
                    "icd": icd,
                    **params,
                },
            ).scalar_one()
            for name, (v, d, icd) in edges.items()
        }
    assert kept == {
        "in_case_window": 1,
        "discharged_d_minus_30": 1,
        "lower_case_icd": 1,
        "other_diagnosis": 0,
        "after_d": 0,
        "long_before": 0,
    }
