"""indicator values partitioned by build on PostgreSQL: a superseded build is dropped, not deleted

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 09:45:00

On PostgreSQL ``indicator_values`` becomes a table partitioned by ``build_id`` (LIST): a
build writes into a partition of its own (``indicator_values_b<id>``, made by
``store.partitions.add_build_partition``) and dropping a superseded build is a
``DROP TABLE`` — no 7M-row DELETE, no dead rows for autovacuum to clear while the next
build runs. Rows of a build without a partition land in ``indicator_values_default``.
SQLite has no partitions: nothing changes there (its builds delete a key range per period).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

KEY = "build_id, period, level, unit_id, indicator"
COLUMNS = (
    "build_id integer NOT NULL, period date NOT NULL, level varchar(10) NOT NULL,"
    " unit_id varchar(40) NOT NULL, indicator varchar(40) NOT NULL, numerator float8,"
    " denominator float8, value float8, suppressed boolean NOT NULL,"
    " suppression_reason varchar(40)"
)
NAMES = (
    "build_id, period, level, unit_id, indicator, numerator, denominator, value, suppressed,"
    " suppression_reason"
)


def _move(partitioned: bool) -> None:
    op.execute("ALTER TABLE indicator_values RENAME TO indicator_values_old")
    op.execute("ALTER TABLE indicator_values_old RENAME CONSTRAINT pk_indicator_values TO pk_old")
    op.execute("ALTER INDEX ix_indicator_values_lookup RENAME TO ix_old_lookup")
    builds = [
        r[0]
        for r in op.get_bind().execute(
            sa.text("SELECT DISTINCT build_id FROM indicator_values_old ORDER BY 1")
        )
    ]
    if partitioned:
        op.execute(f"CREATE TABLE indicator_values ({COLUMNS}) PARTITION BY LIST (build_id)")
        op.execute("CREATE TABLE indicator_values_default PARTITION OF indicator_values DEFAULT")
        for build_id in builds:
            op.execute(
                f"CREATE TABLE indicator_values_b{int(build_id)} PARTITION OF indicator_values"
                f" FOR VALUES IN ({int(build_id)})"
            )
    else:
        op.execute(f"CREATE TABLE indicator_values ({COLUMNS})")
    op.execute(
        f"ALTER TABLE indicator_values ADD CONSTRAINT pk_indicator_values PRIMARY KEY ({KEY})"
    )
    op.execute(
        "CREATE INDEX ix_indicator_values_lookup ON indicator_values"
        " (build_id, indicator, level, period)"
    )
    op.execute(f"INSERT INTO indicator_values ({NAMES}) SELECT {NAMES} FROM indicator_values_old")
    op.execute("DROP TABLE indicator_values_old")
    op.execute("ANALYZE indicator_values")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _move(partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The partitions go with their parent (DROP TABLE of a partitioned table).
        _move(partitioned=False)
