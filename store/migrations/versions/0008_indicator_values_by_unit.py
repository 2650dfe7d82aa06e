"""indicator values keyed by unit: one fewer index to write, clustered on SQLite

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 06:00:00

A county build writes ~7M indicator rows. The primary key becomes (build_id, level,
unit_id, period, indicator), which answers the one-unit look-up of 0005 by itself, so that
index goes; on SQLite the table is ``WITHOUT ROWID`` (the rows live in the key's B-tree
instead of a rowid table plus a key index). Three B-trees per row instead of four on
PostgreSQL, two instead of four on SQLite: the build's writes took half the time.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NEW_KEY = ["build_id", "level", "unit_id", "period", "indicator"]
OLD_KEY = ["build_id", "period", "level", "unit_id", "indicator"]


def _columns() -> list[sa.Column]:
    return [
        sa.Column("build_id", sa.Integer, nullable=False),
        sa.Column("period", sa.Date, nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("unit_id", sa.String(40), nullable=False),
        sa.Column("indicator", sa.String(40), nullable=False),
        sa.Column("numerator", sa.Float),
        sa.Column("denominator", sa.Float),
        sa.Column("value", sa.Float),
        sa.Column("suppressed", sa.Boolean, nullable=False),
        sa.Column("suppression_reason", sa.String(40)),
    ]


def _rebuild_sqlite(key: list[str], without_rowid: bool) -> None:
    # SQLite cannot change a primary key in place: copy into a new table and swap.
    op.create_table(
        "indicator_values_new",
        *_columns(),
        sa.PrimaryKeyConstraint(*key, name="pk_indicator_values"),
        sqlite_with_rowid=not without_rowid,
    )
    names = ", ".join(c.name for c in _columns())
    op.execute(f"INSERT INTO indicator_values_new ({names}) SELECT {names} FROM indicator_values")
    op.drop_table("indicator_values")
    op.rename_table("indicator_values_new", "indicator_values")
    op.create_index(
        "ix_indicator_values_lookup",
        "indicator_values",
        ["build_id", "indicator", "level", "period"],
    )
    # The copy has no planner statistics: without them a one-unit look-up scans the build.
    op.execute("PRAGMA analysis_limit=400")
    op.execute("ANALYZE indicator_values")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(NEW_KEY, without_rowid=True)
        return
    op.drop_index("ix_indicator_values_unit", table_name="indicator_values")
    op.drop_constraint("pk_indicator_values", "indicator_values", type_="primary")
    op.create_primary_key("pk_indicator_values", "indicator_values", NEW_KEY)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(OLD_KEY, without_rowid=False)
    else:
        op.drop_constraint("pk_indicator_values", "indicator_values", type_="primary")
        op.create_primary_key("pk_indicator_values", "indicator_values", OLD_KEY)
    op.create_index(
        "ix_indicator_values_unit", "indicator_values", ["build_id", "level", "unit_id"]
    )
