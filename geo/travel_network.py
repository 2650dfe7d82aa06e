"""Cell x facility travel times for coverage: straight line x detour, or over the roads.

Builds on :mod:`geo.travel` (the same straight-line and road-graph models routing uses)
but answers the planners' bulk question — minutes from every populated cell to every
facility — without the metres and paths routing needs, and in float32 with a cut-off, so
that a county's matrix fits in memory and the what-if can take minima over columns.

Shortest paths are ``scipy.sparse.csgraph.dijkstra`` from the facilities' road nodes
(the graph is undirected, so facility → cell equals cell → facility). It was picked by
measured speed (``docs/coverage.md``): on a 40,000-node weighted grid a search took
32 ms per source against networkx's 387 ms (12×); igraph and pandana are not dependencies
and would add a compiled package for a step that takes seconds per county.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.sparse import csgraph

from geo.coverage_config import CoverageConfig
from geo.travel import RoadNetworkModel, StraightLineModel, as_points, straight_line_matrix

FloatArray = npt.NDArray[np.float64]

#: Facilities whose Dijkstra searches run together (bounds the (chunk x nodes) array).
_CHUNK = 64


def road_models(
    roads: Mapping[str, Any] | gpd.GeoDataFrame, config: CoverageConfig, modes: Sequence[str]
) -> dict[str, RoadNetworkModel]:
    """One road graph per mode from the delivered roads.

    Parameters
    ----------
    roads : mapping or GeoDataFrame
        A GeoJSON FeatureCollection of LineStrings with optional ``highway`` and
        ``speed_kmh`` properties, or a frame with those columns (``store.roads``).
    config : CoverageConfig
        Mode speeds, detour factor (access legs) and road speeds by class.
    modes : sequence of str
        Modes to build.

    Returns
    -------
    dict
        Mode → :class:`geo.travel.RoadNetworkModel`; walking and e-bike are capped at
        their own speed on every road.
    """
    if isinstance(roads, gpd.GeoDataFrame):
        parts = roads.explode(index_parts=False)
        parts = parts[parts.geom_type == "LineString"]
        lines = list(parts.geometry)
        speeds = [
            None if pd.isna(v) else float(v) for v in parts.get("speed_kmh", [None] * len(parts))
        ]
        classes = [
            None if pd.isna(v) else str(v) for v in parts.get("highway", [None] * len(parts))
        ]
        return {
            m: RoadNetworkModel.from_geojson_lines(
                lines,
                speeds,
                config,
                highways=classes,
                mode=m,
                highway_speeds_kmh=config.road_speeds_kmh,
            )
            for m in modes
        }
    return {
        m: RoadNetworkModel.from_feature_collection(
            roads, config, mode=m, highway_speeds_kmh=config.road_speeds_kmh
        )
        for m in modes
    }


def straight_minutes(
    origins: npt.ArrayLike, destinations: npt.ArrayLike, mode: str, config: CoverageConfig
) -> npt.NDArray[np.float32]:
    """Straight-line × detour minutes, shape ``(n, m)`` (RULES.md's model without roads)."""
    speed = StraightLineModel(mode, config).speed_ms
    metres = straight_line_matrix(origins, destinations) * config.detour_factor
    return (metres / speed / 60.0).astype(np.float32)


def network_minutes(
    model: RoadNetworkModel,
    origins: npt.ArrayLike,
    destinations: npt.ArrayLike,
    limit_minutes: float = np.inf,
) -> npt.NDArray[np.float32]:
    """Minutes over the roads from each origin to each destination, shape ``(n, m)``.

    Each end snaps to its nearest road node with a straight-line access leg at the mode's
    speed (as :meth:`geo.travel.RoadNetworkModel.matrix`); both ends on the same node, or
    on unconnected parts of the network, fall back to the straight line. Times above
    ``limit_minutes`` are ``inf`` (the searches stop there).

    Parameters
    ----------
    model : RoadNetworkModel
        The graph of one mode.
    origins, destinations : array_like, shape (n, 2) / (m, 2)
        ``(lat, lng)`` degrees.
    limit_minutes : float
        Cut-off.

    Returns
    -------
    ndarray of float32
    """
    o, d = as_points(origins), as_points(destinations)
    out = np.full((len(o), len(d)), np.inf, dtype=np.float32)
    if len(o) == 0 or len(d) == 0:
        return out
    speed = model.access_model.speed_ms
    o_node, o_access = model.snap(o)
    d_node, d_access = model.snap(d)
    o_leg = o_access / speed
    d_leg = d_access / speed
    limit_s = float(limit_minutes) * 60.0
    straight = model.access_model
    # Only ends on different network components fall back to the straight line; a node
    # beyond the cut-off is inf as well, and must stay so.
    _, component = csgraph.connected_components(model.seconds_graph, directed=False)
    for start in range(0, len(d), _CHUNK):
        cols = np.arange(start, min(start + _CHUNK, len(d)))
        sources, inverse = np.unique(d_node[cols], return_inverse=True)
        net = csgraph.dijkstra(model.seconds_graph, directed=False, indices=sources, limit=limit_s)
        road = net[inverse.ravel()][:, o_node].T  # (n, len(cols))
        secs = o_leg[:, None] + road + d_leg[cols][None, :]
        apart = component[o_node][:, None] != component[d_node[cols]][None, :]
        direct = (o_node[:, None] == d_node[cols][None, :]) | apart
        if direct.any():
            rows, cc = np.nonzero(direct)
            _, sl = straight.matrix(o[rows], d[cols][np.unique(cc)])
            # straight.matrix returns the full block; pick the (row, col) pairs needed.
            col_pos = np.searchsorted(np.unique(cc), cc)
            secs[rows, cc] = sl[np.arange(len(rows)), col_pos]
        mins = secs / 60.0
        mins[mins > limit_minutes] = np.inf
        out[:, cols] = mins.astype(np.float32)
    return out


def travel_minutes(
    origins: npt.ArrayLike,
    destinations: npt.ArrayLike,
    mode: str,
    config: CoverageConfig,
    roads: Mapping[str, RoadNetworkModel] | None = None,
    limit_minutes: float = np.inf,
) -> npt.NDArray[np.float32]:
    """Minutes by ``mode``: over ``roads[mode]`` when given, else straight line × detour.

    Times above ``limit_minutes`` are ``inf`` under both models.
    """
    if roads and mode in roads:
        return network_minutes(roads[mode], origins, destinations, limit_minutes)
    mins = straight_minutes(origins, destinations, mode, config)
    if np.isfinite(limit_minutes):
        mins[mins > limit_minutes] = np.inf
    return mins
