"""Placement: datum conversion, outside-county, village placement, H3, grids."""

from __future__ import annotations

from pathlib import Path

import h3
import numpy as np
import pandas as pd
import shapely
from pipeline_helpers import (
    AREAS,
    RESIDENTS,
    V1,
    V2,
    V3,
    base_delivery,
    reference_wgs84_to_bd09,
    reference_wgs84_to_gcj02,
)
from sqlalchemy import Engine, text

from geo import coordinates
from geo.geocode import GeoContext, build_region, h3_cells
from geo.rules import RulesConfig
from pipelines.ingest.delivery import ingest_delivery, list_quarantine
from pipelines.ingest.settings import IngestSettings


def _areas(with_polygon: bool = True) -> tuple[pd.DataFrame, pd.Series]:
    df = pd.DataFrame(AREAS).set_index("area_code")
    df["parent_code"] = df["parent_code"].replace("", None)
    geoms = pd.Series(
        [
            shapely.from_wkt(w) if isinstance(w, str) and with_polygon else None
            for w in df.get("geometry_wkt", [None] * len(df))
        ],
        index=df.index,
    )
    return df[["level", "parent_code", "lat", "lng"]], geoms


def test_known_point_gcj02_and_bd09_to_wgs84() -> None:
    wlng, wlat = 118.7622, 36.8765
    glng, glat = reference_wgs84_to_gcj02(wlng, wlat)
    blng, blat = reference_wgs84_to_bd09(wlng, wlat)
    x, y = coordinates.convert([glng], [glat], "gcj02")
    assert abs(x[0] - wlng) < 1e-7 and abs(y[0] - wlat) < 1e-7
    x, y = coordinates.convert([blng], [blat], "bd09")
    assert abs(x[0] - wlng) < 1e-7 and abs(y[0] - wlat) < 1e-7
    # the GCJ-02 shift in Shandong is a few hundred metres
    assert 1e-3 < abs(glng - wlng) < 1e-2


def test_outside_county_uses_polygon_buffer() -> None:
    areas, geoms = _areas()
    region, kind = build_region(areas, geoms)
    assert kind == "county polygon"
    ctx = GeoContext(areas=areas, region=region, outside_km=5.0)
    # county box east edge at 119.00; 1 degree of longitude here ≈ 89.2 km
    lng = np.array([118.8, 119.04, 119.07, 116.4074])
    lat = np.array([36.85, 36.85, 36.85, 39.9042])
    assert ctx.outside(lng, lat).tolist() == [False, False, True, True]


def test_hull_of_villages_without_polygon() -> None:
    areas, _ = _areas(with_polygon=False)
    region, kind = build_region(areas, pd.Series([None] * len(areas), index=areas.index))
    assert kind == "hull of village seats" and region is not None
    ctx = GeoContext(areas=areas, region=region, outside_km=5.0)
    assert ctx.outside(np.array([118.78, 118.5]), np.array([36.86, 36.86])).tolist() == [
        False,
        True,
    ]
    empty = GeoContext(areas=areas.iloc[:0])
    assert empty.outside(np.array([1.0]), np.array([1.0])) is None


def test_h3_cells_parents() -> None:
    cells = h3_cells(np.array([36.86, np.nan, 36.86]), np.array([118.78, 1.0, 118.78]))
    c10 = h3.latlng_to_cell(36.86, 118.78, 10)
    assert cells[10].tolist() == [c10, None, c10]
    for r in (7, 8, 9):
        assert cells[r][0] == h3.cell_to_parent(c10, r) and cells[r][1] is None


def test_grid_by_village_then_polygon() -> None:
    areas, _ = _areas()
    poly = shapely.box(118.69, 36.74, 118.71, 36.76)
    ctx = GeoContext(
        areas=areas,
        village_grid=pd.Series({V1: "G1", V2: "G1"}),
        grid_ids=np.array(["G2"], dtype=object),
        grid_geoms=np.array([poly], dtype=object),
    )
    codes = pd.Series([V1, V3, V3], dtype=object)
    got = ctx.grid_of(codes, np.array([118.78, 118.70, 118.60]), np.array([36.86, 36.75, 36.75]))
    assert got.tolist() == ["G1", "G2", None]
    assert ctx.town_of(pd.Series([V1, "370783001000", "370783000000", "x"])).tolist() == [
        "370783001000",
        "370783001000",
        None,
        None,
    ]


def test_village_placement_and_outside_in_store(engine: Engine, tmp_path: Path) -> None:
    residents = [
        *RESIDENTS,
        dict(RESIDENTS[0], resident_id="R009", lat=36.9, lng=119.2),  # ~18 km east
        dict(RESIDENTS[0], resident_id="R008", lat=36.9, lng=119.03, coord_sys="wgs84"),
    ]
    folder = base_delivery(tmp_path / "d", residents=residents)
    s = ingest_delivery(folder, engine, IngestSettings(), RulesConfig())
    assert s.tables["residents"].loaded == 4
    q = list_quarantine(engine, "residents")
    assert q["reason"].tolist() == ["outside_county"] and q["row_number"].tolist() == [4]
    with engine.connect() as conn:
        r = conn.execute(
            text(
                "SELECT lat, lng, loc_precision, h3_9, coord_sys FROM residents "
                "WHERE resident_id = 'R002'"
            )
        ).one()
        assert (r[0], r[1], r[2]) == (36.90, 118.85, "village") and r[4] is None
        assert r[3] == h3.latlng_to_cell(36.90, 118.85, 9)
        geom = conn.execute(text("SELECT geom FROM residents WHERE resident_id = 'R002'")).scalar()
        assert geom is not None
