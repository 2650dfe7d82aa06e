"""build results: indicators, grid health index, disease burden, hotspots

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 03:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RESULT_TABLES = ("indicator_values", "health_index", "burden", "hotspot_results")


def upgrade() -> None:
    op.create_table(
        "builds",
        sa.Column("build_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("summary", sa.JSON),
    )
    op.create_table(
        "build_current",
        sa.Column("name", sa.String(20), primary_key=True),
        sa.Column("build_id", sa.Integer, nullable=False),
    )
    op.create_table(
        "indicator_values",
        sa.Column("build_id", sa.Integer, primary_key=True),
        sa.Column("period", sa.Date, primary_key=True),
        sa.Column("level", sa.String(10), primary_key=True),
        sa.Column("unit_id", sa.String(40), primary_key=True),
        sa.Column("indicator", sa.String(40), primary_key=True),
        sa.Column("numerator", sa.Float),
        sa.Column("denominator", sa.Float),
        sa.Column("value", sa.Float),
        sa.Column("suppressed", sa.Boolean, nullable=False),
        sa.Column("suppression_reason", sa.String(40)),
    )
    # Tiles and the side panel ask "this indicator, this level, this period" for many units.
    op.create_index(
        "ix_indicator_values_lookup",
        "indicator_values",
        ["build_id", "indicator", "level", "period"],
    )
    op.create_table(
        "health_index",
        sa.Column("build_id", sa.Integer, primary_key=True),
        sa.Column("period", sa.Date, primary_key=True),
        sa.Column("grid_id", sa.String(40), primary_key=True),
        sa.Column("value", sa.Float),
        sa.Column("components", sa.JSON),
    )
    op.create_table(
        "burden",
        sa.Column("build_id", sa.Integer, primary_key=True),
        sa.Column("town_code", sa.String(12), primary_key=True),
        sa.Column("block", sa.String(10), primary_key=True),
        sa.Column("block_name", sa.String(100)),
        *(
            sa.Column(c, sa.Float)
            for c in (
                "visits",
                "patients",
                "cost",
                "rate_per_1000",
                "county_rate_per_1000",
                "ratio_to_county",
            )
        ),
        *(sa.Column(c, sa.Integer) for c in ("rank_visits", "rank_patients", "rank_cost")),
        sa.Column("suppressed", sa.Boolean, nullable=False),
        sa.Column("suppression_reason", sa.String(40)),
    )
    op.create_table(
        "hotspot_results",
        sa.Column("build_id", sa.Integer, primary_key=True),
        sa.Column("indicator", sa.String(40), primary_key=True),
        sa.Column("level", sa.String(10), primary_key=True),
        sa.Column("unit_id", sa.String(40), primary_key=True),
        *(
            sa.Column(c, sa.Float)
            for c in (
                "rate",
                "smoothed_rate",
                "numerator",
                "denominator",
                "z",
                "p",
                "q",
                "p_sim",
            )
        ),
        sa.Column("neighbours", sa.Integer),
        sa.Column("hotspot_class", sa.String(6), nullable=False),
        sa.Column("suppressed", sa.Boolean, nullable=False),
        sa.Column("suppression_reason", sa.String(40)),
    )


def downgrade() -> None:
    for table in (*RESULT_TABLES, "build_current", "builds"):
        op.drop_table(table)
