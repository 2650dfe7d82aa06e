"""Opening the store and bringing its schema up to date.

The URL picks the backend: ``sqlite:///path.db`` (embedded default) or
``postgresql+psycopg://…`` (production, PostGIS). Schema changes only ever come from the
Alembic migrations in ``store/migrations``; both backends run the same ones.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, exc, inspect, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url

from store.sqlite_arrow import BUSY_TIMEOUT_MS

MIGRATIONS = Path(__file__).parent / "migrations"

#: Seconds a pooled PostgreSQL connection may sit idle and still be used without a ping.
PING_AFTER_IDLE_SECONDS = 1.0


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
    # The URL's own ``options`` (a county partition's search path, store.counties) are
    # kept: psycopg would take connect_args' options instead of them.
    options = " ".join(o for o in (url_options(u), "-c jit=off") if o)
    connect_args = {"options": options, **kwargs.pop("connect_args", {})}
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    ping_idle_connections(engine, PING_AFTER_IDLE_SECONDS)
    return engine


def url_options(u: Any) -> str | None:
    """The ``options`` a URL's query gives libpq (the last one when repeated)."""
    given = u.query.get("options")
    return given[-1] if isinstance(given, tuple) else given


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled PostgreSQL connection before use when it sat idle > ``idle_seconds``.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout, and psycopg opens a
    transaction for the ping: two round trips per checkout (``BEGIN`` and the ping),
    about a quarter of a checkout's cost measured on an idle machine, and more under
    load, where each round trip waits for a PostgreSQL backend on the same cores.
    A connection given back within the last ``idle_seconds`` was working then, so it is
    used as it is; an idle one is pinged outside a transaction (one round trip). A
    connection that broke in between (the server restarted within that second) fails
    its statement as a disconnect, which SQLAlchemy answers by discarding every pooled
    connection older than the failure (the request fails, as any request does while
    the store is away, and the service maps it to 503). A failed ping is raised as
    ``DisconnectionError``, on which the pool discards its connections and tries a new
    one: the recipe of SQLAlchemy's "pessimistic disconnect handling" with events.
    """
    dbapi_error = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkin")
    def _given_back(_dbapi_conn: Any, record: Any) -> None:
        record.info["given_back_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_when_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        given_back = record.info.get("given_back_at")
        if given_back is None or time.monotonic() - given_back <= idle_seconds:
            return  # just connected, or in use a moment ago
        try:
            autocommit = dbapi_conn.autocommit
            dbapi_conn.autocommit = True  # no BEGIN for the ping
            try:
                dbapi_conn.execute(";")
            finally:
                dbapi_conn.autocommit = autocommit
        except dbapi_error as err:
            raise exc.DisconnectionError(f"the pooled connection did not answer: {err}") from err


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


def reads_engine(engine: Engine) -> Engine:
    """``engine`` for reads that need no transaction of their own (one ``SELECT``, or a few
    whose snapshots may differ, as they may in a READ COMMITTED transaction anyway).

    PostgreSQL: the same pool in autocommit, so a read is its statements only — psycopg
    otherwise sends ``BEGIN`` before the first and SQLAlchemy ``ROLLBACK`` after the last,
    two round trips that every request paid. SQLite: ``engine`` itself (a transaction
    there costs no round trip, and switching its isolation level costs a ``PRAGMA`` each
    time a connection goes back to the pool). Make it once per engine (an app's
    startup): each call makes a new option engine.
    """
    if is_postgres(engine):
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


@contextlib.contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A pooled connection for one read that needs no transaction, as :func:`reads_engine`
    gives, for code that holds the plain engine: on PostgreSQL this connection runs in
    autocommit (no ``BEGIN`` and ``ROLLBACK`` round trips; switching psycopg's autocommit
    sends nothing); SQLite's as ever."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def relaxed_commit(conn: Connection) -> None:
    """Let ``conn``'s transaction commit without waiting for the WAL's flush to disk.

    For what may be lost in a crash of the machine (not of the service) in the ~0.6 s
    before PostgreSQL's WAL writer flushes it: answers and lists the service can compute
    again, and the batched audit records of reads. SQLite commits that way anyway (WAL,
    ``synchronous=NORMAL``: :func:`make_engine`). Under load every commit waited for its
    flush, and the flush's stalls were the p99 of the mixed load (issue 17). Writes of
    data (visits, readings) keep the flush. Call first in the transaction.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL synchronous_commit TO OFF"))


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def table_names(engine: Engine) -> list[str]:
    return inspect(engine).get_table_names()
