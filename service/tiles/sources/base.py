"""What every tile source shares: the request, unit indexes, attribute tables, H3 cells.

A source reads the store once per data version into a :class:`UnitIndex` (geometries in
EPSG:3857 with an STR-tree) and an :class:`AttrTable` (attributes as columns) and cuts the
tile's features out of them (SQLite), or hands the same candidates to one ``ST_AsMVT``
statement (PostGIS, :mod:`service.tiles.sources.postgis`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import h3
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine

from geo.rules import DEFAULT_RULES, RulesConfig
from service.tiles.cache import DATA
from service.tiles.layers import LayerSpec
from service.tiles.mvt import Column, FeatureBatch, encode_layer, to_mercator
from service.tiles.tilemath import BUFFER, EXTENT, tile_bounds_lnglat, tile_bounds_mercator
from service.tiles.towns import in_town

#: Candidate search margin in tile pixels: the buffer plus one pixel, because a vertex up to
#: half a pixel past the buffer snaps onto its edge and stays in the tile. Both backends
#: select candidates with it; clipping then decides exactly.
CANDIDATE_PAD = BUFFER + 1


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
    #: The domain rules the caller runs with (the service's ``settings.rules``). Tiles read
    #: only ``timezone`` from it: the local days of the ``mobility`` window.
    rules: RulesConfig = DEFAULT_RULES

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


def h3_res(level: str) -> int:
    return int(level.split(":", 1)[1])


def float_values(series: pd.Series) -> np.ndarray:
    """Floats with NaN for NULL (what ``Column`` treats as absent)."""
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def str_values(series: pd.Series) -> np.ndarray:
    """Strings as an object array with None for NULL."""
    return series.astype(object).where(series.notna(), None).to_numpy(dtype=object)


def value_column(name: str, kind: Any, values: np.ndarray, present: np.ndarray) -> Column:
    """A column whose absent float slots hold 0.0, not NaN (NaN is never a table value)."""
    if kind == "float":
        values = np.where(present, values, 0.0)
    return Column(name, kind, values, present)


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


EMPTY = FeatureBatch(np.empty(0, dtype=object))
