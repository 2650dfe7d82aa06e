"""Login back-off per client address, kept in the store and shared by the workers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from svc_helpers import USERS, assert_problem, make_settings

from service.app import create_app
from service.errors import TooManyRequests
from service.ratelimit import LoginBackoff, LoginThrottle, address_key

T0 = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


def test_backoff_doubles_after_the_free_failures_up_to_the_cap() -> None:
    b = LoginBackoff(free_failures=10, base_seconds=1, max_seconds=900, window_minutes=60)
    assert [b.delay(n) for n in (1, 10, 11, 12, 13, 20, 21, 22, 500)] == [
        0,
        0,
        1,
        2,
        4,
        512,
        900,
        900,
        900,
    ]


def test_address_keys() -> None:
    assert address_key("10.1.2.3") == "addr:10.1.2.3"
    assert address_key("::ffff:10.1.2.3") == "addr:10.1.2.3"
    # One IPv6 host picks any address of its /64: they count as one.
    assert address_key("2001:db8:1:2::5") == address_key("2001:db8:1:2:ffff::1")
    assert address_key("2001:db8:1:2::5") == "addr:2001:db8:1:2::/64"
    assert address_key(None) == "addr:unknown"


def test_spraying_100_accounts_from_one_address_takes_more_than_an_hour(engine: Engine) -> None:
    """The default policy, against a sprayer who retries the moment it may.

    By hand: 10 free failures, then waits of 1, 2, 4, … 512 s (1,023 s for the next 10),
    then 900 s each; the count starts again 60 min after the window's first failure. So a
    window of one hour admits about 10 + 10 + 3 = 23 guesses, and 100 take over 4 hours.
    """
    clock = Clock()
    throttle = LoginThrottle(LoginBackoff(), clock=clock)
    with Session(engine) as session:
        for _ in range(100):
            try:
                throttle.check(session, "10.9.9.9")
            except TooManyRequests as exc:
                clock.now += dt.timedelta(seconds=exc.retry_after)
                throttle.check(session, "10.9.9.9")  # waited as told: let in
            throttle.failed(session, "10.9.9.9")
    elapsed = clock.now - T0
    assert elapsed > dt.timedelta(hours=4)
    # Another address is unaffected.
    with Session(engine) as session:
        throttle.check(session, "10.9.9.10")


def test_a_success_does_not_reset_the_address(engine: Engine) -> None:
    clock = Clock()
    throttle = LoginThrottle(LoginBackoff(free_failures=2, base_seconds=60), clock=clock)
    with Session(engine) as session:
        for _ in range(3):
            throttle.failed(session, "10.0.0.1")
        with pytest.raises(TooManyRequests) as blocked:
            throttle.check(session, "10.0.0.1")
        assert blocked.value.retry_after == 60
        clock.now += dt.timedelta(seconds=61)
        throttle.check(session, "10.0.0.1")  # (a successful login: nothing recorded)
        assert throttle.failed(session, "10.0.0.1") == 120  # the 4th failure: doubled
        # A new window starts an hour after the first failure of the last one.
        clock.now += dt.timedelta(hours=1, seconds=1)
        assert throttle.failed(session, "10.0.0.1") == 0


@pytest.fixture
def two_workers(migrated_store_url: str, users: Any) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps, each with its own engine, over one store (`serve --workers 2`)."""
    settings = make_settings(
        migrated_store_url,
        auth={"address_free_failures": 2, "address_backoff_seconds": 60, "max_failed_logins": 50},
    )
    apps = [create_app(settings), create_app(settings)]
    for app in apps:
        app.state.scheduler_enabled = False
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        yield a, b


def test_the_back_off_is_shared_by_the_workers(two_workers: tuple[TestClient, TestClient]) -> None:
    a, b = two_workers
    wrong = [{"username": name, "password": "sprayed-password"} for name in USERS]
    assert_problem(a.post("/auth/token", data=wrong[0]), 401)
    assert_problem(b.post("/auth/token", data=wrong[1]), 401)
    assert_problem(a.post("/auth/token", data=wrong[2]), 401)  # the 3rd: a 60 s wait
    for client in (b, a):
        r = client.post("/auth/token", data=wrong[3])
        problem = assert_problem(r, 429, "too-many-requests")
        assert 55 <= int(r.headers["retry-after"]) <= 61
        assert "address" in problem["detail"]
    # Even the right password waits: a blocked address is no password oracle.
    right = {"username": "bureau1", "password": USERS["bureau1"][0]}
    assert_problem(b.post("/auth/token", data=right), 429, "too-many-requests")
