"""The store's write version: what a cached push list (or tile) was computed from.

A team's live list is a pure function of the store's contents (and of the day, the rules
and the risk model). Three kinds of write change those contents:

* a live write through the API (a follow-up visit, a terminal reading, a dismissal) —
  these call :func:`bump_team_versions` with the teams whose lists hold the resident, in
  their own transaction, so a team's counter in ``team_versions`` (migration 0011) moves
  exactly when the write commits, and only the lists of those teams go stale;
* an ingest — every loaded file leaves a row in ``ingest_files``;
* a build — ``build_current`` points to a new build with its finish time.

:func:`store_version` reads all three in one query (a primary-key row, the one-row
``build_current``, the small ``ingest_files`` table and, given a team, its counter), so it
is cheap enough to run on every request, and since it lives in the store it is the same in
every uvicorn worker. The first components are those of
:func:`service.tiles.cache.data_version` (tiles do not depend on live writes);
:func:`store_version` adds the store-wide counter (``store_version``, migration 0006) and
the team's.

Anything else that writes residents, registry, follow-ups, readings, claims, grids or
dismissals outside those three paths (a manual SQL fix) must call
:func:`bump_store_version` (``healthmap db bump-version``: every team's lists) or restart
the service.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    delete,
    insert,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.engine import read_connection
from store.models import Base
from store.results import CURRENT_BUILD_NAME

#: The only row of ``store_version``.
ROW_ID = 1


class StoreVersion(Base):
    """The live-write counter (one row, ``id = 1``)."""

    __tablename__ = "store_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


class TeamWrite(Base):
    """Which residents a team's counter moved for: one row per (team, version, resident).

    Lets a cached list be brought up to date by recomputing exactly the residents written
    since it was computed (:func:`residents_written`), in one indexed read, whatever the
    size of the team's records. Pruned by :func:`prune_team_writes` (the morning run).
    """

    __tablename__ = "team_writes"
    team_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    written_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class TeamVersion(Base):
    """A team's live-write counter: moved by writes about the residents on its lists."""

    __tablename__ = "team_versions"
    team_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


def _version_sql(team_counter: str = "") -> str:
    return (
        "SELECT v.version, c.build_id, b.finished_at,"
        " (SELECT max(loaded_at) FROM ingest_files),"
        f" (SELECT count(*) FROM ingest_files){team_counter}"
        " FROM (SELECT 1 AS one) AS d"
        " LEFT JOIN store_version v ON v.id = 1"
        f" LEFT JOIN build_current c ON c.name = '{CURRENT_BUILD_NAME}'"
        " LEFT JOIN builds b ON b.build_id = c.build_id"
    )


_VERSION_SQL = text(_version_sql())
_TEAM_COUNTER = ", (SELECT t.version FROM team_versions t WHERE t.team_id = :team)"
_TEAM_VERSION_SQL = text(_version_sql(_TEAM_COUNTER))
# The same and, last, whether the team exists: a doctor's list read checks its team and
# reads the version in one round trip (the one statement of its request after the account).
_KNOWN_TEAM_VERSION_SQL = text(
    _version_sql(_TEAM_COUNTER + ", (SELECT count(*) FROM teams WHERE team_id = :team)")
)

#: The teams whose lists hold a resident: the rule of ``pipelines.pushlist.TEAM_RESIDENTS``
#: read the other way (signed team, the team of the resident's grid, registry teams).
_RESIDENT_TEAMS_SQL = (
    "SELECT signed_team_id FROM residents WHERE resident_id IN ({ids})"
    " UNION SELECT g.team_id FROM residents r JOIN grids g ON g.grid_id = r.grid_id"
    " WHERE r.resident_id IN ({ids})"
    " UNION SELECT team_id FROM chronic_registry WHERE resident_id IN ({ids})"
)

_BUMP_TEAM_SQL = text(
    "INSERT INTO team_versions (team_id, version) VALUES (:team, 1)"
    " ON CONFLICT (team_id) DO UPDATE SET version = team_versions.version + 1"
    " RETURNING version"
)

# One statement on both backends, atomic, and it recreates the row if it was deleted.
_BUMP_SQL = text(
    "INSERT INTO store_version (id, version) VALUES (1, 1)"
    " ON CONFLICT (id) DO UPDATE SET version = store_version.version + 1"
)


def store_version(bind: Engine | Connection, team_id: str | None = None) -> tuple[str, ...]:
    """The write version: (counter, build id, build finish time, last ingest, ingest count),
    and with ``team_id`` the team's counter last.

    Equal versions mean equal push-list inputs (of that team). The values are strings
    (``None`` → "None") so the tuple hashes and compares the same on both backends.
    """
    sql, params = (_VERSION_SQL, {}) if team_id is None else (_TEAM_VERSION_SQL, {"team": team_id})
    return tuple(str(v) for v in _one_row(bind, sql, params))


def known_team_version(bind: Engine | Connection, team_id: str) -> tuple[str, ...] | None:
    """:func:`store_version` of ``team_id``, or None when there is no such team, in one
    statement."""
    row = _one_row(bind, _KNOWN_TEAM_VERSION_SQL, {"team": team_id})
    if not row[-1]:
        return None
    return tuple(str(v) for v in row[:-1])


def _one_row(bind: Engine | Connection, sql: Any, params: dict[str, Any]) -> Any:
    if isinstance(bind, Engine):
        with read_connection(bind) as conn:  # one statement: no transaction needed
            return conn.execute(sql, params).one()
    return bind.execute(sql, params).one()


def resident_teams(bind: Session | Connection, resident_ids: Iterable[str]) -> set[str]:
    """The teams whose push lists hold any of ``resident_ids``."""
    ids = sorted(set(resident_ids))
    if not ids:
        return set()
    names = {f"r{i}": rid for i, rid in enumerate(ids)}
    sql = text(_RESIDENT_TEAMS_SQL.format(ids=", ".join(f":{n}" for n in names)))
    return {team for (team,) in bind.execute(sql, names) if team is not None}


def bump_team_versions(bind: Session | Connection, resident_ids: Iterable[str]) -> set[str]:
    """Move on the counters of the teams whose lists hold ``resident_ids``; return them.

    In ``bind``'s transaction, before its commit (as :func:`bump_store_version`). Each new
    counter value is logged with the residents it was moved for (``team_writes``). A
    resident on no team's list moves no counter: no cached list holds them. Teams are
    bumped in sorted order, so two concurrent writes lock their rows in the same order
    (no deadlock on PostgreSQL).
    """
    ids = sorted(set(resident_ids))
    teams = resident_teams(bind, ids)
    now = dt.datetime.now(dt.UTC)
    for team in sorted(teams):
        version = int(bind.execute(_BUMP_TEAM_SQL, {"team": team}).scalar_one())
        bind.execute(
            insert(TeamWrite),
            [
                {"team_id": team, "version": version, "resident_id": r, "written_at": now}
                for r in ids
            ],
        )
    return teams


def team_counter(bind: Engine | Connection, team_id: str) -> int:
    """The team's live-write counter now (0 before its first write)."""
    sql = text("SELECT version FROM team_versions WHERE team_id = :team")
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            value = conn.execute(sql, {"team": team_id}).scalar()
    else:
        value = bind.execute(sql, {"team": team_id}).scalar()
    return int(value or 0)


def residents_written(
    bind: Engine | Connection, team_id: str, after: int, upto: int
) -> list[str] | None:
    """The residents the team's counter moved for in ``(after, upto]``, sorted.

    None when the log does not hold every version of the range (pruned, or written by an
    older release): the caller must then compute the list whole.
    """
    if upto <= after:
        return []
    sql = text(
        "SELECT version, resident_id FROM team_writes"
        " WHERE team_id = :team AND version > :after AND version <= :upto"
    )
    params = {"team": team_id, "after": after, "upto": upto}
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            rows = conn.execute(sql, params).all()
    else:
        rows = bind.execute(sql, params).all()
    if len({int(v) for v, _ in rows}) != upto - after:
        return None
    return sorted({str(r) for _, r in rows})


def prune_team_writes(bind: Engine, older_than: dt.datetime) -> int:
    """Delete the log rows written before ``older_than``; return how many.

    Lists are cached per day, so a list is never spliced from a base older than a day:
    the morning run keeps two days.
    """
    with bind.begin() as conn:
        result = conn.execute(delete(TeamWrite).where(TeamWrite.written_at < older_than))
    return int(result.rowcount or 0)


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
