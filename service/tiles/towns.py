"""Which township each tile unit lies in: tiles cut to one town (``chronic_center``).

A chronic-disease centre's account carries its township's code; its tiles of the
indicator and hotspot layers hold only that township's units (``town=`` of
:func:`service.tiles.tile`). The units' townships, by level:

* **town**: the unit itself;
* **village**: its ``parent_code``, else the township of its 12-digit code;
* **grid**: ``grids.town_code``, else the township of its first village code — the same
  rules as ``service.scope.unit_town``, which the API's scoping uses (a test checks that
  both agree);
* **H3 cell** (any resolution): the township whose polygon holds the cell's centre; a cell
  whose centre lies in no township polygon (along the county's edge) goes to the nearest
  one, so every cell belongs to exactly one township.

Everything here is cached per data version (``TileContext.cached``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import h3
import numpy as np
import shapely
from sqlalchemy import Engine, select

from geo.vocabulary import town_of_code
from service.tiles.cache import DATA, data_version
from store.models import Area, Grid


class CachedStore(Protocol):
    """What these helpers need of a context: the store and a per-version cache.

    ``service.tiles.sources.TileContext`` is one; :class:`StoreCache` is one for
    callers outside a tile (the API's township scope of H3 cells).
    """

    @property
    def engine(self) -> Engine: ...

    def cached(self, name: str, *args: Any, make: Any) -> Any: ...


@dataclass(frozen=True)
class StoreCache:
    """A store and its data version: the same caches the tiles use, outside a tile."""

    engine: Engine
    version: tuple[str, ...]

    def cached(self, name: str, *args: Any, make: Any) -> Any:
        """``make()`` once per data version (and arguments) for this store."""
        return DATA.get_or_make((self.version, name, *args), make)


#: Levels whose units are assigned to townships from the store's codes.
CODED_LEVELS = ("town", "village", "grid")


@dataclass
class TownPolygons:
    """The township polygons (lng/lat) with an STR-tree, to place points in townships."""

    codes: np.ndarray
    polygons: np.ndarray
    tree: shapely.STRtree

    def of_points(self, lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """The township code of each point (object array; None when there is no township).

        Containment first (a point on a shared border goes to the first township in code
        order), then the nearest township for points in none.
        """
        out = np.full(len(lng), None, dtype=object)
        if not len(self.codes) or not len(lng):
            return out
        points = shapely.points(np.column_stack([lng, lat]))
        placed = np.zeros(len(lng), dtype=bool)
        for code, polygon in zip(self.codes, self.polygons, strict=True):
            inside = ~placed & shapely.contains_xy(polygon, lng, lat)
            out[inside] = code
            placed |= inside
        if not placed.all():
            rest = np.flatnonzero(~placed)
            _, nearest = self.tree.query_nearest(points[rest], all_matches=False)
            out[rest] = self.codes[nearest]
        return out


def town_polygons(ctx: CachedStore) -> TownPolygons:
    """The store's township polygons (cached per data version)."""

    def make() -> TownPolygons:
        with ctx.engine.connect() as conn:
            rows = conn.execute(
                select(Area.area_code, Area.geom)
                .where(Area.level == "town", Area.geom.is_not(None))
                .order_by(Area.area_code)
            ).all()
        polygons = np.array([g for _, g in rows], dtype=object)
        shapely.prepare(polygons)
        return TownPolygons(
            np.array([c for c, _ in rows], dtype=object), polygons, shapely.STRtree(polygons)
        )

    made: TownPolygons = ctx.cached("town_polygons", make=make)
    return made


def unit_towns(ctx: CachedStore, level: str) -> dict[str, str | None]:
    """Township of every unit of a coded level (``town``, ``village``, ``grid``), cached."""
    if level not in CODED_LEVELS:
        raise ValueError(f"level {level!r} has no township codes; use cell_towns")

    def make() -> dict[str, str | None]:
        with ctx.engine.connect() as conn:
            if level == "grid":
                grids = conn.execute(select(Grid.grid_id, Grid.town_code, Grid.village_codes))
                return {
                    g: town or town_of_code((villages or "").split(";")[0].strip())
                    for g, town, villages in grids
                }
            rows = conn.execute(
                select(Area.area_code, Area.parent_code).where(Area.level == level)
            ).all()
        if level == "town":
            return {code: code for code, _ in rows}
        return {code: parent or town_of_code(code) for code, parent in rows}

    towns: dict[str, str | None] = ctx.cached("unit_towns", level, make=make)
    return towns


def cell_towns(ctx: CachedStore, cells: Sequence[str]) -> np.ndarray:
    """Township of each H3 cell, by its centre (object array aligned with ``cells``)."""
    if not len(cells):
        return np.empty(0, dtype=object)
    latlng = np.array([h3.cell_to_latlng(c) for c in cells], dtype=float)
    return town_polygons(ctx).of_points(latlng[:, 1], latlng[:, 0])


def in_town(ctx: CachedStore, level: str, ids: Sequence[Any], town: str) -> np.ndarray:
    """Boolean mask: which of ``ids`` (units of ``level``) lie in township ``town``."""
    if level.startswith("h3:"):
        return np.asarray(cell_towns(ctx, list(ids)) == town, dtype=bool)
    towns = unit_towns(ctx, level)
    return np.array([towns.get(u) == town for u in ids], dtype=bool)


def cells_in_town(engine: Engine, cells: Sequence[str], town: str) -> list[str]:
    """The H3 cells of ``cells`` that lie in township ``town`` (by their centres).

    The rule of the tiles (:func:`cell_towns`), for the API: a chronic-disease centre's
    early-warning cells are the ones its map tiles show.
    """
    if not len(cells):
        return []
    ctx = StoreCache(engine, data_version(engine))
    mask = in_town(ctx, "h3:", list(cells), town)
    return [c for c, keep in zip(cells, mask.tolist(), strict=True) if keep]
