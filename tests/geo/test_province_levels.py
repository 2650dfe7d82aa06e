"""Levels above the county (geo.province): sums of the counties' counts, hand-computed."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from geo.province import INCOMPLETE, above_county, rank_counties


def _rows(*rows: tuple[str, float | None, float | None]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["county_code", "numerator", "denominator"])


def test_a_city_is_the_ratio_of_its_counties_sums_not_the_mean_of_their_rates() -> None:
    # Weifang: 300/1000 and 10/100 -> 310/1100 = 0.2818..., not (0.3 + 0.1) / 2 = 0.2.
    # Jinan (3701): one county, 50/200. Shandong: 360/1300.
    rows = _rows(
        ("370783000000", 300.0, 1000.0),
        ("370725000000", 10.0, 100.0),
        ("370124000000", 50.0, 200.0),
    )
    out = above_county(rows, "htn_management_rate").set_index(["level", "unit_id"])
    assert out.loc[("city", "370700000000"), "value"] == pytest.approx(310 / 1100)
    assert out.loc[("city", "370700000000"), "counties"] == 2
    assert out.loc[("city", "370100000000"), "value"] == pytest.approx(0.25)
    assert out.loc[("province", "370000000000"), "value"] == pytest.approx(360 / 1300)
    assert out.loc[("province", "370000000000"), "numerator"] == 360
    assert not out["suppressed"].any()


def test_per_1000_indicators_keep_their_scale() -> None:
    # Doctors per 1000: 12 doctors for 4000 people and 3 for 1000 -> 15 / 5000 * 1000 = 3.
    out = above_county(
        _rows(("370783000000", 12.0, 4000.0), ("370725000000", 3.0, 1000.0)), "doctors_per_1000"
    )
    assert out.loc[out["level"] == "city", "value"].item() == pytest.approx(3.0)


def test_a_county_without_counts_makes_its_city_incomplete_not_smaller() -> None:
    out = above_county(
        _rows(
            ("370783000000", 30.0, 100.0),
            ("370725000000", None, None),
            ("370124000000", 5.0, 50.0),
        ),
        "signing_rate",
    ).set_index(["level", "unit_id"])
    weifang = out.loc[("city", "370700000000")]
    assert weifang["suppressed"] and weifang["suppression_reason"] == INCOMPLETE
    assert math.isnan(weifang["value"]) and math.isnan(weifang["numerator"])
    assert out.loc[("city", "370100000000"), "value"] == pytest.approx(0.1)
    assert out.loc[("province", "370000000000"), "suppressed"]


def test_a_zero_denominator_has_no_value() -> None:
    out = above_county(_rows(("370783000000", 0.0, 0.0)), "signing_rate")
    assert out["value"].isna().all() and not out["suppressed"].any()


def test_unknown_indicator_is_named() -> None:
    with pytest.raises(KeyError, match="no_such_rate"):
        above_county(_rows(("370783000000", 1.0, 2.0)), "no_such_rate")


def test_ranks_share_ties_and_put_missing_last() -> None:
    rows = pd.DataFrame(
        {"county_code": ["b", "a", "c", "d", "e"], "value": [0.5, 0.5, None, 0.9, 0.1]}
    )
    ranked = rank_counties(rows)
    assert ranked["county_code"].tolist() == ["d", "a", "b", "e", "c"]
    assert ranked["rank"].tolist() == [1, 2, 2, 4, None]
