"""Health-education tables (store.education, migration 0019)."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.education import EducationItem, EducationRead
from store.models import Base

TABLES = ("education_items", "education_reads")


def test_migration_matches_the_models(store: Engine) -> None:
    with store.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert [d for d in diffs if any(t in repr(d) for t in TABLES)] == []
    assert set(TABLES) <= set(inspect(store).get_table_names())


def test_one_read_per_resident_and_item_and_lists_round_trip(store: Engine) -> None:
    now = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
    with Session(store) as session:
        session.add(
            EducationItem(
                item_id="E1",
                title="少盐",
                body_markdown="**5 克**",
                diseases=["htn", "t2dm"],
                grids=["G01"],
                town_code="370783001000",
                valid_from=dt.date(2026, 1, 1),
                state="published",
                author_user_id=1,
                author_username="doctor1",
                author_role="doctor",
                created_at=now,
                updated_at=now,
            )
        )
        session.add(EducationRead(item_id="E1", resident_id="R01", read_at=now))
        session.commit()
    with Session(store) as session:
        item = session.get(EducationItem, "E1")
        assert item is not None
        assert item.diseases == ["htn", "t2dm"] and item.grids == ["G01"]
        assert item.created_at == now and item.created_at.tzinfo is not None  # UTC on SQLite too
        assert session.scalar(select(EducationRead.read_at)) == now
    with pytest.raises(IntegrityError), Session(store) as session:
        session.add(EducationRead(item_id="E1", resident_id="R01", read_at=now))
        session.commit()
