"""team versions: a live write makes stale only the push lists of the resident's teams

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 12:50:00

One row per team that has had a live write (a follow-up, a reading, a dismissal) about a
resident on its lists. The service's push-list cache is keyed by the store's version and
the team's counter (``store.version``): at 08:00, with visits being recorded
all over the county, a team's cached list stays valid until one of its own residents is
written, instead of every list going stale at every write. ``store_version`` (0006) stays:
it is the counter of writes that concern every team (``healthmap db bump-version``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "team_versions",
        sa.Column("team_id", sa.String(40), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("team_versions")
