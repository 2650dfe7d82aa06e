"""The team push list of a day and the entries a doctor sees (RULES.md "Follow-up tasks").

:func:`push_list` orders one team's open tasks; :func:`push_list_entries` adds the
resident fields, masked outside the team's own view (:func:`mask_name`,
:func:`mask_phone`).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from geo.followup_common import (
    _col,
    _colours,
)
from geo.ids import normalise_ids
from geo.rules import (
    DEFAULT_RULES,
    RulesConfig,
    age_on,
)
from geo.vocabulary import COLOUR_RANK


# --------------------------------------------------------------------------------------
# Push list
# --------------------------------------------------------------------------------------
def _risk_for(tasks: pd.DataFrame, risk: pd.Series | None) -> pd.Series:
    """Risk per task row: the given scores, the fallback where a pair has none."""
    fallback = (
        tasks["risk_score"].astype("float64")
        if "risk_score" in tasks.columns
        else pd.Series(0.0, index=tasks.index)
    )
    if risk is None:
        return fallback
    if isinstance(risk.index, pd.MultiIndex):
        flat = pd.Series(
            risk.to_numpy(),
            index=risk.index.get_level_values(0).astype("str")
            + "\x1f"
            + risk.index.get_level_values(1).astype("str"),
        )
        flat = flat[~flat.index.duplicated(keep="last")]
        key = tasks["resident_id"].astype("str") + "\x1f" + tasks["disease"].astype("str")
        got = key.map(flat)
    else:
        got = tasks["resident_id"].map(risk[~risk.index.duplicated(keep="last")])
    return pd.Series(got.to_numpy(dtype="float64", na_value=np.nan), index=tasks.index).fillna(
        fallback
    )


def push_list(
    tasks: pd.DataFrame,
    as_of: dt.date,
    *,
    team_id: str | None = None,
    risk: pd.Series | None = None,
    config: RulesConfig = DEFAULT_RULES,
) -> pd.DataFrame:
    """The ordered push list of team ``team_id`` on day ``as_of``.

    Keeps the open tasks (from :func:`open_tasks`) of the team's patients whose due date is
    ``<= D``; recomputes ``days_overdue = D − due`` and the colour (a routine task overdue
    by more than ``config.followup.routine_overdue_yellow_days`` = 30 days turns yellow).
    Order: colour (red, yellow, green), risk score descending, days_overdue descending,
    resident_id (then disease and task_code, for a total order).

    Parameters
    ----------
    tasks : DataFrame
        Output of :func:`open_tasks`.
    as_of : date
        The day ``D``.
    team_id : str, optional
        The team; ``None`` keeps every team (county or town overview).
    risk : Series, optional
        Model risk scores indexed by (resident_id, disease) or by resident_id. Tasks
        without a model score (and every task when ``risk`` is None) use the fallback score
        already in ``tasks["risk_score"]`` — a model that cannot score a patient should
        not push them to the bottom of the list.
    config : RulesConfig

    Returns
    -------
    DataFrame
        The ``tasks`` columns, with ``risk_score``, ``days_overdue`` and ``colour``
        as used for ordering, in list order with a fresh index.
    """
    d = pd.Timestamp(as_of).normalize()
    due = pd.to_datetime(tasks["due_date"])
    keep = due <= d
    if team_id is not None:
        keep &= tasks["team_id"] == team_id
    t = tasks.loc[keep].copy()
    t["risk_score"] = _risk_for(t, risk)
    t["days_overdue"] = (d - due.loc[keep]).dt.days.astype("int64")
    t["colour"] = _colours(t["task_code"], t["days_overdue"], config)
    return in_list_order(t)


def in_list_order(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s rows in push-list order, with a fresh index.

    Colour (red, yellow, green), risk score descending, days_overdue descending,
    resident_id, disease, task_code: a total order, so a list spliced from parts comes out
    as the list computed whole.

    Parameters
    ----------
    frame : DataFrame
        Rows with colour, risk_score, days_overdue, resident_id, disease and task_code.

    Returns
    -------
    DataFrame
    """
    t = frame.assign(_colour_rank=frame["colour"].map(COLOUR_RANK))
    t = t.sort_values(
        ["_colour_rank", "risk_score", "days_overdue", "resident_id", "disease", "task_code"],
        ascending=[True, False, False, True, True, True],
        kind="stable",
        ignore_index=True,
    )
    return t.drop(columns="_colour_rank")


# --------------------------------------------------------------------------------------
# Masking and list entries
# --------------------------------------------------------------------------------------
def mask_name(name: str) -> str:
    """Mask a name: first character, then one ``*`` per remaining character.

    ``张三`` → ``张*``, ``欧阳娜娜`` → ``欧***``. A one-character name still gets one ``*``
    so that no name is ever shown whole. Surrounding whitespace is dropped.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
    """
    s = name.strip()
    if not s:
        return s
    return s[0] + "*" * max(len(s) - 1, 1)


def mask_phone(phone: str | int) -> str:
    """Mask a phone number, keeping the first 3 and last 4 characters: ``138****1234``.

    Numbers of 8 or more characters keep their first 3 and last 4; shorter ones only their
    last 2 (2 characters or fewer are fully masked).

    Parameters
    ----------
    phone : str or int

    Returns
    -------
    str
    """
    s = str(phone).strip()
    n = len(s)
    if n >= 8:
        return s[:3] + "*" * (n - 7) + s[-4:]
    if n > 2:
        return "*" * (n - 2) + s[-2:]
    return "*" * n


def _stars(n: pd.Series) -> pd.Series:
    """Strings of ``n`` asterisks (vectorised through a lookup table)."""
    counts = n.clip(lower=0).to_numpy(dtype=np.int64)
    table = np.array(["*" * i for i in range(int(counts.max(initial=0)) + 1)], dtype=object)
    return pd.Series(table[counts], index=n.index, dtype=object)


def mask_names(names: pd.Series) -> pd.Series:
    """Vectorised :func:`mask_name` (missing and empty names stay as they are)."""
    s = names.astype("str").str.strip()
    n = s.str.len().fillna(0).astype("int64")
    out = s.str[:1].astype(object) + _stars((n - 1).clip(lower=1))
    return pd.Series(np.where(n > 0, out, s), index=s.index, dtype="str")


def mask_phones(phones: pd.Series) -> pd.Series:
    """Vectorised :func:`mask_phone` (missing stays missing)."""
    s = phones.astype("str").str.strip()
    n = s.str.len().fillna(0).astype("int64")
    head, tail4, tail2 = (
        s.str[:3].astype(object),
        s.str[-4:].astype(object),
        s.str[-2:].astype(object),
    )
    long_ = head + _stars(n - 7) + tail4
    mid = _stars(n - 2) + tail2
    out = np.where(n >= 8, long_, np.where(n > 2, mid, _stars(n)))
    return pd.Series(np.where(s.isna(), s, out), index=s.index, dtype="str")


ENTRY_COLUMNS: list[str] = [
    "resident_id",
    "name",
    "phone",
    "age",
    "sex",
    "disease",
    "task_code",
    "colour",
    "due_date",
    "days_overdue",
    "last_visit_date",
    "last_sbp",
    "last_dbp",
    "last_glucose",
    "last_classification",
    "risk_score",
    "lat",
    "lng",
    "grid_id",
    "team_id",
    "reason_zh",
]


def push_list_entries(
    tasks: pd.DataFrame,
    residents: pd.DataFrame,
    risk: pd.Series | None,
    as_of: dt.date,
    team_id: str | None,
    masked: bool = True,
    *,
    config: RulesConfig = DEFAULT_RULES,
) -> pd.DataFrame:
    """Push-list entries with the fields RULES.md names, in list order.

    Parameters
    ----------
    tasks : DataFrame
        Output of :func:`open_tasks`.
    residents : DataFrame
        Canonical residents frame (name, phone, sex, birth_date, lat, lng).
    risk : Series or None
        As in :func:`push_list`.
    as_of : date
        The day ``D``; ``age`` is the age in completed years on ``D``.
    team_id : str or None
        As in :func:`push_list`.
    masked : bool, default True
        Mask name and phone (:func:`mask_names`, :func:`mask_phones`). RULES.md has the
        entries carry masked values; only the team's own view should pass ``False``.
    config : RulesConfig

    Returns
    -------
    DataFrame
        Columns :data:`ENTRY_COLUMNS`; ``lat``/``lng`` are the household location.
    """
    pl = push_list(tasks, as_of, team_id=team_id, risk=risk, config=config)
    fields = ["name", "phone", "birth_date", "sex", "lat", "lng"]
    res = pd.DataFrame({c: _col(residents, c, pd.NA) for c in fields})
    res.insert(0, "resident_id", normalise_ids(residents["resident_id"]))
    res = res.drop_duplicates("resident_id", keep="last")
    out = pl.drop(columns=[c for c in fields if c in pl.columns])
    out = out.merge(res, on="resident_id", how="left", sort=False)
    out["age"] = age_on(out["birth_date"], as_of).to_numpy()
    for c in ("lat", "lng"):
        out[c] = pd.to_numeric(out[c], errors="coerce")
    if masked:
        out["name"] = mask_names(out["name"])
        out["phone"] = mask_phones(out["phone"])
    return out.reindex(columns=ENTRY_COLUMNS)
