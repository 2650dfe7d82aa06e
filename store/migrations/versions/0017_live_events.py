"""live_events: the live channel's events

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 03:20:00

An emergency reading is announced to the open pages of its team and township through
this table (``store.live_events``, ``service.live``): written in the recording
transaction, read by every worker process after the last id it has seen, deleted after an
hour (the index on ``created_at`` makes that delete a range scan).
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("team_id", sa.String(40), nullable=True),
        sa.Column("town_code", sa.String(20), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        # Ids only grow, even after every row was pruned (SQLite reuses them otherwise).
        sqlite_autoincrement=True,
    )
    op.create_index("ix_live_events_created_at", "live_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_live_events_created_at", table_name="live_events")
    op.drop_table("live_events")
