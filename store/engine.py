"""Opening the store and bringing its schema up to date.

The URL picks the backend: ``sqlite:///path.db`` (embedded default) or
``postgresql+psycopg://…`` (production, PostGIS). Schema changes only ever come from the
Alembic migrations in ``store/migrations``; both backends run the same ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url

from store.sqlite_arrow import BUSY_TIMEOUT_MS

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for the store at ``url``; a SQLite file's folder is created."""
    url = normalise_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # JIT compiles a plan's expressions for 50-100 ms: worth it for hour-long analytics, a
    # loss on every query this product runs (a team's claims: 0.4 s of which 70 ms JIT).
    connect_args = {"options": "-c jit=off", **kwargs.pop("connect_args", {})}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the service read while an ingest or a build writes; NORMAL is safe with WAL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA cache_size=-200000")
    cur.close()


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the store's schema to ``revision`` (creates PostGIS when missing)."""
    command.upgrade(alembic_config(engine), revision)


def analyze(engine: Engine, tables: Iterable[str]) -> None:
    """Refresh the planner statistics of ``tables`` after a bulk write.

    Without them PostgreSQL guesses: a team's claims by an id list were read with a scan of
    all 8M claims (1.1 s) instead of the resident index (0.3 s); SQLite without statistics
    picks the index that avoids a sort and scans a whole build. SQLite samples (fast).
    """
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA analysis_limit=400")
        for table in tables:
            conn.exec_driver_sql(f'ANALYZE "{table}"')


def upsert_insert(dialect: str, table: Any) -> Any:
    """``INSERT`` into ``table`` with ``ON CONFLICT`` (``on_conflict_do_nothing``/``_update``)
    for the store's ``dialect`` (``engine.dialect.name``): the generic ``insert`` has no
    conflict clause, and each dialect spells it in its own construct."""
    if dialect == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def table_names(engine: Engine) -> list[str]:
    return inspect(engine).get_table_names()
