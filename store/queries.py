"""Reading the current build's results (what the CLI, the API and the tiles serve).

Every query joins through ``build_current``, so a rebuild in progress is invisible.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Select, func, select, tuple_

from geo.errors import NoBuildError
from geo.rules import DEFAULT_RULES
from store.results import (
    Build,
    BurdenRow,
    HealthIndex,
    HotspotResult,
    IndicatorValue,
    current_build_id,
)

# The old private name: ``service.routes.surveillance`` still imports it from here.
_current = current_build_id


def _frame(engine: Engine, stmt: Select) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(stmt)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def current_build(engine: Engine) -> dict:
    """The current build's id, as-of date and periods; raises NoBuildError before the first."""
    with engine.connect() as conn:
        row = conn.execute(
            select(Build.build_id, Build.as_of, Build.summary).where(
                Build.build_id == current_build_id()
            )
        ).first()
    if row is None:
        raise NoBuildError("no build yet: run `healthmap build`")
    summary = row.summary or {}
    return {
        "build_id": row.build_id,
        "as_of": row.as_of,
        "periods": summary.get("periods", []),
        "suppression_k": build_k(summary),
    }


def build_k(summary: dict[str, Any]) -> int:
    """The small-number threshold a build ran with (RULES.md's 10 for builds that predate
    its record in the summary, which all ran with the default)."""
    k = summary.get("suppression_k")
    return int(k) if k is not None else DEFAULT_RULES.indicators.suppression_k


def _period(engine: Engine, period: dt.date | None) -> dt.date:
    build = current_build(engine)
    if period is None:
        return build["as_of"]
    if period.isoformat() not in build["periods"]:
        raise LookupError(f"{period} was not built; built periods: {', '.join(build['periods'])}")
    return period


def indicator_values(
    engine: Engine,
    level: str,
    *,
    period: dt.date | None = None,
    indicator: str | None = None,
    unit_id: str | None = None,
) -> pd.DataFrame:
    """Indicator rows of one level for one period (default the as-of date)."""
    when = _period(engine, period)
    t = IndicatorValue
    stmt = (
        select(
            t.period,
            t.level,
            t.unit_id,
            t.indicator,
            t.numerator,
            t.denominator,
            t.value,
            t.suppressed,
            t.suppression_reason,
        )
        .where(t.build_id == current_build_id(), t.level == level, t.period == when)
        .order_by(t.unit_id, t.indicator)
    )
    if indicator:
        stmt = stmt.where(t.indicator == indicator)
    if unit_id:
        stmt = stmt.where(t.unit_id == unit_id)
    return _frame(engine, stmt)


_INDICATOR_COLUMNS = (
    IndicatorValue.period,
    IndicatorValue.level,
    IndicatorValue.unit_id,
    IndicatorValue.indicator,
    IndicatorValue.numerator,
    IndicatorValue.denominator,
    IndicatorValue.value,
    IndicatorValue.suppressed,
    IndicatorValue.suppression_reason,
)


def _indicator_where(
    stmt: Select,
    build_id: int,
    level: str,
    period: dt.date,
    indicator: str | None,
    unit_id: str | None,
    units: Sequence[str] | None,
) -> Select:
    t = IndicatorValue
    # The build id as a value, not the build_current subquery: PostgreSQL then prunes the
    # other builds' partitions when it plans.
    stmt = stmt.where(t.build_id == build_id, t.period == period, t.level == level)
    if indicator:
        stmt = stmt.where(t.indicator == indicator)
    if unit_id:
        stmt = stmt.where(t.unit_id == unit_id)
    if units is not None:
        stmt = stmt.where(t.unit_id.in_(list(units)))
    return stmt


def indicator_page_query(
    build_id: int,
    level: str,
    period: dt.date,
    *,
    indicator: str | None = None,
    unit_id: str | None = None,
    units: Sequence[str] | None = None,
    after: tuple[str, str] | None = None,
    offset: int = 0,
    limit: int = 100,
) -> Select:
    """The statement of :func:`indicator_page` (for EXPLAIN)."""
    t = IndicatorValue
    stmt = _indicator_where(
        select(*_INDICATOR_COLUMNS), build_id, level, period, indicator, unit_id, units
    )
    if after is not None:
        # A range of the primary key (build_id, period, level, unit_id, indicator): the
        # redundant unit_id bound lets either planner start the scan at the cursor.
        stmt = stmt.where(t.unit_id >= after[0], tuple_(t.unit_id, t.indicator) > tuple_(*after))
    stmt = stmt.order_by(t.unit_id, t.indicator).limit(limit)
    return stmt.offset(offset) if offset else stmt


def indicator_page(
    engine: Engine,
    build_id: int,
    level: str,
    period: dt.date,
    *,
    indicator: str | None = None,
    unit_id: str | None = None,
    units: Sequence[str] | None = None,
    after: tuple[str, str] | None = None,
    offset: int = 0,
    limit: int = 100,
) -> pd.DataFrame:
    """One page of a level's indicator rows in key order (unit_id, indicator).

    Read along the primary key from ``after`` (the last row's ``(unit_id, indicator)`` of
    the previous page, keyset pagination: the cost is the page's, whatever the level's
    size) or, for the old clients, from ``offset`` (the rows skipped are still walked).

    Parameters
    ----------
    engine : Engine
    build_id : int
        The build to read (the current one: :func:`current_build`).
    level, period : str, date
    indicator, unit_id : str, optional
        Only this indicator, only this unit.
    units : sequence of str, optional
        Only these units (a centre's township).
    after : (str, str), optional
        The key after which the page starts.
    offset, limit : int
    """
    return _frame(
        engine,
        indicator_page_query(
            build_id,
            level,
            period,
            indicator=indicator,
            unit_id=unit_id,
            units=units,
            after=after,
            offset=offset,
            limit=limit,
        ),
    )


def indicator_count(
    engine: Engine,
    build_id: int,
    level: str,
    period: dt.date,
    *,
    indicator: str | None = None,
    unit_id: str | None = None,
    units: Sequence[str] | None = None,
) -> int:
    """How many rows :func:`indicator_page` pages through (a page's ``total``).

    Counting walks the level's keys; a build's rows never change once written, so a
    caller may keep the count per build and filter (the service does).
    """
    stmt = _indicator_where(
        select(func.count()).select_from(IndicatorValue),
        build_id,
        level,
        period,
        indicator,
        unit_id,
        units,
    )
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def indicator_trend(engine: Engine, level: str, unit_id: str) -> pd.DataFrame:
    """All built periods of one unit's indicators (the side panel's 12-month trend)."""
    build = current_build(engine)
    periods = [dt.date.fromisoformat(p) for p in build["periods"]]
    t = IndicatorValue
    # The periods are named: the key is (build_id, period, level, unit_id, …), so a unit's
    # trend is one key probe per built period, whatever the planner's statistics say.
    stmt = select(
        t.period,
        t.indicator,
        t.numerator,
        t.denominator,
        t.value,
        t.suppressed,
        t.suppression_reason,
    ).where(
        t.build_id == build["build_id"],
        t.period.in_(periods),
        t.level == level,
        t.unit_id == unit_id,
    )
    # Sorted here, not in SQL: with ORDER BY indicator, period SQLite without statistics
    # (e.g. after a migration rebuilt the table) may walk the (build_id, indicator, …)
    # index through the whole build — 36 s at scale 1.0 — instead of the unit's keys.
    frame = _frame(engine, stmt)
    return frame.sort_values(["indicator", "period"], kind="stable").reset_index(drop=True)


def hotspot_results(engine: Engine, indicator: str, level: str = "h3:8") -> pd.DataFrame:
    """Hotspot classes and statistics of one indicator at one level."""
    current_build(engine)
    t = HotspotResult
    stmt = (
        select(
            t.unit_id,
            t.indicator,
            t.level,
            t.rate,
            t.smoothed_rate,
            t.numerator,
            t.denominator,
            t.neighbours,
            t.z,
            t.p,
            t.q,
            t.p_sim,
            t.hotspot_class,
            t.suppressed,
            t.suppression_reason,
        )
        .where(t.build_id == current_build_id(), t.indicator == indicator, t.level == level)
        .order_by(t.unit_id)
    )
    return _frame(engine, stmt)


def burden(engine: Engine, town_code: str | None = None) -> pd.DataFrame:
    """Disease burden per town (top conditions by ICD-10 block)."""
    current_build(engine)
    t = BurdenRow
    cols = [c for c in t.__table__.columns if c.name != "build_id"]
    stmt = (
        select(*cols).where(t.build_id == current_build_id()).order_by(t.town_code, t.rank_visits)
    )
    if town_code:
        stmt = stmt.where(t.town_code == town_code)
    return _frame(engine, stmt)


def health_index(engine: Engine, *, period: dt.date | None = None) -> pd.DataFrame:
    """Grid health index of one period."""
    when = _period(engine, period)
    t = HealthIndex
    stmt = (
        select(t.period, t.grid_id, t.value, t.components)
        .where(t.build_id == current_build_id(), t.period == when)
        .order_by(t.grid_id)
    )
    return _frame(engine, stmt)


def surveillance_alerts(engine: Engine, *, day: dt.date | None = None) -> pd.DataFrame:
    """Early-warning alerts of the current build (EARS and scan), one day or all."""
    from store.results import SurveillanceAlert as t

    current_build(engine)
    cols = [c for c in t.__table__.columns if c.name != "build_id"]
    stmt = select(*cols).where(t.build_id == current_build_id()).order_by(t.day, t.alert_id)
    if day is not None:
        stmt = stmt.where(t.day == day)
    return _frame(engine, stmt)


def vaccination_targets(engine: Engine, *, team_id: str | None = None) -> pd.DataFrame:
    """Influenza vaccination targets of the current build, per team and household."""
    from store.results import VaccinationTarget as t

    current_build(engine)
    cols = [c for c in t.__table__.columns if c.name != "build_id"]
    stmt = (
        select(*cols)
        .where(t.build_id == current_build_id())
        .order_by(t.team_id, t.household_id, t.age.desc(), t.resident_id)
    )
    if team_id is not None:
        stmt = stmt.where(t.team_id == team_id)
    return _frame(engine, stmt)
