"""Grid health index: equal and custom weights, missing and suppressed components."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from geo.health_index import grid_health_index
from geo.rules import DEFAULT_RULES

SEVEN = [
    "htn_standard_rate",
    "htn_control_rate",
    "t2dm_standard_rate",
    "t2dm_control_rate",
    "followup_overdue_rate",
    "key_pop_signing_rate",
    "elderly_flu_vax_rate",
]


def long(values: dict[str, dict[str, float]], level: str = "grid") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"level": level, "unit_id": u, "indicator": k, "value": v}
            for u, d in values.items()
            for k, v in d.items()
        ]
    )


G1 = {
    "htn_standard_rate": 0.70,
    "htn_control_rate": 0.50,
    "t2dm_standard_rate": 0.60,
    "t2dm_control_rate": 0.40,
    "followup_overdue_rate": 0.10,
    "key_pop_signing_rate": 0.80,
    "elderly_flu_vax_rate": 0.30,
    "signing_rate": 0.99,
}


def test_equal_weights_mean_of_seven():
    out = grid_health_index(long({"G1": G1}))
    r = out.iloc[0]
    # (70 + 50 + 60 + 40 + (1 − 0.10)·100 + 80 + 30) / 7 = 420 / 7 = 60
    assert r.health_index == pytest.approx(60.0)
    assert r.n_components == 7 and r.weight_share == pytest.approx(1.0)
    assert r["1-followup_overdue_rate"] == pytest.approx(90.0)
    assert r.htn_standard_rate == pytest.approx(70.0)
    assert r.components_used.split(";") == list(DEFAULT_RULES.indicators.health_index_weights)
    assert "signing_rate" not in out.columns  # not a component


def test_custom_weights():
    w = {
        "htn_standard_rate": 3.0,
        "htn_control_rate": 1.0,
        "t2dm_standard_rate": 0.0,
        "t2dm_control_rate": 0.0,
        "1-followup_overdue_rate": 1.0,
        "key_pop_signing_rate": 0.0,
        "elderly_flu_vax_rate": 0.0,
    }
    r = grid_health_index(long({"G1": G1}), weights=w).iloc[0]
    # (3·70 + 1·50 + 1·90) / 5 = 350 / 5 = 70
    assert r.health_index == pytest.approx(70.0)
    assert r.n_components == 3
    assert r.components_used == "htn_standard_rate;htn_control_rate;1-followup_overdue_rate"


def test_missing_components_renormalised_and_reported():
    g2 = dict(G1)
    g2["t2dm_standard_rate"] = float("nan")  # no managed diabetics
    del g2["t2dm_control_rate"]  # row absent altogether
    r = grid_health_index(long({"G2": g2})).iloc[0]
    # (70 + 50 + 90 + 80 + 30) / 5 = 320 / 5 = 64
    assert r.health_index == pytest.approx(64.0)
    assert r.n_components == 5 and r.weight_share == pytest.approx(5 / 7)
    assert "t2dm" not in r.components_used
    assert math.isnan(r.t2dm_standard_rate) and math.isnan(r.t2dm_control_rate)


def test_too_few_components_gives_nan():
    # 3 of 7 equal weights = 0.43 < 0.5 -> NaN; 4 of 7 = 0.57 -> computed.
    three = {k: G1[k] for k in SEVEN[:3]}
    four = {k: G1[k] for k in SEVEN[:4]}
    out = grid_health_index(long({"G3": three, "G4": four})).set_index("unit_id")
    assert math.isnan(out.loc["G3", "health_index"])
    assert out.loc["G3", "n_components"] == 3
    # (70 + 50 + 60 + 40) / 4 = 55
    assert out.loc["G4", "health_index"] == pytest.approx(55.0)
    # the threshold is a parameter
    out = grid_health_index(long({"G3": three}), min_weight_share=0.4)
    assert out.iloc[0].health_index == pytest.approx((70 + 50 + 60) / 3)


def test_suppressed_components_count_as_missing():
    df = long({"G1": G1})
    df["suppressed"] = df["indicator"] == "elderly_flu_vax_rate"  # value left in on purpose
    r = grid_health_index(df).iloc[0]
    # (70 + 50 + 60 + 40 + 90 + 80) / 6 = 390 / 6 = 65
    assert r.health_index == pytest.approx(65.0)
    assert "elderly_flu_vax_rate" not in r.components_used


def test_other_levels_and_as_of_kept_apart():
    df = pd.concat([long({"G1": G1}), long({"G1": G1}, level="town")])
    df["as_of"] = pd.Timestamp("2026-06-30")
    out = grid_health_index(df)
    assert list(out.level) == ["grid"] and list(out.as_of) == [pd.Timestamp("2026-06-30")]
    assert len(grid_health_index(df, level="town")) == 1


def test_bad_weights_rejected():
    with pytest.raises(ValueError):
        grid_health_index(long({"G1": G1}), weights={"htn_standard_rate": -1.0})
    with pytest.raises(ValueError):
        grid_health_index(long({"G1": G1}), weights={"htn_standard_rate": 0.0})


def test_units_without_components_and_several_dates():
    # G9 has only non-component rows (all NaN for the index); two as_of dates stay apart
    # and no (unit, date) pair is invented.
    df = pd.concat(
        [
            long({"G1": G1}).assign(as_of=pd.Timestamp("2026-05-31")),
            long({"G2": G1}).assign(as_of=pd.Timestamp("2026-06-30")),
            long({"G9": {"signing_rate": 0.5}}).assign(as_of=pd.Timestamp("2026-06-30")),
        ]
    )
    out = grid_health_index(df).set_index(["unit_id", "as_of"])
    assert sorted(out.index.tolist()) == [
        ("G1", pd.Timestamp("2026-05-31")),
        ("G2", pd.Timestamp("2026-06-30")),
        ("G9", pd.Timestamp("2026-06-30")),
    ]
    assert out.loc[("G2", pd.Timestamp("2026-06-30")), "health_index"] == pytest.approx(60.0)
    g9 = out.loc[("G9", pd.Timestamp("2026-06-30"))]
    assert math.isnan(g9.health_index) and g9.n_components == 0 and g9.components_used == ""
