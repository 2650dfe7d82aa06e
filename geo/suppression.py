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

Not done (and not asked by RULES.md): complementary suppression. A town's total minus its
shown villages can reveal a suppressed village, and ``denominator − numerator`` below ``k``
(e.g. 98 of 100 signed) is shown.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from geo.rules import DEFAULT_RULES, RulesConfig

#: Reasons written to ``suppression_reason``.
DENOMINATOR_BELOW_K = "denominator_below_k"
COUNT_BELOW_K = "count_below_k"


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
    # NaN denominators (unknown) are treated as 0: nothing to show a rate over.
    den_small = ~shown_always & ~(np.nan_to_num(den, nan=0.0) >= k)
    count_small = ~shown_always & ~den_small & (num > 0) & (num < k)
    reason = np.full(len(out), None, dtype=object)
    reason[den_small] = DENOMINATOR_BELOW_K
    reason[count_small] = COUNT_BELOW_K
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
