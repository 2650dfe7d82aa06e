"""compute_coverage on a hand-built store: one town, two clinics, a THC, twelve people.

Geometry (all on latitude 36.0, x = metres east of 118.0):
* village clinic VC0 at x = 0 (2 licensed doctors, one a GP), THC at x = 0 (10 beds);
  a closed clinic VCX at x = 2000 (its staff and beds do not count);
* 10 residents at x = 0 (walk 0 min) and 2 at x = 2000 (2600 m travelled at 75 m/min
  = 34.7 min walking: outside the 15-minute circle; 5.2 min driving).
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import h3
import pytest
from shapely.geometry import LineString
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from geo.travel import haversine_m
from pipelines.coverage import CoverageResult, compute_coverage
from store.models import Area, Facility, Resident, Staff

LAT = 36.0
LNG0 = 118.0
M_PER_DEG = float(haversine_m(LAT, LNG0, LAT, LNG0 + 1.0))
COUNTY, TOWN, VILLAGE, VILLAGE2 = "370783000000", "370783001000", "370783001001", "370783001002"


def _lng(x_m: float) -> float:
    return LNG0 + x_m / M_PER_DEG


def _seed(engine: Engine) -> None:
    with Session(engine) as s:
        s.add_all(
            [
                Area(area_code=COUNTY, name="县", level="county", lat=LAT, lng=LNG0),
                Area(
                    area_code=TOWN, name="镇", level="town", parent_code=COUNTY, lat=LAT, lng=LNG0
                ),
                Area(
                    area_code=VILLAGE,
                    name="甲村",
                    level="village",
                    parent_code=TOWN,
                    lat=LAT,
                    lng=_lng(0),
                ),
                Area(
                    area_code=VILLAGE2,
                    name="乙村",
                    level="village",
                    parent_code=TOWN,
                    lat=LAT,
                    lng=_lng(2000),
                ),
            ]
        )
        for fid, typ, x, beds, is_open in [
            ("VC0", "village_clinic", 0, 0, True),
            ("THC", "township_hc", 0, 10, True),
            ("VCX", "village_clinic", 2000, 5, False),
        ]:
            s.add(
                Facility(
                    facility_id=fid,
                    name=fid,
                    type=typ,
                    area_code=VILLAGE if x == 0 else VILLAGE2,
                    town_code=TOWN,
                    lat=LAT,
                    lng=_lng(x),
                    beds=beds,
                    open=is_open,
                )
            )
        s.add_all(
            [
                Staff(staff_id="S1", name="a", facility_id="VC0", role="gp", licensed=True),
                Staff(
                    staff_id="S2", name="b", facility_id="VC0", role="village_doctor", licensed=True
                ),
                Staff(staff_id="S3", name="c", facility_id="VCX", role="gp", licensed=True),
            ]
        )
        for i in range(12):
            x = 0 if i < 10 else 2000
            s.add(
                Resident(
                    resident_id=f"R{i}",
                    name="r",
                    sex=1,
                    birth_date=dt.date(1960, 1, 1),
                    area_code=VILLAGE if x == 0 else VILLAGE2,
                    town_code=TOWN,
                    lat=LAT,
                    lng=_lng(x),
                    h3_9=h3.latlng_to_cell(LAT, _lng(x), 9),
                )
            )
        s.commit()


def test_compute_coverage_on_hand_built_store(engine: Engine) -> None:
    _seed(engine)
    r = compute_coverage(engine)
    assert isinstance(r, CoverageResult)
    assert r.meta["travel_model"] == "straight_line"
    assert r.meta["population_source"] == "residents"
    assert len(r.cells) == 2 and r.cells["population"].sum() == 12
    town = r.towns.set_index("area_code").loc[TOWN]
    assert town["population"] == 12
    assert town["cov_village_clinic_walk"] == 10  # the two at 2 km walk 34.7 min
    assert town["cov_village_clinic_drive"] == 12
    assert town["share_village_clinic_walk"] == pytest.approx(10 / 12)
    assert town["village_clinics"] == 1 and town["township_hcs"] == 1
    assert town["doctors_per_1000"] == pytest.approx(2 / 12 * 1000)
    assert town["gps_per_10000"] == pytest.approx(1 / 12 * 10000)
    assert town["beds_per_1000"] == pytest.approx(10 / 12 * 1000)
    # 2SFCA: the one site with doctors serves all 12 within 30 driving minutes.
    assert town["two_sfca_per_1000"] == pytest.approx(2 / 12 * 1000)
    far = r.cells.set_index("h3").loc[h3.latlng_to_cell(LAT, _lng(2000), 9)]
    assert far["t_village_clinic_walk"] == pytest.approx(2000 * 1.3 / 75, rel=1e-3)
    assert list(r.underserved["population"]) == [2]
    std = r.standards.set_index(["area_code", "standard"])
    assert std.loc[(TOWN, "doctors_per_1000"), "met"]
    assert std.loc[(TOWN, "township_hcs"), "met"]
    # Siting: the village seat without an open clinic (乙村) covers the 2 people.
    sites = r.siting["mclp_sites"]
    assert list(sites["candidate_id"]) == [VILLAGE2]
    assert sites.attrs["newly_covered"] == 2
    county = r.siting["mclp_towns"].set_index("town_code").loc["county"]
    assert (county["covered_before"], county["covered_after"]) == (10, 12)
    assert list(r.siting["pmedian"]["facility_id"]) == ["THC"]
    assert set(r.catchments["facility_id"]) == {"VC0", "THC"}


def test_compute_coverage_over_given_roads(engine: Engine) -> None:
    # A straight 60 km/h road from the clinic (x = 0) to the far households (x = 2000):
    # walking is capped at 4.5 km/h, 2000 m = 26.67 min (straight line x 1.3: 34.67);
    # driving takes the road's speed, 2 min (straight line at 30 km/h: 5.2).
    _seed(engine)
    roads = gpd.GeoDataFrame(
        {"highway": ["secondary"], "speed_kmh": [60.0]},
        geometry=[LineString([(_lng(0), LAT), (_lng(2000), LAT)])],
        crs="EPSG:4326",
    )
    r = compute_coverage(engine, roads=roads)
    assert r.meta["travel_model"] == "roads"
    far = r.cells.set_index("h3").loc[h3.latlng_to_cell(LAT, _lng(2000), 9)]
    assert far["t_village_clinic_walk"] == pytest.approx(2000 / 75, rel=1e-3)
    assert far["t_village_clinic_drive"] == pytest.approx(2.0, rel=1e-3)
