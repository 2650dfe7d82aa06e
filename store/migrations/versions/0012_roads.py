"""roads: OpenStreetMap way ids and road names

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 10:00:00

``roads`` (0001) now also holds the ways of an OpenStreetMap ``.osm.pbf`` extract, whose
``road_id`` is the OSM way id: way ids grow past 2**31, so the column is BIGINT on
PostgreSQL (SQLite's INTEGER is already 64-bit). ``name`` keeps the road's name (OSM
``name``, or the ``name`` property of ``roads.geojson``) for the planners' reports.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("roads") as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(200), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "roads",
            "road_id",
            type_=sa.BigInteger(),
            existing_type=sa.Integer(),
            existing_nullable=False,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "roads",
            "road_id",
            type_=sa.Integer(),
            existing_type=sa.BigInteger(),
            existing_nullable=False,
        )
    with op.batch_alter_table("roads") as batch_op:
        batch_op.drop_column("name")
