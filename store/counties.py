"""Counties as partitions of one store: a schema each on PostgreSQL, a file each on SQLite.

A province deployment holds many counties (Shandong: 136). Each county's delivery, build,
lists, accounts and records live in the county's own partition, whose tables are exactly a
single county's store (the same migrations), so every query of the product runs unchanged
inside it. The partition is the county key: loading or rebuilding one county deletes and
writes inside its partition only, and a statement in one county's partition cannot reach
another's rows.

The *root* store (the URL as configured) holds the registry of the deployment's counties
(:class:`store.province.CountyRow`) and what each county publishes for the province: its
county and town aggregates and outlines (:mod:`store.province`). A single-county
deployment is the root store alone, as before.

- PostgreSQL: schema ``county_<6-digit code>`` in the same database, reached through the
  connection's ``search_path`` (the partition's schema, then ``public`` for PostGIS). The
  search path is written into the URL, so every process handed the URL (a build's pool
  workers, Dask workers) reaches the same partition.
- SQLite: the file ``<stem>.county_<code>.db`` beside the root file (SQLite has no schemas
  that a connection could default to; ``ATTACH`` would make every statement name them).
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from store.engine import make_engine, migrate, normalise_url, url_options

#: A county's code: the 6-digit administrative code, or its 12-digit statistical form.
_CODE = re.compile(r"^(\d{6})(000000)?$")
#: The prefix of a partition's schema (PostgreSQL) or file-name part (SQLite).
PARTITION_PREFIX = "county_"
#: Where a search path names PostGIS's types and functions after the partition.
SHARED_SCHEMA = "public"


def county_code12(code: str) -> str:
    """The 12-digit statistical code of a county given as 6 or 12 digits.

    Parameters
    ----------
    code : str
        ``370725`` or ``370725000000``.

    Returns
    -------
    str
        ``370725000000``.

    Raises
    ------
    ValueError
        When ``code`` is not a county code, naming the value and the accepted forms.

    Examples
    --------
    >>> county_code12("370725")
    '370725000000'
    """
    m = _CODE.match(code.strip())
    if m is None:
        raise ValueError(
            f"{code!r} is not a county code: give its 6-digit administrative code (370725)"
            " or the 12-digit statistical code (370725000000)"
        )
    return f"{m.group(1)}000000"


def partition_name(code: str) -> str:
    """The partition of county ``code``: ``county_370725`` (a schema or a file-name part)."""
    return f"{PARTITION_PREFIX}{county_code12(code)[:6]}"


def county_url(url: str, code: str) -> str:
    """The URL of county ``code``'s partition of the store at ``url``.

    Examples
    --------
    >>> county_url("sqlite:////srv/hm/healthmap.db", "370725")
    'sqlite:////srv/hm/healthmap.county_370725.db'
    """
    part = partition_name(code)
    u = make_url(normalise_url(url))
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:":
            raise ValueError(
                "an in-memory SQLite store has no county partitions; use a file"
                " (sqlite:///path/healthmap.db) or PostgreSQL"
            )
        path = Path(u.database)
        file = path.with_name(f"{path.stem}.{part}{path.suffix}")
        return u.set(database=str(file)).render_as_string(hide_password=False)
    options = " ".join(o for o in (url_options(u), f"-csearch_path={part},{SHARED_SCHEMA}") if o)
    return u.update_query_dict({"options": options}).render_as_string(hide_password=False)


def ensure_partition(root_url: str, code: str) -> None:
    """Make county ``code``'s partition when missing (PostgreSQL: its schema; a SQLite
    file is made by its first connection).

    The root store is migrated first: on PostgreSQL it is where PostGIS is installed
    (``public``), which every partition's geometry columns use.
    """
    root = make_engine(root_url)
    try:
        migrate(root)
        if root.dialect.name == "postgresql":
            with root.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{partition_name(code)}"')
    finally:
        root.dispose()


def open_partition(root_url: str, code: str, *, migrated: bool = True) -> Engine:
    """An engine on county ``code``'s partition, made and migrated when ``migrated``."""
    engine = make_engine(county_url(root_url, code))
    if migrated:
        ensure_partition(root_url, code)
        migrate(engine)
    return engine


def drop_partition(root_engine: Engine, code: str) -> None:
    """Remove county ``code``'s partition and everything in it (its schema or its file)."""
    if root_engine.dialect.name == "postgresql":
        with root_engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{partition_name(code)}" CASCADE')
        return
    root_url = root_engine.url.render_as_string(hide_password=False)
    path = Path(make_url(county_url(root_url, code)).database or "")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def migrate_partitions(root_url: str) -> list[str]:
    """Bring the root store and every partitioned county's partition to head, once.

    ``healthmap serve`` calls it before its workers start: each worker starts every
    county's app, and two workers migrating a new partition at once would both try to
    create its tables. Returns the counties' codes.
    """
    from store.province import counties

    root = make_engine(root_url)
    try:
        migrate(root)
        codes = list(counties(root, partitioned_only=True)["county_code"])
    finally:
        root.dispose()
    for code in codes:
        open_partition(root_url, code).dispose()
    return codes
