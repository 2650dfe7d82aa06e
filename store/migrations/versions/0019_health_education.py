"""health-education items and reads

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 03:20:00

* ``education_items``: an item's Markdown, audience (diseases, age band, grids, validity),
  township (NULL: county-wide), workflow state and its author and reviewer
  (``store.education``; docs/health-education.md).
* ``education_reads``: one row per resident and item, the first time the resident opened
  it (the primary key makes a second read a no-op).
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "education_items",
        sa.Column("item_id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body_markdown", sa.Text(), nullable=False),
        sa.Column("diseases", sa.JSON(), nullable=False),
        sa.Column("min_age", sa.Integer(), nullable=True),
        sa.Column("max_age", sa.Integer(), nullable=True),
        sa.Column("grids", sa.JSON(), nullable=False),
        sa.Column("town_code", sa.String(length=12), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=False),
        sa.Column("author_username", sa.String(length=64), nullable=False),
        sa.Column("author_role", sa.String(length=20), nullable=False),
        sa.Column("author_team_id", sa.String(length=40), nullable=True),
        sa.Column("reviewer_username", sa.String(length=64), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_education_items")),
    )
    op.create_index(op.f("ix_education_items_state"), "education_items", ["state"])
    op.create_index(op.f("ix_education_items_town_code"), "education_items", ["town_code"])
    op.create_table(
        "education_reads",
        sa.Column("item_id", sa.String(length=40), nullable=False),
        sa.Column("resident_id", sa.String(length=40), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("item_id", "resident_id", name=op.f("pk_education_reads")),
    )
    op.create_index("ix_education_reads_resident_id", "education_reads", ["resident_id"])


def downgrade() -> None:
    op.drop_index("ix_education_reads_resident_id", table_name="education_reads")
    op.drop_table("education_reads")
    op.drop_index(op.f("ix_education_items_town_code"), table_name="education_items")
    op.drop_index(op.f("ix_education_items_state"), table_name="education_items")
    op.drop_table("education_items")
