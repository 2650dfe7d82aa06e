"""The centre's console API: township scope, change monitoring rows, teams and runs.

On the small county of ``svc_county`` (center1 is the centre of town A: grid G01, team
T01; town B has G02 and T02).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from svc_county import TODAY, TOWN_A, TOWN_B
from svc_helpers import assert_problem

from geo.change_monitoring import MONITORED_INDICATORS
from geo.rules import DEFAULT_RULES
from pipelines.pushlist import generate_push_lists
from store.models import Followup

GRIDS, TEAMS = "/api/v1/console/grids", "/api/v1/console/teams"


def test_centre_sees_its_township_only(api: TestClient, auth: dict[str, Any]) -> None:
    r = api.get(GRIDS, headers=auth["center1"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["town_code"] == TOWN_A
    assert [g["grid_id"] for g in body["grids"]] == ["G01"]
    assert body["previous"] is not None and body["previous"] < body["as_of"]
    # Another township's ids are as unknown as ids that do not exist.
    assert_problem(api.get(GRIDS, params={"town": TOWN_B}, headers=auth["center1"]), 404)
    assert_problem(api.get(f"{GRIDS}/G02/health-index", headers=auth["center1"]), 404)
    assert_problem(api.get(f"{GRIDS}/NOPE/health-index", headers=auth["center1"]), 404)
    teams = api.get(TEAMS, params={"date": TODAY.isoformat()}, headers=auth["center1"])
    assert teams.status_code == 200, teams.text
    assert [t["team_id"] for t in teams.json()["teams"]] == ["T01"]
    assert_problem(api.get(TEAMS, params={"town": TOWN_B}, headers=auth["center1"]), 404)
    # The team list the console opens: another township's team is 404 too.
    assert_problem(api.get("/api/v1/teams/T02/pushlist", headers=auth["center1"]), 404)


def test_roles(api: TestClient, auth: dict[str, Any]) -> None:
    for user in ("doctor1", "planner1"):
        assert_problem(api.get(GRIDS, headers=auth[user]), 403)
        assert_problem(api.get(TEAMS, headers=auth[user]), 403)
        assert_problem(api.get(f"{GRIDS}/G01/health-index", headers=auth[user]), 403)
    # Bureau and admin name the township; without one, 422; an unknown one, 404.
    assert_problem(api.get(GRIDS, headers=auth["bureau1"]), 422)
    assert_problem(api.get(GRIDS, params={"town": "370783099000"}, headers=auth["bureau1"]), 404)
    r = api.get(GRIDS, params={"town": TOWN_B}, headers=auth["bureau1"])
    assert r.status_code == 200 and [g["grid_id"] for g in r.json()["grids"]] == ["G02"]
    r = api.get(TEAMS, params={"town": TOWN_B}, headers=auth["admin1"])
    assert r.status_code == 200 and [t["team_id"] for t in r.json()["teams"]] == ["T02"]


def test_change_rows_and_health_trend(api: TestClient, auth: dict[str, Any]) -> None:
    body = api.get(GRIDS, headers=auth["center1"]).json()
    grid = body["grids"][0]
    shown = [c["indicator"] for c in grid["changes"]]
    assert shown and shown == [i for i in MONITORED_INDICATORS if i in shown]  # rates only
    assert grid["health_index"] == 71.5 and grid["health_index_prev"] == 71.5
    # svc_county stores the same values at both dates: every tested change is 0 → "none".
    for c in grid["changes"]:
        assert c["flag"] == "none"
        if c["tested"]:
            assert c["z"] == 0.0 and c["p"] == 1.0 and c["difference"] == 0.0
    assert body["town"] and all(c["flag"] == "none" for c in body["town"])
    trend = api.get(f"{GRIDS}/G01/health-index", headers=auth["center1"])
    assert trend.status_code == 200, trend.text
    t = trend.json()
    assert len(t["components"]) == 7 and "1-followup_overdue_rate" in t["components"]
    assert [p["period"] for p in t["points"]] == sorted(p["period"] for p in t["points"])
    assert len(t["points"]) == 2 and t["points"][-1]["value"] == 71.5
    assert t["points"][-1]["components"]["htn_control_rate"] == 71.5


def test_teams_colours_backlog_run_and_opened(
    api: TestClient, auth: dict[str, Any], engine: Engine, api_settings: Any
) -> None:
    day, yesterday = TODAY, TODAY - dt.timedelta(days=1)
    params = {"date": day.isoformat()}
    # Before the morning run: the live list, no run, not opened.
    team = api.get(TEAMS, params=params, headers=auth["center1"]).json()["teams"][0]
    assert team["source"] == "live"
    assert (team["red"], team["yellow"], team["green"], team["total"]) == (0, 2, 1, 3)
    assert team["run"]["generated"] is False and team["run"]["opened"] is False
    assert team["closed_yesterday"] is None  # no list was generated yesterday
    # R01 due 30 days ago, R02 due 6 days ago (visit 20 days ago + 14), R03 due 16 days ago.
    assert team["backlog"] == {"d0_7": 1, "d8_30": 2, "d31_90": 0, "d91_plus": 0}

    # Yesterday's and today's morning runs; R02 (t2dm, T01) visited yesterday.
    generate_push_lists(engine, yesterday, DEFAULT_RULES)
    with Session(engine) as session:
        session.add(
            Followup(
                followup_id="FY1",
                resident_id="R02",
                disease="t2dm",
                visit_date=yesterday,
                method="home",
                fasting_glucose=6.1,
                classification="satisfactory",
                classification_source="source",
            )
        )
        session.commit()
    generate_push_lists(engine, day, DEFAULT_RULES)
    team = api.get(TEAMS, params=params, headers=auth["center1"]).json()["teams"][0]
    assert team["source"] == "snapshot" and team["run"]["generated"] is True
    assert team["run"]["entries"] == team["total"] == 2  # R02's task closed by the visit
    assert team["visits_yesterday"] == 1
    assert team["closed_yesterday"] == 1
    assert team["run"]["opened"] is False

    # The team's doctor opens its list: recorded once, shown as opened.
    assert api.get("/api/v1/teams/T01/pushlist", params=params, headers=auth["doctor1"]).is_success
    # The centre reading it does not count as the team opening it.
    team = api.get(TEAMS, params=params, headers=auth["center1"]).json()["teams"][0]
    assert team["run"]["opened"] is True and team["run"]["opened_at"] is not None
    first = team["run"]["opened_at"]
    api.get("/api/v1/teams/T01/pushlist", params=params, headers=auth["doctor1"])
    team = api.get(TEAMS, params=params, headers=auth["center1"]).json()["teams"][0]
    assert team["run"]["opened_at"] == first


def test_centre_read_is_not_an_opening(api: TestClient, auth: dict[str, Any]) -> None:
    params = {"date": TODAY.isoformat()}
    assert api.get("/api/v1/teams/T01/pushlist", params=params, headers=auth["center1"]).is_success
    team = api.get(TEAMS, params=params, headers=auth["center1"]).json()["teams"][0]
    assert team["run"]["opened"] is False
