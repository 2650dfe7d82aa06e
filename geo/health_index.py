"""Grid health index (网格健康指数), monthly, 0–100.

RULES.md: the mean of seven indicators, each scaled to 0–100 -- htn_standard_rate,
htn_control_rate, t2dm_standard_rate, t2dm_control_rate, 1 − followup_overdue_rate,
key_pop_signing_rate, elderly_flu_vax_rate -- with configurable weights (default equal,
``RulesConfig.indicators.health_index_weights``).

Missing components. A component is missing for a unit when its value is NaN: denominator 0
(no managed diabetics in the grid), suppressed by the small-number rule, or not computed
(``followup_overdue_rate`` without open tasks). The index is then the weighted mean over
the components that are present -- the weights re-normalised to sum to 1 over them -- and
the row says which were used. So that grids are not ranked on one or two numbers, the index
is NaN when the present components carry less than ``min_weight_share`` (default one half)
of the total weight: with equal weights at least 4 of the 7.

Give it the *suppressed* indicator frame for every published view: were the index computed
from a suppressed component, the component could be recovered from the index and the
others. Give it the raw frame only for a care team's own view.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from geo.rules import DEFAULT_RULES, RulesConfig

#: Prefix of a component that enters as its complement (``1-followup_overdue_rate``).
COMPLEMENT = "1-"


def grid_health_index(
    indicators: pd.DataFrame,
    *,
    level: str = "grid",
    weights: Mapping[str, float] | None = None,
    min_weight_share: float = 0.5,
    config: RulesConfig = DEFAULT_RULES,
) -> pd.DataFrame:
    """Health index per unit of ``level`` from long indicator rows.

    index = Σ w_c · 100 · x_c / Σ w_c over the components c present for the unit, where
    x_c is the indicator value, or 1 − value for a ``1-`` component.

    Parameters
    ----------
    indicators : DataFrame
        Rows of :func:`geo.indicators.compute_indicators` (or of
        :func:`geo.suppression.suppress`): level, unit_id, indicator, value, and optionally
        as_of (one index per as_of) and suppressed (suppressed rows count as missing).
    level : str
        Level to score, ``"grid"`` by default (any level works).
    weights : mapping, optional
        Component -> weight (>= 0); default ``config.indicators.health_index_weights``.
        Components are indicator names, or ``"1-"`` + an indicator name.
    min_weight_share : float
        Minimum share of the total weight the present components must carry; below it the
        index is NaN.
    config : RulesConfig

    Returns
    -------
    DataFrame
        One row per unit (and as_of): level, unit_id, [as_of], health_index (0–100 or NaN),
        n_components (present components with weight > 0), components_used (their names
        joined with ``;`` in weight order), weight_share (their share of the total weight),
        and one 0–100 column per component (NaN when missing).

    Raises
    ------
    ValueError
        On a negative weight or weights summing to 0.
    """
    w = dict(config.indicators.health_index_weights if weights is None else weights)
    if any(v < 0 for v in w.values()):
        raise ValueError("health index weights must be >= 0")
    total_w = float(sum(w.values()))
    if total_w <= 0:
        raise ValueError("health index weights must not all be 0")
    comps = list(w)
    keys = ["level", "unit_id"] + (["as_of"] if "as_of" in indicators.columns else [])
    rows = indicators[indicators["level"] == level]
    value = pd.to_numeric(rows["value"], errors="coerce")
    if "suppressed" in rows.columns:
        value = value.mask(rows["suppressed"].fillna(False).astype(bool))
    # One value per (unit, indicator); every unit of the level keeps its row even when all
    # its components are NaN (it then gets a NaN index).
    long = rows.assign(value=value).drop_duplicates([*keys, "indicator"])
    wide = long.set_index([*keys, "indicator"])["value"].unstack("indicator")
    if wide.empty:
        wide = pd.DataFrame(index=pd.MultiIndex.from_tuples([], names=keys))
    scores = pd.DataFrame(index=wide.index)
    for c in comps:
        base = c[len(COMPLEMENT) :] if c.startswith(COMPLEMENT) else c
        x = wide[base] if base in wide.columns else pd.Series(np.nan, index=wide.index)
        x = x.astype(float)
        scores[c] = 100.0 * ((1.0 - x) if c.startswith(COMPLEMENT) else x)
    vals = scores[comps].to_numpy(dtype=float)
    wv = np.array([w[c] for c in comps], dtype=float)
    present = ~np.isnan(vals) & (wv > 0)
    w_present = (present * wv).sum(axis=1)
    weighted = np.where(present, np.nan_to_num(vals) * wv, 0.0).sum(axis=1)
    share = w_present / total_w
    with np.errstate(divide="ignore", invalid="ignore"):
        index = np.where(
            (w_present > 0) & (share >= min_weight_share - 1e-12),
            weighted / np.where(w_present > 0, w_present, 1.0),
            np.nan,
        )
    names = np.array(comps, dtype=object)
    out = scores.reset_index()
    out["health_index"] = index
    out["n_components"] = present.sum(axis=1)
    out["components_used"] = [";".join(names[p]) for p in present]
    out["weight_share"] = share
    return out[[*keys, "health_index", "n_components", "components_used", "weight_share", *comps]]
