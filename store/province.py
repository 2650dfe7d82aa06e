"""What a province deployment's root store holds: its counties and what they publish.

A county's build ends by publishing its county and town aggregates (the rows of
``indicator_values`` at those levels, after small-number suppression) and its county and
town outlines into the root store (``pipelines.province.publish_county``). The province
and city bureaus read only these tables: aggregates, never a county's personal rows, which
stay in the county's partition (:mod:`store.counties`). Republishing a county replaces
its rows and no other county's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import Boolean as Bool
from sqlalchemy import Date, DateTime, Engine, Float, Integer, String, Text, delete, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base


class CountyRow(Base):
    """A county of the deployment (its partition is ``store.counties.partition_name``)."""

    __tablename__ = "counties"
    county_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    city_code: Mapped[str] = mapped_column(String(12))
    city_name: Mapped[str | None] = mapped_column(String(100))
    # True: the county's data is in its partition of this store (store.counties); False:
    # this store is the county's own (a county deployed alone publishing for itself).
    partitioned: Mapped[bool] = mapped_column(Bool)
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Publication(Base):
    """The build a county last published, and when."""

    __tablename__ = "province_publications"
    county_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    build_id: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[dt.date] = mapped_column(Date)
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    rows: Mapped[int] = mapped_column(Integer)


class ProvinceValue(Base):
    """A published indicator value of a county or of one of its towns."""

    __tablename__ = "province_values"
    county_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    period: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    level: Mapped[str] = mapped_column(String(10), primary_key=True)  # county | town
    unit_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    indicator: Mapped[str] = mapped_column(String(40), primary_key=True)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)
    suppressed: Mapped[bool] = mapped_column(Bool)
    suppression_reason: Mapped[str | None] = mapped_column(String(40))


class ProvinceShape(Base):
    """A county's or town's outline as published (GeoJSON geometry, WGS84, simplified)."""

    __tablename__ = "province_shapes"
    county_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    level: Mapped[str] = mapped_column(String(10), primary_key=True)
    unit_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    geojson: Mapped[str | None] = mapped_column(Text)


VALUE_COLUMNS = [c.name for c in ProvinceValue.__table__.columns]
SHAPE_COLUMNS = [c.name for c in ProvinceShape.__table__.columns]


def register_county(
    engine: Engine,
    county_code: str,
    name: str,
    city_code: str,
    city_name: str | None,
    *,
    partitioned: bool = True,
) -> None:
    """Add county ``county_code`` to the deployment, or update its names.

    ``partitioned=False`` registers the county whose own store this is (a county deployed
    alone): the service starts no partition app for it.
    """
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(delete(CountyRow).where(CountyRow.county_code == county_code))
        conn.execute(
            insert(CountyRow).values(
                county_code=county_code,
                name=name,
                city_code=city_code,
                city_name=city_name,
                partitioned=partitioned,
                registered_at=now,
            )
        )


def unregister_county(engine: Engine, county_code: str) -> None:
    """Remove county ``county_code`` and everything it published from the root store."""
    with engine.begin() as conn:
        for table in (ProvinceValue, ProvinceShape, Publication, CountyRow):
            conn.execute(delete(table).where(table.county_code == county_code))


def counties(engine: Engine, *, partitioned_only: bool = False) -> pd.DataFrame:
    """The registered counties (code, name, city, partitioned), by code.

    ``partitioned_only``: those whose data is in a partition of this store (a province
    deployment's counties; none for a county deployed alone).
    """
    t = CountyRow
    cols = [t.county_code, t.name, t.city_code, t.city_name, t.partitioned, t.registered_at]
    stmt = select(*cols).order_by(t.county_code)
    if partitioned_only:
        stmt = stmt.where(t.partitioned.is_(True))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=[c.key for c in cols])


def replace_publication(
    engine: Engine,
    county_code: str,
    build_id: int,
    as_of: dt.date,
    values: pd.DataFrame,
    shapes: pd.DataFrame,
) -> int:
    """Replace county ``county_code``'s published rows with ``values`` and ``shapes``.

    One transaction: a reader sees the county's previous publication or this one whole.
    Returns the number of value rows written.
    """
    value_rows = _records(values, VALUE_COLUMNS)
    shape_rows = _records(shapes, SHAPE_COLUMNS)
    with engine.begin() as conn:
        for table in (ProvinceValue, ProvinceShape, Publication):
            conn.execute(delete(table).where(table.county_code == county_code))
        if value_rows:
            conn.execute(insert(ProvinceValue), value_rows)
        if shape_rows:
            conn.execute(insert(ProvinceShape), shape_rows)
        conn.execute(
            insert(Publication).values(
                county_code=county_code,
                build_id=build_id,
                as_of=as_of,
                published_at=dt.datetime.now(dt.UTC),
                rows=len(value_rows),
            )
        )
    return len(value_rows)


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    out = frame[columns].astype(object).where(frame[columns].notna(), None)
    return out.to_dict("records")  # type: ignore[return-value]


def published_values(
    engine: Engine,
    indicator: str,
    period: dt.date,
    level: str,
    county_code: str | None = None,
) -> pd.DataFrame:
    """Published rows of one indicator, period and level (of one county when given)."""
    t = ProvinceValue
    stmt = select(*[t.__table__.c[c] for c in VALUE_COLUMNS]).where(
        t.indicator == indicator, t.period == period, t.level == level
    )
    if county_code is not None:
        stmt = stmt.where(t.county_code == county_code)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=VALUE_COLUMNS)


def published_periods(engine: Engine) -> list[dt.date]:
    """Every period some county published, latest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(ProvinceValue.period).distinct().order_by(ProvinceValue.period.desc())
        ).scalars()
        return list(rows)


def published_shapes(engine: Engine, level: str, county_code: str | None = None) -> pd.DataFrame:
    """Published outlines of ``level`` (of one county when given)."""
    t = ProvinceShape
    stmt = select(*[t.__table__.c[c] for c in SHAPE_COLUMNS]).where(t.level == level)
    if county_code is not None:
        stmt = stmt.where(t.county_code == county_code)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=SHAPE_COLUMNS)


def publications(engine: Engine) -> pd.DataFrame:
    """Each county's last publication (county, build, as-of date, when, rows)."""
    with engine.connect() as conn:
        rows = conn.execute(select(Publication).order_by(Publication.county_code)).all()
    return pd.DataFrame(
        [tuple(r) for r in rows],
        columns=["county_code", "build_id", "as_of", "published_at", "rows"],
    )
