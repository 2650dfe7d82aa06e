"""The live channel's events (migration 0017): what open pages must hear of at once.

The service runs several worker processes; a page's Server-Sent Events connection is held
by one of them, the reading that concerns it may be recorded by another. So an event is a
row here, written in the recording transaction (it exists exactly when the reading does),
and every worker reads the rows after the last id it has seen (``service.live``) and hands
them to its own connections. Rows are kept for an hour (:func:`prune_live_events`): long
enough for a page that lost its connection to resume with ``Last-Event-ID``, short enough
that the table stays small.

A row carries ids and values only (resident id, measurement id, readings): never a name,
phone or address; a page that needs more asks the API, with its own scope checks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Connection, Engine, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.accounts import UTCDateTime
from store.models import Base

#: Events older than this are deleted; a page away for longer reloads its list instead.
LIVE_EVENTS_KEPT = dt.timedelta(hours=1)

_BigId = BigInteger().with_variant(Integer, "sqlite")


class LiveEvent(Base):
    """One event for the open pages of a team (``team_id``) and of its township."""

    __tablename__ = "live_events"
    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    team_id: Mapped[str | None] = mapped_column(String(40))
    town_code: Mapped[str | None] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Ids only grow, even after every row was pruned (SQLite would otherwise reuse them,
    # and a page's Last-Event-ID and the workers' last-seen id would skip new events).
    __table_args__ = ({"sqlite_autoincrement": True},)


def add_live_event(
    session: Session,
    *,
    kind: str,
    team_id: str | None,
    town_code: str | None,
    payload: dict[str, Any],
    now: dt.datetime,
) -> LiveEvent:
    """Add an event to ``session`` (it is written with the caller's commit)."""
    row = LiveEvent(
        created_at=now, kind=kind, team_id=team_id, town_code=town_code, payload=payload
    )
    session.add(row)
    return row


def live_events_after(
    bind: Engine | Connection,
    after_id: int,
    *,
    team_id: str | None = None,
    town_code: str | None = None,
    limit: int = 1000,
) -> list[LiveEvent]:
    """Events with an id above ``after_id``, oldest first; only a team's or a town's when
    ``team_id`` or ``town_code`` is given."""
    query = select(LiveEvent).where(LiveEvent.id > after_id)
    if team_id is not None:
        query = query.where(LiveEvent.team_id == team_id)
    if town_code is not None:
        query = query.where(LiveEvent.town_code == town_code)
    with Session(bind, expire_on_commit=False) as session:
        rows = list(session.scalars(query.order_by(LiveEvent.id).limit(limit)))
        session.expunge_all()
    return rows


def last_live_event_id(bind: Engine | Connection) -> int:
    """The highest event id (0 for an empty table)."""
    with Session(bind) as session:
        return int(session.scalar(select(LiveEvent.id).order_by(LiveEvent.id.desc()).limit(1)) or 0)


def prune_live_events(bind: Engine, now: dt.datetime, kept: dt.timedelta = LIVE_EVENTS_KEPT) -> int:
    """Delete the events older than ``kept``; returns how many (one indexed range delete)."""
    with bind.begin() as conn:
        result = conn.execute(delete(LiveEvent).where(LiveEvent.created_at < now - kept))
    return int(result.rowcount or 0)
