"""Infectious-disease early warning: EARS, the space-time permutation scan, risk, targets.

The expected numbers are worked out by hand (or with the standard library) in the tests,
independently of ``geo.surveillance``.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics

import h3
import numpy as np
import pandas as pd
import pytest

from geo.rules import DEFAULT_RULES, SurveillanceConfig
from geo.surveillance import (
    ears_alerts,
    ears_statistics,
    ili_mask,
    permutation_llr,
    space_time_scan,
    spread_risk,
    vaccination_targets,
)

D = dt.date(2026, 1, 20)


def days_before(n: int) -> dt.date:
    return D - dt.timedelta(days=n)


# --------------------------------------------------------------------------------------
# EARS
# --------------------------------------------------------------------------------------
def test_c1_by_hand() -> None:
    x = [1, 3, 2, 4, 2, 3, 6, 9]
    # Baseline of day 7 = days 0..6: mean 21/7 = 3; squared deviations 4+0+1+1+1+0+9 = 16;
    # sample variance 16/6; C1 = (9 - 3) / sqrt(16/6) = 3.6742.
    c1 = ears_statistics(np.array(x))["c1"]
    assert c1[7] == pytest.approx(6 / math.sqrt(16 / 6))
    assert c1[7] == pytest.approx(3.674235, abs=1e-6)
    assert np.isnan(c1[:7]).all()  # no full baseline before day 7


def test_c2_skips_the_two_guard_days() -> None:
    x = [1, 3, 2, 4, 2, 3, 6, 50, 50, 9]
    # Day 9's C2 baseline is days 0..6 (t-9 .. t-3): the 50s of days 7-8 are not in it.
    stats = ears_statistics(np.array(x))
    assert stats["c2"][9] == pytest.approx(6 / math.sqrt(16 / 6))
    assert stats["c2_expected"][9] == pytest.approx(3.0)
    # C1 of day 9 does see them: baseline days 2..8.
    base = x[2:9]
    assert stats["c1"][9] == pytest.approx((9 - statistics.mean(base)) / statistics.stdev(base))


def test_sd_floor_and_c3_by_hand() -> None:
    x = [0] * 11 + [2]
    stats = ears_statistics(np.array(x), sd_floor=0.5)
    # Flat zero baseline: sd 0 is floored at 0.5, so one day of 2 cases scores 2/0.5 = 4.
    assert stats["c1"][11] == pytest.approx(4.0)
    assert stats["c2"][11] == pytest.approx(4.0)
    # C3 = max(0, C2[9]-1) + max(0, C2[10]-1) + max(0, C2[11]-1) = 0 + 0 + 3.
    assert stats["c2"][9] == 0 and stats["c2"][10] == 0
    assert stats["c3"][11] == pytest.approx(3.0)
    # Without the floor the statistic would be infinite.
    assert np.isinf(ears_statistics(np.array(x), sd_floor=0.0)["c1"][11])


def test_c3_by_hand_on_a_rising_series() -> None:
    x = [1, 3, 2, 4, 2, 3, 6, 0, 0, 9, 5, 6]
    c2 = []
    for t in (9, 10, 11):
        base = x[t - 9 : t - 2]
        c2.append((x[t] - statistics.mean(base)) / max(statistics.stdev(base), 0.5))
    expected = sum(max(0.0, v - 1) for v in c2)
    assert ears_statistics(np.array(x))["c3"][11] == pytest.approx(expected)


def test_ears_alerts_name_area_day_method_count_and_expected() -> None:
    town, other = "370783001000", "370783002000"
    counts = [1, 3, 2, 4, 2, 3, 6, 1, 3, 2, 4, 2, 3, 6, 1, 3, 2, 4, 2, 3, 6, 0, 0, 9]
    rows = []
    for i, n in enumerate(counts):  # oldest first, the last on D
        rows += [{"onset_date": days_before(len(counts) - 1 - i), "town_code": town}] * n
    rows += [{"onset_date": days_before(3), "town_code": other}]
    cases = pd.DataFrame(rows)
    alerts = ears_alerts(cases, D, county_id="370783000000")
    on_d = alerts[(alerts["area_id"] == town) & (alerts["day"] == D)].set_index("method")
    # C2 of D: baseline the 7 days D-9 .. D-3 = [3, 2, 4, 2, 3, 6, 1]... recomputed here.
    base = counts[-10:-3]
    c2 = (9 - statistics.mean(base)) / statistics.stdev(base)
    assert c2 > 3
    assert on_d.loc["C2", "observed"] == 9
    assert on_d.loc["C2", "expected"] == pytest.approx(statistics.mean(base))
    assert on_d.loc["C2", "statistic"] == pytest.approx(c2)
    assert on_d.loc["C2", "area_level"] == "town"
    assert on_d.loc["C2", "kind"] == "ears"
    # The county series is the town's plus one case of the other town on D-3.
    county = alerts[alerts["area_level"] == "county"]
    assert set(county["area_id"]) <= {"370783000000"}
    assert (alerts["day"] >= D - dt.timedelta(days=6)).all()
    assert not (alerts["area_id"] == other).any()


def test_ili_mask_takes_names_and_icd10() -> None:
    s = pd.Series(["ili", "Influenza", "J11.1", "J10", "J12", "covid19", None])
    assert ili_mask(s).tolist() == [True, True, True, True, False, False, False]


# --------------------------------------------------------------------------------------
# Space-time permutation scan
# --------------------------------------------------------------------------------------
def test_llr_formula_by_hand() -> None:
    # c = 6, mu = 2, C = 20: 6 ln 3 + 14 ln(14/18) = 6.591674 - 3.518402 = 3.073272.
    assert permutation_llr(np.array([6.0]), np.array([2.0]), 20.0)[0] == pytest.approx(
        6 * math.log(3) + 14 * math.log(14 / 18)
    )
    assert permutation_llr(np.array([6.0]), np.array([2.0]), 20.0)[0] == pytest.approx(
        3.073272, abs=1e-6
    )
    # No excess, no statistic; every case inside: the second term is 0.
    assert permutation_llr(np.array([2.0, 1.0]), np.array([2.0, 3.0]), 20.0).tolist() == [0, 0]
    assert permutation_llr(np.array([5.0]), np.array([1.0]), 5.0)[0] == pytest.approx(
        5 * math.log(5)
    )


def test_tiny_scan_by_hand() -> None:
    a = h3.latlng_to_cell(36.86, 118.79, 8)
    b = next(c for c in sorted(h3.grid_ring(a, 1)))
    f = sorted(h3.grid_ring(a, 8))[0]
    cells = [a] * 6 + [b] * 4 + [f] * 10
    onsets = (
        [D] * 4
        + [days_before(100)] * 2
        + [days_before(50)] * 2
        + [days_before(200)] * 2
        + [days_before(10 + 29 * i) for i in range(10)]
    )
    config = SurveillanceConfig(scan_alpha=1.01, scan_replicates=99)
    clusters = space_time_scan(cells, onsets, D, [a, b, f], config)
    top = clusters.iloc[0]
    # C = 20 cases; cylinder {a} x {D}: c = 4, N_Z = 6, N_T = 4, mu = 6 * 4 / 20 = 1.2.
    c, mu, total = 4, 6 * 4 / 20, 20
    assert top["cells"] == [a]
    assert top["observed"] == c
    assert top["expected"] == pytest.approx(mu)
    assert top["llr"] == pytest.approx(c * math.log(c / mu) + (total - c) * math.log(16 / 18.8))
    assert top["llr"] == pytest.approx(2.235601, abs=1e-6)
    assert top["relative_risk"] == pytest.approx((4 / 1.2) / (16 / 18.8))
    # Longer cylinders add no case (nothing on D-1 .. D-6): the shortest one is reported.
    assert (top["start_day"], top["end_day"], top["days"]) == (D, D, 1)
    # Secondary clusters share no cell with the first.
    for other in clusters.iloc[1:].itertuples():
        assert a not in other.cells


def _uniform_county(seed: int) -> tuple[list[str], list[dt.date], list[str]]:
    rng = np.random.default_rng(seed)
    centre = h3.latlng_to_cell(36.86, 118.79, 8)
    cells = sorted(h3.grid_disk(centre, 5))
    n = 1500
    case_cells = list(rng.choice(cells, n))
    onsets = [days_before(int(k)) for k in rng.integers(0, 365, n)]
    return case_cells, onsets, cells


def test_a_planted_cluster_is_found() -> None:
    case_cells, onsets, cells = _uniform_county(7)
    hot_centre = cells[30]
    hot = sorted(h3.grid_disk(hot_centre, 1))
    rng = np.random.default_rng(8)
    case_cells += list(rng.choice(hot, 15))
    onsets += [days_before(int(k)) for k in rng.integers(0, 3, 15)]
    clusters = space_time_scan(case_cells, onsets, D, cells)
    assert len(clusters) >= 1
    top = clusters.iloc[0]
    assert top["p_value"] < 0.05
    assert hot_centre in top["cells"]
    assert set(top["cells"]) & set(hot)
    assert top["observed"] > top["expected"]
    assert top["end_day"] == D and top["days"] <= 7
    # Reproducible: the replicates use a fixed seed.
    again = space_time_scan(case_cells, onsets, D, cells)
    assert again.iloc[0]["p_value"] == top["p_value"]


def test_null_data_yield_no_cluster() -> None:
    case_cells, onsets, cells = _uniform_county(11)
    assert space_time_scan(case_cells, onsets, D, cells).empty


def _brute_force_max_llr(cells: list[str], ages: np.ndarray, centres: list[str]) -> float:
    """Largest LLR over every cylinder, circle by circle, straight from the definition.

    Circles: around each centre, all locations up to each distinct distance (local
    equirectangular km, rounded to 1 mm, as docs/surveillance.md says), at most half the
    cases; cylinders: those circles x the last 1..7 days.
    """
    locations = sorted(set(cells) | set(centres))
    ll = np.array([h3.cell_to_latlng(c) for c in locations])
    lat0 = math.radians(ll[:, 0].mean())
    xy = np.column_stack([ll[:, 1] * 111.320 * math.cos(lat0), ll[:, 0] * 110.574])
    index = {c: i for i, c in enumerate(locations)}
    where = np.array([index[c] for c in cells])
    total = len(cells)
    n_loc = np.bincount(where, minlength=len(locations))
    recent = np.zeros((len(locations), 7))
    for loc, age in zip(where, ages, strict=True):
        if age < 7:
            recent[loc, age:] += 1  # counts in the cylinders of length age+1 .. 7
    n_t = np.array([(ages < length).sum() for length in range(1, 8)])
    best = 0.0
    for centre in centres:
        d = np.round(np.hypot(*(xy - xy[index[centre]]).T), 6)
        for radius in np.unique(d):
            inside = d <= radius
            n_z = n_loc[inside].sum()
            if n_z > total / 2:
                break
            for c, nt in zip(recent[inside].sum(axis=0), n_t, strict=True):
                mu = n_z * nt / total
                if c > mu:
                    rest = total - c
                    llr = c * math.log(c / mu)
                    llr += rest * math.log(rest / (total - mu)) if rest else 0.0
                    best = max(best, llr)
    return best


@pytest.mark.parametrize("busy_day", [False, True])
def test_replicate_maxima_match_a_brute_force_scan(busy_day: bool) -> None:
    # The replicates' maxima are exact (whatever shortcuts the scan takes): the same
    # permutations (seeded generator over the cases' days before D, in input order)
    # scanned cylinder by cylinder give the same largest LLR.
    case_cells, onsets, cells = _uniform_county(7)
    hot = sorted(h3.grid_disk(cells[30], 1))
    rng = np.random.default_rng(8)
    case_cells += list(rng.choice(hot, 15))
    onsets += [days_before(int(k)) for k in rng.integers(0, 3, 15)]
    if busy_day:
        # 600 cases on D-6: a day's count needs 10 bits, 7 of which do not fit a 64-bit word.
        case_cells += list(rng.choice(cells, 600))
        onsets += [days_before(6)] * 600
    config = SurveillanceConfig(scan_alpha=1.01, scan_replicates=12)
    _, null = space_time_scan(case_cells, onsets, D, cells, config, return_null=True)
    ages = np.array([(D - d).days for d in onsets])
    perm = np.random.default_rng(config.scan_seed)
    expected = [_brute_force_max_llr(case_cells, perm.permutation(ages), cells) for _ in null]
    assert np.allclose(null, expected, rtol=1e-9, atol=1e-9)
    assert min(expected) > 0


def test_scan_shortcuts_on_a_busy_day_cluster() -> None:
    # The replicates' search (packed day counts, block bounds) on a cluster of 150 cases
    # among 600 on D-6: the largest LLR is a 7-day cylinder whose day-6 count needs the
    # second 64-bit word. Checked on the unpermuted days against the brute-force scan.
    from geo.surveillance_scan import _Scan

    case_cells, onsets, cells = _uniform_county(5)
    rng = np.random.default_rng(9)
    case_cells += list(rng.choice(cells, 600)) + list(
        rng.choice(sorted(h3.grid_disk(cells[40], 1)), 150)
    )
    onsets += [days_before(6)] * 750
    ages = np.array([(D - d).days for d in onsets])
    locations = np.array(sorted(set(cells) | set(case_cells)), dtype=object)
    scan = _Scan(
        np.searchsorted(locations, case_cells),
        ages,
        locations,
        np.searchsorted(locations, cells),
        DEFAULT_RULES.surveillance,
    )
    expected = _brute_force_max_llr(case_cells, ages, cells)
    assert expected > 20
    for guess in (0.0, 1e3):  # the starting threshold changes nothing but the work done
        scan._guess = guess
        assert scan.max_llr(ages) == pytest.approx(expected, rel=1e-9)


# --------------------------------------------------------------------------------------
# Risk of spread
# --------------------------------------------------------------------------------------
A = h3.latlng_to_cell(36.86, 118.79, 8)
B = sorted(h3.grid_ring(A, 1))[0]
C = sorted(h3.grid_ring(A, 10))[0]


def _hours(n: int) -> list[pd.Timestamp]:
    # Local noon of D and D-1 (UTC+8).
    return [pd.Timestamp(f"{days_before(i)}T04:00:00Z") for i in range(n)]


def test_risk_with_origin_destination_flows() -> None:
    residents = pd.Series({A: 100, B: 200, C: 50})
    cells = [B, B, C]
    onsets = [D, days_before(3), D]
    rows = []
    for hour in _hours(2):
        rows += [
            {"h3": B, "hour": hour, "origin_h3": "", "count": 120.0},
            {"h3": C, "hour": hour, "origin_h3": "", "count": 100.0},
            {"h3": A, "hour": hour, "origin_h3": "", "count": 80.0},
            {"h3": B, "hour": hour, "origin_h3": A, "count": 30.0},
        ]
    risk = spread_risk(D, cells, onsets, residents, [A], pd.DataFrame(rows)).set_index("h3")
    # B: 2 recent cases / 200 residents = 10 per 1,000 >= 5 -> rate score 1;
    # inflow from A 30/h of 120/h present -> 0.25; score (1 + 0.25) / 2.
    assert risk.loc[B, "rate_per_1000"] == pytest.approx(10.0)
    assert risk.loc[B, "mobility_share"] == pytest.approx(0.25)
    assert risk.loc[B, "score"] == pytest.approx(0.625)
    assert risk.loc[B, "at_risk"]
    assert risk.loc[B, "mobility_source"] == "od"
    # C: one case is below the 2-case minimum, no inflow: score 0.
    assert risk.loc[C, "rate_score"] == 0 and risk.loc[C, "score"] == 0
    assert not risk.loc[C, "at_risk"]
    # The alert cell itself: inflow share 1, always at risk.
    assert risk.loc[A, "alert_cell"] and risk.loc[A, "at_risk"]
    assert risk.loc[A, "mobility_share"] == 1.0


def test_risk_from_heat_near_alert_cells() -> None:
    residents = pd.Series({A: 100, B: 100, C: 100})
    rows = [
        {"h3": cell, "hour": hour, "origin_h3": "", "count": 100.0}
        for hour in _hours(3)
        for cell in (A, B, C)
    ]
    risk = spread_risk(D, [], [], residents, [A], pd.DataFrame(rows)).set_index("h3")
    assert (risk["mobility_source"] == "heat").all()
    for cell in (B, C):
        d = h3.great_circle_distance(h3.cell_to_latlng(A), h3.cell_to_latlng(cell), unit="km")
        exposure = 100 * math.exp(-d / 2.0)
        assert risk.loc[cell, "mobility_share"] == pytest.approx(
            exposure / (exposure + 100), abs=2e-3
        )
    assert risk.loc[B, "mobility_share"] > risk.loc[C, "mobility_share"]
    # Without any mobility the inflow is 0 (source none) and only rates count.
    bare = spread_risk(D, [B, B], [D, D], residents, [A], None).set_index("h3")
    assert bare.loc[B, "mobility_share"] == 0 and bare.loc[B, "rate_score"] == 1.0
    assert bare.loc[B, "at_risk"]  # (0.5 * 1 + 0.5 * 0) reaches the 0.5 threshold


# --------------------------------------------------------------------------------------
# Vaccination targets
# --------------------------------------------------------------------------------------
def _born(years: int, days_later: int = 0) -> dt.date:
    return D.replace(year=D.year - years) + dt.timedelta(days=days_later)


def test_vaccination_targets_on_a_hand_built_fixture() -> None:
    home = {"lat": 36.861234, "lng": 118.791234, "loc_precision": "exact"}
    people = [
        # id, birth, cell, signed team, grid, status, household
        ("r65", _born(65), A, "T1", "G1", "active", home),
        ("r64", _born(65, 1), A, "T1", "G1", "active", {}),
        ("r60m", _born(60), A, None, "G1", "active", {}),
        ("r59m", _born(60, 1), A, None, "G1", "active", {}),
        ("r62closed", _born(62), A, None, "G1", "active", {}),
        ("r70this", _born(70), A, "T1", "G1", "active", {}),
        ("r70last", _born(70), A, None, "G1", "active", home),
        ("r80far", _born(80), C, "T1", "G1", "active", {}),
        ("r70moved", _born(70), A, "T1", "G1", "moved", {}),
        ("r61later", _born(61), A, None, "G1", "active", {}),
    ]
    residents = pd.DataFrame(
        [
            {
                "resident_id": rid,
                "birth_date": pd.Timestamp(birth),
                "h3_8": cell,
                "signed_team_id": team,
                "grid_id": grid,
                "status": status,
                "area_code": "370783001001",
                "lat": where.get("lat", 36.9),
                "lng": where.get("lng", 118.8),
                "loc_precision": where.get("loc_precision", "village"),
            }
            for rid, birth, cell, team, grid, status, where in people
        ]
    )
    registry = pd.DataFrame(
        [
            ("r60m", "htn", "2024-03-01", None, "T3"),
            ("r59m", "htn", "2024-03-01", None, "T3"),
            ("r62closed", "t2dm", "2023-01-01", "2025-12-01", "T3"),
            ("r61later", "t2dm", "2026-01-21", None, "T3"),
        ],
        columns=["resident_id", "disease", "enrolled_date", "closed_date", "team_id"],
    )
    for col in ("enrolled_date", "closed_date"):
        registry[col] = pd.to_datetime(registry[col])
    vaccinations = pd.DataFrame(
        [
            ("r70this", "influenza", "2025-10-01"),  # this season (from 2025-09-01)
            ("r70last", "influenza", "2025-08-31"),  # last season
            ("r65", "pneumococcal", "2025-10-01"),  # not influenza
        ],
        columns=["resident_id", "vaccine", "date"],
    ).assign(date=lambda f: pd.to_datetime(f["date"]))
    grids = pd.DataFrame({"grid_id": ["G1"], "team_id": ["T2"]})
    risk = pd.DataFrame({"h3": [A, C], "score": [0.8, 0.1], "at_risk": [True, False]})
    out = vaccination_targets(D, residents, registry, vaccinations, grids, risk, DEFAULT_RULES)
    got = out.set_index("resident_id")
    assert sorted(got.index) == ["r60m", "r65", "r70last"]
    assert got.loc["r65", "reason"] == "age" and got.loc["r65", "age"] == 65
    assert got.loc["r60m", "reason"] == "managed" and got.loc["r60m", "diseases"] == "htn"
    # Teams: signed team; the registry's team for a managed patient; else the grid's team.
    assert got.loc["r65", "team_id"] == "T1"
    assert got.loc["r60m", "team_id"] == "T3"
    assert got.loc["r70last", "team_id"] == "T2"
    assert got.loc["r70last", "last_flu_vaccination"] == dt.date(2025, 8, 31)
    # r65 and r70last share exact coordinates: one household; village-level placement is
    # a household of its own.
    assert got.loc["r65", "household_id"] == got.loc["r70last", "household_id"]
    assert got.loc["r60m", "household_id"] == "resident:r60m"
    assert (out["due_date"] == D + dt.timedelta(days=14)).all()
    assert (out["h3"] == A).all() and (out["risk_score"] == 0.8).all()
    assert list(out["team_id"]) == sorted(out["team_id"])
