"""Store helpers shared by the fixtures: a fresh SQLite file or PostGIS database.

The PostGIS side creates a fresh database per test session on the server named by
``HEALTHMAP_TEST_POSTGRES`` (default: the local trust-auth server). Where that server is
unreachable the PostGIS tests skip on a developer's machine and FAIL under CI (``CI`` set):
in CI a PostGIS test never skips.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

ADMIN_URL = os.environ.get(
    "HEALTHMAP_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgis")


def _admin_engine() -> Engine:
    return create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


def postgres_available() -> str | None:
    """None when the test server answers, else why not."""
    try:
        with _admin_engine().connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # the reason is reported by the skip or failure
        return f"{type(exc).__name__}: {exc}"
    return None


def require_postgres() -> None:
    why = postgres_available()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"PostGIS tests must run in CI, but PostgreSQL is unreachable: {why}")
    pytest.skip(f"PostgreSQL unreachable (set HEALTHMAP_TEST_POSTGRES): {why}")


def fresh_database_url(backend: str, tmp_dir: Path) -> Iterator[str]:
    """Yield the URL of an empty store of ``backend``; drop it afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir / 'store.db'}"
        return
    require_postgres()
    name = f"hm_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
