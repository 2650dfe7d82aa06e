"""residents' accounts (activation codes, PINs)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 03:20:00

* ``users`` may now hold role ``resident``, bound to exactly one resident by the new,
  unique ``resident_id`` (check ``ck_users_resident``: set for a resident, NULL for staff).
  On SQLite the check constraints change by rebuilding the table (``batch_alter_table``);
  ``users`` has no triggers to restore.
* ``resident_accounts``: the activation a doctor issues (the code's keyed hash and expiry,
  the PIN's failures and lock, the revoke) — ``store.resident_accounts``.
* ``measurements.source``: ``self`` for a reading the resident entered at home.
* ``audit_log`` gets an index on (resource_type, resource_id): a resident's "who read my
  record" list asks by it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

OLD_ROLES = ("doctor", "chronic_center", "bureau", "planner", "admin")
NEW_ROLES = ("resident", *OLD_ROLES)
RESIDENT_CHECK = "(role = 'resident') = (resident_id IS NOT NULL)"


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("resident_id", sa.String(length=40), nullable=True))
        batch.create_unique_constraint(op.f("uq_users_resident_id"), ["resident_id"])
        batch.drop_constraint(op.f("ck_users_role"), type_="check")
        batch.create_check_constraint(op.f("ck_users_role"), _in_list("role", NEW_ROLES))
        batch.create_check_constraint(op.f("ck_users_resident"), RESIDENT_CHECK)

    op.create_table(
        "resident_accounts",
        sa.Column("resident_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.Integer(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("resident_id", name=op.f("pk_resident_accounts")),
        sa.UniqueConstraint("user_id", name=op.f("uq_resident_accounts_user_id")),
    )
    op.create_index(
        op.f("ix_resident_accounts_code_hash"), "resident_accounts", ["code_hash"], unique=False
    )

    with op.batch_alter_table("measurements") as batch:
        batch.add_column(sa.Column("source", sa.String(length=12), nullable=True))

    # A resident's "who read my record" asks the audit log by resource (type and id).
    op.create_index(
        "ix_audit_log_resource_type_resource_id",
        "audit_log",
        ["resource_type", "resource_id"],
        unique=False,
    )


def downgrade() -> None:
    bind = op.get_bind()
    residents = bind.execute(
        sa.text("SELECT count(*) FROM users WHERE role = 'resident'")
    ).scalar_one()
    if residents:
        raise RuntimeError(
            f"users holds {residents} resident accounts; disable and remove them before"
            " downgrading below 0018"
        )
    op.drop_index("ix_audit_log_resource_type_resource_id", table_name="audit_log")
    with op.batch_alter_table("measurements") as batch:
        batch.drop_column("source")
    op.drop_table("resident_accounts")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("ck_users_resident"), type_="check")
        batch.drop_constraint(op.f("ck_users_role"), type_="check")
        batch.create_check_constraint(op.f("ck_users_role"), _in_list("role", OLD_ROLES))
        batch.drop_constraint(op.f("uq_users_resident_id"), type_="unique")
        batch.drop_column("resident_id")
