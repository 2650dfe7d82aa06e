"""Travel model: great-circle distances, the straight-line model and the road graph."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from shapely.geometry import LineString, mapping

from geo.rules import CoverageConfig
from geo.travel import (
    DEFAULT_HIGHWAY_SPEEDS_KMH,
    EARTH_RADIUS_M,
    PathModel,
    RoadNetworkModel,
    StraightLineModel,
    TravelModel,
    haversine_m,
    straight_line_matrix,
)

LAT0, LNG0 = 36.86, 118.79  # Shouguang
#: Degrees of latitude / longitude per kilometre at LAT0 (spherical Earth, R = 6371008.8 m).
DLAT_KM = 1000.0 / (np.pi * EARTH_RADIUS_M / 180.0)
DLNG_KM = DLAT_KM / np.cos(np.radians(LAT0))


# --------------------------------------------------------------------------------------
# haversine_m / straight_line_matrix
# --------------------------------------------------------------------------------------
def test_one_degree_of_latitude_is_111_2_km() -> None:
    d = haversine_m(36.0, 118.79, 37.0, 118.79)
    assert d == pytest.approx(111_194.93, abs=0.5)
    assert float(d) / 1000 == pytest.approx(111.2, abs=0.05)


def test_one_degree_of_longitude_on_the_equator_and_shrinking_with_latitude() -> None:
    assert haversine_m(0.0, 100.0, 0.0, 101.0) == pytest.approx(111_194.93, abs=0.5)
    # Along a parallel the great circle is a little shorter than the parallel itself.
    d60 = float(haversine_m(60.0, 10.0, 60.0, 11.0))
    assert d60 == pytest.approx(111_194.93 * np.cos(np.radians(60.0)), rel=1e-4)
    assert d60 < 111_194.93 * np.cos(np.radians(60.0))


def test_known_city_distance() -> None:
    # Beijing (39.9042, 116.4074) to Shanghai (31.2304, 121.4737): about 1,067 km.
    assert float(haversine_m(39.9042, 116.4074, 31.2304, 121.4737)) / 1000 == pytest.approx(
        1067.3, abs=1.0
    )


def test_haversine_is_zero_symmetric_and_broadcasts() -> None:
    assert float(haversine_m(LAT0, LNG0, LAT0, LNG0)) == 0.0
    a = np.array([[36.8, 118.7], [36.9, 118.8], [37.0, 118.9]])
    b = np.array([[36.85, 118.75], [36.95, 118.85], [37.05, 118.95], [36.7, 118.6]])
    m = haversine_m(a[:, None, 0], a[:, None, 1], b[None, :, 0], b[None, :, 1])
    assert m.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            assert m[i, j] == pytest.approx(float(haversine_m(*a[i], *b[j])))
    np.testing.assert_allclose(straight_line_matrix(a, b), m)
    np.testing.assert_allclose(straight_line_matrix(b, a), m.T)
    assert haversine_m(0.0, 0.0, 0.0, 180.0) == pytest.approx(np.pi * 6_371_008.8)


def test_straight_line_matrix_validates_points() -> None:
    assert straight_line_matrix(np.zeros((0, 2)), [[LAT0, LNG0]]).shape == (0, 1)
    assert straight_line_matrix([LAT0, LNG0], [LAT0 + 1, LNG0]).shape == (1, 1)
    with pytest.raises(ValueError, match="shape"):
        straight_line_matrix(np.zeros((3, 3)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="NaN"):
        straight_line_matrix([[np.nan, LNG0]], [[LAT0, LNG0]])


# --------------------------------------------------------------------------------------
# StraightLineModel
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "kmh"), [("walk", 4.5), ("ebike", 15.0), ("drive", 30.0)])
def test_straight_line_model_detour_and_speed(mode: str, kmh: float) -> None:
    model = StraightLineModel(mode)
    origin = [[LAT0, LNG0]]
    dest = [[LAT0 + DLAT_KM, LNG0]]  # 1 km north
    metres, seconds = model.matrix(origin, dest)
    assert metres[0, 0] == pytest.approx(1300.0, rel=1e-6)  # RULES.md: × 1.3
    assert seconds[0, 0] == pytest.approx(1.3 / kmh * 3600, rel=1e-6)
    assert isinstance(model, TravelModel)
    assert isinstance(model, PathModel)


def test_straight_line_model_reads_its_config() -> None:
    cfg = CoverageConfig(detour_factor=1.0, speeds_kmh={"walk": 6.0, "drive": 60.0})
    metres, seconds = StraightLineModel("walk", cfg).matrix(
        [[LAT0, LNG0]], [[LAT0 + DLAT_KM, LNG0], [LAT0, LNG0]]
    )
    np.testing.assert_allclose(metres, [[1000.0, 0.0]], atol=1e-6)
    np.testing.assert_allclose(seconds, [[600.0, 0.0]], atol=1e-6)
    with pytest.raises(ValueError, match="unknown travel mode"):
        StraightLineModel("ebike", cfg)


def test_straight_line_matrix_shape_and_path() -> None:
    pts = np.array([[LAT0, LNG0], [LAT0 + 0.01, LNG0], [LAT0, LNG0 + 0.01]])
    metres, seconds = StraightLineModel().matrix(pts, pts[:2])
    assert metres.shape == seconds.shape == (3, 2)
    np.testing.assert_allclose(np.diag(metres[:2]), 0.0)
    np.testing.assert_allclose(StraightLineModel().path(pts[0], pts[1]), pts[:2])


# --------------------------------------------------------------------------------------
# RoadNetworkModel on a hand-built network
# --------------------------------------------------------------------------------------
#   C ----slow 10---- D          A = (LAT0, LNG0); the square's sides are 1 km.
#   |              /  |          A-B and B-D: 60 km/h, 60 s each.
# slow 10    footpath  fast 60   A-C and C-D: 10 km/h, 360 s each.
#   |        5 km/h   |          A-D diagonal: 1.414 km at 5 km/h, 1018 s.
#   A ----fast 60---- B
A = (LNG0, LAT0)
B = (LNG0 + DLNG_KM, LAT0)
C = (LNG0, LAT0 + DLAT_KM)
D = (LNG0 + DLNG_KM, LAT0 + DLAT_KM)
NODES = np.array([[p[1], p[0]] for p in (A, B, C, D)])  # (lat, lng)


def _square(mode: str = "drive", **kw: object) -> RoadNetworkModel:
    lines = [LineString(x) for x in ([A, B], [B, D], [A, C], [C, D], [A, D])]
    return RoadNetworkModel.from_geojson_lines(lines, [60, 60, 10, 10, 5], mode=mode, **kw)  # type: ignore[arg-type]


def test_road_network_shortest_times_and_their_lengths() -> None:
    model = _square()
    metres, seconds = model.matrix(NODES, NODES)
    expected_s = np.array(
        [
            [0, 60, 360, 120],
            [60, 0, 420, 60],
            [360, 420, 0, 360],
            [120, 60, 360, 0],
        ],
        dtype=float,
    )
    np.testing.assert_allclose(seconds, expected_s, atol=0.5)
    # A -> D goes the fast way round (2 km), not the short footpath (1.41 km).
    assert metres[0, 3] == pytest.approx(2000.0, abs=1.0)
    assert metres[1, 2] == pytest.approx(2000.0, abs=1.0)
    np.testing.assert_allclose(metres, metres.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(metres), 0.0)
    assert isinstance(model, PathModel)


def test_road_network_path_follows_the_fast_roads() -> None:
    path = _square().path(NODES[0], NODES[3])
    corners = {tuple(np.round(p, 7)) for p in path}
    assert tuple(np.round(NODES[1], 7)) in corners  # via B
    assert tuple(np.round(NODES[2], 7)) not in corners
    np.testing.assert_allclose(path[0], NODES[0])
    np.testing.assert_allclose(path[-1], NODES[3])


def test_road_network_access_legs_use_the_straight_line_model() -> None:
    model = _square()
    off = 0.1 * DLAT_KM  # 100 m off the network: south of A, north of D
    o, d = [[LAT0 - off, LNG0]], [[LAT0 + DLAT_KM + off, LNG0 + DLNG_KM]]
    metres, seconds = model.matrix(o, d)
    access_m = 2 * 100.0 * 1.3
    assert metres[0, 0] == pytest.approx(2000.0 + access_m, abs=1.0)
    assert seconds[0, 0] == pytest.approx(120.0 + access_m / (30 / 3.6), abs=0.5)


def test_road_network_falls_back_to_straight_line() -> None:
    model = _square()
    sl = StraightLineModel("drive")
    # Same nearest node: the road graph has nothing between them (and a point to itself
    # is 0 apart, not twice its access leg).
    p, q = [[LAT0 + 0.05 * DLAT_KM, LNG0]], [[LAT0, LNG0 + 0.05 * DLNG_KM]]
    np.testing.assert_allclose(model.matrix(p, q)[0], sl.matrix(p, q)[0])
    np.testing.assert_allclose(model.matrix(p, p)[1], [[0.0]])
    # A separate component: no road path, so the straight line.
    far = (LNG0 + 10 * DLNG_KM, LAT0)
    lines = [LineString(x) for x in ([A, B], [B, D], [far, (far[0] + DLNG_KM, LAT0)])]
    island = RoadNetworkModel.from_geojson_lines(lines, [60, 60, 60])
    o, d = [[LAT0, LNG0]], [[LAT0, far[0]]]
    np.testing.assert_allclose(island.matrix(o, d)[1], sl.matrix(o, d)[1])
    np.testing.assert_allclose(island.path(o, d), np.vstack([o, d]))


def test_road_speeds_by_highway_class_and_mode() -> None:
    ab = [LineString([A, B])]
    a, b = NODES[:1], NODES[1:2]
    primary = RoadNetworkModel.from_geojson_lines(ab, [None], highways=["primary"])
    assert primary.matrix(a, b)[1][0, 0] == pytest.approx(
        1000 / (DEFAULT_HIGHWAY_SPEEDS_KMH["primary"] / 3.6), abs=0.5
    )
    unknown = RoadNetworkModel.from_geojson_lines(ab, [float("nan")], highways=["mystery"])
    assert unknown.matrix(a, b)[1][0, 0] == pytest.approx(120.0, abs=0.5)  # drive 30 km/h
    # Walkers keep their own pace on a 60 km/h road; e-bikes are capped at 15 km/h.
    walk = RoadNetworkModel.from_geojson_lines(ab, [60], mode="walk")
    assert walk.matrix(a, b)[1][0, 0] == pytest.approx(800.0, abs=0.5)
    ebike = RoadNetworkModel.from_geojson_lines(ab, [60], mode="ebike")
    assert ebike.matrix(a, b)[1][0, 0] == pytest.approx(240.0, abs=0.5)


def test_parallel_roads_keep_the_fastest_and_junctions_join_by_shared_vertex() -> None:
    # Two parallel A-B lines (slow and fast), then B-D as a line with a midpoint vertex.
    mid = (B[0], (B[1] + D[1]) / 2)
    lines = [LineString([A, B]), LineString([B, A]), LineString([B, mid, D])]
    model = RoadNetworkModel.from_geojson_lines(lines, [10, 60, 60])
    assert model.node_latlng.shape == (4, 2)
    metres, seconds = model.matrix(NODES[[0]], NODES[[3]])
    assert seconds[0, 0] == pytest.approx(120.0, abs=0.5)
    assert metres[0, 0] == pytest.approx(2000.0, abs=1.0)


def test_from_feature_collection_reads_properties_and_multilines() -> None:
    from shapely.geometry import MultiLineString

    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": mapping(MultiLineString([[A, B], [B, D]])),
                "properties": {"speed_kmh": 60},
            },
            {
                "type": "Feature",
                "geometry": mapping(LineString([A, C, D])),
                "properties": {"highway": "residential"},
            },
            {"type": "Feature", "geometry": None, "properties": {}},
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(A)}},
        ],
    }
    model = RoadNetworkModel.from_feature_collection(collection)
    seconds = model.matrix(NODES, NODES)[1]
    assert seconds[0, 3] == pytest.approx(120.0, abs=0.5)
    assert seconds[0, 2] == pytest.approx(1000 / (30 / 3.6), abs=0.5)


def test_road_network_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        RoadNetworkModel.from_geojson_lines([LineString([A, B])], [60, 50])
    with pytest.raises(ValueError, match="positive length"):
        RoadNetworkModel.from_geojson_lines([LineString([A, A])], [60])
    with pytest.raises(ValueError, match="unknown travel mode"):
        RoadNetworkModel.from_geojson_lines([LineString([A, B])], [60], mode="boat")


def test_road_network_matches_networkx_on_a_grid() -> None:
    """Times and the lengths of the fastest paths agree with networkx on a random grid."""
    rng = np.random.default_rng(7)
    size = 6
    lines, speeds = [], []
    for i in range(size):
        for j in range(size):
            here = (LNG0 + j * DLNG_KM, LAT0 + i * DLAT_KM)
            for di, dj in ((0, 1), (1, 0)):
                if i + di < size and j + dj < size:
                    there = (LNG0 + (j + dj) * DLNG_KM, LAT0 + (i + di) * DLAT_KM)
                    lines.append(LineString([here, there]))
                    speeds.append(float(rng.choice([10.0, 30.0, 60.0])))
    model = RoadNetworkModel.from_geojson_lines(lines, speeds)

    graph = nx.Graph()
    for line, kmh in zip(lines, speeds, strict=True):
        (x1, y1), (x2, y2) = line.coords
        length = float(haversine_m(y1, x1, y2, x2))
        graph.add_edge((y1, x1), (y2, x2), seconds=length / (kmh / 3.6), metres=length)
    nodes = list(graph.nodes)
    pts = np.array(nodes)
    metres, seconds = model.matrix(pts, pts)
    for i, src in enumerate(nodes[:8]):
        times, paths = nx.single_source_dijkstra(graph, src, weight="seconds")
        for j, dst in enumerate(nodes):
            assert seconds[i, j] == pytest.approx(times[dst], abs=1e-6)
            walk = paths[dst]
            length = sum(graph.edges[u, v]["metres"] for u, v in itertools.pairwise(walk))
            # Equal-time ties could pick paths of different lengths; random speeds on
            # unequal edges make that vanishingly unlikely, so compare exactly.
            assert metres[i, j] == pytest.approx(length, abs=1e-6)
