"""Tile routes: TileJSON, conditional requests, empty tiles, parameters, caching headers."""

from __future__ import annotations

from typing import Any

import mapbox_vector_tile
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from svc_county import (
    H3_CELLS,
    MONTH_END,
    TODAY,
    TOWN_A,
    TOWN_B,
    VA1,
    VA2,
    VB1,
    VB2,
    village_box,
)
from svc_helpers import assert_problem

from service import tiles
from service.accounts import disable_user
from service.routes import tiles as tile_routes
from service.scope import units_in_town
from service.tiles import clear_caches, data_version
from service.tiles.sources import TileContext
from service.tiles.towns import in_town, unit_towns

Headers = dict[str, dict[str, str]]
TILE = "/tiles/town_indicators/10/849/399.mvt"


def test_tile_etag_304_and_headers(api: TestClient, auth: Headers) -> None:
    clear_caches()
    h = auth["bureau1"]
    r = api.get(TILE, params={"indicator": "signing_rate"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert r.headers["cache-control"].startswith("private")
    assert r.headers["vary"] == "Authorization"
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    assert etag.startswith('"') and modified.endswith("GMT")
    layer = mapbox_vector_tile.decode(r.content)["town_indicators"]
    assert {f["properties"]["unit_id"] for f in layer["features"]} == {
        "370783001000",
        "370783002000",
    }
    again = api.get(
        TILE, params={"indicator": "signing_rate"}, headers={**h, "If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    since = api.get(
        TILE, params={"indicator": "signing_rate"}, headers={**h, "If-Modified-Since": modified}
    )
    assert since.status_code == 304
    other = api.get(
        TILE, params={"indicator": "htn_control_rate"}, headers={**h, "If-None-Match": etag}
    )
    assert other.status_code == 200 and other.headers["etag"] != etag
    # Another period, another tag.
    old = api.get(TILE, params={"period": MONTH_END.isoformat()}, headers=h)
    assert old.status_code == 200 and old.headers["etag"] != etag


def test_empty_tiles_bad_parameters_and_unknown_layers(api: TestClient, auth: Headers) -> None:
    h = auth["planner1"]
    far = api.get("/tiles/town_indicators/10/0/0.mvt", headers=h)
    assert far.status_code == 204 and far.content == b"" and "etag" in far.headers
    assert_problem(api.get(TILE, params={"hour": 3}, headers=h), 400, "bad-request")
    assert_problem(api.get(TILE, params={"period": "2001-02-28"}, headers=h), 404)
    assert_problem(api.get("/tiles/nothing/10/849/399.mvt", headers=h), 404)
    assert_problem(api.get("/tiles/town_indicators/30/1/1.mvt", headers=h), 422)
    assert_problem(api.get("/tiles/town_indicators/3/99/1.mvt", headers=h), 400)


def test_tilejson(api: TestClient, auth: Headers) -> None:
    doc = api.get(
        "/tiles/town_indicators.json",
        params={"period": TODAY.isoformat()},
        headers=auth["center1"],
    ).json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"][0].startswith("http://testserver/tiles/town_indicators/{z}/{x}/{y}.mvt?")
    assert f"period={TODAY.isoformat()}" in doc["tiles"][0]
    # A centre's map opens on its township (villages VA1 and VA2), the bureau's on the county.
    town_a = shapely.union_all([village_box(VA1), village_box(VA2)]).bounds
    assert doc["bounds"] == pytest.approx(list(town_a))
    county = api.get("/tiles/town_indicators.json", headers=auth["bureau1"]).json()["bounds"]
    west, south, east, north = county
    assert (round(west, 3), round(south, 3), round(east, 3), round(north, 3)) == (
        118.7,
        36.8,
        118.8,
        36.9,
    )
    assert county != doc["bounds"]
    fields: dict[str, Any] = doc["vector_layers"][0]["fields"]
    assert "signing_rate" in fields and "signing_rate__suppressed" in fields
    assert_problem(
        api.get("/tiles/boundaries.json", params={"hour": 1}, headers=auth["doctor1"]), 400
    )


# (layer, query, units centre1 (town A) sees, units the bureau sees) in a tile that
# straddles the border of the two towns.
SCOPED = [
    ("town_indicators", {}, {TOWN_A}, {TOWN_A, TOWN_B}),
    ("village_indicators", {}, {VA1, VA2}, {VA1, VA2, VB1, VB2}),
    ("grid_indicators", {}, {"G01"}, {"G01", "G02"}),
    ("indicators", {"level": "h3:8"}, {H3_CELLS[0]}, set(H3_CELLS)),
    ("indicators", {"indicator": "signing_rate", "level": "h3:8"}, {H3_CELLS[0]}, set(H3_CELLS)),
    ("hotspots", {}, {H3_CELLS[0]}, set(H3_CELLS)),
    ("hotspots", {"level": "grid"}, {"G01"}, {"G01", "G02"}),
]
BORDER_TILE = (10, 849, 399)


def _units(api: TestClient, h: dict[str, str], layer: str, query: dict[str, str]) -> set[str]:
    z, x, y = BORDER_TILE
    r = api.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", params=query, headers=h)
    assert r.status_code == 200, r.text
    features = mapbox_vector_tile.decode(r.content)[layer]["features"]
    return {f["properties"]["unit_id"] for f in features}


def test_a_centre_sees_only_its_township_in_tiles(api: TestClient, auth: Headers) -> None:
    # Both orders, on an empty cache: a tile cached for one scope must never be served
    # to the other (the scope is part of the cache key).
    for first, second in (("center1", "bureau1"), ("bureau1", "center1")):
        clear_caches()
        for layer, query, centre_units, county_units in SCOPED:
            seen = {u: _units(api, auth[u], layer, query) for u in (first, second)}
            assert seen["center1"] == centre_units, (layer, query)
            assert seen["bureau1"] == county_units, (layer, query)
    # Scoped and county tiles have different ETags; unscoped layers are the same for both.
    z, x, y = BORDER_TILE
    tags = {
        (layer, u): api.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", headers=auth[u]).headers["etag"]
        for layer in ("grid_indicators", "boundaries")
        for u in ("center1", "bureau1", "planner1")
    }
    assert tags["grid_indicators", "center1"] != tags["grid_indicators", "bureau1"]
    assert tags["grid_indicators", "planner1"] == tags["grid_indicators", "bureau1"]
    assert tags["boundaries", "center1"] == tags["boundaries", "bureau1"]


def test_tile_townships_agree_with_the_api_scope(engine: Engine, county: Any) -> None:
    ctx = TileContext(engine, tiles.get_layer("grid_indicators"), 0, 0, 0, {}, data_version(engine))
    with Session(engine) as session:
        for level in ("grid", "village"):
            for town in (TOWN_A, TOWN_B):
                mine = {u for u, t in unit_towns(ctx, level).items() if t == town}
                assert mine == units_in_town(session, level, town), (level, town)
    assert list(in_town(ctx, "h3:8", list(H3_CELLS), TOWN_A)) == [True, False]


def test_a_disabled_account_loses_its_tiles_within_the_recheck_time(
    api: TestClient, auth: Headers, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = auth["planner1"]
    assert api.get(TILE, headers=h).status_code == 200
    with Session(engine) as session:
        disable_user(session, "planner1")
    # Within the recheck time the account is not read again: the tile is still served.
    assert api.get(TILE, headers=h).status_code == 200
    monkeypatch.setattr(tile_routes, "ACCOUNT_RECHECK_SECONDS", 0.0)
    assert_problem(api.get(TILE, headers=h), 401, "unauthorized")
    assert_problem(api.get("/tiles/town_indicators.json", headers=h), 401, "unauthorized")
    # The token itself is still checked on every request.
    assert_problem(api.get(TILE, headers={"Authorization": "Bearer x.y.z"}), 401)
    assert_problem(api.get(TILE), 401)
