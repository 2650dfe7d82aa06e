"""Tests of geo.followup: the RULES.md follow-up task table, one test per row, and its precedence.

Every fixture is a handful of hand-built rows (``followup_rows``); every expected value is
worked out by hand from RULES.md (D = 2026-11-23 unless stated), never by calling the code
under test.
"""

from __future__ import annotations

import pandas as pd
import pytest
from followup_rows import (
    BAD2,
    R1,
    REG1,
    TS,
    claims,
    followups,
    measurements,
    one,
    registry,
    run,
)


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
