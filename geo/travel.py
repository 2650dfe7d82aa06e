"""Travel distances and times between points (RULES.md, "Coverage and access").

Travel runs over the road network when the county supplies ``roads``; otherwise it is the
straight-line (great-circle) distance times a detour factor (default 1.3), at a fixed speed
per mode (walk 4.5, e-bike 15, drive 30 km/h; :class:`geo.rules.CoverageConfig`).

Both models answer the same question through :class:`TravelModel`: a distance matrix in
metres and a time matrix in seconds from ``n`` origins to ``m`` destinations. Points are
always ``(lat, lng)`` pairs in WGS-84 degrees, as arrays of shape ``(n, 2)``; geometries
built from them (shapely, GeoJSON) use ``(lng, lat)`` order, as GeoJSON requires.

Everything here is pure computation: the road graph is built from shapely lines handed in
by the caller (the store reads ``roads.geojson``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree
from shapely.geometry import LineString, MultiLineString, shape

from geo.coverage_config import DEFAULT_ROAD_SPEEDS_KMH
from geo.rules import DEFAULT_RULES, CoverageConfig

Mode = Literal["walk", "ebike", "drive"]
FloatArray = npt.NDArray[np.float64]

#: Mean Earth radius (IUGG), metres. With it one degree of latitude is 111.195 km.
EARTH_RADIUS_M = 6_371_008.8

#: Road speeds by ``highway`` class: one table, the coverage settings' default.
DEFAULT_HIGHWAY_SPEEDS_KMH: Mapping[str, float] = DEFAULT_ROAD_SPEEDS_KMH

#: Coordinates are rounded to this many decimals (about 1 cm) to decide that two line
#: vertices are the same road junction.
_NODE_DECIMALS = 7


# --------------------------------------------------------------------------------------
# Great-circle distances
# --------------------------------------------------------------------------------------
def haversine_m(
    lat1: npt.ArrayLike, lng1: npt.ArrayLike, lat2: npt.ArrayLike, lng2: npt.ArrayLike
) -> FloatArray:
    """Great-circle distance in metres (haversine formula, spherical Earth).

    Parameters
    ----------
    lat1, lng1 : array_like
        First point(s), degrees.
    lat2, lng2 : array_like
        Second point(s), degrees. All four broadcast together (numpy rules), so
        ``haversine_m(a[:, None, 0], a[:, None, 1], b[None, :, 0], b[None, :, 1])`` is a
        distance matrix.

    Returns
    -------
    ndarray of float64
        Distances in metres, in the broadcast shape (a 0-d array for scalar input).
    """
    p1, l1, p2, l2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lat1, lng1, lat2, lng2))
    h = np.sin((p2 - p1) / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2.0) ** 2
    # Rounding can push h a hair above 1 for antipodal points; arcsin would return NaN.
    return np.asarray(2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def as_points(points: npt.ArrayLike) -> FloatArray:
    """Points as a float array of shape ``(n, 2)`` of ``(lat, lng)``; one pair becomes ``(1, 2)``.

    Raises
    ------
    ValueError
        When the input is not ``(n, 2)`` or holds non-finite coordinates.
    """
    arr = np.atleast_2d(np.asarray(points, dtype=np.float64))
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2) of (lat, lng), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("points hold NaN or infinite coordinates")
    return arr


def straight_line_matrix(points_a: npt.ArrayLike, points_b: npt.ArrayLike) -> FloatArray:
    """Great-circle distances (metres) from each point of ``points_a`` to each of ``points_b``.

    Parameters
    ----------
    points_a : array_like, shape (n, 2)
        ``(lat, lng)`` degrees.
    points_b : array_like, shape (m, 2)
        ``(lat, lng)`` degrees.

    Returns
    -------
    ndarray, shape (n, m)
    """
    a, b = as_points(points_a), as_points(points_b)
    return haversine_m(a[:, None, 0], a[:, None, 1], b[None, :, 0], b[None, :, 1])


def _speed_ms(mode: str, config: CoverageConfig) -> float:
    try:
        kmh = float(config.speeds_kmh[mode])
    except KeyError:
        known = sorted(config.speeds_kmh)
        raise ValueError(f"unknown travel mode {mode!r}; known: {known}") from None
    if not kmh > 0:
        raise ValueError(f"speed of mode {mode!r} must be positive, got {kmh}")
    return kmh / 3.6


# --------------------------------------------------------------------------------------
# The model interface
# --------------------------------------------------------------------------------------
@runtime_checkable
class TravelModel(Protocol):
    """Anything that gives travel distances and times between points."""

    def matrix(
        self, origins: npt.ArrayLike, destinations: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Distances and times from each origin to each destination.

        Parameters
        ----------
        origins : array_like, shape (n, 2)
            ``(lat, lng)`` degrees.
        destinations : array_like, shape (m, 2)
            ``(lat, lng)`` degrees.

        Returns
        -------
        metres : ndarray, shape (n, m)
        seconds : ndarray, shape (n, m)
        """
        ...


@runtime_checkable
class PathModel(TravelModel, Protocol):
    """A travel model that can also draw the path it measured (for route geometry)."""

    def path(self, origin: npt.ArrayLike, destination: npt.ArrayLike) -> FloatArray:
        """The travelled path as ``(lat, lng)`` vertices, shape ``(k, 2)``, ``k >= 2``.

        The first vertex is ``origin`` and the last ``destination``.
        """
        ...


# --------------------------------------------------------------------------------------
# Straight line × detour
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StraightLineModel:
    """Straight-line travel: great-circle distance × detour factor, at the mode's speed.

    Parameters
    ----------
    mode : {"drive", "ebike", "walk"}
        Speed key into ``config.speeds_kmh``.
    config : CoverageConfig
        Detour factor and speeds (defaults: 1.3; walk 4.5, e-bike 15, drive 30 km/h).
    """

    mode: str = "drive"
    config: CoverageConfig = field(default_factory=lambda: DEFAULT_RULES.coverage)

    def __post_init__(self) -> None:
        _speed_ms(self.mode, self.config)  # fail at construction, not at the first matrix

    @property
    def speed_ms(self) -> float:
        """Travel speed in metres per second."""
        return _speed_ms(self.mode, self.config)

    def matrix(
        self, origins: npt.ArrayLike, destinations: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Detoured distances (metres) and times (seconds), each of shape ``(n, m)``."""
        metres = straight_line_matrix(origins, destinations) * self.config.detour_factor
        return metres, metres / self.speed_ms

    def path(self, origin: npt.ArrayLike, destination: npt.ArrayLike) -> FloatArray:
        """The straight segment ``[origin, destination]`` (the detour is not drawn)."""
        return np.vstack([as_points(origin), as_points(destination)])


# --------------------------------------------------------------------------------------
# Road network
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RoadNetworkModel:
    """Travel over a road graph, with straight-line access legs to and from the roads.

    A trip from ``a`` to ``b`` is: ``a`` to its nearest road node by the straight-line
    model of the same mode, the fastest path over the roads (Dijkstra on edge times), then
    the nearest road node of ``b`` to ``b``. Distances are those of the fastest path.

    Two cases use the straight-line model for the whole trip instead: both ends snap to the
    same node (the roads offer nothing between them, and identical points must be 0 apart),
    and no road path joins the two nodes (separate network components).

    Build it with :meth:`from_geojson_lines` or :meth:`from_feature_collection`.

    Attributes
    ----------
    node_latlng : ndarray, shape (N, 2)
        Road nodes (every line vertex; vertices with equal coordinates are one junction).
    seconds_graph, metres_graph : scipy.sparse.csr_array, shape (N, N)
        Undirected edges: travel time at the mode's effective speed, and length.
    mode : str
    config : CoverageConfig
    """

    node_latlng: FloatArray
    seconds_graph: sparse.csr_array
    metres_graph: sparse.csr_array
    mode: str
    config: CoverageConfig
    _tree: cKDTree
    _lat0: float

    @classmethod
    def from_geojson_lines(
        cls,
        lines: Sequence[LineString],
        speeds_kmh: Sequence[float | None] | None = None,
        config: CoverageConfig = DEFAULT_RULES.coverage,
        *,
        highways: Sequence[str | None] | None = None,
        mode: str = "drive",
        highway_speeds_kmh: Mapping[str, float] = DEFAULT_HIGHWAY_SPEEDS_KMH,
    ) -> RoadNetworkModel:
        """Build the road graph from line geometries in GeoJSON ``(lng, lat)`` order.

        Every vertex is a node and consecutive vertices are joined by an edge, so roads
        meet where they share a vertex (as in OpenStreetMap); lines that merely cross are
        not connected. Roads are two-way.

        Parameters
        ----------
        lines : sequence of LineString
            Road centre lines, ``(lng, lat)`` degrees.
        speeds_kmh : sequence of float or None, optional
            The ``speed_kmh`` property per line; None, NaN or non-positive means unknown.
        config : CoverageConfig
            Detour factor (access legs) and the mode speeds.
        highways : sequence of str or None, optional
            The ``highway`` class per line, for the default speed of lines without one.
        mode : {"drive", "ebike", "walk"}
            Walkers and e-bikes move at ``min(road speed, mode speed)``; cars at the road
            speed. A line with neither speed nor known class gets the mode's speed.
        highway_speeds_kmh : mapping
            Default speed per ``highway`` class.

        Returns
        -------
        RoadNetworkModel

        Raises
        ------
        ValueError
            Mismatched lengths, or no usable road segment.
        """
        n = len(lines)
        speeds = list(speeds_kmh) if speeds_kmh is not None else [None] * n
        classes = list(highways) if highways is not None else [None] * n
        if len(speeds) != n or len(classes) != n:
            raise ValueError("lines, speeds_kmh and highways must have the same length")
        mode_ms = _speed_ms(mode, config)

        coords: list[FloatArray] = []
        line_speed: list[float] = []
        for line, kmh, hw in zip(lines, speeds, classes, strict=True):
            xy = np.asarray(line.coords, dtype=np.float64)
            if len(xy) < 2:
                continue
            coords.append(xy[:, :2])
            line_speed.append(_line_speed_ms(kmh, hw, mode, mode_ms, highway_speeds_kmh))
        if not coords:
            raise ValueError("no road line has two or more vertices")

        # Nodes: unique rounded (lng, lat) over all vertices; segment ends index into them.
        all_xy = np.vstack(coords)
        keys = np.round(all_xy, _NODE_DECIMALS)
        _, first_seen, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        starts = np.cumsum([0] + [len(c) for c in coords])
        u_parts, v_parts, s_parts = [], [], []
        for k, c in enumerate(coords):
            idx = inverse[starts[k] : starts[k] + len(c)]
            u_parts.append(idx[:-1])
            v_parts.append(idx[1:])
            s_parts.append(np.full(len(c) - 1, line_speed[k]))
        u, v, speed = np.concatenate(u_parts), np.concatenate(v_parts), np.concatenate(s_parts)
        # A node sits at its first vertex's exact coordinates (not the rounded key), so a
        # point placed on a vertex snaps to it at distance 0.
        node_latlng = all_xy[first_seen][:, ::-1].copy()
        lat, lng = node_latlng[:, 0], node_latlng[:, 1]
        length = haversine_m(lat[u], lng[u], lat[v], lng[v])
        keep = u != v  # repeated vertices would be self-loops
        u, v, speed, length = u[keep], v[keep], speed[keep], length[keep]
        if len(u) == 0:
            raise ValueError("no road segment of positive length")
        # csgraph drops explicit zeros (it reads them as "no edge"), so keep every edge > 0.
        seconds = np.maximum(length / speed, 1e-9)
        length = np.maximum(length, 1e-9)

        # Two-way roads: one edge per unordered pair, the fastest of any parallel segments
        # (building a sparse matrix from duplicates would add their weights instead).
        a, b = np.minimum(u, v), np.maximum(u, v)
        order = np.lexsort((seconds, b, a))
        a, b, seconds, length = a[order], b[order], seconds[order], length[order]
        first = np.ones(len(a), dtype=bool)
        first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
        a, b, seconds, length = a[first], b[first], seconds[first], length[first]
        size = len(node_latlng)
        rows, cols = np.concatenate([a, b]), np.concatenate([b, a])
        sec_g = sparse.csr_array((np.tile(seconds, 2), (rows, cols)), shape=(size, size))
        len_g = sparse.csr_array((np.tile(length, 2), (rows, cols)), shape=(size, size))

        lat0 = float(np.mean(node_latlng[:, 0]))
        tree = cKDTree(_project(node_latlng, lat0))
        return cls(node_latlng, sec_g, len_g, mode, config, tree, lat0)

    @classmethod
    def from_feature_collection(
        cls,
        collection: Mapping[str, Any],
        config: CoverageConfig = DEFAULT_RULES.coverage,
        *,
        mode: str = "drive",
        highway_speeds_kmh: Mapping[str, float] = DEFAULT_HIGHWAY_SPEEDS_KMH,
    ) -> RoadNetworkModel:
        """Build from a parsed ``roads.geojson`` (LineString / MultiLineString features).

        The optional ``speed_kmh`` and ``highway`` properties are read per feature; other
        geometry types are ignored. See :meth:`from_geojson_lines` for the rest.
        """
        lines: list[LineString] = []
        speeds: list[float | None] = []
        classes: list[str | None] = []
        for feature in collection.get("features", []):
            if not feature.get("geometry"):
                continue
            geom = shape(feature["geometry"])
            props = feature.get("properties") or {}
            parts = list(geom.geoms) if isinstance(geom, MultiLineString) else [geom]
            for part in parts:
                if isinstance(part, LineString):
                    lines.append(part)
                    speeds.append(props.get("speed_kmh"))
                    classes.append(props.get("highway"))
        return cls.from_geojson_lines(
            lines,
            speeds,
            config,
            highways=classes,
            mode=mode,
            highway_speeds_kmh=highway_speeds_kmh,
        )

    # -- queries ---------------------------------------------------------------------
    @property
    def access_model(self) -> StraightLineModel:
        """The straight-line model used for access legs and fallbacks."""
        return StraightLineModel(self.mode, self.config)

    def snap(self, points: npt.ArrayLike) -> tuple[npt.NDArray[np.intp], FloatArray]:
        """Nearest road node of each point and the access distance (detoured metres)."""
        pts = as_points(points)
        if len(pts) == 0:
            return np.zeros(0, dtype=np.intp), np.zeros(0)
        _, idx = self._tree.query(_project(pts, self._lat0))
        idx = np.asarray(idx, dtype=np.intp)
        nodes = self.node_latlng[idx]
        access = haversine_m(pts[:, 0], pts[:, 1], nodes[:, 0], nodes[:, 1])
        return idx, access * self.config.detour_factor

    def matrix(
        self, origins: npt.ArrayLike, destinations: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Distances (metres) and times (seconds) of the fastest trips, each ``(n, m)``."""
        o, d = as_points(origins), as_points(destinations)
        speed = _speed_ms(self.mode, self.config)
        o_node, o_access = self.snap(o)
        d_node, d_access = self.snap(d)
        if len(o) == 0 or len(d) == 0:
            return np.zeros((len(o), len(d))), np.zeros((len(o), len(d)))

        sources, row_of = np.unique(o_node, return_inverse=True)
        net_s, pred = csgraph.dijkstra(
            self.seconds_graph, directed=False, indices=sources, return_predecessors=True
        )
        net_m = np.where(np.isfinite(net_s), self._tree_lengths(pred), np.inf)
        road_s = net_s[row_of.ravel()][:, d_node]
        road_m = net_m[row_of.ravel()][:, d_node]
        seconds = o_access[:, None] / speed + road_s + d_access[None, :] / speed
        metres = o_access[:, None] + road_m + d_access[None, :]

        direct = (o_node[:, None] == d_node[None, :]) | ~np.isfinite(road_s)
        if direct.any():
            sl_m, sl_s = self.access_model.matrix(o, d)
            metres = np.where(direct, sl_m, metres)
            seconds = np.where(direct, sl_s, seconds)
        return metres, seconds

    def path(self, origin: npt.ArrayLike, destination: npt.ArrayLike) -> FloatArray:
        """``(lat, lng)`` vertices of the trip: origin, the road nodes of the path, destination."""
        o, d = as_points(origin)[:1], as_points(destination)[:1]
        (o_node,), _ = self.snap(o)
        (d_node,), _ = self.snap(d)
        if o_node == d_node:
            return np.vstack([o, d])
        _, pred = csgraph.dijkstra(
            self.seconds_graph, directed=False, indices=int(o_node), return_predecessors=True
        )
        if pred[d_node] < 0:  # unreachable: the matrix used the straight line too
            return np.vstack([o, d])
        nodes = [int(d_node)]
        while nodes[-1] != o_node:
            nodes.append(int(pred[nodes[-1]]))
        return np.vstack([o, self.node_latlng[nodes[::-1]], d])

    def _tree_lengths(self, pred: npt.NDArray[np.int32]) -> FloatArray:
        """Road metres from each source to every node along its shortest-time tree.

        Dijkstra optimised time, so the metres of *that* path are summed up the
        predecessor tree by pointer jumping (log-depth numpy steps instead of a Python
        walk per node). Values at unreachable nodes are meaningless; callers mask them
        with the (infinite) Dijkstra times.
        """
        pred = np.atleast_2d(pred)
        cols = np.broadcast_to(np.arange(pred.shape[1]), pred.shape)
        has_pred = pred >= 0
        step = np.zeros(pred.shape)
        step[has_pred] = np.asarray(
            self.metres_graph[pred[has_pred], cols[has_pred]], dtype=np.float64
        ).ravel()
        # Roots (the source, unreachable nodes) point at themselves with 0 to add, so
        # once every pointer reaches its root further jumps change nothing.
        ptr = np.where(has_pred, pred, cols)
        rows = np.arange(pred.shape[0])[:, None]
        while True:
            step = step + step[rows, ptr]
            nxt = ptr[rows, ptr]
            if np.array_equal(nxt, ptr):
                return step
            ptr = nxt


def _line_speed_ms(
    kmh: float | None,
    highway: str | None,
    mode: str,
    mode_ms: float,
    highway_speeds_kmh: Mapping[str, float],
) -> float:
    """Effective speed (m/s) on one line for one mode."""
    road_ms: float | None = None
    if kmh is not None and np.isfinite(float(kmh)) and float(kmh) > 0:
        road_ms = float(kmh) / 3.6
    elif highway is not None and highway in highway_speeds_kmh:
        road_ms = float(highway_speeds_kmh[highway]) / 3.6
    if road_ms is None:
        return mode_ms
    # A walker does not go faster on a trunk road; a car does (its mode speed is only the
    # straight-line fallback's average).
    return road_ms if mode == "drive" else min(road_ms, mode_ms)


def _project(latlng: FloatArray, lat0: float) -> FloatArray:
    """Local equirectangular metres, good enough to find the nearest node within a county."""
    lat = np.radians(latlng[:, 0])
    lng = np.radians(latlng[:, 1])
    return np.column_stack([EARTH_RADIUS_M * lng * np.cos(np.radians(lat0)), EARTH_RADIUS_M * lat])
