"""What the early-warning computations share: ILI case definition, alert columns, day numbers.

See :mod:`geo.surveillance` for the four computations built on these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import h3
import numpy as np
import pandas as pd

#: Case-report diseases that count as influenza-like illness.
ILI_DISEASES = ("ili", "influenza")
#: ICD-10 categories delivered instead of a disease name (DATA_CONTRACT.md).
ILI_ICD10 = ("J09", "J10", "J11")

_EPOCH = np.datetime64("1970-01-01", "D")

ALERT_COLUMNS = [
    "kind",
    "method",
    "area_level",
    "area_id",
    "day",
    "start_day",
    "observed",
    "expected",
    "statistic",
    "threshold",
    "relative_risk",
    "llr",
    "p_value",
    "n_cells",
    "radius_km",
    "cells",
]


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def _day_numbers(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Days since 1970-01-01 of a date column, and whether each is known."""
    d = pd.to_datetime(s, errors="coerce")
    ok = d.notna().to_numpy()
    days = np.zeros(len(s), dtype=np.int64)
    days[ok] = (d[ok].to_numpy().astype("datetime64[D]") - _EPOCH).astype(np.int64)
    return days, ok


def _day(d: dt.date) -> int:
    return int((np.datetime64(d, "D") - _EPOCH).astype(np.int64))


def _date(day: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(day))


def ili_mask(disease: pd.Series) -> np.ndarray:
    """Whether case reports are influenza-like illness (``ili``, ``influenza``, J09–J11).

    Parameters
    ----------
    disease : Series of str
        The report's ``disease``.

    Returns
    -------
    ndarray of bool
    """
    s = disease.astype("string").str.strip()
    named = s.str.lower().isin(ILI_DISEASES)
    coded = s.str.upper().str[:3].isin(ILI_ICD10)
    return (named | coded).fillna(False).to_numpy(dtype=bool)


def _km_xy(cells: Iterable[str]) -> np.ndarray:
    """Cell centres on a local plane in km (equirectangular; fine across a county)."""
    ll = np.asarray([h3.cell_to_latlng(c) for c in cells], dtype=np.float64).reshape(-1, 2)
    if not len(ll):
        return ll
    lat0 = np.deg2rad(ll[:, 0].mean())
    return np.column_stack([ll[:, 1] * 111.320 * np.cos(lat0), ll[:, 0] * 110.574])
