"""service.shaping.records: frames to JSON-ready rows, one column at a time."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from service.shaping import clean, records


def _cell_by_cell(frame: pd.DataFrame, date_columns: tuple[str, ...]) -> list[dict[str, object]]:
    # What records() did before it went by column: every boxed cell through clean().
    out = []
    for row in frame.to_dict("records"):
        item = {}
        for key, value in row.items():
            v = clean(value)
            if key in date_columns and isinstance(v, dt.datetime):
                v = v.date()
            item[str(key)] = v
        out.append(item)
    return out


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "f": [1.0, np.nan, 3.5],
            "i": [1, 2, 3],
            "o": ["x", None, "z"],
            "d": pd.to_datetime(["2026-01-01", None, "2026-03-04 10:00"], format="ISO8601"),
            "s": pd.array(["p", pd.NA, "q"], dtype="string"),
            "b": [True, False, True],
            "ni": pd.array([1, None, 3], dtype="Int64"),
            "tz": pd.to_datetime(["2026-01-01", None, "2026-03-04"]).tz_localize("UTC"),
            "od": [dt.date(2026, 1, 1), None, float("nan")],
            "nf": pd.array([1.5, None, 2.0], dtype="Float64"),
            "c": pd.Categorical(["a", None, "b"]),
        }
    )


@pytest.mark.parametrize("dates", [(), ("d",), ("d", "tz", "od")])
def test_records_equal_the_cell_by_cell_conversion(
    mixed_frame: pd.DataFrame, dates: tuple[str, ...]
) -> None:
    got = records(mixed_frame, dates)
    want = _cell_by_cell(mixed_frame, dates)
    typed = [[(k, repr(v), type(v)) for k, v in r.items()] for r in got]
    assert typed == [[(k, repr(v), type(v)) for k, v in r.items()] for r in want]


def test_records_values_by_hand(mixed_frame: pd.DataFrame) -> None:
    rows = records(mixed_frame, ["d"])
    assert rows[0]["d"] == dt.date(2026, 1, 1) and type(rows[0]["d"]) is dt.date
    assert rows[2]["d"] == dt.date(2026, 3, 4)  # 10:00 cut to the day
    assert rows[1] == dict.fromkeys(mixed_frame.columns, None) | {"i": 2, "b": False}
    assert type(rows[0]["i"]) is int and type(rows[0]["f"]) is float
    assert rows[2]["tz"] == dt.datetime(2026, 3, 4, tzinfo=dt.UTC)
    assert not any(isinstance(v, float) and math.isnan(v) for r in rows for v in r.values())


def test_records_of_an_empty_frame(mixed_frame: pd.DataFrame) -> None:
    assert records(mixed_frame.iloc[:0]) == []
