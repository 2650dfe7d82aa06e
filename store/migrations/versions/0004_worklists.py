"""push lists, task dismissals

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 03:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_dismissals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("resident_id", sa.String(40), nullable=False),
        sa.Column("disease", sa.String(8), nullable=False),
        sa.Column("task_code", sa.String(30), nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("username", sa.String(60), nullable=False),
        sa.Column("team_id", sa.String(40)),
    )
    op.create_index("ix_task_dismissals_resident_id", "task_dismissals", ["resident_id"])
    op.create_table(
        "push_lists",
        sa.Column("list_date", sa.Date, primary_key=True),
        sa.Column("team_id", sa.String(40), primary_key=True),
        sa.Column("resident_id", sa.String(40), primary_key=True),
        sa.Column("disease", sa.String(8), primary_key=True),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("task_code", sa.String(30), nullable=False),
        sa.Column("colour", sa.String(6), nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("days_overdue", sa.Integer, nullable=False),
        sa.Column("risk_score", sa.Float),
        sa.Column("risk_source", sa.String(10), nullable=False),
        sa.Column("grid_id", sa.String(40)),
        sa.Column("reason_zh", sa.Text),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_push_lists_team_date", "push_lists", ["team_id", "list_date"])
    op.create_table(
        "push_list_runs",
        sa.Column("list_date", sa.Date, primary_key=True),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("teams", sa.Integer, nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("risk_source", sa.String(10), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("push_list_runs")
    op.drop_index("ix_push_lists_team_date", table_name="push_lists")
    op.drop_table("push_lists")
    op.drop_index("ix_task_dismissals_resident_id", table_name="task_dismissals")
    op.drop_table("task_dismissals")
