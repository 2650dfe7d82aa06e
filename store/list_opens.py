"""When a team first opened its list of a day (migration 0014): the console's "opened".

The 06:00 run writes every team's list (``push_lists``, ``push_list_runs``); whether the
team then looked at it is recorded here, once per team and day, the first time a doctor of
the team fetches its list (``service.routes.care.pushlist``). The chronic-disease centre's
console (``service.routes.console``) reads it beside the run's status.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Iterable

from sqlalchemy import Date, Engine, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.accounts import UTCDateTime
from store.models import Base


class ListOpened(Base):
    """The first fetch of a team's list of ``list_date`` by one of its doctors."""

    __tablename__ = "push_list_opens"
    list_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    username: Mapped[str] = mapped_column(String(64))


#: Per engine, the (team, day) this process has recorded already: a list is fetched on
#: every refresh of the phone page, the row is written once. Keyed by the engine object,
#: not its URL: a database dropped and created again under the same name (tests, a
#: re-created store) must not inherit what the old one had.
_SEEN: weakref.WeakKeyDictionary[Engine, set[tuple[str, dt.date]]] = weakref.WeakKeyDictionary()


def record_list_opened(
    engine: Engine, team_id: str, day: dt.date, username: str, now: dt.datetime
) -> bool:
    """Record the team's first look at its list of ``day``; False when it was recorded."""
    seen = _SEEN.setdefault(engine, set())
    key = (team_id, day)
    if key in seen:
        return False
    with Session(engine) as session:
        if session.get(ListOpened, (day, team_id)) is not None:
            seen.add(key)
            return False
        session.add(ListOpened(list_date=day, team_id=team_id, opened_at=now, username=username))
        try:
            session.commit()
        except IntegrityError:  # another worker recorded it first
            session.rollback()
            seen.add(key)
            return False
    seen.add(key)
    return True


def lists_opened(session: Session, day: dt.date, team_ids: Iterable[str]) -> dict[str, ListOpened]:
    """Team → its first opening of the list of ``day`` (teams that did not open it: absent)."""
    ids = list(team_ids)
    if not ids:
        return {}
    rows = session.scalars(
        select(ListOpened).where(ListOpened.list_date == day, ListOpened.team_id.in_(ids))
    )
    return {r.team_id: r for r in rows}
