"""The early-warning tile layers: ``alerts`` and ``risk`` (RULES.md "Infectious-disease early
warning"; tables of ``store.results``, written by ``pipelines.surveillance``).

* ``alerts``: one feature per space-time scan cluster **and cell** (the cluster's H3 cells,
  each with the cluster's method, observed, expected, relative risk, p and days), and one
  per EARS alert of a **town** (the town polygon with method, observed count, expected).
  County-level EARS alerts have no place on a map of the county's parts: the API lists
  them (``GET /api/v1/alerts``).
* ``risk``: one feature per risk cell (score, at_risk, alert_cell, mobility_source and the
  recent case rate).

Small numbers (RULES.md: a rate is never shown with its raw count below k people), as in
``GET /api/v1/alerts`` and ``GET /api/v1/risk-cells``: an alert's relative risk is withheld
when its observed count is below k; a risk cell's rate when it has fewer than k residents
or 1 to k−1 recent cases. The tiles carry no counts of a risk cell at all (residents,
recent cases): with them the rate could be worked out again. k is the one the current
build ran with (``rules.indicators.suppression_k`` then, recorded in its summary), as for
every other output of the build.

Both backends, same attributes: the Python encoder on SQLite from per-version caches, one
``ST_AsMVT`` statement on PostGIS (cells' hexagons sent as WKB, as for the other H3 layers).
A chronic-disease centre's tiles hold its township's cells and its town's EARS alerts
(``service.tiles.towns``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from sqlalchemy import select

from geo.suppression import (
    observed_count_reason,
    suppression_reasons,
)
from service.tiles.layers import ANALYST_ROLES, LayerSpec, register_layer
from service.tiles.mvt import Column, FeatureBatch, to_mercator
from service.tiles.sources.base import (
    EMPTY,
    AttrTable,
    LayerSource,
    TileContext,
    UnitIndex,
    h3_fids,
    h3_polygons,
)
from service.tiles.sources.postgis import (
    AREA_GEOM_CTE,
    CELL_GEOM_CTE,
    CURRENT_BUILD_SQL,
    cell_params,
    index_cell_params,
    postgis_mvt,
)
from service.tiles.sources.reads import build_info, fetch_rows, polygon_index
from service.tiles.towns import in_town
from store.results import RiskCell, SurveillanceAlert, current_build_id


def suppression_k(ctx: TileContext) -> int:
    """The small-number threshold the current build ran with (its summary records it)."""
    k: int = build_info(ctx)["suppression_k"]
    return k


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:10]


@dataclass
class _Features:
    """A layer's features of the current build: geometries (indexed), columns, towns."""

    index: UnitIndex
    table: AttrTable
    #: Per feature: the township it belongs to (a cell's by its centre, a town itself).
    units: list[str]
    levels: list[str]


def _town_keep(ctx: TileContext, name: str, feats: _Features) -> np.ndarray | None:
    """Mask over the features of ``ctx.town`` (None: the county)."""
    town = ctx.town
    if town is None:
        return None

    def make() -> np.ndarray:
        keep = np.zeros(len(feats.units), dtype=bool)
        for level in set(feats.levels):
            at = [i for i, lv in enumerate(feats.levels) if lv == level]
            if level == "town":
                keep[at] = [feats.units[i] == town for i in at]
            else:
                keep[at] = in_town(ctx, "h3:", [feats.units[i] for i in at], town)
        return keep

    mask: np.ndarray = ctx.cached("warning_keep", name, town, make=make)
    return mask


class _WarningSource(LayerSource):
    """What the two early-warning layers share: features of the current build, cut to the
    caller's township, found under a tile from one index on both backends."""

    def _features(self, ctx: TileContext) -> _Features:
        raise NotImplementedError

    def _under(self, ctx: TileContext) -> tuple[_Features, np.ndarray]:
        """The features and the positions of those under the tile (township's only)."""
        feats = self._features(ctx)
        keep = _town_keep(ctx, ctx.spec.name, feats)
        under = feats.index.query(ctx.z, ctx.x, ctx.y)
        if keep is not None:
            under = under[keep[under]]
        return feats, under

    def batch(self, ctx: TileContext) -> FeatureBatch:
        if build_info(ctx)["build_id"] is None:
            return EMPTY
        feats = self._features(ctx)
        keep = _town_keep(ctx, ctx.spec.name, feats)
        return feats.table.batch(feats.index, ctx.z, ctx.x, ctx.y, keep)


class AlertSource(_WarningSource):
    """Scan clusters as their H3 cells, EARS town alerts as the town polygon."""

    ATTRS = (
        "alert_id",
        "unit_id",
        "kind",
        "method",
        "area_level",
        "day",
        "start_day",
        "observed",
        "expected",
        "relative_risk",
        "p_value",
        "suppressed",
        "suppression_reason",
    )

    def _alerts(self, ctx: TileContext) -> list[dict[str, Any]]:
        """The current build's scan alerts and town EARS alerts, one row per feature."""

        def make() -> list[dict[str, Any]]:
            t = SurveillanceAlert
            rows = fetch_rows(
                ctx.engine,
                select(
                    t.alert_id,
                    t.kind,
                    t.method,
                    t.area_level,
                    t.area_id,
                    t.day,
                    t.start_day,
                    t.observed,
                    t.expected,
                    t.relative_risk,
                    t.p_value,
                    t.cells,
                )
                .where(t.build_id == current_build_id())
                .where((t.kind == "scan") | (t.area_level == "town"))
                .order_by(t.alert_id),
            )
            out = []
            for r in rows:
                if r.kind == "scan":
                    units = sorted(set(r.cells or [r.area_id]))
                    level = "cell"
                else:
                    units, level = [r.area_id], "town"
                for unit in units:
                    out.append({**r._asdict(), "unit_id": unit, "geo": level})
            out.sort(key=lambda f: (f["unit_id"], f["alert_id"]))
            return out

        made: list[dict[str, Any]] = ctx.cached("alert_rows", make=make)
        return made

    def _features(self, ctx: TileContext) -> _Features:
        def make() -> _Features:
            k = suppression_k(ctx)
            rows = self._alerts(ctx)
            towns = polygon_index(ctx, "town")
            town_pos = dict(zip(towns.ids, range(len(towns.ids)), strict=True))
            # Town alerts without a town polygon cannot be drawn.
            kept = [r for r in rows if r["geo"] == "cell" or r["unit_id"] in town_pos]
            merc = np.empty(len(kept), dtype=object)
            at_cell = [i for i, r in enumerate(kept) if r["geo"] == "cell"]
            if at_cell:
                merc[at_cell] = to_mercator(h3_polygons([kept[i]["unit_id"] for i in at_cell]))
            for i, r in enumerate(kept):
                if r["geo"] == "town":
                    merc[i] = towns.geoms[town_pos[r["unit_id"]]]
            index = UnitIndex([str(i) for i in range(len(kept))], merc, [], shapely.STRtree(merc))
            reasons = [observed_count_reason(r["observed"], k) for r in kept]
            rr = [
                None if why is not None else r["relative_risk"]
                for r, why in zip(kept, reasons, strict=True)
            ]
            columns = [
                Column.of("alert_id", "int", [int(r["alert_id"]) for r in kept]),
                Column.of("unit_id", "str", [r["unit_id"] for r in kept]),
                Column.of("kind", "str", [r["kind"] for r in kept]),
                Column.of("method", "str", [r["method"] for r in kept]),
                Column.of("area_level", "str", [r["area_level"] for r in kept]),
                Column.of("day", "str", [_text(r["day"]) for r in kept]),
                Column.of("start_day", "str", [_text(r["start_day"]) for r in kept]),
                Column.of("observed", "float", [_float(r["observed"]) for r in kept]),
                Column.of("expected", "float", [_float(r["expected"]) for r in kept]),
                Column.of("relative_risk", "float", [_float(v) for v in rr]),
                Column.of("p_value", "float", [_float(r["p_value"]) for r in kept]),
                Column.of("suppressed", "bool", [why is not None for why in reasons]),
                Column.of("suppression_reason", "str", reasons),
            ]
            table = AttrTable(np.arange(len(kept), dtype=np.int64), columns)
            return _Features(
                index,
                table,
                [r["unit_id"] for r in kept],
                ["town" if r["geo"] == "town" else "cell" for r in kept],
            )

        made: _Features = ctx.cached("alert_features", make=make)
        return made

    def postgis_tile(self, ctx: TileContext) -> bytes:
        if build_info(ctx)["build_id"] is None:
            return b""
        # The cells under the tile (township's only), from the same index as SQLite's.
        feats, under = self._under(ctx)
        cells = sorted({feats.units[i] for i in under.tolist() if feats.levels[i] == "cell"})
        towns = sorted({feats.units[i] for i in under.tolist() if feats.levels[i] == "town"})
        if not cells and not towns:
            return b""
        params: dict[str, Any] = {
            **cell_params(cells),
            "k": suppression_k(ctx),
            "geo_level": "town",
            "towns": towns,
        }
        src = f"""
alert_rows AS (
  SELECT a.*, CASE WHEN a.observed < :k THEN 'count_below_k' END AS reason
    FROM surveillance_alerts a
   WHERE a.build_id = {CURRENT_BUILD_SQL} AND (a.kind = 'scan' OR a.area_level = 'town')
),
src AS (
  SELECT a.alert_id, c.unit_id, a.kind, a.method, a.area_level,
         to_char(a.day, 'YYYY-MM-DD') AS day, to_char(a.start_day, 'YYYY-MM-DD') AS start_day,
         a.observed, a.expected,
         CASE WHEN a.reason IS NULL THEN a.relative_risk END AS relative_risk, a.p_value,
         a.reason IS NOT NULL AS suppressed, a.reason AS suppression_reason, c.geom
    FROM alert_rows a
    JOIN LATERAL (
      SELECT DISTINCT e.cell FROM json_array_elements_text(
        COALESCE(a.cells, json_build_array(a.area_id))) AS e(cell)
    ) AS u ON true
    JOIN cell_geom c ON c.unit_id = u.cell
   WHERE a.kind = 'scan'
  UNION ALL
  SELECT a.alert_id, a.area_id, a.kind, a.method, a.area_level,
         to_char(a.day, 'YYYY-MM-DD'), to_char(a.start_day, 'YYYY-MM-DD'),
         a.observed, a.expected,
         CASE WHEN a.reason IS NULL THEN a.relative_risk END, a.p_value,
         a.reason IS NOT NULL, a.reason, g.geom
    FROM alert_rows a JOIN area_geom g ON g.unit_id = a.area_id
   WHERE a.kind <> 'scan' AND a.area_id = ANY(CAST(:towns AS text[]))
)"""
        return postgis_mvt(
            ctx,
            [CELL_GEOM_CTE, AREA_GEOM_CTE, src],
            self.ATTRS,
            params,
            order_by=("unit_id",),  # the alert id breaks ties in Python only
        )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class RiskSource(_WarningSource):
    """Risk of spread per H3 cell (score, at risk, alert cell; the rate when not small)."""

    ATTRS = (
        "unit_id",
        "score",
        "at_risk",
        "alert_cell",
        "mobility_source",
        "rate_per_1000",
        "suppressed",
        "suppression_reason",
    )

    def _features(self, ctx: TileContext) -> _Features:
        def make() -> _Features:
            k = suppression_k(ctx)
            t = RiskCell
            rows = fetch_rows(
                ctx.engine,
                select(
                    t.h3,
                    t.score,
                    t.at_risk,
                    t.alert_cell,
                    t.mobility_source,
                    t.rate_per_1000,
                    t.residents,
                    t.recent_cases,
                )
                .where(t.build_id == current_build_id())
                .order_by(t.h3),
            )
            rows.sort(key=lambda r: r.h3)  # byte order, as PostGIS's "C" collation
            index = UnitIndex.build([r.h3 for r in rows], h3_polygons([r.h3 for r in rows]))
            reasons = list(
                suppression_reasons(
                    np.array([r.recent_cases for r in rows], dtype=float),
                    np.array([r.residents for r in rows], dtype=float),
                    k,
                )
            )
            columns = [
                Column.of("unit_id", "str", [r.h3 for r in rows]),
                Column.of("score", "float", [_float(r.score) for r in rows]),
                Column.of("at_risk", "bool", [bool(r.at_risk) for r in rows]),
                Column.of("alert_cell", "bool", [bool(r.alert_cell) for r in rows]),
                Column.of("mobility_source", "str", [r.mobility_source for r in rows]),
                Column.of(
                    "rate_per_1000",
                    "float",
                    [
                        None if why is not None else _float(r.rate_per_1000)
                        for r, why in zip(rows, reasons, strict=True)
                    ],
                ),
                Column.of("suppressed", "bool", [why is not None for why in reasons]),
                Column.of("suppression_reason", "str", reasons),
            ]
            ids = [r.h3 for r in rows]
            table = AttrTable(np.arange(len(rows), dtype=np.int64), columns, h3_fids(ids))
            return _Features(index, table, ids, ["cell"] * len(ids))

        made: _Features = ctx.cached("risk_features", make=make)
        return made

    def postgis_tile(self, ctx: TileContext) -> bytes:
        if build_info(ctx)["build_id"] is None:
            return b""
        feats, under = self._under(ctx)
        if not len(under):
            return b""
        params = {**index_cell_params(feats.index, under), "k": suppression_k(ctx)}
        src = f"""
risk_rows AS (
  SELECT r.*, CASE WHEN r.residents < :k THEN 'denominator_below_k'
                   WHEN r.recent_cases > 0 AND r.recent_cases < :k THEN 'count_below_k'
              END AS reason
    FROM risk_cells r
   WHERE r.build_id = {CURRENT_BUILD_SQL} AND r.h3 = ANY(CAST(:cell_ids AS text[]))
),
src AS (
  SELECT r.h3 AS unit_id, r.score, r.at_risk, r.alert_cell, r.mobility_source,
         CASE WHEN r.reason IS NULL THEN r.rate_per_1000 END AS rate_per_1000,
         r.reason IS NOT NULL AS suppressed, r.reason AS suppression_reason,
         c.geom, c.fid
    FROM risk_rows r JOIN cell_geom c ON c.unit_id = r.h3
)"""
        return postgis_mvt(ctx, [CELL_GEOM_CTE, src], self.ATTRS, params, fid=True)


register_layer(
    LayerSpec(
        name="alerts",
        description="Early-warning alerts: scan clusters as H3 cells, EARS town alerts as towns",
        geometry="polygon",
        fields={
            "alert_id": "Number",
            "unit_id": "String",
            "kind": "String",
            "method": "String",
            "area_level": "String",
            "day": "String",
            "start_day": "String",
            "observed": "Number",
            "expected": "Number",
            "relative_risk": "Number",
            "p_value": "Number",
            "suppressed": "Boolean",
            "suppression_reason": "String",
        },
        minzoom=6,
        maxzoom=14,
        roles=ANALYST_ROLES,
        town_scoped=True,
        source=AlertSource(),
    )
)
register_layer(
    LayerSpec(
        name="risk",
        description="Risk of spread per H3 res-8 cell (score, at risk, alert cell, rate)",
        geometry="polygon",
        fields={
            "unit_id": "String",
            "score": "Number",
            "at_risk": "Boolean",
            "alert_cell": "Boolean",
            "mobility_source": "String",
            "rate_per_1000": "Number",
            "suppressed": "Boolean",
            "suppression_reason": "String",
        },
        minzoom=7,
        maxzoom=14,
        roles=ANALYST_ROLES,
        town_scoped=True,
        source=RiskSource(),
    )
)
