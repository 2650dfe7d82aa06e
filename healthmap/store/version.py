"""The store's write version: what a cached push list (or tile) was computed from.

A team's live list is a pure function of the store's contents (and of the day, the rules
and the risk model). Three kinds of write change those contents:

* a live write through the API (a follow-up visit, a terminal reading, a dismissal) —
  these call :func:`bump_store_version` in their own transaction, so the counter in
  ``store_version`` (migration 0006) moves exactly when the write commits;
* an ingest — every loaded file leaves a row in ``ingest_files``;
* a build — ``build_current`` points to a new build with its finish time.

:func:`store_version` reads all three in one query (a primary-key row, the one-row
``build_current``, and the small ``ingest_files`` table), so it is cheap enough to run on
every request, and since it lives in the store it is the same in every uvicorn worker.
The first components are those of :func:`healthmap.tiles.cache.data_version` (tiles do
not depend on live writes); :func:`store_version` adds the write counter.

Anything else that writes residents, registry, follow-ups, readings, claims, grids or
dismissals outside those three paths (a manual SQL fix) must call
:func:`bump_store_version` (``healthmap db bump-version``) or restart the service.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Connection, Engine, Integer, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from healthmap.store.models import Base

#: The only row of ``store_version``.
ROW_ID = 1


class StoreVersion(Base):
    """The live-write counter (one row, ``id = 1``)."""

    __tablename__ = "store_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


_VERSION_SQL = text(
    "SELECT v.version, c.build_id, b.finished_at,"
    " (SELECT max(loaded_at) FROM ingest_files),"
    " (SELECT count(*) FROM ingest_files)"
    " FROM (SELECT 1 AS one) AS d"
    " LEFT JOIN store_version v ON v.id = 1"
    " LEFT JOIN build_current c ON c.name = 'current'"
    " LEFT JOIN builds b ON b.build_id = c.build_id"
)

# One statement on both backends, atomic, and it recreates the row if it was deleted.
_BUMP_SQL = text(
    "INSERT INTO store_version (id, version) VALUES (1, 1)"
    " ON CONFLICT (id) DO UPDATE SET version = store_version.version + 1"
)


def store_version(bind: Engine | Connection) -> tuple[str, ...]:
    """The write version: (counter, build id, build finish time, last ingest, ingest count).

    Equal versions mean equal push-list inputs. The values are strings (``None`` → "None")
    so the tuple hashes and compares the same on both backends.
    """
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            row = conn.execute(_VERSION_SQL).one()
    else:
        row = bind.execute(_VERSION_SQL).one()
    return tuple(str(v) for v in row)


def bump_store_version(bind: Session | Connection | Engine) -> None:
    """Move the write counter on; in ``bind``'s transaction (an engine commits at once).

    Call it in the transaction of the write, before its commit: then no reader can see
    the write without also seeing the new version. On PostgreSQL the row lock orders
    concurrent writers; they wait for each other only for the rest of their transaction.
    """
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            conn.execute(_BUMP_SQL)
    else:
        bind.execute(_BUMP_SQL)
