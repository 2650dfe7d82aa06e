"""Canonical frames: claims read by a child process (ADBC) equal those read in-process."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import adbc_driver_sqlite  # noqa: F401  (the child's reader: a declared dependency, never skipped)
import pandas as pd
import pytest
from sqlalchemy import Engine, insert

from store import sqlite_arrow
from store.engine import make_engine, migrate
from store.frames import (
    _as_sqlite_binds,
    read_frame,
    read_frames,
    read_frames_in_two,
    start_frame,
)
from store.models import Claim


def test_claims_from_a_child_process_equal_the_in_process_read(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    # Missing values first: a driver guessing types from the first rows would trip later.
    rows = [
        {
            "claim_id": f"C{i}",
            "resident_id": f"R{i % 7}",
            "visit_date": pd.Timestamp("2026-01-01") + pd.Timedelta(days=i),
            "discharge_date": None if i % 5 else pd.Timestamp("2026-03-01"),
            "facility_id": None if i < 2000 else "F1",
            "in_county": (True, False)[i % 2],
            "visit_type": "outpatient",
            "icd10": "I10" if i % 2 else None,
            "total_cost": None if i < 1500 else i * 1.25,
            "fund_paid": float(i % 4),
            "self_paid": 0.5,
        }
        for i in range(3000)
    ]
    with engine.begin() as conn:
        conn.execute(
            insert(Claim),
            [
                {
                    **r,
                    "visit_date": r["visit_date"].date(),
                    "discharge_date": r["discharge_date"] and r["discharge_date"].date(),
                }
                for r in rows
            ],
        )
    child = read_frames(engine, ["claims", "areas"])
    here = read_frame(engine, "claims")
    assert list(child) == ["claims", "areas"]
    pd.testing.assert_frame_equal(
        child["claims"].sort_values("visit_date").reset_index(drop=True),
        here.sort_values("visit_date").reset_index(drop=True),
    )
    assert child["claims"]["total_cost"].isna().sum() == 1500
    assert child["claims"]["in_county"].tolist()[:3] == [True, False, True]


def test_a_failing_child_names_its_error(tmp_path: Path) -> None:
    job = sqlite_arrow.PendingTable(str(tmp_path / "missing.db"), "claims", ["claim_id"])
    with pytest.raises(RuntimeError):
        job.result()


def _insert_claims(
    store: Engine, n: int, *, residents: int, icd10: tuple[str, ...], start: dt.date
) -> None:
    """Claim i: resident R{i % residents}, day start + i, icd10[i % len], fund_paid i."""
    with store.begin() as conn:
        conn.execute(
            insert(Claim),
            [
                {
                    "claim_id": f"C{i:03d}",
                    "resident_id": f"R{i % residents}",
                    "visit_date": start + dt.timedelta(days=i),
                    "in_county": bool(i % 2),
                    "visit_type": "outpatient",
                    "icd10": icd10[i % len(icd10)],
                    "fund_paid": float(i),
                }
                for i in range(n)
            ],
        )


def test_frames_in_two_steps_equal_one_read(store: Engine) -> None:
    # Both backends: the claims come second (a child process reads them meanwhile on SQLite).
    _insert_claims(store, 40, residents=3, icd10=("E11",), start=dt.date(2026, 1, 1))
    whole = read_frames(store, ["claims", "areas", "residents"])
    first, rest = read_frames_in_two(store, ["claims", "areas", "residents"], later=["claims"])
    assert list(first) == ["areas", "residents"]
    second = rest()
    assert list(second) == ["claims"] and len(second["claims"]) == 40
    for name, frame in {**first, **second}.items():
        pd.testing.assert_frame_equal(frame, whole[name])


def test_a_filtered_read_started_early_equals_read_frame(store: Engine) -> None:
    # Both backends; on a SQLite file a child process reads it (start_frame). The where
    # names its marks out of the params' order and uses one twice: the child binds by
    # position, so the mapping of names to positions is what is tested.
    _insert_claims(store, 30, residents=4, icd10=("I10", "E11.9", "J11"), start=dt.date(2026, 3, 1))
    where = (
        "visit_date >= {since} AND visit_date < {until} AND icd10 >= {lo} AND icd10 < {hi}"
        " AND resident_id <> {nobody} AND visit_date <> {until}"
    )
    params = {
        "lo": "E",
        "hi": "J",
        "nobody": "R0",
        "until": dt.date(2026, 3, 21),
        "since": dt.date(2026, 3, 5),
    }
    started = start_frame(store, "claims", where=where, params=params)
    here = read_frame(store, "claims", where=where, params=params)
    frame = started()
    pd.testing.assert_frame_equal(frame, here)
    # By hand: days 4..19 (Mar 5..Mar 20), icd E11.9 or I10 (i % 3 != 2), i % 4 != 0:
    # 6, 7, 9, 10, 13, 15, 18, 19.
    assert sorted(frame["fund_paid"]) == [6.0, 7.0, 9.0, 10.0, 13.0, 15.0, 18.0, 19.0]
    assert frame["visit_date"].dtype == "datetime64[ns]"


@pytest.mark.parametrize(
    "value",
    [
        dt.date(2026, 3, 5),
        dt.datetime(2026, 3, 5, 7, 30, 1, 250),
        dt.datetime(2026, 3, 5, 7, 30, tzinfo=dt.UTC),
        "R0",
        7,
        1.5,
    ],
)
def test_the_child_is_handed_values_as_sqlite3_binds_them(value: object) -> None:
    # start_frame's child binds text where read_frame's sqlite3 binds Python values; the
    # text must be what sqlite3 itself makes of them (a datetime with a space, not a "T").
    bound = sqlite3.connect(":memory:").execute("SELECT ?", (value,)).fetchone()[0]
    assert _as_sqlite_binds(value) == bound


def test_a_few_rows_read_by_cursor_equal_the_bulk_read(store: Engine) -> None:
    # PostgreSQL reads a handful of rows through a cursor (typed values) instead of COPY
    # (text): the frames must not differ. On SQLite both are the cursor read.
    _insert_claims(store, 12, residents=3, icd10=("I10", "E11.9"), start=dt.date(2026, 2, 1))
    where = "resident_id IN ({a}, {b}) AND visit_date >= {since}"
    params = {"a": "R1", "b": "R2", "since": dt.date(2026, 2, 3)}
    bulk = read_frame(store, "claims", where=where, params=params)
    few = read_frame(store, "claims", where=where, params=params, few_rows=True)
    pd.testing.assert_frame_equal(few, bulk)
    # R1 and R2 of residents R0..R2 in turn (i % 3), from day 2 (Feb 3) on: i = 2, 4, 5, 7,
    # 8, 10, 11.
    assert sorted(few["fund_paid"]) == [2.0, 4.0, 5.0, 7.0, 8.0, 10.0, 11.0]
    assert few["visit_date"].dtype == "datetime64[ns]" and few["in_county"].dtype == "boolean"
    nobody = {"a": "R9", "b": "R8", "since": dt.date(2026, 2, 3)}
    empty_bulk = read_frame(store, "claims", where=where, params=nobody)
    empty_few = read_frame(store, "claims", where=where, params=nobody, few_rows=True)
    pd.testing.assert_frame_equal(empty_few, empty_bulk)
