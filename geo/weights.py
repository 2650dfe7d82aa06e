"""Spatial weights for hotspot analysis: H3 ring-1 contiguity and polygon queen contiguity.

Both builders return binary :class:`libpysal.weights.W` objects keyed by the caller's unit
ids, with islands (units with no neighbour among the given units) allowed. The hotspot
method (``shared/RULES.md``, "Hotspots") asks for *binary* ring-1 / queen contiguity; the
Gi* self-weight is added later by ``esda`` (``star=True``), so no builder here puts a unit
among its own neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas
import h3
from libpysal.weights import Queen, W


def h3_weights(cells: Sequence[str]) -> W:
    """Binary ring-1 contiguity among the given H3 cells.

    Two cells are neighbours when one is in the other's ring-1 (``h3.grid_disk(c, 1)``
    minus the cell itself) and both are among ``cells``. Neighbours outside ``cells`` are
    ignored, so a cell whose ring-1 holds none of the other cells is an island (an empty
    neighbour list); islands are allowed and libpysal's island warning is silenced.

    Parameters
    ----------
    cells : sequence of str
        Distinct H3 cell ids, all of one resolution. Upper-case hex is accepted; the
        returned weights are keyed by the ids exactly as given.

    Returns
    -------
    libpysal.weights.W
        Binary weights with ``id_order`` equal to ``cells`` (in the given order).

    Raises
    ------
    ValueError
        If a cell id is invalid or duplicated, or the cells mix resolutions.
    """
    ids = [str(c) for c in cells]
    # h3-py v4 returns lower-case ids; key the lookup on lower case so that neighbours of an
    # upper-case input id are still found, while the W keeps the caller's spelling.
    canonical = [c.lower() for c in ids]
    invalid = [c for c, k in zip(ids, canonical, strict=True) if not h3.is_valid_cell(k)]
    if invalid:
        raise ValueError(f"invalid H3 cell ids: {invalid[:5]}")
    by_canonical = dict(zip(canonical, ids, strict=True))
    if len(by_canonical) != len(ids):
        raise ValueError("duplicate H3 cell ids")
    resolutions = {h3.get_resolution(k) for k in canonical}
    if len(resolutions) > 1:
        # Ring-1 adjacency is only defined between cells of one resolution.
        raise ValueError(f"H3 cells mix resolutions {sorted(resolutions)}")

    neighbours: dict[str, list[str]] = {}
    for cid, key in zip(ids, canonical, strict=True):
        # grid_disk rather than grid_ring: grid_disk is defined everywhere, including
        # around the 12 pentagons where the ring algorithm can fail.
        ring = (n for n in h3.grid_disk(key, 1) if n != key)
        neighbours[cid] = sorted(by_canonical[n] for n in ring if n in by_canonical)
    return W(neighbours, id_order=ids, silence_warnings=True)


def polygon_weights(gdf: geopandas.GeoDataFrame, id_col: str) -> W:
    """Binary queen contiguity among polygons (grids, villages, towns).

    Polygons sharing at least one boundary vertex are neighbours
    (:meth:`libpysal.weights.Queen.from_dataframe`); polygons touching no other polygon
    are islands.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        One (multi)polygon per unit, in the active geometry column.
    id_col : str
        Column holding the unit ids; they key the returned weights.

    Returns
    -------
    libpysal.weights.W
        Binary weights with ``id_order`` equal to ``gdf[id_col]`` (in row order).

    Raises
    ------
    ValueError
        If ``id_col`` is missing, or ids are missing or duplicated, or a geometry is missing.
    """
    if id_col not in gdf.columns:
        raise ValueError(f"column {id_col!r} not in the frame")
    ids = gdf[id_col]
    if ids.isna().any():
        raise ValueError(f"missing ids in {id_col!r}")
    if ids.duplicated().any():
        raise ValueError(f"duplicate ids in {id_col!r}: {ids[ids.duplicated()].tolist()[:5]}")
    geoms = gdf.geometry
    if geoms.isna().any() or geoms.is_empty.any():
        raise ValueError("missing or empty geometries")
    id_list = ids.tolist()
    w = Queen.from_dataframe(gdf, ids=id_list, silence_warnings=True)
    # from_dataframe documents that the order of ``ids`` is not guaranteed to be kept;
    # pin it so that callers can align values with the rows of ``gdf``.
    w.id_order = id_list
    return w
