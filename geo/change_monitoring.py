"""Change monitoring for chronic-disease centres: which grid indicators moved since last month.

RULES.md, "Change monitoring":

    For each grid (and town) and each rate indicator, the change from the previous
    month-end to D is flagged when a two-sided pooled two-proportion z-test gives a p-value
    that passes Benjamini–Hochberg at false discovery rate 0.05 over all grids × indicators
    of the township, and both denominators are at least the suppression k.

Step by step, for one family of rows (one township's grids × indicators; or one town's
own indicators):

1. a pair (unit, indicator) is *tested* when both denominators are at least ``k`` and both
   numerators are known and within ``0 … denominator``. A numerator withheld by the
   small-number rule (``count_below_k``: the store keeps it as NaN) cannot be tested from
   published figures and is left out of the family, like a small denominator;
2. pooled two-proportion z-test: ``p̂ = (x₀ + x₁) / (n₀ + n₁)``,
   ``z = (x₁/n₁ − x₀/n₀) / sqrt(p̂ (1 − p̂) (1/n₀ + 1/n₁))``, two-sided
   ``p = 2 · (1 − Φ(|z|))`` (``scipy.stats.norm.sf``). When ``p̂`` is 0 or 1 (both
   months 0 %, or both 100 %) the rates are equal and the test has no variance: ``z = 0``,
   ``p = 1``;
3. Benjamini–Hochberg q-values over the tested pairs of the family
   (:func:`geo.hotspots.bh_qvalues`, i.e. ``scipy.stats.false_discovery_control``); a pair
   passes when ``q <= fdr`` (BH rejects ``p₍ᵢ₎ <= i·α/m``, which is ``q₍ᵢ₎ <= α``);
4. flag ``up`` (the rate rose) or ``down`` for a passing pair, else ``none``.

"Rate indicators" are the indicators of :mod:`geo.indicator_defs` that are shares of
counted things (:data:`MONITORED_INDICATORS`): not the per-1000 resource ratios, and not
``primary_fund_share``, whose numerator and denominator are yuan — a binomial test on money
would treat every yuan as a trial.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import norm

from geo.hotspots import bh_qvalues
from geo.indicator_defs import INDICATORS
from geo.vocabulary import CHANGE_FLAG_TERMS, codes

#: Flag codes, with their labels in :data:`geo.vocabulary.CHANGE_FLAG_TERMS`.
UP, DOWN, NONE = codes(CHANGE_FLAG_TERMS)

#: Shares whose numerator and denominator count residents, visits or claims (see above).
MONITORED_INDICATORS: tuple[str, ...] = tuple(
    d.name for d in INDICATORS if d.unit == "fraction" and d.name != "primary_fund_share"
)

#: Columns of :func:`monitor_changes`' result, in order.
OUTPUT_COLUMNS = (
    "unit_id",
    "indicator",
    "prev_numerator",
    "prev_denominator",
    "prev_rate",
    "numerator",
    "denominator",
    "rate",
    "difference",
    "z",
    "p",
    "q",
    "tested",
    "flag",
)


def pooled_z_test(
    x0: npt.ArrayLike, n0: npt.ArrayLike, x1: npt.ArrayLike, n1: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Two-sided pooled two-proportion z-test of ``x1/n1`` against ``x0/n0``.

    Parameters
    ----------
    x0, n0 : array_like of float
        Numerators and denominators of the earlier period.
    x1, n1 : array_like of float
        Numerators and denominators of the later period.

    Returns
    -------
    z, p : numpy.ndarray of float64
        ``z`` positive when the later rate is higher; ``p = 2 * norm.sf(|z|)``. ``z = 0``,
        ``p = 1`` where the pooled proportion is 0 or 1 (equal rates, no variance); NaN
        where a denominator is not positive or a value is missing.
    """
    a0, b0 = np.asarray(x0, dtype="float64"), np.asarray(n0, dtype="float64")
    a1, b1 = np.asarray(x1, dtype="float64"), np.asarray(n1, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        valid = (b0 > 0) & (b1 > 0) & np.isfinite(a0) & np.isfinite(a1)
        pooled = (a0 + a1) / (b0 + b1)
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / b0 + 1.0 / b1))
        diff = a1 / b1 - a0 / b0
        z = np.where(se > 0, diff / se, 0.0)
    z = np.where(valid, z, np.nan)
    p = np.where(valid, 2.0 * norm.sf(np.abs(z)), np.nan)
    return z.astype("float64"), p.astype("float64")


def monitor_changes(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    *,
    k: int,
    fdr: float = 0.05,
    indicators: Sequence[str] = MONITORED_INDICATORS,
) -> pd.DataFrame:
    """Flag the significant changes of one family of units × indicators (RULES.md).

    Parameters
    ----------
    previous, current : DataFrame
        Indicator rows of the previous month-end and of D: ``unit_id``, ``indicator``,
        ``numerator``, ``denominator`` (NaN where withheld). Pass exactly the family the
        false discovery rate is controlled over: one township's grids (or one town).
    k : int
        The suppression threshold: both denominators must be at least ``k``.
    fdr : float
        Benjamini–Hochberg false discovery rate.
    indicators : sequence of str
        Indicators to monitor (rows of other indicators are ignored).

    Returns
    -------
    DataFrame
        One row per (unit_id, indicator) of ``current`` (a unit missing last month has NaN
        previous values and is not tested), columns :data:`OUTPUT_COLUMNS`, ordered by
        unit then indicator in ``indicators`` order. Rates are ``numerator /
        denominator`` (fractions); ``difference`` is the current rate minus the previous.
    """
    keys = ["unit_id", "indicator"]
    wanted = list(indicators)

    def part(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame.loc[frame["indicator"].isin(wanted), [*keys, "numerator", "denominator"]]
        rows = rows.assign(unit_id=rows["unit_id"].astype(str))
        rows["numerator"] = pd.to_numeric(rows["numerator"], errors="coerce").astype("float64")
        rows["denominator"] = pd.to_numeric(rows["denominator"], errors="coerce").astype("float64")
        return rows.drop_duplicates(keys, keep="last")

    prev = part(previous).rename(
        columns={"numerator": "prev_numerator", "denominator": "prev_denominator"}
    )
    out = part(current).merge(prev, on=keys, how="left")
    x0, n0 = out["prev_numerator"].to_numpy(), out["prev_denominator"].to_numpy()
    x1, n1 = out["numerator"].to_numpy(), out["denominator"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["prev_rate"] = np.where(n0 > 0, x0 / n0, np.nan)
        out["rate"] = np.where(n1 > 0, x1 / n1, np.nan)
    out["difference"] = out["rate"] - out["prev_rate"]
    with np.errstate(invalid="ignore"):
        tested = (
            (n0 >= k)
            & (n1 >= k)
            & np.isfinite(x0)
            & np.isfinite(x1)
            & (x0 >= 0)
            & (x1 >= 0)
            & (x0 <= n0)
            & (x1 <= n1)
        )
    z, p = pooled_z_test(x0, n0, x1, n1)
    out["z"] = np.where(tested, z, np.nan)
    out["p"] = np.where(tested, p, np.nan)
    out["q"] = bh_qvalues(out["p"].to_numpy())
    out["tested"] = tested
    passes = tested & (out["q"].to_numpy() <= fdr)
    diff = out["difference"].to_numpy()
    out["flag"] = np.where(passes & (diff > 0), UP, np.where(passes & (diff < 0), DOWN, NONE))
    rank = {name: i for i, name in enumerate(wanted)}
    out = out.assign(_r=out["indicator"].map(rank)).sort_values(["unit_id", "_r"], kind="stable")
    return out[list(OUTPUT_COLUMNS)].reset_index(drop=True)
