"""The terminals' tables (migration 0015): schema equals the models, nonces, quarantine."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import Base
from store.terminals import (
    Terminal,
    TerminalQuarantine,
    list_quarantine,
    list_terminals,
    prune_nonces,
    remember_nonce,
    touch_terminal,
)

TERMINAL_TABLES = ("terminals", "terminal_nonces", "terminal_quarantine")
T0 = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)


def test_migration_matches_the_models(store: Engine) -> None:
    assert set(TERMINAL_TABLES) <= set(inspect(store).get_table_names())
    with store.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert [d for d in diffs if any(t in repr(d) for t in TERMINAL_TABLES)] == []


def _terminal(tid: str, **kw: object) -> Terminal:
    values: dict[str, object] = {
        "terminal_id": tid,
        "status": "active",
        "key_generation": 1,
        "created_at": T0,
    }
    values.update(kw)
    return Terminal(**values)


def test_registry_nonces_and_quarantine(store: Engine) -> None:
    with Session(store) as s:
        s.add_all([_terminal("A1", facility_id="F1"), _terminal("B1", status="revoked")])
        s.commit()
        rows, total = list_terminals(s, status="active")
        assert total == 1 and [r.terminal_id for r in rows] == ["A1"]
        assert list_terminals(s, facility_id="F1")[1] == 1
        touch_terminal(s, "A1", T0 + dt.timedelta(minutes=5))
        # The same nonce twice is refused; another terminal may use it.
        assert remember_nonce(s, "A1", "nonce-0001", T0)
        assert not remember_nonce(s, "A1", "nonce-0001", T0)
        assert remember_nonce(s, "B1", "nonce-0001", T0 + dt.timedelta(minutes=10))
        s.commit()
        assert s.get(Terminal, "A1").last_seen_at == T0 + dt.timedelta(minutes=5)  # type: ignore[union-attr]
        assert prune_nonces(s, T0 + dt.timedelta(minutes=1)) == 1
        assert remember_nonce(s, "A1", "nonce-0001", T0 + dt.timedelta(minutes=20))
        s.add_all(
            [
                TerminalQuarantine(
                    terminal_id="A1", received_at=T0, reason="too_old", raw={"measurement_id": "x"}
                ),
                TerminalQuarantine(
                    terminal_id="A1",
                    received_at=T0 + dt.timedelta(seconds=1),
                    reason="malformed",
                    raw=["not", "an", "object"],
                ),
            ]
        )
        s.commit()
        rows_q, total_q = list_quarantine(s, terminal_id="A1")
        assert total_q == 2 and [q.reason for q in rows_q] == ["malformed", "too_old"]
        assert rows_q[0].raw == ["not", "an", "object"]
        assert list_quarantine(s, reason="too_old")[1] == 1


def test_the_store_refuses_a_bad_status_or_generation(store: Engine) -> None:
    for bad in ({"status": "lost"}, {"key_generation": 0}):
        with Session(store) as s, pytest.raises(IntegrityError):
            s.add(_terminal("C1", **bad))
            s.commit()
