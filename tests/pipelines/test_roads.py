"""Roads: the sample county's network, and ingestion of roads.geojson and .osm.pbf extracts.

The extract is written here with pyosmium's own writer, so the test needs no fixture file:
four roads, one way under construction, a river, and a way whose nodes are cut off by
the extract's border.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import osmium
import pytest
import shapely
from osmium.osm.mutable import Node, Way
from pipeline_helpers import base_delivery
from scipy.sparse import csgraph
from sqlalchemy import Engine

from geo.rules import RulesConfig
from geo.travel import RoadNetworkModel, straight_line_matrix
from pipelines.ingest.delivery import ingest_delivery
from pipelines.ingest.files import find_files
from pipelines.ingest.osm import parse_maxspeed
from pipelines.ingest.settings import IngestSettings
from pipelines.sample import geography as sg
from pipelines.sample import roads as sr
from store.roads import read_roads

BIG_WAY = 3_000_000_001  # past 2**31: the column is BIGINT on PostGIS

NODES = {
    1: (118.70, 36.80),
    2: (118.75, 36.85),
    3: (118.80, 36.90),
    4: (118.70, 36.90),
    5: (118.72, 36.82),
}


def write_extract(path: Path) -> Path:
    """A hand-made OpenStreetMap extract (nodes 98 and 99 are not in it)."""
    w = osmium.SimpleWriter(str(path))
    try:
        for nid, loc in NODES.items():
            w.add_node(Node(id=nid, location=loc))
        ways = [
            (10, [1, 2, 3], {"highway": "primary", "maxspeed": "60", "name": "羊田路"}),
            (11, [1, 4], {"highway": "track"}),
            (12, [4, 3], {"highway": "residential", "maxspeed": "CN:urban"}),
            (BIG_WAY, [2, 5], {"highway": "secondary", "maxspeed": "25 mph"}),
            (13, [1, 5], {"highway": "construction"}),
            (14, [4, 5], {"waterway": "river"}),
            (15, [98, 99], {"highway": "tertiary"}),
        ]
        for wid, nodes, tags in ways:
            w.add_way(Way(id=wid, nodes=nodes, tags=tags))
    finally:
        w.close()
    return path


def test_parse_maxspeed() -> None:
    assert parse_maxspeed("60") == "60"
    assert parse_maxspeed("60 km/h") == "60"
    assert parse_maxspeed("50;70") == "50"
    assert parse_maxspeed("25 mph") == "40.2"  # 25 x 1.609344 = 40.2336
    assert parse_maxspeed("CN:urban") == ""
    assert parse_maxspeed("none") == ""
    assert parse_maxspeed(None) == ""


def test_any_osm_extract_is_roads(tmp_path: Path) -> None:
    for name in ("shandong-latest.osm.pbf", "roads.osm.pbf", "residents.csv"):
        (tmp_path / name).write_text("x")
    files, skipped = find_files(tmp_path)
    got = {(f.name, f.table, f.fmt) for f in files}
    assert got == {
        ("residents.csv", "residents", "csv"),
        ("roads.osm.pbf", "roads", "osm"),
        ("shandong-latest.osm.pbf", "roads", "osm"),
    }
    assert skipped == []


def test_osm_extract_loads_roads(engine: Engine, tmp_path: Path, settings: IngestSettings) -> None:
    folder = base_delivery(tmp_path / "d")
    write_extract(folder / "shouguang.osm.pbf")
    s = ingest_delivery(folder, engine, settings, RulesConfig())
    assert {f.status for f in s.files} == {"loaded"}, [f.error for f in s.files]
    assert s.tables["roads"].loaded == 4 and s.quarantined == 0
    roads = read_roads(engine)
    assert roads.crs.to_epsg() == 4326
    assert roads.road_id.tolist() == [10, 11, 12, BIG_WAY]
    assert roads.highway.tolist() == ["primary", "track", "residential", "secondary"]
    assert roads.name.tolist() == ["羊田路", None, None, None]
    assert roads.speed_kmh.iloc[0] == 60.0 and roads.speed_kmh.iloc[3] == pytest.approx(40.2)
    assert np.isnan(roads.speed_kmh.iloc[1]) and np.isnan(roads.speed_kmh.iloc[2])
    assert list(roads.geometry.iloc[0].coords) == [NODES[1], NODES[2], NODES[3]]
    # the box keeps the roads that meet it: only way 10 passes through it
    assert read_roads(engine, bbox=(118.76, 36.86, 118.9, 36.89)).road_id.tolist() == [10]
    # ingesting the same extract again changes nothing
    again = ingest_delivery(folder, engine, settings, RulesConfig())
    assert len(read_roads(engine)) == 4 and again.quarantined == 0


def test_geojson_roads_load_with_names(
    engine: Engine, tmp_path: Path, settings: IngestSettings
) -> None:
    folder = base_delivery(tmp_path / "d")
    feats = [
        {
            "type": "Feature",
            "properties": {"road_id": 1, "name": "X001", "highway": "tertiary", "speed_kmh": 40},
            "geometry": {"type": "LineString", "coordinates": [[118.7, 36.8], [118.8, 36.8]]},
        },
        {
            "type": "Feature",
            "properties": {"road_id": 2, "highway": "unclassified"},
            "geometry": {"type": "LineString", "coordinates": [[118.75, 36.8], [118.75, 36.85]]},
        },
    ]
    (folder / "roads.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8"
    )
    s = ingest_delivery(folder, engine, settings, RulesConfig())
    assert s.quarantined == 0 and s.tables["roads"].loaded == 2
    roads = read_roads(engine)
    assert roads[["road_id", "name", "highway"]].values.tolist() == [
        [1, "X001", "tertiary"],
        [2, None, "unclassified"],
    ]
    assert roads.speed_kmh.iloc[0] == 40.0 and np.isnan(roads.speed_kmh.iloc[1])


def test_read_roads_of_a_county_without_roads(engine: Engine) -> None:
    roads = read_roads(engine)
    assert len(roads) == 0
    assert list(roads.columns) == ["road_id", "name", "highway", "speed_kmh", "geometry"]


# --- the sample county's network ----------------------------------------------------------


@pytest.fixture(scope="module")
def network() -> tuple[sg.Geography, dict]:
    geo = sg.build_geography(5, 0.02)
    roads = sr.build_roads(geo, 5)
    return geo, json.loads(sr.roads_geojson(geo, roads))


def test_sample_roads_are_one_noded_network(network: tuple[sg.Geography, dict]) -> None:
    geo, fc = network
    kinds = {f["properties"]["highway"] for f in fc["features"]}
    assert kinds == {"secondary", "tertiary", "residential", "unclassified"}
    ids = [f["properties"]["road_id"] for f in fc["features"]]
    assert ids == list(range(1, len(ids) + 1))
    model = RoadNetworkModel.from_feature_collection(fc)
    n_comp, _ = csgraph.connected_components(model.seconds_graph, directed=False)
    assert n_comp == 1
    # noded: no two lines cross except at a shared end
    lines = [shapely.LineString(f["geometry"]["coordinates"]) for f in fc["features"]]
    tree = shapely.STRtree(lines)
    a, b = tree.query(lines, predicate="crosses")
    assert len(a) == 0, list(zip(a[:5], b[:5], strict=True))
    # every village has its own village road
    village_roads = [f for f in fc["features"] if f["properties"]["highway"] == "unclassified"]
    assert len({f["properties"]["name"] for f in village_roads}) >= 0.9 * geo.n_villages


def test_travel_over_sample_roads_differs_from_straight_lines(
    network: tuple[sg.Geography, dict],
) -> None:
    geo, fc = network
    model = RoadNetworkModel.from_feature_collection(fc)
    lng, lat = geo.proj.to_wgs(geo.village_xy[:, 0], geo.village_xy[:, 1])
    pts = np.column_stack([lat, lng])
    metres, _ = model.matrix(pts, pts)
    straight = straight_line_matrix(pts, pts)
    far = straight > 3000.0
    ratio = metres[far] / straight[far]
    assert ratio.min() >= 0.99  # no road trip is shorter than the straight line
    assert 1.08 < np.median(ratio) < 1.5
    assert np.percentile(ratio, 90) - np.percentile(ratio, 10) > 0.1  # not a constant factor
