"""The county's roads as the travel computations want them.

``roads`` holds what ingestion loaded from ``roads.geojson`` or an OpenStreetMap extract
(``pipelines.ingest.osm``). :func:`read_roads` hands them back as a GeoDataFrame in WGS84,
the form ``geo.travel.RoadNetworkModel.from_geojson_lines`` takes (its ``lines``,
``speeds_kmh`` and ``highways`` are the frame's geometry, ``speed_kmh`` and ``highway``).
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from store.models import Road

__all__ = ["read_roads"]


def read_roads(
    engine: Engine, bbox: tuple[float, float, float, float] | None = None
) -> gpd.GeoDataFrame:
    """Every stored road with a geometry, ordered by ``road_id``.

    Parameters
    ----------
    engine : Engine
        The store.
    bbox : (min_lng, min_lat, max_lng, max_lat), optional
        Keep only the roads whose line meets this box (a planner's study area).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns road_id (int64), name, highway (str or None), speed_kmh (float, NaN when
        unknown) and geometry (LineString, EPSG:4326). Empty, with those columns, when the
        county delivered no roads: travel then falls back to straight lines.
    """
    stmt = (
        select(Road.road_id, Road.name, Road.highway, Road.speed_kmh, Road.geom)
        .where(Road.geom.is_not(None))
        .order_by(Road.road_id)
    )
    with Session(engine) as session:
        rows = session.execute(stmt).all()
    frame = pd.DataFrame(
        {
            "road_id": pd.array([r[0] for r in rows], dtype="int64"),
            "name": pd.Series([r[1] for r in rows], dtype=object),
            "highway": pd.Series([r[2] for r in rows], dtype=object),
            "speed_kmh": pd.to_numeric(pd.Series([r[3] for r in rows], dtype=object)).astype(
                "float64"
            ),
        }
    )
    roads = gpd.GeoDataFrame(frame, geometry=[r[4] for r in rows], crs="EPSG:4326")
    if bbox is not None:
        roads = roads[roads.intersects(shapely.box(*bbox))].reset_index(drop=True)
    return roads
