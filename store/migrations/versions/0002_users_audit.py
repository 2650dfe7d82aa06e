"""users, audit log, login attempts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 03:00:00

The audit log is append-only in the store itself, not only in the API: triggers reject
UPDATE and DELETE on both backends (and TRUNCATE on PostgreSQL). A database superuser can
still drop them; docs/security.md says how to run the service under a role that cannot.

SQLite note: a later migration that alters ``audit_log`` with ``batch_alter_table`` rebuilds
the table and loses the triggers; such a migration must create them again
(:func:`create_append_only_triggers`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ROLES = ("doctor", "chronic_center", "bureau", "planner", "admin")
AUDIT_ACTIONS = ("read", "write", "export", "login", "admin")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def create_append_only_triggers(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log"
            " FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
            " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
    elif dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log"
                f" BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {verb} refused'); END"
            )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("team_id", sa.String(length=40), nullable=True),
        sa.Column("town_code", sa.String(length=12), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_in_list("role", ROLES), name=op.f("ck_users_role")),
        sa.CheckConstraint(
            "(role <> 'doctor' OR team_id IS NOT NULL)"
            " AND (role <> 'chronic_center' OR town_code IS NOT NULL)",
            name=op.f("ck_users_scope"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=True),
        sa.Column("resource_id", sa.String(length=100), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.CheckConstraint(_in_list("action", AUDIT_ACTIONS), name=op.f("ck_audit_log_action")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_action"), "audit_log", ["action"], unique=False)
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index(op.f("ix_audit_log_user_id"), "audit_log", ["user_id"], unique=False)

    op.create_table(
        "login_attempts",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username_key", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index(op.f("ix_login_attempts_at"), "login_attempts", ["at"], unique=False)
    op.create_index(op.f("ix_login_attempts_user_id"), "login_attempts", ["user_id"], unique=False)
    op.create_index(
        op.f("ix_login_attempts_username_key"), "login_attempts", ["username_key"], unique=False
    )

    create_append_only_triggers(dialect)


def downgrade() -> None:
    bind = op.get_bind()
    # Dropping the table would destroy the audit trail this migration promises to keep.
    count = bind.execute(sa.text("SELECT count(*) FROM audit_log")).scalar_one()
    if count:
        raise RuntimeError(
            f"audit_log holds {count} records; export them before downgrading below 0002"
        )
    op.drop_table("login_attempts")
    op.drop_table("audit_log")  # drops its triggers with it
    op.drop_table("users")
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
