"""Reading a big SQLite table straight into Arrow, in a process of its own.

Python's ``sqlite3`` builds a Python object per value: 8M claims × 10 columns take most
of a build's read time. The ADBC SQLite driver writes Arrow buffers directly, about twice
as fast, and a separate process reads while the build's own process reads the other
tables — on two cores the claims then cost no wall time of their own.

Why a process of its own: the driver links its own SQLite library, whose POSIX file
locks are not shared with Python's ``sqlite3`` in the same process (closing one
library's handle drops the other's locks). Inside healthmap's process that corrupted a
store once. A separate process is just another SQLite client, which WAL mode is made for.
Every column is read as text (as the PostgreSQL path reads CSV) so the driver never has
to guess a type, and :func:`store.frames.read_frame`'s canonical conversion
applies unchanged. When the driver is not installed the caller reads in-process.

Run as ``python -m store.sqlite_arrow JOB`` with ``JOB`` the JSON of
:func:`export`'s arguments.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

#: Marks the leading text row of :func:`export` (no store value looks like it).
MARKER = "\x01healthmap-type-row\x01"
# How long a SQLite connection waits for another's lock; the store's engine uses it too.
BUSY_TIMEOUT_MS = 30_000


def available() -> bool:
    """Whether the ADBC SQLite driver is installed."""
    return importlib.util.find_spec("adbc_driver_sqlite") is not None


def export(
    db: str,
    table: str,
    columns: Sequence[str],
    out: str,
    where: str = "",
    params: Sequence[Any] = (),
) -> None:
    """Write ``SELECT columns FROM table [WHERE where]`` of SQLite file ``db`` as Arrow IPC.

    ``where`` marks its parameters ``?1``, ``?2``, ... (SQLite's numbered form), bound to
    ``params`` in order; they are text or numbers (JSON-borne).
    """
    import adbc_driver_sqlite.dbapi as adbc

    select = ", ".join(f'CAST("{c}" AS TEXT) AS "{c}"' for c in columns)
    # The driver types a column by its first rows; one all-NULL there would be typed as a
    # number and fail on the first text. A leading row of text in every column (SQLite runs
    # UNION ALL in order), filtered out below by its marker, makes every column text.
    first = ", ".join(f"'{MARKER}' AS \"{c}\"" for c in columns)
    with adbc.connect(db) as conn, conn.cursor() as cur:
        # The store's own connections wait for a lock (store.engine); so does this reader. A
        # build's drop of the previous build, at the same time, held one: "database is locked".
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        condition = f" WHERE {where}" if where else ""
        query = f'SELECT {first} UNION ALL SELECT {select} FROM "{table}"{condition}'
        if params:
            cur.execute(query, list(params))
        else:
            cur.execute(query)
        data = cur.fetch_arrow_table()
    data = data.filter(pc.fill_null(pc.not_equal(data.column(0), MARKER), True))
    with pa.OSFile(out, "wb") as sink, pa.ipc.new_file(sink, data.schema) as writer:
        writer.write_table(data)


class PendingTable:
    """A table being read by a child process; :meth:`result` waits and returns it.

    Parameters
    ----------
    db : str
        Path of the SQLite file.
    table : str
        Table name.
    columns : sequence of str
        Columns to read (read as text).
    where : str, optional
        SQL condition with ``?1``, ``?2``, ... marks (see :func:`export`).
    params : sequence, optional
        The values of those marks, in order.
    """

    def __init__(
        self,
        db: str,
        table: str,
        columns: Sequence[str],
        where: str = "",
        params: Sequence[Any] = (),
    ) -> None:
        # /dev/shm when there is one: the file never touches the disk.
        shm = Path("/dev/shm")
        self._dir = tempfile.TemporaryDirectory(
            prefix="healthmap-", dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None
        )
        self._out = os.path.join(self._dir.name, f"{table}.arrow")
        job = {
            "db": db,
            "table": table,
            "columns": list(columns),
            "out": self._out,
            "where": where,
            "params": list(params),
        }
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__, json.dumps(job), str(os.getpid())],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def result(self) -> pa.Table:
        """The table read (raises ``RuntimeError`` with the child's error when it failed)."""
        try:
            _, err = self._proc.communicate()
            if self._proc.returncode != 0:
                raise RuntimeError(err.decode(errors="replace").strip()[-2000:])
            with pa.OSFile(self._out) as source:  # a copy: the file goes away below
                return pa.ipc.open_file(source).read_all()
        finally:
            self._dir.cleanup()

    def cancel(self) -> None:
        """Stop the child and remove its file."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._dir.cleanup()


if __name__ == "__main__":
    from store.children import die_with_parent

    die_with_parent(int(sys.argv[2]))  # a reader whose build was killed stops reading
    export(**json.loads(sys.argv[1]))
