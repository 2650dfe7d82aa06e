"""The authorization matrix: every endpoint × every role, allowed and denied.

The routes are enumerated from the app, so an endpoint added without a row here fails
:func:`test_every_endpoint_has_a_matrix_row`. Each non-public row holds a case for every
role and for an anonymous caller, including the scope cases: a doctor of team T01 asking
for T02's list, route, patient or task (404), the centre of town A asking for town B's team
or grid (404), bureau/planner/admin asking for anything personal (403), no token (401).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from svc_county import TODAY, days
from svc_education import ITEM_BODY, MATRIX_RESIDENT, seed_matrix_education
from svc_helpers import token_headers

from pipelines.province import publish_county
from service.jobs import Job, JobRegistry, new_job_id
from service.terminal_auth import signed_headers

#: ``resident1`` is R01's own account (svc_county.RESIDENT_USERS; docs/residents.md): every
#: staff endpoint is 403 to it, another resident's anything 404.
#: ``province1`` is the province's bureau (geo.vocabulary.PROVINCE_ROLE): the province's
#: aggregate routes and nothing of a county's (docs/province.md).
ROLES = ("doctor1", "center1", "bureau1", "planner1", "admin1", "resident1", "province1")
ANON = None
#: A terminal's signed request (service.terminal_auth), made per case by the test.
TERMINAL = "terminal1"


@dataclass
class Case:
    user: str | None
    status: int
    path: str | None = None  # default: the row's example path
    json: Any = None
    files: Any = None


@dataclass
class Row:
    path: str
    cases: list[Case]
    public: bool = False
    kwargs: dict[str, Any] = field(default_factory=dict)


def only(allowed: dict[str, int], default: int = 403) -> list[Case]:
    """Cases for every role: ``allowed`` statuses, ``default`` for the rest, 401 anonymous."""
    return [Case(u, allowed.get(u, default)) for u in ROLES] + [Case(ANON, 401)]


AGG = {"center1": 200, "bureau1": 200, "planner1": 200, "admin1": 200}
ALL = {u: 200 for u in ROLES}
ADMIN = {"admin1": 200}
PROVINCE = {"admin1": 200, "province1": 200}
PLANNING = {"bureau1": 200, "planner1": 200, "admin1": 200}
#: Who writes and reviews health education (geo.vocabulary EDUCATION_*_ROLES).
EDU_STAFF = {"doctor1": 200, "center1": 200, "bureau1": 200, "admin1": 200}
NOTE = {"note": "请补充饮食建议"}
RENDER = {"body_markdown": "**少盐**"}
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def reading(rid: str, mid: str) -> dict[str, Any]:
    return {
        "measurement_id": mid,
        "resident_id": rid,
        "measured_at": NOW.isoformat(),
        "sbp": 130,
        "dbp": 80,
    }


def visit(rid: str, fid: str, disease: str = "htn") -> dict[str, Any]:
    return {
        "followup_id": fid,
        "resident_id": rid,
        "disease": disease,
        "visit_date": TODAY.isoformat(),
        "sbp": 128,
        "dbp": 78,
    }


#: A terminal's reading (service/routes/terminals.py).
TERMINAL_READING = {
    "measurement_id": "TM-M1-1",
    "measured_at": NOW.isoformat(),
    "resident_id": "R01",
    "values": {"sbp": 130, "dbp": 80},
}

DISMISS = {
    "resident_id": "R03",
    "disease": "htn",
    "task_code": "first_followup",
    "due_date": (days(30) + dt.timedelta(days=14)).isoformat(),
    "reason": "已转上级医院",
}
#: A resident's home reading (POST /api/v1/me/readings).
HOME_READING = {"sbp": 131, "dbp": 82}
#: Query of a centre's unmasked list (the reason is required).
UNMASK = "unmask=true&reason=" + "电话随访失访患者"
CSV_FILE = {"files": ("teams.csv", b"team_id,name,facility_id\nT09,nine,F01\n", "text/csv")}


def care(other: str) -> list[Case]:
    """A team-scoped personal-data row: own team 200, the other team 404."""
    return [
        Case("doctor1", 200),
        Case("doctor1", 404, path=other),
        Case("center1", 200),
        Case("center1", 404, path=other),
        Case("bureau1", 403),
        Case("planner1", 403),
        Case("admin1", 403),
        Case("resident1", 403),
        Case(ANON, 401),
    ]


def review_cases(step: str, items: tuple[str, str, str], body: Any = None) -> list[Case]:
    """A health-education review step: centre, bureau and admin each on an item of their
    own (a step changes the item's state), the centre 404 on town B's, the others 403."""
    reviewers = ("center1", "bureau1", "admin1")
    path = "/api/v1/education/items/{}/" + step
    return [
        *[
            Case(u, 200, path=path.format(i), json=body)
            for u, i in zip(reviewers, items, strict=True)
        ],
        *[Case(u, 403, json=body) for u in ROLES if u not in reviewers],
        Case("center1", 404, path=path.format("EM-B1"), json=body),
        Case(ANON, 401, json=body),
    ]


MATRIX: dict[tuple[str, str], Row] = {
    # Public probes, docs and login.
    ("GET", "/healthz"): Row("/healthz", [Case(ANON, 200)], public=True),
    ("GET", "/readyz"): Row("/readyz", [Case(ANON, 200)], public=True),
    ("GET", "/problems/{slug}"): Row("/problems/not-found", [Case(ANON, 200)], public=True),
    ("GET", "/docs"): Row("/docs", [Case(ANON, 200)], public=True),
    ("GET", "/docs/assets/{name}"): Row(
        "/docs/assets/swagger-ui.css", [Case(ANON, 200)], public=True
    ),
    ("POST", "/auth/token"): Row(
        "/auth/token",
        [Case(ANON, 401)],
        public=True,
        kwargs={"data": {"username": "x", "password": "y"}},
    ),
    ("POST", "/auth/refresh"): Row(
        "/auth/refresh", [Case(ANON, 401, json={"refresh_token": "nope"})], public=True
    ),
    ("GET", "/auth/me"): Row("/auth/me", only(ALL)),
    ("GET", "/admin/audit"): Row("/admin/audit", only(ADMIN)),
    # Overview.
    ("GET", "/api/v1/meta"): Row("/api/v1/meta", only(ALL)),
    ("GET", "/api/v1/search"): Row("/api/v1/search?q=村", only(ALL)),
    ("GET", "/api/v1/vocabulary"): Row("/api/v1/vocabulary", only(ALL)),
    # The province (what the county published: aggregates only).
    ("GET", "/api/v1/counties"): Row("/api/v1/counties", [Case(ANON, 200)], public=True),
    ("GET", "/api/v1/province/meta"): Row("/api/v1/province/meta", only(PROVINCE)),
    ("GET", "/api/v1/province/ranking"): Row(
        "/api/v1/province/ranking?indicator=signing_rate", only(PROVINCE)
    ),
    ("GET", "/api/v1/province/map"): Row(
        "/api/v1/province/map?indicator=signing_rate&county=370783", only(PROVINCE)
    ),
    # Aggregates.
    ("GET", "/api/v1/indicators"): Row("/api/v1/indicators?level=town", only(AGG)),
    ("GET", "/api/v1/indicators/{level}/{unit_id}"): Row(
        "/api/v1/indicators/grid/G01",
        [
            *only(AGG),
            Case("center1", 404, path="/api/v1/indicators/grid/G02"),
            Case("center1", 404, path="/api/v1/indicators/team/T02"),
            Case("center1", 200, path="/api/v1/indicators/town/370783002000"),
            Case("bureau1", 200, path="/api/v1/indicators/grid/G02"),
            Case("bureau1", 404, path="/api/v1/indicators/grid/G99"),
        ],
    ),
    ("GET", "/api/v1/health-index"): Row("/api/v1/health-index", only(AGG)),
    ("GET", "/api/v1/hotspots"): Row("/api/v1/hotspots?indicator=htn_prevalence", only(AGG)),
    ("GET", "/api/v1/burden"): Row("/api/v1/burden", only(AGG)),
    ("GET", "/api/v1/export/indicators.csv"): Row(
        "/api/v1/export/indicators.csv?level=team", only(AGG)
    ),
    ("GET", "/api/v1/export/indicators.geojson"): Row(
        "/api/v1/export/indicators.geojson?level=grid", only(AGG)
    ),
    # Early warning: aggregates, and the vaccination targets (personal data).
    ("GET", "/api/v1/alerts"): Row(
        "/api/v1/alerts",
        [*only(AGG), Case("center1", 200, path="/api/v1/alerts?kind=scan&limit=5")],
    ),
    ("GET", "/api/v1/risk-cells"): Row("/api/v1/risk-cells?at_risk=true", only(AGG)),
    ("GET", "/api/v1/vaccination-targets/summary"): Row(
        "/api/v1/vaccination-targets/summary", only(AGG)
    ),
    ("GET", "/api/v1/vaccination-targets"): Row(
        "/api/v1/vaccination-targets",
        [
            *care("/api/v1/vaccination-targets?team=T02"),
            Case("doctor1", 200, path="/api/v1/vaccination-targets?team=T01"),
            Case("doctor1", 404, path="/api/v1/vaccination-targets?team=T99"),
            Case("doctor2", 404, path="/api/v1/vaccination-targets?team=T01"),
            Case("center1", 200, path=f"/api/v1/vaccination-targets?team=T01&{UNMASK}"),
            Case("center1", 422, path="/api/v1/vaccination-targets?unmask=true"),
            Case("center1", 404, path=f"/api/v1/vaccination-targets?team=T02&{UNMASK}"),
            Case("bureau1", 403, path=f"/api/v1/vaccination-targets?team=T01&{UNMASK}"),
        ],
    ),
    # Care teams (personal data).
    ("GET", "/api/v1/teams/{team_id}/pushlist"): Row(
        "/api/v1/teams/T01/pushlist",
        [
            *care("/api/v1/teams/T02/pushlist"),
            # Unmasking: a centre inside its township with a reason; never without one,
            # never outside its township (404 as ever), never for the other roles.
            Case("center1", 200, path=f"/api/v1/teams/T01/pushlist?{UNMASK}"),
            Case("center1", 200, path=f"/api/v1/teams/T01/pushlist?format=csv&{UNMASK}"),
            Case("center1", 422, path="/api/v1/teams/T01/pushlist?unmask=true"),
            Case("center1", 422, path="/api/v1/teams/T01/pushlist?unmask=true&reason=%20%20%20%20"),
            Case("center1", 404, path=f"/api/v1/teams/T02/pushlist?{UNMASK}"),
            Case("center1", 404, path=f"/api/v1/teams/T99/pushlist?{UNMASK}"),
            Case("doctor1", 200, path=f"/api/v1/teams/T01/pushlist?{UNMASK}"),
            Case("doctor1", 404, path=f"/api/v1/teams/T02/pushlist?{UNMASK}"),
            Case("bureau1", 403, path=f"/api/v1/teams/T01/pushlist?{UNMASK}"),
            Case("planner1", 403, path=f"/api/v1/teams/T01/pushlist?{UNMASK}"),
            Case("admin1", 403, path=f"/api/v1/teams/T01/pushlist?{UNMASK}"),
            Case(ANON, 401, path=f"/api/v1/teams/T01/pushlist?{UNMASK}"),
        ],
    ),
    ("GET", "/api/v1/teams/{team_id}/route"): Row(
        "/api/v1/teams/T01/route", care("/api/v1/teams/T02/route")
    ),
    ("GET", "/api/v1/teams/{team_id}/pushlist/runs"): Row(
        "/api/v1/teams/T01/pushlist/runs", care("/api/v1/teams/T02/pushlist/runs")
    ),
    # The centre's console (service/routes/console.py): its township; bureau/admin name one.
    **{
        ("GET", route): Row(
            path,
            [
                Case("doctor1", 403),
                Case("planner1", 403),
                Case("center1", 200),
                Case("center1", 404, path=f"{path}?town=370783002000"),
                Case("bureau1", 422),
                Case("bureau1", 200, path=f"{path}?town=370783002000"),
                Case("admin1", 200, path=f"{path}?town=370783001000"),
                Case("resident1", 403),
                Case(ANON, 401),
            ],
        )
        for route, path in (
            ("/api/v1/console/grids", "/api/v1/console/grids"),
            ("/api/v1/console/teams", "/api/v1/console/teams"),
        )
    },
    ("GET", "/api/v1/console/grids/{grid_id}/health-index"): Row(
        "/api/v1/console/grids/G01/health-index",
        [
            Case("doctor1", 403),
            Case("planner1", 403),
            Case("center1", 200),
            Case("center1", 404, path="/api/v1/console/grids/G02/health-index"),
            Case("bureau1", 422),
            Case("bureau1", 200, path="/api/v1/console/grids/G02/health-index?town=370783002000"),
            Case("admin1", 404, path="/api/v1/console/grids/G01/health-index?town=370783002000"),
            Case("resident1", 403),
            Case(ANON, 401),
        ],
    ),
    # The planners' coverage (service/routes/coverage.py) and its reports: planner, bureau
    # and admin; aggregates only.
    **{
        ("GET", f"/api/v1/coverage/{part}"): Row(f"/api/v1/coverage/{part}", only(PLANNING))
        for part in ("towns", "standards", "underserved", "siting")
    },
    ("POST", "/api/v1/coverage/what-if"): Row(
        "/api/v1/coverage/what-if",
        [Case(c.user, c.status, json={"close": []}) for c in only(PLANNING)],
    ),
    ("POST", "/api/v1/coverage/reports"): Row(
        "/api/v1/coverage/reports",
        [
            Case(c.user, 202 if c.status == 200 else c.status, json={"format": "geojson"})
            for c in only(PLANNING)
        ],
    ),
    # {report} is a finished report job of planner1's: other planning roles get 404.
    **{
        ("GET", f"/api/v1/coverage/reports/{{job_id}}{tail}"): Row(
            f"/api/v1/coverage/reports/{{report}}{tail}",
            only({"planner1": 200, "bureau1": 404, "admin1": 404}),
        )
        for tail in ("", "/file")
    },
    ("POST", "/api/v1/tasks/dismiss"): Row(
        "/api/v1/tasks/dismiss",
        [
            Case("doctor2", 404, json=DISMISS),  # T02's doctor, T01's patient
            Case("doctor1", 404, json={**DISMISS, "resident_id": "R04"}),
            Case("doctor1", 201, json=DISMISS),
            Case("center1", 403, json=DISMISS),
            Case("bureau1", 403, json=DISMISS),
            Case("planner1", 403, json=DISMISS),
            Case("admin1", 403, json=DISMISS),
            Case("resident1", 403, json=DISMISS),
            Case(ANON, 401, json=DISMISS),
        ],
    ),
    ("GET", "/api/v1/residents/{resident_id}"): Row(
        "/api/v1/residents/R01",
        [
            Case("doctor1", 200),
            Case("doctor1", 404, path="/api/v1/residents/R04"),
            Case("doctor1", 404, path="/api/v1/residents/R99"),
            Case("doctor2", 200, path="/api/v1/residents/R04"),
            Case("center1", 403),
            Case("bureau1", 403),
            Case("planner1", 403),
            Case("admin1", 403),
            Case("resident1", 403),  # its own record is /api/v1/me
            Case("resident1", 403, path="/api/v1/residents/R04"),
            Case(ANON, 401),
        ],
    ),
    ("POST", "/api/v1/followups"): Row(
        "/api/v1/followups",
        [
            Case("doctor1", 201, json=visit("R01", "FU-M1")),
            Case("doctor1", 404, json=visit("R04", "FU-M2")),
            Case("center1", 403, json=visit("R01", "FU-M3")),
            Case("bureau1", 403, json=visit("R01", "FU-M3")),
            Case("planner1", 403, json=visit("R01", "FU-M3")),
            Case("admin1", 403, json=visit("R01", "FU-M3")),
            Case("resident1", 403, json=visit("R01", "FU-M3")),
            Case(ANON, 401, json=visit("R01", "FU-M3")),
        ],
    ),
    ("POST", "/api/v1/measurements"): Row(
        "/api/v1/measurements",
        [
            Case("doctor1", 201, json=reading("R01", "MM-1")),
            Case("doctor1", 404, json=reading("R04", "MM-2")),
            Case("admin1", 201, json=[reading("R04", "MM-3")]),
            Case("center1", 403, json=reading("R01", "MM-4")),
            Case("bureau1", 403, json=reading("R01", "MM-4")),
            Case("planner1", 403, json=reading("R01", "MM-4")),
            Case("resident1", 403, json=reading("R01", "MM-4")),  # home readings: /me/readings
            Case(ANON, 401, json=reading("R01", "MM-4")),
            Case(TERMINAL, 401, json=reading("R01", "MM-5")),
        ],
    ),
    # Administration.
    ("POST", "/api/v1/admin/ingest"): Row(
        "/api/v1/admin/ingest",
        [Case(u, 202 if u == "admin1" else 403, files=CSV_FILE) for u in ROLES]
        + [Case(ANON, 401, files=CSV_FILE)],
    ),
    ("POST", "/api/v1/admin/build"): Row("/api/v1/admin/build?months=0", only({"admin1": 202})),
    ("POST", "/api/v1/admin/pushlists"): Row("/api/v1/admin/pushlists", only({"admin1": 202})),
    ("GET", "/api/v1/admin/jobs"): Row("/api/v1/admin/jobs", only(ADMIN)),
    ("GET", "/api/v1/admin/jobs/{job_id}"): Row(
        "/api/v1/admin/jobs/{job}",
        [*only(ADMIN), Case("admin1", 404, path="/api/v1/admin/jobs/unknown")],
    ),
    ("GET", "/api/v1/admin/users"): Row("/api/v1/admin/users", only(ADMIN)),
    ("POST", "/api/v1/admin/users"): Row(
        "/api/v1/admin/users",
        [
            Case(
                u,
                201 if u == "admin1" else 403,
                json={"username": "new_user", "password": "new-password-1", "role": "bureau"},
            )
            for u in ROLES
        ]
        + [Case(ANON, 401, json={})],
    ),
    ("POST", "/api/v1/admin/users/{username}/disable"): Row(
        "/api/v1/admin/users/temp1/disable", only(ADMIN)
    ),
    ("POST", "/api/v1/admin/users/{username}/enable"): Row(
        "/api/v1/admin/users/temp1/enable", only(ADMIN)
    ),
    ("PUT", "/api/v1/admin/users/{username}/role"): Row(
        "/api/v1/admin/users/temp1/role",
        [Case(u, 200 if u == "admin1" else 403, json={"role": "bureau"}) for u in ROLES]
        + [Case(ANON, 401, json={"role": "bureau"})],
    ),
    # The webhook's outbox (service/routes/outbox.py); {outbox} is a failed message.
    ("GET", "/api/v1/admin/outbox"): Row("/api/v1/admin/outbox?state=failed", only(ADMIN)),
    ("POST", "/api/v1/admin/outbox/{message_id}/retry"): Row(
        "/api/v1/admin/outbox/{outbox}/retry",
        [*only(ADMIN), Case("admin1", 404, path="/api/v1/admin/outbox/999999999/retry")],
    ),
    # The live channel (SSE): ?once=true ends the stream after the ready event and replay.
    ("GET", "/api/v1/live"): Row("/api/v1/live?once=true", only({"doctor1": 200, "center1": 200})),
    # Smart terminals (service/routes/terminals.py): the readings endpoint takes only a
    # terminal's signed request (a user's token there is 401, and a terminal's headers
    # elsewhere too); the registry and the quarantine are the administrator's.
    ("POST", "/api/v1/terminal/readings"): Row(
        "/api/v1/terminal/readings",
        [Case(u, 401, json=TERMINAL_READING) for u in ROLES]
        + [Case(ANON, 401, json=TERMINAL_READING), Case(TERMINAL, 201, json=TERMINAL_READING)],
    ),
    ("POST", "/api/v1/admin/terminals"): Row(
        "/api/v1/admin/terminals",
        [Case(u, 201 if u == "admin1" else 403, json={"terminal_id": "TM-M2"}) for u in ROLES]
        + [Case(ANON, 401, json={"terminal_id": "TM-M2"})],
    ),
    ("GET", "/api/v1/admin/terminals"): Row("/api/v1/admin/terminals", only(ADMIN)),
    ("GET", "/api/v1/admin/terminals/{terminal_id}"): Row(
        "/api/v1/admin/terminals/TM-M1",
        [*only(ADMIN), Case("admin1", 404, path="/api/v1/admin/terminals/TM-NONE")],
    ),
    ("PATCH", "/api/v1/admin/terminals/{terminal_id}"): Row(
        "/api/v1/admin/terminals/TM-M1",
        [Case(u, 200 if u == "admin1" else 403, json={"label": "x"}) for u in ROLES]
        + [Case(ANON, 401, json={"label": "x"})],
    ),
    ("POST", "/api/v1/admin/terminals/{terminal_id}/rotate"): Row(
        "/api/v1/admin/terminals/TM-M3/rotate", only(ADMIN)
    ),
    ("POST", "/api/v1/admin/terminals/{terminal_id}/revoke"): Row(
        "/api/v1/admin/terminals/TM-M3/revoke", only(ADMIN)
    ),
    ("GET", "/api/v1/admin/terminal-quarantine"): Row(
        "/api/v1/admin/terminal-quarantine", only(ADMIN)
    ),
    ("GET", "/api/v1/residents/{resident_id}/card-token"): Row(
        "/api/v1/residents/R01/card-token",
        [
            *[Case(u, 403) for u in ROLES if u not in {"doctor1", "admin1"}],
            Case("doctor1", 200),
            Case("doctor1", 404, path="/api/v1/residents/R04/card-token"),
            Case("doctor2", 200, path="/api/v1/residents/R04/card-token"),
            Case("admin1", 200),
            Case("admin1", 404, path="/api/v1/residents/R99/card-token"),
            Case(ANON, 401),
        ],
    ),
    # Health education (service/routes/education.py): authors write and submit their own
    # drafts, reviewers publish, send back and withdraw (svc_education.seed_matrix_items).
    ("GET", "/api/v1/education/items"): Row("/api/v1/education/items", only(EDU_STAFF)),
    ("POST", "/api/v1/education/items"): Row(
        "/api/v1/education/items",
        [Case(u, 201 if u in EDU_STAFF else 403, json=ITEM_BODY) for u in ROLES]
        + [Case(ANON, 401, json=ITEM_BODY)],
    ),
    ("GET", "/api/v1/education/items/{item_id}"): Row(
        "/api/v1/education/items/EM-PUB1",
        [
            *only(EDU_STAFF),
            Case("doctor1", 404, path="/api/v1/education/items/EM-B1"),
            Case("center1", 404, path="/api/v1/education/items/EM-B1"),
            Case("bureau1", 200, path="/api/v1/education/items/EM-B1"),
        ],
    ),
    ("PUT", "/api/v1/education/items/{item_id}"): Row(
        "/api/v1/education/items/EM-DRAFT1",
        [Case(u, 200 if u == "doctor1" else 403, json=ITEM_BODY) for u in ROLES]
        + [
            Case("doctor1", 404, path="/api/v1/education/items/EM-B1", json=ITEM_BODY),
            Case(ANON, 401, json=ITEM_BODY),
        ],
    ),
    ("POST", "/api/v1/education/items/{item_id}/submit"): Row(
        "/api/v1/education/items/EM-DRAFT2/submit",
        [Case(u, 200 if u == "doctor1" else 403) for u in ROLES]
        + [Case("doctor1", 404, path="/api/v1/education/items/EM-B1/submit"), Case(ANON, 401)],
    ),
    ("POST", "/api/v1/education/items/{item_id}/publish"): Row(
        "/api/v1/education/items/EM-REVIEW1/publish",
        review_cases("publish", ("EM-REVIEW1", "EM-REVIEW2", "EM-REVIEW3")),
    ),
    ("POST", "/api/v1/education/items/{item_id}/send-back"): Row(
        "/api/v1/education/items/EM-REVIEW4/send-back",
        review_cases("send-back", ("EM-REVIEW4", "EM-REVIEW5", "EM-REVIEW6"), NOTE),
    ),
    ("POST", "/api/v1/education/items/{item_id}/withdraw"): Row(
        "/api/v1/education/items/EM-PUB2/withdraw",
        review_cases("withdraw", ("EM-PUB2", "EM-PUB3", "EM-PUB4")),
    ),
    ("POST", "/api/v1/education/render"): Row(
        "/api/v1/education/render",
        [Case(u, 200 if u in EDU_STAFF else 403, json=RENDER) for u in ROLES]
        + [Case(ANON, 401, json=RENDER)],
    ),
    ("GET", "/api/v1/education/reads"): Row("/api/v1/education/reads?level=grid", only(AGG)),
    ("GET", "/api/v1/me/education"): Row(
        "/api/v1/me/education",
        [*only({u: 200 for u in ROLES if u.startswith("resident")}), Case(MATRIX_RESIDENT, 200)],
    ),
    ("POST", "/api/v1/me/education/{item_id}/read"): Row(
        "/api/v1/me/education/EM-PUBC/read",
        [
            *only({u: 200 for u in ROLES if u.startswith("resident")}),
            Case(MATRIX_RESIDENT, 200),
            Case(MATRIX_RESIDENT, 404, path="/api/v1/me/education/EM-B1/read"),
        ],
    ),
    # Residents' own page (service/routes/residents.py, docs/residents.md): a doctor of the
    # managing team issues, inspects and revokes (another team's resident 404, like an
    # unknown one); the resident logs in publicly and reads only its own record: the id
    # comes from the token, and a body naming another resident is 404.
    ("POST", "/api/v1/residents/{resident_id}/activation"): Row(
        "/api/v1/residents/R03/activation",
        [
            *only({"doctor1": 201}),
            Case("doctor1", 404, path="/api/v1/residents/R04/activation"),
            Case("doctor1", 404, path="/api/v1/residents/R99/activation"),
            Case("doctor2", 201, path="/api/v1/residents/R05/activation"),
            Case("resident1", 403, path="/api/v1/residents/R01/activation"),
        ],
    ),
    ("GET", "/api/v1/residents/{resident_id}/activation"): Row(
        "/api/v1/residents/R01/activation",
        [
            *only({"doctor1": 200}),
            Case("doctor1", 404, path="/api/v1/residents/R04/activation"),
            Case("doctor1", 404, path="/api/v1/residents/R02/activation"),  # none issued
            Case("doctor2", 200, path="/api/v1/residents/R04/activation"),
            Case("resident1", 403, path="/api/v1/residents/R04/activation"),
        ],
    ),
    ("DELETE", "/api/v1/residents/{resident_id}/activation"): Row(
        # Rows run in order: the POST row above issued R03's.
        "/api/v1/residents/R03/activation",
        [
            *only({"doctor1": 204}),
            Case("doctor2", 404, path="/api/v1/residents/R03/activation"),
            Case("doctor1", 404, path="/api/v1/residents/R04/activation"),
        ],
    ),
    ("POST", "/auth/resident/activate"): Row(
        "/auth/resident/activate",
        [Case(ANON, 401, json={"code": "ABCD-EFGH", "pin": "482916"})],
        public=True,
    ),
    ("POST", "/auth/resident/token"): Row(
        "/auth/resident/token",
        [Case(ANON, 401, json={"login_id": "12345678", "pin": "482916"})],
        public=True,
    ),
    **{
        ("GET", path): Row(path, only({"resident1": 200}))
        for path in (
            "/api/v1/me",
            "/api/v1/me/trends",
            "/api/v1/me/vaccinations",
            "/api/v1/me/clinics",
            "/api/v1/me/access-log",
        )
    },
    ("POST", "/api/v1/me/readings"): Row(
        "/api/v1/me/readings",
        [
            *[
                Case(c.user, 201 if c.status == 200 else c.status, json=HOME_READING)
                for c in only({"resident1": 200})
            ],
            Case("resident1", 404, json={**HOME_READING, "resident_id": "R04"}),
            Case("resident1", 404, json={**HOME_READING, "resident_id": "R99"}),
            Case("resident1", 201, json={**HOME_READING, "resident_id": "R01"}),
        ],
    ),
    # Tiles: roles per layer.
    ("GET", "/tiles/{layer}.json"): Row(
        "/tiles/town_indicators.json",
        [
            *only(AGG),
            Case("doctor1", 200, path="/tiles/boundaries.json"),
            Case("center1", 403, path="/tiles/mobility.json"),
            Case("center1", 200, path="/tiles/alerts.json"),
            Case("planner1", 200, path="/tiles/risk.json"),
            Case("doctor1", 403, path="/tiles/alerts.json"),
            Case("bureau1", 200, path="/tiles/mobility.json"),
            Case("bureau1", 404, path="/tiles/nolayer.json"),
        ],
    ),
    ("GET", "/tiles/{layer}/{z}/{x}/{y}.mvt"): Row(
        "/tiles/boundaries/10/849/399.mvt",
        [
            *only({**AGG, "doctor1": 200}, 403),
            Case("doctor1", 403, path="/tiles/hotspots/10/849/399.mvt"),
            Case("planner1", 204, path="/tiles/mobility/10/849/399.mvt"),
            Case("center1", 403, path="/tiles/mobility/10/849/399.mvt"),
            Case("center1", 200, path="/tiles/alerts/10/849/399.mvt"),
            Case("bureau1", 200, path="/tiles/risk/10/849/399.mvt"),
            Case("doctor1", 403, path="/tiles/risk/10/849/399.mvt"),
            Case(ANON, 401, path="/tiles/alerts/10/849/399.mvt"),
        ],
    ),
}


def _province_refused(row: Row) -> None:
    """The province's bureau is refused (403) wherever a row lists no case for it: the same
    request as the row's first resident case (a personal endpoint's body included)."""
    if row.public or any(c.user == "province1" for c in row.cases):
        return
    first = next(c for c in row.cases if c.user == "resident1")
    row.cases.append(Case("province1", 403, path=first.path, json=first.json, files=first.files))


for _row in MATRIX.values():
    _province_refused(_row)


class FakeJobs(JobRegistry):
    """Jobs that are recorded but never run (the matrix checks access, not the work)."""

    def submit(
        self, kind: str, params: dict[str, Any], work: Any, *, job_id: str | None = None
    ) -> Job:
        job = Job(job_id=job_id or new_job_id(), kind=kind, params=params, created_at=NOW)
        self._jobs[job.job_id] = job
        return job


def api_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every endpoint of the app, except the front end's pages."""
    try:  # FastAPI >= 0.130 keeps included routers as such; this walks into them.
        from fastapi.routing import iter_route_contexts

        routes: Any = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI: the routes are flat
        routes = app.routes
    out = set()
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        if getattr(endpoint, "__module__", "") == "service.routes.pages":
            continue  # the front end's own router (public HTML pages and their assets)
        if route.path == app.openapi_url:
            continue
        for method in (route.methods or set()) - {"HEAD", "OPTIONS"}:
            out.add((method, route.path))
    return out


def test_every_endpoint_has_a_matrix_row(app: Any) -> None:
    routes = api_routes(app)
    missing = routes - MATRIX.keys()
    assert not missing, f"endpoints without an authorization matrix row: {sorted(missing)}"
    assert not MATRIX.keys() - routes, "matrix rows for endpoints that no longer exist"
    for key, row in MATRIX.items():
        if row.public:
            continue
        principals = {c.user for c in row.cases}
        assert principals >= {*ROLES, ANON}, f"{key}: a role has no case"
        assert any(c.status < 400 for c in row.cases), f"{key}: no allowed case"


def _finished_report(api: TestClient, engine: Any, folder: Any) -> Job:
    """A written coverage report of planner1's, in the app's report registry."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from store.accounts import User

    with Session(engine) as session:
        owner = session.scalar(select(User.id).where(User.username == "planner1"))
    out = folder / "report.geojson"
    out.write_text('{"type": "FeatureCollection", "features": []}')
    registry = FakeJobs()
    api.app.state.report_jobs = registry  # type: ignore[attr-defined]
    job = registry.submit(
        "coverage_report", {"format": "geojson", "town": None, "user_id": owner}, None
    )
    job.status, job.summary = "succeeded", {"path": str(out), "bytes": out.stat().st_size}
    return job


def _terminals(api: TestClient, auth: dict[str, dict[str, str]]) -> str:
    """Register the matrix's terminals (TM-M1 posts, TM-M3 is rotated and revoked); TM-M1's
    key."""
    keys = []
    for tid in ("TM-M1", "TM-M3"):
        r = api.post("/api/v1/admin/terminals", json={"terminal_id": tid}, headers=auth["admin1"])
        assert r.status_code == 201, r.text
        keys.append(r.json()["key"])
    return str(keys[0])


def _failed_outbox_message(engine: Any) -> int:
    """The id of a failed webhook call in the outbox (its retry is the matrix's case)."""
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from store.outbox import OutboxMessage, enqueue

    with Session(engine) as session:
        enqueue(
            session,
            key="emergency_reading:MATRIX-1",
            kind="emergency_reading",
            target="http://127.0.0.1:9/hook",
            payload={"measurement_id": "MATRIX-1"},
            now=NOW,
        )
        session.execute(update(OutboxMessage).values(state="failed", attempts=20))
        session.commit()
        return int(session.query(OutboxMessage.id).scalar())


def test_authorization_matrix(
    api: TestClient, auth: dict[str, dict[str, str]], engine: Any, tmp_path: Any
) -> None:
    from sqlalchemy.orm import Session

    from service.accounts import add_user

    with Session(engine) as session:
        add_user(session, "temp1", "temp-password-1", "planner")
        add_user(session, "province1", "province-password-1", "province")
    auth = token_headers(engine, api.app.state.settings)  # type: ignore[attr-defined]
    publish_county(engine, engine)  # the small county's build, for the province's rows
    api.app.state.jobs = FakeJobs()  # type: ignore[attr-defined]
    job = api.app.state.jobs.submit("build", {}, None)  # type: ignore[attr-defined]
    report = _finished_report(api, engine, tmp_path)
    outbox_id = _failed_outbox_message(engine)
    terminal_key = _terminals(api, auth)
    seed_matrix_education(engine, api.app.state.settings, auth)  # type: ignore[attr-defined]
    bodies: dict[tuple[str, str], Any] = {}
    failures = []
    for (method, template), row in MATRIX.items():
        for case in row.cases:
            path = (case.path or row.path).replace("{job}", job.job_id)
            path = path.replace("{report}", report.job_id)
            path = path.replace("{outbox}", str(outbox_id))
            headers = auth[case.user] if case.user and case.user != TERMINAL else {}
            kwargs: dict[str, Any] = dict(row.kwargs)
            if case.user == TERMINAL:
                content = json.dumps(case.json).encode()
                headers = {
                    **signed_headers("TM-M1", terminal_key, method, path, content, time.time()),
                    "Content-Type": "application/json",
                }
                kwargs["content"] = content
            elif case.json is not None:
                kwargs["json"] = case.json
            if case.files is not None:
                kwargs["files"] = case.files
            r = api.request(method, path, headers=headers, **kwargs)
            if r.status_code != case.status:
                failures.append(
                    f"{case.user} {method} {path}: {r.status_code} != {case.status} {r.text[:200]}"
                )
            if r.status_code == 404 and case.user:
                bodies[(method, template)] = r.json()
    assert not failures, "\n".join(failures)
    # Out of scope answers exactly like unknown: same type, title and detail.
    unknown = api.get("/api/v1/residents/R99", headers=auth["doctor1"]).json()
    other = api.get("/api/v1/residents/R04", headers=auth["doctor1"]).json()
    assert {k: v for k, v in unknown.items() if k != "instance"} == {
        k: v for k, v in other.items() if k != "instance"
    }
    t02 = api.get("/api/v1/teams/T02/pushlist", headers=auth["doctor1"]).json()
    t99 = api.get("/api/v1/teams/T99/pushlist", headers=auth["doctor1"]).json()
    assert t02["detail"] == t99["detail"] and t02["type"] == t99["type"] == "/problems/not-found"

    # A role that may not see residents gets 403 even for an unknown id: no probing.
    for role in ("bureau1", "planner1", "admin1", "center1"):
        assert api.get("/api/v1/residents/NOPE", headers=auth[role]).status_code == 403
        assert api.get("/api/v1/teams/T99/pushlist", headers=auth["bureau1"]).status_code == 403
