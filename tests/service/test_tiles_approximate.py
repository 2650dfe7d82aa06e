"""Approximate polygons: a county with village seats but no polygons still gets grid,
village and town outlines (flagged ``approximate``); delivered polygons are kept.

SQLite only: the Python tile path. The PostGIS tile path (ST_AsMVT over ``areas.geom``)
does not derive them yet (docs/frontend.md, "Approximate polygons").
"""

from __future__ import annotations

from pathlib import Path

import mapbox_vector_tile
import pytest
import shapely
from sqlalchemy import Engine, insert

from service import tiles
from service.tiles.tilemath import lnglat_to_tile
from store.engine import make_engine, migrate
from store.models import Area, Grid, GridVillage
from store.shapes import approximate_polygons, unit_geometries

LNG, LAT = 118.79, 36.86
#: Two towns of two villages each, seats 0.02° apart.
VILLAGES = {
    "370783101001": (LNG, LAT),
    "370783101002": (LNG + 0.02, LAT),
    "370783102001": (LNG, LAT + 0.02),
    "370783102002": (LNG + 0.02, LAT + 0.02),
}


def _store(tmp_path: Path, *, polygons: bool) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    box = {c: shapely.box(x - 0.01, y - 0.01, x + 0.01, y + 0.01) for c, (x, y) in VILLAGES.items()}
    with engine.begin() as conn:
        conn.execute(
            insert(Area),
            [
                {"area_code": "370783000000", "name": "寿光市", "level": "county", "geom": None},
                {"area_code": "370783101000", "name": "圣城街道", "level": "town", "geom": None},
                {"area_code": "370783102000", "name": "文家街道", "level": "town", "geom": None},
            ],
        )
        # A second statement: executemany takes its columns from the first row.
        conn.execute(
            insert(Area),
            [
                {
                    "area_code": c,
                    "name": f"村{c[-3:]}",
                    "level": "village",
                    "parent_code": c[:9] + "000",
                    "lng": x,
                    "lat": y,
                    "geom": box[c] if polygons else None,
                }
                for c, (x, y) in VILLAGES.items()
            ],
        )
        conn.execute(insert(Grid), [{"grid_id": "G1", "name": "一网格", "geom": None}])
        conn.execute(
            insert(GridVillage),
            [{"grid_id": "G1", "area_code": c} for c in ("370783101001", "370783101002")],
        )
    return engine


def _boundaries(engine: Engine) -> list[dict]:
    z = 12
    x, y = lnglat_to_tile(LNG + 0.01, LAT + 0.01, z)
    data = tiles.tile(engine, "boundaries", z, x, y)
    assert data, "an empty boundaries tile"
    return mapbox_vector_tile.decode(data)["boundaries"]["features"]


def test_seats_without_polygons_give_approximate_outlines(tmp_path: Path) -> None:
    engine = _store(tmp_path, polygons=False)
    approx = approximate_polygons(engine)
    assert approx is not None
    for level, n in (("village", 4), ("grid", 1), ("town", 2)):
        shapes = unit_geometries(engine, level)
        assert len(shapes) == n, level
        assert all(g.area > 0 for g in shapes.values())
    # The grid is its two villages, side by side; every seat lies in its own village.
    grid = unit_geometries(engine, "grid")["G1"]
    villages = unit_geometries(engine, "village")
    assert grid.equals(shapely.union_all([villages["370783101001"], villages["370783101002"]]))
    for code, (x, y) in VILLAGES.items():
        assert villages[code].contains(shapely.Point(x, y))
    kinds = {(f["properties"]["kind"], f["properties"]["approximate"]) for f in _boundaries(engine)}
    assert {("village", True), ("grid", True), ("town", True)} <= kinds
    doc = tiles.layer_tilejson(engine, "boundaries", "http://127.0.0.1")
    assert doc["approximate"] is True


def test_delivered_polygons_are_used_unchanged(tmp_path: Path) -> None:
    engine = _store(tmp_path, polygons=True)
    assert approximate_polygons(engine) is None
    villages = unit_geometries(engine, "village")
    x, y = VILLAGES["370783101001"]
    assert villages["370783101001"].equals(shapely.box(x - 0.01, y - 0.01, x + 0.01, y + 0.01))
    assert unit_geometries(engine, "town") == {}  # none delivered, none invented
    features = _boundaries(engine)
    assert not any(f["properties"]["approximate"] for f in features)
    assert tiles.layer_tilejson(engine, "boundaries", "http://127.0.0.1")["approximate"] is False


@pytest.mark.parametrize("level", ["grid", "village", "town"])
def test_levels_without_seats_stay_empty(tmp_path: Path, level: str) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    migrate(engine)
    assert approximate_polygons(engine) is None
    assert unit_geometries(engine, level) == {}
