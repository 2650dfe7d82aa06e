"""Health-education items and who read them (migration 0019; docs/health-education.md).

``education_items`` holds an item's text (Markdown as written; the HTML is rendered at
request time by ``geo.education_content``), its audience (diseases, age band, grids,
validity), its workflow state and who wrote and reviewed it. ``town_code`` is the
township the item belongs to: its author's (a centre's own, a doctor's team's); NULL for
the bureau's and admin's county-wide items. ``education_reads`` records that a resident
opened an item: one row per resident and item (the primary key), so a second read changes
nothing.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.accounts import UTCDateTime
from store.models import Base


class EducationItem(Base):
    """One health-education item."""

    __tablename__ = "education_items"
    item_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body_markdown: Mapped[str] = mapped_column(Text)
    diseases: Mapped[list[str]] = mapped_column(JSON)  # codes; [] = everyone
    min_age: Mapped[int | None] = mapped_column(Integer)
    max_age: Mapped[int | None] = mapped_column(Integer)
    grids: Mapped[list[str]] = mapped_column(JSON)  # grid ids; [] = all of the town
    town_code: Mapped[str | None] = mapped_column(String(12), index=True)  # None = county
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(12), index=True)
    author_user_id: Mapped[int] = mapped_column(Integer)
    author_username: Mapped[str] = mapped_column(String(64))
    author_role: Mapped[str] = mapped_column(String(20))
    author_team_id: Mapped[str | None] = mapped_column(String(40))
    reviewer_username: Mapped[str | None] = mapped_column(String(64))
    review_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class EducationRead(Base):
    """A resident opened an item (the first time; later reads add nothing)."""

    __tablename__ = "education_reads"
    item_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    read_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_education_reads_resident_id", "resident_id"),)
