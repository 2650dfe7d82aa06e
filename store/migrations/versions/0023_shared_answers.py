"""shared_answers: tiles and aggregate pages computed by one worker, read by the others

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 07:30:00

Each worker computed every cold tile and indicator page again; the first to compute one
now stores it under its cache key's digest (``store.shared_answers``, issue 17).
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shared_answers",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_shared_answers_made_at", "shared_answers", ["made_at"])


def downgrade() -> None:
    op.drop_index("ix_shared_answers_made_at", table_name="shared_answers")
    op.drop_table("shared_answers")
