"""Reading the store into the canonical frames that ``geo/`` computes on (docs/frames.md).

The edge where database types become the one canonical in-memory form: dates as
``datetime64[ns]`` (local dates), timestamps tz-aware UTC, booleans as ``boolean``, numbers
``float64``. PostgreSQL is read with ``COPY … TO STDOUT`` (several times faster than row
fetching for millions of claims); SQLite with plain cursor fetches.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Engine, inspect
from sqlalchemy import exc as sa_exc

from store import sqlite_arrow
from store.engine import is_postgres
from store.models import TABLES
from store.small_frames import SMALL_ROWS, small_canonical

#: Columns read by default (geometry and bookkeeping are left in the store).
FRAME_COLUMNS: dict[str, tuple[str, ...]] = {
    "residents": (
        "resident_id",
        "name",
        "sex",
        "birth_date",
        "area_code",
        "town_code",
        "grid_id",
        "lat",
        "lng",
        "loc_precision",
        "phone",
        "signed_team_id",
        "signed_date",
        "status",
        "h3_7",
        "h3_8",
        "h3_9",
        "h3_10",
    ),
    "chronic_registry": (
        "resident_id",
        "disease",
        "enrolled_date",
        "diagnosed_date",
        "team_id",
        "closed_date",
        "close_reason",
    ),
    "followups": (
        "followup_id",
        "resident_id",
        "disease",
        "visit_date",
        "method",
        "sbp",
        "dbp",
        "fasting_glucose",
        "heart_rate",
        "adherence",
        "adverse_reaction",
        "classification",
        "referred",
        "next_visit_date",
        "staff_id",
    ),
    "measurements": (
        "measurement_id",
        "resident_id",
        "measured_at",
        "sbp",
        "dbp",
        "heart_rate",
        "glucose",
        "glucose_type",
    ),
    "claims": (
        "resident_id",
        "visit_date",
        "discharge_date",
        "facility_id",
        "in_county",
        "visit_type",
        "icd10",
        "total_cost",
        "fund_paid",
        "self_paid",
    ),
    "facilities": (
        "facility_id",
        "name",
        "type",
        "area_code",
        "town_code",
        "lat",
        "lng",
        "parent_facility_id",
        "beds",
        "open",
        "h3_7",
        "h3_8",
        "h3_9",
        "h3_10",
    ),
    "staff": ("staff_id", "name", "facility_id", "role", "licensed", "team_id"),
    "teams": ("team_id", "name", "facility_id", "leader_staff_id", "max_daily_visits"),
    "grids": ("grid_id", "name", "clinic_id", "team_id", "town_code", "village_codes"),
    "areas": ("area_code", "name", "level", "parent_code", "lat", "lng"),
    "population": ("area_code", "year", "sex", "age_band", "count"),
    "vaccinations": ("resident_id", "vaccine", "date"),
    "case_reports": (
        "report_id",
        "disease",
        "onset_date",
        "report_date",
        "resident_id",
        "area_code",
        "lat",
        "lng",
        "age",
        "sex",
        "h3_7",
        "h3_8",
        "h3_9",
        "h3_10",
    ),
    "mobility": ("h3", "hour", "origin_h3", "h3_res", "count"),
}


def _kind(table: str, column: str) -> str:
    col = TABLES[table].__table__.c[column]
    name = type(col.type).__name__
    if name == "DateTime":
        return "timestamp"
    if name == "Date":
        return "date"
    if name == "Boolean":
        return "bool"
    if name in ("Float", "Integer", "BigInteger"):
        return "number"
    return "string"


def _read_postgres(
    engine: Engine, table: str, columns: Sequence[str], where: str, params: dict[str, Any]
) -> pd.DataFrame:
    cols = ", ".join(f'"{c}"' for c in columns)
    buf = io.BytesIO()
    raw = engine.raw_connection()
    query = f"COPY (SELECT {cols} FROM {table}{where}) TO STDOUT WITH (FORMAT csv, HEADER)"
    try:
        cur = raw.cursor()
        with cur.copy(query, params or None) as cp:
            for block in cp:
                buf.write(block)
    except engine.dialect.loaded_dbapi.Error as exc:
        raise _wrapped(engine, query, params, exc) from exc
    finally:
        raw.close()
    buf.seek(0)
    types = {c: pa.string() for c in columns}
    tbl = pacsv.read_csv(
        buf,
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )
    return tbl.to_pandas()


def _read_rows(
    engine: Engine, table: str, columns: Sequence[str], where: str, params: dict[str, Any]
) -> pd.DataFrame:
    """The rows through the driver's cursor: SQLite's reads, and PostgreSQL's of a few rows.

    On SQLite, Python's own sqlite3 only: a second SQLite library in the process (an ADBC
    driver, say) does not share its file locks and can corrupt the store. On PostgreSQL
    ``COPY`` and Arrow's CSV reader pay ~5 ms a read whatever its size: the splice of a
    push list after a visit reads one resident's rows from six tables (issue 17).
    """
    cols = ", ".join(f'"{c}"' for c in columns)
    raw = engine.raw_connection()
    query = f"SELECT {cols} FROM {table}{where}"
    try:
        cur = raw.cursor()
        cur.execute(query, params)
        rows = cur.fetchall()
    except engine.dialect.loaded_dbapi.Error as exc:
        raise _wrapped(engine, query, params, exc) from exc
    finally:
        raw.close()
    return pd.DataFrame.from_records(rows, columns=list(columns))


def _wrapped(engine: Engine, query: str, params: Any, exc: Exception) -> Exception:
    """The driver's error on a raw connection as SQLAlchemy raises it everywhere else.

    The service maps the store's errors by SQLAlchemy's classes (an outage is a 503,
    ``service/errors.py``); a raw cursor's error would otherwise surface as a 500.
    """
    return sa_exc.DBAPIError.instance(query, params, exc, engine.dialect.loaded_dbapi.Error)


_TRUE = ("t", "true", "1", "True")


def _canonical(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    kinds = {c: _kind(table, c) for c in frame.columns}
    if len(frame) <= SMALL_ROWS:  # a few rows: value by value (store.small_frames)
        return small_canonical(frame, kinds, _canonical_column)
    for col in frame.columns:
        converted = _canonical_column(frame[col], kinds[col])
        if converted is not None:
            frame[col] = converted
    return frame


def _canonical_column(s: pd.Series, kind: str) -> pd.Series | None:
    """Column ``s`` of ``kind`` in canonical form (None: it is already)."""
    if kind == "date":
        if pd.api.types.is_datetime64_any_dtype(s):
            return s.astype("datetime64[ns]")
        # Both stores hand dates over as ISO text; an explicit format is ~10× faster.
        text = s.astype("string").str.slice(0, 10)
        return pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").astype("datetime64[ns]")
    if kind == "timestamp":
        return pd.to_datetime(s, errors="coerce", utc=True, format="mixed")
    if kind == "bool":
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            return s.astype("boolean")
        text = s.astype("string")
        return text.isin(_TRUE).astype("boolean").mask(text.isna())
    if kind == "number":
        return pd.to_numeric(s, errors="coerce").astype("float64")
    if s.dtype != pd.StringDtype():
        # One text dtype whoever read it: Arrow hands an all-null column over as a
        # string dtype whose missing value is NaN, not pandas' NA.
        return s.astype("string")
    return None


def read_frame(
    engine: Engine,
    table: str,
    columns: Sequence[str] | None = None,
    *,
    where: str | None = None,
    params: dict[str, Any] | None = None,
    few_rows: bool = False,
) -> pd.DataFrame:
    """One store table as a canonical frame (see ``docs/frames.md``).

    ``where`` is an SQL condition with ``{name}`` placeholders for ``params`` (bound by the
    driver, never pasted in), e.g. ``where="team_id = {team}", params={"team": "T0001"}``.
    ``few_rows``: the caller expects a handful (one resident's records); PostgreSQL then
    reads them through a cursor instead of ``COPY`` (the same frame, a fraction of the
    fixed cost).
    """
    columns = tuple(columns or FRAME_COLUMNS[table])
    postgres = is_postgres(engine)
    clause = ""
    if where:
        marks = {k: (f"%({k})s" if postgres else f":{k}") for k in (params or {})}
        clause = " WHERE " + where.format(**marks)
    reader = _read_rows if few_rows or not postgres else _read_postgres
    return _assembled(reader(engine, table, columns, clause, dict(params or {})), table)


def _assembled(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    frame = _canonical(frame, table)
    if table == "grids" and "village_codes" in frame:
        frame["village_codes"] = frame["village_codes"].fillna("").str.split(";")
    return frame


def _child_db(engine: Engine) -> str | None:
    """The SQLite file a child process can read ``engine``'s tables from, or None."""
    db = engine.url.database
    if is_postgres(engine) or not db or db == ":memory:" or not sqlite_arrow.available():
        return None
    return db


def _as_sqlite_binds(value: Any) -> Any:
    """``value`` as Python's ``sqlite3`` binds it (dates and datetimes as their ``str``)."""
    return str(value) if isinstance(value, dt.date) else value


def start_frame(
    engine: Engine,
    table: str,
    columns: Sequence[str] | None = None,
    *,
    where: str | None = None,
    params: dict[str, Any] | None = None,
) -> Callable[[], pd.DataFrame]:
    """Start reading a table as :func:`read_frame` would; call the result for the frame.

    On a SQLite file a child process reads it from now on (through the ADBC driver, see
    :mod:`store.sqlite_arrow`), so the caller can read other tables meanwhile;
    elsewhere the read happens in this process when the result is called. Either way the
    frame is the one :func:`read_frame` returns for the same arguments.

    Parameters
    ----------
    engine : Engine
        The store.
    table, columns, where, params
        As :func:`read_frame`.

    Returns
    -------
    callable
        Returns the frame (call it once). A child that failed raises ``RuntimeError``
        with its error.
    """
    db = _child_db(engine)
    if db is None:
        return lambda: read_frame(engine, table, columns, where=where, params=params)
    names = list(params or {})
    # The child binds by position: SQLite's numbered marks ?1, ?2, ... in names' order,
    # the values as the in-process read would bind them.
    clause = where.format(**{k: f"?{i}" for i, k in enumerate(names, 1)}) if where else ""
    values = [_as_sqlite_binds(v) for v in (params or {}).values()]
    cols = tuple(columns or FRAME_COLUMNS[table])
    job = sqlite_arrow.PendingTable(db, table, cols, clause, values)

    def result() -> pd.DataFrame:
        try:
            return _assembled(job.result().to_pandas(), table)
        finally:
            job.cancel()

    return result


#: Tables big enough to be read by a child process on SQLite (see ``sqlite_arrow``).
OUT_OF_PROCESS = frozenset({"claims"})


def read_frames(engine: Engine, tables: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """Several tables as canonical frames, by name.

    On SQLite, ``claims`` (millions of rows) is read by a child process through the ADBC
    driver while this process reads the other tables (:mod:`store.sqlite_arrow`);
    without the driver, or for an in-memory database, everything is read here.
    """
    first, rest = read_frames_in_two(engine, tables, later=())
    return {**first, **rest()}


def read_frames_in_two(
    engine: Engine, tables: Iterable[str] | None = None, *, later: Iterable[str] = ("claims",)
) -> tuple[dict[str, pd.DataFrame], Callable[[], dict[str, pd.DataFrame]]]:
    """The frames of ``tables`` but ``later`` now, and a function that returns ``later``'s.

    A caller can start work that does not need ``later`` (the build's early warning needs
    no claims) before those are read. On SQLite the tables of ``later`` read by a child
    process (``claims``) are being read from the start; the others of ``later`` are read
    when the function is called. No connection of ``engine`` stays checked out between
    the two steps.

    Parameters
    ----------
    engine : Engine
        The store.
    tables : iterable of str, optional
        Default: every table of :data:`FRAME_COLUMNS` the store has.
    later : iterable of str
        Tables returned by the second step.

    Returns
    -------
    (dict, callable)
        The frames read now, by name; a function returning the others (call it once).
    """
    present = set(inspect(engine).get_table_names())
    names = [t for t in (tables or FRAME_COLUMNS) if t in present]
    deferred = [t for t in names if t in set(later)]
    pending = {}
    db = _child_db(engine)
    if db is not None:
        pending = {
            t: sqlite_arrow.PendingTable(db, t, FRAME_COLUMNS[t])
            for t in names
            if t in OUT_OF_PROCESS
        }

    def cancel() -> None:
        for job in pending.values():
            job.cancel()

    try:
        first = {t: read_frame(engine, t) for t in names if t not in pending and t not in deferred}
        for table in [t for t in pending if t not in deferred]:
            first[table] = _assembled(pending[table].result().to_pandas(), table)
    except BaseException:
        cancel()
        raise

    def rest() -> dict[str, pd.DataFrame]:
        try:
            out = {}
            for table in deferred:
                job = pending.get(table)
                out[table] = (
                    _assembled(job.result().to_pandas(), table)
                    if job is not None
                    else read_frame(engine, table)
                )
            return out
        finally:
            cancel()

    if not deferred:
        cancel()
    return {t: first[t] for t in names if t in first}, rest
