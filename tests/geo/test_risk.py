"""Tests of geo.risk.fallback_risk: share of the last four visits not satisfactory.

Expected values are worked out by hand from RULES.md ("Risk score").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

from geo.risk import fallback_risk, order_and_rank

D = dt.date(2026, 11, 23)


def visits(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {
        "resident_id": "R1",
        "disease": "htn",
        "sbp": 130.0,
        "dbp": 80.0,
        "fasting_glucose": np.nan,
        "adverse_reaction": False,
        "classification": "satisfactory",
    }
    df = pd.DataFrame([{"followup_id": f"F{i}", **base, **r} for i, r in enumerate(rows)])
    df["visit_date"] = pd.to_datetime(df["visit_date"])
    return df


def test_share_of_last_four() -> None:
    fu = visits(
        {"visit_date": "2026-01-01", "classification": "unsatisfactory"},  # 5th from last
        {"visit_date": "2026-03-01", "classification": "adverse"},
        {"visit_date": "2026-05-01"},
        {"visit_date": "2026-07-01", "classification": "complication"},
        {"visit_date": "2026-09-01", "classification": "unsatisfactory"},
        {"visit_date": "2026-11-24", "classification": "satisfactory"},  # after D
    )
    # Last four up to D: adverse, satisfactory, complication, unsatisfactory → 3/4.
    assert fallback_risk(fu, D).loc[("R1", "htn")] == pytest.approx(0.75)


def test_fewer_than_four_visits_and_diseases_apart() -> None:
    fu = visits(
        {"visit_date": "2026-05-01", "classification": "unsatisfactory"},
        {"visit_date": "2026-08-01"},
        {"visit_date": "2026-08-01", "disease": "t2dm", "classification": "unsatisfactory"},
    )
    r = fallback_risk(fu, D)
    assert r.loc[("R1", "htn")] == pytest.approx(0.5)
    assert r.loc[("R1", "t2dm")] == pytest.approx(1.0)
    assert list(r.index.names) == ["resident_id", "disease"]


def test_no_visits_scores_zero_with_pairs() -> None:
    fu = visits({"visit_date": "2026-05-01", "classification": "unsatisfactory"})
    pairs = pd.MultiIndex.from_tuples([("R1", "htn"), ("R2", "htn"), ("R1", "t2dm")])
    r = fallback_risk(fu, D, pairs=pairs)
    assert r.to_dict() == {("R1", "htn"): 1.0, ("R2", "htn"): 0.0, ("R1", "t2dm"): 0.0}


def test_same_day_visits_ordered_by_followup_id() -> None:
    # Five visits; the two on 2026-01-01 tie. By followup_id "Fb" is the later, so it is
    # among the last four (satisfactory) and "Fa" (unsatisfactory) is not: 0/4.
    fu = visits(
        {"visit_date": "2026-01-01"},
        {"visit_date": "2026-01-01", "classification": "unsatisfactory"},
        {"visit_date": "2026-03-01"},
        {"visit_date": "2026-05-01"},
        {"visit_date": "2026-07-01"},
    )
    fu["followup_id"] = ["Fb", "Fa", "Fc", "Fd", "Fe"]
    assert fallback_risk(fu, D).loc[("R1", "htn")] == pytest.approx(0.0)
    fu["followup_id"] = ["Fa", "Fb", "Fc", "Fd", "Fe"]
    assert fallback_risk(fu, D).loc[("R1", "htn")] == pytest.approx(0.25)


@pytest.mark.parametrize(("birth", "score"), [("1961-11-10", 0.0), ("1961-11-11", 1.0)])
def test_missing_classification_uses_age_on_visit_date(birth: str, score: float) -> None:
    fu = visits({"visit_date": "2026-11-10", "sbp": 145, "dbp": 85, "classification": None})
    res = pd.DataFrame({"resident_id": ["R1"], "birth_date": pd.to_datetime([birth])})
    assert fallback_risk(fu, D, residents=res).loc[("R1", "htn")] == pytest.approx(score)


def test_order_and_rank() -> None:
    keys = np.array([2, 1, 2, 1, 2])
    days = np.array([10.0, 5.0, 3.0, 7.0, 10.0])
    tiebreak = np.array(["b", "x", "c", "y", "a"], dtype=object)
    order, rank = order_and_rank(keys, days, tiebreak)
    # key 1: rows 1 (day 5), 3 (day 7); key 2: row 2 (day 3), then day 10 "a" (4), "b" (0).
    assert order.tolist() == [1, 3, 2, 4, 0]
    assert rank.tolist() == [1, 0, 2, 1, 0]
