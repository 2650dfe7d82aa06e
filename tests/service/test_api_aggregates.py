"""Aggregates over HTTP: meta, indicators, the health index, hotspots, burden, exports, search.

Small-number suppression happens in the build; the API must serve stored rows as they are.
``svc_county`` stores some rows suppressed (value, numerator and denominator null), and the
tests check that nothing of them shows up anywhere, in any format.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fastapi.testclient import TestClient
from svc_county import (
    INDICATORS,
    MONTH_END,
    SUPPRESSED_UNITS,
    TODAY,
    TOWN_A,
    TOWN_B,
    VA1,
    VA2,
)
from svc_helpers import assert_problem

Headers = dict[str, dict[str, str]]


def test_meta_describes_the_build_and_the_caller(api: TestClient, auth: Headers) -> None:
    body = api.get("/api/v1/meta", headers=auth["center1"]).json()
    assert body["as_of"] == TODAY.isoformat() and body["build_id"]
    assert body["periods"] == [TODAY.isoformat(), MONTH_END.isoformat()]
    assert "grid" in body["levels"] and body["town_scoped_levels"] == ["grid", "team", "village"]
    codes = {i["code"]: i for i in body["indicators"]}
    assert codes["htn_control_rate"]["name_zh"] == "管理人群血压控制率"
    assert all(i["name_en"] and i["name_zh"] for i in body["indicators"])
    assert "htn_prevalence" in body["hotspot_indicators"]
    assert body["user"] == {
        "username": "center1",
        "role": "chronic_center",
        "team_id": None,
        "town_code": TOWN_A,
        "scope": f"town:{TOWN_A}",
    }
    layers = {layer["name"] for layer in body["layers"]}
    assert "indicators" in layers and "mobility" not in layers
    doctor = api.get("/api/v1/meta", headers=auth["doctor1"]).json()
    assert doctor["levels"] == [] and doctor["user"]["scope"] == "team:T01"
    assert {layer["name"] for layer in doctor["layers"]} == {"boundaries", "facilities"}


def test_meta_before_the_first_build(
    api: TestClient, auth: Headers, engine: Any, backend: str
) -> None:
    from sqlalchemy import delete

    from store.results import BuildCurrent

    with engine.begin() as conn:
        conn.execute(delete(BuildCurrent))
    body = api.get("/api/v1/meta", headers=auth["bureau1"]).json()
    assert body["as_of"] is None and body["periods"] == []
    r = api.get("/api/v1/indicators", params={"level": "town"}, headers=auth["bureau1"])
    assert "built" in assert_problem(r, 404, "not-found")["detail"]


def test_indicator_list_filters_pages_and_periods(api: TestClient, auth: Headers) -> None:
    get = lambda **p: api.get("/api/v1/indicators", params=p, headers=auth["bureau1"])  # noqa: E731
    town = get(level="town").json()
    assert town["total"] == 2 * len(INDICATORS) and town["period"] == TODAY.isoformat()
    assert [(i["unit_id"], i["indicator"]) for i in town["items"]] == sorted(
        (u, i) for u in (TOWN_A, TOWN_B) for i in INDICATORS
    )
    page = get(level="town", limit=2, offset=3).json()
    assert page["total"] == 6 and page["items"] == town["items"][3:5]
    one = get(level="village", indicator="signing_rate", unit_id=VA1).json()
    assert [(i["unit_id"], i["indicator"]) for i in one["items"]] == [(VA1, "signing_rate")]
    old = get(level="county", period=MONTH_END.isoformat()).json()
    assert old["period"] == MONTH_END.isoformat() and old["total"] == len(INDICATORS)
    body = assert_problem(get(level="town", period="2001-01-31"), 422, "invalid")
    assert body["errors"][0]["loc"] == "query.period" and TODAY.isoformat() in body["detail"]
    assert_problem(get(level="nowhere"), 422)
    assert_problem(get(level="town", indicator="no_such_rate"), 422)
    assert_problem(get(level="town", limit=0), 422)
    assert_problem(get(level="town", limit=100_000), 422)


def test_centre_sees_only_its_townships_grids_villages_and_teams(
    api: TestClient, auth: Headers
) -> None:
    def units(user: str, level: str) -> set[str]:
        r = api.get(
            "/api/v1/indicators", params={"level": level, "limit": 5000}, headers=auth[user]
        )
        return {i["unit_id"] for i in r.json()["items"]}

    assert units("center1", "grid") == {"G01"} and units("bureau1", "grid") == {"G01", "G02"}
    assert units("center1", "village") == {VA1, VA2}
    assert units("center1", "team") == {"T01"}
    # County-wide suppressed aggregates are open to the centre like to the bureau.
    assert units("center1", "town") == {TOWN_A, TOWN_B}
    assert units("center1", "h3:8") == units("bureau1", "h3:8")
    index = api.get("/api/v1/health-index", headers=auth["center1"]).json()
    assert [i["grid_id"] for i in index["items"]] == ["G01"]
    hot = api.get(
        "/api/v1/hotspots",
        params={"indicator": "htn_prevalence", "level": "grid"},
        headers=auth["center1"],
    ).json()
    assert [i["unit_id"] for i in hot["items"]] == ["G01"]
    csv_ = api.get(
        "/api/v1/export/indicators.csv", params={"level": "team"}, headers=auth["center1"]
    )
    assert "T02" not in csv_.text and "T01" in csv_.text


def test_unit_detail_has_every_indicator_trend_and_index(api: TestClient, auth: Headers) -> None:
    body = api.get("/api/v1/indicators/grid/G01", headers=auth["planner1"]).json()
    assert body["name"] == "东西关网格" and body["period"] == TODAY.isoformat()
    assert {i["indicator"] for i in body["indicators"]} == set(INDICATORS)
    for item in body["indicators"]:
        assert [p["period"] for p in item["trend"]] == [MONTH_END.isoformat(), TODAY.isoformat()]
        assert item["value"] == item["trend"][-1]["value"]
    assert body["health_index"]["grid_id"] == "G01" and body["health_index"]["value"] == 71.5
    old = api.get(
        "/api/v1/indicators/town/" + TOWN_B,
        params={"period": MONTH_END.isoformat()},
        headers=auth["planner1"],
    ).json()
    assert old["period"] == MONTH_END.isoformat() and old["health_index"] is None
    h3 = api.get("/api/v1/indicators/h3:8/8830a5570bfffff", headers=auth["bureau1"])
    assert h3.status_code == 200 and h3.json()["name"] is None
    assert_problem(api.get("/api/v1/indicators/grid/G77", headers=auth["bureau1"]), 404)


def test_no_suppressed_value_leaks_anywhere(api: TestClient, auth: Headers) -> None:
    h = auth["bureau1"]
    for level, unit in SUPPRESSED_UNITS:
        listing = api.get("/api/v1/indicators", params={"level": level, "limit": 5000}, headers=h)
        rows = [i for i in listing.json()["items"] if i["unit_id"] == unit]
        assert rows and all(
            r["suppressed"]
            and r["value"] is None
            and r["numerator"] is None
            and r["denominator"] is None
            and r["suppression_reason"] == "denominator_below_k"
            for r in rows
        )
        detail = api.get(f"/api/v1/indicators/{level}/{unit}", headers=h).json()
        for item in detail["indicators"]:
            assert item["value"] is None and item["numerator"] is None
            assert all(p["value"] is None and p["numerator"] is None for p in item["trend"])
        exported = api.get("/api/v1/export/indicators.csv", params={"level": level}, headers=h)
        for row in csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))):
            if row["unit_id"] == unit:
                assert row["value"] == row["numerator"] == row["denominator"] == ""
                assert row["suppressed"] == "True"
        if not level.startswith("h3"):
            geo = api.get(
                "/api/v1/export/indicators.geojson", params={"level": level}, headers=h
            ).json()
            props = [f["properties"] for f in geo["features"] if f["id"] == unit]
            assert props and all(p["value"] is None and p["numerator"] is None for p in props)
    hot = api.get("/api/v1/hotspots", params={"indicator": "htn_prevalence"}, headers=h).json()
    hidden = [i for i in hot["items"] if i["suppressed"]]
    assert hidden and all(i["rate"] is None and i["numerator"] is None for i in hidden)
    assert all(i["smoothed_rate"] is not None for i in hidden)  # model estimates stay


def test_hotspots_geojson_and_burden(api: TestClient, auth: Headers) -> None:
    h = auth["bureau1"]
    r = api.get(
        "/api/v1/hotspots",
        params={"indicator": "htn_prevalence", "level": "grid", "format": "geojson"},
        headers=h,
    )
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and {f["id"] for f in fc["features"]} == {"G01", "G02"}
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in fc["features"])
    cells = api.get(
        "/api/v1/hotspots", params={"indicator": "htn_prevalence", "format": "geojson"}, headers=h
    ).json()
    assert len(cells["features"]) == 2
    assert_problem(api.get("/api/v1/hotspots", params={"indicator": "x"}, headers=h), 422)
    burden = api.get("/api/v1/burden", params={"town": TOWN_B}, headers=h).json()
    assert {i["town_code"] for i in burden["items"]} == {TOWN_B} and len(burden["items"]) == 2
    assert api.get("/api/v1/burden", headers=h).json()["items"][0]["rank_visits"] == 1


def test_exports_are_named_audited_and_excel_safe(
    api: TestClient, auth: Headers, engine: Any
) -> None:
    r = api.get(
        "/api/v1/export/indicators.csv",
        params={"level": "village", "indicator": "signing_rate"},
        headers=auth["bureau1"],
    )
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == (
        f'attachment; filename="indicators_village_{TODAY}.csv"'
    )
    assert r.text.startswith("\ufefflevel,unit_id,unit_name")
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert {row["unit_name"] for row in rows} == {"东关村", "西关村", "南园村", "北园村"}
    geo = api.get(
        "/api/v1/export/indicators.geojson", params={"level": "town"}, headers=auth["bureau1"]
    )
    assert geo.headers["content-type"].startswith("application/geo+json")
    assert len(json.loads(geo.text)["features"]) == 2 * len(INDICATORS)
    audit = api.get("/admin/audit", params={"action": "export"}, headers=auth["admin1"]).json()[
        "items"
    ]
    assert [a["detail"]["level"] for a in audit] == ["town", "village"]
    assert audit[1]["detail"]["rows"] == 4 and audit[1]["username"] == "bureau1"


def test_search_finds_places_never_people(api: TestClient, auth: Headers) -> None:
    def hits(q: str, user: str = "doctor1") -> list[dict[str, Any]]:
        r = api.get("/api/v1/search", params={"q": q}, headers=auth[user])
        assert r.status_code == 200
        return r.json()["items"]

    found = hits("关")
    assert [(h["code"], h["level"]) for h in found] == [
        (VA1, "village"),
        (VA2, "village"),
        ("G01", "grid"),
    ]
    assert found[0]["town_code"] == TOWN_A and len(found[0]["bbox"]) == 4
    assert found[2]["bbox"] == [118.7, 36.8, 118.75, 36.9]  # the grid: its two villages
    assert [h["level"] for h in hits("街道")] == ["town", "town"]
    assert [h["code"] for h in hits("37078300200")] == [TOWN_B, "370783002001", "370783002002"]
    assert hits("张三丰") == [] and hits("R01") == []  # residents are never searchable
    assert hits("%") == [] and hits("_") == []  # LIKE wildcards are literal
    assert_problem(api.get("/api/v1/search", params={"q": ""}, headers=auth["bureau1"]), 422)
