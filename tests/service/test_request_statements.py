"""What the most frequent requests ask of the store once their answer is cached.

Under the mixed load (issue 17) a doctor's list, a centre's indicator page or town figures
and a vector tile are nine requests in ten, and each statement is a round trip on
PostgreSQL. A cached answer costs two: the account behind the token
(``service.auth.principal_from_claims``) and the data version the answer is keyed by; the
version statement of a doctor's list also checks the team, and the current build and a
township's units are kept per app by version (``service.routes.aggregates``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text
from svc_county import TOWN_A
from svc_helpers import assert_problem

from store.version import known_team_version, store_version

Headers = dict[str, dict[str, str]]

LIST = "/api/v1/teams/T01/pushlist"
PAGE = "/api/v1/indicators?level=grid&limit=5"
TOWN = f"/api/v1/indicators/town/{TOWN_A}"
TILE = "/tiles/town_indicators/10/849/399.mvt"
#: The name of anyio's threads, which run a request's blocking work.
ROUTE_THREAD = "AnyIO worker thread"


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The statements the request sent to the store meanwhile (first words), in order.

    Only those of the threads that run the routes and their dependencies: the app's
    background threads (the audit writer, the outbox's and the live channel's pollers)
    query the store on their own schedule."""
    seen: list[str] = []

    def log(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.current_thread().name != ROUTE_THREAD:
            return
        seen.append(" ".join(statement.split()[:6]))
        if engine.dialect.name == "postgresql":  # no BEGIN and ROLLBACK round trips
            assert cursor.connection.autocommit, f"in a transaction: {statement[:60]}"

    event.listen(engine, "before_cursor_execute", log)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", log)


def settled(api: TestClient, engine: Engine, path: str, headers: dict[str, str]) -> list[str]:
    """The statements of ``path`` asked a third time (the cache and the audit writer warm)."""
    for _ in range(2):
        assert api.get(path, headers=headers).status_code in (200, 204)
    with statements(engine) as seen:
        r = api.get(path, headers=headers)
    assert r.status_code in (200, 204)
    return seen


@pytest.mark.parametrize(
    ("user", "path"),
    [("doctor1", LIST), ("center1", PAGE), ("center1", TOWN), ("bureau1", PAGE)],
)
def test_a_cached_answer_costs_the_account_and_the_version(
    api: TestClient, auth: Headers, engine: Engine, user: str, path: str
) -> None:
    seen = settled(api, engine, path, auth[user])
    assert len(seen) == 2, seen
    assert seen[0].startswith("SELECT users.id")
    assert seen[1].startswith("SELECT v.version")


def test_an_answer_another_worker_stored_costs_one_more_read(
    api: TestClient, auth: Headers, engine: Engine
) -> None:
    # A worker that has not served the page yet takes it from the store
    # (store.shared_answers): one more statement, outside a transaction too.
    settled(api, engine, PAGE, auth["center1"])
    api.app.state.answers.clear()  # type: ignore[attr-defined]  # as a fresh worker
    with statements(engine) as seen:
        assert api.get(PAGE, headers=auth["center1"]).status_code == 200
    assert len(seen) == 3 and seen[2].startswith("SELECT shared_answers.body"), seen


def test_a_cached_tile_costs_the_version_only(
    api: TestClient, auth: Headers, engine: Engine
) -> None:
    # The tile routes recheck the account every ACCOUNT_RECHECK_SECONDS (service.routes.tiles).
    seen = settled(api, engine, TILE, auth["center1"])
    assert len(seen) == 1 and seen[0].startswith("SELECT c.build_id"), seen


def test_a_doctor_asking_for_another_team_is_refused_before_any_query(
    api: TestClient, auth: Headers, engine: Engine
) -> None:
    with statements(engine) as seen:
        assert_problem(api.get("/api/v1/teams/T02/pushlist", headers=auth["doctor1"]), 404)
    assert len(seen) == 1 and seen[0].startswith("SELECT users.id"), seen


def test_a_doctor_of_a_team_that_is_gone_gets_a_404(
    api: TestClient, auth: Headers, engine: Engine
) -> None:
    # The team row removed under a valid token: the version statement finds no team.
    with engine.begin() as conn:
        conn.execute(text("UPDATE teams SET team_id = 'T01-gone' WHERE team_id = 'T01'"))
    assert_problem(api.get(LIST, headers=auth["doctor1"]), 404)


def test_known_team_version_is_the_team_version_or_none(engine: Engine, county: Any) -> None:
    with engine.connect() as conn:
        assert known_team_version(conn, "T01") == store_version(conn, "T01")
        assert known_team_version(conn, "NOPE") is None
    assert known_team_version(engine, "T01") == store_version(engine, "T01")
