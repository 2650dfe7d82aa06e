"""Coverage on hand-built geometry: nearest facility, shares, roads vs straight line, speeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString

from geo import coverage as cov
from geo import coverage_planning as plan
from geo.coverage_config import CoverageConfig
from geo.travel import RoadNetworkModel, haversine_m
from geo.travel_network import network_minutes, straight_minutes

CFG = CoverageConfig()
LAT0 = 36.0
M_PER_DEG_LNG = float(haversine_m(LAT0, 0.0, LAT0, 1.0))


def _east(metres: float) -> float:
    """Longitude offset of a point ``metres`` east of (LAT0, 0)."""
    return metres / M_PER_DEG_LNG


def _cells(xs_m: list[float], pops: list[float], towns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "h3": [f"c{i}" for i in range(len(xs_m))],
            "lat": LAT0,
            "lng": [_east(x) for x in xs_m],
            "population": pops,
            "town_code": towns,
            "grid_id": None,
        }
    )


def _facilities(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "facility_id": [r[0] for r in rows],
            "name": [r[0] for r in rows],
            "type": [r[1] for r in rows],
            "group": [r[1] for r in rows],
            "lat": LAT0,
            "lng": [_east(r[2]) for r in rows],
            "area_code": "v",
            "town_code": "T1",
        }
    )


def test_defaults_are_rules_md() -> None:
    assert CFG.speeds_kmh == {"walk": 4.5, "ebike": 15.0, "drive": 30.0}
    assert CFG.detour_factor == 1.3
    assert CFG.service_minutes == 15.0 and CFG.catchment_minutes == 30.0
    targets = {s.code: s.target for s in CFG.standards}
    assert targets["doctors_per_1000"] == 3.2 and targets["gps_per_10000"] == 3.93
    assert targets["beds_per_1000"] == 7.5 and targets["primary_care_visit_share"] == 65
    assert targets["in_county_visit_share"] == 90 and targets["township_hcs"] == 1
    assert all(s.source for s in CFG.standards)


def test_mode_speeds_straight_line() -> None:
    # 1000 m straight = 1300 m travelled: walk 1.3/4.5 h = 17.33 min, e-bike 5.2, car 2.6.
    a, b = np.array([[LAT0, 0.0]]), np.array([[LAT0, _east(1000)]])
    assert straight_minutes(a, b, "walk", CFG)[0, 0] == pytest.approx(1.3 / 4.5 * 60, rel=1e-5)
    assert straight_minutes(a, b, "ebike", CFG)[0, 0] == pytest.approx(1.3 / 15 * 60, rel=1e-5)
    assert straight_minutes(a, b, "drive", CFG)[0, 0] == pytest.approx(1.3 / 30 * 60, rel=1e-5)


def test_nearest_facility_and_shares() -> None:
    # Cells at 0, 500, 1000, 3000 m; clinics at 0 and 3000 m; THC at 1000 m.
    # Walking: 500 m -> 650 m at 75 m/min = 8.67 min (in), 1000 m from VC0 -> 17.3 min,
    # but 0 from the THC. So village-clinic walk coverage = cells 0, 500, 3000.
    cells = _cells([0, 500, 1000, 3000], [10, 20, 30, 40], ["T1", "T1", "T2", "T2"])
    fac = _facilities(
        [
            ("VC0", "village_clinic", 0),
            ("VC3", "village_clinic", 3000),
            ("THC", "township_hc", 1000),
        ]
    )
    model = cov.build_model(cells, fac, CFG)
    t = cov.cell_times(model)
    assert list(t["near_village_clinic"]) == ["VC0", "VC0", "VC0", "VC3"]
    assert t["t_village_clinic_walk"].iloc[1] == pytest.approx(650 / 75, rel=1e-4)
    by = cov.coverage_by(t, "town_code", CFG.service_minutes)
    assert by.loc["T1", "cov_village_clinic_walk"] == 30
    assert by.loc["T2", "cov_village_clinic_walk"] == 40
    assert by.loc["T2", "share_village_clinic_walk"] == pytest.approx(40 / 70)
    # Township HC walk: 0 m (cell 1000) and 500 m (cells 500) in; 1000 m = 17.3 min out.
    assert by.loc["T1", "cov_township_hc_walk"] == 20
    # Driving covers everything within 15 min (7.5 km travelled).
    assert by["cov_village_clinic_drive"].sum() == 100
    under = cov.underserved_cells(t, CFG.service_minutes)
    assert list(under["h3"]) == ["c2"] and under["rank"].iloc[0] == 1


def test_what_if_add_and_close() -> None:
    cells = _cells([0, 1000, 2000], [10, 20, 30], ["T1", "T1", "T1"])
    fac = _facilities([("VC0", "village_clinic", 0), ("THC", "township_hc", 0)])
    model = cov.build_model(cells, fac, CFG)
    base = cov.cell_times(model)
    added = cov.what_if(model, base, add=[{"lat": LAT0, "lng": _east(2000)}])
    assert added.county["cov_village_clinic_walk_before"] == 10
    assert added.county["cov_village_clinic_walk"] == 40
    closed = cov.what_if(model, base, close=["VC0"])
    assert closed.county["cov_village_clinic_walk"] == 0
    assert np.isinf(closed.cells["t_village_clinic_walk"]).all()


def test_roads_path_differs_from_straight_line() -> None:
    # A U-shaped road: A (0 m) north 2 km, east 1 km, south to B (1000 m east of A).
    # Straight line 1000 m x 1.3; the road is 5000 m long.
    north = 2000 / 111_195
    road = LineString(
        [(0.0, LAT0), (0.0, LAT0 + north), (_east(1000), LAT0 + north), (_east(1000), LAT0)]
    )
    a, b = np.array([[LAT0, 0.0]]), np.array([[LAT0, _east(1000)]])
    drive = RoadNetworkModel.from_geojson_lines([road], [60.0], CFG, mode="drive")
    walk = RoadNetworkModel.from_geojson_lines([road], [60.0], CFG, mode="walk")
    # Car at the road's 60 km/h: 5 km = 5 min (straight line would be 1.3 km at 30 = 2.6).
    assert network_minutes(drive, a, b)[0, 0] == pytest.approx(5.0, rel=1e-3)
    # Walker capped at 4.5 km/h on the 60 km/h road: 5 km = 66.7 min.
    assert network_minutes(walk, a, b)[0, 0] == pytest.approx(5 / 4.5 * 60, rel=1e-3)
    assert straight_minutes(a, b, "drive", CFG)[0, 0] == pytest.approx(2.6, rel=1e-4)
    # The cut-off leaves far pairs infinite (no straight-line shortcut on one network).
    assert np.isinf(network_minutes(walk, a, b, limit_minutes=30)[0, 0])


def test_standards_met_and_gap() -> None:
    towns = pd.DataFrame(
        {
            "area_code": ["T1", "C"],
            "name": ["t", "c"],
            "level": ["town", "county"],
            "doctors_per_1000": [2.0, 3.5],
            "township_hcs": [0.0, 16.0],
            "share_village_clinic_walk": [0.5, 0.6],
        }
    )
    st = plan.standards_table(towns, CFG).set_index(["area_code", "standard"])
    assert st.loc[("T1", "doctors_per_1000"), "met"] is False
    assert st.loc[("T1", "doctors_per_1000"), "gap"] == pytest.approx(1.2)
    assert st.loc[("C", "doctors_per_1000"), "met"] is True
    assert st.loc[("T1", "township_hcs"), "gap"] == 1.0
    assert st.loc[("C", "township_hcs"), "met"] is None
    assert st.loc[("T1", "walk_village_clinic_share"), "value"] == 50.0
    assert st.loc[("T1", "walk_village_clinic_share"), "met"] is None


def test_mclp_siting_keeps_existing_coverage() -> None:
    # Clinic at 0 covers cell 0; candidates at 3000 and 6000 m; k = 1 picks the one by
    # the larger uncovered population (cell at 6000: 50 people vs 3000: 20).
    cells = _cells([0, 3000, 6000], [100, 20, 50], ["T1", "T1", "T2"])
    fac = _facilities([("VC0", "village_clinic", 0)])
    model = cov.build_model(cells, fac, CFG)
    t = cov.cell_times(model)
    cand = pd.DataFrame(
        {
            "candidate_id": ["K3", "K6"],
            "name": ["a", "b"],
            "area_code": "v",
            "town_code": "T1",
            "lat": LAT0,
            "lng": [_east(3000), _east(6000)],
        }
    )
    sites, all_c = plan.site_new_clinics(model, t, cand, CFG, k=1)
    assert list(sites["candidate_id"]) == ["K6"]
    assert sites.attrs["newly_covered"] == 50
    assert list(all_c["chosen"]) == [False, True]
