"""Tile routes: TileJSON, conditional requests, empty tiles, parameters, caching headers."""

from __future__ import annotations

from typing import Any

import mapbox_vector_tile
from fastapi.testclient import TestClient
from svc_county import MONTH_END, TODAY
from svc_helpers import assert_problem

from healthmap.tiles import clear_caches

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
    west, south, east, north = doc["bounds"]
    assert (round(west, 3), round(south, 3), round(east, 3), round(north, 3)) == (
        118.7,
        36.8,
        118.8,
        36.9,
    )
    fields: dict[str, Any] = doc["vector_layers"][0]["fields"]
    assert "signing_rate" in fields and "signing_rate__suppressed" in fields
    assert_problem(
        api.get("/tiles/boundaries.json", params={"hour": 1}, headers=auth["doctor1"]), 400
    )
