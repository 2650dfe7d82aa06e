"""province: the deployment's counties and what each publishes for the province

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 18:20:00

A province deployment keeps each county in a partition of its own (store.counties); the
root store registers the counties and holds their published county and town aggregates
and outlines (store.province, issue 16). The tables exist in every partition too (one
set of migrations), where they stay empty.

``users`` may hold the new role ``province`` (the province's or a city's bureau, in the
root store); on SQLite the check constraint changes by rebuilding the table.
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


OLD_ROLES = ("resident", "doctor", "chronic_center", "bureau", "planner", "admin")
NEW_ROLES = (*OLD_ROLES, "province")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _roles(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("ck_users_role"), type_="check")
        batch.create_check_constraint(op.f("ck_users_role"), _in_list("role", values))


def upgrade() -> None:
    _roles(NEW_ROLES)
    op.create_table(
        "counties",
        sa.Column("county_code", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("city_code", sa.String(12), nullable=False),
        sa.Column("city_name", sa.String(100)),
        sa.Column("partitioned", sa.Boolean, nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "province_publications",
        sa.Column("county_code", sa.String(12), primary_key=True),
        sa.Column("build_id", sa.Integer, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
    )
    op.create_table(
        "province_values",
        sa.Column("county_code", sa.String(12), nullable=False),
        sa.Column("period", sa.Date, nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("unit_id", sa.String(40), nullable=False),
        sa.Column("indicator", sa.String(40), nullable=False),
        sa.Column("numerator", sa.Float),
        sa.Column("denominator", sa.Float),
        sa.Column("value", sa.Float),
        sa.Column("suppressed", sa.Boolean, nullable=False),
        sa.Column("suppression_reason", sa.String(40)),
        sa.PrimaryKeyConstraint(
            "county_code", "period", "level", "unit_id", "indicator", name="pk_province_values"
        ),
    )
    op.create_table(
        "province_shapes",
        sa.Column("county_code", sa.String(12), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("unit_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("geojson", sa.Text),
        sa.PrimaryKeyConstraint("county_code", "level", "unit_id", name="pk_province_shapes"),
    )


def downgrade() -> None:
    op.execute("DELETE FROM users WHERE role = 'province'")
    _roles(OLD_ROLES)
    for table in ("province_shapes", "province_values", "province_publications", "counties"):
        op.drop_table(table)
