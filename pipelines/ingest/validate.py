"""Vectorised parsing and validation of one chunk of a delivered table.

A chunk of text cells (:class:`pipelines.ingest.read.RawChunk`) becomes typed good rows plus
quarantine rows. Each bad row is quarantined once, with the first failing check in the
order of :data:`pipelines.ingest.schema.REASONS`:

``bad_encoding`` → ``missing_required`` → ``unparseable`` → ``out_of_range`` →
``id_checksum`` → ``id_mismatch`` → ``outside_county`` → ``unknown_fk`` → ``duplicate_key``.

Within a stage the columns are checked in the contract's column order. Everything is
column-at-a-time pandas/numpy; values are parsed once per distinct value (``factorize``),
which makes dates, enums and timestamps cheap on millions of rows. Python loops only run
over rows already known bad (to build their quarantine records) and over ID numbers (HMAC).

Typed output columns: codes and text ``object`` (None when empty), ``int`` ``Int64``,
``float`` ``float64``, ``date`` naive ``datetime64[ns]`` (local date), ``timestamp``
``datetime64[ns, UTC]``, ``bool`` ``boolean``, sex ``Int64``, ``wkt`` shapely geometries.
Coordinates come out in WGS84 (converted from ``coord_sys``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from geo import coordinates as cc
from pipelines.ingest.read import BAD_CHAR, RawChunk
from pipelines.ingest.schema import BOOL_FALSE, BOOL_TRUE, SEX, Col, TableSpec, norm_value

_BOOL = {**dict.fromkeys(BOOL_TRUE, True), **dict.fromkeys(BOOL_FALSE, False)}
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")


class Context(Protocol):
    """What validation needs from the store and the delivery so far."""

    timezone: str
    id_hash_key: bytes

    def known(self, ref: str) -> pd.Index: ...

    def outside(self, lng: np.ndarray, lat: np.ndarray) -> np.ndarray | None: ...

    def resident_for_hash(self, hashes: pd.Series) -> pd.Series: ...


# ----------------------------------------------------------------------------------------
# Key sets
# ----------------------------------------------------------------------------------------
class KeySet:
    """A growing set of string keys with fast vectorised membership (a cached pd.Index)."""

    def __init__(self, values: Any = ()) -> None:
        self._parts: list[np.ndarray] = []
        self._index: pd.Index | None = None
        if len(values):
            self.add(values)

    def add(self, values: Any) -> None:
        arr = np.asarray(pd.Series(values, dtype=object).dropna().to_numpy(), dtype=object)
        if arr.size:
            self._parts.append(arr)
            self._index = None

    @property
    def index(self) -> pd.Index:
        if self._index is None:
            if not self._parts:
                self._index = pd.Index([], dtype=object)
            else:
                arr = np.concatenate(self._parts) if len(self._parts) > 1 else self._parts[0]
                self._index = pd.Index(pd.unique(arr), dtype=object)
                self._parts = [self._index.to_numpy()]
        return self._index

    def contains(self, values: Any) -> np.ndarray:
        idx = self.index
        if len(idx) == 0:
            return np.zeros(len(values), dtype=bool)
        return idx.get_indexer(pd.Index(values, dtype=object)) >= 0

    def __len__(self) -> int:
        return len(self.index)


# ----------------------------------------------------------------------------------------
# Flags: the first failing check of each row
# ----------------------------------------------------------------------------------------
class Flags:
    def __init__(self, n: int) -> None:
        self.n = n
        self.reason = np.full(n, None, dtype=object)
        self.column = np.full(n, None, dtype=object)
        self.value = np.full(n, None, dtype=object)
        self.detail = np.full(n, None, dtype=object)

    @property
    def ok(self) -> np.ndarray:
        return pd.isna(self.reason)

    def flag(
        self,
        mask: np.ndarray,
        reason: str,
        column: str | None,
        value: Any = None,
        detail: Any = None,
    ) -> None:
        m = np.asarray(mask, dtype=bool) & self.ok
        if not m.any():
            return
        self.reason[m] = reason
        self.column[m] = column
        if value is not None:
            if isinstance(value, pd.Series):
                sub = value.iloc[np.flatnonzero(m)]
                v = sub.astype(object).where(sub.notna(), None).to_numpy(dtype=object)
            elif np.isscalar(value):
                v = np.asarray(value, dtype=object)
            else:
                v = np.asarray(value, dtype=object)[m]
            self.value[m] = v
        if detail is not None:
            d = detail if np.isscalar(detail) else np.asarray(detail, dtype=object)[m]
            self.detail[m] = d


# ----------------------------------------------------------------------------------------
# Parsers (text Series → typed Series, NA where empty or unparseable)
# ----------------------------------------------------------------------------------------
def _by_unique(s: pd.Series, fn: Callable[[pd.Series], pd.Series], dtype: Any) -> pd.Series:
    """Apply ``fn`` to the distinct values of ``s`` and broadcast the result back."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
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
        res = pd.Series(out, index=s.index)
        if (codes < 0).any():
            res = res.where(codes >= 0)
        return res.astype(dtype) if dtype is not None else res
    taken = values.take(np.where(codes < 0, -1, codes), allow_fill=True)
    return pd.Series(taken, index=s.index)


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


def _empty_to_na(s: pd.Series) -> pd.Series:
    """Stripped text as ``object`` with None for empty cells."""
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
    return pd.Series(t.to_numpy(zero_copy_only=False), index=s.index, dtype=object)


def _clean(s: pd.Series) -> pd.Series:
    return s if getattr(s, "_hm_clean", False) else _empty_to_na(s)


def _mark_clean(s: pd.Series) -> pd.Series:
    object.__setattr__(s, "_hm_clean", True)
    return s


def parse_str(s: pd.Series) -> pd.Series:
    """Text: stripped; empty → None."""
    return _clean(s)


def parse_float(s: pd.Series) -> pd.Series:
    import pyarrow as pa
    import pyarrow.compute as pc

    t = _clean(s)
    try:  # fast path: every value is a plain number
        arr = pc.cast(
            pa.array(t.to_numpy(dtype=object), type=pa.string(), from_pandas=True), pa.float64()
        )
        out = pd.Series(arr.to_numpy(zero_copy_only=False), index=t.index, dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = pd.to_numeric(t, errors="coerce").astype("float64")
    bad = t.notna() & out.isna()
    if bad.any():  # full-width digits, thousands separators
        fixed = t[bad].map(lambda v: unicodedata.normalize("NFKC", v).replace(",", ""))
        out[bad] = pd.to_numeric(fixed, errors="coerce")
    out[~np.isfinite(out.to_numpy())] = np.nan
    return out


def parse_int(s: pd.Series) -> pd.Series:
    f = parse_float(s)
    integral = f.isna() | (np.floor(f) == f)
    f = f.where(integral & (f.abs() < 2**53))
    return f.astype("Int64")


def parse_bool(s: pd.Series) -> pd.Series:
    def fn(u: pd.Series) -> pd.Series:
        return u.map(lambda v: _BOOL.get(norm_value(str(v)))).astype("boolean")

    return _by_unique(_clean(s), fn, "boolean")


def parse_enum(s: pd.Series, col: Col) -> pd.Series:
    def fn(u: pd.Series) -> pd.Series:
        return u.map(lambda v: col.enum_lookup(str(v))).astype(object)

    out = _by_unique(_clean(s), fn, object)
    if col.enum is SEX:
        return pd.to_numeric(out, errors="coerce").astype("Int64")
    return out.astype(object).where(out.notna(), None)


def parse_h3(s: pd.Series) -> pd.Series:
    import h3

    def fn(u: pd.Series) -> pd.Series:
        t = u.astype(str).str.strip().str.lower()
        ok = t.map(lambda v: bool(h3.is_valid_cell(v)) if v else False)
        return t.where(ok, None).astype(object)

    return _by_unique(_clean(s), fn, object)


def parse_wkt(s: pd.Series) -> pd.Series:
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
    import pyarrow as pa
    import pyarrow.compute as pc

    t = _clean(s)
    arr = pa.array(t.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    arr = pc.utf8_upper(pc.utf8_trim_whitespace(pc.utf8_normalize(arr, form="NFKC")))
    return pd.Series(arr.to_numpy(zero_copy_only=False), index=t.index, dtype=object)


def mask_id(value: Any) -> Any:
    """Display form of an ID number: first 4 + 10 stars + last 4 (``3707**********1234``)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return value
    v = str(value).strip()
    if len(v) >= 8:
        return v[:4] + "*" * 10 + v[-4:]
    return "*" * len(v)


def mask_ids(s: pd.Series) -> pd.Series:
    t = s.astype(object)
    have = t.notna()
    out = pd.Series(None, index=s.index, dtype=object)
    if have.any():
        v = t[have].astype(str)
        out[have] = (v.str[:4] + "**********" + v.str[-4:]).astype(object)
    return out


def hash_ids(s: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256(key, ID number) hex, None where the ID is missing."""
    out = np.full(len(s), None, dtype=object)
    vals = s.to_numpy(dtype=object)
    for i in np.flatnonzero(pd.notna(vals)):
        out[i] = hmac.digest(key, vals[i].encode("utf-8"), hashlib.sha256).hex()
    return pd.Series(out, index=s.index, dtype=object)


def id_number_valid(s: pd.Series) -> np.ndarray:
    """GB 11643: 18 characters, checksum, and a real birth date."""
    vals = s.to_numpy(dtype=object)
    have = pd.notna(vals)
    ok = np.zeros(len(vals), dtype=bool)
    if have.any():
        sub = vals[have]
        good = cc.valid_id_numbers(sub)
        births = pd.to_datetime(
            pd.Series([v[6:14] if isinstance(v, str) else "" for v in sub]),
            format="%Y%m%d",
            errors="coerce",
        )
        ok[np.flatnonzero(have)] = good & births.notna().to_numpy()
    return ok


# ----------------------------------------------------------------------------------------
# The chunk validator
# ----------------------------------------------------------------------------------------
@dataclass
class Outcome:
    good: pd.DataFrame
    quarantine: pd.DataFrame
    keys: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))


QUARANTINE_COLUMNS = ["row_number", "column_name", "value", "reason", "detail", "raw"]


def key_strings(df: pd.DataFrame, key: tuple[str, ...]) -> np.ndarray:
    """One string per row for a (possibly composite) key (parts joined by ``\\x1f``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = []
    for k in key:
        v = df[k]
        if pd.api.types.is_datetime64_any_dtype(v.dtype):
            ints = (
                v.to_numpy(dtype="datetime64[ns]").view("int64")
                if v.dt.tz is None
                else v.dt.tz_convert("UTC")
                .dt.tz_localize(None)
                .to_numpy("datetime64[ns]")
                .view("int64")
            )
            arr = pc.cast(pa.array(ints), pa.string())
        elif v.dtype == object:
            arr = pa.array(v.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        else:
            arr = pc.cast(pa.array(v, from_pandas=True), pa.string())
        parts.append(pc.fill_null(arr, ""))
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)


def _text(v: pd.Series) -> np.ndarray:
    return v.astype(object).where(v.notna(), None).to_numpy(dtype=object)


def validate_chunk(
    spec: TableSpec,
    chunk: RawChunk,
    ctx: Context,
    seen_keys: KeySet,
    file_keys: KeySet | None = None,
) -> Outcome:
    """Parse and validate one chunk.

    Parameters
    ----------
    spec : TableSpec
    chunk : RawChunk
    ctx : Context
        Known keys (store + this delivery), the county geometry, the ID-hash resolver.
    seen_keys : KeySet
        Keys of this file's earlier chunks (duplicate detection); the chunk's good keys are
        added to it.
    file_keys : KeySet, optional
        Keys of this file seen so far (any row that passed the checks before the foreign-key
        stage), for self-references such as ``areas.parent_code``.
    """
    raw = chunk.data
    n = len(raw)
    flags = Flags(n)
    cols = set(raw.columns)

    # 1. bad_encoding --------------------------------------------------------------------
    if chunk.bad_encoding is not None and chunk.bad_encoding.any():
        bad = chunk.bad_encoding
        colname = np.full(n, None, dtype=object)
        value = np.full(n, None, dtype=object)
        for header in reversed(list(chunk.original.columns)):
            hit = (
                chunk.original[header]
                .str.contains(BAD_CHAR, regex=False)
                .to_numpy(dtype=bool, na_value=False)
            )
            colname[hit] = chunk.mapping.get(header, header)
            value[hit] = chunk.original[header].to_numpy(dtype=object)[hit]
        value = np.array(
            [v.replace(BAD_CHAR, "\ufffd") if isinstance(v, str) else v for v in value],
            dtype=object,
        )
        flags.flag(
            bad, "bad_encoding", None, value, "bytes invalid in the file's detected encoding"
        )
        flags.column[bad] = colname[bad]

    # 2. missing_required ----------------------------------------------------------------
    clean = {name: _mark_clean(_empty_to_na(raw[name])) for name in cols}
    empty = {name: clean[name].isna().to_numpy(dtype=bool) for name in cols}
    for col in spec.columns:
        if col.required and col.name in cols:
            flags.flag(
                empty[col.name], "missing_required", col.name, None, f"{col.name} is required"
            )
    for group in spec.alternatives:
        present = [alt for alt in group if all(name in cols for name in alt)]
        if not present:
            continue
        none = np.ones(n, dtype=bool)
        for alt in present:
            have = np.ones(n, dtype=bool)
            for name in alt:
                have &= ~empty[name]
            none &= ~have
        names = " or ".join("+".join(alt) for alt in group)
        flags.flag(none, "missing_required", present[0][0], None, f"one of {names} is required")
    if spec.name == "areas" and "parent_code" in cols:
        lvl = raw["level"].map(lambda v: spec.col("level").enum_lookup(str(v)))
        need = (lvl.to_numpy(dtype=object) != "county") & empty["parent_code"]
        flags.flag(
            need,
            "missing_required",
            "parent_code",
            None,
            "parent_code is required except for the county",
        )

    # 3. unparseable ---------------------------------------------------------------------
    out: dict[str, pd.Series] = {}
    for c in spec.columns:
        if c.name not in cols:
            continue
        s = clean[c.name]
        given = ~empty[c.name]
        if c.kind == "str":
            v = parse_str(s)
            failed = np.zeros(n, dtype=bool)
        elif c.kind == "int":
            v = parse_int(s)
            failed = given & v.isna().to_numpy()
        elif c.kind == "float":
            v = parse_float(s)
            failed = given & v.isna().to_numpy()
        elif c.kind == "date":
            v = parse_date(s)
            failed = given & v.isna().to_numpy()
        elif c.kind == "timestamp":
            v = parse_timestamp(s, ctx.timezone)
            failed = given & v.isna().to_numpy()
        elif c.kind == "bool":
            v = parse_bool(s)
            failed = given & v.isna().to_numpy()
        elif c.kind in ("enum", "coord_sys"):
            v = parse_enum(s, c)
            failed = given & v.isna().to_numpy()
        elif c.kind == "h3":
            v = parse_h3(s)
            failed = given & v.isna().to_numpy()
        elif c.kind == "wkt":
            v = parse_wkt(s)
            failed = given & v.isna().to_numpy()
        elif c.kind == "id_number":
            v = normalise_id_number(s)
            failed = np.zeros(n, dtype=bool)
        else:  # pragma: no cover
            raise ValueError(c.kind)
        length = spec.lengths.get(c.name)
        if length and c.kind in ("str", "enum") and v.dtype == object:
            too_long = _longer_than(v, length)
            flags.flag(
                too_long & ~failed,
                "unparseable",
                c.name,
                raw[c.name],
                f"longer than {length} characters",
            )
        detail = _unparseable_detail(c)
        flags.flag(failed, "unparseable", c.name, raw[c.name], detail)
        out[c.name] = v
    for c in spec.columns:  # absent optional columns: all NA of the right type
        if c.name not in out:
            out[c.name] = _empty_of(c, n)
    df = pd.DataFrame(out, index=raw.index)
    if "lat" in cols or "lng" in cols:
        lat_given = df["lat"].notna().to_numpy()
        lng_given = df["lng"].notna().to_numpy()
        half = lat_given != lng_given
        flags.flag(
            half,
            "unparseable",
            "lat" if lng_given.any() else "lng",
            raw["lat"] if "lat" in cols else None,
            "lat and lng must be given together",
        )

    # 4. out_of_range --------------------------------------------------------------------
    for c in spec.columns:
        if c.lo is None and c.hi is None:
            continue
        if c.name not in cols:
            continue
        num = pd.to_numeric(df[c.name], errors="coerce").astype("float64").to_numpy()
        bad = np.zeros(n, dtype=bool)
        with np.errstate(invalid="ignore"):
            if c.lo is not None:
                bad |= num < c.lo
            if c.hi is not None:
                bad |= num > c.hi
        rng = f"{'' if c.lo is None else c.lo}–{'' if c.hi is None else c.hi}"
        flags.flag(
            bad,
            "out_of_range",
            c.name,
            raw[c.name],
            f"{c.name} outside {rng}" if c.hi is not None else f"{c.name} below {c.lo}",
        )
    if "sbp" in cols and "dbp" in cols:
        sbp, dbp = df["sbp"].to_numpy(), df["dbp"].to_numpy()
        with np.errstate(invalid="ignore"):
            bad = (sbp <= dbp) & ~np.isnan(sbp) & ~np.isnan(dbp)
        flags.flag(
            bad,
            "out_of_range",
            "dbp",
            raw["dbp"],
            pd.Series(sbp).astype(str) + " <= dbp " + pd.Series(dbp).astype(str)
            if bad.any()
            else None,
        )
    if spec.name == "claims" and {"total_cost", "fund_paid", "self_paid"} <= cols:
        tot = df["total_cost"].to_numpy()
        paid = df["fund_paid"].fillna(0).to_numpy() + df["self_paid"].fillna(0).to_numpy()
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(tot) & (paid > tot + 0.01)
        flags.flag(
            bad,
            "out_of_range",
            "self_paid",
            raw["self_paid"],
            "fund_paid + self_paid > total_cost + 0.01",
        )

    # 5. id_checksum / 6. id_mismatch ----------------------------------------------------
    if "id_number" in cols:
        idn = df["id_number"]
        have = idn.notna().to_numpy()
        valid = id_number_valid(idn)
        masked = mask_ids(idn).to_numpy(dtype=object)
        flags.flag(
            have & ~valid,
            "id_checksum",
            "id_number",
            masked,
            "not a valid GB 11643 ID number (length, birth date or check character)",
        )
        if spec.name == "residents":
            ok = have & valid & flags.ok
            if ok.any():
                sub = idn[ok].astype(str)
                birth = pd.to_datetime(sub.str[6:14], format="%Y%m%d", errors="coerce")
                sex = np.where(sub.str[16].astype(int).to_numpy() % 2 == 1, 1, 2)
                bd = df["birth_date"][ok]
                bad_birth = np.zeros(n, dtype=bool)
                bad_sex = np.zeros(n, dtype=bool)
                bad_birth[np.flatnonzero(ok)] = (
                    birth.to_numpy() != bd.to_numpy()
                ) & bd.notna().to_numpy()
                dsx = df["sex"][ok].to_numpy(dtype="float64", na_value=np.nan)
                bad_sex[np.flatnonzero(ok)] = (dsx != sex) & ~np.isnan(dsx)
                flags.flag(
                    bad_birth,
                    "id_mismatch",
                    "birth_date",
                    raw["birth_date"],
                    "birth date disagrees with the ID number",
                )
                flags.flag(
                    bad_sex, "id_mismatch", "sex", raw["sex"], "sex disagrees with the ID number"
                )

    # coordinates → WGS84 ------------------------------------------------------------------
    if "lat" in df.columns and ("lat" in cols):
        _to_wgs84(df)
    if "geometry_wkt" in cols and "coord_sys" in df.columns:
        _geoms_to_wgs84(df)

    # cells of gridded tables delivered as cell centres (resolution 8)
    if spec.name in ("mobility", "population_grid") and "lat" in cols and "lng" in cols:
        need = (df["h3"].isna() & df["lat"].notna() & df["lng"].notna()).to_numpy()
        if need.any():
            from geo.geocode import h3_of_latlng

            cells = h3_of_latlng(df["lat"].to_numpy()[need], df["lng"].to_numpy()[need], 8)
            h3col = df["h3"].to_numpy(dtype=object).copy()
            h3col[need] = cells
            df["h3"] = pd.Series(h3col, index=df.index, dtype=object)

    # 7. outside_county ------------------------------------------------------------------
    if "lat" in cols and "lng" in cols:
        have = df["lat"].notna().to_numpy() & df["lng"].notna().to_numpy() & flags.ok
        if have.any():
            res = ctx.outside(df["lng"].to_numpy()[have], df["lat"].to_numpy()[have])
            if res is not None:
                bad = np.zeros(n, dtype=bool)
                bad[np.flatnonzero(have)] = res
                val = (raw["lat"].astype(str) + "," + raw["lng"].astype(str)).to_numpy(dtype=object)
                flags.flag(
                    bad,
                    "outside_county",
                    "lat",
                    val,
                    "more than the allowed distance outside the county",
                )

    # 8. unknown_fk ----------------------------------------------------------------------
    ok_before_fk = flags.ok
    if file_keys is not None and ok_before_fk.any():
        file_keys.add(key_strings(df[ok_before_fk], spec.key))
    if spec.name == "claims":
        _resolve_claim_residents(df, cols, flags, ctx)
    for c in spec.columns:
        if c.fk is None or c.name not in cols:
            continue
        vals = df[c.name]
        have = vals.notna().to_numpy() & flags.ok
        if not have.any():
            continue
        known = ctx.known(c.fk)
        self_ref = c.fk == spec.name
        if c.fk_list:
            sub = vals[have].astype(str).str.split(";")
            ex = sub.explode().str.strip()
            ex = ex[ex != ""]
            hit = _member(ex.to_numpy(dtype=object), known, file_keys if self_ref else None)
            miss = pd.Series(~hit, index=ex.index)
            bad_rows = miss.groupby(level=0).any()
            first_bad = ex[~hit].groupby(level=0).first()
            bad = np.zeros(n, dtype=bool)
            pos = raw.index.get_indexer(bad_rows.index[bad_rows.to_numpy()])
            bad[pos] = True
            value = np.full(n, None, dtype=object)
            value[raw.index.get_indexer(first_bad.index)] = first_bad.to_numpy(dtype=object)
            flags.flag(bad, "unknown_fk", c.name, value, f"not a known {_fk_name(c.fk)}")
        else:
            hit = _member(vals[have].to_numpy(dtype=object), known, file_keys if self_ref else None)
            bad = np.zeros(n, dtype=bool)
            bad[np.flatnonzero(have)] = ~hit
            flags.flag(bad, "unknown_fk", c.name, vals, f"not a known {_fk_name(c.fk)}")

    # 9. duplicate_key -------------------------------------------------------------------
    ok = flags.ok
    keys = np.full(n, None, dtype=object)
    if ok.any():
        kdf = df[ok]
        if spec.name == "mobility":
            kdf = kdf.assign(origin_h3=kdf["origin_h3"].where(kdf["origin_h3"].notna(), ""))
        k = key_strings(kdf, spec.key)
        keys[ok] = k
        dup_in = pd.Series(k).duplicated(keep="first").to_numpy()
        dup_prev = seen_keys.contains(k) if len(seen_keys) else np.zeros(len(k), dtype=bool)
        dup = np.zeros(n, dtype=bool)
        dup[np.flatnonzero(ok)] = dup_in | dup_prev
        kv = np.full(n, None, dtype=object)
        for i in np.flatnonzero(dup):
            kv[i] = "|".join(str(raw[c].iloc[i]) if c in cols else "" for c in spec.key)
        flags.flag(
            dup,
            "duplicate_key",
            spec.key[0] if len(spec.key) == 1 else ",".join(spec.key),
            kv,
            "second occurrence of this key in the file; the first was kept",
        )
        seen_keys.add(k[~(dup_in | dup_prev)])

    # results ------------------------------------------------------------------------------
    ok = flags.ok
    good = df[ok]
    bad_pos = np.flatnonzero(~ok)
    q = _quarantine_frame(chunk, flags, bad_pos, spec)
    return Outcome(good=good, quarantine=q, keys=keys[ok])


def _longer_than(v: pd.Series, length: int) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(v.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    res = pc.fill_null(pc.greater(pc.utf8_length(arr), length), False)
    return np.asarray(res.to_numpy(zero_copy_only=False), dtype=bool)


def _member(values: np.ndarray, known: pd.Index, extra: KeySet | None) -> np.ndarray:
    hit = (
        known.get_indexer(pd.Index(values, dtype=object)) >= 0
        if len(known)
        else np.zeros(len(values), dtype=bool)
    )
    if extra is not None and len(extra) and not hit.all():
        hit |= extra.contains(values)
    return hit


def _fk_name(ref: str) -> str:
    if ref.startswith("areas:"):
        return " or ".join(ref.split(":", 1)[1].split(",")) + " area code"
    return {
        "residents": "resident_id",
        "facilities": "facility_id",
        "teams": "team_id",
        "staff": "staff_id",
        "areas": "area_code",
    }.get(ref, ref)


def _resolve_claim_residents(df: pd.DataFrame, cols: set[str], flags: Flags, ctx: Context) -> None:
    """Claims linked by ID number get their resident_id through the residents' id_hash."""
    if "id_number" not in cols:
        return
    need = df["resident_id"].isna().to_numpy() & df["id_number"].notna().to_numpy() & flags.ok
    if not need.any():
        return
    hashes = hash_ids(df.loc[need, "id_number"], ctx.id_hash_key)
    rid = ctx.resident_for_hash(hashes)
    found = rid.notna().to_numpy()
    idx = df.index[need]
    df.loc[idx[found], "resident_id"] = rid[found].to_numpy(dtype=object)
    bad = np.zeros(len(df), dtype=bool)
    bad[np.flatnonzero(need)[~found]] = True
    flags.flag(
        bad,
        "unknown_fk",
        "id_number",
        mask_ids(df["id_number"]).to_numpy(dtype=object),
        "no resident with this ID number",
    )


def _to_wgs84(df: pd.DataFrame) -> None:
    lat = df["lat"].to_numpy(dtype="float64", na_value=np.nan).copy()
    lng = df["lng"].to_numpy(dtype="float64", na_value=np.nan).copy()
    sys_ = df["coord_sys"].to_numpy(dtype=object) if "coord_sys" in df.columns else None
    if sys_ is None:
        return
    for name in ("gcj02", "bd09"):
        m = (sys_ == name) & ~np.isnan(lat) & ~np.isnan(lng)
        if m.any():
            x, y = cc.convert(lng[m], lat[m], name, "wgs84")
            lng[m], lat[m] = x, y
    df["lat"] = lat
    df["lng"] = lng


def _geoms_to_wgs84(df: pd.DataFrame) -> None:
    import shapely

    sys_ = df["coord_sys"].to_numpy(dtype=object)
    geoms = df["geometry_wkt"].to_numpy(dtype=object).copy()
    for name in ("gcj02", "bd09"):
        m = (sys_ == name) & pd.notna(geoms)
        for i in np.flatnonzero(m):

            def fn(xy: np.ndarray, _n: str = name) -> np.ndarray:
                x, y = cc.convert(xy[:, 0], xy[:, 1], _n, "wgs84")
                return np.column_stack([x, y])

            geoms[i] = shapely.transform(geoms[i], fn)
    df["geometry_wkt"] = pd.Series(geoms, index=df.index, dtype=object)


def _unparseable_detail(c: Col) -> str:
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


def _empty_of(c: Col, n: int) -> pd.Series:
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


def _quarantine_frame(
    chunk: RawChunk, flags: Flags, pos: np.ndarray, spec: TableSpec
) -> pd.DataFrame:
    if pos.size == 0:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    orig = chunk.original.iloc[pos]
    id_headers = [h for h, c in chunk.mapping.items() if c == "id_number"]
    records = orig.astype(object).to_dict("records")
    for r in records:
        for h in id_headers:
            if r.get(h):
                r[h] = mask_id(r[h])
        for k, v in list(r.items()):
            if isinstance(v, str) and BAD_CHAR in v:
                r[k] = v.replace(BAD_CHAR, "\ufffd")
            elif v is None or (isinstance(v, float) and np.isnan(v)):
                r[k] = ""
            else:
                r[k] = str(v)
    values = flags.value[pos]
    values = np.array(
        [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values],
        dtype=object,
    )
    return pd.DataFrame(
        {
            "row_number": chunk.row_number[pos],
            "column_name": flags.column[pos],
            "value": values,
            "reason": flags.reason[pos],
            "detail": [None if d is None else str(d) for d in flags.detail[pos]],
            "raw": records,
        }
    )


def local_date(ts: pd.Series, tz: str) -> pd.Series:
    """Local calendar date (naive midnight) of UTC timestamps."""
    return ts.dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()


def today() -> dt.date:  # pragma: no cover - convenience
    return dt.date.today()
