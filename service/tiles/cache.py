"""The data version behind every tile, and the in-process caches keyed by it.

A tile depends on the current build (results) and on what was ingested (geometries,
facilities, mobility). ``data_version`` reads both in one cheap query; every cache key
holds it, so a rebuild or an ingest makes old entries unreachable without any explicit
invalidation, and :class:`LRU` evicts them as new ones arrive.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, text

from store.engine import read_connection
from store.results import CURRENT_BUILD_NAME

V = TypeVar("V")

_VERSION_SQL = text(
    "SELECT c.build_id, b.finished_at,"
    " (SELECT max(loaded_at) FROM ingest_files),"
    " (SELECT count(*) FROM ingest_files)"
    " FROM (SELECT 1 AS one) AS d"
    f" LEFT JOIN build_current c ON c.name = '{CURRENT_BUILD_NAME}'"
    " LEFT JOIN builds b ON b.build_id = c.build_id"
)


def engine_key(engine: Engine) -> str:
    """A key telling stores apart inside one process (tests open several at once)."""
    return engine.url.render_as_string(hide_password=True)


def data_version(engine: Engine) -> tuple[str, ...]:
    """What the store's tiles depend on: current build id and finish time, ingest marks.

    The finish time is included because SQLite may hand out a build id again after a
    failed build's row is removed; the ingest count because two files can share a
    ``loaded_at`` timestamp.
    """
    return data_state(engine).version


@dataclass(frozen=True)
class DataState:
    """The data version and when the data last changed, from one query.

    Attributes
    ----------
    version : tuple of str
        As :func:`data_version`.
    modified : datetime.datetime or None
        The later of the current build's finish and the last ingest (UTC, aware); None
        for an empty store. What ``Last-Modified`` of a tile says.
    """

    version: tuple[str, ...]
    modified: dt.datetime | None


def data_state(engine: Engine) -> DataState:
    """:class:`DataState` of the store: the tile routes' one query per request (outside a
    transaction: one round trip on PostgreSQL, not three)."""
    with read_connection(engine) as conn:
        row = conn.execute(_VERSION_SQL).one()
    stamps = []
    for value in (row[1], row[2]):
        if value is None:
            continue
        if isinstance(value, str):  # SQLite may hand back text
            value = dt.datetime.fromisoformat(value)
        stamps.append(value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value)
    version = (engine_key(engine), *(str(v) for v in row))
    return DataState(version, max(stamps) if stamps else None)


class LRU(Generic[V]):
    """A small thread-safe least-recently-used map with an optional byte budget.

    Parameters
    ----------
    max_items : int
        Entries kept at most.
    max_bytes : int or None
        When set, values are ``bytes`` and the sum of their lengths is kept under it.
    """

    def __init__(self, max_items: int, max_bytes: int | None = None) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: V) -> None:
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= self._size(old)
            self._data[key] = value
            self._bytes += self._size(value)
            while self._data and (
                len(self._data) > self.max_items
                or (self.max_bytes is not None and self._bytes > self.max_bytes)
            ):
                _, evicted = self._data.popitem(last=False)
                self._bytes -= self._size(evicted)

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The cached value, else ``make()`` stored (two threads may both make it once)."""
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    def _size(self, value: Any) -> int:
        return len(value) if self.max_bytes is not None else 0


#: Encoded tiles by (version, layer, z, x, y, params); 256 MB is ~20k county tiles.
TILES: LRU[bytes] = LRU(max_items=50_000, max_bytes=256 * 1024 * 1024)
#: Per-version derived data: unit geometries and their spatial index, attribute columns.
#: 256 entries hold every level × built period × form a county's map asks for in a day.
DATA: LRU[Any] = LRU(max_items=256)


def clear_caches() -> None:
    """Forget every cached tile and derived data set (tests; after a manual DB edit)."""
    TILES.clear()
    DATA.clear()
