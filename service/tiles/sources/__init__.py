"""Where each layer's features come from, on both backends, side by side.

Every source has two paths that must agree attribute for attribute:

- ``batch`` (SQLite): reads the store through SQLAlchemy into per-version caches (unit
  geometries projected once with an STR-tree over them; attributes as columns, see
  :class:`AttrTable`) and hands the tile's candidates to the Python encoder
  (``service.tiles.mvt``);
- ``postgis_tile`` (PostgreSQL): one SQL statement ending in ``ST_AsMVT`` over
  ``ST_AsMVTGeom(…, ST_TileEnvelope(z, x, y), 4096, 64, true)``. Areas, grids and
  facilities use their PostGIS geometries; H3 cells have no geometry in the store, so the
  cells under the tile are found in Python (the same cached STR-tree) and sent as WKB
  arrays to ``unnest``.

Privacy is enforced here, not only at build time: a suppressed value never leaves with its
numerator or denominator, and no layer reads a resident-level table except ``mobility``,
which is already an aggregate of people per cell and hour.

Modules: ``base`` (the request, unit indexes, attribute tables, H3 cells), ``reads``
(current build, bulk reads, unit polygons), ``postgis`` (the ``ST_AsMVT`` statement and
its SQL pieces), one module per family of layers (``indicators``, ``hotspots``,
``places``: facilities and boundaries, ``mobility``) and ``registry``, which registers
them. Importing this package registers every one of these layers.
"""

from __future__ import annotations

from service.tiles.sources import registry as _registry  # noqa: F401  (registers the layers)
from service.tiles.sources.base import (
    CANDIDATE_PAD,
    EMPTY,
    AttrTable,
    LayerSource,
    TileContext,
    UnitIndex,
    cell_batch,
    h3_fid,
    h3_fids,
    h3_index,
    h3_polygons,
    tile_cells,
)
from service.tiles.sources.hotspots import HotspotSource
from service.tiles.sources.indicators import IndicatorSource
from service.tiles.sources.mobility import MOBILITY_DAYS, MobilitySource, round_like_postgres
from service.tiles.sources.places import DETAIL_BOUNDARY_ZOOM, BoundarySource, FacilitySource
from service.tiles.sources.postgis import postgis_mvt
from service.tiles.sources.reads import (
    build_info,
    built_indicators,
    grid_geometries,
    polygon_index,
    resolve_period,
)

__all__ = [
    "CANDIDATE_PAD",
    "DETAIL_BOUNDARY_ZOOM",
    "EMPTY",
    "MOBILITY_DAYS",
    "AttrTable",
    "BoundarySource",
    "FacilitySource",
    "HotspotSource",
    "IndicatorSource",
    "LayerSource",
    "MobilitySource",
    "TileContext",
    "UnitIndex",
    "build_info",
    "built_indicators",
    "cell_batch",
    "grid_geometries",
    "h3_fid",
    "h3_fids",
    "h3_index",
    "h3_polygons",
    "polygon_index",
    "postgis_mvt",
    "resolve_period",
    "round_like_postgres",
    "tile_cells",
]
