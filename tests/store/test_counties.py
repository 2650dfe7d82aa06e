"""Counties as partitions of one store (store.counties), on SQLite and PostGIS."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, func, insert, inspect, select

from store.counties import (
    county_code12,
    county_url,
    drop_partition,
    migrate_partitions,
    open_partition,
    partition_name,
)
from store.engine import make_engine
from store.models import Area
from store.province import counties, register_county, unregister_county


def test_codes_and_urls() -> None:
    assert county_code12("370725") == county_code12("370725000000") == "370725000000"
    assert partition_name("370725000000") == "county_370725"
    with pytest.raises(ValueError, match="370725001000"):
        county_code12("370725001000")  # a town, not a county
    assert county_url("sqlite:////srv/hm/healthmap.db", "370725") == (
        "sqlite:////srv/hm/healthmap.county_370725.db"
    )
    pg = county_url("postgresql://u@h:5432/hm", "370725")
    assert pg.startswith("postgresql+psycopg://u@h:5432/hm?options=")
    assert "search_path%3Dcounty_370725%2Cpublic" in pg
    with pytest.raises(ValueError, match="in-memory"):
        county_url("sqlite:///:memory:", "370725")


def _count_areas(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Area)) or 0)


def _add_county_area(engine: Engine, code: str, name: str) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Area).values(area_code=code, name=name, level="county"))


def test_partitions_hold_their_own_rows(store: Engine, store_url: str) -> None:
    a = open_partition(store_url, "370783")
    b = open_partition(store_url, "370725")
    try:
        # Each partition has every table of the store, at head, of its own.
        assert {"areas", "residents", "indicator_values", "users"} <= set(
            inspect(a).get_table_names()
        )
        _add_county_area(a, "370783000000", "寿光市")
        assert (_count_areas(a), _count_areas(b), _count_areas(store)) == (1, 0, 0)
        _add_county_area(b, "370725000000", "昌乐县")
        _add_county_area(store, "370000000000", "root")
        assert (_count_areas(a), _count_areas(b), _count_areas(store)) == (1, 1, 1)
        # Reopening finds the same partition (its URL carries it to other processes).
        again = make_engine(county_url(store_url, "370725000000"))
        with again.connect() as conn:
            assert conn.scalar(select(Area.name)) == "昌乐县"
        again.dispose()
    finally:
        a.dispose()
        b.dispose()
    drop_partition(store, "370725")
    b = open_partition(store_url, "370725")  # made again, empty
    try:
        assert _count_areas(b) == 0
    finally:
        b.dispose()


def test_the_registry(store: Engine) -> None:
    register_county(store, "370725000000", "昌乐县", "370700000000", "潍坊市")
    register_county(store, "370783000000", "寿光", "370700000000", None)
    register_county(store, "370783000000", "寿光市", "370700000000", "潍坊市")  # renamed
    register_county(store, "370724000000", "临朐县", "370700000000", "潍坊市", partitioned=False)
    frame = counties(store)
    assert frame[["county_code", "name", "city_name", "partitioned"]].values.tolist() == [
        ["370724000000", "临朐县", "潍坊市", False],
        ["370725000000", "昌乐县", "潍坊市", True],
        ["370783000000", "寿光市", "潍坊市", True],
    ]
    assert counties(store, partitioned_only=True)["county_code"].tolist() == [
        "370725000000",
        "370783000000",
    ]
    assert all(isinstance(t, dt.datetime) for t in frame["registered_at"])
    unregister_county(store, "370725000000")
    assert counties(store)["county_code"].tolist() == ["370724000000", "370783000000"]


def test_migrate_partitions_brings_every_registered_partition_to_head(
    store: Engine, store_url: str
) -> None:
    register_county(store, "370725000000", "昌乐县", "370700000000", None)
    register_county(store, "370724000000", "临朐县", "370700000000", None, partitioned=False)
    assert migrate_partitions(store_url) == ["370725000000"]
    made = make_engine(county_url(store_url, "370725"))
    try:
        assert "residents" in inspect(made).get_table_names()
    finally:
        made.dispose()
