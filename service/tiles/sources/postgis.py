"""The PostGIS path: one ``ST_AsMVT`` statement per tile, and the SQL pieces it is built of.

Hand-written SQL because ``ST_AsMVT`` over ``ST_AsMVTGeom(…, ST_TileEnvelope(z, x, y),
4096, 64, true)`` with MATERIALIZED CTEs is what makes a tile one round trip; the sources
add their ``src`` CTE. H3 cells have no geometry in the store: their hexagons travel as WKB
(:func:`cell_params`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text

from service.tiles.sources.base import CANDIDATE_PAD, TileContext, UnitIndex, h3_fid, h3_polygons
from service.tiles.tilemath import BUFFER, EXTENT
from store.results import current_build_id_sql

#: ``(SELECT build_id FROM build_current …)`` for the hand-written statements: the same
#: rule as ``store.results.current_build_id`` (compiled from it), so a tile never mixes
#: two builds even while a new one is being made current.
CURRENT_BUILD_SQL = current_build_id_sql()

# ----------------------------------------------------------------------------------------
# PostGIS plumbing
# ----------------------------------------------------------------------------------------
_ENV_CTE = (
    "env AS (SELECT ST_TileEnvelope(CAST(:z AS integer), CAST(:x AS integer),"
    " CAST(:y AS integer)) AS m,"
    " ST_Transform(ST_TileEnvelope(CAST(:z AS integer), CAST(:x AS integer),"
    " CAST(:y AS integer), margin => CAST(:margin AS float8)), 4326) AS ll)"
)

# Mirrors grid_geometries(): a grid's own polygon, else the union of its villages; only
# grids with a part inside the tile's (buffered) lng/lat box are assembled.
GRID_GEOM_CTE = """
grid_geom AS (
  SELECT g.grid_id AS unit_id, g.geom FROM grids g, env
   WHERE g.geom IS NOT NULL AND g.geom && env.ll
  UNION ALL
  SELECT gv.grid_id AS unit_id, ST_Union(a.geom) AS geom
    FROM grid_villages gv
    JOIN areas a ON a.area_code = gv.area_code AND a.level = 'village' AND a.geom IS NOT NULL
    LEFT JOIN grids g ON g.grid_id = gv.grid_id
   WHERE g.geom IS NULL AND gv.grid_id IN (
        SELECT gv2.grid_id FROM grid_villages gv2
          JOIN areas a2 ON a2.area_code = gv2.area_code, env
         WHERE a2.level = 'village' AND a2.geom && env.ll)
   GROUP BY gv.grid_id
)"""

AREA_GEOM_CTE = """
area_geom AS (
  SELECT a.area_code AS unit_id, a.geom FROM areas a, env
   WHERE a.level = :geo_level AND a.geom IS NOT NULL AND a.geom && env.ll
)"""

# The cells' WKB travel as one bytea with offsets: a bytea[] of 2,000 hexagons cost
# 25-35 ms to send (psycopg escapes each element into a text array), one bytea ~4 ms.
CELL_GEOM_CTE = """
cell_geom AS MATERIALIZED (
  SELECT u.unit_id, u.fid,
         ST_GeomFromWKB(substring(CAST(:cell_wkb AS bytea) FROM u.o + 1 FOR u.n), 4326) AS geom
    FROM unnest(CAST(:cell_ids AS text[]), CAST(:cell_fids AS bigint[]),
                CAST(:cell_offsets AS integer[]), CAST(:cell_sizes AS integer[]))
         AS u(unit_id, fid, o, n)
)"""


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (names are checked against IDENT or are ours)."""
    if '"' in name:
        raise ValueError(f"bad identifier {name!r}")
    return f'"{name}"'


def postgis_mvt(
    ctx: TileContext,
    ctes: Sequence[str],
    attrs: Sequence[str],
    params: dict[str, Any],
    *,
    fid: bool = False,
    order_by: Sequence[str] = ("unit_id",),
    clipped: bool = False,
) -> bytes:
    """Run ``ST_AsMVT`` over the ``src`` CTE (attribute columns, ``geom`` in 4326).

    The row alias is ``tile_rows``: ``ST_AsMVT(<alias>, …)`` would take a column of the
    same name (hotspots have a ``q``) instead of the row. ``tile_rows`` and ``cell_geom``
    are MATERIALIZED: inlined, the planner pushed ``ST_AsMVTGeom`` into the inner side
    of a nested loop and ran it once per pair (10 s for a 500-cell tile instead of 20 ms).

    Parameters
    ----------
    ctx : TileContext
        The request.
    ctes : sequence of str
        ``name AS (…)`` definitions after ``env``; one must be ``src``.
    attrs : sequence of str
        The attribute columns of ``src`` that go into the tile.
    params : dict
        Bind parameters of the CTEs.
    fid : bool
        Whether ``src.fid`` is the feature id.
    order_by : sequence of str
        Attribute columns giving the feature order (same order as the Python path).
    clipped : bool
        Whether ``src.geom`` is already the tile geometry (``ST_AsMVTGeom`` done in a CTE,
        once per shape that several features share).

    Returns
    -------
    bytes
        The tile; ``b""`` when no feature is left.
    """
    cols = ", ".join(f"src.{quote_ident(a)}" for a in attrs)
    geom = (
        "src.geom"
        if clipped
        else "ST_AsMVTGeom(ST_Transform(src.geom, 3857), env.m,"
        " CAST(:extent AS integer), CAST(:buffer AS integer), true)"
    )
    fid_col = ", src.fid" if fid else ""
    fid_arg = ", 'fid'" if fid else ""
    # "C" collation: byte order, the same order the Python path sorts ids in.
    order = ", ".join(f'tile_rows.{quote_ident(c)} COLLATE "C"' for c in order_by)
    sql = (
        "WITH "
        + ",\n".join([_ENV_CTE, *ctes])
        + f""",
tile_rows AS MATERIALIZED (
  SELECT {cols}{fid_col}, {geom} AS geom
    FROM src, env
)
SELECT ST_AsMVT(tile_rows, CAST(:layer AS text), CAST(:extent AS integer), 'geom'{fid_arg}
                ORDER BY {order})
  FROM tile_rows
 WHERE tile_rows.geom IS NOT NULL AND NOT ST_IsEmpty(tile_rows.geom)"""
    )
    bind = {
        "z": ctx.z,
        "x": ctx.x,
        "y": ctx.y,
        "margin": CANDIDATE_PAD / EXTENT,
        "extent": EXTENT,
        "buffer": BUFFER,
        "layer": ctx.spec.name,
        **params,
    }
    with ctx.engine.connect() as conn:
        # The planner's cost for a county tile passes jit_above_cost, and compiling the
        # query took 3.4 s of a 3.7 s tile; tiles are short queries and never gain from it.
        conn.execute(text("SET LOCAL jit = off"))
        conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        data = conn.execute(text(sql), bind).scalar()
    return bytes(data) if data else b""


def cell_params(cells: Sequence[str], wkbs: Sequence[bytes] | None = None) -> dict[str, Any]:
    """Bind parameters of ``CELL_GEOM_CTE``: ids, feature ids and lng/lat WKB of cells."""
    if wkbs is None:
        wkbs = list(shapely.to_wkb(h3_polygons(cells)))
    sizes = [len(w) for w in wkbs]
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(int).tolist() if sizes else []
    return {
        "cell_ids": list(cells),
        "cell_fids": [h3_fid(c) for c in cells],
        "cell_wkb": b"".join(wkbs),
        "cell_offsets": offsets,
        "cell_sizes": sizes,
    }


def index_cell_params(index: UnitIndex, positions: np.ndarray) -> dict[str, Any]:
    return cell_params([index.ids[i] for i in positions], [index.wkb[i] for i in positions])
