"""login throttle per client address; audit action ``denied``

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 10:00:00

``login_throttle``: the failed logins of each client address in the current window and
the block they earned (``service.ratelimit.LoginThrottle``). In the store, so that every
worker of ``healthmap serve --workers N`` counts the same failures: per-process limits let
an address spray N times as many accounts.

``audit_log.action`` may now be ``denied`` (a request refused with 401/403/404: who, which
endpoint and id, why). On SQLite the check constraint can only change by rebuilding the
table (``batch_alter_table``), which drops the append-only triggers: they are created
again here, as migration ``0002`` asks.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

OLD_ACTIONS = ("read", "write", "export", "login", "admin")
NEW_ACTIONS = (*OLD_ACTIONS, "denied")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _set_actions(actions: tuple[str, ...]) -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint(op.f("ck_audit_log_action"), type_="check")
        batch.create_check_constraint(op.f("ck_audit_log_action"), _in_list("action", actions))
    if dialect == "sqlite":
        # The rebuilt table has lost 0002's triggers (PostgreSQL altered it in place).
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{verb.lower()}")
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log"
                f" BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {verb} refused'); END"
            )


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    _set_actions(NEW_ACTIONS)


def downgrade() -> None:
    bind = op.get_bind()
    denied = bind.execute(
        sa.text("SELECT count(*) FROM audit_log WHERE action = 'denied'")
    ).scalar_one()
    if denied:
        # Dropping them is not possible (append-only) nor wanted (they are the trail).
        raise RuntimeError(
            f"audit_log holds {denied} 'denied' records; export them before downgrading below 0013"
        )
    _set_actions(OLD_ACTIONS)
    op.drop_table("login_throttle")
