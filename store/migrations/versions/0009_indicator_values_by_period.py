"""indicator values keyed by period before unit: a build appends, a tile reads one period

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 08:20:00

The primary key becomes (build_id, period, level, unit_id, indicator), still ``WITHOUT
ROWID`` on SQLite. A build computes and writes one period at a time; with the period
after the build in the key each period's rows are one contiguous run of the B-tree (the
writer appends instead of splitting pages all over the tree), and a map tile, which shows
one period, reads ~20 rows per cell that sit together instead of one period's rows spread
among the thirteen built. The side panel's trend of one unit names the build's periods
(``period IN (...)``): thirteen key probes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NEW_KEY = ["build_id", "period", "level", "unit_id", "indicator"]
OLD_KEY = ["build_id", "level", "unit_id", "period", "indicator"]


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


def _rekey(key: list[str]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("pk_indicator_values", "indicator_values", type_="primary")
        op.create_primary_key("pk_indicator_values", "indicator_values", key)
        return
    # SQLite cannot change a primary key in place: copy into a new table and swap. The
    # rows go in key order, so the copy is an append.
    op.create_table(
        "indicator_values_new",
        *_columns(),
        sa.PrimaryKeyConstraint(*key, name="pk_indicator_values"),
        sqlite_with_rowid=False,
    )
    names = ", ".join(c.name for c in _columns())
    op.execute(
        f"INSERT INTO indicator_values_new ({names}) SELECT {names} FROM indicator_values"
        f" ORDER BY {', '.join(key)}"
    )
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
    _rekey(NEW_KEY)


def downgrade() -> None:
    _rekey(OLD_KEY)
