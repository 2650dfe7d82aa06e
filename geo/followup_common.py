"""What the follow-up modules share: task codes and colours, task columns, column helpers.

Task codes, colours and disease labels come from :mod:`geo.vocabulary`; dates are float
day numbers (NaN = missing) and a patient × disease is the integer ``pair = code * 2 +
disease`` (see :mod:`geo.followup`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from geo.ids import normalise_ids
from geo.rules import (
    DISEASES,
    RulesConfig,
)
from geo.vocabulary import (
    DISEASE_TERMS,
    SUSPECTED_UNMANAGED,
    TASK_CODES,
    TASK_COLOUR,
    TASK_ORDER,
    labels,
)

#: Task codes (precedence order, then case finding), base colours, colour order and disease
#: labels: the ones of :mod:`geo.vocabulary`, named here as the rules engine uses them.
_ALL_CODES = np.asarray(TASK_CODES, dtype=object)
#: Rule numbers: a task's index in ``TASK_CODES`` (the precedence order, then case finding).
_K_EMERGENCY, _K_REFERRAL, _K_DISCHARGE, _K_UNCONTROLLED, _K_FIRST, _K_ROUTINE = range(
    len(TASK_ORDER)
)
_K_SUSPECTED = TASK_CODES.index(SUSPECTED_UNMANAGED)

#: Chinese label of each disease (the reasons and the list say 高血压, 2型糖尿病).
DISEASE_ZH: dict[str, str] = labels(DISEASE_TERMS, "zh")

TASK_COLUMNS: list[str] = [
    "resident_id",
    "disease",
    "task_code",
    "colour",
    "due_date",
    "days_overdue",
    "event_date",
    "team_id",
    "grid_id",
    "last_visit_date",
    "last_sbp",
    "last_dbp",
    "last_glucose",
    "last_classification",
    "risk_score",
    "reason_zh",
]

_KEYS = ["resident_id", "disease"]
_DIS = np.asarray(DISEASES, dtype=object)
# Task keys pack (pair, rule, due day) into one int64 so dismissals are a np.isin.
_DAY_BITS = 21
_DAY_OFFSET = 1 << 20


# --------------------------------------------------------------------------------------
# Column helpers
# --------------------------------------------------------------------------------------
def _col(df: pd.DataFrame, name: str, default: Any = np.nan) -> pd.Series:
    """A column, or a Series of ``default`` when the frame lacks it (optional fields)."""
    if name in df.columns:
        return df[name]
    return pd.Series(default, index=df.index)


def _id_array(s: pd.Series) -> np.ndarray:
    """Ids as an object array with missing as NaN (for ``fillna`` fallbacks)."""
    return normalise_ids(s).to_numpy(dtype=object, na_value=np.nan)


def _local_dates(s: pd.Series, tz: str) -> pd.Series:
    """Local calendar dates as naive midnight ``datetime64[ns]``.

    Timezone-aware values are converted to ``tz`` first; naive values already are local
    (the frames convention for dates and the data contract's for timestamps).
    """
    out = pd.to_datetime(s, errors="coerce")
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_convert(tz).dt.tz_localize(None)
    return out.dt.normalize().astype("datetime64[ns]")


def _days(s: pd.Series, tz: str) -> np.ndarray:
    """Local day numbers (days since 1970-01-01) as float, NaN where missing."""
    v = _local_dates(s, tz).to_numpy()
    out = v.astype("datetime64[D]").astype("int64").astype("float64")
    out[np.isnat(v)] = np.nan
    return out


def _instants(s: pd.Series, tz: str) -> np.ndarray:
    """Absolute instants as int64 ns since the epoch (UTC); missing = int64 min.

    Naive values are local wall-clock times (data contract: "local time Asia/Shanghai
    when no offset is given").
    """
    out = pd.to_datetime(s, errors="coerce")
    if not isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    v = out.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    return v.astype("int64")  # NaT is int64 min


_NO_INSTANT = np.iinfo(np.int64).min


def _to_dates(days: np.ndarray) -> np.ndarray:
    """Float day numbers back to ``datetime64[ns]`` (NaN → NaT)."""
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = ~np.isnan(days)
    out[ok] = days[ok].astype("int64").astype("datetime64[D]")
    return out


def _date_strs(days: np.ndarray) -> pd.Series:
    """``YYYY-MM-DD`` strings of day numbers (empty where missing)."""
    out = np.full(len(days), "", dtype=object)
    ok = ~np.isnan(days)
    out[ok] = np.datetime_as_string(days[ok].astype("int64").astype("datetime64[D]"))
    return pd.Series(out, dtype=object)


def _num_strs(values: np.ndarray, decimals: int) -> pd.Series:
    """Rounded numbers as strings: ``186`` for mmHg, ``18.2`` for mmol/L."""
    r = pd.Series(np.round(values, decimals))
    return (r.astype("Int64") if decimals == 0 else r).astype("str").astype(object)


def _task_keys(pair: np.ndarray, k: np.ndarray | int, due: np.ndarray) -> np.ndarray:
    """Pack (pair, rule index, due day) into int64 (due must not be NaN)."""
    return ((pair.astype(np.int64) * 8 + k) << _DAY_BITS) + (due.astype(np.int64) + _DAY_OFFSET)


def _first_per_pair(pair: np.ndarray, *sort_keys: np.ndarray) -> np.ndarray:
    """Positions of the first row of each pair when sorted by ``sort_keys`` (ascending)."""
    if len(pair) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((*reversed(sort_keys), pair))
    sp = pair[order]
    return order[np.r_[True, sp[1:] != sp[:-1]]]


def _empty_tasks() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="object") for c in TASK_COLUMNS})
    for c in ("due_date", "event_date", "last_visit_date"):
        out[c] = out[c].astype("datetime64[ns]")
    for c in ("last_sbp", "last_dbp", "last_glucose", "risk_score"):
        out[c] = out[c].astype("float64")
    out["days_overdue"] = out["days_overdue"].astype("int64")
    return out


def _disease_index(s: pd.Series) -> np.ndarray:
    """0 for htn, 1 for t2dm, -1 otherwise."""
    v = s.astype("str")
    out = np.full(len(v), -1, dtype=np.int64)
    for j, dis in enumerate(DISEASES):
        out[(v == dis).to_numpy(dtype=bool, na_value=False)] = j
    return out


def _num_col(df: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(_col(df, name), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _colours(code: pd.Series, days_overdue: pd.Series, config: RulesConfig) -> np.ndarray:
    """Task colour with the turn of long-overdue routine tasks to yellow."""
    base = code.map(TASK_COLOUR).to_numpy(dtype=object)
    turn = (code == "routine_followup").to_numpy() & (
        days_overdue.to_numpy() > config.followup.routine_overdue_yellow_days
    )
    return np.where(turn, "yellow", base)
