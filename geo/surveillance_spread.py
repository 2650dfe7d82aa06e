"""Spread risk per cell: the recent case rate and the mobility inflow from the scan's alert cells.

``docs/surveillance.md`` describes the score.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import h3
import numpy as np
import pandas as pd

from geo.rules import DEFAULT_RULES, SurveillanceConfig
from geo.surveillance_common import (
    _day,
    _day_numbers,
    _km_xy,
)


# --------------------------------------------------------------------------------------
# Risk of spread
# --------------------------------------------------------------------------------------
def _mobility_window(
    mobility: pd.DataFrame, as_of: dt.date, days: int, timezone: str
) -> pd.DataFrame:
    """Mobility rows of the ``days`` local days ending D (or the last delivered day ≤ D)."""
    hour = pd.to_datetime(mobility["hour"], errors="coerce", utc=True)
    local = hour.dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()
    end = pd.Timestamp(as_of)
    known = local[local <= end]
    if known.empty:
        return mobility.iloc[0:0].assign(_hour=pd.Series(dtype="datetime64[ns, UTC]"))
    end = min(end, known.max())
    keep = (local <= end) & (local > end - pd.Timedelta(days=days))
    return mobility[keep.to_numpy()].assign(_hour=hour[keep.to_numpy()])


def mobility_inflow_share(
    cells: Iterable[str],
    alert_cells: Iterable[str],
    mobility: pd.DataFrame | None,
    as_of: dt.date,
    config: SurveillanceConfig = DEFAULT_RULES.surveillance,
    timezone: str = DEFAULT_RULES.timezone,
) -> tuple[pd.Series, str]:
    """Share of the people present in each cell who come from alert cells (0–1).

    Mobility rows of the ``risk_mobility_days`` days ending D (ending on the last delivered
    day when the delivery stops earlier) are used, at their most common resolution ``r``
    (rows finer than the scan's resolution are summed into their parents first).

    * Origin–destination rows present: share = (mean hourly people arriving in the cell's
      mobility cell from a mobility cell that contains an alert cell, other than itself) /
      (mean hourly heat of the cell's mobility cell), capped at 1; 1 when people arrive from
      alert cells and no heat was delivered for the cell.
    * Heat only: a gravity proxy. Each scan cell gets its mobility cell's heat split evenly
      over its children (h_c); exposure_c = Σ over alert cells a of h_a · exp(−d(a, c) / λ),
      λ = ``risk_heat_decay_km``; share = exposure_c / (exposure_c + h_c).

    Parameters
    ----------
    cells : iterable of str
        Cells at the scan's resolution to score.
    alert_cells : iterable of str
        Cells of the scan's alert clusters.
    mobility : DataFrame or None
        ``h3``, ``hour``, ``count`` and optionally ``origin_h3`` (empty on heat rows).
    as_of : date
    config : SurveillanceConfig
    timezone : str
        Local time zone of the hours' dates.

    Returns
    -------
    (Series, str)
        The share by cell, and the source used: ``od``, ``heat`` or ``none``.
    """
    cells = [str(c) for c in cells]
    zero = pd.Series(0.0, index=pd.Index(cells, dtype=object), name="mobility_share")
    alerts = sorted({str(a) for a in alert_cells})
    if mobility is None or mobility.empty or not alerts or not cells:
        return zero, "none"
    win = _mobility_window(mobility, as_of, config.risk_mobility_days, timezone)
    if win.empty:
        return zero, "none"
    res = config.scan_h3_resolution
    dest = win["h3"].astype(str).to_numpy()
    origin_raw = win["origin_h3"] if "origin_h3" in win.columns else pd.Series("", index=win.index)
    origin = origin_raw.astype("string").fillna("").to_numpy(dtype=object)
    dres = np.asarray([h3.get_resolution(c) if h3.is_valid_cell(c) else -1 for c in dest])
    if not (dres >= 0).any():
        return zero, "none"
    r = int(pd.Series(dres[dres >= 0]).mode().min())
    take = dres == r
    dest, origin = dest[take], origin[take]
    count = pd.to_numeric(win["count"], errors="coerce").fillna(0.0).to_numpy()[take]
    hours = max(int(win["_hour"][take].nunique()), 1)
    if r > res:
        dest = np.asarray([h3.cell_to_parent(c, res) for c in dest], dtype=object)
        origin = np.asarray([h3.cell_to_parent(o, res) if o else "" for o in origin], dtype=object)
        r = res
    # Mobility cell of each scored cell and of each alert cell; people are spread evenly
    # over the children of a coarser mobility cell.
    children = 7 ** (res - r)
    own = [h3.cell_to_parent(c, r) if r < res else c for c in cells]
    alert_r = {h3.cell_to_parent(a, r) if r < res else a for a in alerts}
    is_od = origin != ""
    heat = pd.Series(count[~is_od]).groupby(dest[~is_od]).sum() / hours
    heat_own = heat.reindex(own).fillna(0.0).to_numpy()
    if is_od.any():
        from_alert = is_od & np.isin(origin, list(alert_r)) & (origin != dest)
        inflow = pd.Series(count[from_alert]).groupby(dest[from_alert]).sum() / hours
        inflow_own = inflow.reindex(own).fillna(0.0).to_numpy()
        share = np.where(
            heat_own > 0,
            np.minimum(1.0, inflow_own / np.where(heat_own > 0, heat_own, 1.0)),
            (inflow_own > 0).astype(float),
        )
        return pd.Series(share, index=zero.index, name="mobility_share"), "od"
    alert_own = [h3.cell_to_parent(a, r) if r < res else a for a in alerts]
    h_alert = heat.reindex(alert_own).fillna(0.0).to_numpy() / children
    h_cell = heat_own / children
    xy = _km_xy([*cells, *alerts])
    d = np.hypot(*(xy[: len(cells), None, :] - xy[None, len(cells) :, :]).transpose(2, 0, 1))
    exposure = (h_alert[None, :] * np.exp(-d / config.risk_heat_decay_km)).sum(axis=1)
    denom = exposure + h_cell
    share = np.where(denom > 0, exposure / np.where(denom > 0, denom, 1.0), 0.0)
    return pd.Series(share, index=zero.index, name="mobility_share"), "heat"


def spread_risk(
    as_of: dt.date,
    case_cells: Iterable[str],
    case_onsets: Iterable[dt.date] | pd.Series,
    residents_per_cell: pd.Series,
    alert_cells: Iterable[str],
    mobility: pd.DataFrame | None = None,
    config: SurveillanceConfig = DEFAULT_RULES.surveillance,
    timezone: str = DEFAULT_RULES.timezone,
) -> pd.DataFrame:
    """Risk of spread per cell: recent case rate and inflow from alert cells.

    score = (w_r · s_rate + w_m · s_mobility) / (w_r + w_m), with

    * s_rate = min(1, rate / ``risk_rate_reference_per_1000``), rate = ILI onsets in the
      ``risk_recent_days`` days ending D per 1,000 residents of the cell; 0 when the cell
      has fewer than ``risk_min_cases`` such cases or no residents;
    * s_mobility = :func:`mobility_inflow_share` (1 for an alert cell itself).

    A cell is at risk when it is an alert cell or its score is at least ``risk_threshold``.

    Parameters
    ----------
    as_of : date
    case_cells, case_onsets : iterables
        Cell (scan resolution) and onset date of each ILI case.
    residents_per_cell : Series
        Active residents by cell (index: cell).
    alert_cells : iterable of str
        Cells of the scan's alert clusters.
    mobility : DataFrame, optional
    config : SurveillanceConfig
    timezone : str

    Returns
    -------
    DataFrame
        Per cell with residents, a recent case or an alert (``h3``): ``residents``,
        ``recent_cases``, ``rate_per_1000``, ``rate_score``, ``mobility_share``,
        ``mobility_source``, ``alert_cell``, ``score``, ``at_risk``; highest score first.
    """
    d_day = _day(as_of)
    onset, ok = _day_numbers(pd.Series(list(case_onsets)))
    cc = np.asarray(list(case_cells), dtype=object)
    recent = ok & (onset <= d_day) & (onset > d_day - config.risk_recent_days) & pd.notna(cc)
    recent_cases = pd.Series(1, index=cc[recent].astype(str)).groupby(level=0).sum()
    alerts = sorted({str(a) for a in alert_cells})
    pop = residents_per_cell[residents_per_cell > 0]
    pop.index = pop.index.astype(str)
    cells = sorted(set(pop.index) | set(recent_cases.index) | set(alerts))
    out = pd.DataFrame(index=pd.Index(cells, dtype=object, name="h3"))
    out["residents"] = pop.reindex(out.index).fillna(0).astype(np.int64)
    out["recent_cases"] = recent_cases.reindex(out.index).fillna(0).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(
            out["residents"] > 0, 1000.0 * out["recent_cases"] / out["residents"], np.nan
        )
    out["rate_per_1000"] = rate
    counts = (out["recent_cases"] >= config.risk_min_cases) & (out["residents"] > 0)
    out["rate_score"] = np.where(
        counts, np.minimum(1.0, np.nan_to_num(rate) / config.risk_rate_reference_per_1000), 0.0
    )
    share, source = mobility_inflow_share(cells, alerts, mobility, as_of, config, timezone)
    out["alert_cell"] = out.index.isin(alerts)
    out["mobility_share"] = np.where(out["alert_cell"], 1.0, share.to_numpy())
    out["mobility_source"] = source
    weights = config.risk_rate_weight + config.risk_mobility_weight
    out["score"] = (
        config.risk_rate_weight * out["rate_score"]
        + config.risk_mobility_weight * out["mobility_share"]
    ) / (weights if weights > 0 else 1.0)
    out["at_risk"] = out["alert_cell"] | (out["score"] >= config.risk_threshold)
    out = out.reset_index()
    return out.sort_values(["score", "h3"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )
