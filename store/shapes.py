"""Geometry of the units results are given for: H3 cells, grids, villages, towns, the county.

H3 cells are drawn from their ids (h3-py); areas from the ``areas`` polygons; a grid from its
own polygon when delivered, else as the union of its villages (grids are whole villages).
A county that delivers village seats but no village polygons gets approximate ones
(:func:`approximate_polygons`, ``geo.approx_polygons``): Voronoi cells of the seats, grids
and towns as unions of their villages' cells.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import h3
import pandas as pd
import shapely
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from geo.approx_polygons import union_by, village_cells
from geo.vocabulary import town_of_code
from store.models import Area, Grid, GridVillage

#: The levels approximate polygons are derived for.
APPROXIMATE_LEVELS = ("village", "grid", "town")


def approximate_polygons(engine: Engine) -> dict[str, dict[str, Any]] | None:
    """Approximate village, grid and town polygons, or None when they are not needed.

    Needed when the store has villages with seats (``areas.lng``/``lat``) and not one
    village polygon: delivered polygons are always used when there are any. The county's
    delivered outline clips the cells (else the seats' hull, buffered). A grid or town with
    a delivered polygon of its own keeps it.

    Returns
    -------
    dict or None
        ``{"village": {code: polygon}, "grid": {…}, "town": {…}}``: only units without a
        delivered polygon; None when the villages have polygons or no seats.
    """
    with Session(engine) as session:
        rows = session.execute(
            select(Area.area_code, Area.level, Area.lng, Area.lat, Area.geom)
        ).all()
        if any(level == "village" and geom is not None for _, level, _, _, geom in rows):
            return None
        seats = {
            code: (lng, lat)
            for code, level, lng, lat, _ in rows
            if level == "village" and lng is not None and lat is not None
        }
        if not seats:
            return None
        outlines = [geom for _, level, _, _, geom in rows if level == "county" and geom is not None]
        own_areas = {code for code, _, _, _, geom in rows if geom is not None}
        own_grids = {g for g, geom in session.execute(select(Grid.grid_id, Grid.geom)) if geom}
        grid_members: dict[str, list[str]] = {}
        for grid_id, code in session.execute(select(GridVillage.grid_id, GridVillage.area_code)):
            grid_members.setdefault(grid_id, []).append(code)
    cells = village_cells(seats, shapely.union_all(outlines) if outlines else None)
    town_members: dict[str, list[str]] = {}
    for code in cells:
        town = town_of_code(code)
        if town is not None:
            town_members.setdefault(town, []).append(code)
    grids = union_by(cells, {g: m for g, m in grid_members.items() if g not in own_grids})
    towns = union_by(cells, {t: m for t, m in town_members.items() if t not in own_areas})
    return {"village": cells, "grid": grids, "town": towns}


def h3_polygon(cell: str) -> shapely.Polygon:
    """The cell's boundary as a shapely polygon in lng/lat order."""
    return shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])


def grid_shapes(engine: Engine) -> gpd.GeoDataFrame | None:
    """Every grid's polygon (dissolved from its villages when it has none of its own)."""
    with Session(engine) as session:
        own = {g: geom for g, geom in session.execute(select(Grid.grid_id, Grid.geom)) if geom}
        village_geom = {
            code: geom
            for code, geom in session.execute(
                select(Area.area_code, Area.geom).where(Area.level == "village")
            )
        }
        members: dict[str, list[Any]] = {}
        for grid_id, code in session.execute(select(GridVillage.grid_id, GridVillage.area_code)):
            geom = village_geom.get(code)
            if geom is not None:
                members.setdefault(grid_id, []).append(geom)
    shapes = dict(own)
    for grid_id, geoms in members.items():
        shapes.setdefault(grid_id, shapely.union_all(geoms))
    approx = approximate_polygons(engine)
    for grid_id, geom in (approx or {}).get("grid", {}).items():
        shapes.setdefault(grid_id, geom)
    if not shapes:
        return None
    return gpd.GeoDataFrame(
        {"grid_id": list(shapes)}, geometry=list(shapes.values()), crs="EPSG:4326"
    )


def unit_geometries(
    engine: Engine, level: str, unit_ids: list[str] | None = None
) -> dict[str, Any]:
    """Geometry of each unit of ``level`` (``h3:R``, grid, village, town, county)."""
    if level.startswith("h3:"):
        return {u: h3_polygon(u) for u in (unit_ids or [])}
    if level == "grid":
        shapes = grid_shapes(engine)
        if shapes is None:
            return {}
        return dict(zip(shapes["grid_id"], shapes.geometry, strict=True))
    with Session(engine) as session:
        rows = session.execute(select(Area.area_code, Area.geom).where(Area.level == level))
        shapes = {code: geom for code, geom in rows if geom is not None}
    if level in APPROXIMATE_LEVELS:
        for code, geom in ((approximate_polygons(engine) or {}).get(level, {})).items():
            shapes.setdefault(code, geom)
    return shapes


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def unit_features(engine: Engine, level: str, frame: pd.DataFrame) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of ``frame``'s rows drawn as their units (aggregates only)."""
    geoms = unit_geometries(engine, level, frame["unit_id"].astype(str).tolist())
    features = []
    for row in frame.to_dict("records"):
        geom = geoms.get(str(row["unit_id"]))
        features.append(
            {
                "type": "Feature",
                "id": str(row["unit_id"]),
                "geometry": None if geom is None else shapely.geometry.mapping(geom),
                "properties": {k: _clean(v) for k, v in row.items()},
            }
        )
    return {"type": "FeatureCollection", "features": features}
