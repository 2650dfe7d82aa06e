"""Tests of geo.followup: case finding, the tasks' output shape, risk, the push list,
masking and list entries.

Every fixture is a handful of hand-built rows (``followup_rows``); every expected value is
worked out by hand from RULES.md (D = 2026-11-23 unless stated), never by calling the code
under test.
"""

from __future__ import annotations

from typing import Any

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
    none_for,
    one,
    registry,
    residents,
    run,
)

from geo.followup import (
    mask_name,
    mask_names,
    mask_phone,
    mask_phones,
    push_list,
    push_list_entries,
)


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
