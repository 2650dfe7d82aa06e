"""Hand-built rows for the tests of geo.followup (test_followup*.py): a plain active htn
patient R1 managed by team T1 unless a row says otherwise; D = 2026-11-23."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from geo.followup import (
    open_tasks,
)

D = dt.date(2026, 11, 23)
TS = pd.Timestamp


# --------------------------------------------------------------------------------------
# Fixture builders: defaults make a plain active htn patient managed by team T1
# --------------------------------------------------------------------------------------
def residents(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {
        "name": "张三",
        "sex": 1,
        "birth_date": "1960-05-05",
        "grid_id": "G1",
        "lat": 36.88,
        "lng": 118.74,
        "phone": "13812341234",
        "signed_team_id": "T_SIGNED",
        "status": "active",
    }
    df = pd.DataFrame([{**base, **r} for r in rows])
    df["birth_date"] = pd.to_datetime(df["birth_date"])
    return df


def registry(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {
        "disease": "htn",
        "enrolled_date": "2025-01-01",
        "team_id": "T1",
        "closed_date": None,
    }
    df = pd.DataFrame([{**base, **r} for r in rows])
    for c in ("enrolled_date", "closed_date"):
        df[c] = pd.to_datetime(df[c])
    return df


def followups(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {
        "disease": "htn",
        "sbp": 130.0,
        "dbp": 80.0,
        "fasting_glucose": np.nan,
        "adverse_reaction": False,
        "classification": "satisfactory",
        "referred": False,
        "next_visit_date": None,
    }
    df = pd.DataFrame([{"followup_id": f"F{i}", **base, **r} for i, r in enumerate(rows)])
    if df.empty:
        df = pd.DataFrame(columns=["followup_id", "resident_id", "visit_date", *base])
    for c in ("visit_date", "next_visit_date"):
        df[c] = pd.to_datetime(df[c])
    return df


def measurements(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {"sbp": 130.0, "dbp": 80.0, "glucose": np.nan, "glucose_type": None}
    df = pd.DataFrame([{"measurement_id": f"M{i}", **base, **r} for i, r in enumerate(rows)])
    if df.empty:
        df = pd.DataFrame(columns=["measurement_id", "resident_id", "measured_at", *base])
    df["measured_at"] = pd.to_datetime(df["measured_at"], utc=True)
    return df


def claims(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {"visit_type": "outpatient", "icd10": "I10", "discharge_date": None}
    df = pd.DataFrame([{"claim_id": f"C{i}", **base, **r} for i, r in enumerate(rows)])
    if df.empty:
        df = pd.DataFrame(columns=["claim_id", "resident_id", "visit_date", *base])
    for c in ("visit_date", "discharge_date"):
        df[c] = pd.to_datetime(df[c])
    return df


GRIDS = pd.DataFrame({"grid_id": ["G1", "G2"], "team_id": ["T_GRID", "T_GRID2"]})


def run(
    res: pd.DataFrame,
    reg: pd.DataFrame | None = None,
    fu: pd.DataFrame | None = None,
    ms: pd.DataFrame | None = None,
    cl: pd.DataFrame | None = None,
    dis: pd.DataFrame | None = None,
    as_of: dt.date = D,
) -> pd.DataFrame:
    return open_tasks(
        as_of,
        residents=res,
        registry=reg if reg is not None else registry(),
        followups=fu if fu is not None else followups(),
        measurements=ms if ms is not None else measurements(),
        claims=cl if cl is not None else claims(),
        grids=GRIDS,
        dismissals=dis,
    )


def one(tasks: pd.DataFrame, rid: str = "R1", disease: str = "htn") -> dict[str, Any]:
    sel = tasks.loc[(tasks["resident_id"] == rid) & (tasks["disease"] == disease)]
    assert len(sel) == 1, f"expected one task for {rid}/{disease}, got {len(sel)}"
    return sel.iloc[0].to_dict()


def none_for(tasks: pd.DataFrame, rid: str = "R1") -> bool:
    return not (tasks["resident_id"] == rid).any()


R1 = residents({"resident_id": "R1"})
REG1 = registry({"resident_id": "R1"})
#: Two unsatisfactory visits in a row (the referral rule).
BAD2 = followups(
    {"resident_id": "R1", "visit_date": "2026-10-01", "classification": "unsatisfactory"},
    {"resident_id": "R1", "visit_date": "2026-11-01", "classification": "unsatisfactory"},
)
