"""Writing typed rows into the store: upserts that count what they inserted and changed.

Both backends upsert on the table's primary key and leave identical rows untouched, so
loading the same rows again changes nothing:

- SQLite: ``INSERT … ON CONFLICT DO NOTHING`` (executemany, one statement per chunk; its
  rowcount is the inserted rows), then — only when some rows already existed —
  ``INSERT … ON CONFLICT (pk) DO UPDATE SET … WHERE <some column differs>`` whose rowcount
  is the updated rows.
- PostgreSQL: ``COPY`` (CSV) into a temporary table, then ``INSERT … SELECT … ON CONFLICT
  (pk) DO UPDATE SET … WHERE (cols) IS DISTINCT FROM (excluded cols) RETURNING (xmax = 0)``,
  counting inserted vs updated rows.

The caller owns the transaction (one per delivered file). Values are converted here to what
the store's column types hold: dates ``YYYY-MM-DD``; timestamps UTC (SQLite: the text form
SQLAlchemy writes, ``YYYY-MM-DD HH:MM:SS.ffffff``, naive UTC); booleans 0/1 (SQLite) or
``t``/``f``; geometries WKB (SQLite) or hex EWKB with SRID 4326 (PostGIS); JSON as text.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer
from sqlalchemy.engine import Connection

from store.models import TABLES
from store.types import SRID, GeometryType


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _columns(table: str) -> dict[str, Any]:
    return {c.name: c for c in TABLES[table].__table__.columns}


def primary_key(table: str) -> list[str]:
    """The primary-key column names of a store table."""
    return [c.name for c in TABLES[table].__table__.primary_key.columns]  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------
# Value conversion (vectorised per column)
# ----------------------------------------------------------------------------------------
def _arrow_ts(s: pd.Series) -> Any:
    import pyarrow as pa

    v = pd.to_datetime(s, errors="coerce", utc=True, format="ISO8601") if s.dtype == object else s
    if getattr(v.dt, "tz", None) is not None:
        v = v.dt.tz_convert("UTC").dt.tz_localize(None)
    return pa.array(v.to_numpy(dtype="datetime64[us]"), type=pa.timestamp("us"))


def _dates(s: pd.Series) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    arr = pa.array(
        pd.to_datetime(s, errors="coerce").to_numpy(dtype="datetime64[D]"), type=pa.date32()
    )
    return np.asarray(pc.cast(arr, pa.string()).to_numpy(zero_copy_only=False), dtype=object)


def _timestamps(s: pd.Series, postgres: bool) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    txt = pc.cast(_arrow_ts(s), pa.string())
    if postgres:
        txt = pc.binary_join_element_wise(txt, pa.scalar("+00"), "")
    return np.asarray(txt.to_numpy(zero_copy_only=False), dtype=object)


def _bools(s: pd.Series, postgres: bool) -> np.ndarray:
    b = s.astype("boolean")
    out = np.full(len(b), None, dtype=object)
    have = b.notna().to_numpy()
    vals = b.to_numpy(dtype=bool, na_value=False)
    if postgres:
        out[have & vals] = "t"
        out[have & ~vals] = "f"
    else:
        out[have & vals] = 1
        out[have & ~vals] = 0
    return out


def _ints(s: pd.Series) -> np.ndarray:
    v = pd.to_numeric(s, errors="coerce").astype("Int64")
    out = np.full(len(v), None, dtype=object)
    have = v.notna().to_numpy()
    out[have] = v[have].astype("int64").to_numpy().tolist()
    return out


def _floats(s: pd.Series) -> np.ndarray:
    v = pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()
    out = v.astype(object)
    out[np.isnan(v)] = None
    return out


def _geoms(s: pd.Series, postgres: bool) -> np.ndarray:
    arr = np.asarray(s.to_numpy(dtype=object), dtype=object)
    out = np.full(len(arr), None, dtype=object)
    have = pd.notna(arr)
    if have.any():
        g = arr[have]
        if postgres:
            g = shapely.set_srid(g, SRID)
            out[have] = shapely.to_wkb(g, hex=True, include_srid=True)
        else:
            out[have] = shapely.to_wkb(g)
    return out


def _strings(s: pd.Series) -> np.ndarray:
    v = s.astype(object)
    out = v.to_numpy(dtype=object).copy()
    out[pd.isna(out)] = None
    return out


def db_values(table: str, df: pd.DataFrame, columns: list[str], postgres: bool) -> list[np.ndarray]:
    """Per column, an object array of values the DB driver (or COPY) takes as they are."""
    cols = _columns(table)
    out = []
    for name in columns:
        t = cols[name].type
        s = df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index)
        if isinstance(t, GeometryType):
            out.append(_geoms(s, postgres))
        elif isinstance(t, DateTime):
            out.append(_timestamps(s, postgres))
        elif isinstance(t, Date):
            out.append(_dates(s))
        elif isinstance(t, Boolean):
            out.append(_bools(s, postgres))
        elif isinstance(t, Integer):
            out.append(_ints(s))
        elif isinstance(t, Float):
            out.append(_floats(s))
        elif isinstance(t, JSON):
            vals = s.to_numpy(dtype=object)
            out.append(
                np.array(
                    [None if v is None else json.dumps(v, ensure_ascii=False) for v in vals],
                    dtype=object,
                )
            )
        else:
            out.append(_strings(s))
    return out


# ----------------------------------------------------------------------------------------
# Upserts
# ----------------------------------------------------------------------------------------
def upsert(
    conn: Connection, table: str, df: pd.DataFrame, columns: list[str] | None = None
) -> tuple[int, int]:
    """Insert or update ``df`` into ``table``; returns ``(inserted, updated)``.

    ``columns`` defaults to every model column present in ``df``. Rows identical to the
    stored ones are neither inserted nor updated.
    """
    if df is None or len(df) == 0:
        return 0, 0
    model_cols = _columns(table)
    if columns is None:
        columns = [c for c in model_cols if c in df.columns]
    pk = primary_key(table)
    values = db_values(table, df, columns, _pg(conn))
    if _pg(conn):
        return _upsert_pg(conn, table, columns, pk, values)
    return _upsert_sqlite(conn, table, columns, pk, values)


def _rows(values: list[np.ndarray]) -> Iterator[tuple[Any, ...]]:
    """The row tuples of per-column value arrays, one at a time."""
    return zip(*(v.tolist() for v in values), strict=True)


def _upsert_sqlite(
    conn: Connection, table: str, columns: list[str], pk: list[str], values: list[np.ndarray]
) -> tuple[int, int]:
    n = len(values[0]) if values else 0
    cols = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    raw = conn.connection.driver_connection
    cur = raw.cursor()  # type: ignore[union-attr]
    try:
        # Rows are made as the driver takes them: building the list of a chunk's row
        # tuples first cost time and memory only to be walked once.
        cur.executemany(
            f'INSERT INTO "{table}" ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING',
            _rows(values),
        )
        inserted = max(cur.rowcount, 0)
        updated = 0
        rest = [c for c in columns if c not in pk]
        if inserted < n and rest:
            sets = ", ".join(f'"{c}" = excluded."{c}"' for c in rest)
            differs = " OR ".join(f'"{table}"."{c}" IS NOT excluded."{c}"' for c in rest)
            keys = ", ".join(f'"{c}"' for c in pk)
            cur.executemany(
                f'INSERT INTO "{table}" ({cols}) VALUES ({marks}) '
                f"ON CONFLICT ({keys}) DO UPDATE SET {sets} WHERE {differs}",
                _rows(values),
            )
            updated = max(cur.rowcount, 0)
    finally:
        cur.close()
    return inserted, updated


def _copy_text(values: list[np.ndarray]) -> bytes:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    arrays = []
    for v in values:
        if v.dtype == object:
            arrays.append(pa.array(v, from_pandas=True, type=_arrow_type(v)))
        else:
            arrays.append(pa.array(v, from_pandas=True))
    table = pa.table(arrays, names=[f"c{i}" for i in range(len(arrays))])
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return buf.getvalue()


def _arrow_type(v: np.ndarray) -> Any:
    import pyarrow as pa

    for x in v:
        if x is None:
            continue
        if isinstance(x, bool):
            return pa.bool_()
        if isinstance(x, int):
            return pa.int64()
        if isinstance(x, float):
            return pa.float64()
        return pa.string()
    return pa.string()


def _copy_into(
    conn: Connection, target: str, columns: list[str], values: list[np.ndarray], not_null: list[str]
) -> None:
    raw = conn.connection.driver_connection
    cols = ", ".join(f'"{c}"' for c in columns)
    opts = "FORMAT csv"
    if not_null:
        opts += ", FORCE_NOT_NULL (" + ", ".join(f'"{c}"' for c in not_null) + ")"
    text = _copy_text(values)
    with raw.cursor() as cur, cur.copy(f"COPY {target} ({cols}) FROM STDIN ({opts})") as cp:  # type: ignore[union-attr]
        step = 8 << 20
        for i in range(0, len(text), step):
            cp.write(text[i : i + step])
        del text


def _not_null_strings(table: str, columns: list[str]) -> list[str]:
    """String columns where an empty value means ``''``, not NULL (mobility.origin_h3)."""
    return [c for c in columns if c == "origin_h3"]


def _pg_type(table: str, column: str, conn: Connection) -> str:
    t = _columns(table)[column].type
    if isinstance(t, GeometryType):
        return "geometry"
    return str(t.compile(dialect=conn.dialect))


def _existing_pg(
    conn: Connection, table: str, pk: list[str], columns: list[str], values: list[np.ndarray]
) -> int:
    """How many of these keys the table already holds (index probes from an unnest)."""
    raw = conn.connection.driver_connection
    arrays = [values[columns.index(k)] for k in pk]
    params = [[None if x is None else str(x) for x in a.tolist()] for a in arrays]
    names = [f"k{i}" for i in range(len(pk))]
    unnest = ", ".join("%s::text[]" for _ in pk)
    on = " AND ".join(
        f't."{k}" = u.{n}::{_pg_type(table, k, conn)}' for k, n in zip(pk, names, strict=True)
    )
    sql = (
        f"SELECT count(*) FROM unnest({unnest}) AS u({', '.join(names)}) "
        f'JOIN "{table}" AS t ON {on}'
    )
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(sql, params)
        row = cur.fetchone()
    return int(row[0]) if row else 0


def _upsert_pg(
    conn: Connection, table: str, columns: list[str], pk: list[str], values: list[np.ndarray]
) -> tuple[int, int]:
    n = len(values[0])
    existing = _existing_pg(conn, table, pk, columns, values)
    not_null = _not_null_strings(table, columns)
    if existing == 0:
        # No key exists yet (keys are unique within a chunk): COPY straight in.
        _copy_into(conn, f'"{table}"', columns, values, not_null)
        return n, 0
    stage = f"_hm_stage_{table}"
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" (LIKE "{table}") ON COMMIT DROP')
        cur.execute(f'TRUNCATE "{stage}"')
    _copy_into(conn, f'"{stage}"', columns, values, not_null)
    cols = ", ".join(f'"{c}"' for c in columns)
    keys = ", ".join(f'"{c}"' for c in pk)
    rest = [c for c in columns if c not in pk]
    if rest:
        sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in rest)
        old = ", ".join(f't."{c}"' for c in rest)
        new = ", ".join(f'EXCLUDED."{c}"' for c in rest)
        conflict = (
            f"ON CONFLICT ({keys}) DO UPDATE SET {sets} "
            f"WHERE ROW({old}) IS DISTINCT FROM ROW({new})"
        )
    else:
        conflict = "ON CONFLICT DO NOTHING"
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(f'INSERT INTO "{table}" AS t ({cols}) SELECT {cols} FROM "{stage}" {conflict}')
        changed = max(cur.rowcount, 0)
    inserted = n - existing
    return inserted, max(changed - inserted, 0)


def insert(conn: Connection, table: str, df: pd.DataFrame, columns: list[str] | None = None) -> int:
    """Plain insert (quarantine rows and other append-only bookkeeping)."""
    if df is None or len(df) == 0:
        return 0
    model_cols = _columns(table)
    if columns is None:
        columns = [c for c in model_cols if c in df.columns]
    values = db_values(table, df, columns, _pg(conn))
    if _pg(conn):
        _copy_into(conn, f'"{table}"', columns, values, [])
        return len(df)
    cols = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', _rows(values))
    finally:
        cur.close()
    return len(df)


def delete_where_in(conn: Connection, table: str, column: str, values: list[str]) -> int:
    """Delete rows whose ``column`` is one of ``values`` (batched)."""
    if not values:
        return 0
    n = 0
    postgres = _pg(conn)
    raw = conn.connection.driver_connection
    for i in range(0, len(values), 500):
        part = values[i : i + 500]
        if postgres:
            with raw.cursor() as cur:  # type: ignore[union-attr]
                cur.execute(f'DELETE FROM "{table}" WHERE "{column}" = ANY(%s)', (part,))
                n += cur.rowcount
        else:
            cur = raw.cursor()  # type: ignore[union-attr]
            marks = ", ".join("?" for _ in part)
            cur.execute(f'DELETE FROM "{table}" WHERE "{column}" IN ({marks})', part)
            n += cur.rowcount
            cur.close()
    return n
