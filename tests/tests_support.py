"""The test stores: which backends run, the one PostgreSQL URL, fresh SQLite files and databases.

Every store test runs on SQLite and on PostgreSQL + PostGIS. ``HEALTHMAP_TEST_BACKENDS``
(comma-separated, default ``sqlite,postgis``) narrows that on a workstation (``make
test-fast`` runs SQLite only); under CI (``CI`` set) both must be selected.

The PostGIS side creates fresh databases on the server named by ``HEALTHMAP_TEST_POSTGRES``
(default: the local trust-auth server) — the only place that URL is written. Where that
server is unreachable the PostGIS tests skip on a developer's machine and FAIL under CI:
in CI a PostGIS test never skips.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

#: The PostgreSQL server of the tests (its maintenance database); the only copy of the URL.
ADMIN_URL = os.environ.get(
    "HEALTHMAP_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

ALL_BACKENDS = ("sqlite", "postgis")


def selected_backends(value: str | None = None) -> tuple[str, ...]:
    """The backends named by ``HEALTHMAP_TEST_BACKENDS`` (default: all), in a fixed order."""
    raw = os.environ.get("HEALTHMAP_TEST_BACKENDS", "") if value is None else value
    names = {name.strip() for name in raw.split(",") if name.strip()} or set(ALL_BACKENDS)
    unknown = names - set(ALL_BACKENDS)
    if unknown:
        raise ValueError(
            f"HEALTHMAP_TEST_BACKENDS names unknown backends {sorted(unknown)};"
            f" choose from {', '.join(ALL_BACKENDS)}"
        )
    return tuple(b for b in ALL_BACKENDS if b in names)


#: The backends every store fixture is parametrised over.
BACKENDS = selected_backends()


def pg_url(database: str) -> str:
    """URL of ``database`` on the test server."""
    return make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def admin_engine() -> Engine:
    """An autocommit engine on the test server's maintenance database (for CREATE/DROP)."""
    return create_engine(
        ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )


@functools.cache
def postgres_available() -> str | None:
    """None when the test server answers, else why not (asked once per session)."""
    engine = admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # the reason is reported by the skip or failure
        return f"{type(exc).__name__}: {exc}"
    finally:
        engine.dispose()
    return None


def require_postgres() -> None:
    """Return if the test server answers; else skip (workstation) or fail (``CI`` set)."""
    why = postgres_available()
    if why is None:
        return
    where = make_url(ADMIN_URL).render_as_string(hide_password=True)
    if os.environ.get("CI"):
        pytest.fail(
            f"PostGIS tests must run in CI, but PostgreSQL at {where} is unreachable: {why}",
            pytrace=False,
        )
    pytest.skip(f"PostgreSQL at {where} unreachable (set HEALTHMAP_TEST_POSTGRES): {why}")


def create_database(template: str | None = None) -> str:
    """Create an empty database ``hm_test_<random>`` (a copy of ``template`` if given)."""
    name = f"hm_test_{uuid.uuid4().hex[:12]}"
    admin = admin_engine()
    try:
        with admin.connect() as conn:
            copy = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    finally:
        admin.dispose()
    return name


def drop_database(name: str) -> None:
    admin = admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def fresh_database_url(backend: str, tmp_dir: Path) -> Iterator[str]:
    """Yield the URL of an empty store of ``backend``; drop it afterwards."""
    if backend == "sqlite":
        tmp_dir.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{tmp_dir / 'store.db'}"
        return
    require_postgres()
    name = create_database()
    try:
        yield pg_url(name)
    finally:
        drop_database(name)


#: ``with fresh_store(backend, tmp_dir) as url:`` — :func:`fresh_database_url` as a context.
fresh_store = contextmanager(fresh_database_url)


@dataclass(frozen=True)
class StoreBackend:
    """A store backend of the tests (the root ``store_backend`` fixture's value)."""

    name: str  # "sqlite" or "postgis"

    def fresh(self, tmp_dir: Path) -> AbstractContextManager[str]:
        """``with backend.fresh(tmp_dir) as url:`` an empty store, dropped afterwards."""
        return fresh_store(self.name, tmp_dir)

    def fresh_urls(self, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
        """:func:`fresh_database_url` in a new temporary folder: ``url = next(urls)``, and
        ``urls.close()`` drops the store (for module-scoped, county-sized stores)."""
        return fresh_database_url(self.name, tmp_path_factory.mktemp(self.name))
