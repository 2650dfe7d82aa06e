"""Early warning on the small sample county, stored and read back, on both stores."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session
from tests_support import StoreBackend, fresh_database_url
from typer.testing import CliRunner

from geo.rules import DEFAULT_RULES
from healthmap import cli
from pipelines.ingest.delivery import ingest_delivery
from pipelines.sample.county import generate_county
from pipelines.surveillance import (
    RESULT_TABLES,
    compute_surveillance,
    delete_surveillance_rows,
    store_surveillance,
)
from store.engine import make_engine, migrate
from store.frames import read_frames
from store.models import Base
from store.queries import surveillance_alerts, vaccination_targets
from store.results import SURVEILLANCE_TABLES, Build, BuildCurrent

AS_OF = dt.date(2026, 6, 30)

# A sample county ingested, its early warning computed and stored: end to end.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("county")
    generate_county(out, scale=0.01, seed=3, as_of=AS_OF)
    return out


@pytest.fixture(scope="module")
def results(delivery: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Computed once (the scan's replicates are the slow part), on a SQLite-read store."""
    urls = fresh_database_url("sqlite", tmp_path_factory.mktemp("compute"))
    engine = make_engine(next(urls))
    migrate(engine)
    ingest_delivery(delivery, engine)
    out = compute_surveillance(AS_OF, read_frames(engine), DEFAULT_RULES)
    engine.dispose()
    urls.close()
    return out


@pytest.fixture(scope="module")
def stored(
    store_backend: StoreBackend,
    results: dict[str, pd.DataFrame],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Engine, str, dict[str, int]]]:
    urls = store_backend.fresh_urls(tmp_path_factory)
    url = next(urls)
    engine = make_engine(url)
    migrate(engine)
    with Session(engine) as session, session.begin():
        build = Build(as_of=AS_OF, started_at=dt.datetime.now(dt.UTC), status="ready")
        session.add(build)
        session.flush()
        session.execute(insert(BuildCurrent).values(name="current", build_id=build.build_id))
    counts = store_surveillance(engine, 1, results)
    yield engine, url, counts
    engine.dispose()
    urls.close()


def test_the_planted_outbreak_is_an_alert(results: dict[str, pd.DataFrame], delivery: Path) -> None:
    planted = json.loads((delivery / "manifest.json").read_text())["planted_outbreaks"][0]
    alerts = results["alerts"]
    scan = alerts[alerts["kind"] == "scan"]
    assert len(scan) >= 1
    top = scan.iloc[0]
    assert set(top["cells"]) & set(planted["cells"])
    assert top["p_value"] < 0.05 and top["day"] == AS_OF
    # Its cells are at risk, and the targets live in cells at risk.
    risk = results["risk_cells"].set_index("h3")
    assert risk.loc[list(top["cells"]), "at_risk"].all()
    targets = results["vaccination_targets"]
    assert len(targets) > 0
    assert set(targets["h3"]) <= set(risk.index[risk["at_risk"]])
    assert (targets["due_date"] == AS_OF + dt.timedelta(days=14)).all()


def test_rows_round_trip(stored: tuple[Engine, str, dict[str, int]], results: dict) -> None:
    engine, _, counts = stored
    assert counts == {t: len(results[k]) for k, t in RESULT_TABLES.items()}
    got = surveillance_alerts(engine)
    want = results["alerts"].sort_values(["day", "alert_id"]).reset_index(drop=True)
    assert got["alert_id"].tolist() == want["alert_id"].tolist()
    assert got["method"].tolist() == want["method"].tolist()
    assert [pd.Timestamp(d).date() for d in got["day"]] == list(want["day"])
    pd.testing.assert_series_equal(
        got["observed"].astype(float), want["observed"].astype(float), check_names=False
    )
    scan = got[got["kind"] == "scan"]
    assert [sorted(c) for c in scan["cells"]] == [
        sorted(c) for c in want.loc[want["kind"] == "scan", "cells"]
    ]
    assert got.loc[got["kind"] == "ears", "cells"].isna().all()
    on_d = surveillance_alerts(engine, day=AS_OF)
    assert (pd.to_datetime(on_d["day"]) == pd.Timestamp(AS_OF)).all()
    targets = vaccination_targets(engine)
    assert sorted(targets["resident_id"]) == sorted(results["vaccination_targets"]["resident_id"])
    team = targets["team_id"].dropna().iloc[0]
    assert (vaccination_targets(engine, team_id=team)["team_id"] == team).all()


def test_migration_matches_the_models(stored: tuple[Engine, str, dict[str, int]]) -> None:
    engine, _, _ = stored
    names = [t.__tablename__ for t in SURVEILLANCE_TABLES]
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert [d for d in diffs if any(n in repr(d) for n in names)] == []


def test_cli_reads_the_store(
    stored: tuple[Engine, str, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url, _ = stored
    monkeypatch.setattr(cli, "state", cli.State())
    runner = CliRunner()
    out = runner.invoke(cli.app, ["--db", url, "alerts", "--format", "json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert any(r["kind"] == "scan" for r in rows)
    out = runner.invoke(cli.app, ["--db", url, "vaccination-targets", "--format", "csv"])
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("resident_id,team_id,household_id")


def test_delete_removes_a_builds_rows(stored: tuple[Engine, str, dict[str, int]]) -> None:
    engine, _, _ = stored
    with Session(engine) as session, session.begin():
        delete_surveillance_rows(session, 1)
    with engine.connect() as conn:
        for table in SURVEILLANCE_TABLES:
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
