"""CDC EARS C1, C2 and C3 statistics on daily ILI counts, per town and for the county.

RULES.md "Infectious-disease early warning"; ``docs/surveillance.md`` describes the method.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from geo.rules import DEFAULT_RULES, SurveillanceConfig
from geo.surveillance_common import (
    ALERT_COLUMNS,
    _date,
    _day,
    _day_numbers,
)


# --------------------------------------------------------------------------------------
# EARS C1 / C2 / C3
# --------------------------------------------------------------------------------------
def ears_statistics(counts: np.ndarray, sd_floor: float = 0.5) -> dict[str, np.ndarray]:
    """EARS C1, C2 and C3 statistics of daily count series.

    For day ``t`` with count ``x_t``:

    * C1 = (x_t − m) / max(s, floor), m and s the mean and sample standard deviation
      (ddof 1) of the 7 days t−7 … t−1;
    * C2 = the same with the baseline t−9 … t−3 (a two-day guard band);
    * C3 = Σ over t, t−1, t−2 of max(0, C2 − 1).

    A statistic is NaN where its baseline reaches before the start of the series.

    Parameters
    ----------
    counts : ndarray
        Daily counts, oldest first, along the last axis (1-D, or areas × days).
    sd_floor : float
        Floor of the baseline standard deviation (RULES.md: 0.5), which keeps a flat
        baseline (s = 0) from turning one case into an infinite statistic.

    Returns
    -------
    dict of ndarray
        ``c1``, ``c1_expected``, ``c2``, ``c2_expected``, ``c3`` (``c3_expected`` is the C2
        baseline mean of the same day), each with the shape of ``counts``.
    """
    x = np.asarray(counts, dtype=np.float64)
    n = x.shape[-1]
    out = {
        k: np.full(x.shape, np.nan)
        for k in ("c1", "c1_expected", "c2", "c2_expected", "c3", "c3_expected")
    }
    for name, lag in (("c1", 1), ("c2", 3)):
        # Baseline of day t: the 7 days t−lag−6 … t−lag.
        first = lag + 6
        if n <= first:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(x, 7, axis=-1)
        base = windows[..., : n - first, :]  # window k covers days k … k+6 -> day t = k + first
        mean = base.mean(axis=-1)
        sd = np.maximum(base.std(axis=-1, ddof=1), sd_floor)
        with np.errstate(divide="ignore", invalid="ignore"):  # only with a floor of 0
            out[name][..., first:] = (x[..., first:] - mean) / sd
        out[f"{name}_expected"][..., first:] = mean
    c2 = out["c2"]
    if n >= 3:
        part = np.maximum(0.0, c2 - 1.0)
        out["c3"][..., 2:] = part[..., 2:] + part[..., 1:-1] + part[..., :-2]
    out["c3_expected"] = out["c2_expected"].copy()
    return out


def daily_ili_counts(
    cases: pd.DataFrame, as_of: dt.date, days: int, area_column: str | None
) -> pd.DataFrame:
    """Daily counts of cases by onset date for the ``days`` days ending ``as_of``.

    Parameters
    ----------
    cases : DataFrame
        ILI case reports with ``onset_date`` (and ``area_column`` when given).
    as_of : date
    days : int
    area_column : str or None
        Column naming the area; None counts all cases as one series.

    Returns
    -------
    DataFrame
        One row per area (index), one column per day (oldest first), zeros filled.
    """
    d_day = _day(as_of)
    onset, ok = _day_numbers(cases["onset_date"])
    keep = ok & (onset > d_day - days) & (onset <= d_day)
    offset = onset[keep] - (d_day - days + 1)
    if area_column is None:
        area = np.full(int(keep.sum()), "county", dtype=object)
    else:
        area = cases[area_column].astype(object).to_numpy()[keep]
        has = pd.notna(area)
        area, offset = area[has], offset[has]
    if not len(area):
        return pd.DataFrame(np.zeros((0, days), dtype=np.int64))
    names, inv = np.unique(area.astype(str), return_inverse=True)
    grid = np.zeros((len(names), days), dtype=np.int64)
    np.add.at(grid, (inv, offset), 1)
    return pd.DataFrame(grid, index=pd.Index(names, name="area_id"))


def ears_alerts(
    cases: pd.DataFrame,
    as_of: dt.date,
    *,
    county_id: str = "county",
    town_column: str = "town_code",
    config: SurveillanceConfig = DEFAULT_RULES.surveillance,
) -> pd.DataFrame:
    """EARS C1/C2/C3 alerts per town and for the county on the days ending D.

    Each of the ``config.ears_report_days`` days ending ``as_of`` is tested; C1 and C2
    alert when the statistic exceeds their thresholds (default 3), C3 when it exceeds 2.

    Parameters
    ----------
    cases : DataFrame
        ILI case reports (already filtered with :func:`ili_mask`) with ``onset_date`` and
        ``town_column`` (town area code; a case without a town counts for the county only).
    as_of : date
        D.
    county_id : str
        The county's area code (the ``area_id`` of county alerts).
    town_column : str
    config : SurveillanceConfig

    Returns
    -------
    DataFrame
        One row per alert with :data:`ALERT_COLUMNS` (``kind`` = ``ears``, ``method``
        C1/C2/C3, ``observed`` the day's count, ``expected`` the baseline mean, ``statistic``
        and ``threshold``), ordered by day, area level, area and method.
    """
    report = config.ears_report_days
    # C3 of the earliest reported day needs C2 two days earlier, whose baseline starts
    # 9 days before that: 11 days of history ahead of the reported ones.
    days = report + 11
    first_day = _day(as_of) - days + 1
    parts = []
    levels = [("county", daily_ili_counts(cases, as_of, days, None))]
    if town_column in cases.columns:
        levels.append(("town", daily_ili_counts(cases, as_of, days, town_column)))
    thresholds = {"C1": config.c1_threshold, "C2": config.c2_threshold, "C3": config.c3_threshold}
    for level, counts in levels:
        if counts.empty:
            continue
        stats = ears_statistics(counts.to_numpy(), config.sd_floor)
        area_ids = [county_id] if level == "county" else [str(a) for a in counts.index]
        for method, threshold in thresholds.items():
            stat = stats[method.lower()][:, -report:]
            expected = stats[f"{method.lower()}_expected"][:, -report:]
            hit_area, hit_day = np.nonzero(np.nan_to_num(stat, nan=-np.inf) > threshold)
            day_idx = hit_day + days - report
            parts.append(
                pd.DataFrame(
                    {
                        "kind": "ears",
                        "method": method,
                        "area_level": level,
                        "area_id": np.asarray(area_ids, dtype=object)[hit_area],
                        "day": [_date(first_day + int(i)) for i in day_idx],
                        "start_day": [_date(first_day + int(i)) for i in day_idx],
                        "observed": counts.to_numpy()[hit_area, day_idx].astype(np.float64),
                        "expected": expected[hit_area, hit_day],
                        "statistic": stat[hit_area, hit_day],
                        "threshold": threshold,
                    }
                )
            )
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    out = out.reindex(columns=ALERT_COLUMNS)
    if out.empty:
        return out
    out["area_level"] = pd.Categorical(out["area_level"], ["county", "town"])
    out = out.sort_values(["day", "area_level", "area_id", "method"], kind="stable")
    out["area_level"] = out["area_level"].astype(str)
    return out.reset_index(drop=True)
