"""terminals, device keys, reading quarantine

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 03:20:00

The smart measuring terminals (``store.terminals``): the registry (no key is stored: a
device's key is derived from a master secret, its id and ``key_generation``), the nonces
of signed requests inside the signature window (replay refusal) and the readings that
could not be stored, with their reason.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "terminals",
        sa.Column("terminal_id", sa.String(60), primary_key=True),
        sa.Column("facility_id", sa.String(40), nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("key_generation", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('active', 'revoked')", name="ck_terminals_status"),
        sa.CheckConstraint("key_generation >= 1", name="ck_terminals_key_generation"),
    )
    op.create_index("ix_terminals_facility_id", "terminals", ["facility_id"])
    op.create_table(
        "terminal_nonces",
        sa.Column("terminal_id", sa.String(60), primary_key=True),
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_terminal_nonces_seen_at", "terminal_nonces", ["seen_at"])
    op.create_table(
        "terminal_quarantine",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("terminal_id", sa.String(60), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("measurement_id", sa.String(100), nullable=True),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("field", sa.String(60), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("raw", sa.JSON, nullable=True),
    )
    op.create_index("ix_terminal_quarantine_reason", "terminal_quarantine", ["reason"])
    op.create_index(
        "ix_terminal_quarantine_terminal", "terminal_quarantine", ["terminal_id", "received_at"]
    )


def downgrade() -> None:
    op.drop_table("terminal_quarantine")
    op.drop_table("terminal_nonces")
    op.drop_table("terminals")
