"""What ``healthmap build`` computes, stored so that serving it is a lookup (migration 0003).

Every row carries the ``build_id`` that produced it. A build writes all its rows under a new
id and then, in one short transaction, points ``build_current`` at it; readers always join
through ``build_current``, so they see the old build or the new one, never half of one.
Rows are stored as served: suppressed values are already withheld (RULES.md small numbers),
with the reason.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from healthmap.store.models import Base


class Build(Base):
    __tablename__ = "builds"
    build_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(12))  # building | ready | failed
    summary: Mapped[dict | None] = mapped_column(JSON)


class BuildCurrent(Base):
    """The one build readers see (a single row named ``current``)."""

    __tablename__ = "build_current"
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    build_id: Mapped[int] = mapped_column(Integer)


class IndicatorValue(Base):
    __tablename__ = "indicator_values"
    build_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[dt.date] = mapped_column(Date, primary_key=True)  # as-of or a month-end
    level: Mapped[str] = mapped_column(String(10), primary_key=True)  # h3:8, grid, town ...
    unit_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    indicator: Mapped[str] = mapped_column(String(40), primary_key=True)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)
    suppressed: Mapped[bool] = mapped_column(Boolean)
    suppression_reason: Mapped[str | None] = mapped_column(String(40))
    __table_args__ = (
        Index("ix_indicator_values_lookup", "build_id", "indicator", "level", "period"),
        Index("ix_indicator_values_unit", "build_id", "level", "unit_id"),
    )


class HealthIndex(Base):
    __tablename__ = "health_index"
    build_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    grid_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    components: Mapped[dict | None] = mapped_column(JSON)


class BurdenRow(Base):
    __tablename__ = "burden"
    build_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    town_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    block: Mapped[str] = mapped_column(String(10), primary_key=True)
    block_name: Mapped[str | None] = mapped_column(String(100))
    visits: Mapped[float | None] = mapped_column(Float)
    patients: Mapped[float | None] = mapped_column(Float)
    cost: Mapped[float | None] = mapped_column(Float)
    rate_per_1000: Mapped[float | None] = mapped_column(Float)
    county_rate_per_1000: Mapped[float | None] = mapped_column(Float)
    ratio_to_county: Mapped[float | None] = mapped_column(Float)
    rank_visits: Mapped[int | None] = mapped_column(Integer)
    rank_patients: Mapped[int | None] = mapped_column(Integer)
    rank_cost: Mapped[int | None] = mapped_column(Integer)
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    suppression_reason: Mapped[str | None] = mapped_column(String(40))


class HotspotResult(Base):
    __tablename__ = "hotspot_results"
    build_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator: Mapped[str] = mapped_column(String(40), primary_key=True)
    level: Mapped[str] = mapped_column(String(10), primary_key=True)
    unit_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    rate: Mapped[float | None] = mapped_column(Float)
    smoothed_rate: Mapped[float | None] = mapped_column(Float)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    neighbours: Mapped[int | None] = mapped_column(Integer)
    z: Mapped[float | None] = mapped_column(Float)
    p: Mapped[float | None] = mapped_column(Float)
    q: Mapped[float | None] = mapped_column(Float)
    p_sim: Mapped[float | None] = mapped_column(Float)
    hotspot_class: Mapped[str] = mapped_column(String(6))
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    suppression_reason: Mapped[str | None] = mapped_column(String(40))
