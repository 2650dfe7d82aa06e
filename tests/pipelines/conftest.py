"""Fixtures of the ingestion tests: a migrated store per backend and tiny deliveries.

``engine`` is parametrised over SQLite and PostgreSQL + PostGIS. Each backend's store is
created and migrated once per test session (PostGIS: a fresh database ``hm_test_<random>``,
dropped at the end) and emptied before every test, which keeps the suite fast. Where
PostgreSQL is unreachable the PostGIS tests skip on a developer's machine and FAIL under
CI (``CI`` set).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_helpers import KEY, base_delivery
from sqlalchemy import Engine, create_engine, text

from pipelines.ingest.settings import IngestSettings
from store.engine import make_engine, migrate
from store.models import TABLES

ADMIN_URL = os.environ.get(
    "HEALTHMAP_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgis")


def _pg_reason() -> str | None:
    try:
        eng = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
    except Exception as exc:  # reported by the skip or the failure
        return f"{type(exc).__name__}: {exc}"
    return None


class _Stores:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.engines: dict[str, Engine] = {}
        self.pg_name: str | None = None

    def get(self, backend: str) -> Engine:
        if backend not in self.engines:
            if backend == "sqlite":
                url = f"sqlite:///{self.tmp / 'pipelines.db'}"
            else:
                why = _pg_reason()
                if why is not None:
                    if os.environ.get("CI"):
                        pytest.fail(
                            f"PostGIS tests must run in CI, but PostgreSQL is unreachable: {why}"
                        )
                    pytest.skip(f"PostgreSQL unreachable (set HEALTHMAP_TEST_POSTGRES): {why}")
                self.pg_name = f"hm_test_{uuid.uuid4().hex[:12]}"
                admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{self.pg_name}"'))
                admin.dispose()
                url = ADMIN_URL.rsplit("/", 1)[0] + f"/{self.pg_name}"
            eng = make_engine(url)
            migrate(eng)
            self.engines[backend] = eng
        return self.engines[backend]

    def close(self) -> None:
        for eng in self.engines.values():
            eng.dispose()
        if self.pg_name:
            admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture(scope="session")
def _pipeline_stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Stores]:
    stores = _Stores(tmp_path_factory.mktemp("pipeline-stores"))
    yield stores
    stores.close()


def empty_store(engine: Engine) -> None:
    """Delete every row of every table the pipelines write (the schema stays).

    The audit log is left alone: it is append-only in the store itself (a trigger refuses
    DELETE and TRUNCATE), and ingestion never writes to it.
    """
    names = list(dict.fromkeys(["ingest_files", "quarantine", *TABLES, "ingest_batches"]))
    names = [n for n in names if n != "audit_log"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE")
            )
        else:
            for n in names:
                conn.execute(text(f'DELETE FROM "{n}"'))


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, _pipeline_stores: _Stores) -> Iterator[Engine]:
    """A migrated, empty store on each backend."""
    eng = _pipeline_stores.get(request.param)
    empty_store(eng)
    yield eng


@pytest.fixture
def settings(tmp_path: Path) -> IngestSettings:
    return IngestSettings(id_hash_key=KEY, chunk_rows=1000)


@pytest.fixture
def delivery(tmp_path: Path) -> Path:
    return base_delivery(tmp_path / "delivery")
