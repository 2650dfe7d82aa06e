"""index indicator values by unit (the side panel and the one-unit API)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 04:55:00

``GET /api/v1/indicators/{level}/{unit_id}`` and the map's side panel ask for one unit's
indicators over every period; without this index that is a scan of the ~7M rows of a
county build.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_indicator_values_unit", "indicator_values", ["build_id", "level", "unit_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_indicator_values_unit", table_name="indicator_values")
