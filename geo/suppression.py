"""Small-number suppression of indicator rows (RULES.md, "Small numbers").

    On every view that is not a care team's own list, a cell or area whose denominator is
    below 10 shows no rate (suppressed, with the reason) and a rate is never shown with its
    raw count below 10 people. The county total is always shown.

Precisely, for a row of :func:`geo.indicators.compute_indicators` and ``k`` (default 10):

1. ``denominator_below_k`` -- the people behind the denominator number fewer than ``k``
   (``denominator_people``; the plain ``denominator`` when that column is absent or NaN).
   A denominator of 0 is below ``k``. The value, numerator *and* denominator are hidden:
   a denominator under ``k`` is itself a small count of people (e.g. 7 managed diabetics),
   and it is the numerator of another indicator (``htn_standard_rate``'s denominator is
   ``htn_management_rate``'s numerator), so showing it would undo the other suppression.
2. ``count_below_k`` -- otherwise, the people behind the numerator number 1 to ``k`` − 1
   (``numerator_people``, else ``numerator``). The value and numerator are hidden; the
   denominator (>= ``k``) stays. A count of **0** is shown: "none of at least 10" is the
   usual publication practice and, like a rate of 100 %, is not a small cell.
   Rows whose numerator counts no people -- doctors and beds per 1000, where
   ``numerator_people`` is NaN in a frame that has the column -- are resources, not
   residents' health data, and are not tested for this rule.
3. Rows of ``always_show_levels`` (the county) are never suppressed.

"People" counts are used rather than raw numerators because claim shares count claims and
yuan: 30 claims of 2 residents are 2 people. Suppressed rows stay in the frame with
``value`` NaN (``None`` once serialised) so that the map can say why a cell is blank.

Not done for indicator rows (and not asked by RULES.md): complementary suppression. A
town's total minus its shown villages can reveal a suppressed village, and ``denominator −
numerator`` below ``k`` (e.g. 98 of 100 signed) is shown.

The same rule for callers that hold counts rather than indicator rows:

* :func:`suppression_reasons` / :func:`suppression_reason` -- the rule above on arrays or
  on one row (a rate over people, e.g. a risk cell's recent cases over its residents);
* :func:`observed_count_reason` -- a statistic over an observed count (an alert's
  relative risk), withheld when the count is below ``k``, 0 included;
* :func:`withheld_counts` -- plain counts that are parts of one total (vaccination
  targets per town and team): 1 to ``k`` − 1, plus one more beside a lone withheld one
  when the total is shown, so it cannot be had by subtraction.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo.rules import DEFAULT_RULES, RulesConfig
from geo.vocabulary import Term

#: Reasons written to ``suppression_reason``.
DENOMINATOR_BELOW_K = "denominator_below_k"
COUNT_BELOW_K = "count_below_k"
#: The reasons with what a user reads (``suppression_reason`` of every suppressed row).
SUPPRESSION_REASON_TERMS: tuple[Term, ...] = (
    Term(DENOMINATOR_BELOW_K, "分母人数过少，已隐藏", "Too few people in the denominator"),
    Term(COUNT_BELOW_K, "人数过少，已隐藏", "Too few people counted"),
)

K = TypeVar("K", bound=Hashable)


def _floats(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Counts as float64, None and non-numbers as NaN."""
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        return arr.astype(float)
    return pd.to_numeric(pd.Series(arr, dtype=object), errors="coerce").to_numpy(dtype=float)


def suppression_reasons(
    numerator_people: npt.ArrayLike, denominator_people: npt.ArrayLike, k: int
) -> npt.NDArray[np.object_]:
    """Why each rate is withheld under the small-number rule (None where it is shown).

    The rule of :func:`suppress` on plain arrays, with no level exempt: fewer than ``k``
    people in the denominator (missing counts as 0) gives ``denominator_below_k``; else 1
    to ``k`` − 1 people in the numerator gives ``count_below_k``; a numerator of 0 or
    missing is shown.

    Parameters
    ----------
    numerator_people, denominator_people : array-like of float
        People behind each rate's numerator and denominator, aligned (None or NaN when
        unknown).
    k : int
        The small-number threshold (``rules.indicators.suppression_k``, 10).

    Returns
    -------
    ndarray of object
        ``"denominator_below_k"``, ``"count_below_k"`` or None per rate.

    Examples
    --------
    >>> suppression_reasons([3, 0, 12, 5], [9, 40, 40, None], k=10).tolist()
    ['denominator_below_k', None, None, 'denominator_below_k']
    >>> suppression_reasons([3, 10], [40, 40], k=10).tolist()
    ['count_below_k', None]
    """
    num, den = _floats(numerator_people), _floats(denominator_people)
    # NaN denominators (unknown) are treated as 0: nothing to show a rate over.
    den_small = ~(np.nan_to_num(den, nan=0.0) >= k)
    count_small = ~den_small & (num > 0) & (num < k)
    reason = np.full(len(num), None, dtype=object)
    reason[den_small] = DENOMINATOR_BELOW_K
    reason[count_small] = COUNT_BELOW_K
    return reason


def suppression_reason(
    numerator_people: float | None, denominator_people: float | None, k: int
) -> str | None:
    """Why one rate is withheld, or None: :func:`suppression_reasons` for a single row.

    Parameters
    ----------
    numerator_people, denominator_people : float or None
        People behind the rate's numerator and denominator (None when unknown).
    k : int
        The small-number threshold.

    Returns
    -------
    str or None
        ``"denominator_below_k"``, ``"count_below_k"`` or None.

    Examples
    --------
    >>> suppression_reason(3, 40, 10)
    'count_below_k'
    >>> suppression_reason(3, None, 10)
    'denominator_below_k'
    """
    if denominator_people is None or not denominator_people >= k:  # None or NaN: below
        return DENOMINATOR_BELOW_K
    if numerator_people is not None and 0 < numerator_people < k:
        return COUNT_BELOW_K
    return None


def observed_count_reason(observed: float | None, k: int) -> str | None:
    """Why a statistic over an observed count is withheld, or None.

    For a figure computed from one count and no denominator of people (a space-time
    cluster's relative risk over its observed cases): withheld when the count is below
    ``k``, **0 included** (unlike a rate's numerator, which shows 0). An unknown count
    (None) is not tested.

    Parameters
    ----------
    observed : float or None
        The observed count.
    k : int
        The small-number threshold.

    Returns
    -------
    str or None
        ``"count_below_k"`` or None.

    Examples
    --------
    >>> observed_count_reason(0, 10), observed_count_reason(10, 10)
    ('count_below_k', None)
    """
    if observed is not None and observed < k:
        return COUNT_BELOW_K
    return None


def withheld_counts(values: Mapping[K, int], k: int, total_shown: bool) -> set[K]:
    """Which of the counts that make up one total to withhold.

    Every count of 1 to ``k`` − 1; and when exactly one is withheld and the total is
    shown, the smallest other non-zero count too (ties: the smaller ``str(key)``), so the
    withheld one cannot be had by subtracting the others from the total.

    Parameters
    ----------
    values : mapping of key to int
        The parts of one total (people per team of a town, ...).
    k : int
        The small-number threshold.
    total_shown : bool
        Whether the total these parts add up to is shown.

    Returns
    -------
    set
        The keys to withhold.

    Examples
    --------
    >>> sorted(withheld_counts({"a": 3, "b": 40, "c": 25, "d": 0}, 10, total_shown=True))
    ['a', 'c']
    >>> sorted(withheld_counts({"a": 3, "b": 40}, 10, total_shown=False))
    ['a']
    """
    hidden = {key for key, v in values.items() if 0 < v < k}
    if total_shown and len(hidden) == 1:
        rest = sorted((v, str(key), key) for key, v in values.items() if key not in hidden and v)
        if rest:
            hidden.add(rest[0][2])
    return hidden


def suppress(
    df: pd.DataFrame,
    k: int | None = None,
    always_show_levels: Iterable[str] = ("county",),
    config: RulesConfig = DEFAULT_RULES,
) -> pd.DataFrame:
    """Apply the small-number rule to indicator rows.

    Do not apply it to a care team's own patient list (RULES.md exempts that view); apply
    it to every map, table and export above it.

    Parameters
    ----------
    df : DataFrame
        Rows with at least level, numerator, denominator, value; ``numerator_people`` and
        ``denominator_people`` (as produced by :func:`geo.indicators.compute_indicators`)
        are used when present.
    k : int, optional
        Threshold; default ``config.indicators.suppression_k`` (10).
    always_show_levels : iterable of str
        Levels never suppressed (the county total).
    config : RulesConfig

    Returns
    -------
    DataFrame
        A copy with ``suppressed`` (bool) and ``suppression_reason`` (None,
        ``"denominator_below_k"`` or ``"count_below_k"``); on suppressed rows ``value``,
        ``numerator`` and ``numerator_people`` are NaN, and for ``denominator_below_k`` also
        ``denominator`` and ``denominator_people``.
    """
    k = config.indicators.suppression_k if k is None else k
    out = df.copy()
    den = pd.to_numeric(out["denominator"], errors="coerce").to_numpy(dtype=float)
    if "denominator_people" in out.columns:
        dp = pd.to_numeric(out["denominator_people"], errors="coerce").to_numpy(dtype=float)
        den = np.where(np.isnan(dp), den, dp)
    if "numerator_people" in out.columns:
        num = pd.to_numeric(out["numerator_people"], errors="coerce").to_numpy(dtype=float)
    else:
        num = pd.to_numeric(out["numerator"], errors="coerce").to_numpy(dtype=float)
    shown_always = out["level"].isin(list(always_show_levels)).to_numpy(dtype=bool)
    reason = suppression_reasons(num, den, k)
    reason[shown_always] = None
    den_small = reason == DENOMINATOR_BELOW_K
    count_small = reason == COUNT_BELOW_K
    out["suppressed"] = den_small | count_small
    # Built from an object array so that "not suppressed" stays None, not NaN.
    out["suppression_reason"] = pd.Series(reason, index=out.index, dtype=object)
    hide = out["suppressed"].to_numpy(dtype=bool)
    for c in ("value", "numerator", "numerator_people"):
        if c in out.columns:
            out[c] = out[c].astype(float).mask(hide)
    for c in ("denominator", "denominator_people"):
        if c in out.columns:
            out[c] = out[c].astype(float).mask(den_small)
    return out
