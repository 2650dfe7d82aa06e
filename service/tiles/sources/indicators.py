"""The indicator choropleths: ``indicators`` (H3 cells) and ``grid/village/town_indicators``.

Values are stored as served (``pipelines.build`` applied ``geo.suppression``); this module
only keeps a suppressed value's numerator and denominator out of the tile.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from service.tiles.cache import data_version
from service.tiles.layers import (
    IDENT,
    IndicatorNotBuiltError,
    h3_level_for_zoom,
)
from service.tiles.mvt import Column, FeatureBatch
from service.tiles.sources.base import (
    EMPTY,
    AttrTable,
    LayerSource,
    TileContext,
    UnitIndex,
    cell_batch,
    float_values,
    h3_res,
    str_values,
    tile_cells,
    value_column,
)
from service.tiles.sources.postgis import (
    AREA_GEOM_CTE,
    CELL_GEOM_CTE,
    CURRENT_BUILD_SQL,
    GRID_GEOM_CTE,
    cell_params,
    postgis_mvt,
    quote_ident,
)
from service.tiles.sources.reads import (
    build_info,
    built_indicators,
    fetch_frame,
    polygon_index,
    resolve_period,
    spec_of,
    town_units,
)
from service.tiles.towns import in_town
from store.results import IndicatorValue, current_build_id


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
    value = float_values(frame["value"])
    reason = str_values(frame["reason"])
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
            ("numerator", float_values(frame["num"])[order]),
            ("denominator", float_values(frame["den"])[order]),
        ):
            columns.append(value_column(name, "float", data, shown & ~np.isnan(data)))
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
            value_column(name, "float", vals, vp),
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
        ctx = TileContext(engine, spec_of(self), 0, 0, 0, {}, data_version(engine))
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
            raise IndicatorNotBuiltError(
                f"indicator {indicator!r} was not built at {level} for {period}"
            )
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
            ).where(t.build_id == current_build_id(), t.level == level, t.period == period)
            stmt = stmt.where(t.indicator.in_([indicator] if indicator else names))
            frame = fetch_frame(ctx.engine, stmt, _IND_COLS)
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
        cells = tile_cells(ctx, h3_res(level))
        if not cells:
            return EMPTY
        params = [build_info(ctx)["build_id"], period.isoformat(), level, json.dumps(cells)]
        if indicator is not None:
            sql = _UNIT_ROWS_SQLITE.format(counts="numerator, denominator")
            sql += " AND indicator = ?"
            params.append(indicator)
        else:
            sql = _UNIT_ROWS_SQLITE.format(counts="NULL, NULL")
        frame = fetch_frame(ctx.engine, sql, _IND_COLS, params, _IND_TYPES)
        if not len(frame):
            return EMPTY
        units, columns = _indicator_columns(frame, level, period, indicator, names)
        return cell_batch(units.tolist(), columns)

    def batch(self, ctx: TileContext) -> FeatureBatch:
        setup = self._setup(ctx)
        if setup is None:
            return EMPTY
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
                    f"max(CASE WHEN v.suppressed THEN NULL ELSE v.value END) {where}"
                    f" AS {quote_ident(name)}",
                    f"bool_or(v.suppressed) {where} AS {quote_ident(name + '__suppressed')}",
                    f"max(CASE WHEN v.suppressed THEN v.suppression_reason END) {where}"
                    f" AS {quote_ident(name + '__reason')}",
                ]
                attrs += [name, f"{name}__suppressed", f"{name}__reason"]
            filt, group = "", "GROUP BY v.unit_id"
        if level.startswith("h3:"):
            cells = tile_cells(ctx, h3_res(level))
            if not cells:
                return b""
            params.update(cell_params(cells))
            geo_cte, geo, fid = CELL_GEOM_CTE, "cell_geom", True
            # The cell list goes into the primary-key index condition: planner statistics
            # right after a build are stale and a semi-join was planned as a 1.7M-row loop.
            units = "v.unit_id = ANY(CAST(:cell_ids AS text[]))"
        else:
            if level == "grid":
                geo_cte, geo = GRID_GEOM_CTE, "grid_geom"
            else:
                params["geo_level"] = level
                geo_cte, geo = AREA_GEOM_CTE, "area_geom"
            fid = False
            # ANY(ARRAY(subquery)) is an index condition, evaluated once (an InitPlan).
            units = f"v.unit_id = ANY(ARRAY(SELECT unit_id FROM {geo}))"
            if ctx.town is not None:
                params["scope_units"] = town_units(ctx, level)
                units += " AND v.unit_id = ANY(CAST(:scope_units AS text[]))"
        vals = f"""
vals AS (
  SELECT v.unit_id, CAST(:level AS text) AS level, CAST(:period_s AS text) AS period,
         {", ".join(cols) if cols else "1 AS one"}
    FROM indicator_values v
   WHERE v.build_id = {CURRENT_BUILD_SQL} AND v.level = :level AND v.period = :period
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
