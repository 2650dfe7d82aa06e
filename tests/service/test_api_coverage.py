"""Planners' coverage endpoints on the small seeded county (fixtures ``api`` / ``auth``)."""

from __future__ import annotations

import math
from typing import Any

import mapbox_vector_tile
from fastapi.testclient import TestClient

from service.tiles import LAYERS

Headers = dict[str, dict[str, str]]


def test_coverage_roles_towns_and_what_if(api: TestClient, auth: Headers) -> None:
    assert api.get("/api/v1/coverage/towns", headers=auth["doctor1"]).status_code == 403
    body: dict[str, Any] = api.get("/api/v1/coverage/towns", headers=auth["planner1"]).json()
    assert body["meta"]["travel_model"] == "straight_line"
    county = [r for r in body["items"] if r["level"] == "county"]
    assert len(county) == 1
    std = api.get("/api/v1/coverage/standards", headers=auth["planner1"]).json()["items"]
    assert {"doctors_per_1000", "township_hcs"} <= {r["standard"] for r in std}
    # A clinic placed on every cell's spot cannot lower coverage.
    under = api.get("/api/v1/coverage/underserved", headers=auth["planner1"]).json()["items"]
    add = [{"lat": r["lat"], "lng": r["lng"]} for r in under[:3]]
    w = api.post("/api/v1/coverage/what-if", json={"add": add}, headers=auth["planner1"])
    assert w.status_code == 200, w.text
    c = w.json()["county"]
    gone = api.post("/api/v1/coverage/what-if", json={"close": ["NOPE"]}, headers=auth["planner1"])
    assert gone.status_code == 404
    assert c["cov_village_clinic_walk"] >= c["cov_village_clinic_walk_before"]
    if add:
        assert c["cov_village_clinic_walk"] > c["cov_village_clinic_walk_before"]


def _tile_of(lat: float, lng: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lng + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def test_coverage_tile_layers(api: TestClient, auth: Headers) -> None:
    towns = api.get("/api/v1/coverage/towns", headers=auth["planner1"]).json()
    assert towns["items"]
    cells = api.get("/api/v1/coverage/underserved", headers=auth["planner1"]).json()["items"]
    fac = api.get("/api/v1/coverage/siting", headers=auth["planner1"]).json()
    # A tile over the sub-centre (a township HC) holds its site and the travel-time cells.
    site = fac["sub_centre"][0] if fac["sub_centre"] else cells[0]
    x, y = _tile_of(site["lat"], site["lng"], 12)
    for layer in ("travel_time", "catchments", "sites", "coverage"):
        assert api.get(f"/tiles/{layer}/12/{x}/{y}.mvt", headers=auth["doctor1"]).status_code == 403
        r = api.get(f"/tiles/{layer}/12/{x}/{y}.mvt", headers=auth["planner1"])
        assert r.status_code in (200, 204), (layer, r.status_code, r.text[:200])
        if layer in ("travel_time", "sites", "catchments"):
            decoded = mapbox_vector_tile.decode(r.content)
            feats = decoded[layer]["features"]
            assert feats, layer
            allowed = set(LAYERS[layer].fields)
            assert all(set(f["properties"]) <= allowed for f in feats), layer
            if layer == "travel_time":
                props = feats[0]["properties"]
                assert any(k.startswith("t_") for k in props)  # inf (no such facility) is absent
                assert props.get("population", 10) >= 10  # small numbers absent
            if layer == "sites" and fac["sub_centre"]:
                assert "sub_centre" in {f["properties"]["kind"] for f in feats}
