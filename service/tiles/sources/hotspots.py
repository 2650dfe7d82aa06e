"""The ``hotspots`` layer: Getis-Ord Gi* classes per H3 res-8 cell or grid."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from geo.vocabulary import HOTSPOT_LEVELS
from service.tiles.cache import data_version
from service.tiles.layers import IndicatorNotBuiltError
from service.tiles.mvt import Column, FeatureBatch
from service.tiles.sources.base import (
    EMPTY,
    AttrTable,
    LayerSource,
    TileContext,
    UnitIndex,
    float_values,
    h3_index,
    h3_res,
    str_values,
    tile_cells,
    value_column,
)
from service.tiles.sources.postgis import (
    CELL_GEOM_CTE,
    CURRENT_BUILD_SQL,
    GRID_GEOM_CTE,
    cell_params,
    postgis_mvt,
)
from service.tiles.sources.reads import (
    build_info,
    built_indicators,
    fetch_frame,
    fetch_rows,
    polygon_index,
    spec_of,
    town_units,
)
from service.tiles.towns import in_town
from store.results import HotspotResult, current_build_id


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
            raise IndicatorNotBuiltError(
                f"no hotspots of {indicator!r} at {level} in the current build"
            )
        return level, indicator

    def _names(self, ctx: TileContext, level: str) -> list[str]:
        return built_indicators(ctx, "hotspot_results", level)

    def indicators(self, engine: Engine, period: dt.date | None = None) -> list[str]:
        ctx = TileContext(engine, spec_of(self), 0, 0, 0, {}, data_version(engine))
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
            stmt = (
                select(t.unit_id)
                .where(t.build_id == current_build_id(), t.level == level)
                .distinct()
            )
            return h3_index(r[0] for r in fetch_rows(ctx.engine, stmt))

        index: UnitIndex = ctx.cached("hot_cells", level, make=make)
        return index

    def table(self, ctx: TileContext, level: str, indicator: str | None) -> AttrTable:
        """One row per unit and indicator, ordered by unit then indicator (cached)."""

        def make() -> AttrTable:
            t = HotspotResult
            stmt = select(*self._columns()).where(
                t.build_id == current_build_id(), t.level == level
            )
            if indicator is not None:
                stmt = stmt.where(t.indicator == indicator)
            frame = fetch_frame(ctx.engine, stmt, _HOT_COLS)
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
            return EMPTY
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
            geo_cte, geo = GRID_GEOM_CTE, "grid_geom"
            if ctx.town is not None:
                params["scope_units"] = town_units(ctx, level)
                units = "AND h.unit_id = ANY(CAST(:scope_units AS text[]))"
        else:
            units = "AND h.unit_id = ANY(CAST(:cell_ids AS text[]))"
            cells = tile_cells(ctx, h3_res(level))
            if not cells:
                return b""
            params.update(cell_params(cells))
            geo_cte, geo = CELL_GEOM_CTE, "cell_geom"
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
   WHERE h.build_id = {CURRENT_BUILD_SQL} AND h.level = :level {units} {filt}
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
   WHERE h.build_id = {CURRENT_BUILD_SQL} AND h.level = :level {units} {filt}
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
        Column.of("class", "str", str_values(frame["class"]).tolist()),
    ]
    for name in ("z", "p", "q", "p_sim"):
        data = float_values(frame[name])
        columns.append(value_column(name, "float", data, ~np.isnan(data)))
    smoothed = float_values(frame["smoothed"])
    columns.append(value_column("smoothed_rate", "float", smoothed, ~np.isnan(smoothed)))
    rate = float_values(frame["rate"])
    columns.append(value_column("rate", "float", rate, ~hidden & ~np.isnan(rate)))
    columns.append(Column("suppressed", "bool", hidden, everywhere))
    reason = str_values(frame["reason"])
    has_reason = hidden & np.array([r is not None for r in reason], dtype=bool)
    columns.append(Column("suppression_reason", "str", reason, has_reason))
    return frame, columns
