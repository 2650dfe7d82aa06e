"""The command line's output for a person and for a spreadsheet, and where its store is.

Tables wrap rather than cut at 80 columns, with names beside codes; CSV carries integers
as integers, dates as ISO dates and coordinates rounded; a command run from another folder
uses the configured store, or stops without creating one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import healthmap.cli as cli
import store.queries
from healthmap.cli.output import typed_frame
from service.settings import Settings, sqlite_url
from store.engine import make_engine
from store.models import Area

TOWN = "370783101000"
LONG_NAME = "寿光市文家街道办事处社区卫生服务中心辖区"


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new command state per test (the CLI keeps one per process)."""
    monkeypatch.setattr(cli, "state", cli.State())


def _run(*args: str, env: dict[str, str] | None = None) -> object:
    return CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "80", **(env or {})})


@pytest.fixture
def named_store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    r = _run("--db", url, "db", "upgrade")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    with Session(make_engine(url)) as session:
        session.add(Area(area_code=TOWN, name=LONG_NAME, level="town", parent_code=None))
        session.commit()
    return url


def _wide_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period": [dt.date(2026, 6, 30)] * 2,
            "level": ["town", "town"],
            "unit_id": [TOWN, "370783102000"],
            "indicator": ["htn_standard_rate", "t2dm_management_rate"],
            "numerator": [1234.0, None],
            "denominator": [5678.0, 12.0],
            "value": [0.217329, None],
            "suppressed": [False, True],
            "suppression_reason": [None, "denominator_below_k"],
        }
    )


def test_a_wide_table_is_not_cut_at_80_columns(
    named_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store.queries, "indicator_values", lambda *a, **k: _wide_frame())
    r = _run("--db", named_store, "indicators", "--level", "town", "--format", "table")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    text = r.output  # type: ignore[attr-defined]
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    for whole in (TOWN, "370783102000", LONG_NAME, "t2dm_management_rate", "denominator_below_k"):
        assert whole in text, whole
    assert "1234" in text and "1234.0" not in text  # whole numbers as integers


def test_csv_and_json_keep_their_shape(named_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store.queries, "indicator_values", lambda *a, **k: _wide_frame())
    r = _run("--db", named_store, "indicators", "--format", "csv")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(r.output)))  # type: ignore[attr-defined]
    assert list(rows[0]) == list(_wide_frame().columns)  # no name column in CSV
    assert rows[0]["numerator"] == "1234" and rows[1]["numerator"] == ""
    assert rows[0]["period"] == "2026-06-30"


def test_typed_frame_integers_dates_and_coordinates() -> None:
    frame = pd.DataFrame(
        {
            "sex": [1.0, 2.0, None],
            "visit_date": pd.to_datetime(["2026-01-05", "2026-02-01", None]),
            "home_lat": [36.8812345678, 36.9, 37.0],
            "lng": [118.7312345678, 118.8, 118.9],
            "score": [0.5, 1.0, 2.0],
        }
    )
    out = typed_frame(frame)
    text = out.to_csv(index=False).splitlines()
    assert text[1] == "1,2026-01-05,36.88123,118.73123,0.5"
    assert text[3] == ",,37.0,118.9,2.0"


def test_the_store_is_resolved_from_the_data_dir_not_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("HEALTHMAP_DATABASE_URL", raising=False)
    assert Settings(data_dir=data).database_url == sqlite_url(data)
    assert sqlite_url(data).endswith(str(data / "healthmap.db"))
    # No store there yet: a clear message, exit 1, nothing created anywhere.
    r = _run("indicators", env={"HEALTHMAP_DATA_DIR": str(data)})
    assert r.exit_code == 1  # type: ignore[attr-defined]
    assert "No store at" in r.output and str(data / "healthmap.db") in r.output  # type: ignore[attr-defined]
    assert not (elsewhere / "var").exists() and not data.exists()
    # `healthmap settings` shows where the store is.
    r = _run("settings", env={"HEALTHMAP_DATA_DIR": str(data)})
    assert str(data / "healthmap.db") in r.output  # type: ignore[attr-defined]
    # Once made (db upgrade asks for it), the same command from this folder finds it.
    assert _run("db", "upgrade", env={"HEALTHMAP_DATA_DIR": str(data)}).exit_code == 0  # type: ignore[attr-defined]
    monkeypatch.setattr(cli, "state", cli.State())
    r = _run("indicators", env={"HEALTHMAP_DATA_DIR": str(data)})
    assert "No store at" not in r.output  # type: ignore[attr-defined]
    assert "no build" in r.output.lower()  # type: ignore[attr-defined]  # the store, empty
    assert (data / "healthmap.db").exists() and not (elsewhere / "var").exists()
