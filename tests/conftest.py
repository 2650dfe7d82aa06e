"""Shared fixtures: every store test runs on SQLite and on PostgreSQL + PostGIS.

``store_backend`` is the one parametrisation over the stores (``[sqlite]``, ``[postgis]``,
narrowed by ``HEALTHMAP_TEST_BACKENDS``); every store fixture of the suite derives from it:
``store_url``/``store`` here (a fresh store per test), the emptied shared stores of
``tests/pipelines`` and ``tests/service``, and the module-scoped loaded counties of the
pipeline and tile tests. It is module-scoped so that those counties are loaded once per
module and backend; pytest then runs a module's SQLite tests before its PostGIS ones.

The PostGIS side creates fresh databases on the server named by ``HEALTHMAP_TEST_POSTGRES``
(see ``tests_support``). Where that server is unreachable the PostGIS tests skip on a
developer's machine and FAIL under CI (``CI`` set): in CI a PostGIS test never skips.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).parent))

from tests_support import ALL_BACKENDS, BACKENDS, StoreBackend, require_postgres

from store.engine import make_engine, migrate


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") and BACKENDS != ALL_BACKENDS:
        raise pytest.UsageError(
            f"CI runs every store test on {' and '.join(ALL_BACKENDS)};"
            f" HEALTHMAP_TEST_BACKENDS selects only {', '.join(BACKENDS)}"
        )


def _postgis_only_elsewhere(item: pytest.Item) -> bool:
    """A test marked ``postgis`` that would run without it: on SQLite, or PostGIS not chosen."""
    if item.get_closest_marker("postgis") is None:
        return False
    if "postgis" not in BACKENDS:
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("store_backend") == "sqlite"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the ``postgis`` tests' SQLite runs, and all of them without PostGIS."""
    dropped = [item for item in items if _postgis_only_elsewhere(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not _postgis_only_elsewhere(item)]


@pytest.fixture(scope="module", params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> StoreBackend:
    """The store backend under test: the one parametrisation over the stores.

    PostGIS where the server is unreachable: a skip on a workstation, a failure under CI.
    """
    if request.param == "postgis":
        require_postgres()
    return StoreBackend(request.param)


@pytest.fixture
def store_url(store_backend: StoreBackend, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, empty store on each backend."""
    with store_backend.fresh(tmp_path) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Engine]:
    """A fresh store at the head of the migrations, on each backend."""
    engine = make_engine(store_url)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
