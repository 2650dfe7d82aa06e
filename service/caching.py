"""In-process caches of computed answers, keyed by what they were computed from.

Every key starts with a version read from the store
(:func:`store.version.store_version` or a part of it), so a write makes the old
entries unreachable without any explicit invalidation, in every worker process; the LRU
(:class:`service.tiles.cache.LRU`) evicts them as new ones arrive. Concurrent misses of
one key wait for a single computation; :class:`SharedAnswers` also shares what one
worker computed with the others, through the store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from sqlalchemy import Engine

from service.tiles.cache import LRU
from store.shared_answers import stored_or_made

V = TypeVar("V")


class SingleFlightLRU(Generic[V]):
    """An :class:`LRU` whose misses of one key are computed once, however many ask.

    Parameters
    ----------
    max_items : int
        Entries kept at most.
    """

    def __init__(self, max_items: int) -> None:
        self._lru: LRU[V] = LRU(max_items=max_items)
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The cached value of ``key``, else ``make()`` (once) stored under it.

        ``make`` raising stores nothing; the next caller tries again.
        """
        value = self._lru.get(key)
        if value is not None:
            return value
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        try:
            with lock:
                value = self._lru.get(key)  # made by the thread we waited for
                if value is None:
                    value = make()
                    self._lru.put(key, value)
        finally:
            with self._guard:
                if self._locks.get(key) is lock:
                    del self._locks[key]
        return value

    @property
    def hits(self) -> int:
        return self._lru.hits

    def clear(self) -> None:
        self._lru.clear()

    def __len__(self) -> int:
        return len(self._lru)


class SharedAnswers(SingleFlightLRU[bytes]):
    """A :class:`SingleFlightLRU` of response bodies shared with the other workers.

    A miss here looks in the store (:mod:`store.shared_answers`) before computing, and
    what it computes is stored there: a cold answer is computed once per store, not once
    per worker. Only for answers that hold no personal data (aggregates, tiles).

    Parameters
    ----------
    max_items : int
        Entries kept in this process at most.
    engine : Engine
        The store.
    """

    def __init__(self, max_items: int, engine: Engine) -> None:
        super().__init__(max_items)
        self.engine = engine
        #: Answers taken from the store instead of computed (for the tests).
        self.shared = 0

    def get_or_make(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        return super().get_or_make(key, lambda: self.shared_or_made(key, make))

    def shared_or_made(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        """The stored answer of ``key``, else ``make()`` stored (no in-process caching)."""
        body, was_stored = stored_or_made(self.engine, key, make)
        self.shared += was_stored
        return body
