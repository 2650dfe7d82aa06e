"""Tests of geo.followup: the overdue turn, age targets, enrolment and closure,
residents' status, teams, local dates of readings and dismissals.

Every fixture is a handful of hand-built rows (``followup_rows``); every expected value is
worked out by hand from RULES.md (D = 2026-11-23 unless stated), never by calling the code
under test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from followup_rows import (
    BAD2,
    R1,
    REG1,
    TS,
    D,
    claims,
    followups,
    measurements,
    none_for,
    one,
    registry,
    residents,
    run,
)

from geo.followup import (
    push_list,
)


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
