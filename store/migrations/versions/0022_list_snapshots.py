"""list_snapshots: the latest live list of each team and day, shared by the workers

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 07:00:00

A list computed or spliced by one uvicorn worker is read by the others instead of being
computed again (``store.list_snapshots``, issue 17).
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "list_snapshots",
        sa.Column("team_id", sa.String(40), primary_key=True),
        sa.Column("list_date", sa.Date, primary_key=True),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("team_version", sa.BigInteger, nullable=False),
        sa.Column("entries", sa.LargeBinary, nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_list_snapshots_made_at", "list_snapshots", ["made_at"])


def downgrade() -> None:
    op.drop_index("ix_list_snapshots_made_at", table_name="list_snapshots")
    op.drop_table("list_snapshots")
