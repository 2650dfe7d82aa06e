"""Ids and codes as text, normalised one way so merges, lookups and fallbacks agree.

Ids (``resident_id``, ``team_id``, ``grid_id``, ``facility_id``) and codes (``area_code``)
arrive as text, as integers, or as floats when a column with missing cells was read as
numbers (``1.0``). :func:`normalise_ids` turns a column of them into text; its keyword
arguments are the few variants the domain genuinely needs (see each caller), so there is
one implementation to read.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["normalise_ids"]


def normalise_ids(
    values: pd.Series,
    *,
    strip: bool = False,
    blank_as_missing: bool = True,
    whole_floats: bool = False,
    dtype: Literal["str", "string", "as_is"] = "str",
) -> pd.Series:
    """Ids or codes as text, with missing values kept missing.

    Parameters
    ----------
    values : Series
        The ids, of any dtype (text, integers, floats, booleans).
    strip : bool, default False
        Remove leading and trailing whitespace from every id (``" 7 "`` → ``"7"``).
    blank_as_missing : bool, default True
        Make an empty or whitespace-only id missing (the data contract's "unknown"), so
        ``fillna`` fallbacks reach it. Without ``strip`` the other ids keep their spaces.
    whole_floats : bool, default False
        When ``values`` is a float column whose values are all whole, write them as
        integers (``1.0`` → ``"1"``): ids read as floats because of missing cells.
        Otherwise floats keep their decimal text (``"1.0"``).
    dtype : {"str", "string", "as_is"}, default "str"
        ``"str"``: pandas' default string dtype, missing as NaN. ``"string"``: the
        nullable ``string`` dtype, missing as ``pd.NA``. ``"as_is"``: text columns are
        returned as they are (object or string dtype, nothing converted) and numeric or
        boolean columns become an object column of text with missing as NaN.

    Returns
    -------
    Series
        Same index and name as ``values``.

    Notes
    -----
    The callers, and what they rely on:

    * :mod:`geo.followup` (and its helpers): the defaults. Values are not stripped, but a
      blank id is missing.
    * :mod:`geo.risk_model` features: ``blank_as_missing=False`` (then ``.to_numpy``):
      every id, blank or not, is a key of its own.
    * :mod:`geo.vaccination` (and ``pipelines.surveillance``): ``strip=True,
      dtype="string"``.
    * :mod:`geo.indicators` (and :mod:`geo.burden`): ``blank_as_missing=False,
      whole_floats=True, dtype="as_is"``; the Arrow factorisation drops blanks itself.

    Examples
    --------
    >>> import pandas as pd
    >>> normalise_ids(pd.Series(["a", " ", None])).tolist()
    ['a', nan, nan]
    >>> normalise_ids(pd.Series([" a ", ""]), strip=True, dtype="string").tolist()
    ['a', <NA>]
    >>> normalise_ids(pd.Series([1.0, None]), blank_as_missing=False, whole_floats=True,
    ...               dtype="as_is").tolist()
    ['1', nan]
    """
    s = values
    if whole_floats and pd.api.types.is_float_dtype(s.dtype):
        whole = s.dropna()
        if (whole == np.floor(whole)).all():
            s = s.astype("Int64")
    if dtype == "as_is":
        if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            out = s.astype("string").astype(object).where(s.notna(), np.nan)
        else:
            out = s
    else:
        out = s.astype(dtype)
    if strip:
        out = out.str.strip()
        if blank_as_missing:
            out = out.mask(out == "")
    elif blank_as_missing:
        out = out.where(out.str.strip() != "")
    return out
