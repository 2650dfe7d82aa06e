"""Parsing delivered text into typed columns, one column at a time.

Each parser takes a Series of text cells and returns a typed Series, NA where a cell is
empty or cannot be parsed. Values are parsed once per distinct value (``factorize``),
which makes dates, enums and timestamps cheap on millions of rows.

Typed output columns: codes and text ``object`` (None when empty), ``int`` ``Int64``,
``float`` ``float64``, ``date`` naive ``datetime64[ns]`` (local date), ``timestamp``
``datetime64[ns, UTC]``, ``bool`` ``boolean``, sex ``Int64``, ``wkt`` shapely geometries.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from pipelines.ingest.codes import BOOL_FALSE, BOOL_TRUE, SEX, norm_value
from pipelines.ingest.schema import Col

_BOOL = {**dict.fromkeys(BOOL_TRUE, True), **dict.fromkeys(BOOL_FALSE, False)}
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")


def _by_unique(s: pd.Series, fn: Callable[[pd.Series], pd.Series], dtype: Any) -> pd.Series:
    """Apply ``fn`` to the distinct values of ``s`` and broadcast the result back."""
    codes, uniques = _factorize(s)
    if len(uniques) == 0:
        return pd.Series(pd.array([None] * len(s), dtype=dtype), index=s.index)
    u = pd.Series(np.asarray(uniques, dtype=object))
    parsed = fn(u)
    values = (
        parsed.to_numpy()
        if not isinstance(parsed.dtype, pd.api.extensions.ExtensionDtype)
        else parsed.array
    )
    codes = np.asarray(codes)
    if isinstance(values, np.ndarray):
        out = values[np.where(codes < 0, 0, codes)]
        # Object results stay object: letting pandas infer its str dtype copied every
        # row's text into Arrow only for the caller to turn it back into objects.
        res = pd.Series(out, index=s.index, dtype=object if dtype is object else None)
        if (codes < 0).any():
            res = res.where(codes >= 0)
        return res.astype(dtype) if dtype is not None else res
    taken = values.take(np.where(codes < 0, -1, codes), allow_fill=True)
    return pd.Series(taken, index=s.index)


def _factorize(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(s)``: codes (-1 where missing), distinct values in order of appearance.

    From the Arrow array of the stripped cells when there is one: Arrow hashes their bytes
    in C, where pandas hashes Python strings.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = getattr(s, "_hm_arrow", None)
    if text is None or len(text) != len(s):
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        return np.asarray(codes), np.asarray(uniques, dtype=object)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    enc = pc.dictionary_encode(text)
    codes = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False))
    return codes, np.asarray(enc.dictionary.to_numpy(zero_copy_only=False), dtype=object)


def parse_date(s: pd.Series) -> pd.Series:
    """Dates: ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYYMMDD``, Excel serial numbers.

    A midnight time part (``2026-01-05 00:00:00``, ``T00:00``) is accepted. Returns naive
    ``datetime64[ns]`` at midnight (NaT where empty or unparseable).
    """

    def fn(u: pd.Series) -> pd.Series:
        t = u.astype(str).str.strip()
        t = t.str.replace(r"(?:[T ]00:00(?::00(?:\.0+)?)?)$", "", regex=True)
        out = pd.Series(pd.NaT, index=t.index, dtype="datetime64[ns]")
        iso = t.str.fullmatch(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}")
        if iso.any():
            parts = t[iso].str.split(r"[-/.]", regex=True)
            norm = parts.map(lambda p: f"{p[0]}-{int(p[1]):02d}-{int(p[2]):02d}")
            out[iso] = pd.to_datetime(norm, format="%Y-%m-%d", errors="coerce")
        d8 = t.str.fullmatch(r"\d{8}")
        if d8.any():
            out[d8] = pd.to_datetime(t[d8], format="%Y%m%d", errors="coerce")
        serial = t.str.fullmatch(r"\d{1,5}(?:\.0+)?")
        if serial.any():
            n = t[serial].astype(float).astype(np.int64).to_numpy()
            ok = (n >= 1) & (n != 60) & (n <= 2958465)
            days = np.where(n < 60, n + 1, n)  # Excel's phantom 1900-02-29
            vals = (_EXCEL_EPOCH + days.astype("timedelta64[D]")).astype("datetime64[ns]")
            out[serial] = np.where(ok, vals, np.datetime64("NaT"))
        return out

    return _by_unique(_clean(s), fn, "datetime64[ns]")


_OFFSET = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|z|[+-]\d{2}(?::?\d{2})?)$")


def parse_timestamp(s: pd.Series, tz: str) -> pd.Series:
    """ISO 8601 timestamps; local time ``tz`` when no offset; returns UTC.

    Also accepted: ``/`` as date separator, a space instead of ``T``, a date alone (local
    midnight), Excel serial date-times (``45321.5``, local).
    """

    def fn(u: pd.Series) -> pd.Series:
        t = u.astype(str).str.strip()
        t = t.str.replace(r"^(\d{4})/(\d{1,2})/(\d{1,2})", r"\1-\2-\3", regex=True)
        t = t.str.replace(r"^(\d{4})-(\d)(?=-)", r"\1-0\2", regex=True)
        t = t.str.replace(r"^(\d{4}-\d{2})-(\d)(?=\D|$)", r"\1-0\2", regex=True)
        out = pd.Series(pd.NaT, index=t.index, dtype="datetime64[ns, UTC]")
        serial = t.str.fullmatch(r"\d{1,5}(?:\.\d+)?")
        has_off = t.str.contains(_OFFSET) & ~serial
        if has_off.any():
            out[has_off] = pd.to_datetime(t[has_off], format="ISO8601", utc=True, errors="coerce")
        naive = ~has_off & ~serial
        if naive.any():
            parsed = pd.to_datetime(t[naive], format="ISO8601", errors="coerce")
            if getattr(parsed.dt, "tz", None) is not None:  # pragma: no cover - defensive
                parsed = parsed.dt.tz_convert("UTC")
            else:
                parsed = parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
                parsed = parsed.dt.tz_convert("UTC")
            out[naive] = parsed
        if serial.any():
            x = t[serial].astype(float).to_numpy()
            ns = np.round((x - 0.0) * 86400e9).astype("int64")
            local = _EXCEL_EPOCH.astype("datetime64[ns]") + ns.astype("timedelta64[ns]")
            ok = (x >= 61) & (x < 2958466)
            loc = pd.Series(local, index=t[serial].index).where(ok)
            out[serial] = loc.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert(
                "UTC"
            )
        return out

    return _by_unique(_clean(s), fn, "datetime64[ns, UTC]")


def empty_to_na(s: pd.Series) -> pd.Series:
    """Stripped text as ``object`` with None for empty cells."""
    return stripped_text(s)[0]


def stripped_text(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """:func:`empty_to_na` of ``s``, and which of its cells are empty.

    The empty cells are the nulls of the Arrow array the stripping makes: asking the
    object Series again (``isna``) scanned every cell a second time.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if s.dtype == object:
        arr = pa.array(s.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    else:
        try:
            arr = pa.array(s, type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arr = pa.array(s.astype(str).to_numpy(dtype=object), type=pa.string())
    t = pc.utf8_trim_whitespace(arr)
    t = pc.if_else(pc.equal(t, ""), pa.scalar(None, pa.string()), t)
    empty = np.asarray(t.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    out = pd.Series(t.to_numpy(zero_copy_only=False), index=s.index, dtype=object)
    # The Arrow form rides along: the number, ID and length checks work on Arrow, and
    # making it again from the Python strings was a second conversion of every cell.
    object.__setattr__(out, "_hm_arrow", t)
    return out, empty


def _arrow_text(s: pd.Series) -> Any:
    """``s`` (text, None where empty) as an Arrow string array.

    When ``s`` is a result of :func:`stripped_text`, the array it was made from.
    """
    import pyarrow as pa

    made = getattr(s, "_hm_arrow", None)
    if made is not None and len(made) == len(s):
        return made
    return pa.array(s.to_numpy(dtype=object), type=pa.string(), from_pandas=True)


def _clean(s: pd.Series) -> pd.Series:
    """``s`` through :func:`empty_to_na`, unless :func:`mark_clean` says it already was."""
    return s if getattr(s, "_hm_clean", False) else empty_to_na(s)


def mark_clean(s: pd.Series) -> pd.Series:
    """Mark ``s`` as already stripped, so the parsers do not strip it again."""
    object.__setattr__(s, "_hm_clean", True)
    return s


def parse_str(s: pd.Series) -> pd.Series:
    """Text: stripped; empty → None."""
    return _clean(s)


def parse_float(s: pd.Series) -> pd.Series:
    """Numbers as ``float64``; full-width digits and thousands separators are accepted.

    NaN where empty, unparseable or not finite.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    t = _clean(s)
    text = _arrow_text(t)
    try:  # fast path: every value is a plain number
        arr = pc.cast(text, pa.float64())
        out = pd.Series(arr.to_numpy(zero_copy_only=False), index=t.index, dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = pd.to_numeric(t, errors="coerce").astype("float64")
    given = ~np.asarray(text.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    bad = pd.Series(given, index=t.index) & out.isna()
    if bad.any():  # full-width digits, thousands separators
        fixed = t[bad].map(lambda v: unicodedata.normalize("NFKC", v).replace(",", ""))
        out[bad] = pd.to_numeric(fixed, errors="coerce")
    out[~np.isfinite(out.to_numpy())] = np.nan
    return out


def parse_int(s: pd.Series) -> pd.Series:
    """Whole numbers (``3``, ``3.0``) as ``Int64``; NA where not whole or beyond 2**53."""
    f = parse_float(s)
    integral = f.isna() | (np.floor(f) == f)
    f = f.where(integral & (f.abs() < 2**53))
    return f.astype("Int64")


def parse_bool(s: pd.Series) -> pd.Series:
    """Booleans (1/0, true/false, 是/否, Y/N, ...) as ``boolean``; NA where unknown."""

    def fn(u: pd.Series) -> pd.Series:
        return u.map(lambda v: _BOOL.get(norm_value(str(v)))).astype("boolean")

    return _by_unique(_clean(s), fn, "boolean")


def parse_enum(s: pd.Series, col: Col) -> pd.Series:
    """Codes of ``col``'s enumeration (any accepted spelling → its code).

    Sex comes out as ``Int64`` (1 male, 2 female), other codes as ``object``; NA or None
    where the value is not one of the enumeration's.
    """

    def fn(u: pd.Series) -> pd.Series:
        return u.map(lambda v: col.enum_lookup(str(v))).astype(object)

    out = _by_unique(_clean(s), fn, object)
    if col.enum is SEX:
        return pd.to_numeric(out, errors="coerce").astype("Int64")
    return out.astype(object).where(out.notna(), None)


def parse_h3(s: pd.Series) -> pd.Series:
    """Valid H3 cells, lower case; None where empty or not a cell."""
    import h3

    def fn(u: pd.Series) -> pd.Series:
        t = u.astype(str).str.strip().str.lower()
        ok = t.map(lambda v: bool(h3.is_valid_cell(v)) if v else False)
        return t.where(ok, None).astype(object)

    out = _by_unique(_clean(s), fn, object)
    return out.where(out.notna(), None)


def parse_wkt(s: pd.Series) -> pd.Series:
    """Shapely geometries from WKT; None where empty or invalid."""
    import shapely

    t = _clean(s)
    vals = np.asarray(t.to_numpy(), dtype=object)
    out = np.full(len(vals), None, dtype=object)
    have = pd.notna(vals)
    if have.any():
        geoms = shapely.from_wkt(vals[have].astype(str), on_invalid="ignore")
        out[np.flatnonzero(have)] = geoms
    return pd.Series(out, index=s.index, dtype=object)


def normalise_id_number(s: pd.Series) -> pd.Series:
    """ID numbers: NFKC (full-width digits), stripped, upper-case ``X``; None when empty."""
    import pyarrow.compute as pc

    t = _clean(s)
    arr = pc.utf8_upper(pc.utf8_trim_whitespace(pc.utf8_normalize(_arrow_text(t), form="NFKC")))
    return pd.Series(arr.to_numpy(zero_copy_only=False), index=t.index, dtype=object)


# Kinds whose every value parses (text stays text): they are never ``unparseable``.
ALWAYS_PARSED = ("str", "id_number")


def parse_column(c: Col, s: pd.Series, tz: str) -> pd.Series:
    """Parse the text cells ``s`` of column ``c`` into its type.

    Parameters
    ----------
    c : Col
        The contract's column: its ``kind`` picks the parser.
    s : pandas.Series
        The column's text cells, stripped, None where empty.
    tz : str
        The county's time zone, for timestamps without an offset.

    Returns
    -------
    pandas.Series
        The typed values, missing where a cell was empty or did not parse.
    """
    if c.kind == "str":
        return parse_str(s)
    if c.kind == "int":
        return parse_int(s)
    if c.kind == "float":
        return parse_float(s)
    if c.kind == "date":
        return parse_date(s)
    if c.kind == "timestamp":
        return parse_timestamp(s, tz)
    if c.kind == "bool":
        return parse_bool(s)
    if c.kind in ("enum", "coord_sys"):
        return parse_enum(s, c)
    if c.kind == "h3":
        return parse_h3(s)
    if c.kind == "wkt":
        return parse_wkt(s)
    if c.kind == "id_number":
        return normalise_id_number(s)
    raise ValueError(c.kind)  # pragma: no cover


def longer_than(v: pd.Series, length: int) -> np.ndarray:
    """Which text values have more than ``length`` characters (False where None)."""
    import pyarrow.compute as pc

    res = pc.fill_null(pc.greater(pc.utf8_length(_arrow_text(v)), length), False)
    return np.asarray(res.to_numpy(zero_copy_only=False), dtype=bool)


def unparseable_detail(c: Col) -> str:
    """The quarantine's explanation of a value of column ``c`` that did not parse."""
    return {
        "int": f"{c.name}: not a whole number",
        "float": f"{c.name}: not a number",
        "date": f"{c.name}: not a date (YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD or Excel serial)",
        "timestamp": f"{c.name}: not an ISO 8601 timestamp",
        "bool": f"{c.name}: not a boolean (1/0, true/false, 是/否, Y/N)",
        "enum": f"{c.name}: not one of "
        + ", ".join(sorted({str(v) for v in (c.enum or {}).values()}))[:200],
        "coord_sys": f"{c.name}: not one of wgs84, cgcs2000, gcj02, bd09",
        "h3": f"{c.name}: not a valid H3 cell",
        "wkt": f"{c.name}: not valid WKT",
    }.get(c.kind, f"{c.name}: unparseable")


def empty_of(c: Col, n: int) -> pd.Series:
    """``n`` missing values of column ``c``'s parsed type (an absent optional column)."""
    if c.kind == "int" or (c.kind == "enum" and c.enum is SEX):
        return pd.Series(pd.array([None] * n, dtype="Int64"))
    if c.kind == "float":
        return pd.Series(np.full(n, np.nan))
    if c.kind == "date":
        return pd.Series(np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"))
    if c.kind == "timestamp":
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    if c.kind == "bool":
        return pd.Series(pd.array([None] * n, dtype="boolean"))
    return pd.Series([None] * n, dtype=object)
