"""Visit routes: optimality against brute force and TSPLIB, red-first, caps and edge cases."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString

from geo.routing import (
    ROUTE_LEG_COLUMNS,
    ROUTE_STOP_COLUMNS,
    plan_route,
    solve_tour,
    tour_length,
)
from geo.travel import RoadNetworkModel, StraightLineModel, haversine_m

LAT0, LNG0 = 36.86, 118.79
BOX_LAT = 20_000 / 111_195.0  # a 20 km box
BOX_LNG = BOX_LAT / np.cos(np.radians(LAT0))
BASE = (LAT0 + BOX_LAT / 2, LNG0 + BOX_LNG / 2)
DRIVE = StraightLineModel("drive")


def _stops(n: int, seed: int, colours: list[str] | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "resident_id": [f"R{seed:03d}{i:02d}" for i in range(n)],
            "lat": LAT0 + rng.random(n) * BOX_LAT,
            "lng": LNG0 + rng.random(n) * BOX_LNG,
        }
    )
    if colours is not None:
        df["colour"] = colours
    return df


def _brute_force(matrix: np.ndarray) -> float:
    """Optimal closed-tour cost from node 0, over every permutation of the others."""
    n = len(matrix)
    perms = np.array(list(itertools.permutations(range(1, n))), dtype=np.int64)
    cost = matrix[0, perms[:, 0]] + matrix[perms[:, -1], 0]
    for k in range(n - 2):
        cost = cost + matrix[perms[:, k], perms[:, k + 1]]
    return float(cost.min())


def _instance(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    stops = _stops(n, seed)
    points = np.vstack([[BASE], stops[["lat", "lng"]].to_numpy()])
    metres, _ = DRIVE.matrix(points, points)
    return stops, metres


# 9 stops cost 9! = 362,880 permutations each, so fewer seeds there.
INSTANCES = [(n, seed) for n in (5, 6, 7, 8) for seed in (1, 2, 3)] + [(9, 1), (9, 2)]


@pytest.fixture(scope="module")
def optima() -> dict[tuple[int, int], float]:
    return {key: _brute_force(_instance(*key)[1]) for key in INSTANCES}


# --------------------------------------------------------------------------------------
# 1. Optimality on small instances (brute force)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "seed"), INSTANCES)
def test_plan_route_is_within_1pct_of_brute_force(
    n: int, seed: int, optima: dict[tuple[int, int], float]
) -> None:
    stops, _ = _instance(n, seed)
    route = plan_route(BASE, stops, max_stops=n, model=DRIVE, priority_col=None)
    assert len(route.stops) == n
    assert route.total_distance_m <= optima[(n, seed)] * 1.01
    # Up to 9 stops the solver is exact (it may differ only by the millisecond rounding).
    assert route.total_distance_m == pytest.approx(optima[(n, seed)], rel=1e-6)


@pytest.mark.parametrize(("n", "seed"), INSTANCES)
def test_ortools_search_is_within_1pct_of_brute_force(
    n: int, seed: int, optima: dict[tuple[int, int], float]
) -> None:
    _, metres = _instance(n, seed)
    tour = solve_tour(np.rint(metres), 2.0, exact_max_stops=0)  # force OR-Tools
    assert sorted(tour) == list(range(n + 1))
    assert tour[0] == 0
    assert tour_length(metres, tour) <= optima[(n, seed)] * 1.01


def test_exact_solver_handles_asymmetric_costs() -> None:
    rng = np.random.default_rng(11)
    m = rng.integers(1, 1000, size=(8, 8)).astype(float)
    np.fill_diagonal(m, 0)
    assert tour_length(m, solve_tour(m)) == _brute_force(m)
    assert tour_length(m, solve_tour(m, exact_max_stops=0)) <= _brute_force(m) * 1.01


# --------------------------------------------------------------------------------------
# 2. TSPLIB berlin52 (EUC_2D, published optimum 7542)
# --------------------------------------------------------------------------------------
#: TSPLIB berlin52 NODE_COORD_SECTION (52 locations in Berlin, Groetschel).
BERLIN52 = np.array(
    [
        (565, 575), (25, 185), (345, 750), (945, 685), (845, 655), (880, 660),
        (25, 230), (525, 1000), (580, 1175), (650, 1130), (1605, 620), (1220, 580),
        (1465, 200), (1530, 5), (845, 680), (725, 370), (145, 665), (415, 635),
        (510, 875), (560, 365), (300, 465), (520, 585), (480, 415), (835, 625),
        (975, 580), (1215, 245), (1320, 315), (1250, 400), (660, 180), (410, 250),
        (420, 555), (575, 665), (1150, 1160), (700, 580), (685, 595), (685, 610),
        (770, 610), (795, 645), (720, 635), (760, 650), (475, 960), (95, 260),
        (875, 920), (700, 500), (555, 815), (830, 485), (1170, 65), (830, 610),
        (605, 625), (595, 360), (1340, 725), (1740, 245),
    ],
    dtype=float,
)  # fmt: skip
#: TSPLIB berlin52.opt.tour (1-based).
BERLIN52_OPT_TOUR = [
    1, 49, 32, 45, 19, 41, 8, 9, 10, 43, 33, 51, 11, 52, 14, 13, 47, 26, 27, 28, 12, 25, 4,
    6, 15, 5, 24, 48, 38, 37, 40, 39, 36, 35, 34, 44, 46, 16, 29, 50, 20, 23, 30, 2, 7, 42,
    21, 17, 3, 18, 31, 22,
]  # fmt: skip
BERLIN52_OPTIMUM = 7542


def euc_2d(xy: np.ndarray) -> np.ndarray:
    """TSPLIB EUC_2D: nint(sqrt(dx² + dy²)), nint(x) = (int)(x + 0.5)."""
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=-1))
    return np.floor(d + 0.5).astype(np.int64)


def test_berlin52_data_and_distance_reproduce_the_published_optimum() -> None:
    m = euc_2d(BERLIN52)
    assert tour_length(m, [i - 1 for i in BERLIN52_OPT_TOUR]) == BERLIN52_OPTIMUM


def test_berlin52_within_2pct_of_optimum() -> None:
    m = euc_2d(BERLIN52)
    # A solution limit (not the clock) ends the search, so the result does not depend on
    # the machine's load; the time limit is only a cap.
    tour = solve_tour(m, time_limit_s=30.0, solution_limit=250)
    assert sorted(tour) == list(range(52))
    assert tour_length(m, tour) <= BERLIN52_OPTIMUM * 1.02


# --------------------------------------------------------------------------------------
# 3. Red first, caps and edge cases
# --------------------------------------------------------------------------------------
def _interleaved(n_pairs: int) -> pd.DataFrame:
    """Stops on a ring round the base, red and green alternating: the shortest tour
    interleaves them, red-first cannot."""
    angles = np.linspace(0, 2 * np.pi, 2 * n_pairs, endpoint=False)
    df = pd.DataFrame(
        {
            "resident_id": [f"S{i:02d}" for i in range(2 * n_pairs)],
            "lat": BASE[0] + 0.05 * np.sin(angles),
            "lng": BASE[1] + 0.05 * np.cos(angles),
            "colour": ["red", "green"] * n_pairs,
        }
    )
    # Push-list order: reds first.
    return df.sort_values("colour", key=lambda c: c.map({"red": 0, "green": 1}), kind="stable")


@pytest.mark.parametrize("n_pairs", [3, 6])  # exact (6 stops) and OR-Tools (12 stops)
def test_red_stops_come_first(n_pairs: int) -> None:
    stops = _interleaved(n_pairs)
    route = plan_route(BASE, stops, max_stops=len(stops), model=DRIVE)
    colours = route.stops["colour"].tolist()
    assert colours == ["red"] * n_pairs + ["green"] * n_pairs
    free = plan_route(BASE, stops, max_stops=len(stops), model=DRIVE, priority_col=None)
    assert free.stops["colour"].tolist() != colours  # the ring tour mixes them
    assert free.total_seconds < route.total_seconds
    assert set(free.stops["colour"]) == {"red", "green"}  # colours still reported


def test_priority_order_can_rank_every_colour() -> None:
    stops = _stops(10, 5, ["green", "red", "yellow", "green", "red"] * 2)
    route = plan_route(BASE, stops, max_stops=10, model=DRIVE, priority_order=("red", "yellow"))
    rank = route.stops["colour"].map({"red": 0, "yellow": 1, "green": 2}).tolist()
    assert rank == sorted(rank)
    default = plan_route(BASE, stops, max_stops=10, model=DRIVE)
    assert default.stops["colour"].tolist()[:4] == ["red"] * 4


def test_ranked_ortools_search_matches_the_exact_solution() -> None:
    _, metres = _instance(10, 4)
    ranks = [0, 1, 2, 0, 1, 2, 1, 1, 0, 2]
    exact = solve_tour(metres, ranks=ranks, exact_max_stops=10)
    search = solve_tour(metres, ranks=ranks, exact_max_stops=0)
    for tour in (exact, search):
        seen = [ranks[i - 1] for i in tour[1:]]
        assert seen == sorted(seen)
    assert tour_length(metres, search) <= tour_length(metres, exact) * 1.01


def test_max_stops_takes_the_list_in_order() -> None:
    colours = ["red"] * 3 + ["yellow"] * 4 + ["green"] * 8
    stops = _stops(15, 9, colours)
    route = plan_route(BASE, stops, max_stops=12, model=DRIVE)
    assert len(route.stops) == 12
    assert set(route.stops["resident_id"]) == set(stops["resident_id"].iloc[:12])
    assert route.deferred == tuple(stops["resident_id"].iloc[12:])
    assert route.stops["order"].tolist() == list(range(1, 13))
    assert route.stops["colour"].iloc[:3].tolist() == ["red"] * 3
    assert len(route.legs) == 13
    # Legs chain base -> stops -> base and their sums are the totals.
    assert route.legs["from"].iloc[0] == "base" and route.legs["to"].iloc[-1] == "base"
    assert route.legs["to"].iloc[:-1].tolist() == route.stops["resident_id"].tolist()
    assert route.legs["from"].iloc[1:].tolist() == route.stops["resident_id"].tolist()
    assert route.total_seconds == pytest.approx(route.legs["seconds"].sum())
    assert route.total_distance_m == pytest.approx(route.legs["distance_m"].sum())
    np.testing.assert_allclose(route.stops["arrival_s"], route.legs["seconds"].cumsum()[:-1])


def test_a_day_of_one_resident_with_two_diseases_is_one_visit() -> None:
    stops = _stops(4, 3, ["red", "yellow", "green", "green"])
    twice = pd.concat([stops.iloc[[0]], stops, stops.iloc[[2]]]).reset_index(drop=True)
    route = plan_route(BASE, twice, max_stops=3, model=DRIVE)
    assert sorted(route.stops["resident_id"]) == sorted(stops["resident_id"].iloc[:3])
    assert route.deferred == (stops["resident_id"].iloc[3],)


def test_stops_without_location_are_skipped() -> None:
    stops = _stops(4, 6, ["red", "red", "green", "green"])
    stops.loc[1, "lat"] = np.nan
    route = plan_route(BASE, stops, max_stops=2, model=DRIVE)
    assert route.skipped == (stops["resident_id"].iloc[1],)
    assert route.stops["resident_id"].tolist()[0] == stops["resident_id"].iloc[0]
    assert len(route.stops) == 2


@pytest.mark.parametrize("max_stops", [0, 5])
def test_empty_route(max_stops: int) -> None:
    stops = _stops(3, 1, ["red", "green", "green"])
    listed = stops if max_stops == 0 else stops.iloc[:0]
    route = plan_route(BASE, listed, max_stops=max_stops, model=DRIVE)
    assert route.stops.empty and route.legs.empty
    assert list(route.stops.columns) == ROUTE_STOP_COLUMNS
    assert list(route.legs.columns) == ROUTE_LEG_COLUMNS
    assert route.total_distance_m == 0.0 and route.total_seconds == 0.0
    assert route.geometry.is_empty
    assert route.deferred == (tuple(stops["resident_id"]) if max_stops == 0 else ())
    gj = json.loads(json.dumps(route.to_geojson()))
    assert [f["properties"]["kind"] for f in gj["features"]] == ["base"]


def test_single_stop_is_out_and_back() -> None:
    stops = _stops(1, 2, ["yellow"])
    route = plan_route(BASE, stops, max_stops=12, model=DRIVE)
    one_way = float(haversine_m(BASE[0], BASE[1], stops["lat"].iloc[0], stops["lng"].iloc[0]))
    assert route.total_distance_m == pytest.approx(2 * 1.3 * one_way)
    assert route.total_seconds == pytest.approx(2 * 1.3 * one_way / (30 / 3.6))
    assert route.legs[["from", "to"]].values.tolist() == [
        ["base", stops["resident_id"].iloc[0]],
        [stops["resident_id"].iloc[0], "base"],
    ]
    assert len(route.geometry.coords) == 3


def test_stops_at_the_base_cost_nothing() -> None:
    stops = pd.DataFrame(
        {
            "resident_id": ["A", "B", "C"],
            "lat": [BASE[0]] * 3,
            "lng": [BASE[1]] * 3,
            "colour": ["green", "red", "green"],
        }
    )
    route = plan_route(BASE, stops, max_stops=3, model=DRIVE)
    assert route.total_distance_m == 0.0 and route.total_seconds == 0.0
    assert route.stops["resident_id"].iloc[0] == "B"
    assert isinstance(route.geometry, LineString)
    assert len(route.geometry.coords) == 2


def test_geometry_and_geojson() -> None:
    stops = _stops(6, 8, ["red", "yellow", "green", "green", "yellow", "red"])
    route = plan_route(BASE, stops, max_stops=6, model=DRIVE)
    expected = [BASE, *zip(route.stops["lat"], route.stops["lng"], strict=True), BASE]
    np.testing.assert_allclose(np.asarray(route.geometry.coords), np.asarray(expected)[:, ::-1])
    gj = json.loads(json.dumps(route.to_geojson()))  # JSON-ready: plain Python values
    assert gj["type"] == "FeatureCollection"
    kinds = [f["properties"]["kind"] for f in gj["features"]]
    assert kinds == ["route", "base"] + ["stop"] * 6
    line = gj["features"][0]
    assert line["geometry"]["type"] == "LineString"
    assert line["properties"]["total_seconds"] == pytest.approx(route.total_seconds)
    first_stop = gj["features"][2]
    assert first_stop["properties"]["order"] == 1
    assert first_stop["properties"]["colour"] == "red"
    assert first_stop["geometry"]["coordinates"] == pytest.approx(
        [route.stops["lng"].iloc[0], route.stops["lat"].iloc[0]]
    )


def test_road_model_route_follows_the_roads() -> None:
    # A road "L": base at the corner's west end, the stop north of the east end.
    dlat = 1000 / 111_195.0
    dlng = dlat / np.cos(np.radians(LAT0))
    west, east = (LNG0, LAT0), (LNG0 + dlng, LAT0)
    north = (LNG0 + dlng, LAT0 + dlat)
    model = RoadNetworkModel.from_geojson_lines([LineString([west, east, north])], [30.0])
    stops = pd.DataFrame({"resident_id": ["X"], "lat": [north[1]], "lng": [north[0]]})
    route = plan_route((LAT0, LNG0), stops, max_stops=1, model=model)
    assert route.total_distance_m == pytest.approx(4000.0, abs=2.0)
    coords = [tuple(np.round(c, 9)) for c in route.geometry.coords]
    assert tuple(np.round(east, 9)) in coords  # the line turns at the corner


def test_routes_are_deterministic() -> None:
    stops = _stops(15, 12, ["red"] * 4 + ["yellow"] * 4 + ["green"] * 7)
    a = plan_route(BASE, stops, max_stops=15, model=DRIVE)
    b = plan_route(BASE, stops, max_stops=15, model=DRIVE)
    assert a.stops["resident_id"].tolist() == b.stops["resident_id"].tolist()


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="max_stops"):
        plan_route(BASE, _stops(2, 1), max_stops=-1, model=DRIVE)
    with pytest.raises(KeyError, match="lat"):
        plan_route(BASE, pd.DataFrame({"resident_id": ["a"]}), max_stops=1, model=DRIVE)
    with pytest.raises(ValueError, match="square"):
        solve_tour(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="infinite"):
        solve_tour(np.array([[0, np.inf], [1, 0]]))
    with pytest.raises(ValueError, match="ranks"):
        solve_tour(np.zeros((3, 3)), ranks=[0])
    assert solve_tour(np.zeros((0, 0))) == []
    assert solve_tour(np.zeros((1, 1))) == [0]
    assert solve_tour(np.zeros((2, 2))) == [0, 1]
