"""Hotspots: EB smoothing, Gi* (esda), Benjamini–Hochberg, classes, islands, exclusions."""

from __future__ import annotations

import warnings

import esda
import geopandas
import h3
import libpysal
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geo.hotspots import OUTPUT_COLUMNS, bh_qvalues, eb_smooth, gi_star, hotspots
from geo.rules import HotspotConfig
from geo.weights import h3_weights, polygon_weights

CONFIG = HotspotConfig()  # h3 res 8, fdr 0.05, 9,999 permutations, seed 12345
FAST = HotspotConfig(permutations=99)  # where the permutation p-value is not under test
CENTRE = h3.latlng_to_cell(36.86, 118.79, 8)  # the study county, around 36.86N 118.79E


def _planted_patch(seed: int = 20240601) -> pd.DataFrame:
    """331 res-8 cells (ring 0..10); centre + ring-1 at 60% prevalence, the rest 25%."""
    cells = sorted(h3.grid_disk(CENTRE, 10))
    rng = np.random.default_rng(seed)
    den = rng.integers(180, 221, len(cells))  # denominators ~200
    patch = set(h3.grid_disk(CENTRE, 1))
    prevalence = np.array([0.60 if c in patch else 0.25 for c in cells])
    return pd.DataFrame(
        {"unit_id": cells, "numerator": rng.binomial(den, prevalence), "denominator": den}
    )


# --------------------------------------------------------------------------------------
# 1. Planted hotspot
# --------------------------------------------------------------------------------------
def test_planted_patch_is_hot_and_nothing_far_from_it() -> None:
    units = _planted_patch()
    out = hotspots(units, config=CONFIG)

    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert out["unit_id"].tolist() == units["unit_id"].tolist()
    ring = out["unit_id"].map(lambda c: h3.grid_distance(CENTRE, c))
    patch = ring <= 1
    assert len(out) == 331 and patch.sum() == 7

    assert (out.loc[patch, "class"] == "hot").all()
    # The Gi* window (the cell and its ring-1) of a ring-2 cell overlaps the patch, so it
    # may be hot; from ring 3 on (more than ring-2 from the patch centre) windows miss the
    # patch and nothing is hot. (Also checked over 40 other data seeds while writing this.)
    assert not (out.loc[ring > 2, "class"] == "hot").any()
    assert (out["class"] != "cold").all()
    # The permutation p-value agrees: the patch is extreme under conditional randomisation
    # (the bound 1e-3 holds whatever RNG stream esda uses for the permutations).
    assert (out.loc[patch, "p_sim"] <= 1e-3).all()
    assert (out.loc[patch, "z"] > 0).all()
    # The raw and smoothed rates and the counts are passed through consistently.
    np.testing.assert_allclose(out["rate"], units["numerator"] / units["denominator"])
    np.testing.assert_allclose(out["numerator"], units["numerator"])
    # EB shrinks each rate towards the global rate, never past it.
    m = units["numerator"].sum() / units["denominator"].sum()
    lo = np.minimum(out["rate"], m) - 1e-12
    hi = np.maximum(out["rate"], m) + 1e-12
    assert out["smoothed_rate"].between(lo, hi).all()


def test_hotspots_are_deterministic_and_leave_global_rng_alone() -> None:
    units = _planted_patch()
    np.random.seed(7)
    before = np.random.get_state()
    first = hotspots(units, config=FAST)
    after = np.random.get_state()
    assert before[0] == after[0]
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]
    pd.testing.assert_frame_equal(first, hotspots(units, config=FAST))
    # The seed matters (the permutation p-values change with it) ...
    other = hotspots(units, config=FAST.model_copy(update={"seed": 1}))
    assert not np.allclose(first["p_sim"], other["p_sim"])
    # ... but not the analytic statistics, which decide the class.
    pd.testing.assert_frame_equal(first.drop(columns="p_sim"), other.drop(columns="p_sim"))


# --------------------------------------------------------------------------------------
# 2. Gi* regression against esda's documented example
# --------------------------------------------------------------------------------------
# esda.getisord.G_Local docstring (esda 2.9): six points, DistanceBand(threshold=15),
# binary weights, star=True. These are the documented ``lg_star.Zs``; an esda upgrade that
# changes the Gi* z-scores fails here.
ESDA_POINTS = [(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30)]
ESDA_Y = np.array([2, 3, 3.2, 5, 8, 7])
ESDA_STAR_ZS = np.array([-1.39727626, -0.28917762, 0.65064964, -0.28917762, 1.23452088, 2.02424331])


def test_gi_star_matches_esda_documented_example() -> None:
    w = libpysal.weights.DistanceBand(ESDA_POINTS, threshold=15, silence_warnings=True)
    g = gi_star(ESDA_Y, w, permutations=0, seed=CONFIG.seed)
    np.testing.assert_allclose(g.z, ESDA_STAR_ZS, atol=1e-8)
    # Two-sided analytic p-values from z.
    np.testing.assert_allclose(
        g.p, [0.16232, 0.77244, 0.51527, 0.77244, 0.21701, 0.04295], atol=5e-5
    )
    assert np.isnan(g.p_sim).all()  # permutations=0
    assert g.neighbours.tolist() == [2, 3, 1, 3, 4, 1]
    # And straight from esda, as its docstring calls it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        lg_star = esda.G_Local(ESDA_Y, w, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(lg_star.Zs, ESDA_STAR_ZS, atol=1e-8)


def test_gi_star_does_not_modify_callers_weights() -> None:
    w = libpysal.weights.DistanceBand(ESDA_POINTS, threshold=15, silence_warnings=True)
    gi_star(ESDA_Y, w, permutations=9, seed=1)
    assert w.transform == "O"
    assert all(i not in w.neighbors[i] for i in w.id_order)


def test_gi_star_island_is_its_standardised_value() -> None:
    # With star=True an island's window is itself: G*_i = x_i / sum(x), E = 1/n,
    # Var = s^2 / (n * mean)^2 (s^2 the population variance), so z_i = (x_i - mean) / s.
    w = libpysal.weights.W(
        {0: [1, 3], 1: [0, 3], 2: [], 3: [0, 1], 4: [5], 5: [4]}, silence_warnings=True
    )
    g = gi_star(ESDA_Y, w, permutations=99, seed=1)
    assert g.neighbours[2] == 0
    expected = (3.2 - ESDA_Y.mean()) / ESDA_Y.std()
    assert g.z[2] == pytest.approx(expected)
    # No permutation inference for an island: its conditional distribution is degenerate.
    assert np.isnan(g.p_sim[2])
    assert np.isfinite(np.delete(g.p_sim, 2)).all()
    # Why gi_star blanks it: esda 2.9 drops the island's self-weight in the permutation
    # engine, every simulated G* is 0, and the island gets the minimum 1 / (perms + 1)
    # whatever its value. If esda fixes this, this fails and the override can go.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lg = esda.G_Local(ESDA_Y, w, transform="B", star=True, permutations=99, seed=1, n_jobs=1)
    assert lg.p_sim[2] == pytest.approx(1 / 100)


# --------------------------------------------------------------------------------------
# 3. Marshall's global EB smoothing, by hand
# --------------------------------------------------------------------------------------
def test_eb_smooth_by_hand() -> None:
    # y = [5, 10, 40, 5], n = [100, 100, 200, 100]
    # rates r = [0.05, 0.10, 0.20, 0.05]; m = 60 / 500 = 0.12
    # s2 = (100*0.07^2 + 100*0.02^2 + 200*0.08^2 + 100*0.07^2) / 500
    #    = (0.49 + 0.04 + 1.28 + 0.49) / 500 = 2.30 / 500 = 0.0046
    # nbar = 500 / 4 = 125; A = s2 - m / nbar = 0.0046 - 0.00096 = 0.00364 (> 0, no clamp)
    # n = 100: w = 0.00364 / (0.00364 + 0.0012) = 364/484 = 91/121
    #          0.12 + (91/121) * (0.05 - 0.12) = 0.12 - 6.37/121 = 0.0673553719...
    #          0.12 + (91/121) * (0.10 - 0.12) = 0.12 - 1.82/121 = 0.1049586777...
    # n = 200: w = 0.00364 / (0.00364 + 0.0006) = 364/424 = 91/106
    #          0.12 + (91/106) * (0.20 - 0.12) = 0.12 + 7.28/106 = 0.1886792453...
    y = [5, 10, 40, 5]
    n = [100, 100, 200, 100]
    expected = [0.12 - 6.37 / 121, 0.12 - 1.82 / 121, 0.12 + 7.28 / 106, 0.12 - 6.37 / 121]
    np.testing.assert_allclose(eb_smooth(y, n), expected, rtol=1e-12)
    # Where A > 0 our estimator is esda's.
    esda_r = esda.smoothing.Empirical_Bayes(np.array(y), np.array(n)).r.ravel()
    np.testing.assert_allclose(eb_smooth(y, n), esda_r, rtol=1e-12)


def test_eb_smooth_negative_between_variance_is_clamped() -> None:
    # y = [10, 11, 12], n = [100, 100, 100]: r = [0.10, 0.11, 0.12], m = 33 / 300 = 0.11
    # s2 = 100 * (0.01^2 + 0 + 0.01^2) / 300 = 0.02 / 300 = 0.0000667
    # m / nbar = 0.11 / 100 = 0.0011; A = 0.0000667 - 0.0011 = -0.00103 < 0 -> clamped to 0
    # w = 0 / (0 + 0.0011) = 0 -> every smoothed rate is the global rate 0.11.
    y = [10, 11, 12]
    n = [100, 100, 100]
    np.testing.assert_allclose(eb_smooth(y, n), [0.11, 0.11, 0.11], rtol=1e-12)
    # esda 2.9 does not clamp: w = -0.00103 / (-0.00103 + 0.0011) = -15.5, so unit 3 gets
    # -15.5 * 0.12 + 16.5 * 0.11 = -0.045, a negative rate. If esda starts clamping, this
    # fails and eb_smooth could delegate to it.
    esda_r = esda.smoothing.Empirical_Bayes(np.array(y), np.array(n)).r.ravel()
    np.testing.assert_allclose(esda_r, [0.265, 0.11, -0.045], atol=1e-12)


def test_eb_smooth_edge_cases() -> None:
    np.testing.assert_array_equal(eb_smooth([0, 0, 0], [10, 20, 30]), [0.0, 0.0, 0.0])
    assert eb_smooth([], []).shape == (0,)
    with pytest.raises(ValueError):
        eb_smooth([1, 2], [10, 0])
    with pytest.raises(ValueError):
        eb_smooth([-1, 2], [10, 10])
    with pytest.raises(ValueError):
        eb_smooth([1, 2], [10])


# --------------------------------------------------------------------------------------
# 4. Benjamini–Hochberg, by hand
# --------------------------------------------------------------------------------------
def test_bh_qvalues_by_hand() -> None:
    # p = [0.01, 0.04, 0.03, 0.20], m = 4. Sorted with ranks: 0.01 (1), 0.03 (2),
    # 0.04 (3), 0.20 (4); p * m / rank = 0.04, 0.06, 0.05333, 0.20. Running minimum from
    # the largest rank down: 0.20, 0.05333, min(0.06, 0.05333) = 0.05333, 0.04.
    q = bh_qvalues([0.01, 0.04, 0.03, 0.20])
    np.testing.assert_allclose(q, [0.04, 0.16 / 3, 0.16 / 3, 0.20], rtol=1e-12)
    # NaN p-values (untested units) are not part of the family and stay NaN.
    q = bh_qvalues([0.01, np.nan, 0.04, 0.03, 0.20])
    np.testing.assert_allclose(q, [0.04, np.nan, 0.16 / 3, 0.16 / 3, 0.20], rtol=1e-12)
    assert np.isnan(bh_qvalues([np.nan])).all()


def test_classes_follow_q_and_sign_of_z() -> None:
    out = hotspots(_planted_patch(), config=FAST)
    np.testing.assert_allclose(out["q"], bh_qvalues(out["p"]))
    significant = out["q"] < FAST.fdr
    assert (out["class"] == np.where(significant & (out["z"] > 0), "hot", "none")).all()


def test_cold_patch_is_cold() -> None:
    units = _planted_patch()
    rng = np.random.default_rng(3)
    patch = units["unit_id"].isin(h3.grid_disk(CENTRE, 1))
    units.loc[patch, "numerator"] = rng.binomial(units.loc[patch, "denominator"], 0.02)
    out = hotspots(units, config=FAST)
    assert (out.loc[patch, "class"] == "cold").all()
    assert (out.loc[patch, "z"] < 0).all()


# --------------------------------------------------------------------------------------
# Islands, exclusions, degenerate data, polygons, validation
# --------------------------------------------------------------------------------------
def test_denominator_zero_units_are_left_out() -> None:
    units = _planted_patch()
    dropped = h3.grid_ring(CENTRE, 3)[0]
    units.loc[units["unit_id"] == dropped, ["numerator", "denominator"]] = 0
    out = hotspots(units, config=FAST)

    row = out.loc[out["unit_id"] == dropped].iloc[0]
    assert row["class"] == "none"
    assert row["denominator"] == 0
    assert pd.isna(row["neighbours"])
    assert row[["rate", "smoothed_rate", "z", "p", "q", "p_sim"]].isna().all()
    # Not in the weights: each of its six ring-1 neighbours has one neighbour fewer.
    by_id = out.set_index("unit_id")
    assert (by_id.loc[sorted(h3.grid_ring(dropped, 1)), "neighbours"] == 5).all()
    # Identical to leaving the row out of the input (also for EB, Gi* and BH).
    without = hotspots(units[units["unit_id"] != dropped], config=FAST)
    pd.testing.assert_frame_equal(out[out["unit_id"] != dropped].reset_index(drop=True), without)


def test_islands_do_not_crash() -> None:
    units = _planted_patch()
    far = [h3.latlng_to_cell(36.95, 118.95, 8), h3.latlng_to_cell(36.70, 118.60, 8)]
    extra = pd.DataFrame({"unit_id": far, "numerator": [150, 50], "denominator": [200, 200]})
    out = hotspots(pd.concat([units, extra], ignore_index=True), config=CONFIG)
    islands = out[out["unit_id"].isin(far)]
    assert (islands["neighbours"] == 0).all()
    assert islands["z"].notna().all() and islands["q"].notna().all()
    assert islands["p_sim"].isna().all()
    # An island's Gi* is its own standardised smoothed rate, so a 75% island is hot.
    y = out["smoothed_rate"]
    assert islands["z"].iloc[0] == pytest.approx((y.iloc[-2] - y.mean()) / y.std(ddof=0))
    assert islands["class"].iloc[0] == "hot"


def test_uniform_rates_give_no_hotspots() -> None:
    # All rates equal: s2 = 0, A clamped to 0, every smoothed rate is m; Gi* is 0/0.
    cells = sorted(h3.grid_disk(CENTRE, 3))
    units = pd.DataFrame({"unit_id": cells, "numerator": 50, "denominator": 200})
    out = hotspots(units, config=FAST)
    assert (out["smoothed_rate"] == 0.25).all()
    assert out[["z", "p", "q", "p_sim"]].isna().all().all()
    assert (out["class"] == "none").all()
    assert (out.loc[out["unit_id"] == CENTRE, "neighbours"] == 6).all()


def test_fewer_than_two_units() -> None:
    units = pd.DataFrame(
        {
            "unit_id": [CENTRE, h3.grid_ring(CENTRE, 1)[0]],
            "numerator": [5, 0],
            "denominator": [10, 0],
        }
    )
    out = hotspots(units, config=FAST)
    assert out["class"].tolist() == ["none", "none"]
    assert out["smoothed_rate"].iloc[0] == 0.5
    assert out["neighbours"].iloc[0] == 0
    assert out["z"].isna().all()


def _square_grid(size: int = 20) -> tuple[pd.DataFrame, list[object]]:
    """size x size unit squares; a 3x3 block in the middle at 60%, the rest at 25%."""
    rng = np.random.default_rng(11)
    ids, geoms, prevalence = [], [], []
    for i in range(size):
        for j in range(size):
            ids.append(f"g{i:02d}{j:02d}")
            geoms.append(box(i, j, i + 1, j + 1))
            prevalence.append(0.6 if 9 <= i <= 11 and 9 <= j <= 11 else 0.25)
    den = rng.integers(180, 221, len(ids))
    units = pd.DataFrame({"grid_id": ids, "n": rng.binomial(den, prevalence), "d": den})
    return units, geoms


def test_polygon_hotspots() -> None:
    units, geoms = _square_grid()
    cols = {"unit_col": "grid_id", "numerator_col": "n", "denominator_col": "d"}
    out = hotspots(units, kind="polygon", geometry=geoms, config=FAST, **cols)
    block = units["grid_id"].isin([f"g{i:02d}{j:02d}" for i in (9, 10, 11) for j in (9, 10, 11)])
    assert (out.loc[block, "class"] == "hot").all()
    assert (out.loc[units["grid_id"] == "g1010", "neighbours"] == 8).all()
    # Chebyshev distance > 2 from the block (queen "ring-2") is never hot.
    ij = units["grid_id"].str[1:].map(lambda s: (int(s[:2]), int(s[2:])))
    far = ij.map(lambda t: max(abs(t[0] - 10), abs(t[1] - 10)) - 1 > 2)
    assert not (out.loc[far, "class"] == "hot").any()
    # Same result from prebuilt weights.
    gdf = geopandas.GeoDataFrame({"grid_id": units["grid_id"], "geometry": geoms})
    w = polygon_weights(gdf, "grid_id")
    prebuilt = hotspots(units, weights=w, kind="polygon", config=FAST, **cols)
    pd.testing.assert_frame_equal(out, prebuilt)


def test_prebuilt_weights_with_self_links_and_extra_units() -> None:
    units = _planted_patch()
    cells = units["unit_id"].tolist()
    extra = sorted(set(h3.grid_disk(CENTRE, 11)) - set(cells))
    w = h3_weights(cells + extra)
    with_self = libpysal.weights.W(
        {i: [*w.neighbors[i], i] for i in w.id_order}, silence_warnings=True
    )
    expected = hotspots(units, config=FAST)
    pd.testing.assert_frame_equal(hotspots(units, weights=w, config=FAST), expected)
    pd.testing.assert_frame_equal(hotspots(units, weights=with_self, config=FAST), expected)
    assert w.n == 397 and w.transform == "O"


def test_validation() -> None:
    units = _planted_patch()
    with pytest.raises(ValueError, match="duplicate"):
        hotspots(pd.concat([units, units.iloc[:1]]), config=FAST)
    with pytest.raises(ValueError, match="resolution 8"):
        res7 = units.assign(unit_id=units["unit_id"].map(lambda c: h3.cell_to_parent(c, 7)))
        hotspots(res7.drop_duplicates("unit_id"), config=FAST)
    with pytest.raises(ValueError, match=">= 0"):
        hotspots(units.assign(numerator=-1), config=FAST)
    with pytest.raises(ValueError, match="missing numerator"):
        hotspots(units.assign(numerator=np.nan), config=FAST)
    with pytest.raises(ValueError, match="geometry"):
        hotspots(units, kind="polygon", config=FAST)
    with pytest.raises(ValueError, match="missing from the weights"):
        hotspots(units, weights=h3_weights(units["unit_id"].tolist()[:-1]), config=FAST)
    with pytest.raises(ValueError, match="not in the frame"):
        hotspots(units.drop(columns="numerator"), config=FAST)
