"""The store unavailable → 503 problem with ``Retry-After`` on every endpoint; back after.

PostGIS: the app's database is cut off while the app runs (its connections terminated,
the database renamed, so a reconnection finds nothing), then given back. SQLite: the
store's file is replaced by a folder (unreadable as a database), then restored. During
the outage reads, writes and logins are 503s (a write is refused, not half-done); after
it the same app serves again, without a restart. The error classification itself
(``service.errors.domain_error``) is tested on the drivers' own exceptions.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from svc_county import TODAY
from svc_helpers import USERS, assert_problem
from tests_support import admin_engine

from geo.errors import UnavailableError
from service.errors import RETRY_AFTER_SECONDS, domain_error
from store.models import Followup

#: One request per kind of endpoint: reads of each router, a tile, a write, a login.
PROBES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("admin1", "GET", "/api/v1/meta", None),
    ("admin1", "GET", "/admin/audit", None),
    ("admin1", "GET", "/api/v1/admin/users", None),
    ("bureau1", "GET", "/api/v1/indicators?level=town", None),
    ("bureau1", "GET", "/api/v1/alerts", None),
    ("bureau1", "GET", "/tiles/town_indicators.json", None),
    ("doctor1", "GET", "/api/v1/teams/T01/pushlist", None),
    ("doctor1", "GET", "/api/v1/residents/R01", None),
    (
        "doctor1",
        "POST",
        "/api/v1/followups",
        {
            "followup_id": "FU-OUTAGE-0",
            "resident_id": "R02",
            "disease": "t2dm",
            "visit_date": TODAY.isoformat(),
            "fasting_glucose": 6.2,
        },
    ),
]


def _assert_unavailable(response: Any) -> None:
    assert_problem(response, 503, "unavailable")
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)


def _probe_all(api: TestClient, auth: dict[str, dict[str, str]]) -> list[Any]:
    out = []
    for user, method, url, body in PROBES:
        out.append(api.request(method, url, headers=auth[user], json=body))
    login = {"username": "admin1", "password": USERS["admin1"][0]}
    out.append(api.post("/auth/token", data=login))
    out.append(api.get("/readyz"))
    return out


@contextmanager
def _outage(engine: Engine, url: str) -> Iterator[None]:
    """The store unreachable for the duration, then back as it was."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(str(parsed.database))
        moved = path.with_suffix(".away")
        engine.dispose()  # pooled connections would keep reading the old file
        path.rename(moved)
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)  # folded in by the close
        # "unable to open database file" from now on. The app's background threads (the
        # live channel's and the outbox's pollers) may connect between the rename and the
        # mkdir, and SQLite then makes a new empty file there (seen once in CI): remove it,
        # and drop any pooled connection that opened it.
        while True:
            try:
                path.mkdir()
                break
            except FileExistsError:
                path.unlink()
        engine.dispose()
        try:
            yield
        finally:
            path.rmdir()
            moved.rename(path)
            engine.dispose()  # nor may one opened in between serve the empty file after
        return
    name = str(parsed.database)
    admin = admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.execute(text(f'ALTER DATABASE "{name}" RENAME TO "{name}_away"'))
        try:
            yield
        finally:
            with admin.connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": f"{name}_away"},
                )
                conn.execute(text(f'ALTER DATABASE "{name}_away" RENAME TO "{name}"'))
    finally:
        admin.dispose()


@pytest.mark.fresh_store
def test_outage_is_503_everywhere_and_recovers_without_restart(
    api: TestClient, auth: dict[str, dict[str, str]], engine: Engine, migrated_store_url: str
) -> None:
    before = _probe_all(api, auth)
    assert [r.status_code for r in before] == [200] * 8 + [201, 200, 200], [
        (r.status_code, r.text[:200]) for r in before
    ]
    with engine.connect() as conn:
        stored = conn.scalar(select(func.count()).select_from(Followup))

    # The visit just recorded has its team's list refreshed in a background thread
    # (service.worklists), which writes its snapshot: let it finish first, or on SQLite
    # the outage's rename may take the file from under that write (a race seen in CI).
    assert api.app.state.worklists.settle()  # type: ignore[attr-defined]
    with _outage(engine, migrated_store_url):
        during = _probe_all(api, auth)
        for response in during:
            _assert_unavailable(response)
        # A write during the outage is refused, not queued: the client must retry it.
        retry = {**PROBES[-1][3], "followup_id": "FU-OUTAGE-1"}  # type: ignore[dict-item]
        _assert_unavailable(api.post("/api/v1/followups", json=retry, headers=auth["doctor1"]))

    after = _probe_all(api, auth)
    # The same visit again: 200 (recorded already), everything else as before the outage.
    assert [r.status_code for r in after] == [200] * 8 + [200, 200, 200], [
        (r.status_code, r.text[:200]) for r in after
    ]
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Followup)) == stored
        assert (
            conn.scalar(select(Followup.followup_id).where(Followup.followup_id == "FU-OUTAGE-1"))
            is None
        )


# ----------------------------------------------------------------------------------------
# The classification (no store needed)
# ----------------------------------------------------------------------------------------
def _wrapped(error_class: type[sa_exc.DBAPIError], orig: Exception, **kw: Any) -> Exception:
    return error_class("SELECT 1", {}, orig, **kw)


@pytest.mark.parametrize(
    "message",
    ["database is locked", "unable to open database file", "disk I/O error"],
)
def test_sqlite_unavailability_is_503(message: str) -> None:
    exc = _wrapped(sa_exc.OperationalError, sqlite3.OperationalError(message))
    assert isinstance(domain_error(exc), UnavailableError)


@pytest.mark.parametrize("message", ["no such table: residents", 'near "SELEC": syntax error'])
def test_sqlite_sql_errors_stay_500(message: str) -> None:
    exc = _wrapped(sa_exc.OperationalError, sqlite3.OperationalError(message))
    assert domain_error(exc) is exc


def test_psycopg_connection_errors_are_503() -> None:
    import psycopg

    for error_class, orig in (
        (sa_exc.OperationalError, psycopg.OperationalError("connection refused")),
        (sa_exc.InterfaceError, psycopg.InterfaceError("the connection is closed")),
    ):
        assert isinstance(domain_error(_wrapped(error_class, orig)), UnavailableError)
    invalidated = _wrapped(
        sa_exc.DBAPIError, psycopg.DatabaseError("server closed"), connection_invalidated=True
    )
    assert isinstance(domain_error(invalidated), UnavailableError)
    assert isinstance(domain_error(sa_exc.TimeoutError("QueuePool limit")), UnavailableError)


def test_constraint_violations_are_not_outages() -> None:
    import psycopg

    exc = _wrapped(sa_exc.IntegrityError, psycopg.IntegrityError("duplicate key"))
    assert domain_error(exc) is exc


def test_the_sqlite_store_is_restored_by_the_helper(tmp_path: Path) -> None:
    """The SQLite outage helper gives the file back byte for byte (or the test above lies)."""
    from store.engine import make_engine

    path = tmp_path / "s.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (7)")
    with _outage(engine, f"sqlite:///{path}"):
        assert path.is_dir()
        with pytest.raises(sa_exc.OperationalError) as caught:
            engine.connect()
        assert isinstance(domain_error(caught.value), UnavailableError)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT x FROM t").scalar() == 7
    engine.dispose()
    shutil.rmtree(tmp_path, ignore_errors=True)
