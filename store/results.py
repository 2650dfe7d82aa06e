"""What ``healthmap build`` computes, stored so that serving it is a lookup (migration 0003).

Every row carries the ``build_id`` that produced it. A build writes all its rows under a new
id and then, in one short transaction, points ``build_current`` at it; readers always join
through ``build_current``, so they see the old build or the new one, never half of one.
Rows are stored as served: suppressed values are already withheld (RULES.md small numbers),
with the reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    ScalarSelect,
    String,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base


class Build(Base):
    __tablename__ = "builds"
    build_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # building | ready (the current one) | superseded (the one it replaced, rows kept)
    # | dropped (rows deleted by the next build) | failed
    status: Mapped[str] = mapped_column(String(12))
    summary: Mapped[dict | None] = mapped_column(JSON)


class BuildCurrent(Base):
    """The one build readers see (a single row named ``current``)."""

    __tablename__ = "build_current"
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    build_id: Mapped[int] = mapped_column(Integer)


#: The name of the one row of ``build_current`` that readers follow.
CURRENT_BUILD_NAME = "current"


def current_build_id() -> ScalarSelect[Any]:
    """The id of the current build, as a scalar subquery (the one home of that rule).

    Readers compare with it (``t.build_id == current_build_id()``) rather than with an id
    read earlier, so a statement sees one build from start to end even while a new build
    is being made current.

    Returns
    -------
    sqlalchemy.ScalarSelect
        ``(SELECT build_id FROM build_current WHERE name = 'current')``.
    """
    return (
        select(BuildCurrent.build_id)
        .where(BuildCurrent.name == CURRENT_BUILD_NAME)
        .scalar_subquery()
    )


def current_build_id_sql() -> str:
    """:func:`current_build_id` as SQL text, for hand-written statements (PostGIS tiles).

    Compiled from the same expression, with the name inline, so the two cannot drift.

    Returns
    -------
    str
        A parenthesised subquery, valid on SQLite and PostgreSQL.
    """
    stmt = select(BuildCurrent.build_id).where(BuildCurrent.name == CURRENT_BUILD_NAME)
    sql = str(stmt.compile(compile_kwargs={"literal_binds": True}))
    return "(" + " ".join(sql.split()) + ")"


class IndicatorValue(Base):
    __tablename__ = "indicator_values"
    build_id: Mapped[int] = mapped_column(Integer)
    period: Mapped[dt.date] = mapped_column(Date)  # as-of or a month-end
    level: Mapped[str] = mapped_column(String(10))  # h3:8, grid, town ...
    unit_id: Mapped[str] = mapped_column(String(40))
    indicator: Mapped[str] = mapped_column(String(40))
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)
    suppressed: Mapped[bool] = mapped_column(Boolean)
    suppression_reason: Mapped[str | None] = mapped_column(String(40))
    __table_args__ = (
        # Keyed by period before unit: a build writes one period at a time (an append to
        # the B-tree) and a tile reads one period's rows of its cells, which sit together;
        # two B-trees per row on SQLite (no rowid table) — migrations 0008 and 0009.
        PrimaryKeyConstraint("build_id", "period", "level", "unit_id", "indicator"),
        # Choropleths and tiles: one indicator at one level and period, many units.
        Index("ix_indicator_values_lookup", "build_id", "indicator", "level", "period"),
        {"sqlite_with_rowid": False},
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


# ----------------------------------------------------------------------------------------
# Infectious-disease early warning (migration 0007, ``pipelines/surveillance.py``)
# ----------------------------------------------------------------------------------------
class SurveillanceAlert(Base):
    """An EARS alert (town or county, one day) or a space-time scan cluster (H3 cells)."""

    __tablename__ = "surveillance_alerts"
    build_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(10))  # ears | scan
    method: Mapped[str] = mapped_column(String(30))  # C1 C2 C3 | space_time_permutation
    area_level: Mapped[str] = mapped_column(String(10))  # county | town | h3:8
    area_id: Mapped[str] = mapped_column(String(40))
    day: Mapped[dt.date] = mapped_column(Date)
    start_day: Mapped[dt.date] = mapped_column(Date)
    observed: Mapped[float] = mapped_column(Float)
    expected: Mapped[float | None] = mapped_column(Float)
    statistic: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    relative_risk: Mapped[float | None] = mapped_column(Float)
    llr: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    n_cells: Mapped[int | None] = mapped_column(Integer)
    radius_km: Mapped[float | None] = mapped_column(Float)
    cells: Mapped[list | None] = mapped_column(JSON)


class RiskCell(Base):
    """Risk of spread of one H3 cell."""

    __tablename__ = "risk_cells"
    build_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    h3: Mapped[str] = mapped_column(String(16), primary_key=True)
    residents: Mapped[int] = mapped_column(Integer)
    recent_cases: Mapped[int] = mapped_column(Integer)
    rate_per_1000: Mapped[float | None] = mapped_column(Float)
    rate_score: Mapped[float] = mapped_column(Float)
    mobility_share: Mapped[float] = mapped_column(Float)
    mobility_source: Mapped[str] = mapped_column(String(6))  # od | heat | none
    alert_cell: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float] = mapped_column(Float)
    at_risk: Mapped[bool] = mapped_column(Boolean)


class VaccinationTarget(Base):
    """A resident to vaccinate against influenza (cells at risk), per team and household."""

    __tablename__ = "vaccination_targets"
    build_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    team_id: Mapped[str | None] = mapped_column(String(40))
    household_id: Mapped[str] = mapped_column(String(60))
    age: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(10))  # age | managed
    diseases: Mapped[str | None] = mapped_column(String(20))
    last_flu_vaccination: Mapped[dt.date | None] = mapped_column(Date)
    h3: Mapped[str] = mapped_column(String(16))
    risk_score: Mapped[float | None] = mapped_column(Float)
    grid_id: Mapped[str | None] = mapped_column(String(40))
    area_code: Mapped[str | None] = mapped_column(String(12))
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    due_date: Mapped[dt.date] = mapped_column(Date)
    __table_args__ = (Index("ix_vaccination_targets_team", "build_id", "team_id"),)


#: Result tables of the early warning (a build's rows are deleted with the build).
SURVEILLANCE_TABLES = (SurveillanceAlert, RiskCell, VaccinationTarget)
