"""Layers of places rather than results: ``facilities`` (points) and ``boundaries``."""

from __future__ import annotations

import numpy as np
import shapely
from sqlalchemy import select

from service.tiles.mvt import Column, FeatureBatch, encode_layer
from service.tiles.sources.base import (
    AttrTable,
    LayerSource,
    TileContext,
    UnitIndex,
)
from service.tiles.sources.postgis import (
    GRID_GEOM_CTE,
    postgis_mvt,
)
from service.tiles.sources.reads import (
    approximate_areas,
    fetch_rows,
    grid_geometries,
)
from store.models import Area, Facility, Grid

#: ``boundaries``: villages and grids are drawn from this zoom on (towns and county always).
DETAIL_BOUNDARY_ZOOM = 9


class FacilitySource(LayerSource):
    """Health facilities as points (public institutions: not personal data)."""

    ATTRS = ("facility_id", "name", "type", "beds", "open")

    def _data(self, ctx: TileContext) -> tuple[UnitIndex, AttrTable]:
        def make() -> tuple[UnitIndex, AttrTable]:
            f = Facility
            rows = fetch_rows(
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

    ATTRS = ("kind", "code", "name", "approximate")

    def _data(self, ctx: TileContext, detail: bool) -> tuple[UnitIndex, AttrTable]:
        def make() -> tuple[UnitIndex, AttrTable]:
            kinds = ("county", "town", "village") if detail else ("county", "town")
            rows = fetch_rows(
                ctx.engine,
                select(Area.level, Area.area_code, Area.name, Area.geom).where(
                    Area.level.in_(kinds), Area.geom.is_not(None)
                ),
            )
            items = [(k, c, n, g) for k, c, n, g in rows]
            # Seats but no polygons: approximate villages and towns (grids below).
            approx = approximate_areas(ctx)
            if approx:
                names = dict(fetch_rows(ctx.engine, select(Area.area_code, Area.name)))
                have = {(k, c) for k, c, _, _ in items}
                for kind in ("town", "village") if detail else ("town",):
                    items += [
                        (kind, c, names.get(c), g)
                        for c, g in approx.get(kind, {}).items()
                        if (kind, c) not in have
                    ]
            if detail:
                names = dict(fetch_rows(ctx.engine, select(Grid.grid_id, Grid.name)))
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
                # The map says when outlines are derived from village seats.
                Column.of(
                    "approximate", "bool", [bool(approx) and i[0] != "county" for i in items]
                ),
            ]
            return index, AttrTable(np.arange(len(items), dtype=np.int64), columns)

        made: tuple[UnitIndex, AttrTable] = ctx.cached("boundaries", detail, make=make)
        return made

    def batch(self, ctx: TileContext) -> FeatureBatch:
        index, table = self._data(ctx, ctx.z >= DETAIL_BOUNDARY_ZOOM)
        return table.batch(index, ctx.z, ctx.x, ctx.y)

    def postgis_tile(self, ctx: TileContext) -> bytes:
        if approximate_areas(ctx):
            # Derived outlines live in the process (geo.approx_polygons), not in PostGIS:
            # encode them as SQLite does. Rare (a county without polygons) and cached.
            return encode_layer(ctx.spec.name, self.batch(ctx), ctx.z, ctx.x, ctx.y)
        detail = ctx.z >= DETAIL_BOUNDARY_ZOOM
        kinds = ("county", "town", "village") if detail else ("county", "town")
        ctes = [
            f"""
areas_in AS (
  SELECT a.level AS kind, a.area_code AS code, a.name, false AS approximate, a.geom
    FROM areas a, env
   WHERE a.level IN ({", ".join(f"'{k}'" for k in kinds)})
     AND a.geom IS NOT NULL AND a.geom && env.ll
)"""
        ]
        if detail:
            ctes.append(GRID_GEOM_CTE)
            ctes.append(
                """
src AS (
  SELECT kind, code, name, approximate, geom FROM areas_in
  UNION ALL
  SELECT 'grid', gg.unit_id, g.name, false, gg.geom
    FROM grid_geom gg LEFT JOIN grids g ON g.grid_id = gg.unit_id
)"""
            )
        else:
            ctes.append("src AS (SELECT kind, code, name, approximate, geom FROM areas_in)")
        return postgis_mvt(ctx, ctes, self.ATTRS, {}, order_by=("kind", "code"))
