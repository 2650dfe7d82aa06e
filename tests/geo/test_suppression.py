"""Small-number suppression: each case of the rule on hand-built rows."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from geo.indicators import compute_indicators
from geo.suppression import (
    COUNT_BELOW_K,
    DENOMINATOR_BELOW_K,
    SUPPRESSION_REASON_TERMS,
    observed_count_reason,
    suppress,
    suppression_reason,
    suppression_reasons,
    withheld_counts,
)


def rows(*recs: tuple) -> pd.DataFrame:
    """(level, unit, indicator, numerator, denominator, numerator_people, denominator_people)"""
    df = pd.DataFrame(
        recs,
        columns=[
            "level",
            "unit_id",
            "indicator",
            "numerator",
            "denominator",
            "numerator_people",
            "denominator_people",
        ],
    )
    df["value"] = df["numerator"] / df["denominator"].where(df["denominator"] > 0)
    return df


def one(df: pd.DataFrame, unit: str) -> pd.Series:
    return df[df.unit_id == unit].iloc[0]


def test_denominator_nine_suppressed_ten_shown():
    df = rows(
        ("grid", "d9", "signing_rate", 0, 9, 0, 9), ("grid", "d10", "signing_rate", 0, 10, 0, 10)
    )
    out = suppress(df)
    r9, r10 = one(out, "d9"), one(out, "d10")
    assert r9.suppressed and r9.suppression_reason == DENOMINATOR_BELOW_K
    # value, numerator and the (small) denominator itself are hidden
    assert math.isnan(r9.value) and math.isnan(r9.numerator) and math.isnan(r9.denominator)
    assert math.isnan(r9.denominator_people)
    assert not r10.suppressed and r10.suppression_reason is None
    assert (r10.numerator, r10.denominator, r10.value) == (0, 10, 0.0)


def test_count_rule_keeps_the_denominator_visible():
    out = suppress(rows(("grid", "g", "signing_rate", 5, 10, 5, 10)))
    r = one(out, "g")
    assert r.suppressed and r.suppression_reason == COUNT_BELOW_K
    assert r.denominator == 10 and r.denominator_people == 10
    assert math.isnan(r.value) and math.isnan(r.numerator) and math.isnan(r.numerator_people)


def test_count_nine_suppressed_ten_shown():
    df = rows(
        ("village", "c9", "signing_rate", 9, 40, 9, 40),
        ("village", "c10", "signing_rate", 10, 40, 10, 40),
    )
    out = suppress(df)
    assert one(out, "c9").suppression_reason == COUNT_BELOW_K
    r10 = one(out, "c10")
    assert not r10.suppressed and r10.suppression_reason is None
    assert r10.value == pytest.approx(10 / 40)
    assert (r10.numerator, r10.denominator) == (10, 40)


def test_zero_count_is_shown():
    # 0 of 25: "none of at least 10" is shown (like 100 %).
    out = suppress(rows(("town", "z", "elderly_flu_vax_rate", 0, 25, 0, 25)))
    r = one(out, "z")
    assert not r.suppressed and r.value == 0.0


def test_zero_denominator_is_suppressed_as_denominator_below_k():
    out = suppress(rows(("h3:8", "empty", "htn_control_rate", 0, 0, 0, 0)))
    assert one(out, "empty").suppression_reason == DENOMINATOR_BELOW_K


def test_county_always_shown():
    df = rows(
        ("county", "370783000000", "signing_rate", 3, 5, 3, 5),
        ("town", "t", "signing_rate", 3, 5, 3, 5),
    )
    out = suppress(df)
    c = one(out, "370783000000")
    assert not c.suppressed and c.suppression_reason is None
    assert c.value == pytest.approx(0.6) and c.numerator == 3
    assert one(out, "t").suppressed


def test_people_counts_not_raw_numerators_are_tested():
    # g: 30 of 200 claims, made by 2 of 50 residents -> count rule on the 2 people.
    # h: 12 of 40 claims, but all 40 made by 8 residents -> denominator rule on the 8.
    df = rows(
        ("grid", "g", "in_county_visit_share", 30, 200, 2, 50),
        ("grid", "h", "in_county_visit_share", 12, 40, 6, 8),
    )
    out = suppress(df)
    assert one(out, "g").suppression_reason == COUNT_BELOW_K
    assert one(out, "h").suppression_reason == DENOMINATOR_BELOW_K


def test_resources_numerator_not_tested_population_denominator_is():
    # doctors_per_1000: 2 doctors for 1500 people is shown; 2 for 8 people is not.
    df = rows(
        ("grid", "big", "doctors_per_1000", 2, 1500, np.nan, 1500),
        ("grid", "tiny", "doctors_per_1000", 2, 8, np.nan, 8),
    )
    df["value"] = df["value"] * 1000
    out = suppress(df)
    big = one(out, "big")
    assert not big.suppressed and big.value == pytest.approx(2 / 1500 * 1000)
    assert one(out, "tiny").suppression_reason == DENOMINATOR_BELOW_K


def test_custom_k_and_always_show_levels_and_plain_frames():
    df = pd.DataFrame(
        {
            "level": ["team", "grid"],
            "unit_id": ["T", "G"],
            "indicator": ["signing_rate"] * 2,
            "numerator": [4.0, 4.0],
            "denominator": [6.0, 6.0],
            "value": [4 / 6, 4 / 6],
        }
    )
    # without people columns the numerator and denominator themselves are tested
    out = suppress(df, k=5, always_show_levels=("county", "team"))
    assert not one(out, "T").suppressed
    g = one(out, "G")
    assert g.suppressed and g.suppression_reason == COUNT_BELOW_K  # 4 < 5 <= 6
    assert df["value"].notna().all()  # the input is not modified


def test_suppress_on_computed_indicators():
    # 12 active residents in one village, 3 signed: signing 3/12 -> count 3 < 10 hidden;
    # the county (always shown) keeps 3/12.
    n = 12
    res = pd.DataFrame(
        {
            "resident_id": [f"r{i}" for i in range(n)],
            "sex": 1,
            "birth_date": pd.to_datetime(["1970-01-01"] * n),
            "area_code": "370783001001",
            "town_code": "370783001000",
            "grid_id": "G1",
            "signed_team_id": ["T"] * 3 + [None] * (n - 3),
            "signed_date": pd.to_datetime([None] * n),
            "status": "active",
        }
    )
    out = suppress(
        compute_indicators(dt.date(2026, 6, 30), residents=res, levels=["village", "county"])
    )
    v = out[(out.level == "village") & (out.indicator == "signing_rate")].iloc[0]
    assert v.suppression_reason == COUNT_BELOW_K and v.denominator == 12
    c = out[(out.level == "county") & (out.indicator == "signing_rate")].iloc[0]
    assert not c.suppressed and c.value == pytest.approx(3 / 12)
    # no htn patients anywhere: management-rate denominator 12 × 0.275 = 3.3 < 10
    h = out[(out.level == "village") & (out.indicator == "htn_management_rate")].iloc[0]
    assert h.suppression_reason == DENOMINATOR_BELOW_K


# --------------------------------------------------------------------------------------
# The rule on counts (for callers without indicator rows): hand-computed, k = 10
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("num", "den", "want"),
    [
        (0, 9, DENOMINATOR_BELOW_K),  # 9 people in the denominator: below 10
        (5, 9, DENOMINATOR_BELOW_K),  # denominator first, whatever the numerator
        (0, 0, DENOMINATOR_BELOW_K),  # an empty cell has nothing to show a rate over
        (3, None, DENOMINATOR_BELOW_K),  # unknown denominator counts as 0
        (3, float("nan"), DENOMINATOR_BELOW_K),
        (0, 10, None),  # "none of 10" is shown
        (1, 10, COUNT_BELOW_K),
        (9, 100, COUNT_BELOW_K),
        (10, 10, None),  # 100 % of 10 is shown
        (None, 50, None),  # unknown numerator: not tested
        (float("nan"), 50, None),
    ],
)
def test_suppression_reason_scalar_and_vector_agree(num, den, want):
    assert suppression_reason(num, den, 10) == want
    assert suppression_reasons([num], [den], 10).tolist() == [want]


def test_suppression_reasons_matches_suppress_without_exempt_levels():
    num = [0, 1, 9, 10, 3, 0, 12, np.nan]
    den = [9, 10, 40, 40, np.nan, 0, 12, 30]
    frame = pd.DataFrame({"level": "cell", "numerator": num, "denominator": den, "value": np.nan})
    want = list(suppress(frame, k=10, always_show_levels=())["suppression_reason"])
    got = suppression_reasons(num, den, 10).tolist()
    assert (
        got
        == want
        == [
            DENOMINATOR_BELOW_K,
            COUNT_BELOW_K,
            COUNT_BELOW_K,
            None,
            DENOMINATOR_BELOW_K,
            DENOMINATOR_BELOW_K,
            None,
            None,
        ]
    )


def test_suppression_reasons_other_k():
    assert suppression_reasons([2, 4], [5, 5], k=5).tolist() == [COUNT_BELOW_K, COUNT_BELOW_K]
    assert suppression_reasons([5, 0], [4, 5], k=5).tolist() == [DENOMINATOR_BELOW_K, None]


def test_observed_count_reason_hides_zero_too():
    assert observed_count_reason(0, 10) == COUNT_BELOW_K  # a relative risk over 0 cases
    assert observed_count_reason(9, 10) == COUNT_BELOW_K
    assert observed_count_reason(9.5, 10) == COUNT_BELOW_K
    assert observed_count_reason(10, 10) is None
    assert observed_count_reason(None, 10) is None


def test_withheld_counts_small_parts():
    # 1..9 withheld; 0 and >= 10 shown; two small ones need no complement.
    assert withheld_counts({"a": 0, "b": 1, "c": 9, "d": 10}, 10, total_shown=True) == {"b", "c"}


def test_withheld_counts_lone_small_part_gets_a_complement():
    # Total 3 + 40 + 25 = 68 shown: 68 − 40 − 25 would give a's 3 back, so 25 (the
    # smallest other non-zero part) goes too.
    assert withheld_counts({"a": 3, "b": 40, "c": 25, "z": 0}, 10, total_shown=True) == {"a", "c"}
    # Total not shown: nothing to subtract from.
    assert withheld_counts({"a": 3, "b": 40, "c": 25}, 10, total_shown=False) == {"a"}
    # Tie on the smallest other count: the smaller key as text.
    assert withheld_counts({"a": 3, "y": 25, "x": 25}, 10, total_shown=True) == {"a", "x"}
    # A lone small part with no other non-zero part: nothing more to withhold.
    assert withheld_counts({"a": 3, "b": 0}, 10, total_shown=True) == {"a"}
    assert withheld_counts({}, 10, total_shown=True) == set()


def test_reason_terms_cover_the_reasons():
    assert [t.code for t in SUPPRESSION_REASON_TERMS] == [DENOMINATOR_BELOW_K, COUNT_BELOW_K]
    assert all(t.zh and t.en for t in SUPPRESSION_REASON_TERMS)
