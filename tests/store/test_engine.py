"""The store's engine: a PostgreSQL connection idle in the pool is pinged, a busy one is not."""

from __future__ import annotations

import time

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, create_engine, exc, text
from sqlalchemy.orm import Session

from store import engine as store_engine
from store.engine import (
    make_engine,
    normalise_url,
    ping_idle_connections,
    read_connection,
    reads_engine,
    relaxed_commit,
)

pytestmark = pytest.mark.postgis


def _backend_pids(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        return {int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())}


def _end_backends(admin: Engine, pids: set[int]) -> None:
    with admin.connect() as conn:
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    time.sleep(0.2)  # the backend exits after the signal


def _engine(url: str, idle_seconds: float) -> Engine:
    # A bare engine with only the listeners under test: make_engine's own (1 s) would run
    # beside them.
    engine = create_engine(normalise_url(url), pool_size=1, max_overflow=0)
    ping_idle_connections(engine, idle_seconds)
    return engine


def test_an_idle_connection_that_broke_is_replaced_before_use(
    store: Engine, store_url: str
) -> None:
    engine = _engine(store_url, idle_seconds=0.0)  # every given-back connection is idle
    try:
        pids = _backend_pids(engine)
        _end_backends(store, pids)
        # The ping finds the dead connection; the pool discards it and connects again.
        assert _backend_pids(engine).isdisjoint(pids)
    finally:
        engine.dispose()


def test_a_connection_in_use_a_moment_ago_is_not_pinged(store: Engine, store_url: str) -> None:
    engine = _engine(store_url, idle_seconds=3600.0)
    try:
        pids = _backend_pids(engine)
        _end_backends(store, pids)
        # Not pinged: its statement fails as a disconnect (the service answers 503) ...
        with pytest.raises(exc.OperationalError) as failed:
            _backend_pids(engine)
        assert failed.value.connection_invalidated
        # ... and the pool has let it go: the next checkout connects afresh.
        assert _backend_pids(engine).isdisjoint(pids)
    finally:
        engine.dispose()


def test_the_store_engine_pings_after_its_idle_time(store: Engine, store_url: str) -> None:
    engine = make_engine(store_url, pool_size=1, max_overflow=0)
    try:
        pids = _backend_pids(engine)
        _end_backends(store, pids)
        time.sleep(store_engine.PING_AFTER_IDLE_SECONDS + 0.1)
        assert _backend_pids(engine).isdisjoint(pids)
    finally:
        engine.dispose()


def test_reads_run_outside_a_transaction_and_leave_none_behind(store_url: str) -> None:
    engine = make_engine(store_url, pool_size=1, max_overflow=0)  # one connection: the same
    try:
        with Session(reads_engine(engine)) as session:
            session.execute(text("SELECT 1"))
            raw = session.connection().connection.dbapi_connection
            assert raw is not None
            assert raw.info.transaction_status == TransactionStatus.IDLE  # no BEGIN was sent
        # The pool is shared: the connection a read gave back opens transactions again.
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            assert conn.connection.dbapi_connection is raw
            assert raw.info.transaction_status == TransactionStatus.INTRANS
    finally:
        engine.dispose()


def test_a_read_connection_sends_no_begin_and_gives_back_a_plain_one(store_url: str) -> None:
    engine = make_engine(store_url, pool_size=1, max_overflow=0)  # one connection: the same
    try:
        with read_connection(engine) as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
            raw = conn.connection.dbapi_connection
            assert raw is not None
            assert raw.info.transaction_status == TransactionStatus.IDLE  # no BEGIN was sent
        with engine.connect() as conn:  # back in the pool: transactions as ever
            conn.execute(text("SELECT 1"))
            assert conn.connection.dbapi_connection is raw
            assert raw.info.transaction_status == TransactionStatus.INTRANS
    finally:
        engine.dispose()


def test_relaxed_commit_is_the_transaction_s_own(store: Engine) -> None:
    with store.begin() as conn:
        relaxed_commit(conn)
        if store.dialect.name == "postgresql":
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "off"
    if store.dialect.name == "postgresql":  # SET LOCAL: the next transaction flushes again
        with store.begin() as conn:
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
