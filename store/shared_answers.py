"""Answers shared by the service's workers (migration 0023): tiles and aggregate pages.

Each uvicorn worker caches what it computed (``service.caching``, the tile LRU), so a
tile or an indicator page was computed once per worker: with two workers, every cold
answer twice. The worker that computes one also writes it here under a digest of its
cache key (which starts with the store's data version, so a build or an ingest makes the
old rows unreachable); a worker that misses in its own cache reads here first.

Only aggregates are kept here (tiles, indicator pages, a unit's figures): nothing
personal. Rows are pruned by age (:func:`prune_shared_answers`, the morning run).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Hashable

from sqlalchemy import Engine, LargeBinary, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from store.accounts import UTCDateTime
from store.engine import read_connection, relaxed_commit, upsert_insert
from store.models import Base


class SharedAnswer(Base):
    """One computed answer (a response body or a tile) under its key's digest."""

    __tablename__ = "shared_answers"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    made_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)


def answer_digest(key: Hashable) -> str:
    """The digest a cache key is stored under (SHA-256 of its ``repr``).

    Keys are tuples of strings, numbers, dates and None, whose ``repr`` is the same in
    every worker process.
    """
    return hashlib.sha256(repr(key).encode("utf-8")).hexdigest()


def load_answer(engine: Engine, digest: str) -> bytes | None:
    """The stored answer of ``digest``, or None."""
    with read_connection(engine) as conn:  # a worker's every cold answer: one round trip
        body = conn.execute(select(SharedAnswer.body).where(SharedAnswer.digest == digest)).scalar()
    return None if body is None else bytes(body)


def save_answer(engine: Engine, digest: str, body: bytes, now: dt.datetime | None = None) -> None:
    """Store an answer (a digest already stored is kept: its answer is the same)."""
    stmt = upsert_insert(engine.dialect.name, SharedAnswer).values(
        digest=digest, body=body, made_at=now or dt.datetime.now(dt.UTC)
    )
    with engine.begin() as conn:
        relaxed_commit(conn)  # computed again if a crash loses it
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["digest"]))


def stored_or_made(engine: Engine, key: Hashable, make: Callable[[], bytes]) -> tuple[bytes, bool]:
    """The answer stored under ``key``, else ``make()``, stored; and whether it was stored."""
    digest = answer_digest(key)
    body = load_answer(engine, digest)
    if body is not None:
        return body, True
    body = make()
    save_answer(engine, digest, body)
    return body, False


def prune_shared_answers(engine: Engine, before: dt.datetime) -> int:
    """Delete the answers made before ``before``; return how many."""
    with engine.begin() as conn:
        result = conn.execute(delete(SharedAnswer).where(SharedAnswer.made_at < before))
    return int(result.rowcount or 0)
