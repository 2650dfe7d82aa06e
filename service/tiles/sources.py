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
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import h3
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from service.tiles.cache import DATA, data_version
from service.tiles.layers import (
    ANALYST_ROLES,
    HOTSPOT_LEVELS,
    IDENT,
    LAYERS,
    LayerSpec,
    h3_level_for_zoom,
    register_layer,
)
from service.tiles.mvt import Column, FeatureBatch, encode_layer, to_mercator
from service.tiles.tilemath import BUFFER, EXTENT, tile_bounds_lnglat, tile_bounds_mercator
from service.tiles.towns import in_town, unit_towns
from store.models import Area, Facility, Grid, GridVillage, Mobility
from store.queries import NoBuildError, current_build
from store.results import BuildCurrent, HotspotResult, IndicatorValue

#: Local time of the county (RULES.md: dates are Asia/Shanghai dates).
TIMEZONE = ZoneInfo("Asia/Shanghai")
#: ``mobility``: days averaged when no period is given (the last days of data).
MOBILITY_DAYS = 7
#: ``boundaries``: villages and grids are drawn from this zoom on (towns and county always).
DETAIL_BOUNDARY_ZOOM = 9

#: Candidate search margin in tile pixels: the buffer plus one pixel, because a vertex up to
#: half a pixel past the buffer snaps onto its edge and stays in the tile. Both backends
#: select candidates with it; clipping then decides exactly.
CANDIDATE_PAD = BUFFER + 1

_CURRENT_SQL = "(SELECT build_id FROM build_current WHERE name = 'current')"


# ----------------------------------------------------------------------------------------
# Context and shared per-version data
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TileContext:
    """One tile request, parameters already normalised."""

    engine: Engine
    spec: LayerSpec
    z: int
    x: int
    y: int
    params: dict[str, Any]
    version: tuple[str, ...]
    #: Only this township's units (``chronic_center`` accounts); None for the county.
    town: str | None = None
    #: West, south, east, north (degrees) beyond which no unit has data: the county's
    #: extent grown by a margin. None when unknown.
    extent: tuple[float, float, float, float] | None = None

    @property
    def postgis(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def cached(self, name: str, *args: Any, make: Any) -> Any:
        """``make()`` once per data version (and arguments) for this store."""
        return DATA.get_or_make((self.version, name, *args), make)


@dataclass
class UnitIndex:
    """Geometries of a set of units, projected to EPSG:3857, with an STR-tree over them.

    Attributes
    ----------
    ids : list of str
        Unit ids, in the order of ``geoms``.
    geoms : numpy.ndarray
        Shapely geometries in metres (what the Python encoder scales into tiles).
    wkb : list of bytes
        The lng/lat geometries as WKB (what the PostGIS path sends for H3 cells).
    """

    ids: list[str]
    geoms: np.ndarray
    wkb: list[bytes]
    tree: shapely.STRtree
    _pos: dict[str, int] | None = field(default=None, repr=False)

    @classmethod
    def build(cls, ids: Sequence[str], lnglat: Sequence[Any] | np.ndarray) -> UnitIndex:
        arr = lnglat if isinstance(lnglat, np.ndarray) else np.array(list(lnglat), dtype=object)
        merc = to_mercator(arr) if len(arr) else arr
        wkb = list(shapely.to_wkb(arr)) if len(arr) else []
        return cls(list(ids), merc, wkb, shapely.STRtree(merc))

    def query(self, z: int, x: int, y: int) -> np.ndarray:
        """Positions of the units whose bbox meets the tile grown by ``CANDIDATE_PAD``."""
        if not self.ids:
            return np.empty(0, dtype=np.int64)
        minx, miny, maxx, maxy = tile_bounds_mercator(z, x, y)
        pad = (maxx - minx) * CANDIDATE_PAD / EXTENT
        box = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
        return np.sort(self.tree.query(box))

    def positions(self, ids: Iterable[str]) -> np.ndarray:
        """Position of each id in this index, -1 where the unit has no geometry."""
        if self._pos is None:
            self._pos = {u: i for i, u in enumerate(self.ids)}
        pos = self._pos
        return np.array([pos.get(u, -1) for u in ids], dtype=np.int64)


@dataclass
class AttrTable:
    """A layer's attribute rows (one per feature) as columns, tied to a :class:`UnitIndex`.

    Columns instead of one dict per feature: a res-9 wide table (30,000 cells × 44
    attributes) is ~10 MB of arrays rather than ~400 MB of dicts, builds in a fraction of
    the time and gives the garbage collector nothing to walk.

    Attributes
    ----------
    row_unit : numpy.ndarray of int
        Position of each row's unit in the index (-1: the unit has no geometry). Rows are
        in the order features go into the tile (the PostGIS query's ORDER BY).
    columns : list of Column
        The attributes.
    fids : numpy.ndarray of uint64, optional
        Feature ids.
    """

    row_unit: np.ndarray
    columns: list[Column]
    fids: np.ndarray | None = None

    def batch(
        self, index: UnitIndex, z: int, x: int, y: int, keep: np.ndarray | None = None
    ) -> FeatureBatch:
        """The rows whose unit lies under tile ``z/x/y``, with their geometries.

        ``keep``, when given, is a boolean mask over the index's units: only those may
        appear (a township's units).
        """
        candidates = index.query(z, x, y)
        if keep is not None:
            candidates = candidates[keep[candidates]]
        if not len(candidates) or not len(self.row_unit):
            return FeatureBatch(np.empty(0, dtype=object))
        under = np.zeros(len(index.ids) + 1, dtype=bool)  # the extra slot is for -1
        under[candidates] = True
        rows = np.flatnonzero(under[self.row_unit])
        return FeatureBatch(
            index.geoms[self.row_unit[rows]],
            [c.take(rows) for c in self.columns],
            None if self.fids is None else self.fids[rows],
        )


def h3_polygons(cells: Sequence[str]) -> np.ndarray:
    """Lng/lat polygons of many cells, built in groups of equal vertex count.

    Same geometry as ``store.shapes.h3_polygon``; one ``shapely.polygons``
    call per vertex count instead of a Polygon per cell (30,000 res-9 cells: 0.1 s, not 1.5).
    """
    rings = [h3.cell_to_boundary(c) for c in cells]
    out = np.empty(len(rings), dtype=object)
    by_size: dict[int, list[int]] = defaultdict(list)
    for i, ring in enumerate(rings):
        by_size[len(ring)].append(i)
    for size, members in by_size.items():
        latlng = np.array([rings[i] for i in members], dtype=float).reshape(len(members), size, 2)
        closed = np.concatenate([latlng, latlng[:, :1]], axis=1)[:, :, ::-1]  # lng, lat
        out[members] = shapely.polygons(closed)
    return out


def h3_index(cells: Iterable[str]) -> UnitIndex:
    """A :class:`UnitIndex` of H3 cells drawn from their ids."""
    ids = sorted(set(cells))
    return UnitIndex.build(ids, h3_polygons(ids))


def h3_fid(cell: str) -> int:
    """The cell's 64-bit index, used as the MVT feature id (MapLibre feature-state)."""
    return int(cell, 16)


def h3_fids(cells: Iterable[str]) -> np.ndarray:
    """:func:`h3_fid` of many cells, as the ``uint64`` array feature ids travel in."""
    return np.array([int(c, 16) for c in cells], dtype=np.uint64)


def tile_cells(ctx: TileContext, res: int) -> list[str]:
    """H3 cells of ``res`` that may reach into the tile, sorted; the township's only.

    The cells whose bounding box meets the tile grown by ``CANDIDATE_PAD`` pixels (the
    same candidates an STR-tree over the cells' boxes gives: Mercator is separable, so
    the lng/lat box of a cell maps onto its Mercator box), cut to ``ctx.extent``. Found
    from the tile's corners alone (``h3shape_to_cells_experimental``, a few ms), so no
    tile needs the whole level's cells first; clipping then decides exactly.
    """
    west, south, east, north = tile_bounds_lnglat(ctx.z, ctx.x, ctx.y, buffer=CANDIDATE_PAD)
    if ctx.extent is not None:
        west, south = max(west, ctx.extent[0]), max(south, ctx.extent[1])
        east, north = min(east, ctx.extent[2]), min(north, ctx.extent[3])
        if west >= east or south >= north:
            return []
    box = h3.LatLngPoly([(south, west), (south, east), (north, east), (north, west)])
    cells = sorted(h3.h3shape_to_cells_experimental(box, res, contain="bbox_overlap"))
    if ctx.town is not None and cells:
        mask = in_town(ctx, f"h3:{res}", cells, ctx.town)
        cells = [c for c, k in zip(cells, mask.tolist(), strict=True) if k]
    return cells


def cell_batch(cells: Sequence[str], columns: list[Column]) -> FeatureBatch:
    """Features of H3 cells (rows aligned with ``cells``) with Mercator hexagons and fids."""
    if not len(cells):
        return FeatureBatch(np.empty(0, dtype=object))
    return FeatureBatch(to_mercator(h3_polygons(cells)), columns, h3_fids(cells))


def _h3_res(level: str) -> int:
    return int(level.split(":", 1)[1])


def build_info(ctx: TileContext) -> dict[str, Any]:
    """The current build (``build_id`` None before the first build)."""

    def make() -> dict[str, Any]:
        try:
            return current_build(ctx.engine)
        except NoBuildError:
            return {"build_id": None, "as_of": None, "periods": [], "suppression_k": None}

    info: dict[str, Any] = ctx.cached("build", make=make)
    return info


def resolve_period(ctx: TileContext) -> dt.date | None:
    """The period asked for (default the build's as-of date); None before any build.

    Raises
    ------
    LookupError
        When the period was not built.
    """
    info = build_info(ctx)
    if info["build_id"] is None:
        return None
    period: dt.date | None = ctx.params.get("period")
    if period is None:
        as_of: dt.date = info["as_of"]
        return as_of
    if period != info["as_of"] and period.isoformat() not in info["periods"]:
        built = ", ".join(info["periods"]) or str(info["as_of"])
        raise LookupError(f"{period} was not built; built periods: {built}")
    return period


def _rows(engine: Engine, stmt: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(stmt))


def _frame(
    engine: Engine,
    stmt: Any,
    columns: list[str],
    params: Sequence[Any] = (),
    dtypes: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """A bulk query's rows as a frame, through the raw DB-API cursor.

    SQLAlchemy's row objects cost ~10 µs each to fetch and ``DataFrame`` probes each one
    (seconds for the 430,000 res-9 indicator rows of a county); the driver's ``fetchall``
    returns plain tuples in a fraction of that. The statement is compiled with its
    parameters inline: they are validated ids, levels and dates, quoted by SQLAlchemy.
    ``dtypes`` (column → numpy dtype, others ``object``) skips pandas' type inference.
    """
    if isinstance(stmt, str):
        sql = stmt  # raw SQL in the driver's paramstyle, with ``params``
    else:
        sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if params:
                cursor.execute(sql, tuple(params))
            else:
                cursor.execute(sql)
            rows = cursor.fetchall()
        finally:
            cursor.close()
    if not rows:
        return pd.DataFrame({c: [] for c in columns})
    if dtypes is None:
        return pd.DataFrame.from_records(rows, columns=columns)
    # Typed columns straight from the tuples: no per-column type inference (a third of
    # the time of a tile's rows); None becomes NaN in float columns.
    data = zip(*rows, strict=True)
    return pd.DataFrame(
        {c: np.array(v, dtype=dtypes.get(c, object)) for c, v in zip(columns, data, strict=True)}
    )


def _current() -> Any:
    return select(BuildCurrent.build_id).where(BuildCurrent.name == "current").scalar_subquery()


def _floats(series: pd.Series) -> np.ndarray:
    """Floats with NaN for NULL (what ``Column`` treats as absent)."""
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _strs(series: pd.Series) -> np.ndarray:
    """Strings as an object array with None for NULL."""
    return series.astype(object).where(series.notna(), None).to_numpy(dtype=object)


def _column(name: str, kind: Any, values: np.ndarray, present: np.ndarray) -> Column:
    """A column whose absent float slots hold 0.0, not NaN (NaN is never a table value)."""
    if kind == "float":
        values = np.where(present, values, 0.0)
    return Column(name, kind, values, present)


def grid_geometries(engine: Engine) -> tuple[list[str], list[Any]]:
    """Every grid's lng/lat polygon: its own, else the union of its villages.

    Same rule as ``store.shapes.grid_shapes`` (and the PostGIS ``grid_geom``
    CTE below), kept here without GeoPandas because tiles need only ids and shapes.
    """
    with Session(engine) as session:
        own = {g: geom for g, geom in session.execute(select(Grid.grid_id, Grid.geom)) if geom}
        village: dict[str, Any] = dict(
            session.execute(
                select(Area.area_code, Area.geom).where(
                    Area.level == "village", Area.geom.is_not(None)
                )
            ).all()
        )
        members: dict[str, list[Any]] = defaultdict(list)
        for grid_id, code in session.execute(select(GridVillage.grid_id, GridVillage.area_code)):
            if code in village:
                members[grid_id].append(village[code])
    shapes = dict(own)
    for grid_id, geoms in members.items():
        if grid_id not in shapes:
            shapes[grid_id] = shapely.union_all(geoms)
    ids = sorted(shapes)
    return ids, [shapes[i] for i in ids]


def polygon_index(ctx: TileContext, level: str) -> UnitIndex:
    """Grids, villages or towns as a :class:`UnitIndex` (cached per data version)."""

    def make() -> UnitIndex:
        if level == "grid":
            ids, geoms = grid_geometries(ctx.engine)
            return UnitIndex.build(ids, geoms)
        rows = _rows(
            ctx.engine,
            select(Area.area_code, Area.geom)
            .where(Area.level == level, Area.geom.is_not(None))
            .order_by(Area.area_code),
        )
        return UnitIndex.build([r[0] for r in rows], [r[1] for r in rows])

    index: UnitIndex = ctx.cached("polygons", level, make=make)
    return index


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
_GRID_GEOM_CTE = """
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

_AREA_GEOM_CTE = """
area_geom AS (
  SELECT a.area_code AS unit_id, a.geom FROM areas a, env
   WHERE a.level = :geo_level AND a.geom IS NOT NULL AND a.geom && env.ll
)"""

# The cells' WKB travel as one bytea with offsets: a bytea[] of 2,000 hexagons cost
# 25-35 ms to send (psycopg escapes each element into a text array), one bytea ~4 ms.
_CELL_GEOM_CTE = """
cell_geom AS MATERIALIZED (
  SELECT u.unit_id, u.fid,
         ST_GeomFromWKB(substring(CAST(:cell_wkb AS bytea) FROM u.o + 1 FOR u.n), 4326) AS geom
    FROM unnest(CAST(:cell_ids AS text[]), CAST(:cell_fids AS bigint[]),
                CAST(:cell_offsets AS integer[]), CAST(:cell_sizes AS integer[]))
         AS u(unit_id, fid, o, n)
)"""


def _q(name: str) -> str:
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
    cols = ", ".join(f"src.{_q(a)}" for a in attrs)
    geom = (
        "src.geom"
        if clipped
        else "ST_AsMVTGeom(ST_Transform(src.geom, 3857), env.m,"
        " CAST(:extent AS integer), CAST(:buffer AS integer), true)"
    )
    fid_col = ", src.fid" if fid else ""
    fid_arg = ", 'fid'" if fid else ""
    # "C" collation: byte order, the same order the Python path sorts ids in.
    order = ", ".join(f'tile_rows.{_q(c)} COLLATE "C"' for c in order_by)
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


def _cell_params(cells: Sequence[str], wkbs: Sequence[bytes] | None = None) -> dict[str, Any]:
    """Bind parameters of ``_CELL_GEOM_CTE``: ids, feature ids and lng/lat WKB of cells."""
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


def _index_cell_params(index: UnitIndex, positions: np.ndarray) -> dict[str, Any]:
    return _cell_params([index.ids[i] for i in positions], [index.wkb[i] for i in positions])


def _town_units(ctx: TileContext, level: str) -> list[str]:
    """Units of a coded level (grid, village, town) in ``ctx.town``."""
    return sorted(u for u, town in unit_towns(ctx, level).items() if town == ctx.town)


def _spec_of(source: LayerSource) -> LayerSpec:
    return next(spec for spec in LAYERS.values() if spec.source is source)


# ----------------------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------------------
class LayerSource:
    """Base class: how one layer is produced. Subclasses fill both paths."""

    #: Values the ``level`` parameter may take (empty: the layer has no such parameter).
    levels: tuple[str, ...] = ()

    def render(self, ctx: TileContext) -> bytes:
        """The tile's bytes on the context's backend."""
        if ctx.postgis:
            return self.postgis_tile(ctx)
        return encode_layer(ctx.spec.name, self.batch(ctx), ctx.z, ctx.x, ctx.y)

    def batch(self, ctx: TileContext) -> FeatureBatch:
        """Candidate features (EPSG:3857) of the tile, for the Python encoder."""
        raise NotImplementedError

    def postgis_tile(self, ctx: TileContext) -> bytes:
        """The tile from one ``ST_AsMVT`` statement."""
        raise NotImplementedError

    def indicators(self, engine: Engine, period: dt.date | None = None) -> list[str]:
        """Indicators that get their own attributes in the wide form (TileJSON fields)."""
        return []


_EMPTY = FeatureBatch(np.empty(0, dtype=object))


def _distinct(ctx: TileContext, name: str, stmt: Any, *key: Any) -> list[str]:
    def make() -> list[str]:
        return sorted(str(r[0]) for r in _rows(ctx.engine, stmt))

    values: list[str] = ctx.cached(name, *key, make=make)
    return values


def built_indicators(
    ctx: TileContext, table: str, level: str, period: dt.date | None = None
) -> list[str]:
    """Indicators of the current build in ``table`` at ``level`` (and ``period``), cached.

    A loose index scan (a recursive CTE stepping from one indicator to the next through
    the index that starts with ``build_id, indicator``), then one index probe per
    indicator: ~30 index look-ups, where ``SELECT DISTINCT`` read every row of the level
    (0.5–1 s for the res-9 cells of a county on SQLite).
    """
    build_id = build_info(ctx)["build_id"]
    if build_id is None or table not in ("indicator_values", "hotspot_results"):
        return []
    when = " AND t.period = :period" if period is not None else ""
    sql = text(
        f"""
WITH RECURSIVE n(ind) AS (
  SELECT min(indicator) FROM {table} WHERE build_id = :b
  UNION ALL
  SELECT (SELECT min(t.indicator) FROM {table} t WHERE t.build_id = :b AND t.indicator > n.ind)
    FROM n WHERE n.ind IS NOT NULL
)
SELECT n.ind FROM n
 WHERE n.ind IS NOT NULL AND EXISTS (
   SELECT 1 FROM {table} t
    WHERE t.build_id = :b AND t.indicator = n.ind AND t.level = :level{when})"""
    )
    params: dict[str, Any] = {"b": build_id, "level": level}
    if period is not None:
        params["period"] = period if ctx.postgis else period.isoformat()

    def make() -> list[str]:
        with ctx.engine.connect() as conn:
            return sorted(str(r[0]) for r in conn.execute(sql, params))

    names: list[str] = ctx.cached("built_indicators", table, level, period, make=make)
    return names


def _indicator_columns(
    frame: pd.DataFrame,
    level: str,
    period: dt.date,
    indicator: str | None,
    names: list[str],
) -> tuple[np.ndarray, list[Column]]:
    """Indicator rows (long, any order) → one row per unit, in unit order, as columns.

    ``frame`` has ``unit_id, indicator, num, den, value, suppressed, reason``. Long form
    (``indicator`` given): that indicator's value and counts; wide form: ``<name>``,
    ``<name>__suppressed`` and ``<name>__reason`` for each of ``names``. A suppressed
    value never leaves with its numerator or denominator (RULES.md small numbers).
    """
    frame = frame[frame["indicator"].isin([indicator] if indicator else names)]
    # factorize(sort=True): rows in unit order, codes in one hashing pass.
    row, uniques = pd.factorize(frame["unit_id"], sort=True)
    units = np.asarray(uniques, dtype=object)
    n = len(units)
    hidden = frame["suppressed"].astype(bool).to_numpy()
    value = _floats(frame["value"])
    reason = _strs(frame["reason"])
    columns = [
        Column("unit_id", "str", units, np.ones(n, dtype=bool)),
        Column.constant("level", "str", level, n),
        Column.constant("period", "str", period.isoformat(), n),
    ]
    if indicator is not None:
        order = np.argsort(row)
        row, hidden, value, reason = row[order], hidden[order], value[order], reason[order]
        shown = ~hidden
        columns.append(Column.constant("indicator", "str", indicator, n))
        for name, data in (
            ("value", value),
            ("numerator", _floats(frame["num"])[order]),
            ("denominator", _floats(frame["den"])[order]),
        ):
            columns.append(_column(name, "float", data, shown & ~np.isnan(data)))
        columns.append(Column("suppressed", "bool", hidden, np.ones(n, dtype=bool)))
        has_reason = hidden & np.array([r is not None for r in reason], dtype=bool)
        columns.append(Column("suppression_reason", "str", reason, has_reason))
        return units, columns
    kinds = frame["indicator"].to_numpy(dtype=object)
    for name in names:
        sel = kinds == name
        at, h, v, r = row[sel], hidden[sel], value[sel], reason[sel]
        vals, vp = np.zeros(n), np.zeros(n, dtype=bool)
        vals[at], vp[at] = v, ~h & ~np.isnan(v)
        sup, sp = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        sup[at], sp[at] = h, True
        why, wp = np.full(n, "", dtype=object), np.zeros(n, dtype=bool)
        why[at] = np.where(h, r, "")
        wp[at] = h & np.array([x is not None for x in r], dtype=bool)
        columns += [
            _column(name, "float", vals, vp),
            Column(f"{name}__suppressed", "bool", sup, sp),
            Column(f"{name}__reason", "str", why, wp),
        ]
    return units, columns


#: Indicator rows of some units (SQLite; the unit list is one JSON parameter, so the
#: primary key ``(build_id, period, level, unit_id, indicator)`` is probed per unit; a
#: unit's rows of one period sit together).
#: ``{counts}``: the numerator and denominator columns (long form), or two NULLs (the wide
#: form has no counts: a third fewer Python objects to fetch).
_UNIT_ROWS_SQLITE = (
    "SELECT unit_id, indicator, {counts}, value, suppressed, suppression_reason"
    " FROM indicator_values WHERE build_id = ? AND period = ? AND level = ?"
    " AND unit_id IN (SELECT value FROM json_each(?))"
)
_IND_COLS = ["unit_id", "indicator", "num", "den", "value", "suppressed", "reason"]
_IND_TYPES = {"num": float, "den": float, "value": float, "suppressed": bool}


class IndicatorSource(LayerSource):
    """Indicator values per unit: wide (every indicator) or long (``indicator=`` given).

    H3 levels are read per tile: the cells under the tile are found from its corners
    (:func:`tile_cells`) and only their rows are read, through the primary key (SQLite)
    or inside the ``ST_AsMVT`` statement (PostGIS). Grids, villages and towns (at most a
    few thousand units) are read whole once per data version and period.

    Parameters
    ----------
    level : str or None
        ``grid``, ``village`` or ``town``; None for H3 cells at the zoom's resolution.
    """

    def __init__(self, level: str | None) -> None:
        self.fixed_level = level
        self.levels = ("h3:7", "h3:8", "h3:9") if level is None else ()

    def level(self, ctx: TileContext) -> str:
        if self.fixed_level is not None:
            return self.fixed_level
        level: str | None = ctx.params.get("level")
        return level or h3_level_for_zoom(ctx.z)

    def names(self, ctx: TileContext, level: str, period: dt.date) -> list[str]:
        """Indicators built for ``level`` and ``period`` (only SQL-safe names)."""
        return [
            n for n in built_indicators(ctx, "indicator_values", level, period) if IDENT.match(n)
        ]

    def indicators(self, engine: Engine, period: dt.date | None = None) -> list[str]:
        ctx = TileContext(engine, _spec_of(self), 0, 0, 0, {}, data_version(engine))
        levels = [self.fixed_level] if self.fixed_level else list(self.levels)
        found: set[str] = set()
        for level in levels:
            found.update(built_indicators(ctx, "indicator_values", level, period))
        return sorted(n for n in found if IDENT.match(n))

    def _setup(self, ctx: TileContext) -> tuple[str, dt.date, str | None, list[str]] | None:
        period = resolve_period(ctx)
        if period is None:
            return None
        level = self.level(ctx)
        names = self.names(ctx, level, period)
        indicator: str | None = ctx.params.get("indicator")
        if indicator is not None and indicator not in names:
            raise LookupError(f"indicator {indicator!r} was not built at {level} for {period}")
        return level, period, indicator, names

    def _keep(self, ctx: TileContext, index: UnitIndex, level: str) -> np.ndarray | None:
        """Mask of the index's units in ``ctx.town`` (None: no township scope)."""
        if ctx.town is None:
            return None
        town = ctx.town

        def make() -> np.ndarray:
            return in_town(ctx, level, index.ids, town)

        keep: np.ndarray = ctx.cached("town_keep", level, town, make=make)
        return keep

    # -- Python path ---------------------------------------------------------------------
    def table(
        self,
        ctx: TileContext,
        level: str,
        period: dt.date,
        indicator: str | None,
        names: list[str],
    ) -> AttrTable:
        """Attributes of a grid, village or town level and period, one row per unit."""

        def make() -> AttrTable:
            t = IndicatorValue
            stmt = select(
                t.unit_id,
                t.indicator,
                t.numerator,
                t.denominator,
                t.value,
                t.suppressed,
                t.suppression_reason,
            ).where(t.build_id == _current(), t.level == level, t.period == period)
            stmt = stmt.where(t.indicator.in_([indicator] if indicator else names))
            frame = _frame(ctx.engine, stmt, _IND_COLS)
            units, columns = _indicator_columns(frame, level, period, indicator, names)
            index = polygon_index(ctx, level)
            return AttrTable(index.positions(units), columns)

        table: AttrTable = ctx.cached("ind_table", level, period, indicator, make=make)
        return table

    def cell_rows(
        self,
        ctx: TileContext,
        level: str,
        period: dt.date,
        indicator: str | None,
        names: list[str],
    ) -> FeatureBatch:
        """The tile's H3 cells with their attributes (SQLite; rows read for these cells)."""
        cells = tile_cells(ctx, _h3_res(level))
        if not cells:
            return _EMPTY
        params = [build_info(ctx)["build_id"], period.isoformat(), level, json.dumps(cells)]
        if indicator is not None:
            sql = _UNIT_ROWS_SQLITE.format(counts="numerator, denominator")
            sql += " AND indicator = ?"
            params.append(indicator)
        else:
            sql = _UNIT_ROWS_SQLITE.format(counts="NULL, NULL")
        frame = _frame(ctx.engine, sql, _IND_COLS, params, _IND_TYPES)
        if not len(frame):
            return _EMPTY
        units, columns = _indicator_columns(frame, level, period, indicator, names)
        return cell_batch(units.tolist(), columns)

    def batch(self, ctx: TileContext) -> FeatureBatch:
        setup = self._setup(ctx)
        if setup is None:
            return _EMPTY
        level, period, indicator, names = setup
        if level.startswith("h3:"):
            return self.cell_rows(ctx, level, period, indicator, names)
        table = self.table(ctx, level, period, indicator, names)
        index = polygon_index(ctx, level)
        return table.batch(index, ctx.z, ctx.x, ctx.y, self._keep(ctx, index, level))

    # -- PostGIS path --------------------------------------------------------------------
    def postgis_tile(self, ctx: TileContext) -> bytes:
        setup = self._setup(ctx)
        if setup is None:
            return b""
        level, period, indicator, names = setup
        params: dict[str, Any] = {"level": level, "period": period, "period_s": period.isoformat()}
        if indicator is not None:
            params["indicator"] = indicator
            cols = [
                "v.indicator",
                "CASE WHEN v.suppressed THEN NULL ELSE v.value END AS value",
                "CASE WHEN v.suppressed THEN NULL ELSE v.numerator END AS numerator",
                "CASE WHEN v.suppressed THEN NULL ELSE v.denominator END AS denominator",
                "v.suppressed",
                "CASE WHEN v.suppressed THEN v.suppression_reason END AS suppression_reason",
            ]
            attrs = ["indicator", "value", "numerator", "denominator", "suppressed"]
            attrs.append("suppression_reason")
            filt, group = "AND v.indicator = :indicator", ""
        else:
            cols, attrs = [], []
            for n, name in enumerate(names):
                p = f"ind_{n}"
                params[p] = name
                where = f"FILTER (WHERE v.indicator = :{p})"
                cols += [
                    f"max(CASE WHEN v.suppressed THEN NULL ELSE v.value END) {where} AS {_q(name)}",
                    f"bool_or(v.suppressed) {where} AS {_q(name + '__suppressed')}",
                    f"max(CASE WHEN v.suppressed THEN v.suppression_reason END) {where}"
                    f" AS {_q(name + '__reason')}",
                ]
                attrs += [name, f"{name}__suppressed", f"{name}__reason"]
            filt, group = "", "GROUP BY v.unit_id"
        if level.startswith("h3:"):
            cells = tile_cells(ctx, _h3_res(level))
            if not cells:
                return b""
            params.update(_cell_params(cells))
            geo_cte, geo, fid = _CELL_GEOM_CTE, "cell_geom", True
            # The cell list goes into the primary-key index condition: planner statistics
            # right after a build are stale and a semi-join was planned as a 1.7M-row loop.
            units = "v.unit_id = ANY(CAST(:cell_ids AS text[]))"
        else:
            if level == "grid":
                geo_cte, geo = _GRID_GEOM_CTE, "grid_geom"
            else:
                params["geo_level"] = level
                geo_cte, geo = _AREA_GEOM_CTE, "area_geom"
            fid = False
            # ANY(ARRAY(subquery)) is an index condition, evaluated once (an InitPlan).
            units = f"v.unit_id = ANY(ARRAY(SELECT unit_id FROM {geo}))"
            if ctx.town is not None:
                params["scope_units"] = _town_units(ctx, level)
                units += " AND v.unit_id = ANY(CAST(:scope_units AS text[]))"
        vals = f"""
vals AS (
  SELECT v.unit_id, CAST(:level AS text) AS level, CAST(:period_s AS text) AS period,
         {", ".join(cols) if cols else "1 AS one"}
    FROM indicator_values v
   WHERE v.build_id = {_CURRENT_SQL} AND v.level = :level AND v.period = :period
     AND {units} {filt}
   {group}
)"""
        src = f"src AS (SELECT vals.*, {geo}.geom{', ' + geo + '.fid' if fid else ''}" + (
            f" FROM vals JOIN {geo} ON {geo}.unit_id = vals.unit_id)"
        )
        return postgis_mvt(
            ctx,
            [geo_cte, vals, src],
            ["unit_id", "level", "period", *attrs],
            params,
            fid=fid,
        )


class HotspotSource(LayerSource):
    """Gi* hotspot classes per H3 res-8 cell or grid (``level``), one feature per indicator."""

    levels = HOTSPOT_LEVELS

    ATTRS = (
        "unit_id",
        "level",
        "indicator",
        "class",
        "z",
        "p",
        "q",
        "p_sim",
        "smoothed_rate",
        "rate",
        "suppressed",
        "suppression_reason",
    )

    def _setup(self, ctx: TileContext) -> tuple[str, str | None] | None:
        if build_info(ctx)["build_id"] is None:
            return None
        level: str = ctx.params.get("level") or HOTSPOT_LEVELS[0]
        indicator: str | None = ctx.params.get("indicator")
        if indicator is not None and indicator not in self._names(ctx, level):
            raise LookupError(f"no hotspots of {indicator!r} at {level} in the current build")
        return level, indicator

    def _names(self, ctx: TileContext, level: str) -> list[str]:
        return built_indicators(ctx, "hotspot_results", level)

    def indicators(self, engine: Engine, period: dt.date | None = None) -> list[str]:
        ctx = TileContext(engine, _spec_of(self), 0, 0, 0, {}, data_version(engine))
        found: set[str] = set()
        for level in HOTSPOT_LEVELS:
            found.update(built_indicators(ctx, "hotspot_results", level))
        return sorted(found)

    def index(self, ctx: TileContext, level: str) -> UnitIndex:
        """The level's units: grids, or the H3 cells the current build scored (cached).

        A build scores a few thousand res-8 cells, so the whole level is read once per data
        version, as for grids, and each tile is a lookup in memory: reading a dense tile's
        rows per request (one feature per cell and indicator) was what made cold tiles slow.
        """
        if not level.startswith("h3:"):
            return polygon_index(ctx, level)

        def make() -> UnitIndex:
            t = HotspotResult
            stmt = select(t.unit_id).where(t.build_id == _current(), t.level == level).distinct()
            return h3_index(r[0] for r in _rows(ctx.engine, stmt))

        index: UnitIndex = ctx.cached("hot_cells", level, make=make)
        return index

    def table(self, ctx: TileContext, level: str, indicator: str | None) -> AttrTable:
        """One row per unit and indicator, ordered by unit then indicator (cached)."""

        def make() -> AttrTable:
            t = HotspotResult
            stmt = select(*self._columns()).where(t.build_id == _current(), t.level == level)
            if indicator is not None:
                stmt = stmt.where(t.indicator == indicator)
            frame = _frame(ctx.engine, stmt, _HOT_COLS)
            frame, columns = _hotspot_columns(frame, level)
            index = self.index(ctx, level)
            return AttrTable(index.positions(frame["unit_id"].tolist()), columns)

        table: AttrTable = ctx.cached("hot_table", level, indicator, make=make)
        return table

    @staticmethod
    def _columns() -> list[Any]:
        t = HotspotResult
        return [
            t.unit_id,
            t.indicator,
            t.hotspot_class,
            t.z,
            t.p,
            t.q,
            t.p_sim,
            t.smoothed_rate,
            t.rate,
            t.suppressed,
            t.suppression_reason,
        ]

    def batch(self, ctx: TileContext) -> FeatureBatch:
        setup = self._setup(ctx)
        if setup is None:
            return _EMPTY
        level, indicator = setup
        index = self.index(ctx, level)
        keep = None
        if ctx.town is not None:
            town = ctx.town
            keep = ctx.cached(
                "hot_keep", level, town, make=lambda: in_town(ctx, level, index.ids, town)
            )
        return self.table(ctx, level, indicator).batch(index, ctx.z, ctx.x, ctx.y, keep)

    def postgis_tile(self, ctx: TileContext) -> bytes:
        setup = self._setup(ctx)
        if setup is None:
            return b""
        level, indicator = setup
        params: dict[str, Any] = {"level": level}
        units = ""
        if level == "grid":
            geo_cte, geo = _GRID_GEOM_CTE, "grid_geom"
            if ctx.town is not None:
                params["scope_units"] = _town_units(ctx, level)
                units = "AND h.unit_id = ANY(CAST(:scope_units AS text[]))"
        else:
            units = "AND h.unit_id = ANY(CAST(:cell_ids AS text[]))"
            cells = tile_cells(ctx, _h3_res(level))
            if not cells:
                return b""
            params.update(_cell_params(cells))
            geo_cte, geo = _CELL_GEOM_CTE, "cell_geom"
        filt = ""
        if indicator is not None:
            params["indicator"] = indicator
            filt = "AND h.indicator = :indicator"
        if level != "grid":
            # Each cell carries one feature per indicator: clip it once.
            hot = f"""
hot AS MATERIALIZED (
  SELECT h.unit_id, h.level, h.indicator, h.hotspot_class AS "class", h.z, h.p, h.q,
         h.p_sim, h.smoothed_rate,
         CASE WHEN h.suppressed THEN NULL ELSE h.rate END AS rate, h.suppressed,
         CASE WHEN h.suppressed THEN h.suppression_reason END AS suppression_reason
    FROM hotspot_results h
   WHERE h.build_id = {_CURRENT_SQL} AND h.level = :level {units} {filt}
),
cell_tile AS MATERIALIZED (
  SELECT c.unit_id,
         ST_AsMVTGeom(ST_Transform(c.geom, 3857), env.m, CAST(:extent AS integer),
                      CAST(:buffer AS integer), true) AS geom
    FROM cell_geom c, env
   WHERE c.unit_id IN (SELECT unit_id FROM hot)
),
src AS (SELECT hot.*, cell_tile.geom FROM hot JOIN cell_tile ON cell_tile.unit_id = hot.unit_id)"""
            return postgis_mvt(
                ctx,
                [geo_cte, hot],
                self.ATTRS,
                params,
                order_by=("unit_id", "indicator"),
                clipped=True,
            )
        src = f"""
src AS (
  SELECT h.unit_id, h.level, h.indicator, h.hotspot_class AS "class", h.z, h.p, h.q,
         h.p_sim, h.smoothed_rate,
         CASE WHEN h.suppressed THEN NULL ELSE h.rate END AS rate, h.suppressed,
         CASE WHEN h.suppressed THEN h.suppression_reason END AS suppression_reason,
         {geo}.geom
    FROM hotspot_results h JOIN {geo} ON {geo}.unit_id = h.unit_id
   WHERE h.build_id = {_CURRENT_SQL} AND h.level = :level {units} {filt}
)"""
        return postgis_mvt(
            ctx, [geo_cte, src], self.ATTRS, params, order_by=("unit_id", "indicator")
        )


_HOT_COLS = [
    "unit_id",
    "indicator",
    "class",
    "z",
    "p",
    "q",
    "p_sim",
    "smoothed",
    "rate",
    "suppressed",
    "reason",
]


def _hotspot_columns(frame: pd.DataFrame, level: str) -> tuple[pd.DataFrame, list[Column]]:
    """Hotspot rows → (rows ordered by unit then indicator, their columns).

    The smoothed rate is a neighbourhood estimate and stays; the raw rate of a small unit
    is withheld (as ``pipelines.build`` stores it).
    """
    frame = frame.sort_values(["unit_id", "indicator"], kind="stable")
    n = len(frame)
    everywhere = np.ones(n, dtype=bool)
    hidden = frame["suppressed"].astype(bool).to_numpy()
    columns = [
        Column("unit_id", "str", frame["unit_id"].to_numpy(dtype=object), everywhere),
        Column.constant("level", "str", level, n),
        Column("indicator", "str", frame["indicator"].to_numpy(dtype=object), everywhere),
        Column.of("class", "str", _strs(frame["class"]).tolist()),
    ]
    for name in ("z", "p", "q", "p_sim"):
        data = _floats(frame[name])
        columns.append(_column(name, "float", data, ~np.isnan(data)))
    smoothed = _floats(frame["smoothed"])
    columns.append(_column("smoothed_rate", "float", smoothed, ~np.isnan(smoothed)))
    rate = _floats(frame["rate"])
    columns.append(_column("rate", "float", rate, ~hidden & ~np.isnan(rate)))
    columns.append(Column("suppressed", "bool", hidden, everywhere))
    reason = _strs(frame["reason"])
    has_reason = hidden & np.array([r is not None for r in reason], dtype=bool)
    columns.append(Column("suppression_reason", "str", reason, has_reason))
    return frame, columns


class FacilitySource(LayerSource):
    """Health facilities as points (public institutions: not personal data)."""

    ATTRS = ("facility_id", "name", "type", "beds", "open")

    def _data(self, ctx: TileContext) -> tuple[UnitIndex, AttrTable]:
        def make() -> tuple[UnitIndex, AttrTable]:
            f = Facility
            rows = _rows(
                ctx.engine,
                select(
                    f.facility_id, f.name, f.type, f.beds, f.open, f.lng, f.lat, f.geom
                ).order_by(f.facility_id),
            )
            kept = []
            for fid, name, kind, beds, is_open, lng, lat, geom in rows:
                if geom is None:
                    if lng is None or lat is None:
                        continue
                    geom = shapely.Point(lng, lat)
                kept.append((fid, name, kind, beds, is_open, geom))
            index = UnitIndex.build([k[0] for k in kept], [k[5] for k in kept])
            columns = [
                Column.of("facility_id", "str", [k[0] for k in kept]),
                Column.of("name", "str", [k[1] for k in kept]),
                Column.of("type", "str", [k[2] for k in kept]),
                Column.of("beds", "int", [None if k[3] is None else int(k[3]) for k in kept]),
                Column.of("open", "bool", [None if k[4] is None else bool(k[4]) for k in kept]),
            ]
            return index, AttrTable(np.arange(len(kept), dtype=np.int64), columns)

        made: tuple[UnitIndex, AttrTable] = ctx.cached("facilities", make=make)
        return made

    def batch(self, ctx: TileContext) -> FeatureBatch:
        index, table = self._data(ctx)
        return table.batch(index, ctx.z, ctx.x, ctx.y)

    def postgis_tile(self, ctx: TileContext) -> bytes:
        src = """
src AS (
  SELECT f.facility_id, f.name, f.type, f.beds, f.open,
         COALESCE(f.geom, ST_SetSRID(ST_MakePoint(f.lng, f.lat), 4326)) AS geom
    FROM facilities f, env
   WHERE COALESCE(f.geom, ST_SetSRID(ST_MakePoint(f.lng, f.lat), 4326)) && env.ll
)"""
        return postgis_mvt(ctx, [src], self.ATTRS, {}, order_by=("facility_id",))


class BoundarySource(LayerSource):
    """County, town, village and grid outlines (``kind``, ``code``, ``name``)."""

    ATTRS = ("kind", "code", "name")

    def _data(self, ctx: TileContext, detail: bool) -> tuple[UnitIndex, AttrTable]:
        def make() -> tuple[UnitIndex, AttrTable]:
            kinds = ("county", "town", "village") if detail else ("county", "town")
            rows = _rows(
                ctx.engine,
                select(Area.level, Area.area_code, Area.name, Area.geom).where(
                    Area.level.in_(kinds), Area.geom.is_not(None)
                ),
            )
            items = [(k, c, n, g) for k, c, n, g in rows]
            if detail:
                names = dict(_rows(ctx.engine, select(Grid.grid_id, Grid.name)))
                ids, geoms = grid_geometries(ctx.engine)
                items += [
                    ("grid", g, names.get(g), geom) for g, geom in zip(ids, geoms, strict=True)
                ]
            items.sort(key=lambda item: (item[0], item[1]))
            index = UnitIndex.build([f"{k}:{c}" for k, c, _, _ in items], [i[3] for i in items])
            columns = [
                Column.of("kind", "str", [i[0] for i in items]),
                Column.of("code", "str", [i[1] for i in items]),
                Column.of("name", "str", [i[2] for i in items]),
            ]
            return index, AttrTable(np.arange(len(items), dtype=np.int64), columns)

        made: tuple[UnitIndex, AttrTable] = ctx.cached("boundaries", detail, make=make)
        return made

    def batch(self, ctx: TileContext) -> FeatureBatch:
        index, table = self._data(ctx, ctx.z >= DETAIL_BOUNDARY_ZOOM)
        return table.batch(index, ctx.z, ctx.x, ctx.y)

    def postgis_tile(self, ctx: TileContext) -> bytes:
        detail = ctx.z >= DETAIL_BOUNDARY_ZOOM
        kinds = ("county", "town", "village") if detail else ("county", "town")
        ctes = [
            f"""
areas_in AS (
  SELECT a.level AS kind, a.area_code AS code, a.name, a.geom FROM areas a, env
   WHERE a.level IN ({", ".join(f"'{k}'" for k in kinds)})
     AND a.geom IS NOT NULL AND a.geom && env.ll
)"""
        ]
        if detail:
            ctes.append(_GRID_GEOM_CTE)
            ctes.append(
                """
src AS (
  SELECT kind, code, name, geom FROM areas_in
  UNION ALL
  SELECT 'grid', gg.unit_id, g.name, gg.geom
    FROM grid_geom gg LEFT JOIN grids g ON g.grid_id = gg.unit_id
)"""
            )
        else:
            ctes.append("src AS (SELECT kind, code, name, geom FROM areas_in)")
        return postgis_mvt(ctx, ctes, self.ATTRS, {}, order_by=("kind", "code"))


class MobilitySource(LayerSource):
    """Mean people per hour per H3 cell (plain heat rows, the delivered resolution).

    The window is the ``MOBILITY_DAYS`` local days ending ``period`` (default: the last
    day with data); with ``hour`` only that local hour of each day is averaged. The mean
    divides by the hours the delivery has in the window (any cell), so a cell without a
    row in a delivered hour counts as 0 people, and a gap in the delivery is not a zero.
    """

    ATTRS = ("unit_id", "level", "mean_count", "max_count", "hours", "window_start")
    ATTRS_END = ("window_end", "hour")

    def _meta(self, ctx: TileContext) -> dict[str, Any]:
        """Delivered resolution and every delivered hour (UTC), once per data version."""

        def make() -> dict[str, Any]:
            m = Mobility
            heat = m.origin_h3 == ""
            res_rows = _rows(
                ctx.engine,
                select(m.h3_res, func.count()).where(heat).group_by(m.h3_res),
            )
            if not res_rows:
                return {"res": None, "hours": []}
            res = max(res_rows, key=lambda r: (r[1], -r[0]))[0]
            hours = _rows(
                ctx.engine,
                select(m.hour).distinct().where(heat, m.h3_res == res),
            )
            return {"res": int(res), "hours": sorted(_utc(h) for (h,) in hours)}

        meta: dict[str, Any] = ctx.cached("mob_meta", make=make)
        return meta

    def window(self, ctx: TileContext) -> dict[str, Any] | None:
        """Resolution, UTC hours averaged, first and last local day, hour of day."""
        meta = self._meta(ctx)
        if meta["res"] is None:
            return None
        end: dt.date | None = ctx.params.get("period")
        if end is None:
            end = meta["hours"][-1].astimezone(TIMEZONE).date()
        start = end - dt.timedelta(days=MOBILITY_DAYS - 1)
        hour: int | None = ctx.params.get("hour")
        chosen = []
        for h in meta["hours"]:
            local = h.astimezone(TIMEZONE)
            if start <= local.date() <= end and (hour is None or local.hour == hour):
                chosen.append(h)
        if not chosen:
            return None
        return {"res": meta["res"], "hours": chosen, "start": start, "end": end, "hour": hour}

    def _bind_hours(self, ctx: TileContext, hours: list[dt.datetime]) -> list[dt.datetime]:
        # SQLite keeps naive UTC wall-clock text; PostgreSQL compares aware timestamps.
        if ctx.postgis:
            return hours
        return [h.replace(tzinfo=None) for h in hours]

    def means(self, ctx: TileContext, window: dict[str, Any]) -> pd.DataFrame:
        """Per cell: ``unit_id``, ``mean_count``, ``max_count`` over the window (cached)."""

        def make() -> pd.DataFrame:
            m = Mobility
            stmt = (
                select(m.h3, func.sum(m.count), func.max(m.count))
                .where(
                    m.origin_h3 == "",
                    m.h3_res == window["res"],
                    m.hour.in_(self._bind_hours(ctx, window["hours"])),
                )
                .group_by(m.h3)
            )
            frame = _frame(ctx.engine, stmt, ["unit_id", "total", "peak"])
            frame = frame.sort_values("unit_id").reset_index(drop=True)
            n = len(window["hours"])
            frame["mean_count"] = [round_like_postgres(float(t) / n) for t in frame["total"]]
            frame["max_count"] = frame["peak"].astype(float)
            return frame[["unit_id", "mean_count", "max_count"]]

        key = (window["end"], window["hour"])
        frame: pd.DataFrame = ctx.cached("mob_means", *key, make=make)
        return frame

    def _index(self, ctx: TileContext, res: int) -> UnitIndex:
        m = Mobility
        stmt = select(m.h3).distinct().where(m.origin_h3 == "", m.h3_res == res)

        def make() -> UnitIndex:
            return h3_index(_distinct(ctx, "mob_units", stmt, res))

        index: UnitIndex = ctx.cached("mob_cells", res, make=make)
        return index

    def table(self, ctx: TileContext, window: dict[str, Any]) -> AttrTable:
        def make() -> AttrTable:
            frame = self.means(ctx, window)
            n = len(frame)
            units = frame["unit_id"].to_numpy(dtype=object)
            columns = [
                Column("unit_id", "str", units, np.ones(n, dtype=bool)),
                Column.constant("level", "str", f"h3:{window['res']}", n),
                Column("mean_count", "float", frame["mean_count"].to_numpy(), np.ones(n, bool)),
                Column("max_count", "float", frame["max_count"].to_numpy(), np.ones(n, bool)),
                Column.constant("hours", "int", len(window["hours"]), n),
                Column.constant("window_start", "str", window["start"].isoformat(), n),
                Column.constant("window_end", "str", window["end"].isoformat(), n),
                Column.constant("hour", "int", window["hour"], n),
            ]
            index = self._index(ctx, window["res"])
            return AttrTable(index.positions(units), columns, h3_fids(units))

        key = (window["end"], window["hour"])
        table: AttrTable = ctx.cached("mob_table", *key, make=make)
        return table

    def batch(self, ctx: TileContext) -> FeatureBatch:
        window = self.window(ctx)
        if window is None:
            return _EMPTY
        return self.table(ctx, window).batch(self._index(ctx, window["res"]), ctx.z, ctx.x, ctx.y)

    def postgis_tile(self, ctx: TileContext) -> bytes:
        window = self.window(ctx)
        if window is None:
            return b""
        index = self._index(ctx, window["res"])
        positions = index.query(ctx.z, ctx.x, ctx.y)
        if not len(positions):
            return b""
        params: dict[str, Any] = {
            **_index_cell_params(index, positions),
            "res": window["res"],
            "hours_list": window["hours"],
            "t0": window["hours"][0],
            "t1": window["hours"][-1],
            "n": len(window["hours"]),
            "level": f"h3:{window['res']}",
            "ws": window["start"].isoformat(),
            "we": window["end"].isoformat(),
            "hour": window["hour"],
        }
        # The hour range lets the (h3, hour, origin_h3) primary key narrow each cell's scan;
        # the list then keeps exactly the hours the Python path averages.
        src = """
agg AS (
  SELECT m.h3 AS unit_id, sum(m.count) AS total, max(m.count) AS peak
    FROM mobility m
   WHERE m.h3 = ANY(CAST(:cell_ids AS text[])) AND m.origin_h3 = '' AND m.h3_res = :res
     AND m.hour BETWEEN :t0 AND :t1
     AND m.hour = ANY(CAST(:hours_list AS timestamptz[]))
   GROUP BY m.h3
),
src AS (
  SELECT agg.unit_id, CAST(:level AS text) AS level,
         CAST(round(CAST(agg.total / :n AS numeric), 2) AS float8) AS mean_count,
         CAST(agg.peak AS float8) AS max_count, CAST(:n AS integer) AS hours,
         CAST(:ws AS text) AS window_start, CAST(:we AS text) AS window_end,
         CAST(:hour AS integer) AS hour, c.fid, c.geom
    FROM agg JOIN cell_geom c ON c.unit_id = agg.unit_id
)"""
        return postgis_mvt(
            ctx, [_CELL_GEOM_CTE, src], self.ATTRS + self.ATTRS_END, params, fid=True
        )


def round_like_postgres(value: float, places: int = 2) -> float:
    """``round(CAST(value AS numeric), places)`` as PostgreSQL computes it.

    PostgreSQL casts float8 to numeric through 15 significant digits and rounds half away
    from zero; Python's ``round`` works on the binary value and rounds half to even, so
    the two would disagree on ties.
    """
    exact = Decimal(f"{value:.15g}")
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def _utc(value: dt.datetime) -> dt.datetime:
    """A stored hour as an aware UTC datetime (SQLite hands back naive UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


# ----------------------------------------------------------------------------------------
# The registry
# ----------------------------------------------------------------------------------------
_UNIT_FIELDS = {
    "unit_id": "String",
    "level": "String",
    "period": "String",
}
_LONG_FIELDS = {
    "indicator": "String",
    "value": "Number",
    "numerator": "Number",
    "denominator": "Number",
    "suppressed": "Boolean",
    "suppression_reason": "String",
}
_IND_PARAMS = frozenset({"period", "indicator"})

register_layer(
    LayerSpec(
        name="indicators",
        description="Indicator choropleth on H3 cells (res 7 at z<=9, 8 at z10-11, 9 at z>=12)",
        geometry="polygon",
        fields={**_UNIT_FIELDS, **_LONG_FIELDS},
        minzoom=7,
        maxzoom=14,
        roles=ANALYST_ROLES,
        params=_IND_PARAMS | {"level"},
        per_indicator_fields=True,
        town_scoped=True,
        source=IndicatorSource(None),
    )
)
for _level, _minzoom in (("grid", 8), ("village", 8), ("town", 6)):
    register_layer(
        LayerSpec(
            name=f"{_level}_indicators",
            description=f"Indicator choropleth by {_level}",
            geometry="polygon",
            fields={**_UNIT_FIELDS, **_LONG_FIELDS},
            minzoom=_minzoom,
            maxzoom=14,
            roles=ANALYST_ROLES,
            params=_IND_PARAMS,
            per_indicator_fields=True,
            town_scoped=True,
            source=IndicatorSource(_level),
        )
    )
register_layer(
    LayerSpec(
        name="hotspots",
        description="Getis-Ord Gi* hotspot classes (H3 res 8 or grids)",
        geometry="polygon",
        fields={
            "unit_id": "String",
            "level": "String",
            "indicator": "String",
            "class": "String",
            "z": "Number",
            "p": "Number",
            "q": "Number",
            "p_sim": "Number",
            "smoothed_rate": "Number",
            "rate": "Number",
            "suppressed": "Boolean",
            "suppression_reason": "String",
        },
        minzoom=8,
        maxzoom=14,
        roles=ANALYST_ROLES,
        params=frozenset({"indicator", "level"}),
        town_scoped=True,
        source=HotspotSource(),
    )
)
register_layer(
    LayerSpec(
        name="facilities",
        description="Health facilities by type",
        geometry="point",
        fields={
            "facility_id": "String",
            "name": "String",
            "type": "String",
            "beds": "Number",
            "open": "Boolean",
        },
        minzoom=6,
        maxzoom=16,
        roles=ANALYST_ROLES | {"doctor"},
        source=FacilitySource(),
    )
)
register_layer(
    LayerSpec(
        name="boundaries",
        description="County, town, village and grid boundaries (villages, grids from z9)",
        geometry="polygon",
        fields={"kind": "String", "code": "String", "name": "String"},
        minzoom=6,
        maxzoom=14,
        roles=ANALYST_ROLES | {"doctor"},
        source=BoundarySource(),
    )
)
register_layer(
    LayerSpec(
        name="mobility",
        description="Mean people per hour per H3 cell over 7 local days (optionally one hour)",
        geometry="polygon",
        fields={
            "unit_id": "String",
            "level": "String",
            "mean_count": "Number",
            "max_count": "Number",
            "hours": "Number",
            "window_start": "String",
            "window_end": "String",
            "hour": "Number",
        },
        minzoom=7,
        maxzoom=14,
        roles=frozenset({"bureau", "planner", "admin"}),
        params=frozenset({"period", "hour"}),
        source=MobilitySource(),
    )
)
