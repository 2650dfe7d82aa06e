"""Refused requests and administrators' reads leave audit records."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from svc_county import RESIDENT_USERS

from service.audit import DenialAudit, denial_reason
from store.accounts import AuditLog

ID_NUMBER = "37078319900101123X"


def rows_after(engine: Engine, last_id: int) -> list[AuditLog]:
    with Session(engine) as session:
        return list(
            session.scalars(select(AuditLog).where(AuditLog.id > last_id).order_by(AuditLog.id))
        )


def last_id(engine: Engine) -> int:
    with Session(engine) as session:
        return max(session.scalars(select(AuditLog.id)), default=0)


def test_a_doctor_probing_another_teams_resident_leaves_a_record(
    api: TestClient, auth: dict[str, dict[str, str]], engine: Engine
) -> None:
    before = last_id(engine)
    r = api.get("/api/v1/residents/R04", headers=auth["doctor1"])  # R04 is team T02's
    assert r.status_code == 404
    [row] = rows_after(engine, before)
    assert (row.action, row.endpoint) == ("denied", "GET /api/v1/residents/{resident_id}")
    assert (row.username, row.role, row.resource_type, row.resource_id) == (
        "doctor1",
        "doctor",
        "resident",
        "R04",
    )
    assert row.detail == {"reason": "not_found_or_out_of_scope", "status": 404}
    assert row.client == "testclient"


def test_role_and_token_refusals_are_recorded_but_not_a_missing_token(
    api: TestClient, auth: dict[str, dict[str, str]], engine: Engine
) -> None:
    before = last_id(engine)
    assert api.get("/api/v1/admin/users", headers=auth["planner1"]).status_code == 403
    forged = {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."}
    assert api.get("/api/v1/residents/R01", headers=forged).status_code == 401
    assert api.get("/api/v1/residents/R01").status_code == 401  # no token: not recorded
    assert api.get("/no/such/path", headers=auth["doctor1"]).status_code == 404  # no route
    wrong = {"username": "doctor1", "password": "not-the-password"}
    assert api.post("/auth/token", data=wrong).status_code == 401
    rows = rows_after(engine, before)
    assert [(r.action, r.endpoint, r.username, (r.detail or {}).get("reason")) for r in rows] == [
        ("denied", "GET /api/v1/admin/users", "planner1", "role_not_allowed"),
        ("denied", "GET /api/v1/residents/{resident_id}", None, "invalid_token"),
        ("denied", "POST /auth/token", None, "bad_credentials"),
    ]
    assert rows[1].resource_id == "R01"
    assert "not-the-password" not in str([vars(r) for r in rows])


def test_an_id_number_typed_as_an_id_is_withheld(
    api: TestClient, auth: dict[str, dict[str, str]], engine: Engine
) -> None:
    before = last_id(engine)
    assert api.get(f"/api/v1/residents/{ID_NUMBER}", headers=auth["doctor1"]).status_code == 404
    [row] = rows_after(engine, before)
    assert row.action == "denied" and row.resource_id == "[personal value withheld]"
    assert ID_NUMBER not in str(vars(row))


def test_admin_reads_of_accounts_and_of_the_audit_log_are_recorded(
    api: TestClient, auth: dict[str, dict[str, str]], engine: Engine, county: Any
) -> None:
    before = last_id(engine)
    assert api.get("/api/v1/admin/users", headers=auth["admin1"]).status_code == 200
    assert api.get("/admin/audit", headers=auth["admin1"]).status_code == 200
    rows = rows_after(engine, before)
    assert [(r.action, r.endpoint, r.resource_type, r.username) for r in rows] == [
        ("read", "GET /api/v1/admin/users", "users", "admin1"),
        ("read", "GET /admin/audit", "audit_log", "admin1"),
    ]
    # Every account: the staff's and the residents' (svc_county's resident accounts).
    assert rows[0].detail == {"returned": len(county) + len(RESIDENT_USERS)}
    # Refusals can be looked for.
    api.get("/api/v1/residents/R04", headers=auth["doctor1"])
    page = api.get("/admin/audit", params={"action": "denied"}, headers=auth["admin1"]).json()
    assert page["total"] == 1 and page["items"][0]["resource_id"] == "R04"


def test_reasons() -> None:
    assert denial_reason(401, 'Bearer error="invalid_token"', False) == "invalid_token"
    assert denial_reason(401, 'Bearer error="invalid_grant"', False) == "bad_credentials"
    assert denial_reason(401, "Bearer", False) is None
    assert denial_reason(403, None, True) == "role_not_allowed"
    assert denial_reason(404, None, True) == "not_found_or_out_of_scope"
    assert denial_reason(404, None, False) is None
    assert denial_reason(429, None, True) is None


def test_a_flood_of_refusals_is_recorded_up_to_a_budget(
    api: TestClient, engine: Engine, auth: dict[str, dict[str, str]]
) -> None:
    """Forged tokens by the thousand must not grow the append-only log without end."""
    audit = DenialAudit(per_minute=1, burst=3)
    scope = {"route": object(), "method": "GET", "state": {}, "app": api.app}

    async def flood() -> list[bool]:
        return [
            await audit(scope, 401, 'Bearer error="invalid_token"', "10.0.0.9") for _ in range(5)
        ]

    assert asyncio.run(flood()) == [True, True, True, False, False]
    assert audit.skipped == 2
