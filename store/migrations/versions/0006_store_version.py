"""store version: a counter bumped by every live write the push lists depend on

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 05:40:00

One row (``id = 1``). The service bumps it in the transaction of each recorded follow-up,
reading and dismissal; with the current build and the ingest marks it makes the store's
write version (``store.version``), which keys the service's push-list cache in
every worker process.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "store_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("store_version")
