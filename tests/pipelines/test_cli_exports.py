"""CSV from the command line is neutralised like the API's (issue 17, item 6).

A resident named ``=HYPERLINK("http://…","点击")`` came out raw in
``healthmap pushlist --format csv`` and ``healthmap quarantine list --format csv``; a
spreadsheet opening the file would run it. Both go through ``emit_frame``, which now calls
the one function of every export (``service.shaping.neutralise_cell``). The frames are
hand-built (the commands' store queries are replaced), so the expected cells are known.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import healthmap.cli as cli
import pipelines.ingest.delivery
import pipelines.pushlist
from service.shaping import neutralise_cell

EVIL = '=HYPERLINK("http://evil.example/x","点击")'


@pytest.fixture(autouse=True)
def fresh_cli_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's commands resolve their own settings and engine (the state is global)."""
    monkeypatch.setattr(cli, "state", cli.State())


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def test_pushlist_csv_neutralises_formulas(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pd.DataFrame(
        {
            "team_id": ["T01", "T01", "T01"],
            "resident_id": ["R01", "R02", "R03"],
            "name": [EVIL, "+SUM(A1:A9)", "张三"],
            "phone": ["@cmd", "-1+1", "13800001234"],
            "days_overdue": [-3, 0, 12],  # numbers stay numbers, minus sign and all
            "due_date": [dt.date(2026, 1, 5)] * 3,
        }
    )
    calls: list[tuple[str, bool]] = []

    def fake_list(engine: object, team_id: str, when: dt.date, rules: object, **kw: object):
        calls.append((team_id, bool(kw["masked"])))
        return frame

    monkeypatch.setattr(pipelines.pushlist, "team_push_list", fake_list)
    result = CliRunner().invoke(
        cli.app,
        ["--db", db, "pushlist", "--team", "T01", "--unmasked", "--date", "2026-01-05"],
    )
    assert result.exit_code == 0, result.output
    assert calls == [("T01", False)]
    rows = _rows(result.stdout)
    assert [r["name"] for r in rows] == ["'" + EVIL, "'+SUM(A1:A9)", "张三"]
    assert [r["phone"] for r in rows] == ["'@cmd", "'-1+1", "13800001234"]
    assert [r["days_overdue"] for r in rows] == ["-3", "0", "12"]
    assert all(r["due_date"] == "2026-01-05" for r in rows)


def test_quarantine_list_csv_neutralises_formulas(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pd.DataFrame(
        {
            "table": ["residents", "residents"],
            "file": ["residents.csv", "=cmd|' /C calc'!A0.csv"],
            "row": [2, 3],
            "column": ["name", "phone"],
            "value": [EVIL, None],
            "reason": ["bad_name", "missing"],
        }
    )
    monkeypatch.setattr(pipelines.ingest.delivery, "list_quarantine", lambda engine, table: frame)
    result = CliRunner().invoke(cli.app, ["--db", db, "quarantine", "list", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert [r["value"] for r in rows] == ["'" + EVIL, ""]
    assert [r["file"] for r in rows] == ["residents.csv", "'=cmd|' /C calc'!A0.csv"]
    assert [r["row"] for r in rows] == ["2", "3"]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (EVIL, "'" + EVIL),
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("＝1+1", "'＝1+1"),  # full-width, as Chinese input methods type it
        ("张三", "张三"),
        ("a=b", "a=b"),
        ("", ""),
        (-3, -3),
        (None, None),
    ],
)
def test_the_one_neutralising_function(cell: object, expected: object) -> None:
    assert neutralise_cell(cell) == expected
