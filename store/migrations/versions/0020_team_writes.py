"""team_writes: the residents each move of a team's live-write counter was for

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 04:00:00

A cached push list is brought up to date after live writes by recomputing the residents
written since it was computed (``store.version.residents_written``): one indexed read,
instead of counting every live record of the team's residents (issue 17).
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "team_writes",
        sa.Column("team_id", sa.String(40), primary_key=True),
        sa.Column("version", sa.BigInteger, primary_key=True),
        sa.Column("resident_id", sa.String(40), primary_key=True),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_team_writes_written_at", "team_writes", ["written_at"])


def downgrade() -> None:
    op.drop_index("ix_team_writes_written_at", table_name="team_writes")
    op.drop_table("team_writes")
