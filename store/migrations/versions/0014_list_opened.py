"""push_list_opens: when a team first opened its list of a day

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 01:10:00

The chronic-disease centre's console shows, per team, the 06:00 run's status: generated
(``push_list_runs``, ``push_lists``) and *opened by the team*. One row per team and day,
written the first time a doctor of the team fetches its list that day
(``store.list_opens``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_list_opens",
        sa.Column("list_date", sa.Date, primary_key=True),
        sa.Column("team_id", sa.String(40), primary_key=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("push_list_opens")
