"""Column helpers of the indicator computation: ids, codes and dates in integer code space.

Strings are hashed once through Arrow (pandas 3 keeps them Arrow-backed), never per row in
Python; dates become integer day numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo.ids import normalise_ids
from geo.vocabulary import AREA_CODE_LENGTH, county_code_of, town_code_of

_DISEASE_CODE = {"htn": 0.0, "t2dm": 1.0}


# --------------------------------------------------------------------------------------
# Array helpers (shared with geo.burden)
# --------------------------------------------------------------------------------------
def _col(df: pd.DataFrame | None, name: str) -> pd.Series:
    """Column ``name`` of ``df``, or an all-missing Series when the column is absent."""
    if df is None:
        return pd.Series([], dtype=object)
    if name in df.columns:
        return df[name]
    return pd.Series(np.nan, index=df.index, dtype=object)


#: Codes and ids as text with missing values kept missing (``1.0`` -> ``"1"``); text columns
#: pass unchanged (blanks are dropped by :func:`_factor`, not here).
_ids = partial(normalise_ids, blank_as_missing=False, whole_floats=True, dtype="as_is")


def _to_arrow(s: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Strings as one Arrow ``large_string`` array (numbers become their decimal text)."""
    if isinstance(s, pd.Series):
        s = _ids(s)
        try:
            arr = pa.array(s, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arr = pa.array(s.astype("string"), from_pandas=True)
    else:
        arr = s
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.large_string())
    return arr


def _factor(s: pd.Series | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for missing or blank) and the unique values (object array)."""
    enc = pc.dictionary_encode(_to_arrow(s))
    codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    uniq = np.array(enc.dictionary.to_pylist(), dtype=object)
    blank = np.array([u is None or str(u).strip() == "" for u in uniq], dtype=bool)
    if blank.any():
        # An empty cell is "unknown" in the data contract: drop it from the uniques.
        remap = np.where(blank, -1, np.cumsum(~blank) - 1)
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
        uniq = uniq[~blank]
    return codes, uniq


def _code_map(s: pd.Series | pa.Array, mapping: Mapping[str, float]) -> np.ndarray:
    """Map code values through ``mapping`` ignoring case and spaces; NaN when unmapped."""
    codes, uniq = _factor(s)
    lut = np.array(
        [mapping.get(str(u).strip().lower(), np.nan) for u in uniq] + [np.nan], dtype=float
    )
    return lut[codes]  # code -1 picks the trailing NaN


def _code_in(s: pd.Series | pa.Array, values: Iterable[str]) -> np.ndarray:
    """Whether code values are among ``values`` (ignoring case and spaces)."""
    return ~np.isnan(_code_map(s, dict.fromkeys(values, 1.0)))


def _days(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Dates as integer day numbers (since 1970-01-01) and a validity mask."""
    d = pd.to_datetime(s, errors="coerce")
    if isinstance(d.dtype, pd.DatetimeTZDtype):
        d = d.dt.tz_localize(None)
    raw = d.to_numpy()
    valid = ~np.isnat(raw)
    out = raw.astype("datetime64[D]").view("int64")
    return out, valid


def _day_number(d: dt.date | pd.Timestamp) -> int:
    """Day number (since 1970-01-01) of a date."""
    return int((pd.Timestamp(d).normalize() - pd.Timestamp("1970-01-01")).days)


def _to_bool(s: pd.Series, default: bool) -> np.ndarray:
    """Booleans from the canonical frames (bool / boolean / 0-1 / text), missing -> default."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.fillna(default).to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(s.dtype):
        num = pd.to_numeric(s, errors="coerce")
        return num.fillna(1.0 if default else 0.0).to_numpy() != 0
    words = {
        "1": 1.0,
        "true": 1.0,
        "t": 1.0,
        "y": 1.0,
        "yes": 1.0,
        "是": 1.0,
        "0": 0.0,
        "false": 0.0,
        "f": 0.0,
        "n": 0.0,
        "no": 0.0,
        "否": 0.0,
    }
    val = _code_map(s, words)
    return np.where(np.isnan(val), default, val == 1.0)


def _to_num(s: pd.Series) -> np.ndarray:
    """Numbers as float64, missing -> 0."""
    return pd.to_numeric(s, errors="coerce").fillna(0.0).to_numpy(dtype="float64")


def _resident_lookup(residents: pd.DataFrame) -> Callable[[pd.Series | pa.Array], np.ndarray]:
    """A function mapping resident ids to row positions in ``residents`` (-1: not on file).

    ``residents`` must have unique ``resident_id``. Lookups hash through Arrow, about
    ten times faster than a pandas object index at 8M claims.
    """
    value_set = _to_arrow(residents["resident_id"])

    def lookup(values: pd.Series | pa.Array) -> np.ndarray:
        found = pc.index_in(_to_arrow(values), value_set=value_set)
        return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)

    return lookup


def _village_town_hint(
    village: tuple[np.ndarray, np.ndarray], town: tuple[np.ndarray, np.ndarray]
) -> dict[str, str]:
    """Village -> town as the residents say (the first resident of a village with both)."""
    has_both = (village[0] >= 0) & (town[0] >= 0)
    first_v, first_i = np.unique(village[0][has_both], return_index=True)
    return dict(zip(village[1][first_v], town[1][town[0][has_both][first_i]], strict=True))


def _active(res: pd.DataFrame, d_day: int) -> np.ndarray:
    """Active residents on D: status ``active`` (missing = active) and born on or before D."""
    birth_day, birth_ok = _days(_col(res, "birth_date"))
    status = _col(res, "status")
    active = status.isna().to_numpy(dtype=bool) | _code_in(status, ["active"])
    return active & (~birth_ok | (birth_day <= d_day))


def _unique_residents(residents: pd.DataFrame) -> pd.DataFrame:
    """Residents with a unique ``resident_id`` (the first row of a duplicated id), 0..n-1."""
    ids = _to_arrow(residents["resident_id"])
    # The store keys residents by id, so duplicates are rare: test through Arrow (one hash)
    # before paying for pandas' drop_duplicates.
    if len(pc.unique(ids)) != len(ids):
        residents = residents.drop_duplicates("resident_id", keep="first")
    return residents.reset_index(drop=True)


def _town_from_code(code: object) -> str | None:
    """Town code of a 12-digit statistical division code (``370783001001`` -> ``...001000``)."""
    if isinstance(code, str) and len(code) == AREA_CODE_LENGTH and code.isdigit():
        return town_code_of(code)
    return None


def _county_from_code(code: object) -> str | None:
    """County code of a 12-digit statistical division code (``370783001001`` -> ``...000000``)."""
    if isinstance(code, str) and len(code) == AREA_CODE_LENGTH and code.isdigit():
        return county_code_of(code)
    return None
