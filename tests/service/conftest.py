"""Fixtures of the service tests: a fresh store per test, on SQLite and on PostGIS.

Every store-backed test runs twice (``[sqlite]`` and ``[postgis]``) on a migrated, empty
store: a copy of a template file for SQLite; for PostGIS, one database per session emptied
before each test, or, for tests marked ``fresh_store`` (schema changes), a new database
made from a template (``CREATE DATABASE … TEMPLATE``). Both templates are migrated once.

The backend is the root ``store_backend`` (``tests/conftest.py``, the one parametrisation
over the stores); PostgreSQL is ``tests_support.ADMIN_URL`` (``HEALTHMAP_TEST_POSTGRES``).
The root ``store_url`` is an *empty* store; here it is ``migrated_store_url``. When the
server is unreachable the PostGIS runs are skipped on a workstation but **fail** when
``CI`` is set: CI must never pass by skipping the production backend.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from svc_county import seed_county
from svc_helpers import USERS, make_settings, token_headers
from tests_support import (
    StoreBackend,
    admin_engine,
    create_database,
    drop_database,
    pg_url,
    require_postgres,
)

import service.auth
from service.accounts import add_user
from service.app import create_app
from service.settings import Settings
from store.engine import make_engine, migrate


@pytest.fixture(autouse=True)
def cheap_password_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its cheapest: the tests check logic, not the hash's cost."""
    monkeypatch.setattr(
        service.auth, "password_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )


# ----------------------------------------------------------------------------------------
# Stores
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.connect() as conn:  # fold the WAL into the file so a copy is complete
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    require_postgres()  # a skip on a workstation, a failure under CI
    engine = admin_engine()
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_template(pg_admin: Engine) -> Iterator[str]:
    name = f"hm_test_template_{os.getpid()}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(pg_url(name))
    migrate(engine)
    engine.dispose()  # a template must have no open connection
    yield name
    with pg_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# Tables the emptying between tests leaves alone (schema bookkeeping, PostGIS's own).
_KEEP = {"alembic_version", "spatial_ref_sys"}


@pytest.fixture(scope="session")
def pg_shared(pg_admin: Engine, pg_template: str) -> Iterator[tuple[str, list[str]]]:
    """One migrated PostGIS database for the session, and its tables to empty per test."""
    name = f"hm_test_shared_{os.getpid()}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    engine = create_engine(pg_url(name), poolclass=NullPool)
    tables = sorted(set(inspect(engine).get_table_names()) - _KEEP)
    engine.dispose()
    yield pg_url(name), tables
    with pg_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _empty(url: str, tables: list[str]) -> None:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        # Replica mode skips ordinary triggers: the audit log's append-only guard among them.
        # Only the tests' own superuser connection does this, never the service.
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        # DELETE, not TRUNCATE: on (mostly) empty tables it is ~10x faster. Ids are not
        # reset, so tests must not assume them.
        for table in tables:
            conn.exec_driver_sql(f'DELETE FROM "{table}"')
    engine.dispose()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fresh_store: the test changes the schema; give it a database of its own"
    )


@pytest.fixture
def migrated_store_url(
    store_backend: StoreBackend, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """URL of a fresh, migrated, empty store of each backend.

    SQLite: a copy of the migrated template file. PostGIS: the session's database with
    every table emptied (a new database costs ~1 s on a busy server); a test marked
    ``fresh_store`` (it migrates or edits ``alembic_version``) gets a new database made
    from the template instead.
    """
    if store_backend.name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copy(template, tmp_path / "store.db")
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    if request.node.get_closest_marker("fresh_store") is None:
        url, tables = request.getfixturevalue("pg_shared")
        _empty(url, tables)
        yield url
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = create_database(template=template_name)
    try:
        yield pg_url(name)
    finally:
        drop_database(name)


@pytest.fixture
def engine(migrated_store_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def backend(migrated_store_url: str) -> str:
    return make_url(migrated_store_url).get_backend_name()


# ----------------------------------------------------------------------------------------
# Apps and clients
# ----------------------------------------------------------------------------------------
@pytest.fixture
def settings(migrated_store_url: str) -> Settings:
    return make_settings(migrated_store_url)


def quiet_app(settings: Settings, engine: Engine) -> FastAPI:
    """An app without the 06:00 scheduler (tests drive the push lists themselves)."""
    app = create_app(settings, engine)
    app.state.scheduler_enabled = False
    return app


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    return quiet_app(settings, engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def make_client(migrated_store_url: str, engine: Engine) -> Iterator[Callable[..., TestClient]]:
    """Build a started client with settings overrides (``make_client(service={...})``)."""
    stack: list[TestClient] = []

    def build(app: FastAPI | None = None, **overrides: Any) -> TestClient:
        app = app or quiet_app(make_settings(migrated_store_url, **overrides), engine)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        stack.append(client)
        return client

    yield build
    for c in reversed(stack):
        c.__exit__(None, None, None)


# ----------------------------------------------------------------------------------------
# Accounts
# ----------------------------------------------------------------------------------------
@pytest.fixture
def users(engine: Engine) -> dict[str, tuple[str, str, str | None, str | None]]:
    """The ``USERS`` accounts (the store is migrated already: it is a template's copy)."""
    with Session(engine) as session:
        for username, (password, role, team, town) in USERS.items():
            add_user(session, username, password, role, team_id=team, town_code=town)
    return USERS


# ----------------------------------------------------------------------------------------
# The API over a small county (svc_county)
# ----------------------------------------------------------------------------------------
@pytest.fixture
def county(engine: Engine, users: dict[str, Any]) -> dict[str, Any]:
    """The small county of ``svc_county`` with its build, and the ``USERS`` accounts."""
    seed_county(engine)
    return users


@pytest.fixture
def api_settings(migrated_store_url: str, tmp_path: Path) -> Settings:
    """Settings of the API tests: files under tmp_path, no rate limit (tests are bursts)."""
    return make_settings(
        migrated_store_url, data_dir=tmp_path / "data", service={"rate_limit_per_minute": 0}
    )


@pytest.fixture
def api(api_settings: Settings, engine: Engine, county: Any) -> Iterator[TestClient]:
    """A started client of an app over the county (server errors come back as 500s)."""
    app = quiet_app(api_settings, engine)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def auth(api: TestClient, engine: Engine, api_settings: Settings) -> dict[str, dict[str, str]]:
    """``Authorization`` headers of every ``USERS`` account (tokens minted, no login)."""
    return token_headers(engine, api_settings)
