"""Reading the store for tiles: the current build, bulk rows, unit polygons, indicators.

Everything here is cached per data version (:meth:`TileContext.cached`), so a tile after
the first of a version costs no query for these.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from geo.errors import PeriodNotBuiltError
from service.tiles.layers import LAYERS, LayerSpec
from service.tiles.sources.base import LayerSource, TileContext, UnitIndex
from service.tiles.towns import unit_towns
from store.models import Area, Grid, GridVillage
from store.queries import NoBuildError, current_build
from store.shapes import approximate_polygons


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
    PeriodNotBuiltError
        When the period was not built (HTTP 404).
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
        raise PeriodNotBuiltError(f"{period} was not built; built periods: {built}")
    return period


def fetch_rows(engine: Engine, stmt: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(stmt))


def fetch_frame(
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
    for grid_id, geom in ((approximate_polygons(engine) or {}).get("grid", {})).items():
        shapes.setdefault(grid_id, geom)
    ids = sorted(shapes)
    return ids, [shapes[i] for i in ids]


def approximate_areas(ctx: TileContext) -> dict[str, dict[str, Any]]:
    """Approximate village, grid and town polygons (``store.shapes``), {} when delivered
    polygons exist; cached per data version."""

    def make() -> dict[str, dict[str, Any]]:
        return approximate_polygons(ctx.engine) or {}

    approx: dict[str, dict[str, Any]] = ctx.cached("approximate_polygons", make=make)
    return approx


def polygon_index(ctx: TileContext, level: str) -> UnitIndex:
    """Grids, villages or towns as a :class:`UnitIndex` (cached per data version)."""

    def make() -> UnitIndex:
        if level == "grid":
            ids, geoms = grid_geometries(ctx.engine)
            return UnitIndex.build(ids, geoms)
        rows = fetch_rows(
            ctx.engine,
            select(Area.area_code, Area.geom)
            .where(Area.level == level, Area.geom.is_not(None))
            .order_by(Area.area_code),
        )
        shapes = dict((r[0], r[1]) for r in rows)
        for code, geom in approximate_areas(ctx).get(level, {}).items():
            shapes.setdefault(code, geom)
        ids = sorted(shapes)
        return UnitIndex.build(ids, [shapes[i] for i in ids])

    index: UnitIndex = ctx.cached("polygons", level, make=make)
    return index


def town_units(ctx: TileContext, level: str) -> list[str]:
    """Units of a coded level (grid, village, town) in ``ctx.town``."""
    return sorted(u for u, town in unit_towns(ctx, level).items() if town == ctx.town)


def spec_of(source: LayerSource) -> LayerSpec:
    return next(spec for spec in LAYERS.values() if spec.source is source)


def distinct_values(ctx: TileContext, name: str, stmt: Any, *key: Any) -> list[str]:
    def make() -> list[str]:
        return sorted(str(r[0]) for r in fetch_rows(ctx.engine, stmt))

    values: list[str] = ctx.cached(name, *key, make=make)
    return values


def built_indicators(
    ctx: TileContext, table: str, level: str, period: dt.date | None = None
) -> list[str]:
    """Indicators of the current build in ``table`` at ``level`` (and ``period``), cached.

    A loose index scan (a recursive CTE stepping from one indicator to the next through
    the index that starts with ``build_id, indicator``), then one index probe per
    indicator: ~30 index look-ups, where ``SELECT DISTINCT`` read every row of the level
    (0.5–1 s for the res-9 cells of a county on SQLite). The probe is a scalar subquery
    with ``LIMIT 1``, not ``EXISTS``: PostgreSQL turns an ``EXISTS`` into a hash semi-join
    that reads every row of the level in parallel (365 ms for the res-9 cells at scale
    1.0, against 1 ms this way).
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
 WHERE n.ind IS NOT NULL AND (
   SELECT 1 FROM {table} t
    WHERE t.build_id = :b AND t.indicator = n.ind AND t.level = :level{when}
    LIMIT 1) IS NOT NULL"""
    )
    params: dict[str, Any] = {"b": build_id, "level": level}
    if period is not None:
        params["period"] = period if ctx.postgis else period.isoformat()

    def make() -> list[str]:
        with ctx.engine.connect() as conn:
            return sorted(str(r[0]) for r in conn.execute(sql, params))

    names: list[str] = ctx.cached("built_indicators", table, level, period, make=make)
    return names
