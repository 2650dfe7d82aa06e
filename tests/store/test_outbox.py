"""The outbox's store: enqueue once per key, claims under a lease, back-off, re-queue."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from geo.errors import ConflictError, NotFoundError
from store.engine import make_engine
from store.outbox import (
    OutboxMessage,
    backoff_seconds,
    claim,
    enqueue,
    list_messages,
    mark_delivered,
    mark_failed_attempt,
    requeue,
)

T0 = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
URL = "http://127.0.0.1:9/hook"


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _enqueue(store: Engine, *keys: str, now: dt.datetime = T0) -> None:
    with Session(store) as session:
        for key in keys:
            enqueue(
                session, key=key, kind="emergency_reading", target=URL, payload={"k": key}, now=now
            )
        session.commit()


def _row(store: Engine, key: str) -> OutboxMessage:
    with Session(store) as session:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == key)
        ).one()
        session.expunge(row)
        return row


def test_enqueue_is_once_per_key(store: Engine) -> None:
    with Session(store) as session:
        assert enqueue(
            session, key="e:1", kind="emergency_reading", target=URL, payload={"a": 1}, now=T0
        )
        assert not enqueue(
            session, key="e:1", kind="emergency_reading", target=URL, payload={"a": 2}, now=T0
        )
        session.commit()
    row = _row(store, "e:1")
    assert (row.state, row.attempts, row.payload, row.target) == ("pending", 0, {"a": 1}, URL)
    assert row.next_attempt_at == T0 and row.created_at == T0
    assert row.leased_until is None and row.delivered_at is None


def test_enqueue_rolls_back_with_its_transaction(store: Engine) -> None:
    with Session(store) as session:
        enqueue(session, key="e:gone", kind="emergency_reading", target=URL, payload={}, now=T0)
        session.rollback()
    assert claim(store, _at(1), lease_seconds=30) == []


def test_a_leased_row_is_not_claimed_again_until_its_lease_runs_out(store: Engine) -> None:
    _enqueue(store, "e:1")
    first = claim(store, T0, lease_seconds=30)
    assert [(c.idempotency_key, c.attempts, c.target) for c in first] == [("e:1", 1, URL)]
    assert first[0].payload == {"k": "e:1"}
    assert _row(store, "e:1").leased_until == _at(30)
    # Another worker, or the same server restarted after a kill -9: nothing while leased.
    assert claim(store, _at(29.9), lease_seconds=30) == []
    # The abandoned lease runs out: the row is claimed again, the attempt counted.
    second = claim(store, _at(30.5), lease_seconds=30)
    assert [c.attempts for c in second] == [2]
    assert second[0].lease_token != first[0].lease_token
    # The first claimer overran its lease: its outcome is not written.
    assert mark_delivered(store, first[0], _at(31), status=204) is False
    assert _row(store, "e:1").state == "pending"
    assert mark_delivered(store, second[0], _at(31), status=204) is True
    row = _row(store, "e:1")
    assert (row.state, row.last_status, row.delivered_at, row.leased_until) == (
        "delivered",
        204,
        _at(31),
        None,
    )
    assert claim(store, _at(100), lease_seconds=30) == []


def test_claims_take_due_rows_oldest_first_up_to_the_limit(store: Engine) -> None:
    _enqueue(store, "e:a", now=_at(2))
    _enqueue(store, "e:b", now=_at(1))
    _enqueue(store, "e:c", now=_at(10))  # not due at 5 s
    got = claim(store, _at(5), lease_seconds=30, limit=5)
    assert [c.idempotency_key for c in got] == ["e:b", "e:a"]
    assert claim(store, _at(5), lease_seconds=30, limit=5) == []
    assert [c.idempotency_key for c in claim(store, _at(10), lease_seconds=30)] == ["e:c"]


def test_backoff_schedule() -> None:
    # Nominal min(cap, base * 2**(n-1)): 1, 2, 4, 8, 16, 32, then the cap of 60.
    nominal = [backoff_seconds(n, base=1.0, cap=60.0) for n in range(1, 9)]
    assert nominal == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    # Jitter: ±20 % of the nominal value, never above the cap.
    assert backoff_seconds(3, base=1.0, cap=60.0, rand=0.0) == pytest.approx(3.2)
    assert backoff_seconds(3, base=1.0, cap=60.0, rand=0.75) == pytest.approx(4.4)
    assert backoff_seconds(6, base=1.0, cap=60.0, rand=0.99) == pytest.approx(38.272)  # 32 * 1.196
    assert backoff_seconds(7, base=1.0, cap=60.0, rand=0.99) == 60.0  # 60 * 1.196, capped
    assert backoff_seconds(6, base=1.0, cap=30.0, rand=0.99) == 30.0
    assert backoff_seconds(2, base=0.5, cap=60.0) == 1.0


def test_failed_attempts_back_off_then_fail_and_an_admin_requeues(store: Engine) -> None:
    _enqueue(store, "e:1")
    policy = {"max_attempts": 3, "base": 1.0, "cap": 60.0, "rand": 0.5}
    # Attempt 1 at 0 s fails: due again at 0 + 1 = 1 s.
    c1 = claim(store, T0, lease_seconds=30)[0]
    assert mark_failed_attempt(store, c1, T0, error="ConnectError", status=None, **policy) == (
        "pending"
    )
    row = _row(store, "e:1")
    assert (row.next_attempt_at, row.leased_until, row.last_error) == (_at(1), None, "ConnectError")
    assert claim(store, _at(0.9), lease_seconds=30) == []
    # Attempt 2 at 1 s answers 503: due again at 1 + 2 = 3 s.
    c2 = claim(store, _at(1), lease_seconds=30)[0]
    assert c2.attempts == 2
    assert mark_failed_attempt(store, c2, _at(1), error="HTTP 503", status=503, **policy) == (
        "pending"
    )
    row = _row(store, "e:1")
    assert (row.next_attempt_at, row.last_status) == (_at(3), 503)
    assert claim(store, _at(2.9), lease_seconds=30) == []
    # Attempt 3 = max_attempts fails: the row is failed, never claimed again.
    c3 = claim(store, _at(3), lease_seconds=30)[0]
    assert mark_failed_attempt(store, c3, _at(3), error="x" * 500, status=None, **policy) == (
        "failed"
    )
    row = _row(store, "e:1")
    assert (row.state, row.attempts, len(row.last_error or "")) == ("failed", 3, 200)
    assert claim(store, _at(10_000), lease_seconds=30) == []
    with Session(store) as session:
        assert list_messages(session, state="failed", limit=10, offset=0)[0] == 1
        requeue(session, row.id, _at(20))
        session.commit()
    again = claim(store, _at(20), lease_seconds=30)
    assert [(c.idempotency_key, c.attempts) for c in again] == [("e:1", 1)]
    assert mark_delivered(store, again[0], _at(20.1), status=200)
    with Session(store) as session:
        with pytest.raises(ConflictError, match="delivered already"):
            requeue(session, row.id, _at(30))
        with pytest.raises(NotFoundError, match="No outbox message"):
            requeue(session, row.id + 1000, _at(30))


def test_list_messages_filters_by_state_newest_first(store: Engine) -> None:
    _enqueue(store, "e:1", "e:2", "e:3")
    c = claim(store, T0, lease_seconds=30)[0]
    mark_delivered(store, c, _at(1), status=204)
    with Session(store) as session:
        total, rows = list_messages(session, state=None, limit=2, offset=0)
        assert total == 3 and [r.idempotency_key for r in rows] == ["e:3", "e:2"]
        total, rows = list_messages(session, state="pending", limit=10, offset=0)
        assert total == 2 and {r.idempotency_key for r in rows} == {"e:2", "e:3"}
        total, rows = list_messages(session, state="delivered", limit=10, offset=0)
        assert total == 1 and rows[0].idempotency_key == "e:1"


def test_two_concurrent_claimers_never_get_the_same_row(store: Engine) -> None:
    """Two processes' engines claim at once, over and over: every row is taken once."""
    keys = [f"e:{i}" for i in range(40)]
    _enqueue(store, *keys)
    url = store.url.render_as_string(hide_password=False)
    engines = [make_engine(url), make_engine(url)]
    got: list[list[str]] = [[], []]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(i: int) -> None:
        try:
            start.wait()
            while True:
                claimed = claim(engines[i], _at(1), lease_seconds=30, limit=3)
                if not claimed:
                    return
                got[i] += [c.idempotency_key for c in claimed]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for e in engines:
        e.dispose()
    assert not errors, errors
    assert not set(got[0]) & set(got[1])
    assert sorted(got[0] + got[1]) == sorted(keys)
    assert len(got[0] + got[1]) == len(keys)  # no row twice, even within one claimer
