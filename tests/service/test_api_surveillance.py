"""The early warning over HTTP: alerts, risk cells, vaccination targets and their counts.

Rows are the hand-built ones of ``svc_county.surveillance_rows`` (k = 10): small numbers
withheld, a centre cut to its township, a doctor to its team, names masked for a centre,
every personal read audited.
"""

from __future__ import annotations

from typing import Any

import mapbox_vector_tile
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from svc_county import COUNTY, H3_A2, H3_CELLS, SECRET_NAME, SECRET_PHONE, TODAY, TOWN_A, TOWN_B
from svc_helpers import assert_problem

from service.routes.surveillance import withheld
from service.tiles import clear_caches
from store.results import Build, BuildCurrent

Headers = dict[str, dict[str, str]]


def get(api: TestClient, auth: Headers, user: str, path: str, **params: Any) -> dict[str, Any]:
    r = api.get(path, params=params, headers=auth[user])
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def audit_log(api: TestClient, auth: Headers, **params: Any) -> list[dict[str, Any]]:
    return api.get("/admin/audit", params=params, headers=auth["admin1"]).json()["items"]


def test_alerts_withhold_the_relative_risk_of_small_counts(api: TestClient, auth: Headers) -> None:
    page = get(api, auth, "bureau1", "/api/v1/alerts")
    assert page["total"] == 5 and page["k"] == 10 and page["as_of"] == TODAY.isoformat()
    by_id = {a["alert_id"]: a for a in page["items"]}
    assert by_id[1]["relative_risk"] == 3.4 and by_id[1]["suppressed"] is False
    assert by_id[1]["suppression_reason"] is None and by_id[1]["cells"] == [H3_CELLS[0]]
    small = by_id[2]
    assert small["relative_risk"] is None and small["suppressed"] is True
    assert small["suppression_reason"] == "count_below_k"
    assert small["observed"] == 4.0 and small["expected"] == 0.5  # counts stay
    assert small["p_value"] == 0.03 and small["llr"] == 5.5
    # EARS alerts have no relative risk; one below k is marked as such all the same.
    assert by_id[3]["suppressed"] is False and by_id[4]["suppressed"] is True
    assert by_id[5]["area_id"] == COUNTY
    assert "8.5" not in api.get("/api/v1/alerts", headers=auth["bureau1"]).text


def test_alert_filters_and_pages(api: TestClient, auth: Headers) -> None:
    def ids(**params: Any) -> list[int]:
        return [
            a["alert_id"] for a in get(api, auth, "admin1", "/api/v1/alerts", **params)["items"]
        ]

    assert ids(kind="ears") == [3, 4, 5]
    assert ids(kind="scan") == [1, 2]
    assert ids(method="C1") == [3]
    assert ids(area_level="county") == [5]
    assert ids(day=TODAY.isoformat()) == [1, 2, 3, 4, 5]
    assert ids(day="2020-01-01") == []
    page = get(api, auth, "admin1", "/api/v1/alerts", limit=2, offset=1)
    assert [a["alert_id"] for a in page["items"]] == [2, 3]
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    for bad in ({"kind": "other"}, {"limit": 0}, {"limit": 1001}, {"day": "soon"}):
        assert_problem(api.get("/api/v1/alerts", params=bad, headers=auth["bureau1"]), 422)


def test_a_centre_sees_its_township_alerts_and_the_county(api: TestClient, auth: Headers) -> None:
    page = get(api, auth, "center1", "/api/v1/alerts")
    # The scan cluster in town A, town A's EARS alert, the county's; not town B's two.
    assert [a["alert_id"] for a in page["items"]] == [1, 3, 5] and page["total"] == 3
    assert get(api, auth, "center1", "/api/v1/alerts", kind="scan")["total"] == 1


def test_risk_cells_withhold_rates_and_their_counts(api: TestClient, auth: Headers) -> None:
    page = get(api, auth, "bureau1", "/api/v1/risk-cells")
    assert [c["h3"] for c in page["items"]] == [H3_CELLS[0], H3_A2, H3_CELLS[1]]  # by score
    shown, few_cases, few_people = page["items"]
    assert shown["rate_per_1000"] == 40.0 and shown["residents"] == 300
    assert shown["recent_cases"] == 12 and shown["suppressed"] is False
    assert few_cases["suppression_reason"] == "count_below_k"
    assert few_people["suppression_reason"] == "denominator_below_k"
    for cell in (few_cases, few_people):
        assert cell["suppressed"] is True
        for name in ("rate_per_1000", "residents", "recent_cases", "rate_score", "mobility_share"):
            assert cell[name] is None, name
        assert cell["score"] is not None and cell["at_risk"] in (True, False)
    at_risk = get(api, auth, "bureau1", "/api/v1/risk-cells", at_risk="true")
    assert {c["h3"] for c in at_risk["items"]} == {H3_CELLS[0], H3_A2}
    assert get(api, auth, "planner1", "/api/v1/risk-cells", limit=1)["total"] == 3
    centre = get(api, auth, "center1", "/api/v1/risk-cells")
    assert {c["h3"] for c in centre["items"]} == {H3_CELLS[0], H3_A2} and centre["total"] == 2


def test_vaccination_targets_of_a_doctor_are_its_team_in_full(
    api: TestClient, auth: Headers
) -> None:
    page = get(api, auth, "doctor1", "/api/v1/vaccination-targets")
    assert page["team_ids"] == ["T01"] and page["masked"] is False and page["total"] == 4
    by_id = {t["resident_id"]: t for t in page["items"]}
    assert set(by_id) == {"R01", "R02", "R03", "R06"}
    assert by_id["R01"]["name"] == SECRET_NAME and by_id["R01"]["phone"] == SECRET_PHONE
    assert "lat" not in by_id["R01"]
    other = get(api, auth, "doctor2", "/api/v1/vaccination-targets")
    assert [t["resident_id"] for t in other["items"]] == ["R04"]
    # Another team is 404, exactly like an unknown one.
    t02 = api.get("/api/v1/vaccination-targets?team=T02", headers=auth["doctor1"])
    t99 = api.get("/api/v1/vaccination-targets?team=T99", headers=auth["doctor1"])
    a, b = assert_problem(t02, 404), assert_problem(t99, 404)
    assert (a["type"], a["detail"]) == (b["type"], b["detail"])
    read = audit_log(api, auth, action="read")
    mine = [e for e in read if e["resource_type"] == "vaccination_targets"]
    assert mine[-1]["username"] == "doctor1" and mine[-1]["detail"]["masked"] is False
    assert sorted(mine[-1]["detail"]["resident_ids"]) == ["R01", "R02", "R03", "R06"]
    assert all(SECRET_NAME not in str(e) and SECRET_PHONE not in str(e) for e in read)


def test_a_centre_sees_its_teams_masked_unless_it_gives_a_reason(
    api: TestClient, auth: Headers
) -> None:
    r = api.get("/api/v1/vaccination-targets", headers=auth["center1"])
    assert r.status_code == 200 and SECRET_NAME not in r.text and SECRET_PHONE not in r.text
    page = r.json()
    assert page["team_ids"] == ["T01"] and page["masked"] is True  # town B's T02 left out
    r01 = next(t for t in page["items"] if t["resident_id"] == "R01")
    assert r01["name"] == SECRET_NAME[0] + "**" and r01["phone"] == "138****5678"
    assert_problem(api.get("/api/v1/vaccination-targets?team=T02", headers=auth["center1"]), 404)
    assert_problem(api.get("/api/v1/vaccination-targets?unmask=true", headers=auth["center1"]), 422)
    full = get(
        api,
        auth,
        "center1",
        "/api/v1/vaccination-targets",
        unmask="true",
        reason="流感疫苗电话预约",
    )
    assert full["masked"] is False
    assert any(t["name"] == SECRET_NAME for t in full["items"])
    entry = next(
        e
        for e in audit_log(api, auth, action="read")
        if e["resource_type"] == "vaccination_targets" and e["detail"].get("unmasked")
    )
    assert entry["username"] == "center1" and entry["detail"]["reason"] == "流感疫苗电话预约"
    assert entry["endpoint"] == "GET /api/v1/vaccination-targets"
    for role in ("bureau1", "planner1", "admin1"):
        assert_problem(api.get("/api/v1/vaccination-targets", headers=auth[role]), 403)


def test_target_counts_per_team_and_town_withhold_small_numbers(
    api: TestClient, auth: Headers
) -> None:
    page = get(api, auth, "bureau1", "/api/v1/vaccination-targets/summary")
    rows = {(r["level"], r["team_id"], r["town_code"]): r for r in page["items"]}
    assert set(rows) == {
        ("team", "T01", TOWN_A),
        ("team", "T02", TOWN_B),
        ("town", None, TOWN_A),
        ("town", None, TOWN_B),
        ("county", None, None),
    }
    t01 = rows[("team", "T01", TOWN_A)]
    assert t01["people"] is None and t01["households"] is None  # 4 people, 4 households
    assert set(t01["suppressed"]) == {"households", "people", "people_age", "people_managed"}
    county = rows[("county", None, None)]
    assert county["people"] == 5 and county["households"] == 5  # the county total is shown
    assert county["people_age"] is None and county["people_managed"] is None  # 4 and 1
    centre = get(api, auth, "center1", "/api/v1/vaccination-targets/summary")
    assert {(r["level"], r["town_code"]) for r in centre["items"]} == {
        ("team", TOWN_A),
        ("town", TOWN_A),
    }
    assert_problem(api.get("/api/v1/vaccination-targets/summary", headers=auth["doctor1"]), 403)


def test_withheld_counts_cannot_be_had_by_subtraction() -> None:
    assert withheld({"a": 3, "b": 20, "c": 15}, 10, total_shown=True) == {"a", "c"}
    assert withheld({"a": 3, "b": 20, "c": 15}, 10, total_shown=False) == {"a"}
    assert withheld({"a": 3, "b": 4, "c": 15}, 10, total_shown=True) == {"a", "b"}
    assert withheld({"a": 0, "b": 20}, 10, total_shown=True) == set()  # zero is no person
    assert withheld({"a": 3, "b": 0}, 10, total_shown=True) == {"a"}  # nothing else to hide


def test_k_is_the_one_the_build_ran_with(api: TestClient, auth: Headers, engine: Engine) -> None:
    # The build records k = 30 while the service's settings say 10: alert 1 (observed 25)
    # loses its relative risk too, in the API and in the tiles alike.
    with engine.begin() as conn:
        build_id = conn.execute(select(BuildCurrent.build_id)).scalar_one()
        summary = conn.execute(select(Build.summary).where(Build.build_id == build_id)).scalar()
        conn.execute(
            update(Build)
            .where(Build.build_id == build_id)
            .values(summary={**summary, "suppression_k": 30})
        )
    clear_caches()
    page = get(api, auth, "bureau1", "/api/v1/alerts")
    assert page["k"] == 30
    first = next(a for a in page["items"] if a["alert_id"] == 1)
    assert first["observed"] == 25 and first["relative_risk"] is None
    assert first["suppression_reason"] == "count_below_k"
    r = api.get("/tiles/alerts/10/849/399.mvt", headers=auth["bureau1"])
    assert r.status_code == 200, r.text
    cells = [
        f["properties"]
        for f in mapbox_vector_tile.decode(r.content)["alerts"]["features"]
        if f["properties"]["alert_id"] == 1
    ]
    assert cells and all("relative_risk" not in p for p in cells)
    assert all(p["suppression_reason"] == "count_below_k" for p in cells)
