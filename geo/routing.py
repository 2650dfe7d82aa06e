"""A care team's daily home-visit route (the follow-up push list as a tour).

:func:`plan_route` takes the day's push list of one team (already ordered red, yellow,
green, then risk; RULES.md, "Follow-up tasks"), keeps the first ``max_stops`` households
(the team's ``max_daily_visits``) and orders them as a round trip from and back to the
team's base facility, minimising travel time under a :class:`geo.travel.TravelModel`.

Red tasks (emergency readings, referrals, post-discharge checks) are visited before all
other stops by default: a hard precedence, solved exactly rather than traded against
minutes. :func:`solve_tour` is the solver underneath: exact (Held–Karp) for up to
:data:`EXACT_MAX_STOPS` stops, OR-Tools' routing solver (PATH_CHEAPEST_ARC, then guided
local search) beyond.

Everything here is pure computation; see ``docs/routing.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.util import optional_boolean_pb2
from shapely.geometry import LineString

from geo.travel import PathModel, TravelModel, as_points

#: Up to this many stops (depot excluded) :func:`solve_tour` solves exactly (Held–Karp:
#: 2^9 subsets × 9 × 9, a few milliseconds).
EXACT_MAX_STOPS = 9

#: Default number of solutions guided local search may find before it stops. GLS never
#: stops by itself; a solution count (unlike a wall-clock limit) makes the route the same
#: on every run and machine, and 200 is well past convergence for a day's 10–20 stops
#: (about 50–100 ms). ``time_limit_s`` stays as a safety cap.
DEFAULT_SOLUTION_LIMIT = 200

#: Travel seconds are handed to the solver as integer milliseconds.
_COST_SCALE = 1000.0

#: The local-search moves that matter for a single closed tour; OR-Tools' other operators
#: serve multi-vehicle, optional-visit or pickup-delivery models and only cost time here.
_TSP_OPERATORS = frozenset(
    {"use_relocate", "use_exchange", "use_two_opt", "use_or_opt", "use_lin_kernighan"}
)

ROUTE_STOP_COLUMNS = ["resident_id", "order", "lat", "lng", "colour", "arrival_s"]
ROUTE_LEG_COLUMNS = ["from", "to", "distance_m", "seconds"]

_STOP_DTYPES = {
    "resident_id": "str",
    "order": "int64",
    "lat": "float64",
    "lng": "float64",
    "colour": "string",
    "arrival_s": "float64",
}
_LEG_DTYPES = {"from": "str", "to": "str", "distance_m": "float64", "seconds": "float64"}


# --------------------------------------------------------------------------------------
# The tour solver
# --------------------------------------------------------------------------------------
def tour_length(matrix: npt.ArrayLike, tour: Sequence[int]) -> float:
    """Cost of the closed tour ``tour[0] -> tour[1] -> ... -> tour[-1] -> tour[0]``."""
    m = np.asarray(matrix)
    if len(tour) < 2:
        return 0.0
    t = np.asarray(tour)
    return float(m[t, np.roll(t, -1)].sum())


def solve_tour(
    matrix: npt.ArrayLike,
    time_limit_s: float = 2.0,
    *,
    ranks: Sequence[int] | None = None,
    solution_limit: int | None = DEFAULT_SOLUTION_LIMIT,
    exact_max_stops: int = EXACT_MAX_STOPS,
) -> list[int]:
    """Shortest closed tour from node 0 through every other node and back to 0.

    Parameters
    ----------
    matrix : array_like, shape (n, n)
        Arc costs, ``matrix[i, j]`` from ``i`` to ``j`` (need not be symmetric). Costs are
        rounded to integers for OR-Tools, so scale fractional costs first.
    time_limit_s : float
        Wall-clock cap on the OR-Tools search.
    ranks : sequence of int, optional
        One rank per node ``1 .. n-1`` (node 0, the depot, has none). When given, the tour
        visits the nodes in non-decreasing rank: all rank-0 nodes, then rank 1, and so on;
        within a rank the order is free. This is the red-first rule of :func:`plan_route`.
    solution_limit : int or None
        Solutions guided local search may find before it stops (None: only the time limit).
    exact_max_stops : int
        Solve exactly (Held–Karp dynamic programme) when ``n - 1`` is at most this.

    Returns
    -------
    list of int
        The visiting order, starting with 0 and holding every node once (the return to 0
        is implied).

    Raises
    ------
    ValueError
        A matrix that is not square or holds non-finite costs; ranks of the wrong length.
    RuntimeError
        OR-Tools found no tour within the time limit.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix must be square, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("matrix holds NaN or infinite costs")
    n = m.shape[0]
    if n == 0:
        return []
    r = np.zeros(n - 1, dtype=np.int64) if ranks is None else np.asarray(ranks, dtype=np.int64)
    if r.shape != (n - 1,):
        raise ValueError(f"ranks must hold one rank per non-depot node ({n - 1}), got {r.shape}")
    if n <= 2:
        return list(range(n))
    costs = np.rint(m).astype(np.int64)
    if n - 1 <= exact_max_stops:
        return _held_karp(costs, _allowed_arcs(r))
    return _ortools_tour(costs, r, time_limit_s, solution_limit)


def _allowed_arcs(ranks: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Arcs a rank-respecting tour may use; node 0 is the depot (leave first, enter last)."""
    n = len(ranks) + 1
    allowed = np.ones((n, n), dtype=bool)
    np.fill_diagonal(allowed, False)
    allowed[1:, 1:] &= ranks[None, :] >= ranks[:, None]  # never step back to a lower rank
    allowed[0, 1:] = ranks == ranks.min()  # the tour opens with the most urgent rank
    allowed[1:, 0] = ranks == ranks.max()  # and closes with the least urgent one
    return allowed


def _held_karp(costs: npt.NDArray[np.int64], allowed: npt.NDArray[np.bool_]) -> list[int]:
    """Exact tour by dynamic programming over subsets (Held & Karp 1962)."""
    n = costs.shape[0]
    k = n - 1  # stops 1..n-1 are bits 0..k-1
    inf = np.inf
    c = np.where(allowed, costs.astype(np.float64), inf)
    full = (1 << k) - 1
    # best[mask, j]: cheapest path from the depot through exactly the stops in ``mask``,
    # ending at stop j (bit j in mask).
    best = np.full((1 << k, k), inf)
    parent = np.full((1 << k, k), -1, dtype=np.int64)
    for j in range(k):
        best[1 << j, j] = c[0, j + 1]
    stop_costs = c[1:, 1:]
    for mask in range(1, full + 1):
        members = [j for j in range(k) if mask >> j & 1]
        if len(members) < 2:
            continue
        for j in members:
            prev = mask ^ (1 << j)
            options = best[prev] + stop_costs[:, j]
            p = int(np.argmin(options))
            best[mask, j] = options[p]
            parent[mask, j] = p
    closing = best[full] + c[1:, 0]
    last = int(np.argmin(closing))
    order = []
    mask = full
    while last >= 0:
        order.append(last + 1)
        mask, last = mask ^ (1 << last), int(parent[mask, last])
    return [0, *order[::-1]]


def _greedy_ranked(costs: npt.NDArray[np.int64], ranks: npt.NDArray[np.int64]) -> list[int]:
    """Nearest-neighbour tour over the lowest rank still open (a rank-respecting start)."""
    tour, open_ = [0], set(range(1, costs.shape[0]))
    while open_:
        here, low = tour[-1], min(ranks[j - 1] for j in open_)
        nxt = min((j for j in open_ if ranks[j - 1] == low), key=lambda j: (costs[here, j], j))
        tour.append(nxt)
        open_.remove(nxt)
    return tour


def _ortools_tour(
    costs: npt.NDArray[np.int64],
    ranks: npt.NDArray[np.int64],
    time_limit_s: float,
    solution_limit: int | None,
) -> list[int]:
    """Tour by OR-Tools: PATH_CHEAPEST_ARC (or a ranked greedy) start, then guided local search."""
    n = costs.shape[0]
    allowed = _allowed_arcs(ranks)
    manager = pywrapcp.RoutingIndexManager(n, 1, 0)
    model = pywrapcp.RoutingModel(manager)
    # A transit matrix is evaluated in C++; a Python callback would dominate the runtime.
    transit = model.RegisterTransitMatrix(costs.tolist())
    model.SetArcCostEvaluatorOfAllVehicles(transit)

    # Rank precedence: strike the forbidden successors from each NextVar's domain, so
    # neither the first solution nor any move can use them.
    start, end = model.Start(0), model.End(0)
    for i in range(n):
        index = start if i == 0 else manager.NodeToIndex(i)
        for j in range(n):
            if i != j and not allowed[i, j]:
                model.NextVar(index).RemoveValue(end if j == 0 else manager.NodeToIndex(j))

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    operators = params.local_search_operators
    for fd in operators.DESCRIPTOR.fields:
        on = fd.name in _TSP_OPERATORS
        setattr(
            operators,
            fd.name,
            optional_boolean_pb2.BOOL_TRUE if on else optional_boolean_pb2.BOOL_FALSE,
        )
    # Moves only towards each node's nearest fifth (at least 8 nodes): the standard TSP
    # neighbour restriction. A day's 10–20 stops are searched in full; on TSPLIB berlin52
    # it makes each solution much cheaper and guided local search reaches the optimum
    # within ~200 solutions instead of ~600.
    params.ls_operator_neighbors_ratio = 0.2
    params.ls_operator_min_neighbors = 8
    params.time_limit.FromMilliseconds(max(1, round(time_limit_s * 1000)))
    if solution_limit is not None:
        params.solution_limit = max(1, int(solution_limit))

    if (ranks == ranks[0]).all():
        solution = model.SolveWithParameters(params)
    else:
        # With ranks, PATH_CHEAPEST_ARC walks into dead ends (a yellow stop taken while a
        # red one is left has no way back) and fails; start instead from the same greedy
        # rule restricted to the lowest rank still open, which is always feasible. Local
        # search then only makes moves the pruned NextVar domains allow.
        model.CloseModelWithParameters(params)
        initial = model.ReadAssignmentFromRoutes([_greedy_ranked(costs, ranks)[1:]], True)
        solution = model.SolveFromAssignmentWithParameters(initial, params)
    if solution is None:
        raise RuntimeError(f"OR-Tools found no tour of {n} nodes within {time_limit_s} s")
    tour: list[int] = []
    index = start
    while not model.IsEnd(index):
        tour.append(manager.IndexToNode(index))
        index = solution.Value(model.NextVar(index))
    return tour


# --------------------------------------------------------------------------------------
# The day's route
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """One team's visit round: base -> stops -> base.

    Attributes
    ----------
    base : tuple of float
        ``(lat, lng)`` of the base facility.
    base_id : str
        Label of the base in ``legs`` and the GeoJSON.
    stops : DataFrame
        One row per visit in visiting order: resident_id, order (1-based), lat, lng,
        colour (NA without a priority column), arrival_s (travel seconds from leaving the
        base; visit durations are not modelled).
    legs : DataFrame
        from, to (resident_id or ``base_id``), distance_m, seconds; ``len(stops) + 1``
        legs, none for an empty route.
    total_distance_m, total_seconds : float
        Sums over the legs.
    geometry : LineString
        The round trip in ``(lng, lat)`` order: straight segments, or road paths when the
        model draws them (:class:`geo.travel.PathModel`). Empty for an empty route.
    deferred : tuple of str
        Listed residents left for another day by the ``max_stops`` cap, in list order.
    skipped : tuple of str
        Listed residents without a usable location (they cannot be routed).
    """

    base: tuple[float, float]
    base_id: str
    stops: pd.DataFrame
    legs: pd.DataFrame
    total_distance_m: float
    total_seconds: float
    geometry: LineString
    deferred: tuple[str, ...] = field(default=())
    skipped: tuple[str, ...] = field(default=())

    def to_geojson(self) -> dict[str, Any]:
        """GeoJSON FeatureCollection: the route line, the base and the numbered stops.

        Features carry ``properties.kind`` = ``route`` / ``base`` / ``stop``; the route
        feature is left out of an empty route. All values are plain Python (JSON-ready).
        """
        features: list[dict[str, Any]] = []
        if not self.geometry.is_empty:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [[float(x), float(y)] for x, y in self.geometry.coords],
                    },
                    "properties": {
                        "kind": "route",
                        "stops": len(self.stops),
                        "total_distance_m": float(self.total_distance_m),
                        "total_seconds": float(self.total_seconds),
                    },
                }
            )
        features.append(
            _point_feature(
                self.base[0], self.base[1], {"kind": "base", "id": self.base_id, "order": 0}
            )
        )
        records: list[dict[Hashable, Any]] = self.stops.to_dict("records")
        for row in records:
            colour = None if pd.isna(row["colour"]) else str(row["colour"])
            props = {
                "kind": "stop",
                "resident_id": str(row["resident_id"]),
                "order": int(row["order"]),
                "colour": colour,
                "arrival_s": float(row["arrival_s"]),
            }
            features.append(_point_feature(float(row["lat"]), float(row["lng"]), props))
        return {"type": "FeatureCollection", "features": features}


def _point_feature(lat: float, lng: float, props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [float(lng), float(lat)]},
        "properties": props,
    }


def plan_route(
    base: tuple[float, float],
    stops: pd.DataFrame,
    *,
    max_stops: int,
    model: TravelModel,
    priority_col: str | None = "colour",
    priority_order: Sequence[str] = ("red",),
    time_limit_s: float = 2.0,
    solution_limit: int | None = DEFAULT_SOLUTION_LIMIT,
    base_id: str = "base",
) -> Route:
    """Plan the day's visit round of one team.

    Selection: the list is taken in its own order, which for a push list is already red,
    yellow, green, then risk (RULES.md), so the first ``max_stops`` residents are the
    day's visits and red tasks are never cut for a green one. A resident listed twice
    (a task for each disease) is one visit, at the first listing. Rows without a finite
    lat/lng are skipped before the cap.

    Ordering: the round trip base -> stops -> base of least total travel time under
    ``model``, with the precedence below. Exact up to :data:`EXACT_MAX_STOPS` stops, else
    OR-Tools guided local search.

    Precedence: stops whose ``priority_col`` value is ``priority_order[0]`` come first,
    then those of ``priority_order[1]``, ..., then every other stop; the order within a
    group is free. The default puts red stops before all others. Pass
    ``priority_col=None`` (or a frame without the column, or ``priority_order=()``) to
    optimise travel time alone.

    Parameters
    ----------
    base : (lat, lng)
        The team's base facility.
    stops : DataFrame
        The day's list: ``resident_id``, ``lat``, ``lng`` and optionally ``priority_col``.
    max_stops : int
        Visits in the day (``teams.max_daily_visits``), >= 0.
    model : TravelModel
        Travel distances and times (:class:`geo.travel.StraightLineModel` or
        :class:`geo.travel.RoadNetworkModel`).
    priority_col : str or None
        Column holding the task colour.
    priority_order : sequence of str
        Colours visited first, most urgent first.
    time_limit_s : float
        Cap on the OR-Tools search.
    solution_limit : int or None
        Solutions guided local search may find (see :data:`DEFAULT_SOLUTION_LIMIT`).
    base_id : str
        Label of the base in the legs and GeoJSON.

    Returns
    -------
    Route

    Raises
    ------
    KeyError
        ``stops`` lacks ``resident_id``, ``lat`` or ``lng``.
    ValueError
        Negative ``max_stops``, a bad base, or a model returning non-finite times.
    """
    if max_stops < 0:
        raise ValueError(f"max_stops must be >= 0, got {max_stops}")
    missing = {"resident_id", "lat", "lng"} - set(stops.columns)
    if missing:
        raise KeyError(f"stops lacks columns {sorted(missing)}")
    base_pt = as_points([base])[0]
    base_t = (float(base_pt[0]), float(base_pt[1]))

    listed = stops.drop_duplicates("resident_id", keep="first")
    lat = pd.to_numeric(listed["lat"], errors="coerce").to_numpy(dtype=np.float64)
    lng = pd.to_numeric(listed["lng"], errors="coerce").to_numpy(dtype=np.float64)
    located = np.isfinite(lat) & np.isfinite(lng)
    skipped = tuple(str(x) for x in listed.loc[~located, "resident_id"])
    routable = listed.loc[located]
    day, later = routable.iloc[:max_stops], routable.iloc[max_stops:]
    deferred = tuple(str(x) for x in later["resident_id"])

    ids = [str(x) for x in day["resident_id"]]
    # The output's colour comes from the priority column, or from ``colour`` when
    # precedence is switched off, so the map can still colour the stops.
    colour_col = priority_col if priority_col is not None else "colour"
    colours: list[str | None] = (
        [None if pd.isna(c) else str(c) for c in day[colour_col]]
        if colour_col in day.columns
        else [None] * len(day)
    )
    use_priority = priority_col is not None and priority_col in day.columns
    points = np.vstack(
        [base_pt[None, :], np.column_stack([lat[located][:max_stops], lng[located][:max_stops]])]
    )

    if not ids:
        return Route(
            base=base_t,
            base_id=base_id,
            stops=pd.DataFrame({c: pd.Series(dtype=_STOP_DTYPES[c]) for c in ROUTE_STOP_COLUMNS}),
            legs=pd.DataFrame({c: pd.Series(dtype=_LEG_DTYPES[c]) for c in ROUTE_LEG_COLUMNS}),
            total_distance_m=0.0,
            total_seconds=0.0,
            geometry=LineString(),
            deferred=deferred,
            skipped=skipped,
        )

    metres, seconds = model.matrix(points, points)
    metres, seconds = np.asarray(metres, dtype=np.float64), np.asarray(seconds, dtype=np.float64)
    if not (np.isfinite(seconds).all() and np.isfinite(metres).all()):
        raise ValueError("the travel model returned non-finite distances or times")

    ranks = None
    if use_priority and len(priority_order) > 0:
        rank_of = {c: i for i, c in enumerate(priority_order)}
        # Unlisted colours (and missing ones) share the last, least urgent rank.
        ranks = [rank_of.get(c, len(priority_order)) if c else len(priority_order) for c in colours]
    tour = solve_tour(
        seconds * _COST_SCALE,
        time_limit_s,
        ranks=ranks,
        solution_limit=solution_limit,
    )

    closed = [*tour, 0]
    leg_from, leg_to = np.asarray(closed[:-1]), np.asarray(closed[1:])
    leg_m, leg_s = metres[leg_from, leg_to], seconds[leg_from, leg_to]
    labels = [base_id, *ids]
    legs = pd.DataFrame(
        {
            "from": [labels[i] for i in leg_from],
            "to": [labels[j] for j in leg_to],
            "distance_m": leg_m,
            "seconds": leg_s,
        }
    )
    visit = np.asarray(tour[1:]) - 1
    out_stops = pd.DataFrame(
        {
            "resident_id": [ids[i] for i in visit],
            "order": np.arange(1, len(visit) + 1, dtype=np.int64),
            "lat": points[visit + 1, 0],
            "lng": points[visit + 1, 1],
            "colour": pd.array([colours[i] for i in visit], dtype="string"),
            "arrival_s": np.cumsum(leg_s[:-1]),
        }
    )
    return Route(
        base=base_t,
        base_id=base_id,
        stops=out_stops,
        legs=legs,
        total_distance_m=float(leg_m.sum()),
        total_seconds=float(leg_s.sum()),
        geometry=_geometry(points, closed, model),
        deferred=deferred,
        skipped=skipped,
    )


def _geometry(
    points: npt.NDArray[np.float64], closed: Sequence[int], model: TravelModel
) -> LineString:
    """The round trip as one line in ``(lng, lat)``; road paths when the model has them."""
    parts: list[npt.NDArray[np.float64]] = []
    for i, j in itertools.pairwise(closed):
        if isinstance(model, PathModel):
            parts.append(np.asarray(model.path(points[i], points[j]), dtype=np.float64))
        else:
            parts.append(points[[i, j]])
    latlng = np.vstack(parts)
    # Joined legs repeat their shared vertex, and stops at one address repeat whole points;
    # drop consecutive duplicates, keeping at least a (degenerate) two-point line.
    keep = np.ones(len(latlng), dtype=bool)
    keep[1:] = np.any(latlng[1:] != latlng[:-1], axis=1)
    latlng = latlng[keep]
    if len(latlng) < 2:
        latlng = np.vstack([latlng, latlng])
    return LineString(latlng[:, ::-1])
