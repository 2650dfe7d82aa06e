"""Placement: where every household, facility and case is, in WGS84, H3 and the grids.

- Coordinates arrive in WGS84/CGCS2000, GCJ-02 or BD-09 and are converted by
  :mod:`geo.coordinates` (vectorised) during validation.
- A household without coordinates is placed at its village's seat (``lat``/``lng`` of the
  village row in ``areas``, else its polygon's representative point), with
  ``loc_precision = 'village'``; delivered coordinates give ``'exact'``.
- Outside the county: a point farther than ``outside_county_km`` (default 5 km) from the
  county polygon; without a county polygon, from the union of the town (else village)
  polygons; without any polygon, from the convex hull of the village and town seats.
  Distances are measured in a transverse Mercator projection centred on the county.
- H3 cells (h3 v4, lowercase hex) at resolutions 7–10: one ``latlng_to_cell`` per
  distinct point at the finest resolution, then ``cell_to_parent``.
- Grid of a household: the grid whose villages (``grid_villages``) include its village;
  when its village is in no grid, the grid polygon containing the household point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

_NONE = np.array(None, dtype=object)


def take(values: np.ndarray, idx: np.ndarray, fill: object = None) -> np.ndarray:
    """``values[idx]`` as objects, ``fill`` where ``idx`` is -1 (not found)."""
    out = np.full(len(idx), fill, dtype=object)
    ok = idx >= 0
    if ok.any():
        out[ok] = values[idx[ok]]
    return out


@dataclass
class GeoContext:
    """Everything placement needs, read from the store (areas, grids, grid_villages)."""

    areas: pd.DataFrame  # index area_code; columns level, parent_code, lat, lng
    region: BaseGeometry | None = None  # county polygon (or fallback), WGS84
    region_kind: str = "none"
    outside_km: float = 5.0
    village_grid: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))
    grid_ids: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    grid_geoms: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    _buffer: BaseGeometry | None = None
    _to_m: Transformer | None = None
    _tree: shapely.STRtree | None = None

    def __post_init__(self) -> None:
        if self.region is not None and not self.region.is_empty:
            c = self.region.centroid
            self._to_m = Transformer.from_crs(
                "EPSG:4326",
                f"+proj=tmerc +lat_0={c.y:.6f} +lon_0={c.x:.6f} +k=1 +x_0=0 +y_0=0 "
                "+ellps=WGS84 +units=m +no_defs",
                always_xy=True,
            )
            metric = shapely.transform(self.region, self._project)
            self._buffer = shapely.buffer(metric, self.outside_km * 1000.0, quad_segs=16)
            shapely.prepare(self._buffer)
        if len(self.grid_geoms):
            self._tree = shapely.STRtree(self.grid_geoms)

    def _project(self, xy: np.ndarray) -> np.ndarray:
        assert self._to_m is not None
        x, y = self._to_m.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    # -- checks -----------------------------------------------------------------------
    def outside(self, lng: np.ndarray, lat: np.ndarray) -> np.ndarray | None:
        """True where a point is farther than ``outside_km`` from the county; None if unknown."""
        if self._buffer is None or self._to_m is None:
            return None
        x, y = self._to_m.transform(np.asarray(lng, float), np.asarray(lat, float))
        inside = shapely.contains_xy(self._buffer, x, y)
        return ~np.asarray(inside, dtype=bool)

    # -- lookups ----------------------------------------------------------------------
    def town_of(self, area_codes: pd.Series) -> pd.Series:
        """Town of an area: itself for a town, the parent for a village, None otherwise."""
        a = self.areas
        codes = area_codes.astype(object)
        idx = a.index.get_indexer(pd.Index(codes.where(codes.notna(), ""), dtype=object))
        level = take(a["level"].to_numpy(dtype=object), idx)
        parent = take(a["parent_code"].to_numpy(dtype=object), idx)
        out = np.where(
            level == "town",
            codes.to_numpy(dtype=object),
            np.where(level == "village", parent, _NONE),
        )
        return pd.Series(out, index=area_codes.index, dtype=object)

    def seat_of(self, area_codes: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Seat (lat, lng) of areas (NaN when unknown)."""
        a = self.areas
        codes = area_codes.astype(object)
        idx = a.index.get_indexer(pd.Index(codes.where(codes.notna(), ""), dtype=object))
        lat = take(a["lat"].to_numpy(dtype=float), idx, np.nan).astype(float)
        lng = take(a["lng"].to_numpy(dtype=float), idx, np.nan).astype(float)
        return lat, lng

    def level_of(self, area_codes: pd.Series) -> np.ndarray:
        """Level (``village``, ``town``, ...) of areas (missing when unknown)."""
        a = self.areas
        codes = area_codes.astype(object)
        idx = a.index.get_indexer(pd.Index(codes.where(codes.notna(), ""), dtype=object))
        return take(a["level"].to_numpy(dtype=object), idx)

    def grid_of(
        self,
        area_codes: pd.Series,
        lng: np.ndarray | None = None,
        lat: np.ndarray | None = None,
        exact: np.ndarray | None = None,
    ) -> pd.Series:
        """Grid of each household: by village membership, else by grid polygon."""
        vg = self.village_grid
        out = np.full(len(area_codes), None, dtype=object)
        if len(vg):
            codes = area_codes.astype(object)
            idx = vg.index.get_indexer(pd.Index(codes.where(codes.notna(), ""), dtype=object))
            out = take(vg.to_numpy(dtype=object), idx)
        if self._tree is not None and lng is not None and lat is not None:
            need = pd.isna(out) & ~np.isnan(lng) & ~np.isnan(lat)
            if exact is not None:
                need &= exact
            if need.any():
                pos = np.flatnonzero(need)
                pts = shapely.points(lng[pos], lat[pos])
                pairs = self._tree.query(pts, predicate="within")
                if pairs.shape[1]:
                    first = pd.Series(pairs[1], index=pairs[0]).groupby(level=0).min()
                    out[pos[first.index.to_numpy()]] = self.grid_ids[first.to_numpy()]
        return pd.Series(out, index=area_codes.index, dtype=object)


def build_region(areas: pd.DataFrame, geoms: pd.Series) -> tuple[BaseGeometry | None, str]:
    """The county's extent: its polygon, else the towns' or villages' union, else a hull."""
    level = areas["level"]
    for lvl, kind in (
        ("county", "county polygon"),
        ("town", "union of town polygons"),
        ("village", "union of village polygons"),
    ):
        sel = geoms[(level == lvl).to_numpy() & geoms.notna().to_numpy()]
        parts = [x for x in sel if x is not None and not x.is_empty]
        if parts:
            return shapely.union_all(np.asarray(parts, dtype=object)), kind
    seats = areas[level.isin(["village", "town"]) & areas["lat"].notna() & areas["lng"].notna()]
    if len(seats) >= 3:
        pts = shapely.multipoints(np.column_stack([seats["lng"], seats["lat"]]))
        hull = shapely.convex_hull(pts)
        return hull, "hull of village seats"
    if len(seats):
        pts = shapely.multipoints(np.column_stack([seats["lng"], seats["lat"]]))
        return shapely.convex_hull(pts), "hull of village seats"
    return None, "none"


def village_seats_from_polygons(areas: pd.DataFrame, geoms: pd.Series) -> pd.DataFrame:
    """Fill missing seats from the polygons' representative points."""
    miss = areas["lat"].isna() & geoms.notna()
    if miss.any():
        pts = shapely.point_on_surface(np.asarray(geoms[miss].to_numpy(), dtype=object))
        areas = areas.copy()
        areas.loc[miss, "lng"] = shapely.get_x(pts)
        areas.loc[miss, "lat"] = shapely.get_y(pts)
    return areas


def grid_villages_from_polygons(
    grid_ids: Sequence[str], polygons: Sequence[BaseGeometry], villages: pd.DataFrame
) -> list[tuple[str, str]]:
    """(grid_id, village code) pairs of village seats inside each grid polygon."""
    v = villages[villages["lat"].notna() & villages["lng"].notna()]
    if not len(v) or not len(polygons):
        return []
    tree = shapely.STRtree(np.asarray(polygons, dtype=object))
    pts = shapely.points(v["lng"].to_numpy(), v["lat"].to_numpy())
    pairs = tree.query(pts, predicate="within")
    codes = v.index.to_numpy(dtype=object)
    return [(str(grid_ids[g]), str(codes[p])) for p, g in zip(pairs[0], pairs[1], strict=True)]


def h3_cells(
    lat: np.ndarray, lng: np.ndarray, resolutions: Sequence[int] = (7, 8, 9, 10)
) -> dict[int, np.ndarray]:
    """H3 cells (lowercase hex) of points at each resolution; None where no point."""
    import h3

    lat = np.asarray(lat, dtype=float)
    lng = np.asarray(lng, dtype=float)
    n = len(lat)
    res = sorted(resolutions)
    out = {r: np.full(n, None, dtype=object) for r in res}
    ok = ~np.isnan(lat) & ~np.isnan(lng)
    if not ok.any():
        return out
    pts = pd.DataFrame({"a": lat[ok], "b": lng[ok]})
    codes, uniq = pd.factorize(pd.MultiIndex.from_frame(pts))
    ulat = uniq.get_level_values(0).to_numpy()
    ulng = uniq.get_level_values(1).to_numpy()
    finest = res[-1]
    fine = np.asarray(
        [
            h3.latlng_to_cell(a, b, finest)
            for a, b in zip(ulat.tolist(), ulng.tolist(), strict=True)
        ],
        dtype=object,
    )
    pos = np.flatnonzero(ok)
    out[finest][pos] = fine[codes]
    cur = fine
    for r in reversed(res[:-1]):
        cc, cu = pd.factorize(cur)
        parents = np.asarray([h3.cell_to_parent(c, r) for c in cu], dtype=object)
        cur = parents[cc]
        out[r][pos] = cur[codes]
    return out


def h3_of_latlng(lat: np.ndarray, lng: np.ndarray, resolution: int) -> np.ndarray:
    """One H3 resolution (see :func:`h3_cells`)."""
    return h3_cells(lat, lng, (resolution,))[resolution]


def point_geoms(lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Shapely points (None where a coordinate is missing)."""
    lng = np.asarray(lng, dtype=float)
    lat = np.asarray(lat, dtype=float)
    out = np.full(len(lng), None, dtype=object)
    ok = ~np.isnan(lng) & ~np.isnan(lat)
    if ok.any():
        out[ok] = shapely.points(lng[ok], lat[ok])
    return out
