"""Keyset pages of a level's indicator rows: the same rows as the whole listing, on the key.

Two builds of hand-made rows (the other build's rows must never show), three levels, four
indicators. Paging with ``after`` (the last row's key) returns exactly the ordered listing
of :func:`store.queries.indicator_values`, for every filter; an ``offset`` page is its
slice; and the statement is a range of the primary key — ``EXPLAIN`` on both stores
shows an index search and no sort.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import Engine, insert, text

from store.partitions import add_build_partition
from store.queries import indicator_count, indicator_page, indicator_page_query, indicator_values
from store.results import CURRENT_BUILD_NAME, Build, BuildCurrent, IndicatorValue

AS_OF = dt.date(2026, 6, 30)
INDICATORS = ("a_rate", "b_rate", "c_rate", "d_rate")


def _seed(engine: Engine) -> int:
    rows = []
    for build_id in (1, 2):
        for level, n in (("grid", 37), ("town", 5), ("h3:9", 61)):
            for u in range(n):
                for ind in INDICATORS:
                    rows.append(
                        {
                            "build_id": build_id,
                            "period": AS_OF,
                            "level": level,
                            "unit_id": f"{level[:1].upper()}{u:04d}",
                            "indicator": ind,
                            "numerator": float(u),
                            "denominator": 100.0,
                            "value": u / 100 + build_id,
                            "suppressed": False,
                            "suppression_reason": None,
                        }
                    )
    now = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        for build_id in (1, 2):
            conn.execute(
                insert(Build).values(
                    build_id=build_id,
                    as_of=AS_OF,
                    started_at=now,
                    finished_at=now,
                    status="ready" if build_id == 2 else "superseded",
                    summary={"periods": [AS_OF.isoformat()]},
                )
            )
        conn.execute(insert(BuildCurrent).values(name=CURRENT_BUILD_NAME, build_id=2))
    for build_id in (1, 2):
        add_build_partition(engine, build_id)
    with engine.begin() as conn:
        conn.execute(insert(IndicatorValue), rows)
        conn.exec_driver_sql("ANALYZE indicator_values")
    return 2


def _pages(engine: Engine, build_id: int, level: str, size: int, **filters: object) -> pd.DataFrame:
    parts, after = [], None
    for _ in range(1000):
        page = indicator_page(engine, build_id, level, AS_OF, after=after, limit=size, **filters)  # type: ignore[arg-type]
        if page.empty:
            break
        parts.append(page)
        after = (str(page["unit_id"].iloc[-1]), str(page["indicator"].iloc[-1]))
        if len(page) < size:
            break
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("size", [1, 7, 100])
def test_keyset_pages_are_the_whole_listing(store: Engine, size: int) -> None:
    build_id = _seed(store)
    for level in ("grid", "town", "h3:9"):
        whole = indicator_values(store, level)
        assert len(whole) > 0 and (whole["value"] >= 2).all()  # the current build's only
        got = _pages(store, build_id, level, size)
        pd.testing.assert_frame_equal(got, whole)
        assert indicator_count(store, build_id, level, AS_OF) == len(whole)
    one = _pages(store, build_id, "grid", size, indicator="c_rate")
    pd.testing.assert_frame_equal(one, indicator_values(store, "grid", indicator="c_rate"))
    units = ["G0003", "G0011", "G0012", "G0036"]
    scoped = _pages(store, build_id, "grid", size, units=units)
    assert sorted(set(scoped["unit_id"])) == units and len(scoped) == 16
    assert indicator_count(store, build_id, "grid", AS_OF, units=units) == 16


def test_offset_pages_still_work(store: Engine) -> None:
    build_id = _seed(store)
    whole = indicator_values(store, "h3:9")
    page = indicator_page(store, build_id, "h3:9", AS_OF, offset=50, limit=30)
    pd.testing.assert_frame_equal(page, whole.iloc[50:80].reset_index(drop=True))


def _plan(engine: Engine, build_id: int) -> str:
    stmt = indicator_page_query(build_id, "h3:9", AS_OF, after=("H0010", "b_rate"), limit=100)
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # On a table this small any plan is cheap and the planner may read it all and
            # sort: take scans and sorts away to show the key alone yields the page in order
            # (what it picks on a county's millions of rows).
            for option in ("seqscan", "bitmapscan", "sort"):
                conn.exec_driver_sql(f"SET enable_{option} = off")
        rows = conn.execute(text(explain + sql)).all()
    return "\n".join(" ".join(str(c) for c in r) for r in rows)


def test_a_keyset_page_is_a_range_of_the_primary_key(store: Engine) -> None:
    build_id = _seed(store)
    plan = _plan(store, build_id)
    if store.dialect.name == "postgresql":
        assert "Index Scan using indicator_values_b2_pkey" in plan or (
            "Index Scan using" in plan and "_b2" in plan
        ), plan
        assert "Index Cond" in plan and "unit_id" in plan, plan
        assert "Sort" not in plan and "Seq Scan" not in plan, plan
        assert "_b1" not in plan and "default" not in plan, plan  # other builds pruned
    else:
        assert "SEARCH indicator_values USING PRIMARY KEY" in plan, plan
        assert "unit_id>" in plan.replace(" ", ""), plan
        assert "TEMP B-TREE" not in plan, plan
