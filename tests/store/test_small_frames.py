"""A few rows made canonical value by value equal the vectorised conversion, exactly.

Every table's columns, each filled with the awkward values of its kind (missing in all
its forms, text in a number column, dates with times, impossible days). Days outside
pandas' nanosecond range are not compared: the vectorised path raises on them (the
ingest keeps them out of the store); the value-by-value path reads them as missing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from store.frames import FRAME_COLUMNS, _canonical_column, _kind
from store.small_frames import small_canonical

AWKWARD: dict[str, list[Any]] = {
    "date": [
        "2026-11-15",
        "2026-11-15 08:30:00",
        "2026-11-15T08:30:00+08:00",
        dt.date(2026, 1, 2),
        None,
        float("nan"),
        "",
        "garbage",
        "2026-02-30",
        "20261115",
        "2026-1-5",
        "2026-1-5 08:00",
        "2026-11-5",
        "1900-01-01",
        "2199-12-31",
    ],
    "number": [1, 2.5, "3", " 4 ", "1e3", "x", "", None, float("nan"), pd.NA, -0.0, 10**12, "inf"],
    "string": [
        "a",
        "张三",
        "",
        5,
        2.5,
        None,
        float("nan"),
        pd.NA,
        "370783001000",
        "a",
        "b",
        "c",
        "d",
    ],
    "timestamp": [
        "2026-11-15 08:30:00",
        "2026-11-15T08:30:00+08:00",
        None,
        "garbage",
        "2026-11-15 00:00:00.123456",
        None,
        "2026-11-16 01:00:00",
        "2026-11-17 01:00:00",
        "2026-11-18 01:00:00",
        "2026-11-19 01:00:00",
        "2026-11-20 01:00:00",
        "2026-11-21 01:00:00",
        "2026-11-22 01:00:00",
    ],
    "bool": [1, 0, None, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0],
}
ROWS = max(len(v) for v in AWKWARD.values())


def _column(kind: str) -> pd.Series:
    values = AWKWARD[kind]
    return pd.Series([values[i % len(values)] for i in range(ROWS)], dtype=object)


def _vectorised(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    for col in frame.columns:
        converted = _canonical_column(frame[col], kinds[col])
        if converted is not None:
            frame[col] = converted
    return frame


@pytest.mark.parametrize("table", sorted(FRAME_COLUMNS))
def test_value_by_value_equals_vectorised(table: str) -> None:
    columns = FRAME_COLUMNS[table]
    kinds = {c: _kind(table, c) for c in columns}
    raw = pd.DataFrame({c: _column(kinds[c]) for c in columns})
    got = small_canonical(raw.copy(), kinds, _canonical_column)
    want = _vectorised(raw.copy(), kinds)
    pd.testing.assert_frame_equal(got, want)


def test_arrow_read_text_columns_and_typed_columns_too() -> None:
    """PostgreSQL's frames arrive as Arrow strings (missing: NA); SQLite's as Python values
    with numbers typed (int64 and float64 columns)."""
    kinds = {"d": "date", "n": "number", "s": "string", "i": "number"}
    raw = pd.DataFrame(
        {
            "d": pd.array(["2026-11-15", None, "2026-02-30"], dtype="string[pyarrow]"),
            "n": pd.array(["1.5", None, "x"], dtype="string[pyarrow]"),
            "s": pd.array(["a", None, "c"], dtype="string[pyarrow]"),
            "i": pd.Series([1, 2, 3], dtype="int64"),
        }
    )
    got = small_canonical(raw.copy(), kinds, _canonical_column)
    pd.testing.assert_frame_equal(got, _vectorised(raw.copy(), kinds))
