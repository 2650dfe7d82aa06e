"""Tests of geo.followup: the RULES.md follow-up task table, case finding and the push list.

Every fixture is a handful of hand-built rows; every expected value is worked out by hand
from RULES.md (D = 2026-11-23 unless stated), never by calling the code under test.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

from geo.followup import (
    mask_name,
    mask_names,
    mask_phone,
    mask_phones,
    open_tasks,
    push_list,
    push_list_entries,
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


# --------------------------------------------------------------------------------------
# One test per row of the task table
# --------------------------------------------------------------------------------------
def test_emergency_reading() -> None:
    fu = followups({"resident_id": "R1", "visit_date": "2026-11-01"})
    # 02:00Z = 10:00 local on 2026-11-20, three days before D.
    ms = measurements({"resident_id": "R1", "measured_at": "2026-11-20T02:00:00Z", "sbp": 186})
    t = one(run(R1, REG1, fu, ms))
    assert t["task_code"] == "emergency_reading"
    assert t["colour"] == "red"
    assert t["due_date"] == TS("2026-11-20")
    assert t["event_date"] == TS("2026-11-20")
    assert t["days_overdue"] == 3
    assert t["last_visit_date"] == TS("2026-11-01")
    assert t["reason_zh"] == "3天前智能终端测得收缩压186 mmHg，属紧急转诊指征"


def test_emergency_due_is_earliest_reading_and_dbp_reason() -> None:
    fu = followups({"resident_id": "R1", "visit_date": "2026-11-01"})
    ms = measurements(
        {"resident_id": "R1", "measured_at": "2026-11-21T01:00:00Z", "sbp": 200},
        {"resident_id": "R1", "measured_at": "2026-11-05T01:00:00Z", "sbp": 150, "dbp": 112},
        {"resident_id": "R1", "measured_at": "2026-11-03T01:00:00Z", "sbp": 170, "dbp": 100},
    )
    t = one(run(R1, REG1, fu, ms))
    assert t["task_code"] == "emergency_reading"
    assert t["due_date"] == TS("2026-11-05")
    assert t["days_overdue"] == 18
    assert t["reason_zh"] == "18天前智能终端测得舒张压112 mmHg，属紧急转诊指征"


@pytest.mark.parametrize(
    ("disease", "glucose", "expected"),
    [
        ("t2dm", 16.7, "emergency_reading"),
        ("t2dm", 3.9, "emergency_reading"),
        ("t2dm", 4.0, "routine_followup"),
        ("t2dm", 16.6, "routine_followup"),
        ("htn", 20.0, "routine_followup"),  # the glucose criterion is t2dm only
    ],
)
def test_glucose_emergency_applies_to_t2dm_only(
    disease: str, glucose: float, expected: str
) -> None:
    reg = registry({"resident_id": "R1", "disease": disease})
    fu = followups(
        {"resident_id": "R1", "disease": disease, "visit_date": "2026-11-01", "fasting_glucose": 6}
    )
    ms = measurements(
        {"resident_id": "R1", "measured_at": "2026-11-23T00:00:00Z", "glucose": glucose}
    )
    t = one(run(R1, reg, fu, ms), disease=disease)
    assert t["task_code"] == expected
    if expected == "emergency_reading":
        assert t["reason_zh"] == f"今天智能终端测得血糖{glucose} mmol/L，属紧急转诊指征"


def test_emergency_reading_counts_for_each_managed_disease() -> None:
    reg = registry({"resident_id": "R1"}, {"resident_id": "R1", "disease": "t2dm"})
    ms = measurements({"resident_id": "R1", "measured_at": "2026-11-22T01:00:00Z", "sbp": 181})
    tasks = run(R1, reg, followups(), ms)
    assert one(tasks, disease="htn")["task_code"] == "emergency_reading"
    assert one(tasks, disease="t2dm")["task_code"] == "emergency_reading"


def test_referral_suggested() -> None:
    fu = followups(
        {"resident_id": "R1", "visit_date": "2026-10-01", "classification": "adverse"},
        {"resident_id": "R1", "visit_date": "2026-11-01", "classification": "unsatisfactory"},
    )
    t = one(run(R1, REG1, fu))
    assert t["task_code"] == "referral_suggested"
    assert t["colour"] == "red"
    assert t["due_date"] == TS("2026-11-01")
    assert t["days_overdue"] == 22
    assert t["last_classification"] == "unsatisfactory"
    assert t["reason_zh"] == "连续两次随访控制不满意，未转诊"


def test_referral_missing_referred_counts_as_false() -> None:
    fu = followups(
        {"resident_id": "R1", "visit_date": "2026-10-01", "classification": "complication"},
        {
            "resident_id": "R1",
            "visit_date": "2026-11-01",
            "classification": "unsatisfactory",
            "referred": None,
        },
    )
    assert one(run(R1, REG1, fu))["task_code"] == "referral_suggested"


def test_referral_needs_two_bad_visits() -> None:
    # Only one (bad) visit: no "last two", so uncontrolled_recheck instead.
    fu = followups(
        {"resident_id": "R1", "visit_date": "2026-11-01", "classification": "unsatisfactory"}
    )
    assert one(run(R1, REG1, fu))["task_code"] == "uncontrolled_recheck"


def test_post_discharge() -> None:
    fu = followups({"resident_id": "R1", "visit_date": "2026-10-01"})
    cl = claims(
        {
            "resident_id": "R1",
            "visit_type": "inpatient",
            "icd10": "I63.9",
            "visit_date": "2026-11-10",
            "discharge_date": "2026-11-15",
        }
    )
    t = one(run(R1, REG1, fu, cl=cl))
    assert t["task_code"] == "post_discharge"
    assert t["colour"] == "red"
    assert t["due_date"] == TS("2026-11-22")
    assert t["event_date"] == TS("2026-11-15")
    assert t["days_overdue"] == 1
    assert t["reason_zh"] == "2026-11-15出院（主要诊断I63.9），出院后7日内需随访"


@pytest.mark.parametrize(
    ("discharge", "visit_type", "icd10", "applies"),
    [
        ("2026-10-24", "inpatient", "I10", True),  # D−30: "within the 30 days before D"
        ("2026-10-23", "inpatient", "I10", False),  # D−31
        ("2026-11-23", "inpatient", "I10", True),  # D itself
        ("2026-11-15", "inpatient", "E11.9", True),
        ("2026-11-15", "inpatient", "I21", True),
        ("2026-11-15", "inpatient", "I64", True),
        ("2026-11-15", "inpatient", "I16", False),
        ("2026-11-15", "inpatient", "I26", False),
        ("2026-11-15", "inpatient", "J11.1", False),
        ("2026-11-15", "outpatient", "I10", False),
    ],
)
def test_post_discharge_window_and_diagnoses(
    discharge: str, visit_type: str, icd10: str, applies: bool
) -> None:
    fu = followups({"resident_id": "R1", "visit_date": "2026-10-01"})
    cl = claims(
        {
            "resident_id": "R1",
            "visit_type": visit_type,
            "icd10": icd10,
            "visit_date": "2026-10-20",
            "discharge_date": discharge,
        }
    )
    t = one(run(R1, REG1, fu, cl=cl))
    assert t["task_code"] == ("post_discharge" if applies else "routine_followup")


def test_post_discharge_applies_to_every_managed_disease() -> None:
    # A stroke admission of a patient managed for both diseases: both get the task.
    reg = registry({"resident_id": "R1"}, {"resident_id": "R1", "disease": "t2dm"})
    fu = followups(
        {"resident_id": "R1", "visit_date": "2026-10-01"},
        {"resident_id": "R1", "disease": "t2dm", "visit_date": "2026-10-01", "fasting_glucose": 6},
    )
    cl = claims(
        {
            "resident_id": "R1",
            "visit_type": "inpatient",
            "icd10": "I63",
            "visit_date": "2026-11-01",
            "discharge_date": "2026-11-10",
        }
    )
    tasks = run(R1, reg, fu, cl=cl)
    for disease in ("htn", "t2dm"):
        t = one(tasks, disease=disease)
        assert (t["task_code"], t["due_date"]) == ("post_discharge", TS("2026-11-17"))


@pytest.mark.parametrize(
    ("visit", "expected"),
    [
        ("2026-11-12", "post_discharge"),  # visit on the discharge day: not "after"
        ("2026-11-13", "routine_followup"),  # a visit after discharge closes it
    ],
)
def test_post_discharge_closed_by_visit_after_discharge(visit: str, expected: str) -> None:
    fu = followups({"resident_id": "R1", "visit_date": visit})
    cl = claims(
        {
            "resident_id": "R1",
            "visit_type": "inpatient",
            "icd10": "I10",
            "visit_date": "2026-11-05",
            "discharge_date": "2026-11-12",
        }
    )
    assert one(run(R1, REG1, fu, cl=cl))["task_code"] == expected


def test_uncontrolled_recheck() -> None:
    fu = followups(
        {"resident_id": "R1", "visit_date": "2026-10-01"},
        {
            "resident_id": "R1",
            "visit_date": "2026-11-01",
            "classification": "unsatisfactory",
            "sbp": 152,
            "dbp": 95,
        },
    )
    t = one(run(R1, REG1, fu))
    assert t["task_code"] == "uncontrolled_recheck"
    assert t["colour"] == "yellow"
    assert t["due_date"] == TS("2026-11-15")
    assert t["days_overdue"] == 8
    assert (t["last_sbp"], t["last_dbp"]) == (152.0, 95.0)
    assert t["reason_zh"] == "上次随访（2026-11-01）控制不满意，需14日内复查"


def test_uncontrolled_recheck_when_referred() -> None:
    # Two bad visits but the last one was referred: no referral suggestion, a recheck.
    fu = followups(
        {"resident_id": "R1", "visit_date": "2026-10-01", "classification": "unsatisfactory"},
        {
            "resident_id": "R1",
            "visit_date": "2026-11-01",
            "classification": "unsatisfactory",
            "referred": True,
        },
    )
    t = one(run(R1, REG1, fu))
    assert (t["task_code"], t["due_date"]) == ("uncontrolled_recheck", TS("2026-11-15"))
    assert t["reason_zh"] == "上次随访（2026-11-01）已转诊，需14日内随访了解转诊结果"


def test_uncontrolled_recheck_referred_satisfactory_visit() -> None:
    fu = followups({"resident_id": "R1", "visit_date": "2026-11-10", "referred": True})
    t = one(run(R1, REG1, fu))
    assert (t["task_code"], t["due_date"]) == ("uncontrolled_recheck", TS("2026-11-24"))
    assert t["days_overdue"] == -1


def test_first_followup() -> None:
    reg = registry({"resident_id": "R1", "enrolled_date": "2026-11-01"})
    t = one(run(R1, reg))
    assert t["task_code"] == "first_followup"
    assert t["colour"] == "yellow"
    assert t["due_date"] == TS("2026-11-15")
    assert t["event_date"] == TS("2026-11-01")
    assert t["days_overdue"] == 8
    assert pd.isna(t["last_visit_date"])
    assert t["reason_zh"] == "2026-11-01纳入高血压管理，需14日内完成首次随访"


@pytest.mark.parametrize(
    ("next_visit", "last_visit", "due", "overdue"),
    [
        ("2026-11-20", "2026-10-01", "2026-11-20", 3),
        (None, "2026-08-01", "2026-10-30", 24),  # last visit + 90 days
        ("2026-12-20", "2026-11-20", "2026-12-20", -27),  # not yet due
    ],
)
def test_routine_followup(next_visit: str | None, last_visit: str, due: str, overdue: int) -> None:
    fu = followups({"resident_id": "R1", "visit_date": last_visit, "next_visit_date": next_visit})
    t = one(run(R1, REG1, fu))
    assert t["task_code"] == "routine_followup"
    assert t["colour"] == "green"
    assert t["due_date"] == TS(due)
    assert t["days_overdue"] == overdue
    assert t["event_date"] == TS(last_visit)


def test_routine_reason() -> None:
    fu = followups({"resident_id": "R1", "visit_date": "2026-08-01"})
    assert one(run(R1, REG1, fu))["reason_zh"] == "常规随访，应于2026-10-30随访，已逾期24天"
    fu = followups(
        {"resident_id": "R1", "visit_date": "2026-11-01", "next_visit_date": "2026-11-23"}
    )
    assert one(run(R1, REG1, fu))["reason_zh"] == "常规随访，应于2026-11-23随访"


# --------------------------------------------------------------------------------------
# Precedence conflicts
# --------------------------------------------------------------------------------------
BAD2 = followups(
    {"resident_id": "R1", "visit_date": "2026-10-01", "classification": "unsatisfactory"},
    {"resident_id": "R1", "visit_date": "2026-11-01", "classification": "unsatisfactory"},
)
BAD1 = followups(
    {"resident_id": "R1", "visit_date": "2026-10-01"},
    {"resident_id": "R1", "visit_date": "2026-11-01", "classification": "unsatisfactory"},
)
EMERGENCY = measurements({"resident_id": "R1", "measured_at": "2026-11-10T02:00:00Z", "dbp": 115})
DISCHARGE = claims(
    {
        "resident_id": "R1",
        "visit_type": "inpatient",
        "icd10": "E11.9",
        "visit_date": "2026-11-02",
        "discharge_date": "2026-11-08",
    }
)


@pytest.mark.parametrize(
    ("fu", "ms", "cl", "expected", "due"),
    [
        (BAD2, EMERGENCY, None, "emergency_reading", "2026-11-10"),
        (BAD2, EMERGENCY, DISCHARGE, "emergency_reading", "2026-11-10"),
        (BAD2, None, DISCHARGE, "referral_suggested", "2026-11-01"),
        (BAD1, None, DISCHARGE, "post_discharge", "2026-11-15"),
        (BAD1, EMERGENCY, None, "emergency_reading", "2026-11-10"),
        (BAD1, None, None, "uncontrolled_recheck", "2026-11-15"),
    ],
    ids=[
        "emergency>referral",
        "emergency>referral>discharge",
        "referral>post_discharge",
        "post_discharge>uncontrolled",
        "emergency>uncontrolled",
        "uncontrolled-alone",
    ],
)
def test_precedence(
    fu: pd.DataFrame, ms: pd.DataFrame | None, cl: pd.DataFrame | None, expected: str, due: str
) -> None:
    t = one(run(R1, REG1, fu, ms, cl))
    assert (t["task_code"], t["due_date"]) == (expected, TS(due))


def test_uncontrolled_beats_routine_with_next_visit_date() -> None:
    fu = followups(
        {
            "resident_id": "R1",
            "visit_date": "2026-11-01",
            "classification": "unsatisfactory",
            "next_visit_date": "2027-02-01",
        }
    )
    t = one(run(R1, REG1, fu))
    assert (t["task_code"], t["due_date"]) == ("uncontrolled_recheck", TS("2026-11-15"))


@pytest.mark.parametrize(
    ("visit", "expected", "due"),
    [
        ("2026-09-30", "first_followup", "2026-10-15"),  # visit the day before enrolment
        ("2026-10-01", "routine_followup", "2026-12-30"),  # visit on the enrolment day
    ],
)
def test_first_followup_vs_routine(visit: str, expected: str, due: str) -> None:
    reg = registry({"resident_id": "R1", "enrolled_date": "2026-10-01"})
    fu = followups({"resident_id": "R1", "visit_date": visit})
    t = one(run(R1, reg, fu))
    assert (t["task_code"], t["due_date"]) == (expected, TS(due))


def test_visit_after_d_is_ignored() -> None:
    fu = followups(
        {"resident_id": "R1", "visit_date": "2026-11-01", "classification": "unsatisfactory"},
        {"resident_id": "R1", "visit_date": "2026-11-24"},
    )
    t = one(run(R1, REG1, fu))
    assert (t["task_code"], t["last_visit_date"]) == ("uncontrolled_recheck", TS("2026-11-01"))


def test_other_disease_visits_do_not_count() -> None:
    reg = registry({"resident_id": "R1", "enrolled_date": "2026-11-01"})
    fu = followups(
        {"resident_id": "R1", "disease": "t2dm", "visit_date": "2026-11-10", "fasting_glucose": 6}
    )
    assert one(run(R1, reg, fu))["task_code"] == "first_followup"


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (["F2", "F1"], "routine_followup"),  # F2 (satisfactory) is the later visit
        (["F1", "F2"], "uncontrolled_recheck"),  # F2 (unsatisfactory) is the later visit
    ],
)
def test_same_day_visits_ordered_by_followup_id(ids: list[str], expected: str) -> None:
    fu = followups(
        {"resident_id": "R1", "visit_date": "2026-11-01"},
        {"resident_id": "R1", "visit_date": "2026-11-01", "classification": "unsatisfactory"},
    )
    fu["followup_id"] = ids
    assert one(run(R1, REG1, fu))["task_code"] == expected


# --------------------------------------------------------------------------------------
# Overdue turn, age target, enrolment, closure, residents' status, teams
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("due", "overdue", "colour"), [("2026-10-24", 30, "green"), ("2026-10-23", 31, "yellow")]
)
def test_routine_overdue_turn(due: str, overdue: int, colour: str) -> None:
    fu = followups({"resident_id": "R1", "visit_date": "2026-07-01", "next_visit_date": due})
    t = one(run(R1, REG1, fu))
    assert (t["task_code"], t["days_overdue"], t["colour"]) == ("routine_followup", overdue, colour)
    pl = push_list(run(R1, REG1, fu), D)
    assert pl["colour"].tolist() == [colour]


@pytest.mark.parametrize(
    ("birth", "expected", "classification"),
    [
        ("1961-11-10", "routine_followup", "satisfactory"),  # 65 on the visit day: < 150/90
        ("1961-11-11", "uncontrolled_recheck", "unsatisfactory"),  # still 64: < 140/90
        ("1940-01-01", "routine_followup", "satisfactory"),
    ],
)
def test_elderly_bp_target_when_classification_missing(
    birth: str, expected: str, classification: str
) -> None:
    res = residents({"resident_id": "R1", "birth_date": birth})
    fu = followups(
        {
            "resident_id": "R1",
            "visit_date": "2026-11-10",
            "sbp": 145,
            "dbp": 85,
            "classification": None,
        }
    )
    t = one(run(res, REG1, fu))
    assert (t["task_code"], t["last_classification"]) == (expected, classification)


def test_adverse_reaction_classified_when_missing() -> None:
    fu = followups(
        {
            "resident_id": "R1",
            "visit_date": "2026-11-10",
            "classification": None,
            "adverse_reaction": True,
        }
    )
    t = one(run(R1, REG1, fu))
    assert (t["task_code"], t["last_classification"]) == ("uncontrolled_recheck", "adverse")


def test_source_classification_wins() -> None:
    # 170/100 would be unsatisfactory, but the source says satisfactory: routine.
    fu = followups({"resident_id": "R1", "visit_date": "2026-11-10", "sbp": 170, "dbp": 100})
    assert one(run(R1, REG1, fu))["task_code"] == "routine_followup"


@pytest.mark.parametrize(
    ("enrolled", "managed", "overdue"),
    [("2026-11-24", False, None), ("2026-11-23", True, -14), ("2026-11-09", True, 0)],
)
def test_enrolment_date(enrolled: str, managed: bool, overdue: int | None) -> None:
    tasks = run(R1, registry({"resident_id": "R1", "enrolled_date": enrolled}))
    if not managed:
        assert none_for(tasks)
    else:
        t = one(tasks)
        assert (t["task_code"], t["days_overdue"]) == ("first_followup", overdue)


@pytest.mark.parametrize(
    ("closed", "managed"),
    [("2026-11-22", False), ("2026-11-23", False), ("2026-11-24", True), (None, True)],
)
def test_closed_registry_row(closed: str | None, managed: bool) -> None:
    fu = followups({"resident_id": "R1", "visit_date": "2026-11-01"})
    tasks = run(R1, registry({"resident_id": "R1", "closed_date": closed}), fu)
    assert none_for(tasks) is not managed


def test_reenrolled_after_closure_uses_open_row() -> None:
    reg = registry(
        {"resident_id": "R1", "enrolled_date": "2024-01-01", "closed_date": "2025-01-01"},
        {"resident_id": "R1", "enrolled_date": "2026-11-01", "team_id": "T_NEW"},
    )
    t = one(run(R1, reg))
    assert (t["task_code"], t["due_date"], t["team_id"]) == (
        "first_followup",
        TS("2026-11-15"),
        "T_NEW",
    )


@pytest.mark.parametrize(
    ("status", "managed"), [("active", True), ("moved", False), ("deceased", False)]
)
def test_resident_status(status: str, managed: bool) -> None:
    res = residents({"resident_id": "R1", "status": status})
    assert none_for(run(res, REG1)) is not managed


def test_resident_missing_from_residents_is_not_managed() -> None:
    tasks = run(R1, registry({"resident_id": "R1"}, {"resident_id": "R9"}))
    assert none_for(tasks, "R9")
    assert not none_for(tasks, "R1")


@pytest.mark.parametrize(
    ("reg_team", "signed", "grid", "expected"),
    [
        ("T_REG", "T_SIGNED", "G1", "T_REG"),
        (None, "T_SIGNED", "G1", "T_SIGNED"),
        ("", "T_SIGNED", "G1", "T_SIGNED"),  # empty = missing
        (None, None, "G1", "T_GRID"),
        (None, None, "G2", "T_GRID2"),
    ],
)
def test_managing_team_fallbacks(
    reg_team: str | None, signed: str | None, grid: str, expected: str
) -> None:
    res = residents({"resident_id": "R1", "signed_team_id": signed, "grid_id": grid})
    t = one(run(res, registry({"resident_id": "R1", "team_id": reg_team})))
    assert (t["team_id"], t["grid_id"]) == (expected, grid)


def test_team_fallbacks_align_across_many_patients() -> None:
    # Several patients in one run, so a fallback can only be right row by row.
    res = residents(
        {"resident_id": "R1", "signed_team_id": "S1", "grid_id": "G1"},
        {"resident_id": "R2", "signed_team_id": None, "grid_id": "G2"},
        {"resident_id": "R3", "signed_team_id": "S3", "grid_id": "G2"},
        {"resident_id": "R4", "signed_team_id": None, "grid_id": "G1"},
        {"resident_id": "R5", "signed_team_id": None, "grid_id": "G2"},
    )
    reg = registry(
        {"resident_id": "R1", "team_id": None},
        {"resident_id": "R2", "team_id": "T_REG2"},
        {"resident_id": "R3", "team_id": None},
        {"resident_id": "R4", "team_id": None},
        {"resident_id": "R4", "disease": "t2dm", "team_id": "T_REG4"},
    )
    cl = claims(
        {"resident_id": "R5", "visit_type": "inpatient", "visit_date": "2026-11-01"},
    )
    tasks = run(res, reg, cl=cl)
    got = {(r, d): t for r, d, t in tasks[["resident_id", "disease", "team_id"]].to_numpy()}
    assert got == {
        ("R1", "htn"): "S1",
        ("R2", "htn"): "T_REG2",
        ("R3", "htn"): "S3",
        ("R4", "htn"): "T_GRID",
        ("R4", "t2dm"): "T_REG4",
        ("R5", "htn"): "T_GRID2",
    }


# --------------------------------------------------------------------------------------
# Timezone of measurement dates
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("measured_at", "expected", "due"),
    [
        ("2026-11-22T16:30:00Z", "emergency_reading", "2026-11-23"),  # local 11-23 00:30
        ("2026-11-22T15:59:59Z", "routine_followup", "2027-02-20"),  # local 11-22 23:59:59
        ("2026-11-23T16:00:00Z", "routine_followup", "2027-02-20"),  # local 11-24: after D
        ("2026-11-23T08:00:00+08:00", "emergency_reading", "2026-11-23"),
    ],
)
def test_measurement_local_date(measured_at: str, expected: str, due: str) -> None:
    fu = followups({"resident_id": "R1", "visit_date": "2026-11-22"})
    ms = measurements({"resident_id": "R1", "measured_at": measured_at, "sbp": 190})
    t = one(run(R1, REG1, fu, ms))
    assert (t["task_code"], t["due_date"]) == (expected, TS(due))


def test_naive_measured_at_is_local_time() -> None:
    # Data contract: timestamps without an offset are Asia/Shanghai local time.
    fu = followups({"resident_id": "R1", "visit_date": "2026-11-22"})
    ms = pd.DataFrame(
        {
            "measurement_id": ["M1"],
            "resident_id": ["R1"],
            "measured_at": pd.to_datetime(["2026-11-23 00:30:00"]),
            "sbp": [190.0],
            "dbp": [100.0],
            "glucose": [np.nan],
        }
    )
    t = one(run(R1, REG1, fu, ms))
    assert (t["task_code"], t["due_date"]) == ("emergency_reading", TS("2026-11-23"))


def test_readings_of_unmanaged_residents_make_no_task() -> None:
    res = residents({"resident_id": "R1"}, {"resident_id": "R2"})
    ms = measurements({"resident_id": "R2", "measured_at": "2026-11-22T01:00:00Z", "sbp": 200})
    assert none_for(run(res, REG1, followups(), ms), "R2")


@pytest.mark.parametrize(
    ("measured_at", "expected"),
    [
        ("2026-10-31T16:00:00Z", "emergency_reading"),  # local 11-01: the enrolment day
        ("2026-10-31T15:59:00Z", "first_followup"),  # local 10-31: before enrolment
    ],
)
def test_emergency_without_visit_counts_from_enrolment(measured_at: str, expected: str) -> None:
    reg = registry({"resident_id": "R1", "enrolled_date": "2026-11-01"})
    ms = measurements({"resident_id": "R1", "measured_at": measured_at, "sbp": 185})
    assert one(run(R1, reg, followups(), ms))["task_code"] == expected


def test_emergency_closed_by_later_visit() -> None:
    ms = measurements({"resident_id": "R1", "measured_at": "2026-11-10T02:00:00Z", "sbp": 200})
    fu = followups(
        {"resident_id": "R1", "visit_date": "2026-11-01"},
        {"resident_id": "R1", "visit_date": "2026-11-12", "next_visit_date": "2027-02-10"},
    )
    t = one(run(R1, REG1, fu, ms))
    assert (t["task_code"], t["due_date"]) == ("routine_followup", TS("2027-02-10"))


# --------------------------------------------------------------------------------------
# Dismissals
# --------------------------------------------------------------------------------------
def dismissals(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {"disease": "htn", "dismissed_at": "2026-11-20T01:00:00Z", "reason": "已电话联系"}
    df = pd.DataFrame([{"resident_id": "R1", **base, **r} for r in rows])
    df["due_date"] = pd.to_datetime(df["due_date"])
    df["dismissed_at"] = pd.to_datetime(df["dismissed_at"], utc=True)
    return df


def test_dismissed_referral_falls_through_to_next_rule() -> None:
    dis = dismissals({"task_code": "referral_suggested", "due_date": "2026-11-01"})
    t = one(run(R1, REG1, BAD2, dis=dis))
    assert (t["task_code"], t["due_date"]) == ("uncontrolled_recheck", TS("2026-11-15"))


def test_dismissal_must_match_due_date() -> None:
    dis = dismissals({"task_code": "referral_suggested", "due_date": "2026-10-01"})
    assert one(run(R1, REG1, BAD2, dis=dis))["task_code"] == "referral_suggested"


def test_dismissal_recorded_after_d_is_ignored() -> None:
    dis = dismissals(
        {
            "task_code": "referral_suggested",
            "due_date": "2026-11-01",
            "dismissed_at": "2026-11-24T01:00:00Z",
        }
    )
    assert one(run(R1, REG1, BAD2, dis=dis))["task_code"] == "referral_suggested"


def test_dismissed_routine_leaves_no_task() -> None:
    fu = followups({"resident_id": "R1", "visit_date": "2026-08-01"})
    dis = dismissals({"task_code": "routine_followup", "due_date": "2026-10-30"})
    assert none_for(run(R1, REG1, fu, dis=dis))


def test_dismissed_emergency_then_new_reading() -> None:
    fu = followups({"resident_id": "R1", "visit_date": "2026-11-01"})
    early = {"resident_id": "R1", "measured_at": "2026-11-10T02:00:00Z", "sbp": 190}
    # Dismissed on 2026-11-20 09:00 local (01:00Z): the 11-10 reading is closed.
    dis = dismissals({"task_code": "emergency_reading", "due_date": "2026-11-10"})
    t = one(run(R1, REG1, fu, measurements(early), dis=dis))
    assert (t["task_code"], t["due_date"]) == ("routine_followup", TS("2027-01-30"))
    # A reading seen before the dismissal (11-15) stays closed; one after it opens a task.
    seen = {"resident_id": "R1", "measured_at": "2026-11-15T02:00:00Z", "sbp": 195}
    assert one(run(R1, REG1, fu, measurements(early, seen), dis=dis))["task_code"] == (
        "routine_followup"
    )
    later = {"resident_id": "R1", "measured_at": "2026-11-21T02:00:00Z", "sbp": 185}
    t = one(run(R1, REG1, fu, measurements(early, seen, later), dis=dis))
    assert (t["task_code"], t["due_date"]) == ("emergency_reading", TS("2026-11-21"))


def test_dismissed_post_discharge_then_later_discharge() -> None:
    fu = followups({"resident_id": "R1", "visit_date": "2026-10-01"})
    first = {
        "resident_id": "R1",
        "visit_type": "inpatient",
        "icd10": "I10",
        "visit_date": "2026-11-01",
        "discharge_date": "2026-11-05",
    }
    dis = dismissals({"task_code": "post_discharge", "due_date": "2026-11-12"})
    t = one(run(R1, REG1, fu, cl=claims(first), dis=dis))
    assert (t["task_code"], t["due_date"]) == ("routine_followup", TS("2026-12-30"))
    second = {**first, "visit_date": "2026-11-15", "discharge_date": "2026-11-18"}
    t = one(run(R1, REG1, fu, cl=claims(first, second), dis=dis))
    assert (t["task_code"], t["due_date"]) == ("post_discharge", TS("2026-11-25"))


def test_dismissal_of_other_disease_does_not_apply() -> None:
    dis = dismissals(
        {"task_code": "referral_suggested", "due_date": "2026-11-01", "disease": "t2dm"}
    )
    assert one(run(R1, REG1, BAD2, dis=dis))["task_code"] == "referral_suggested"


# --------------------------------------------------------------------------------------
# Case finding
# --------------------------------------------------------------------------------------
def outpatient(date: str, **kw: Any) -> dict[str, Any]:
    return {"resident_id": "R2", "visit_date": date, **kw}


R2 = residents({"resident_id": "R2", "signed_team_id": "T_SIGNED"})


@pytest.mark.parametrize(
    ("rows", "found"),
    [
        ([outpatient("2026-11-01"), outpatient("2026-11-01")], False),  # same date twice
        ([outpatient("2026-11-01"), outpatient("2026-11-02")], True),
        ([outpatient("2026-11-01")], False),
        (
            [
                outpatient("2026-06-01", visit_type="chronic_outpatient"),
                outpatient("2026-07-01", visit_type="emergency"),
            ],
            True,
        ),
        (
            [
                outpatient(
                    "2026-06-01", visit_type="inpatient", discharge_date="2026-06-05", icd10="I11.9"
                )
            ],
            True,
        ),
        ([outpatient("2025-11-23"), outpatient("2026-11-20")], False),  # D−365 is outside
        ([outpatient("2025-11-24"), outpatient("2026-11-20")], True),  # D−364 is inside
        ([outpatient("2026-11-20"), outpatient("2026-11-24")], False),  # after D
        ([outpatient("2026-11-01", icd10="J11"), outpatient("2026-11-02", icd10="J11")], False),
        ([outpatient("2026-11-01", icd10="I15.0"), outpatient("2026-11-02", icd10="i10")], True),
    ],
)
def test_case_finding_htn(rows: list[dict[str, Any]], found: bool) -> None:
    tasks = run(R2, registry({"resident_id": "R1"}), cl=claims(*rows))
    if not found:
        assert none_for(tasks, "R2")
        return
    t = one(tasks, "R2")
    assert t["task_code"] == "suspected_unmanaged"
    assert t["colour"] == "yellow"
    assert t["due_date"] == TS("2026-11-23")
    assert t["days_overdue"] == 0
    assert t["team_id"] == "T_SIGNED"


@pytest.mark.parametrize(("icd10", "found"), [("E11.9", True), ("E10", False), ("E14", False)])
def test_case_finding_t2dm_is_e11_only(icd10: str, found: bool) -> None:
    cl = claims(outpatient("2026-11-01", icd10=icd10), outpatient("2026-11-02", icd10=icd10))
    tasks = run(R2, registry({"resident_id": "R1"}), cl=cl)
    if found:
        t = one(tasks, "R2", "t2dm")
        assert t["reason_zh"] == "近一年2次2型糖尿病门诊就诊，未纳入2型糖尿病管理"
    else:
        assert none_for(tasks, "R2")


@pytest.mark.parametrize(
    ("reg_rows", "found"),
    [
        ([{"resident_id": "R2", "closed_date": "2026-01-01"}], False),  # closed row: known
        ([{"resident_id": "R2"}], False),  # managed
        ([{"resident_id": "R2", "disease": "t2dm"}], True),  # other disease only
        ([{"resident_id": "R2", "enrolled_date": "2026-12-01"}], True),  # row not yet on D
    ],
)
def test_case_finding_registry_rows(reg_rows: list[dict[str, Any]], found: bool) -> None:
    cl = claims(outpatient("2026-11-01"), outpatient("2026-11-02"))
    tasks = run(R2, registry(*reg_rows), cl=cl)
    htn = tasks.loc[(tasks["resident_id"] == "R2") & (tasks["disease"] == "htn")]
    assert bool((htn["task_code"] == "suspected_unmanaged").any()) is found


def test_case_finding_team_and_status() -> None:
    res = residents(
        {"resident_id": "R2", "signed_team_id": None, "grid_id": "G2"},
        {"resident_id": "R3", "status": "moved"},
    )
    cl = claims(
        outpatient("2026-11-01"),
        outpatient("2026-11-02"),
        {"resident_id": "R3", "visit_type": "inpatient", "visit_date": "2026-11-01"},
    )
    tasks = run(res, registry({"resident_id": "R1"}), cl=cl)
    assert one(tasks, "R2")["team_id"] == "T_GRID2"
    assert none_for(tasks, "R3")


def test_case_finding_dismissal_holds_until_new_claim() -> None:
    dis = pd.DataFrame(
        {
            "resident_id": ["R2"],
            "disease": ["htn"],
            "task_code": ["suspected_unmanaged"],
            "due_date": pd.to_datetime(["2026-11-10"]),
            "dismissed_at": pd.to_datetime(["2026-11-10T02:00:00Z"], utc=True),
            "reason": ["已排除"],
        }
    )
    two = [outpatient("2026-10-01"), outpatient("2026-11-10")]
    # Dismissed on 11-10 (local); its latest claim is 11-10 → stays closed on D.
    assert none_for(run(R2, registry({"resident_id": "R1"}), cl=claims(*two), dis=dis), "R2")
    # A qualifying claim after the dismissal day reopens it.
    three = [*two, outpatient("2026-11-11")]
    tasks = run(R2, registry({"resident_id": "R1"}), cl=claims(*three), dis=dis)
    assert one(tasks, "R2")["task_code"] == "suspected_unmanaged"


def test_case_finding_reasons() -> None:
    cl = claims(
        outpatient("2026-11-01", visit_type="inpatient", discharge_date="2026-11-06"),
        outpatient("2026-09-01"),
    )
    t = one(run(R2, registry({"resident_id": "R1"}), cl=cl), "R2")
    assert t["reason_zh"] == "近一年有高血压住院记录（2026-11-01），未纳入高血压管理"
    assert t["event_date"] == TS("2026-11-01")


# --------------------------------------------------------------------------------------
# Output shape, risk, push list
# --------------------------------------------------------------------------------------
def test_columns_and_fallback_risk_in_tasks() -> None:
    fu = followups(
        {"resident_id": "R1", "visit_date": "2026-03-01", "classification": "unsatisfactory"},
        {"resident_id": "R1", "visit_date": "2026-05-01"},
        {"resident_id": "R1", "visit_date": "2026-07-01", "classification": "adverse"},
        {"resident_id": "R1", "visit_date": "2026-09-01"},
        {"resident_id": "R1", "visit_date": "2026-11-01"},
    )
    tasks = run(R1, REG1, fu)
    for c in (
        "resident_id",
        "disease",
        "task_code",
        "colour",
        "due_date",
        "days_overdue",
        "team_id",
        "grid_id",
        "last_visit_date",
        "last_sbp",
        "last_dbp",
        "last_glucose",
        "last_classification",
        "event_date",
        "reason_zh",
        "risk_score",
    ):
        assert c in tasks.columns
    # Last four visits: sat, adverse, sat, sat → 1/4.
    assert one(tasks)["risk_score"] == pytest.approx(0.25)


def test_empty_inputs() -> None:
    tasks = run(R1, registry({"resident_id": "R9"}))
    assert tasks.empty
    assert push_list(tasks, D).empty


def task_rows(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {"disease": "htn", "team_id": "T1", "risk_score": 0.0}
    df = pd.DataFrame([{**base, **r} for r in rows])
    df["due_date"] = pd.to_datetime(df["due_date"])
    return df


def test_push_list_filter_and_order() -> None:
    tasks = task_rows(
        {"resident_id": "A", "task_code": "routine_followup", "due_date": "2026-11-20"},
        {"resident_id": "B", "task_code": "routine_followup", "due_date": "2026-11-24"},  # future
        {"resident_id": "C", "task_code": "emergency_reading", "due_date": "2026-11-22"},
        {"resident_id": "D", "task_code": "first_followup", "due_date": "2026-11-01"},
        {
            "resident_id": "E",
            "task_code": "uncontrolled_recheck",
            "due_date": "2026-11-21",
            "risk_score": 0.75,
        },
        {"resident_id": "F", "task_code": "routine_followup", "due_date": "2026-10-01"},  # 53 d
        {
            "resident_id": "G",
            "task_code": "post_discharge",
            "due_date": "2026-11-10",
            "team_id": "T2",
        },
        {"resident_id": "H", "task_code": "first_followup", "due_date": "2026-11-01"},
        {"resident_id": "I", "task_code": "referral_suggested", "due_date": "2026-11-01"},
    )
    pl = push_list(tasks, D, team_id="T1")
    # red: I (22 d) before C (1 d); yellow: E (risk 0.75), then F (53 d, turned yellow),
    # then D and H (22 d, tie → resident_id); green: A.
    assert pl["resident_id"].tolist() == ["I", "C", "E", "F", "D", "H", "A"]
    assert pl["colour"].tolist() == ["red", "red", "yellow", "yellow", "yellow", "yellow", "green"]
    assert pl["days_overdue"].tolist() == [22, 1, 2, 53, 22, 22, 3]
    assert push_list(tasks, D)["resident_id"].tolist()[:3] == ["I", "G", "C"]  # G: 13 d


def test_push_list_due_today_included() -> None:
    tasks = task_rows(
        {"resident_id": "A", "task_code": "routine_followup", "due_date": "2026-11-23"}
    )
    assert push_list(tasks, D)["days_overdue"].tolist() == [0]


def test_push_list_risk_series() -> None:
    tasks = task_rows(
        {"resident_id": "A", "task_code": "routine_followup", "due_date": "2026-11-01"},
        {"resident_id": "B", "task_code": "routine_followup", "due_date": "2026-11-20"},
        {
            "resident_id": "C",
            "task_code": "routine_followup",
            "due_date": "2026-11-10",
            "risk_score": 0.5,
        },
    )
    by_pair = pd.Series([0.9, 0.1], index=pd.MultiIndex.from_tuples([("B", "htn"), ("A", "htn")]))
    # C has no model score: its fallback 0.5 is used.
    assert push_list(tasks, D, risk=by_pair)["resident_id"].tolist() == ["B", "C", "A"]
    by_resident = pd.Series({"A": 0.2, "B": 0.3, "C": 0.1})
    assert push_list(tasks, D, risk=by_resident)["resident_id"].tolist() == ["B", "A", "C"]
    # No risk given: fallback scores (C 0.5, others 0) then days overdue (A 22 > B 3).
    assert push_list(tasks, D)["resident_id"].tolist() == ["C", "A", "B"]


def test_push_list_from_open_tasks_end_to_end() -> None:
    res = residents(
        {"resident_id": "R1"},
        {"resident_id": "R2"},
        {"resident_id": "R3", "signed_team_id": "T_OTHER"},
    )
    reg = registry(
        {"resident_id": "R1", "team_id": None},
        {"resident_id": "R2", "team_id": None, "enrolled_date": "2026-11-20"},  # due 12-04
    )
    cl = claims(
        {"resident_id": "R3", "visit_type": "inpatient", "visit_date": "2026-11-01"},
    )
    tasks = run(res, reg, BAD2, cl=cl)
    pl = push_list(tasks, D, team_id="T_SIGNED")
    assert pl[["resident_id", "task_code"]].values.tolist() == [["R1", "referral_suggested"]]
    assert push_list(tasks, D, team_id="T_OTHER")["task_code"].tolist() == ["suspected_unmanaged"]


# --------------------------------------------------------------------------------------
# Masking and entries
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("欧阳娜娜", "欧***"), ("李", "李*"), (" 王小明 ", "王**")],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked
    assert mask_names(pd.Series([name])).tolist() == [masked]


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("13812341234", "138****1234"), ("0536-5221234", "053*****1234"), ("12345", "***45")],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked
    assert mask_phones(pd.Series([phone])).tolist() == [masked]


def test_mask_series_keeps_missing() -> None:
    assert mask_names(pd.Series(["张三", None])).isna().tolist() == [False, True]
    assert mask_phones(pd.Series(["13812341234", None])).isna().tolist() == [False, True]


@pytest.mark.parametrize("masked", [True, False])
def test_push_list_entries(masked: bool) -> None:
    res = residents(
        {
            "resident_id": "R1",
            "name": "欧阳娜娜",
            "phone": "13900001111",
            "birth_date": "1961-11-23",  # 65 today
            "sex": 2,
            "lat": 36.9,
            "lng": 118.7,
        }
    )
    tasks = run(res, REG1, BAD2)
    e = push_list_entries(tasks, res, None, D, "T1", masked=masked)
    assert len(e) == 1
    row = e.iloc[0]
    assert row["name"] == ("欧***" if masked else "欧阳娜娜")
    assert row["phone"] == ("139****1111" if masked else "13900001111")
    assert row["age"] == 65
    assert row["sex"] == 2
    assert (row["lat"], row["lng"]) == (36.9, 118.7)
    assert (row["task_code"], row["colour"], row["days_overdue"]) == (
        "referral_suggested",
        "red",
        22,
    )
    assert row["last_visit_date"] == TS("2026-11-01")
    assert row["reason_zh"] == "连续两次随访控制不满意，未转诊"
    assert row["risk_score"] == pytest.approx(1.0)
    for c in ("resident_id", "disease", "due_date", "grid_id", "team_id", "last_sbp"):
        assert c in e.columns


def test_task_relevant_claims_keep_every_task() -> None:
    """Filtering claims to the rules' diagnoses first changes no task (build shortcut)."""
    import datetime as _dt

    import pandas as _pd

    from geo.followup import open_tasks as _open_tasks
    from geo.followup import task_relevant_claims

    d = _dt.date(2026, 11, 23)
    residents = _pd.DataFrame(
        {
            "resident_id": ["A", "B", "C"],
            "birth_date": _pd.to_datetime(["1950-01-01", "1960-01-01", "1970-01-01"]),
            "status": ["active"] * 3,
            "signed_team_id": ["T1"] * 3,
            "grid_id": ["G1"] * 3,
            "lat": [36.8] * 3,
            "lng": [118.8] * 3,
        }
    )
    registry = _pd.DataFrame(
        {
            "resident_id": ["A"],
            "disease": ["htn"],
            "enrolled_date": _pd.to_datetime(["2020-01-01"]),
            "closed_date": _pd.to_datetime([None]),
            "team_id": [None],
        }
    )
    claims = _pd.DataFrame(
        {
            "resident_id": ["A", "B", "B", "C", "C"],
            "visit_date": _pd.to_datetime(
                ["2026-11-10", "2026-10-01", "2026-10-05", "2026-10-01", "2026-10-02"]
            ),
            "discharge_date": _pd.to_datetime(["2026-11-15", None, None, None, None]),
            "visit_type": ["inpatient", "outpatient", "outpatient", "outpatient", "outpatient"],
            "icd10": ["I21.0", "I10", "I11.9", "J06.9", "M54.5"],
        }
    )
    kept = task_relevant_claims(claims)
    assert kept["icd10"].tolist() == ["I21.0", "I10", "I11.9"]  # J06, M54 open nothing
    grids = _pd.DataFrame({"grid_id": ["G1"], "team_id": ["T1"]})
    empty = _pd.DataFrame(columns=["followup_id", "resident_id", "disease", "visit_date"])
    meas = _pd.DataFrame(columns=["measurement_id", "resident_id", "measured_at"])
    kwargs = {
        "residents": residents,
        "registry": registry,
        "followups": empty,
        "measurements": meas,
        "grids": grids,
    }
    full = _open_tasks(d, claims=claims, **kwargs)
    short = _open_tasks(d, claims=kept, **kwargs)
    cols = ["resident_id", "disease", "task_code", "due_date"]
    _pd.testing.assert_frame_equal(
        full[cols].reset_index(drop=True), short[cols].reset_index(drop=True)
    )
    # A: post_discharge (I21 inpatient discharged 8 days before D); B: suspected htn.
    assert set(zip(full["resident_id"], full["task_code"], strict=True)) == {
        ("A", "post_discharge"),
        ("B", "suspected_unmanaged"),
    }
