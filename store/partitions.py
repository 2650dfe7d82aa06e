"""A build's own partition of ``indicator_values`` on PostgreSQL (migration 0010).

A build writes its ~7M indicator rows into ``indicator_values_b<build_id>``; dropping a
superseded build drops that table — instant, and nothing left for autovacuum. SQLite has
no partitions: there the rows are deleted (a key range per period).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session

from store.engine import is_postgres
from store.results import IndicatorValue


def partition_name(build_id: int) -> str:
    """``indicator_values_b<build_id>``."""
    return f"indicator_values_b{int(build_id)}"


def add_build_partition(engine: Engine, build_id: int) -> None:
    """Make ``build_id``'s partition (PostgreSQL; nothing on SQLite)."""
    if not is_postgres(engine):
        return
    with engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {partition_name(build_id)} PARTITION OF"
                f" indicator_values FOR VALUES IN ({int(build_id)})"
            )
        )


def drop_build_indicators(engine: Engine, build_id: int) -> None:
    """Remove every indicator row of ``build_id``.

    PostgreSQL: its partition is dropped (rows a test or an older store left in the
    default partition are deleted). SQLite: one transaction per period, a key range each,
    so that other writers (a visit recorded, an audit record) wait seconds, not the whole
    delete.
    """
    t = IndicatorValue
    if is_postgres(engine):
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {partition_name(build_id)}"))
            conn.execute(delete(t).where(t.build_id == build_id))
        return
    with Session(engine) as session:
        periods: list[dt.date] = list(
            session.scalars(select(t.period).where(t.build_id == build_id).distinct())
        )
    for period in periods:
        with engine.begin() as conn:
            conn.execute(delete(t).where(t.build_id == build_id, t.period == period))
