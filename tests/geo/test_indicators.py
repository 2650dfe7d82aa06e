"""Indicator definitions on hand-built fixtures; every expected value is worked by hand.

As-of date D = 2026-06-30 throughout (unless a test says otherwise), so the window W is
2025-07-01 (D-364) … 2026-06-30 and the influenza season is 2025-09-01 … D.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from geo.indicators import (
    INDICATORS,
    LEVELS,
    band_adult_fraction,
    compute_indicators,
    prepare_claims,
    select_population_year,
)
from geo.rules import RulesConfig

D = dt.date(2026, 6, 30)
COUNTY = "370783000000"
T1, T2 = "370783001000", "370783002000"
V11, V12, V21, V22 = "370783001001", "370783001002", "370783002001", "370783002002"
GRID_OF = {V11: "G11", V12: "G12", V21: "G21", V22: "G22"}
TEAM_OF = {"G11": "TA", "G12": "TA", "G21": "TB", "G22": "TB"}
TOWN_OF = {V11: T1, V12: T1, V21: T2, V22: T2}

AREAS = pd.DataFrame(
    {
        "area_code": [COUNTY, T1, T2, V11, V12, V21, V22],
        "name": ["县", "一镇", "二镇", "一村", "二村", "三村", "四村"],
        "level": ["county", "town", "town", "village", "village", "village", "village"],
        "parent_code": [None, COUNTY, COUNTY, T1, T1, T2, T2],
    }
)
GRIDS = pd.DataFrame(
    {
        "grid_id": ["G11", "G12", "G21", "G22"],
        "team_id": ["TA", "TA", "TB", "TB"],
        "village_codes": [[V11], [V12], [V21], [V22]],
        "town_code": [T1, T1, T2, T2],
    }
)


def ts(s: str | None) -> pd.Timestamp:
    return pd.Timestamp(s) if s else pd.NaT


def residents(*rows: dict) -> pd.DataFrame:
    """Residents with defaults: adult, active, village V11, not signed, cells by village."""
    out = []
    for r in rows:
        v = r.get("village", V11)
        out.append(
            {
                "resident_id": r["id"],
                "sex": r.get("sex", 1),
                "birth_date": ts(r.get("birth", "1970-01-01")),
                "area_code": v,
                "town_code": TOWN_OF[v],
                "grid_id": GRID_OF[v],
                "signed_team_id": r.get("signed"),
                "signed_date": ts(r.get("signed_date")),
                "status": r.get("status", "active"),
                "h3_7": r.get("h3_7", "c7-" + v[-4:]),
                "h3_8": r.get("h3_8", "c8-" + v[-4:]),
                "h3_9": r.get("h3_9", "c9-" + v[-4:]),
            }
        )
    df = pd.DataFrame(out)
    df["birth_date"] = pd.to_datetime(df["birth_date"])
    df["signed_date"] = pd.to_datetime(df["signed_date"])
    return df


def registry(*rows: tuple) -> pd.DataFrame:
    """(resident_id, disease, enrolled, closed=None, team=None)."""
    recs = []
    for r in rows:
        rid, dis, enrolled, *rest = r
        closed = rest[0] if rest else None
        team = rest[1] if len(rest) > 1 else None
        recs.append(
            {
                "resident_id": rid,
                "disease": dis,
                "enrolled_date": ts(enrolled),
                "closed_date": ts(closed),
                "team_id": team,
            }
        )
    df = pd.DataFrame(recs)
    df["enrolled_date"] = pd.to_datetime(df["enrolled_date"])
    df["closed_date"] = pd.to_datetime(df["closed_date"])
    return df


def followups(*rows: tuple) -> pd.DataFrame:
    """(resident_id, disease, visit_date, sbp, dbp, glucose)."""
    recs = [
        {
            "followup_id": f"F{i}",
            "resident_id": r[0],
            "disease": r[1],
            "visit_date": pd.Timestamp(r[2]),
            "sbp": r[3],
            "dbp": r[4],
            "fasting_glucose": r[5] if len(r) > 5 else np.nan,
        }
        for i, r in enumerate(rows)
    ]
    df = pd.DataFrame(recs)
    for c in ("sbp", "dbp", "fasting_glucose"):
        df[c] = df[c].astype(float)
    return df


def run(as_of: dt.date = D, **frames) -> pd.DataFrame:
    frames.setdefault("grids", GRIDS)
    frames.setdefault("areas", AREAS)
    return compute_indicators(as_of, **frames)


def get(out: pd.DataFrame, indicator: str, level: str = "county", unit: str = COUNTY):
    row = out[(out.level == level) & (out.unit_id == unit) & (out.indicator == indicator)]
    assert len(row) == 1, (indicator, level, unit, len(row))
    r = row.iloc[0]
    return r.numerator, r.denominator, r.value


# --------------------------------------------------------------------------------------
# Population bands and years
# --------------------------------------------------------------------------------------
def test_band_adult_fraction_rules_convention():
    assert band_adult_fraction("15-19") == (pytest.approx(2 / 5), True)  # ages 18, 19 of 5
    assert band_adult_fraction("20-24") == (1.0, True)
    assert band_adult_fraction("10-14") == (0.0, True)
    assert band_adult_fraction("85+") == (1.0, True)
    assert band_adult_fraction("0-4") == (0.0, True)
    assert band_adult_fraction("unknown")[1] is False


def test_population_year_latest_not_after_d_else_earliest():
    pop = pd.DataFrame({"year": [2024, 2025, 2027]})
    assert select_population_year(pop, dt.date(2026, 6, 30)) == 2025
    assert select_population_year(pop, dt.date(2027, 1, 1)) == 2027
    # Every year after D: the nearest available (2024).
    assert select_population_year(pop, dt.date(2023, 12, 31)) == 2024


def population_rows(area: str, year: int, bands: dict[str, int]) -> list[dict]:
    return [
        {"area_code": area, "year": year, "sex": 1, "age_band": b, "count": c}
        for b, c in bands.items()
    ]


def test_management_rate_from_population_bands():
    # V11 in 2025: 10-14: 40 (0 adults), 15-19: 50 (2/5 -> 20 adults), 20-24: 30, 85+: 10
    # -> adults 60; htn expected 60 × 0.275 = 16.5; t2dm expected 60 × 0.119 = 7.14.
    # The 2024 and 2027 rows must not be used (2025 = latest year <= 2026).
    pop = pd.DataFrame(
        population_rows(V11, 2025, {"10-14": 40, "15-19": 50, "20-24": 30, "85+": 10})
        + population_rows(V11, 2024, {"20-24": 999})
        + population_rows(V11, 2027, {"20-24": 777})
    )
    res = residents({"id": "A"}, {"id": "B"}, {"id": "C"})
    reg = registry(
        ("A", "htn", "2020-01-01"),
        ("B", "htn", "2020-01-01"),
        ("C", "htn", "2020-01-01"),
        ("C", "t2dm", "2020-01-01"),
    )
    out = run(residents=res, registry=reg, population=pop)
    num, den, val = get(out, "htn_management_rate")
    assert (num, den) == (3, pytest.approx(16.5))
    assert val == pytest.approx(3 / 16.5)
    num, den, val = get(out, "t2dm_management_rate")
    assert (num, den) == (1, pytest.approx(7.14))
    # doctors/beds denominators: total population 40 + 50 + 30 + 10 = 130.
    assert get(out, "beds_per_1000")[1] == pytest.approx(130)


def test_management_rate_without_population_uses_active_adults():
    # Adults 18+ on D among active residents: A (1970), B (born 2008-06-30: 18 on D);
    # C born 2008-07-01 is 17; M moved. -> 2 adults; htn expected 2 × 0.275 = 0.55.
    res = residents(
        {"id": "A"},
        {"id": "B", "birth": "2008-06-30"},
        {"id": "C", "birth": "2008-07-01"},
        {"id": "M", "status": "moved"},
    )
    reg = registry(("A", "htn", "2020-01-01"))
    out = run(residents=res, registry=reg)
    num, den, val = get(out, "htn_management_rate")
    assert num == 1
    assert den == pytest.approx(0.55)
    assert val == pytest.approx(1 / 0.55)
    assert get(out, "doctors_per_1000")[1] == 3  # population = 3 active residents


def test_town_population_rows_spread_over_villages_by_active_residents():
    # Town T2 has only a town-level row: 100 people aged 20-24 (adults 100).
    # Active residents: V21 three, V22 one -> V21 gets 75, V22 gets 25.
    pop = pd.DataFrame(
        population_rows(T2, 2025, {"20-24": 100}) + population_rows(V11, 2025, {"20-24": 40})
    )
    res = residents(
        {"id": "a", "village": V21},
        {"id": "b", "village": V21},
        {"id": "c", "village": V21},
        {"id": "d", "village": V22},
        {"id": "e", "village": V11},
    )
    out = run(residents=res, population=pop)
    assert get(out, "beds_per_1000", "village", V21)[1] == pytest.approx(75)
    assert get(out, "beds_per_1000", "village", V22)[1] == pytest.approx(25)
    assert get(out, "beds_per_1000", "town", T2)[1] == pytest.approx(100)
    assert get(out, "beds_per_1000", "county")[1] == pytest.approx(140)  # 100 + 40
    # htn expected in G21: 75 adults × 0.275 = 20.625
    assert get(out, "htn_management_rate", "grid", "G21")[1] == pytest.approx(20.625)


def test_population_allocated_to_cells_by_active_residents():
    # V11 population 100; active residents: 3 in cell x, 1 in cell y; a moved resident in
    # cell z does not count -> x gets 75, y gets 25, z nothing.
    pop = pd.DataFrame(population_rows(V11, 2025, {"20-24": 100}))
    res = residents(
        {"id": "a", "h3_8": "x"},
        {"id": "b", "h3_8": "x"},
        {"id": "c", "h3_8": "x"},
        {"id": "d", "h3_8": "y"},
        {"id": "e", "h3_8": "z", "status": "moved"},
    )
    out = run(residents=res, population=pop, levels=["h3:8"])
    assert get(out, "beds_per_1000", "h3:8", "x")[1] == pytest.approx(75)
    assert get(out, "beds_per_1000", "h3:8", "y")[1] == pytest.approx(25)
    assert get(out, "beds_per_1000", "h3:8", "z")[1] == 0


# --------------------------------------------------------------------------------------
# Managed patients
# --------------------------------------------------------------------------------------
def test_managed_patient_enrolment_closure_and_status():
    res = residents(
        {"id": "open"},
        {"id": "closed_on_d"},
        {"id": "closed_after"},
        {"id": "enrolled_on_d"},
        {"id": "enrolled_after"},
        {"id": "moved", "status": "moved"},
        {"id": "dead", "status": "deceased"},
        {"id": "reenrolled"},
    )
    reg = registry(
        ("open", "htn", "2020-01-01"),
        ("closed_on_d", "htn", "2020-01-01", "2026-06-30"),  # closed_date <= D: out
        ("closed_after", "htn", "2020-01-01", "2026-07-01"),  # closed after D: managed
        ("enrolled_on_d", "htn", "2026-06-30"),  # enrolled_date <= D: in
        ("enrolled_after", "htn", "2026-07-01"),  # out
        ("moved", "htn", "2020-01-01"),  # resident not active: out
        ("dead", "htn", "2020-01-01"),  # out
        ("reenrolled", "htn", "2018-01-01", "2019-01-01"),  # closed row ...
        ("reenrolled", "htn", "2021-01-01"),  # ... and an open one: one patient
        ("ghost", "htn", "2020-01-01"),  # not on file: ignored
    )
    out = run(residents=res, registry=reg)
    # managed: open, closed_after, enrolled_on_d, reenrolled = 4
    assert get(out, "htn_standard_rate")[1] == 4
    assert get(out, "htn_management_rate")[0] == 4


# --------------------------------------------------------------------------------------
# Standard management
# --------------------------------------------------------------------------------------
def test_standard_rate_full_year_needs_four_distinct_visit_dates_in_window():
    res = residents({"id": "four"}, {"id": "edge"}, {"id": "dup"}, {"id": "otherdis"})
    reg = registry(*[(r, "htn", "2020-01-01") for r in ("four", "edge", "dup", "otherdis")])
    fu = followups(
        # four: 4 visits in W -> standard
        ("four", "htn", "2025-08-01", 130, 80),
        ("four", "htn", "2025-11-01", 130, 80),
        ("four", "htn", "2026-02-01", 130, 80),
        ("four", "htn", "2026-05-01", 130, 80),
        # edge: 4 visits, but D-365 (2025-06-30) is outside W; 2025-07-01 (D-364),
        # 2025-12-01, 2026-03-01 are in -> 3 in W -> not standard
        ("edge", "htn", "2025-06-30", 130, 80),
        ("edge", "htn", "2025-07-01", 130, 80),
        ("edge", "htn", "2025-12-01", 130, 80),
        ("edge", "htn", "2026-03-01", 130, 80),
        # dup: 5 forms but two pairs on the same day -> 3 distinct dates -> not standard
        ("dup", "htn", "2025-08-01", 130, 80),
        ("dup", "htn", "2025-08-01", 130, 80),
        ("dup", "htn", "2025-12-01", 130, 80),
        ("dup", "htn", "2025-12-01", 130, 80),
        ("dup", "htn", "2026-03-01", 130, 80),
        # otherdis: 4 t2dm visits do not count for htn; visit after D does not count
        ("otherdis", "t2dm", "2025-08-01", 130, 80, 6.0),
        ("otherdis", "t2dm", "2025-11-01", 130, 80, 6.0),
        ("otherdis", "t2dm", "2026-02-01", 130, 80, 6.0),
        ("otherdis", "htn", "2026-02-01", 130, 80),
        ("otherdis", "htn", "2026-03-01", 130, 80),
        ("otherdis", "htn", "2026-04-01", 130, 80),
        ("otherdis", "htn", "2026-07-01", 130, 80),
    )
    out = run(residents=res, registry=reg, followups=fu)
    assert get(out, "htn_standard_rate")[:2] == (1, 4)  # only "four"


def test_standard_rate_window_start_visit_counts():
    # 4 visits, the first exactly on D-364 = 2025-07-01 -> standard.
    res = residents({"id": "a"})
    reg = registry(("a", "htn", "2020-01-01"))
    fu = followups(
        ("a", "htn", "2025-07-01", 130, 80),
        ("a", "htn", "2025-10-01", 130, 80),
        ("a", "htn", "2026-01-01", 130, 80),
        ("a", "htn", "2026-06-30", 130, 80),
    )
    out = run(residents=res, registry=reg, followups=fu)
    assert get(out, "htn_standard_rate")[:2] == (1, 1)


def test_standard_rate_partial_year_enrolment():
    # Needed visits = ceil(4 × (D - e) / 365):
    #   e100: enrolled 2026-03-22, D - e = 100 -> ceil(400/365) = 2; has 2 -> standard
    #   e100b: same, has 1 -> not standard
    #   e91: 2026-03-31, 91 days -> ceil(364/365) = 1; has 1 -> standard
    #   e92: 2026-03-30, 92 days -> ceil(368/365) = 2; has 1 -> not standard
    #   e0: enrolled on D -> ceil(0) = 0 visits needed -> standard with none
    #   e364: 2025-07-01, 364 days -> ceil(1456/365) = 4; has 3 -> not standard
    #   e365: 2025-06-30, 365 days -> full year rule, 4; has 4 -> standard
    ids = ["e100", "e100b", "e91", "e92", "e0", "e364", "e365"]
    res = residents(*[{"id": i} for i in ids])
    assert (D - dt.date(2026, 3, 22)).days == 100
    assert (D - dt.date(2026, 3, 31)).days == 91
    assert (D - dt.date(2025, 7, 1)).days == 364
    reg = registry(
        ("e100", "htn", "2026-03-22"),
        ("e100b", "htn", "2026-03-22"),
        ("e91", "htn", "2026-03-31"),
        ("e92", "htn", "2026-03-30"),
        ("e0", "htn", "2026-06-30"),
        ("e364", "htn", "2025-07-01"),
        ("e365", "htn", "2025-06-30"),
    )
    v = lambda r, d: (r, "htn", d, 130, 80)  # noqa: E731
    fu = followups(
        v("e100", "2026-04-01"),
        v("e100", "2026-06-01"),
        v("e100b", "2026-04-01"),
        v("e91", "2026-05-01"),
        v("e92", "2026-05-01"),
        v("e364", "2025-08-01"),
        v("e364", "2025-12-01"),
        v("e364", "2026-04-01"),
        v("e365", "2025-08-01"),
        v("e365", "2025-12-01"),
        v("e365", "2026-03-01"),
        v("e365", "2026-06-01"),
    )
    out = run(residents=res, registry=reg, followups=fu, levels=["village"])
    # standard: e100, e91, e0, e365 = 4 of 7
    assert get(out, "htn_standard_rate", "village", V11)[:2] == (4, 7)


# --------------------------------------------------------------------------------------
# Control
# --------------------------------------------------------------------------------------
def test_control_rate_elderly_target_on_visit_date_and_latest_visit():
    # old: born 1961-03-15, 65 on 2026-03-15. Latest visit 2026-03-15 at 145/85:
    #      age 65 -> SBP < 150 and DBP < 90 -> controlled.
    # young_visit: born 1961-03-15 too, latest visit 2026-03-14 (age 64) at 145/85:
    #      < 65 -> SBP must be < 140 -> not controlled (although 65 on D).
    # worse: earlier visit 120/70, latest 2026-05-01 at 140/80 -> 140 not < 140 -> no.
    # better: earlier 160/95, latest 135/85 -> controlled.
    # novisit: last visit 2025-06-30 (outside W) 120/70 -> not controlled.
    # dbp: 130/90 -> DBP not < 90 -> not controlled.
    # nomeasure: latest visit without BP (phone) -> not controlled.
    # sameday: two forms on the latest date, one 130/80, one 145/80 (age 55) -> not.
    ids = ["old", "young_visit", "worse", "better", "novisit", "dbp", "nomeasure", "sameday"]
    births = {"old": "1961-03-15", "young_visit": "1961-03-15"}
    res = residents(*[{"id": i, "birth": births.get(i, "1971-01-01")} for i in ids])
    reg = registry(*[(i, "htn", "2020-01-01") for i in ids])
    fu = followups(
        ("old", "htn", "2026-03-15", 145, 85),
        ("young_visit", "htn", "2026-03-14", 145, 85),
        ("worse", "htn", "2026-01-01", 120, 70),
        ("worse", "htn", "2026-05-01", 140, 80),
        ("better", "htn", "2026-01-01", 160, 95),
        ("better", "htn", "2026-05-01", 135, 85),
        ("novisit", "htn", "2025-06-30", 120, 70),
        ("dbp", "htn", "2026-05-01", 130, 90),
        ("nomeasure", "htn", "2026-01-01", 120, 70),
        ("nomeasure", "htn", "2026-05-01", np.nan, np.nan),
        ("sameday", "htn", "2026-05-01", 130, 80),
        ("sameday", "htn", "2026-05-01", 145, 80),
    )
    out = run(residents=res, registry=reg, followups=fu)
    # controlled: old, better -> 2 of 8
    assert get(out, "htn_control_rate")[:2] == (2, 8)


def test_control_rate_t2dm_fasting_glucose_below_7():
    res = residents({"id": "a"}, {"id": "b"}, {"id": "c"})
    reg = registry(
        ("a", "t2dm", "2020-01-01"), ("b", "t2dm", "2020-01-01"), ("c", "t2dm", "2020-01-01")
    )
    fu = followups(
        ("a", "t2dm", "2026-05-01", 150, 95, 6.9),  # 6.9 < 7.0: controlled
        ("b", "t2dm", "2026-05-01", 120, 70, 7.0),  # 7.0 not < 7.0
        ("c", "htn", "2026-05-01", 120, 70, 5.0),
    )  # htn visit: no t2dm visit
    out = run(residents=res, registry=reg, followups=fu)
    assert get(out, "t2dm_control_rate")[:2] == (1, 3)
    assert get(out, "htn_control_rate")[:2] == (0, 0)
    assert math.isnan(get(out, "htn_control_rate")[2])  # denominator 0 -> NaN


# --------------------------------------------------------------------------------------
# Follow-up overdue
# --------------------------------------------------------------------------------------
def test_followup_overdue_rate_counts_pairs_over_30_days():
    res = residents({"id": "both"}, {"id": "h"}, {"id": "t"}, {"id": "free"})
    reg = registry(
        ("both", "htn", "2020-01-01"),
        ("both", "t2dm", "2020-01-01"),
        ("h", "htn", "2020-01-01"),
        ("t", "t2dm", "2020-01-01"),
    )
    tasks = pd.DataFrame(
        {
            "resident_id": ["both", "both", "h", "t", "free"],
            "disease": ["htn", "t2dm", "htn", "t2dm", "htn"],
            "task_code": [
                "routine_followup",
                "first_followup",
                "routine_followup",
                "uncontrolled_recheck",
                "suspected_unmanaged",
            ],
            "due_date": pd.to_datetime(
                ["2026-05-01", "2026-05-20", "2026-05-31", "2026-05-30", "2026-01-01"]
            ),
            # 60 > 30 yes; 41 yes; 30 is not > 30; 31 yes; "free" is not managed
            "days_overdue": [60, 41, 30, 31, 180],
        }
    )
    out = run(residents=res, registry=reg, open_tasks=tasks)
    # pairs: both-htn, both-t2dm, h-htn, t-t2dm = 4; overdue: both×2, t = 3
    assert get(out, "followup_overdue_rate")[:2] == (3, 4)
    row = out[(out.level == "county") & (out.indicator == "followup_overdue_rate")].iloc[0]
    assert (row.numerator_people, row.denominator_people) == (2, 3)  # both, t / both, h, t
    # Without open_tasks the indicator is not produced.
    assert "followup_overdue_rate" not in set(run(residents=res, registry=reg).indicator)


def test_followup_overdue_days_from_due_date_when_days_overdue_absent():
    res = residents({"id": "a"}, {"id": "b"})
    reg = registry(("a", "htn", "2020-01-01"), ("b", "htn", "2020-01-01"))
    tasks = pd.DataFrame(
        {
            "resident_id": ["a", "b"],
            "disease": ["htn", "htn"],
            "task_code": ["routine_followup"] * 2,
            # D - 2026-05-30 = 31 > 30; D - 2026-05-31 = 30
            "due_date": pd.to_datetime(["2026-05-30", "2026-05-31"]),
        }
    )
    out = run(residents=res, registry=reg, open_tasks=tasks)
    assert get(out, "followup_overdue_rate")[:2] == (1, 2)


# --------------------------------------------------------------------------------------
# Signing, key population, flu vaccination
# --------------------------------------------------------------------------------------
def test_signing_and_key_population_signing():
    res = residents(
        {"id": "s_old", "birth": "1961-06-30", "signed": "TA", "signed_date": "2024-01-01"},
        {"id": "young", "birth": "1961-07-01", "signed": "TA"},  # 64 on D; signed, no date
        {"id": "later", "birth": "1950-01-01", "signed": "TA", "signed_date": "2026-07-01"},
        {"id": "patient", "birth": "1980-01-01"},  # key (managed), not signed
        {"id": "gone", "birth": "1940-01-01", "status": "deceased", "signed": "TA"},
        {"id": "unborn", "birth": "2026-07-15"},  # born after D: not a resident on D
    )
    reg = registry(("patient", "t2dm", "2020-01-01"))
    out = run(residents=res, registry=reg)
    # active: s_old, young, later, patient = 4; signed on D: s_old, young = 2
    assert get(out, "signing_rate")[:2] == (2, 4)
    # key: s_old (65 on D), later (76), patient (managed) = 3; signed: s_old = 1
    assert get(out, "key_pop_signing_rate")[:2] == (1, 3)


@pytest.mark.parametrize(
    ("as_of", "dates", "expected"),
    [
        # season of 2026-06-30 starts 2025-09-01: Aug 31 is last season, Sep 1 counts
        (D, ["2025-08-31"], 0),
        (D, ["2025-09-01"], 1),
        (D, ["2026-07-01"], 0),  # after D
        # on 2026-09-01 a new season starts that day
        (dt.date(2026, 9, 1), ["2026-09-01"], 1),
        (dt.date(2026, 9, 1), ["2026-08-31"], 0),
        (dt.date(2026, 8, 31), ["2026-08-31"], 1),
    ],
)
def test_elderly_flu_vax_season_boundary(as_of, dates, expected):
    res = residents(
        {"id": "old", "birth": "1950-01-01"},
        {"id": "old2", "birth": "1950-01-01"},
        {"id": "young", "birth": "1990-01-01"},
    )
    vax = pd.DataFrame(
        {
            "resident_id": ["old"] * len(dates) + ["young", "old2"],
            "vaccine": ["influenza"] * len(dates) + ["influenza", "pneumococcal"],
            "date": pd.to_datetime([*dates, "2025-10-01", "2025-10-01"]),
        }
    )
    out = run(as_of, residents=res, vaccinations=vax)
    # denominator: old, old2 (65+); young's vaccination and old2's pneumococcal don't count
    assert get(out, "elderly_flu_vax_rate")[:2] == (expected, 2)


# --------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------
def claims(*rows: tuple) -> pd.DataFrame:
    """(resident_id, visit_date, visit_type, facility_type or None, in_county, fund_paid)."""
    df = pd.DataFrame(
        [
            {
                "claim_id": f"C{i}",
                "resident_id": r[0],
                "visit_date": pd.Timestamp(r[1]),
                "visit_type": r[2],
                "facility_type": r[3],
                "in_county": r[4],
                "fund_paid": r[5],
                "total_cost": r[5] * 2,
                "facility_id": f"F{i}",
                "icd10": "I10",
            }
            for i, r in enumerate(rows)
        ]
    )
    df["in_county"] = df["in_county"].astype(bool)
    return df


@pytest.mark.parametrize("prepared", [False, True], ids=["frame", "prepared"])
def test_claim_shares_window_and_resident_location(prepared):
    res = residents(
        {"id": "a", "village": V11},
        {"id": "b", "village": V21},
        {"id": "m", "village": V21, "status": "moved"},
    )
    cl = claims(
        ("a", "2026-01-01", "outpatient", "village_clinic", True, 10.0),
        ("a", "2026-02-01", "chronic_outpatient", "township_hc", True, 20.0),
        ("a", "2026-03-01", "outpatient", "county_hospital", True, 30.0),
        ("a", "2026-04-01", "inpatient", "township_hc", True, 400.0),
        ("b", "2025-07-01", "emergency", "county_hospital", True, 50.0),  # D-364: in W
        ("b", "2025-06-30", "outpatient", "village_clinic", True, 1000.0),  # D-365: out
        ("b", "2026-05-01", "outpatient", None, False, 60.0),  # out of county
        ("m", "2026-05-02", "outpatient", "community_station", True, 5.0),  # moved: counted
        ("x", "2026-05-03", "outpatient", "village_clinic", True, 7.0),  # not on file
    )
    # A build reduces the claims once for its 13 as-of dates: the same numbers either way.
    out = run(residents=res, claims=prepare_claims(cl, res, None) if prepared else cl)
    # outpatient (outpatient + chronic_outpatient) in W: a×3, b×1 (2026-05-01), m×1 = 5
    # at primary: a village_clinic, a township_hc, m community_station = 3
    assert get(out, "primary_care_visit_share")[:2] == (3, 5)
    # all claims in W: a×4, b×2, m×1 = 7; in county: all but b's out-of-county = 6
    assert get(out, "in_county_visit_share")[:2] == (6, 7)
    # fund in W: 10 + 20 + 30 + 400 + 50 + 60 + 5 = 575; primary: 10 + 20 + 400 + 5 = 435
    num, den, val = get(out, "primary_fund_share")
    assert (num, den) == (pytest.approx(435), pytest.approx(575))
    assert val == pytest.approx(435 / 575)
    # claims sit at the resident's household: village V21 has b's and m's claims
    assert get(out, "in_county_visit_share", "village", V21)[:2] == (2, 3)
    assert get(out, "in_county_visit_share", "town", T1)[:2] == (4, 4)
    row = out[(out.level == "county") & (out.indicator == "primary_care_visit_share")].iloc[0]
    assert (row.numerator_people, row.denominator_people) == (2, 3)  # a, m / a, b, m


def test_prepared_claims_window_per_as_of_and_residents_checked():
    res = residents({"id": "a", "village": V11}, {"id": "b", "village": V21})
    cl = claims(
        ("a", "2025-12-31", "outpatient", "village_clinic", True, 10.0),
        ("b", "2026-01-31", "outpatient", "county_hospital", True, 20.0),
        ("a", "2026-02-28", "outpatient", "village_clinic", True, 30.0),
    )
    prepared = prepare_claims(cl, res, None)
    # Window of D = 2026-01-31: the first two claims (1 primary of 2); of 2025-12-31: one.
    jan = run(dt.date(2026, 1, 31), residents=res, claims=prepared)
    assert get(jan, "primary_care_visit_share")[:2] == (1, 2)
    dec = run(dt.date(2025, 12, 31), residents=res, claims=prepared)
    assert get(dec, "primary_care_visit_share")[:2] == (1, 1)
    other = residents({"id": "b", "village": V21}, {"id": "a", "village": V11})
    with pytest.raises(ValueError, match="prepare_claims"):
        run(residents=other, claims=prepared)


# --------------------------------------------------------------------------------------
# Doctors and beds
# --------------------------------------------------------------------------------------
def test_doctors_and_beds_per_1000_at_facility_location():
    pop = pd.DataFrame(
        population_rows(V11, 2025, {"20-24": 1500}) + population_rows(V12, 2025, {"20-24": 500})
    )
    res = residents({"id": "a", "village": V11}, {"id": "b", "village": V12})
    fac = pd.DataFrame(
        {
            "facility_id": ["THC", "VC", "OLD"],
            "type": ["township_hc", "village_clinic", "other"],
            "area_code": [V12, V11, V11],
            "town_code": [T1, T1, T1],
            "grid_id": ["G12", "G11", "G11"],
            "beds": [40, 0, 100],
            "open": [True, True, False],
            "h3_7": ["c7-1002", "c7-1001", "c7-1001"],
            "h3_8": ["c8-1002", "c8-1001", "c8-1001"],
            "h3_9": ["c9-1002", "c9-1001", "c9-1001"],
        }
    )
    staff = pd.DataFrame(
        {
            "staff_id": ["s1", "s2", "s3", "s4", "s5"],
            "facility_id": ["THC", "THC", "THC", "VC", "OLD"],
            "licensed": [True, True, False, True, True],
        }
    )
    out = run(residents=res, population=pop, facilities=fac, staff=staff)
    # county: licensed at open facilities: THC 2 + VC 1 = 3 (OLD closed) / 2000 × 1000
    assert get(out, "doctors_per_1000")[:2] == (3, 2000)
    assert get(out, "doctors_per_1000")[2] == pytest.approx(1.5)
    # beds: THC 40 (+ VC 0; OLD closed) / 2000 × 1000 = 20
    assert get(out, "beds_per_1000") == (40, 2000, pytest.approx(20.0))
    # V12 (where THC stands): 2 doctors / 500 × 1000 = 4
    assert get(out, "doctors_per_1000", "village", V12) == (2, 500, pytest.approx(4.0))
    assert get(out, "doctors_per_1000", "grid", "G11") == (1, 1500, pytest.approx(2 / 3))
    assert get(out, "beds_per_1000", "team", "TA") == (40, 2000, pytest.approx(20.0))


# --------------------------------------------------------------------------------------
# Units and levels
# --------------------------------------------------------------------------------------
def test_team_level_patients_go_to_managing_team_population_to_grid_team():
    # p1 in G11 (team TA): registry team TB -> managed by TB.
    # p2 in G11: no registry team, signed TC -> TC.
    # p3 in G21 (team TB): nothing -> grid team TB.
    # p4 in G21: signed TA but the signing date is after D -> grid team TB.
    res = residents(
        {"id": "p1"},
        {"id": "p2", "signed": "TC"},
        {"id": "p3", "village": V21},
        {"id": "p4", "village": V21, "signed": "TA", "signed_date": "2026-08-01"},
    )
    reg = registry(
        ("p1", "htn", "2020-01-01", None, "TB"),
        ("p2", "htn", "2020-01-01"),
        ("p3", "htn", "2020-01-01"),
        ("p4", "htn", "2020-01-01"),
    )
    out = run(residents=res, registry=reg, levels=["team"])
    assert get(out, "htn_standard_rate", "team", "TB")[1] == 3  # p1, p3, p4
    assert get(out, "htn_standard_rate", "team", "TC")[1] == 1
    assert get(out, "htn_standard_rate", "team", "TA")[1] == 0
    # population-based: by the household's grid team: TA has p1, p2; TB has p3, p4
    assert get(out, "signing_rate", "team", "TA")[:2] == (1, 2)  # p2 signed
    assert get(out, "signing_rate", "team", "TB")[:2] == (0, 2)


def test_every_indicator_and_listed_units_present():
    res = residents({"id": "a"})
    tasks = pd.DataFrame(
        columns=["resident_id", "disease", "task_code", "due_date", "days_overdue"]
    )
    out = run(residents=res, open_tasks=tasks)
    assert set(out.level) == set(LEVELS)
    assert set(out.indicator) == {d.name for d in INDICATORS}
    # every grid, village and town of grids/areas is listed even without residents
    assert set(out[out.level == "grid"].unit_id) == {"G11", "G12", "G21", "G22"}
    assert set(out[out.level == "village"].unit_id) == {V11, V12, V21, V22}
    assert set(out[out.level == "town"].unit_id) == {T1, T2}
    assert set(out[out.level == "county"].unit_id) == {COUNTY}
    assert (out.as_of == pd.Timestamp(D)).all()
    assert out.groupby(["level", "unit_id", "indicator"]).size().max() == 1


def test_unknown_level_rejected():
    with pytest.raises(ValueError, match="unknown level"):
        run(residents=residents({"id": "a"}), levels=["province"])


def test_config_thresholds_are_used():
    # With a 20 % htn prevalence: 2 adults × 0.2 = 0.4 estimated patients.
    res = residents({"id": "a"}, {"id": "b"})
    reg = registry(("a", "htn", "2020-01-01"))
    cfg = RulesConfig(indicators={"htn_prevalence": 0.2})
    out = compute_indicators(
        D, residents=res, registry=reg, grids=GRIDS, areas=AREAS, config=cfg, levels=["county"]
    )
    assert get(out, "htn_management_rate")[1] == pytest.approx(0.4)


# --------------------------------------------------------------------------------------
# Additivity
# --------------------------------------------------------------------------------------
def full_fixture() -> dict:
    rng = np.random.default_rng(7)
    villages = [V11, V12, V21, V22]
    rows = []
    for i in range(80):
        v = villages[i % 4]
        rows.append(
            {
                "id": f"R{i:03d}",
                "village": v,
                "birth": f"{1935 + (i * 7) % 70}-{1 + i % 12:02d}-15",
                "status": "moved" if i % 17 == 0 else ("deceased" if i % 23 == 5 else "active"),
                "signed": TEAM_OF[GRID_OF[v]] if i % 3 else None,
                "signed_date": "2025-01-01" if i % 2 else None,
                "h3_9": f"c9-{v[-4:]}-{i % 3}",
                "h3_8": f"c8-{v[-4:]}-{i % 2}",
            }
        )
    res = residents(*rows)
    reg = registry(
        *[
            (
                f"R{i:03d}",
                "htn" if i % 2 else "t2dm",
                "2024-03-01",
                "2026-01-01" if i % 11 == 0 else None,
                "TB" if i % 5 == 0 else None,
            )
            for i in range(0, 80, 2)
        ],
        *[(f"R{i:03d}", "htn", "2026-02-01") for i in range(1, 80, 6)],
    )
    fu_rows = []
    for i in range(0, 80, 2):
        for k in range(int(rng.integers(0, 6))):
            fu_rows.append(
                (f"R{i:03d}", "t2dm", f"2025-{7 + k:02d}-1{k}", 120 + 7 * k, 80, 5.5 + k / 2)
            )
    for i in range(1, 80, 6):
        for k in range(int(rng.integers(0, 4))):
            fu_rows.append((f"R{i:03d}", "htn", f"2026-0{2 + k}-1{k}", 125 + 9 * k, 85))
    fu = followups(*fu_rows)
    cl = claims(
        *[
            (
                f"R{i % 80:03d}",
                f"2026-0{1 + i % 6}-0{1 + i % 9}",
                ["outpatient", "chronic_outpatient", "inpatient", "emergency"][i % 4],
                ["village_clinic", "township_hc", "county_hospital", None][i % 7 % 4],
                i % 7 != 3,
                float(10 + i),
            )
            for i in range(200)
        ]
    )
    pop = pd.DataFrame(
        [
            {"area_code": v, "year": 2025, "sex": s, "age_band": b, "count": 10 + 3 * j + s}
            for v in villages
            for s in (1, 2)
            for j, b in enumerate(["10-14", "15-19", "20-24", "60-64", "85+"])
        ]
    )
    fac = pd.DataFrame(
        {
            "facility_id": ["F1", "F2", "F3"],
            "type": ["township_hc", "village_clinic", "other"],
            "area_code": [V11, V21, V22],
            "town_code": [T1, T2, T2],
            "grid_id": ["G11", "G21", "G22"],
            "beds": [30, 2, 5],
            "open": [True, True, True],
            "h3_7": ["c7-1001", "c7-2001", "c7-2002"],
            "h3_8": ["c8-1001-0", "c8-2001-1", "c8-2002-0"],
            "h3_9": ["c9-1001-0", "c9-2001-2", "c9-2002-1"],
        }
    )
    staff = pd.DataFrame(
        {
            "staff_id": list("abcd"),
            "facility_id": ["F1", "F1", "F2", "F3"],
            "licensed": [True, True, True, False],
        }
    )
    vax = pd.DataFrame(
        {
            "resident_id": [f"R{i:03d}" for i in range(0, 80, 3)],
            "vaccine": "influenza",
            "date": pd.Timestamp("2025-10-10"),
        }
    )
    tasks = pd.DataFrame(
        {
            "resident_id": [f"R{i:03d}" for i in range(0, 80, 4)],
            "disease": ["htn" if i % 2 else "t2dm" for i in range(0, 80, 4)],
            "task_code": "routine_followup",
            "due_date": pd.Timestamp("2026-04-01"),
            "days_overdue": [10 * (i % 7) for i in range(0, 80, 4)],
        }
    )
    return dict(
        residents=res,
        registry=reg,
        followups=fu,
        claims=cl,
        population=pop,
        facilities=fac,
        staff=staff,
        vaccinations=vax,
        open_tasks=tasks,
    )


@pytest.mark.parametrize("with_population", [True, False])
def test_additivity_county_equals_sum_of_towns_and_grids(with_population):
    frames = full_fixture()
    if not with_population:
        frames["population"] = None
    out = run(**frames)
    cols = ["numerator", "denominator", "numerator_people", "denominator_people"]
    county = out[out.level == "county"].set_index("indicator")[cols]
    assert county.loc["htn_standard_rate", "denominator"] > 0  # the fixture is not empty
    # Every grid has a team and no patient here has two teams, so teams add up as well.
    for level in ("town", "grid", "village", "team"):
        summed = out[out.level == level].groupby("indicator")[cols].sum(min_count=1)
        pd.testing.assert_frame_equal(
            summed.loc[county.index],
            county,
            check_exact=False,
            rtol=1e-9,
            atol=1e-9,
            check_names=False,
        )
    # H3 cells: every resident and facility here has cells, and population is spread
    # over cells in full, so the cells add up too (population within float tolerance).
    for level in ("h3:7", "h3:8", "h3:9"):
        summed = out[out.level == level].groupby("indicator")[["numerator", "denominator"]].sum()
        sub = county[["numerator", "denominator"]]
        pd.testing.assert_frame_equal(
            summed.loc[sub.index], sub, check_exact=False, rtol=1e-9, check_names=False
        )
