"""Fixtures of the ingestion tests: a migrated store per backend and tiny deliveries.

``engine`` derives from the root ``store_backend`` (SQLite and PostgreSQL + PostGIS, see
``tests/conftest.py``). Each backend's store is created (``tests_support``) and migrated
once per test session and emptied before every test, which keeps the suite fast. Where
PostgreSQL is unreachable the PostGIS tests skip on a developer's machine and FAIL under
CI (``CI`` set).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from pipeline_helpers import KEY, base_delivery
from sqlalchemy import Engine, text
from tests_support import StoreBackend

from pipelines.ingest.settings import IngestSettings
from store.engine import make_engine, migrate
from store.models import TABLES


class _Stores:
    """One migrated store per backend, made on first use, dropped at the session's end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.engines: dict[str, Engine] = {}
        self.stack = ExitStack()

    def get(self, backend: StoreBackend) -> Engine:
        if backend.name not in self.engines:
            url = self.stack.enter_context(backend.fresh(self.tmp / backend.name))
            eng = make_engine(url)
            self.stack.callback(eng.dispose)
            migrate(eng)
            self.engines[backend.name] = eng
        return self.engines[backend.name]

    def close(self) -> None:
        self.stack.close()


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


@pytest.fixture
def engine(store_backend: StoreBackend, _pipeline_stores: _Stores) -> Iterator[Engine]:
    """A migrated, empty store on each backend."""
    eng = _pipeline_stores.get(store_backend)
    empty_store(eng)
    yield eng


@pytest.fixture
def settings(tmp_path: Path) -> IngestSettings:
    return IngestSettings(id_hash_key=KEY, chunk_rows=1000)


@pytest.fixture
def delivery(tmp_path: Path) -> Path:
    return base_delivery(tmp_path / "delivery")
