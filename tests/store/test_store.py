"""The store: migrations on both backends, geometry round trips, spatial indexes."""

from __future__ import annotations

import datetime as dt

import pytest
import shapely
from alembic import command
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from store.engine import alembic_config, is_postgres, migrate, normalise_url
from store.models import CONTRACT_TABLES, TABLES, Area, Resident
from store.partitions import add_build_partition, drop_build_indicators


def test_every_contract_table_exists(store: Engine) -> None:
    tables = set(inspect(store).get_table_names())
    missing = (set(CONTRACT_TABLES) | {"quarantine", "ingest_batches", "ingest_files"}) - tables
    assert not missing
    assert set(TABLES) <= tables


def test_migrate_twice_is_a_no_op(store: Engine) -> None:
    migrate(store)
    with store.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar_one()


def test_geometry_round_trip(store: Engine) -> None:
    polygon = shapely.Polygon([(118.7, 36.8), (118.9, 36.8), (118.9, 36.9), (118.7, 36.8)])
    with Session(store) as session:
        session.add(Area(area_code="370783000000", name="寿光市", level="county", geom=polygon))
        session.add(
            Resident(
                resident_id="R1",
                name="张三",
                sex=1,
                birth_date=dt.date(1950, 1, 1),
                area_code="370783001001",
                geom=shapely.Point(118.79, 36.86),
            )
        )
        session.commit()
    with Session(store) as session:
        area = session.scalars(select(Area)).one()
        resident = session.scalars(select(Resident)).one()
    assert area.geom.equals(polygon)
    assert resident.geom.equals(shapely.Point(118.79, 36.86))


@pytest.mark.postgis  # SQLite keeps WKB; there is no spatial index to check
def test_postgis_has_spatial_indexes_and_srid(store: Engine) -> None:
    assert is_postgres(store)
    with Session(store) as session:
        session.add(
            Area(
                area_code="370783000000",
                name="寿光市",
                level="county",
                geom=shapely.Point(118.79, 36.86),
            )
        )
        session.commit()
    with store.connect() as conn:
        srid = conn.execute(text("select ST_SRID(geom) from areas")).scalar_one()
        indexes = {
            r[0]
            for r in conn.execute(
                text("select indexname from pg_indexes where indexdef ilike '%gist%'")
            )
        }
    assert srid == 4326
    for table in ("areas", "facilities", "residents", "grids", "case_reports", "roads"):
        assert f"ix_{table}_geom" in indexes


def test_normalise_url_uses_psycopg3() -> None:
    assert normalise_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def _indicator_rows(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT build_id, period, level, unit_id, indicator, numerator, value,"
                " suppressed FROM indicator_values ORDER BY level, unit_id, period, indicator"
            )
        )
        return [tuple(r) for r in rows]


def test_indicator_values_keyed_by_period_and_migration_keeps_rows(store: Engine) -> None:
    # 0009: (build_id, period, level, unit_id, indicator); 0008 had the unit before the period.
    key = inspect(store).get_pk_constraint("indicator_values")["constrained_columns"]
    assert key == ["build_id", "period", "level", "unit_id", "indicator"]
    command.downgrade(alembic_config(store), "0008")
    assert inspect(store).get_pk_constraint("indicator_values")["constrained_columns"] == [
        "build_id",
        "level",
        "unit_id",
        "period",
        "indicator",
    ]
    with store.begin() as conn:
        for period, unit, ind, num in [
            ("2026-10-31", "8831aa", "htn_control_rate", 3.0),
            ("2026-11-15", "8831aa", "htn_control_rate", 4.0),
            ("2026-11-15", "8831ab", "dm_control_rate", 0.0),
        ]:
            conn.execute(
                text(
                    "INSERT INTO indicator_values (build_id, period, level, unit_id, indicator,"
                    " numerator, denominator, value, suppressed) VALUES"
                    " (1, :p, 'h3:8', :u, :i, :n, 10, :n / 10, false)"
                ),
                {"p": dt.date.fromisoformat(period), "u": unit, "i": ind, "n": num},
            )
    before = _indicator_rows(store)
    migrate(store)
    store.dispose()
    key = inspect(store).get_pk_constraint("indicator_values")["constrained_columns"]
    assert key == ["build_id", "period", "level", "unit_id", "indicator"]
    after = _indicator_rows(store)
    assert len(after) == 3 and after == before
    assert [r[6] for r in after] == [0.3, 0.4, 0.0]


def test_a_build_partition_is_dropped_with_its_rows_only(store: Engine) -> None:
    def add(build_id: int, period: str, unit: str) -> None:
        with store.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO indicator_values (build_id, period, level, unit_id, indicator,"
                    " numerator, denominator, value, suppressed) VALUES"
                    " (:b, :p, 'town', :u, 'signing_rate', 5, 10, 0.5, false)"
                ),
                {"b": build_id, "p": dt.date.fromisoformat(period), "u": unit},
            )

    for build_id in (5, 6):
        add_build_partition(store, build_id)
        for period in ("2026-10-31", "2026-11-15"):
            for unit in ("370783001000", "370783002000"):
                add(build_id, period, unit)
    add(7, "2026-11-15", "370783001000")  # no partition of its own: the default one
    if is_postgres(store):
        with store.connect() as conn:
            where = conn.execute(
                text("SELECT tableoid::regclass::text, count(*) FROM indicator_values GROUP BY 1")
            ).all()
        assert dict(where) == {
            "indicator_values_b5": 4,
            "indicator_values_b6": 4,
            "indicator_values_default": 1,
        }
    drop_build_indicators(store, 5)
    drop_build_indicators(store, 7)
    with store.connect() as conn:
        left = conn.execute(
            text("SELECT build_id, count(*) FROM indicator_values GROUP BY 1 ORDER BY 1")
        ).all()
    assert [tuple(r) for r in left] == [(6, 4)]
    assert "indicator_values_b5" not in inspect(store).get_table_names()
