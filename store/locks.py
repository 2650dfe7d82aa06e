"""Locks over one store, shared by every process that opens it.

Several processes serve one store (uvicorn workers, a cron job, the CLI). Some work must
run in one of them at a time: the morning lists (one scheduler among the workers), the
background ingests and builds (they must not interleave). :class:`StoreLock` is that
mutual exclusion:

* **PostgreSQL** — a session advisory lock (``pg_advisory_lock``) on a connection of its
  own in autocommit mode, keyed by the lock's name; it holds across hosts and is released
  when the connection closes (the process dies);
* **SQLite** — an exclusive ``flock`` on ``<database file>.<name>.lock`` next to the store;
  the kernel releases it when the process dies;
* an in-memory SQLite store has one process: the lock is always granted.
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text


class StoreLock:
    """A named lock over ``engine``'s store (see the module docstring).

    Parameters
    ----------
    engine : Engine
    name : str
        What is locked (``pushlist-scheduler``, ``jobs``); one lock per name and store.

    A holder is one :class:`StoreLock` object; it is not re-entrant across objects, not
    even within one process (two objects of one name exclude each other).
    """

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.key = zlib.crc32(f"healthmap:{name}".encode())
        self._conn: Connection | None = None
        self._file: IO[bytes] | None = None
        self._mutex = threading.Lock()
        self.held = False

    def lock_path(self) -> Path | None:
        """The lock file of a SQLite store (None for PostgreSQL or an in-memory store)."""
        if self.engine.dialect.name != "sqlite":
            return None
        database = self.engine.url.database
        if not database or database == ":memory:" or database.startswith("file::memory:"):
            return None
        return Path(database).with_name(f"{Path(database).name}.{self.name}.lock")

    def try_acquire(self) -> bool:
        """Take the lock if free; True if this object holds it (now or before)."""
        return self._acquire(block=False)

    def acquire(self) -> None:
        """Take the lock, waiting for the holder to release it."""
        self._acquire(block=True)

    def _acquire(self, *, block: bool) -> bool:
        with self._mutex:
            if self.held:
                return True
            if self.engine.dialect.name == "postgresql":
                conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                try:
                    if block:
                        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
                        got = True
                    else:
                        sql = text("SELECT pg_try_advisory_lock(:k)")
                        got = bool(conn.execute(sql, {"k": self.key}).scalar())
                except BaseException:
                    conn.close()
                    raise
                if not got:
                    conn.close()
                    return False
                self._conn = conn
                self.held = True
                return True
            path = self.lock_path()
            if path is None:
                self.held = True
                return True
            handle = open(path, "ab")  # noqa: SIM115 (held open while the lock is held)
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
            except OSError:
                handle.close()
                if block:
                    raise
                return False
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n".encode())
            handle.flush()
            self._file = handle
            self.held = True
            return True

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                finally:
                    self._conn.close()
                    self._conn = None
            if self._file is not None:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
                self._file.close()
                self._file = None
            self.held = False

    @contextmanager
    def hold(self) -> Iterator[None]:
        """``with lock.hold():`` — acquire (waiting), release at the end."""
        self.acquire()
        try:
            yield
        finally:
            self.release()
