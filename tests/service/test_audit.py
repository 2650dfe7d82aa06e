"""The audit log: recorded, filtered, paginated, append-only; and migration 0002."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import Future
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from svc_helpers import assert_problem, bearer

from service.audit import AuditWriter, audit_values, list_audit, query_audit, record_audit
from service.auth import Principal
from service.errors import Invalid
from store.accounts import ACCOUNT_TABLES, AuditLog
from store.engine import alembic_config, make_engine
from store.models import Base

UTC = dt.UTC
DOCTOR = Principal(7, "doctor1", "doctor", team_id="T01")


def audit_rows(engine: Engine) -> list[AuditLog]:
    with Session(engine) as session:
        return list(session.scalars(select(AuditLog).order_by(AuditLog.id)))


def test_login_and_audit_reads_are_recorded(client: TestClient, users: Any, engine: Engine) -> None:
    before = len(audit_rows(engine))  # the accounts' creation ("admin" records)
    headers = bearer(client, "admin1")
    r = client.get("/admin/audit", headers=headers, params={"action": "login"})
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == 1 and page["items"][0]["username"] == "admin1"
    assert page["items"][0]["endpoint"] == "POST /auth/token"
    assert page["items"][0]["client"] == "testclient"
    rows = audit_rows(engine)[before:]
    assert [(r.action, r.endpoint, r.resource_type) for r in rows] == [
        ("login", "POST /auth/token", None),
        ("read", "GET /admin/audit", "audit_log"),
    ]
    assert rows[1].role == "admin" and rows[1].detail and rows[1].detail["returned"] == 1
    assert all(r.at.tzinfo is not None for r in rows)


def test_account_changes_are_recorded(users: Any, engine: Engine) -> None:
    rows = [r for r in audit_rows(engine) if r.action == "admin"]
    assert len(rows) == len(users)
    assert rows[0].endpoint == "cli" and rows[0].resource_type == "user"
    assert rows[0].detail is not None and rows[0].detail["change"] == "add"
    assert "password" not in str([r.detail for r in rows]).replace("set_password", "")


def test_filters_and_pagination(client: TestClient, users: Any, engine: Engine) -> None:
    # 2026-01-01 23:30 in Shanghai is 15:30 UTC; 2026-01-02 00:30 is 2026-01-01 16:30 UTC.
    for i, at in enumerate(
        [
            dt.datetime(2026, 1, 1, 15, 30, tzinfo=UTC),
            dt.datetime(2026, 1, 1, 16, 30, tzinfo=UTC),
            dt.datetime(2026, 1, 3, 2, 0, tzinfo=UTC),
        ]
    ):
        record_audit(
            engine,
            action="read",
            endpoint="GET /residents/{resident_id}",
            user=DOCTOR,
            resource_type="resident",
            resource_id=f"R{i}",
            at=at,
        )
    headers = bearer(client, "admin1")

    def get(**params: Any) -> Any:
        r = client.get("/admin/audit", headers=headers, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    by_doctor = get(user="doctor1")
    assert by_doctor["total"] == 3
    assert [i["resource_id"] for i in by_doctor["items"]] == ["R2", "R1", "R0"]  # newest first
    assert [i["resource_id"] for i in get(user="DOCTOR1", until="2026-01-01")["items"]] == ["R0"]
    jan2 = get(user="doctor1", since="2026-01-02", until="2026-01-02")
    assert [i["resource_id"] for i in jan2["items"]] == ["R1"]
    page = get(user="doctor1", limit=2, offset=2)
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 2
    assert [i["resource_id"] for i in page["items"]] == ["R0"]
    assert get(action="write")["total"] == 0
    # The CLI's table.
    frame = list_audit(engine, username="doctor1")
    assert list(frame["resource_id"]) == ["R2", "R1", "R0"]
    assert frame.loc[0, "at"] == dt.datetime(2026, 1, 3, 2, 0, tzinfo=UTC)


def test_bad_filters_are_problems(client: TestClient, users: Any) -> None:
    headers = bearer(client, "admin1")
    for params in (
        {"action": "delete"},
        {"since": "2026-13-01"},
        {"limit": 0},
        {"limit": 100000},
        {"offset": -1},
        {"since": "2026-02-01", "until": "2026-01-01"},
    ):
        assert_problem(client.get("/admin/audit", headers=headers, params=params), 422, "invalid")


def test_no_api_changes_the_log(client: TestClient, users: Any) -> None:
    headers = bearer(client, "admin1")
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        assert_problem(client.request(method, "/admin/audit", headers=headers), 405)


def test_store_rejects_update_and_delete(engine: Engine, backend: str) -> None:
    record_audit(engine, action="login", endpoint="POST /auth/token", user=DOCTOR)
    statements = [
        "UPDATE audit_log SET action = 'write'",
        "UPDATE audit_log SET detail = NULL WHERE id = (SELECT min(id) FROM audit_log)",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)",
    ]
    if backend == "postgresql":  # SQLite has no TRUNCATE (its DELETE trigger covers it)
        statements.append("TRUNCATE audit_log")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    rows = audit_rows(engine)
    assert len(rows) == 1 and rows[0].action == "login"


def test_record_audit_in_a_session_commits_with_it(engine: Engine) -> None:
    with Session(engine) as session:
        record_audit(session, action="write", endpoint="POST /x", user=DOCTOR)
        session.rollback()  # the write failed: its record goes with it
        record_audit(session, action="write", endpoint="POST /y", user=DOCTOR, detail={"n": 2})
        session.commit()
    assert [(r.endpoint, r.detail) for r in audit_rows(engine)] == [("POST /y", {"n": 2})]
    with pytest.raises(Invalid):
        record_audit(engine, action="delete", endpoint="x")
    with pytest.raises(Invalid):
        query_audit(engine, action="delete")


def test_audit_writer_commits_queued_records_together(engine: Engine) -> None:
    writer = AuditWriter(engine)
    # Four records already waiting when the fifth arrives: the writer thread (started by
    # the fifth) takes all five and commits them in one transaction.
    for i in range(4):
        writer._batches.queue.put(
            (
                audit_values(action="read", endpoint="GET /x", user=DOCTOR, resource_id=f"R{i}"),
                Future(),
            )
        )
    writer.write(action="read", endpoint="GET /x", user=DOCTOR, resource_id="R4")
    assert writer.commits == 1
    rows = audit_rows(engine)
    assert [r.resource_id for r in rows] == ["R0", "R1", "R2", "R3", "R4"]
    assert {(r.username, r.role, r.action) for r in rows} == {("doctor1", "doctor", "read")}
    writer.close()


def test_audit_writer_commits_without_waiting_for_the_flush_on_postgres(engine: Engine) -> None:
    # The batch's own transaction: SET LOCAL before the insert, on PostgreSQL only (SQLite
    # commits in WAL mode with synchronous=NORMAL already); the record is readable at once.
    seen: list[str] = []

    def log(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split("(")[0].strip())

    event.listen(engine, "before_cursor_execute", log)
    try:
        writer = AuditWriter(engine)
        writer.write(action="read", endpoint="GET /x", user=DOCTOR, resource_id="R9")
        writer.close()
    finally:
        event.remove(engine, "before_cursor_execute", log)
    assert [r.resource_id for r in audit_rows(engine)] == ["R9"]
    inserts = [i for i, s in enumerate(seen) if s.startswith("INSERT INTO audit_log")]
    assert len(inserts) == 1
    relaxed = [i for i, s in enumerate(seen) if s == "SET LOCAL synchronous_commit TO OFF"]
    if engine.dialect.name == "postgresql":
        assert relaxed == [inserts[0] - 1]
    else:
        assert relaxed == []


def test_audit_writer_under_concurrent_requests(engine: Engine) -> None:
    writer = AuditWriter(engine)
    barrier = threading.Barrier(12)

    def request(i: int) -> None:
        barrier.wait()
        writer.write(action="read", endpoint="GET /y", user=DOCTOR, detail={"i": i})

    threads = [threading.Thread(target=request, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    # Every request's record is there once, whatever the grouping was.
    assert sorted(r.detail["i"] for r in audit_rows(engine)) == list(range(12))
    assert 1 <= writer.commits <= 12


def test_audit_writer_hands_a_failed_commit_to_the_request(tmp_path: Any) -> None:
    bare = make_engine(f"sqlite:///{tmp_path / 'no_tables.db'}")  # never migrated
    writer = AuditWriter(bare)
    with pytest.raises(DBAPIError, match="audit_log"):
        writer.write(action="read", endpoint="GET /z", user=DOCTOR)
    with pytest.raises(Invalid):  # refused before it is queued
        writer.write(action="delete", endpoint="GET /z")
    writer.close()
    bare.dispose()


# ----------------------------------------------------------------------------------------
# Migration 0002
# ----------------------------------------------------------------------------------------
def test_migration_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    ours = [d for d in diffs if any(t in repr(d) for t in ACCOUNT_TABLES)]
    assert ours == []
    inspector = inspect(engine)
    assert set(ACCOUNT_TABLES) <= set(inspector.get_table_names())
    assert {c["name"] for c in inspector.get_check_constraints("users")} >= {
        "ck_users_role",
        "ck_users_scope",
    }


def test_store_enforces_roles_and_scopes(engine: Engine) -> None:
    now = dt.datetime.now(UTC)
    for role, team in [("superuser", None), ("doctor", None)]:
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (username, password_hash, role, team_id, disabled,"
                    " created_at, failed_count) VALUES ('u', 'h', :role, :team, false, :now, 0)"
                ),
                {"role": role, "team": team, "now": now},
            )


@pytest.mark.fresh_store
def test_downgrade_and_upgrade(engine: Engine) -> None:
    cfg = alembic_config(engine)
    command.downgrade(cfg, "0001")
    assert not set(ACCOUNT_TABLES) & set(inspect(engine).get_table_names())
    command.upgrade(cfg, "head")
    # The triggers came back with the table.
    record_audit(engine, action="login", endpoint="POST /auth/token", user=DOCTOR)
    with pytest.raises(DBAPIError), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))


@pytest.mark.fresh_store
def test_downgrade_refuses_to_drop_audit_records(engine: Engine) -> None:
    record_audit(engine, action="login", endpoint="POST /auth/token", user=DOCTOR)
    with pytest.raises(RuntimeError, match="export them"):
        command.downgrade(alembic_config(engine), "0001")
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditLog)) == 1
