"""Ingestion with the row checks on a Dask cluster (pipelines.ingest.chunks): the same
store and the same quarantine as ingesting here, for a dirty delivery, on both stores."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, inspect, text
from tests_support import StoreBackend
from typer.testing import CliRunner

import healthmap.cli as cli
from pipelines.build_dask import dask_client
from pipelines.ingest.delivery import ingest_delivery
from pipelines.ingest.settings import IngestSettings
from pipelines.sample.county import generate_county
from store.engine import make_engine, migrate
from store.models import CONTRACT_TABLES

#: Columns that differ between two ingests of the same files whatever the code does.
VARYING = {"id", "batch_id", "started_at", "finished_at", "loaded_at"}


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("dirty")
    manifest = generate_county(out, scale=0.005, seed=7, as_of=dt.date(2026, 11, 1), dirty=True)
    return out, manifest


@pytest.fixture
def two_stores(store_backend: StoreBackend, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    with store_backend.fresh(tmp_path / "a") as a, store_backend.fresh(tmp_path / "b") as b:
        engines = make_engine(a), make_engine(b)
        for e in engines:
            migrate(e)
        yield engines
        for e in engines:
            e.dispose()


def _without_seconds(detail: object) -> str:
    parsed = json.loads(detail) if isinstance(detail, str) else dict(detail or {})
    parsed.pop("seconds", None)
    return json.dumps(parsed, sort_keys=True)


def _table(engine: Engine, table: str) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(text(f'SELECT * FROM "{table}"'), conn)
    frame = frame.drop(columns=[c for c in frame.columns if c in VARYING])
    if table == "ingest_files":  # each file's detail, but for how long it took
        frame["detail"] = frame["detail"].map(_without_seconds)
    for col in frame.columns:  # geometries, JSON: compared as text
        if frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: None if v is None else str(v))
    return frame.sort_values(list(frame.columns), ignore_index=True)


@pytest.mark.slow
def test_dask_row_checks_give_the_same_store_and_quarantine(
    two_stores: tuple[Engine, Engine], delivery: tuple[Path, dict]
) -> None:
    folder, manifest = delivery
    here, there = two_stores
    # Small chunks: every file of any size is several chunks, several in flight at once.
    settings = IngestSettings(chunk_rows=700)
    local = ingest_delivery(folder, here, settings)
    with dask_client("local", workers=2, processes=True) as client:
        dask = ingest_delivery(folder, there, settings, client=client)
    assert local.quarantined == dask.quarantined > 0
    # What the manifest says the dirty delivery holds, reason by reason (as test_ingest).
    expected = sum(n for d in manifest["dirty"]["quarantined"].values() for n in d.values())
    assert dask.quarantined == expected
    for table in (*CONTRACT_TABLES, "quarantine", "ingest_files", "grid_villages"):
        if table not in inspect(here).get_table_names():
            continue
        pd.testing.assert_frame_equal(_table(here, table), _table(there, table), obj=table)
    assert {t: (s.read, s.loaded, s.quarantined) for t, s in local.tables.items()} == {
        t: (s.read, s.loaded, s.quarantined) for t, s in dask.tables.items()
    }


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--engine", "spark"], "use local or dask"),
        (["--scheduler", "tcp://x:8786"], "--scheduler needs --engine dask"),
    ],
)
def test_ingest_engine_refusals(
    args: list[str], why: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "state", cli.State())
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(cli.app, ["--db", db, "ingest", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert why in " ".join(result.output.replace("│", " ").split())
