"""Morning push lists, doctors' dismissals and recorded visits' bookkeeping (migration 0004).

``push_lists`` is the snapshot pushed to every team before work (what was sent, kept for
audit and for the chronic-disease centre's overview); the phone page shows the live list,
computed from the store at request time, so a visit recorded at 10:00 closes its task at
10:00 and an emergency reading opens a red task at once. Names and phones are not copied
here: they are joined from ``residents`` and masked according to who looks.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base


class TaskDismissal(Base):
    """A doctor closed a task without a visit, with a reason (kept; audited)."""

    __tablename__ = "task_dismissals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resident_id: Mapped[str] = mapped_column(String(40), index=True)
    disease: Mapped[str] = mapped_column(String(8))
    task_code: Mapped[str] = mapped_column(String(30))
    due_date: Mapped[dt.date] = mapped_column(Date)
    dismissed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text)
    username: Mapped[str] = mapped_column(String(60))
    team_id: Mapped[str | None] = mapped_column(String(40))


class PushListEntry(Base):
    """One task of one team's list for one day, in list order."""

    __tablename__ = "push_lists"
    list_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    disease: Mapped[str] = mapped_column(String(8), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    task_code: Mapped[str] = mapped_column(String(30))
    colour: Mapped[str] = mapped_column(String(6))
    due_date: Mapped[dt.date] = mapped_column(Date)
    days_overdue: Mapped[int] = mapped_column(Integer)
    risk_score: Mapped[float | None] = mapped_column(Float)
    risk_source: Mapped[str] = mapped_column(String(10))  # model | fallback
    grid_id: Mapped[str | None] = mapped_column(String(40))
    reason_zh: Mapped[str | None] = mapped_column(Text)
    generated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_push_lists_team_date", "team_id", "list_date"),)


class PushListRun(Base):
    """When the lists of a day were generated, and how big they were."""

    __tablename__ = "push_list_runs"
    list_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    generated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    teams: Mapped[int] = mapped_column(Integer)
    entries: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)
    risk_source: Mapped[str] = mapped_column(String(10))
