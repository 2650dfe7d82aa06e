"""Shared fixtures: every store test runs on SQLite and on PostgreSQL + PostGIS.

The PostGIS side creates a fresh database per test on the server named by
``HEALTHMAP_TEST_POSTGRES`` (default: the local trust-auth server). Where that server is
unreachable the PostGIS tests skip on a developer's machine and FAIL under CI (``CI`` set):
in CI a PostGIS test never skips.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).parent))

from tests_support import BACKENDS, fresh_database_url

from store.engine import make_engine, migrate


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, empty store on each backend."""
    yield from fresh_database_url(request.param, tmp_path)


@pytest.fixture
def store(store_url: str) -> Iterator[Engine]:
    """A fresh store at the head of the migrations, on each backend."""
    engine = make_engine(store_url)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
