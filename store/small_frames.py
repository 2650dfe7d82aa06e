"""The canonical form of a frame of a few rows, built value by value.

``store.frames`` makes every column canonical with pandas' vectorised conversions: the
right thing for a county's million rows, but each conversion has a fixed cost of tens of
microseconds, and a frame is ~20 columns times two or three conversions. The push list's
splice after a live write reads one resident's rows from seven tables: 30 ms of a 70 ms
splice went there. For a few rows, converting the Python values one by one and building
each column once with its final dtype gives the same frame in a fraction of the time.

:func:`small_canonical` must equal ``store.frames._canonical`` on every input it takes
(``tests/store/test_small_frames.py`` compares them); the kinds it does not convert
(timestamps, booleans) go the vectorised way, column by column.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

#: Frames of at most this many rows take the value-by-value path.
SMALL_ROWS = 256

# What pandas reads with format "%Y-%m-%d": month and day may have one digit.
_ISO_DAY = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
# pandas' nanosecond range (1677-09-21 … 2262-04-11), whole years inside it; a date in
# the two partial years is read as missing here, which no store date is.
_FIRST_YEAR, _LAST_YEAR = 1678, 2261
_NAT = np.datetime64("NaT", "ns")


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _day(value: Any) -> np.datetime64:
    """A stored date (ISO text, possibly with a time after it, or a date) as a day."""
    if _missing(value) or value is pd.NaT:
        return _NAT
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    match = _ISO_DAY.fullmatch(text[:10])
    if match is None:
        return _NAT
    year, month, day = (int(g) for g in match.groups())
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        return _NAT
    try:
        return np.datetime64(dt.date(year, month, day), "ns")
    except ValueError:  # 2026-02-30 and the like
        return _NAT


def _number(value: Any) -> float:
    if _missing(value):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _text(value: Any) -> str | None:
    return None if _missing(value) else str(value)


_CONVERT: dict[str, tuple[Callable[[Any], Any], Callable[[list[Any]], Any]]] = {
    "date": (_day, lambda values: np.array(values, dtype="datetime64[ns]")),
    "number": (_number, lambda values: np.array(values, dtype="float64")),
    "string": (_text, lambda values: pd.array(values, dtype="string")),
}


def small_canonical(
    frame: pd.DataFrame,
    kinds: dict[str, str],
    otherwise: Callable[[pd.Series, str], pd.Series | None],
) -> pd.DataFrame:
    """``frame`` in canonical form, built column by column (``kinds``: column → date,
    number, string, ...); a column of another kind is converted by ``otherwise(column,
    kind)`` (None: it is canonical already)."""
    data: dict[str, Any] = {}
    for col in frame.columns:
        kind = kinds[col]
        if kind in _CONVERT:
            convert, build = _CONVERT[kind]
            data[col] = build([convert(v) for v in frame[col].tolist()])
        else:
            converted = otherwise(frame[col], kind)
            data[col] = frame[col] if converted is None else converted
    return pd.DataFrame(data, index=frame.index)
