"""Live lists shared by the service's workers (migration 0022): the latest of each team and day.

Each uvicorn worker caches the lists it serves (``service.worklists``), but a list computed
or brought up to date by one worker was computed again by every other: at county scale a
team's whole list costs about a second and a visit's splice about a tenth, once per worker.
So the worker that computes or splices a list also writes it here, with what it was
computed from — the store version's components other than the team's counter (``key``)
and the team's counter the entries are valid for (``team_version``) — and a worker that
misses reads it first: when the key still matches, it splices only the writes after
``team_version`` (usually none), instead of computing the list again.

One row per (team, day); a newer counter replaces an older one, never the other way. The
entries are Arrow IPC bytes (zstd) of the unmasked list: names and phones in full, like
the table of residents they come from, so this table is personal data; it is pruned with
the live-write log (:func:`prune_list_snapshots`, the morning run).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    Engine,
    LargeBinary,
    String,
    Text,
    delete,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.accounts import UTCDateTime
from store.engine import read_connection, relaxed_commit, upsert_insert
from store.models import Base


class ListSnapshot(Base):
    """The latest live list of a team for a day, shared by the workers."""

    __tablename__ = "list_snapshots"
    team_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    list_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    key: Mapped[str] = mapped_column(Text)
    team_version: Mapped[int] = mapped_column(BigInteger)
    entries: Mapped[bytes] = mapped_column(LargeBinary)
    made_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)


@dataclass(frozen=True)
class Snapshot:
    """A stored list: what it was computed from and its entries."""

    key: str
    team_version: int
    entries: pd.DataFrame


def frame_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as Arrow IPC stream bytes (zstd), its pandas metadata kept."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def bytes_frame(data: bytes) -> pd.DataFrame:
    """The frame :func:`frame_bytes` wrote."""
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_all().to_pandas()


def load_snapshot(
    bind: Engine | Connection, team_id: str, day: dt.date, *, newer_than: int = -1
) -> Snapshot | None:
    """The stored list of ``team_id`` for ``day``, if its counter is above ``newer_than``.

    The entries are read only then: a worker whose own list is as new pays one small read.
    """
    where = (ListSnapshot.team_id == team_id) & (ListSnapshot.list_date == day)
    query = select(ListSnapshot.key, ListSnapshot.team_version, ListSnapshot.entries).where(
        where & (ListSnapshot.team_version > newer_than)
    )
    if isinstance(bind, Engine):
        with read_connection(bind) as conn:
            row = conn.execute(query).first()
    else:
        row = bind.execute(query).first()
    if row is None:
        return None
    return Snapshot(str(row.key), int(row.team_version), bytes_frame(bytes(row.entries)))


def save_snapshot(
    engine: Engine,
    team_id: str,
    day: dt.date,
    *,
    key: str,
    team_version: int,
    entries: pd.DataFrame,
    now: dt.datetime | None = None,
) -> None:
    """Store a list unless the stored one is newer (same key, higher counter).

    A list of another key (after an ingest, a build or a retrained model) replaces the
    stored one whatever its counter: the stored one is of the past store.
    """
    values = {
        "team_id": team_id,
        "list_date": day,
        "key": key,
        "team_version": team_version,
        "entries": frame_bytes(entries),
        "made_at": now or dt.datetime.now(dt.UTC),
    }
    stmt = upsert_insert(engine.dialect.name, ListSnapshot).values(values)
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["team_id", "list_date"],
        set_={c: excluded[c] for c in ("key", "team_version", "entries", "made_at")},
        where=(ListSnapshot.key != excluded.key)
        | (ListSnapshot.team_version < excluded.team_version),
    )
    with engine.begin() as conn:
        relaxed_commit(conn)  # computed again if a crash loses it
        conn.execute(stmt)


def prune_list_snapshots(bind: Engine, before: dt.date) -> int:
    """Delete the lists of days before ``before``; return how many."""
    with bind.begin() as conn:
        result = conn.execute(delete(ListSnapshot).where(ListSnapshot.list_date < before))
    return int(result.rowcount or 0)
