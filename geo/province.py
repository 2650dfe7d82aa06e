"""Levels above the county: a city's and the province's indicators, and counties ranked.

Each county publishes its county-level rows (numerator, denominator, value) after its own
build. Every indicator of :mod:`geo.indicator_defs` is ``numerator / denominator ×
scale``, and every numerator and denominator is a count or a sum over the county (people,
claims, yuan, doctors, beds), so a city's is the sum of its counties' and its value the
ratio of the sums — never the mean of the counties' rates, which would weigh a county of
200,000 like one of a million.

Small numbers (RULES.md): "the county total is always shown". A city's or the province's
total is a sum of county totals, which are shown, so it discloses nothing more and is
shown too. A county whose numerator or denominator is missing (it has none, e.g. no
claims in the window) makes the sum incomplete: the city's and the province's value is
then withheld with the reason ``incomplete`` rather than shown as if the county had 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.indicator_defs import INDICATOR_BY_NAME
from geo.vocabulary import city_code_of, province_code_of

#: Why a city's or the province's value is not given: a county's sum is missing.
INCOMPLETE = "incomplete"


def above_county(county_rows: pd.DataFrame, indicator: str) -> pd.DataFrame:
    """The city and province rows of ``indicator`` from its counties' published rows.

    Parameters
    ----------
    county_rows : DataFrame
        One row per county: ``county_code`` (12 digits), ``numerator``, ``denominator``.
    indicator : str
        A code of :data:`geo.indicator_defs.INDICATOR_BY_NAME` (gives the scale).

    Returns
    -------
    DataFrame
        ``level`` (``city`` | ``province``), ``unit_id`` (12-digit code), ``counties``,
        ``numerator``, ``denominator``, ``value``, ``suppressed``, ``suppression_reason``;
        cities by code, then the province(s).

    Raises
    ------
    KeyError
        For an unknown indicator, naming it.

    Examples
    --------
    >>> rows = pd.DataFrame({"county_code": ["370783000000", "370725000000"],
    ...                      "numerator": [30.0, 10.0], "denominator": [100.0, 100.0]})
    >>> above_county(rows, "htn_management_rate")[["level", "unit_id", "value"]].values.tolist()
    [['city', '370700000000', 0.2], ['province', '370000000000', 0.2]]
    """
    if indicator not in INDICATOR_BY_NAME:
        raise KeyError(f"unknown indicator {indicator!r}; one of {sorted(INDICATOR_BY_NAME)}")
    scale = INDICATOR_BY_NAME[indicator].scale
    frame = county_rows[["county_code", "numerator", "denominator"]].copy()
    frame["city"] = frame["county_code"].map(city_code_of)
    frame["province"] = frame["county_code"].map(province_code_of)
    parts = []
    for level in ("city", "province"):
        grouped = frame.groupby(level, sort=True)
        agg = pd.DataFrame(
            {
                "counties": grouped.size(),
                # min_count: a county with no sum makes the sum unknown, not smaller.
                "numerator": grouped["numerator"].sum(min_count=1),
                "denominator": grouped["denominator"].sum(min_count=1),
                "complete": grouped[["numerator", "denominator"]].apply(
                    lambda g: bool(g.notna().all().all())
                ),
            }
        )
        agg.index.name = "unit_id"
        agg = agg.reset_index()
        agg.insert(0, "level", level)
        parts.append(agg)
    out = pd.concat(parts, ignore_index=True)
    num = out["numerator"].to_numpy(dtype=float)
    den = out["denominator"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(out["complete"] & (den > 0), num / den * scale, np.nan)
    out["value"] = value
    out["suppressed"] = ~out["complete"].astype(bool)
    out["suppression_reason"] = [INCOMPLETE if s else None for s in out["suppressed"]]
    out.loc[out["suppressed"], ["numerator", "denominator"]] = np.nan
    return out.drop(columns="complete")


def rank_counties(county_rows: pd.DataFrame) -> pd.DataFrame:
    """``county_rows`` with ``rank``: 1 for the highest value, ties sharing the best rank.

    A county with no value has no rank and comes last. Whether high is good depends on
    the indicator (a management rate against an overdue rate); the rank only orders.

    Examples
    --------
    >>> rows = pd.DataFrame({"county_code": ["a", "b", "c", "d"], "value": [0.5, None, 0.7, 0.5]})
    >>> rank_counties(rows)[["county_code", "rank"]].values.tolist()
    [['c', 1], ['a', 2], ['d', 2], ['b', None]]
    """
    out = county_rows.copy()
    ranks = out["value"].astype(float).rank(method="min", ascending=False)
    out["rank"] = pd.Series(
        [None if np.isnan(r) else int(r) for r in ranks], index=out.index, dtype=object
    )
    order = np.lexsort((out["county_code"].to_numpy(), ranks.fillna(np.inf).to_numpy()))
    return out.iloc[order].reset_index(drop=True)
