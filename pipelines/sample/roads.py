"""The sample county's roads: a county road grid, links between towns, village roads.

Shouguang lies on the flat Laizhou Bay plain, where county roads (县道) run in a near
regular grid a few kilometres apart and every village hangs off the nearest of them by a
short village road. The network written here has four layers, all in the local metre
plane of :class:`~pipelines.sample.geography.LocalProjection`:

* ``tertiary`` county roads: a grid of lines 2.5-4 km apart, slightly turned and
  jittered per seed, clipped to the county;
* ``secondary`` town roads: the Delaunay edges between neighbouring town seats;
* ``residential`` streets: a 1 km grid around the county seat (the urban core);
* ``unclassified`` village roads: from every village seat to the nearest grid road.

Travel over it (``geo.travel.RoadNetworkModel``) joins lines only where they share a
vertex, as in OpenStreetMap, so the lines are noded (:func:`shapely.node`) and every
crossing becomes a junction; a village road is drawn 1 m past the road it meets so that
noding finds the junction. The roads do not depend on the scale: the county's area does
not change with it, only the number of villages (and so of village roads).
"""

from __future__ import annotations

import json

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from shapely.geometry import LineString, MultiPoint

from pipelines.sample import common as sc
from pipelines.sample.geography import Geography

__all__ = ["ROAD_SPEEDS_KMH", "build_roads", "roads_geojson"]

#: Travel speed written as ``speed_kmh`` per class: typical, not posted, speeds.
ROAD_SPEEDS_KMH: dict[str, float] = {
    "secondary": 50.0,
    "tertiary": 40.0,
    "residential": 25.0,
    "unclassified": 25.0,
}
# A road's class wins over a lower one where two overlap after noding.
_RANK = {"secondary": 0, "tertiary": 1, "residential": 2, "unclassified": 3}
#: A road line (local metres), its ``highway`` class and its name.
Road = tuple[LineString, str, str]


def _grid_lines(
    centre: np.ndarray,
    half: float,
    spacing: tuple[float, float],
    angle: float,
    rng: np.random.Generator,
) -> list[LineString]:
    """Two families of parallel lines, ``spacing`` apart (jittered), turned by ``angle``."""
    out: list[LineString] = []
    c, s = np.cos(angle), np.sin(angle)
    for axis in (0, 1):
        offsets = []
        x = -half + rng.uniform(0.0, spacing[1])
        while x < half:
            offsets.append(x)
            x += rng.uniform(*spacing)
        for off in offsets:
            a = (
                np.array([[off, -half], [off, half]])
                if axis == 0
                else np.array([[-half, off], [half, off]])
            )
            rot = np.column_stack([a[:, 0] * c - a[:, 1] * s, a[:, 0] * s + a[:, 1] * c]) + centre
            out.append(LineString(rot))
    return out


def build_roads(geo: Geography, seed: int) -> list[Road]:
    """The county's road lines (local metres) with their ``highway`` class.

    Parameters
    ----------
    geo : Geography
        From :func:`~pipelines.sample.geography.build_geography`.
    seed : int
        Run seed.

    Returns
    -------
    list of (LineString, str, str)
        Noded segments with their class and name: lines meet only at their ends, and every
        crossing is an end.
    """
    rng = sc.stream(seed, sc.K_ROADS)
    county = geo.county
    minx, miny, maxx, maxy = county.bounds
    half = max(maxx - minx, maxy - miny)
    lines: list[Road] = []
    grid = _grid_lines(np.zeros(2), half, (2500.0, 4000.0), rng.uniform(-0.08, 0.08), rng)
    grid = [g for g in shapely.intersection(grid, county) if not g.is_empty]
    grid_parts = [p for g in grid for p in getattr(g, "geoms", [g]) if p.length > 0]
    lines += [(g, "tertiary", f"X{k + 1:03d}") for k, g in enumerate(grid_parts)]
    core = shapely.Point(geo.town_xy[0]).buffer(4500.0).intersection(county)
    streets = _grid_lines(geo.town_xy[0], 5000.0, (900.0, 1200.0), rng.uniform(-0.1, 0.1), rng)
    for g in shapely.intersection(streets, core):
        lines += [(p, "residential", "") for p in getattr(g, "geoms", [g]) if p.length > 0]
    tri = shapely.delaunay_triangles(MultiPoint(geo.town_xy), only_edges=True)
    edges = [e for e in getattr(tri, "geoms", [tri]) if e.length < 22000 and county.contains(e)]
    lines += [(e, "secondary", f"S{k + 1:03d}") for k, e in enumerate(edges)]
    # Village roads to the nearest grid road, 1 m past it so noding finds the junction.
    tree = shapely.STRtree(grid_parts)
    seats = shapely.points(geo.village_xy)
    near = tree.query_nearest(seats, return_distance=False, all_matches=False)[1]
    for v, g in enumerate(near):
        p = geo.village_xy[v]
        q = np.asarray(
            shapely.get_coordinates(grid_parts[g].interpolate(grid_parts[g].project(seats[v])))
        )[0]
        d = float(np.hypot(*(q - p)))
        if d < 1.0:
            continue
        end = q + (q - p) / d * 1.0
        name = str(geo.village_names[v]).removesuffix("村") + "村道"
        lines.append((LineString([p, end]), "unclassified", name))
    return _noded(lines)


def _noded(lines: list[Road]) -> list[Road]:
    """Split every line at every crossing; each piece keeps the best road covering it."""
    geoms = [g for g, _, _ in lines]
    classes = [k for _, k, _ in lines]
    pieces = list(shapely.node(shapely.MultiLineString(geoms)).geoms)
    mids = shapely.line_interpolate_point(pieces, 0.5, normalized=True)
    tree = shapely.STRtree(geoms)
    src, tgt = tree.query(mids, predicate="dwithin", distance=0.05)
    best: dict[int, int] = {}
    for i, j in zip(src.tolist(), tgt.tolist(), strict=True):
        if i not in best or (_RANK[classes[j]], j) < (_RANK[classes[best[i]]], best[i]):
            best[i] = j
    # The 1 m overshoots of the village roads are dropped again once they made a junction.
    out = [
        (pieces[i], classes[j], lines[j][2])
        for i, j in sorted(best.items())
        if not (classes[j] == "unclassified" and pieces[i].length < 1.5)
    ]
    return _largest_component(out)


def _largest_component(roads: list[Road]) -> list[Road]:
    """Only the roads joined to the main network (drops grid stubs cut off by the border)."""
    ends = np.asarray([[g.coords[0], g.coords[-1]] for g, _, _ in roads]).reshape(-1, 2)
    _, node = np.unique(np.round(ends, 3), axis=0, return_inverse=True)
    node = node.reshape(-1, 2)
    n = int(node.max()) + 1
    adj = sparse.coo_array((np.ones(len(roads)), (node[:, 0], node[:, 1])), shape=(n, n))
    _, label = csgraph.connected_components(adj, directed=False)
    main = np.bincount(label).argmax()
    return [r for r, a in zip(roads, label[node[:, 0]] == main, strict=True) if a]


def roads_geojson(geo: Geography, roads: list[Road]) -> bytes:
    """``roads.geojson``: WGS84 LineStrings with road_id, name, highway and speed_kmh.

    Coordinates are rounded to 6 decimals (about 0.1 m), the same at every shared end, so
    junctions stay junctions in the file.
    """
    features = []
    for i, (line, kind, name) in enumerate(roads, start=1):
        wgs = geo.proj.geom_to_wgs(line)
        coords = [[round(x, 6), round(y, 6)] for x, y in np.asarray(wgs.coords)]
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "road_id": i,
                    "name": name,
                    "highway": kind,
                    "speed_kmh": ROAD_SPEEDS_KMH[kind],
                },
                "geometry": {"type": "LineString", "coordinates": coords},
            }
        )
    doc = {"type": "FeatureCollection", "features": features}
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
