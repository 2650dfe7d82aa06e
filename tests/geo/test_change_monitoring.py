"""Change monitoring (RULES.md): pooled two-proportion z-test, BH over the family, k rule.

Every expected number is worked out here by hand from the formula (the normal tail by
``math.erfc``), not by the module's own helpers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from geo.change_monitoring import (
    MONITORED_INDICATORS,
    OUTPUT_COLUMNS,
    monitor_changes,
    pooled_z_test,
)

K = 10
CONTROL, SIGNING = "htn_control_rate", "signing_rate"


def _rows(items: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(items, columns=["unit_id", "indicator", "numerator", "denominator"])


def _two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0))


def test_pooled_z_by_hand() -> None:
    # 30/100 → 50/100: p̂ = 0.4, se = sqrt(0.4·0.6·(1/100 + 1/100)) = sqrt(0.0048)
    z, p = pooled_z_test([30], [100], [50], [100])
    assert z[0] == pytest.approx(0.2 / math.sqrt(0.0048))  # 2.8868
    assert z[0] == pytest.approx(2.886751, abs=1e-6)
    assert p[0] == pytest.approx(_two_sided(2.886751), rel=1e-5)  # 0.00389
    # Down: 40/50 → 20/50: p̂ = 0.6, se = sqrt(0.6·0.4·0.04) = sqrt(0.0096)
    z, _ = pooled_z_test([40], [50], [20], [50])
    assert z[0] == pytest.approx(-0.4 / math.sqrt(0.0096))  # −4.0825
    # Both months 0 %: no variance, equal rates → z 0, p 1. No denominator → NaN.
    z, p = pooled_z_test([0, 5], [20, 0], [0, 5], [30, 10])
    assert (z[0], p[0]) == (0.0, 1.0)
    assert np.isnan(z[1]) and np.isnan(p[1])


def _family() -> tuple[pd.DataFrame, pd.DataFrame]:
    previous = _rows(
        [
            ("G1", CONTROL, 30, 100),
            ("G1", SIGNING, 500, 1000),
            ("G2", CONTROL, 40, 50),
            ("G2", SIGNING, 5, 9),  # previous denominator below k: not tested
            ("G3", CONTROL, 12, 40),
            ("G3", SIGNING, 0, 20),
            ("G4", "doctors_per_1000", 3, 1000),  # not a rate of counted people: ignored
        ]
    )
    current = _rows(
        [
            ("G1", CONTROL, 50, 100),
            ("G1", SIGNING, 480, 1000),
            ("G2", CONTROL, 20, 50),
            ("G2", SIGNING, 30, 60),
            ("G3", CONTROL, float("nan"), 40),  # numerator withheld (count_below_k)
            ("G3", SIGNING, 0, 30),
            ("G4", "doctors_per_1000", 4, 1000),
            ("G5", CONTROL, 20, 40),  # new this month: no previous values
        ]
    )
    return previous, current


def test_family_flags_q_and_untested_pairs() -> None:
    out = monitor_changes(*_family(), k=K)
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    got = {(r.unit_id, r.indicator): r for r in out.itertuples(index=False)}
    assert ("G4", "doctors_per_1000") not in got
    assert len(out) == 7

    # The four tested pairs and their p by hand.
    z_g1c = 0.2 / math.sqrt(0.4 * 0.6 * 0.02)  # 2.8868
    z_g1s = -0.02 / math.sqrt(0.49 * 0.51 * 0.002)  # −0.8946
    z_g2c = -0.4 / math.sqrt(0.6 * 0.4 * 0.04)  # −4.0825
    p = {
        ("G1", CONTROL): _two_sided(z_g1c),  # 0.003892
        ("G1", SIGNING): _two_sided(z_g1s),  # 0.3710
        ("G2", CONTROL): _two_sided(z_g2c),  # 0.0000446
        ("G3", SIGNING): 1.0,  # 0 % both months
    }
    # BH by hand, m = 4, p sorted: G2c, G1c, G1s, G3s.
    q_g3s = 1.0
    q_g1s = min(q_g3s, p[("G1", SIGNING)] * 4 / 3)
    q_g1c = min(q_g1s, p[("G1", CONTROL)] * 4 / 2)
    q_g2c = min(q_g1c, p[("G2", CONTROL)] * 4 / 1)
    q = {("G1", CONTROL): q_g1c, ("G1", SIGNING): q_g1s, ("G2", CONTROL): q_g2c}
    q[("G3", SIGNING)] = q_g3s
    for key, expected in p.items():
        row = got[key]
        assert row.tested, key
        assert row.p == pytest.approx(expected, rel=1e-9), key
        assert row.q == pytest.approx(q[key], rel=1e-9), key
    assert got[("G1", CONTROL)].q == pytest.approx(0.007784, rel=1e-3)

    assert got[("G1", CONTROL)].flag == "up"
    assert got[("G2", CONTROL)].flag == "down"
    assert got[("G1", SIGNING)].flag == "none"  # p 0.37
    assert got[("G3", SIGNING)].flag == "none"

    # Output values: rates, difference, previous values.
    g1c = got[("G1", CONTROL)]
    assert (g1c.prev_numerator, g1c.prev_denominator, g1c.numerator, g1c.denominator) == (
        30,
        100,
        50,
        100,
    )
    assert (g1c.prev_rate, g1c.rate) == (pytest.approx(0.3), pytest.approx(0.5))
    assert g1c.difference == pytest.approx(0.2)

    # Not tested: a denominator below k, a withheld numerator, no previous month.
    for key in (("G2", SIGNING), ("G3", CONTROL), ("G5", CONTROL)):
        row = got[key]
        assert not row.tested and row.flag == "none", key
        assert np.isnan(row.z) and np.isnan(row.p) and np.isnan(row.q), key
    assert got[("G2", SIGNING)].rate == pytest.approx(0.5)  # shown, just not tested


def test_denominator_exactly_k_is_tested() -> None:
    # Both denominators equal to k: "at least k" includes k.
    prev, cur = _rows([("G1", CONTROL, 1, 10)]), _rows([("G1", CONTROL, 9, 10)])
    out = monitor_changes(prev, cur, k=K)
    assert bool(out.loc[0, "tested"])
    # p̂ = 0.5, se = sqrt(0.25·0.2), z = 0.8 / sqrt(0.05) = 3.5777
    assert out.loc[0, "z"] == pytest.approx(0.8 / math.sqrt(0.05))
    assert out.loc[0, "flag"] == "up"
    out = monitor_changes(prev, cur, k=K + 1)
    assert not bool(out.loc[0, "tested"])


def test_the_family_decides_not_the_single_p() -> None:
    # 40/100 → 55/100: p̂ 0.475, z = 0.15 / sqrt(0.475·0.525·0.02) = 2.1240, p = 0.0337.
    z = 0.15 / math.sqrt(0.475 * 0.525 * 0.02)
    p = _two_sided(z)
    assert p == pytest.approx(0.03367, abs=5e-5)
    prev, cur = _rows([("G1", CONTROL, 40, 100)]), _rows([("G1", CONTROL, 55, 100)])
    alone = monitor_changes(prev, cur, k=K)
    assert alone.loc[0, "q"] == pytest.approx(p) and alone.loc[0, "flag"] == "up"
    # With an unchanged second pair in the family: q = min(1, 2p) = 0.0673 > 0.05.
    prev2 = pd.concat([prev, _rows([("G2", CONTROL, 50, 100)])])
    cur2 = pd.concat([cur, _rows([("G2", CONTROL, 50, 100)])])
    both = monitor_changes(prev2, cur2, k=K).set_index("unit_id")
    assert both.loc["G1", "q"] == pytest.approx(2 * p)
    assert both.loc["G1", "flag"] == "none"


def test_monitored_indicators_are_count_shares() -> None:
    assert CONTROL in MONITORED_INDICATORS and SIGNING in MONITORED_INDICATORS
    assert "primary_fund_share" not in MONITORED_INDICATORS  # yuan, not counts
    assert "doctors_per_1000" not in MONITORED_INDICATORS
    assert "beds_per_1000" not in MONITORED_INDICATORS


def test_empty_family() -> None:
    empty = _rows([])
    out = monitor_changes(empty, empty, k=K)
    assert out.empty and list(out.columns) == list(OUTPUT_COLUMNS)
