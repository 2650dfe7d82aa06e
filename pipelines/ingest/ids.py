"""ID numbers (GB 11643): validity, the masked display form and the keyed hash."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import numpy as np
import pandas as pd

from geo import coordinates as cc


def mask_id(value: Any) -> Any:
    """Display form of an ID number: first 4 + 10 stars + last 4 (``3707**********1234``)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return value
    v = str(value).strip()
    if len(v) >= 8:
        return v[:4] + "*" * 10 + v[-4:]
    return "*" * len(v)


def mask_ids(s: pd.Series) -> pd.Series:
    """:func:`mask_id` of every ID number of ``s`` (None where missing)."""
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
    have = pd.notna(vals)
    # One HMAC per ID is the computation; a comprehension with the digest bound once and
    # one assignment of all of them keeps the per-row interpreter work to the call itself.
    digest, sha256 = hmac.digest, hashlib.sha256
    out[have] = [digest(key, v.encode("utf-8"), sha256).hex() for v in vals[have].tolist()]
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
