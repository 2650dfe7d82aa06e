"""The ``mobility`` layer: mean people per hour per H3 cell over a window of local days."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from service.tiles.mvt import Column, FeatureBatch
from service.tiles.sources.base import (
    EMPTY,
    AttrTable,
    LayerSource,
    TileContext,
    UnitIndex,
    h3_fids,
    h3_index,
)
from service.tiles.sources.postgis import (
    CELL_GEOM_CTE,
    index_cell_params,
    postgis_mvt,
)
from service.tiles.sources.reads import (
    distinct_values,
    fetch_frame,
    fetch_rows,
)
from store.models import Mobility

#: ``mobility``: days averaged when no period is given (the last days of data).
MOBILITY_DAYS = 7


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
            res_rows = fetch_rows(
                ctx.engine,
                select(m.h3_res, func.count()).where(heat).group_by(m.h3_res),
            )
            if not res_rows:
                return {"res": None, "hours": []}
            res = max(res_rows, key=lambda r: (r[1], -r[0]))[0]
            hours = fetch_rows(
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
        # Local days and hours are those of the county's time zone, which the rules
        # config names (``RulesConfig.timezone``, RULES.md: Asia/Shanghai by default);
        # the store keeps hours in UTC.
        zone = ZoneInfo(ctx.rules.timezone)
        end: dt.date | None = ctx.params.get("period")
        if end is None:
            end = meta["hours"][-1].astimezone(zone).date()
        start = end - dt.timedelta(days=MOBILITY_DAYS - 1)
        hour: int | None = ctx.params.get("hour")
        chosen = []
        for h in meta["hours"]:
            local = h.astimezone(zone)
            if start <= local.date() <= end and (hour is None or local.hour == hour):
                chosen.append(h)
        if not chosen:
            return None
        return {
            "res": meta["res"],
            "hours": chosen,
            "start": start,
            "end": end,
            "hour": hour,
            "zone": ctx.rules.timezone,
        }

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
            frame = fetch_frame(ctx.engine, stmt, ["unit_id", "total", "peak"])
            frame = frame.sort_values("unit_id").reset_index(drop=True)
            n = len(window["hours"])
            frame["mean_count"] = [round_like_postgres(float(t) / n) for t in frame["total"]]
            frame["max_count"] = frame["peak"].astype(float)
            return frame[["unit_id", "mean_count", "max_count"]]

        key = (window["end"], window["hour"], window["zone"])
        frame: pd.DataFrame = ctx.cached("mob_means", *key, make=make)
        return frame

    def _index(self, ctx: TileContext, res: int) -> UnitIndex:
        m = Mobility
        stmt = select(m.h3).distinct().where(m.origin_h3 == "", m.h3_res == res)

        def make() -> UnitIndex:
            return h3_index(distinct_values(ctx, "mob_units", stmt, res))

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

        key = (window["end"], window["hour"], window["zone"])
        table: AttrTable = ctx.cached("mob_table", *key, make=make)
        return table

    def batch(self, ctx: TileContext) -> FeatureBatch:
        window = self.window(ctx)
        if window is None:
            return EMPTY
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
            **index_cell_params(index, positions),
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
        return postgis_mvt(ctx, [CELL_GEOM_CTE, src], self.ATTRS + self.ATTRS_END, params, fid=True)


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
