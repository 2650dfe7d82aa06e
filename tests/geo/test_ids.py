"""normalise_ids: each variant is byte-identical to the helper it replaced."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_series_equal

from geo.ids import normalise_ids


# The five helpers normalise_ids replaced, verbatim.
def _followup_ids(s: pd.Series) -> pd.Series:
    out = s.astype("str")
    return out.where(out.str.strip() != "")


def _indicator_ids(s: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(s.dtype):
        whole = s.dropna()
        if (whole == np.floor(whole)).all():
            s = s.astype("Int64")
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        out = s.astype("string").astype(object)
        return out.where(s.notna(), np.nan)
    return s


def _risk_ids(s: pd.Series) -> np.ndarray:
    return s.astype("str").to_numpy(dtype=object)


def _surveillance_ids(s: pd.Series) -> pd.Series:
    t = s.astype("string").str.strip()
    return t.mask(t == "")


CASES = [
    pd.Series(["a", " b ", "", "  ", None, np.nan], dtype=object),
    pd.Series(["1", "02", ""], dtype="str"),
    pd.Series(["x", None, " "], dtype="string"),
    pd.Series([1, 2, 30]),
    pd.Series([1.0, np.nan, 3.0]),
    pd.Series([1.5, np.nan]),
    pd.Series([True, False]),
    pd.Series([1, "a", None, 2.0], dtype=object),
    pd.Series([], dtype=object),
    pd.Series([], dtype=float),
]


@pytest.mark.parametrize("s", CASES)
def test_default_is_the_followup_variant(s):
    assert_series_equal(normalise_ids(s), _followup_ids(s))


@pytest.mark.parametrize("s", CASES)
def test_indicator_variant(s):
    got = normalise_ids(s, blank_as_missing=False, whole_floats=True, dtype="as_is")
    assert_series_equal(got, _indicator_ids(s))


@pytest.mark.parametrize("s", CASES)
def test_risk_model_variant(s):
    got = normalise_ids(s, blank_as_missing=False).to_numpy(dtype=object)
    want = _risk_ids(s)
    assert got.dtype == want.dtype and len(got) == len(want)
    assert all((g == w) or (pd.isna(g) and pd.isna(w)) for g, w in zip(got, want, strict=True))


@pytest.mark.parametrize("s", CASES)
def test_surveillance_variant(s):
    assert_series_equal(normalise_ids(s, strip=True, dtype="string"), _surveillance_ids(s))


def test_hand_examples():
    assert normalise_ids(pd.Series(["a", " ", ""])).isna().tolist() == [False, True, True]
    assert normalise_ids(pd.Series([" a "])).tolist() == [" a "]
    assert normalise_ids(pd.Series([" a "]), strip=True).tolist() == ["a"]
    assert (
        normalise_ids(pd.Series([7.0, np.nan]), whole_floats=True, dtype="as_is").tolist()[0] == "7"
    )
    assert normalise_ids(pd.Series([7.0])).tolist() == ["7.0"]
