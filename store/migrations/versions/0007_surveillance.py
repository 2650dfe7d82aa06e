"""infectious-disease early warning: alerts, risk of spread, vaccination targets

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 06:10:00

Rows under a ``build_id`` like every build result (readers join through
``build_current``); written by ``pipelines.surveillance.store_surveillance``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("surveillance_alerts", "risk_cells", "vaccination_targets")


def upgrade() -> None:
    op.create_table(
        "surveillance_alerts",
        sa.Column("build_id", sa.Integer, primary_key=True),
        sa.Column("alert_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("method", sa.String(30), nullable=False),
        sa.Column("area_level", sa.String(10), nullable=False),
        sa.Column("area_id", sa.String(40), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("start_day", sa.Date, nullable=False),
        sa.Column("observed", sa.Float, nullable=False),
        *(
            sa.Column(c, sa.Float)
            for c in ("expected", "statistic", "threshold", "relative_risk", "llr", "p_value")
        ),
        sa.Column("n_cells", sa.Integer),
        sa.Column("radius_km", sa.Float),
        sa.Column("cells", sa.JSON),
    )
    op.create_table(
        "risk_cells",
        sa.Column("build_id", sa.Integer, primary_key=True),
        sa.Column("h3", sa.String(16), primary_key=True),
        sa.Column("residents", sa.Integer, nullable=False),
        sa.Column("recent_cases", sa.Integer, nullable=False),
        sa.Column("rate_per_1000", sa.Float),
        sa.Column("rate_score", sa.Float, nullable=False),
        sa.Column("mobility_share", sa.Float, nullable=False),
        sa.Column("mobility_source", sa.String(6), nullable=False),
        sa.Column("alert_cell", sa.Boolean, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("at_risk", sa.Boolean, nullable=False),
    )
    op.create_table(
        "vaccination_targets",
        sa.Column("build_id", sa.Integer, primary_key=True),
        sa.Column("resident_id", sa.String(40), primary_key=True),
        sa.Column("team_id", sa.String(40)),
        sa.Column("household_id", sa.String(60), nullable=False),
        sa.Column("age", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(10), nullable=False),
        sa.Column("diseases", sa.String(20)),
        sa.Column("last_flu_vaccination", sa.Date),
        sa.Column("h3", sa.String(16), nullable=False),
        sa.Column("risk_score", sa.Float),
        sa.Column("grid_id", sa.String(40)),
        sa.Column("area_code", sa.String(12)),
        sa.Column("lat", sa.Float),
        sa.Column("lng", sa.Float),
        sa.Column("due_date", sa.Date, nullable=False),
    )
    # A team's list (``healthmap vaccination-targets --team``) is one index range.
    op.create_index("ix_vaccination_targets_team", "vaccination_targets", ["build_id", "team_id"])


def downgrade() -> None:
    op.drop_index("ix_vaccination_targets_team", table_name="vaccination_targets")
    for table in reversed(TABLES):
        op.drop_table(table)
