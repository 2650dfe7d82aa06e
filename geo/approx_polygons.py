"""Approximate polygons of villages, grids and towns from their village seats.

A county often delivers statistical codes and the seats (村委会驻地) of its villages but no
area polygons. Without polygons the grid, village and town layers would be empty; with
these they show where each unit lies. Each village gets the Voronoi cell of its seat
(``shapely.voronoi_polygons``), clipped to the county outline when one is delivered, else
to the seats' convex hull buffered by half the median distance between neighbouring
seats; a grid is the union of its villages' cells and a town the union of its villages'.
They are approximate: the caller flags them so the map can say so, and delivered polygons
are always preferred.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely

#: Buffer of the seats' hull when no county outline clips the cells, in median spacings.
HULL_BUFFER_SPACINGS = 0.5


def _clip_region(points: Any, outline: Any | None) -> Any:
    if outline is not None and not outline.is_empty:
        return outline
    hull = points.convex_hull
    coords = shapely.get_coordinates(points)
    if len(coords) < 2:
        return hull.buffer(0.01)  # one seat: a small disc (~1 km) around it
    # Half the median nearest-neighbour distance: a seat near the edge keeps a cell about
    # as deep as its neighbours', no more.
    diffs = coords[:, None, :] - coords[None, :, :]
    dist = np.sqrt((diffs**2).sum(axis=-1))
    np.fill_diagonal(dist, np.inf)
    spacing = float(np.median(dist.min(axis=1)))
    return hull.buffer(max(spacing, 1e-4) * HULL_BUFFER_SPACINGS)


def village_cells(
    seats: Mapping[str, tuple[float, float]], outline: Any | None = None
) -> dict[str, Any]:
    """The Voronoi cell of each village seat, clipped to ``outline`` (or the seats' hull).

    Parameters
    ----------
    seats : mapping
        Village code → its seat as ``(lng, lat)``. Villages sharing a seat share its cell.
    outline : shapely geometry, optional
        The county's polygon; None clips to the seats' convex hull, buffered.

    Returns
    -------
    dict
        Village code → polygon (lng/lat); codes without a finite seat are left out.
    """
    items = [
        (code, (float(x), float(y)))
        for code, (x, y) in seats.items()
        if x is not None and y is not None and np.isfinite(x) and np.isfinite(y)
    ]
    if not items:
        return {}
    points = shapely.MultiPoint([p for _, p in items])
    region = _clip_region(points, outline)
    unique = sorted({p for _, p in items})
    if len(unique) == 1:
        cell_of = {unique[0]: region}
    else:
        cells = shapely.voronoi_polygons(shapely.MultiPoint(unique), extend_to=region)
        cell_of = {}
        for cell in shapely.get_parts(cells):
            for p in unique:
                if p not in cell_of and cell.intersects(shapely.Point(p)):
                    cell_of[p] = cell
        # Every seat lies in exactly one cell (on a shared edge: the first found).
    out = {}
    for code, p in items:
        clipped = cell_of[p].intersection(region)
        if not clipped.is_empty:
            out[code] = clipped
    return out


def union_by(cells: Mapping[str, Any], members: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Each group's polygon as the union of its members' cells (a grid's or a town's).

    Parameters
    ----------
    cells : mapping
        Village code → polygon (from :func:`village_cells`).
    members : mapping
        Group id (grid or town code) → its village codes.

    Returns
    -------
    dict
        Group id → polygon; groups none of whose villages has a cell are left out.
    """
    out = {}
    for group, codes in members.items():
        parts = [cells[c] for c in codes if c in cells]
        if parts:
            out[group] = shapely.union_all(parts)
    return out
