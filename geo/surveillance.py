"""Infectious-disease early warning (RULES.md "Infectious-disease early warning").

Four computations on influenza-like illness (``ili`` + ``influenza`` case reports, also
delivered as ICD-10 J09–J11), all as of a day ``D``:

* :func:`ears_statistics` / :func:`ears_alerts` — the CDC EARS C1, C2 and C3 statistics on
  daily counts by onset date, per town and for the county;
* :func:`space_time_scan` — Kulldorff's prospective space-time permutation scan over H3
  cells (Kulldorff et al. 2005, PLoS Med 2:e59), hand-written because no maintained Python
  library implements it;
* :func:`spread_risk` — a per-cell score from the recent case rate and the mobility inflow
  from the scan's alert cells;
* :func:`vaccination_targets` — unvaccinated elderly (and managed chronic patients) living
  in cells at risk, per team and household.

``docs/surveillance.md`` describes every method as implemented and the choices made where
RULES.md leaves room. Nothing here reads files, the store or the environment.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable

import h3
import numpy as np
import pandas as pd
from scipy import sparse

from geo.rules import DEFAULT_RULES, RulesConfig, SurveillanceConfig, age_on, flu_season_start

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


# --------------------------------------------------------------------------------------
# Space-time permutation scan
# --------------------------------------------------------------------------------------
def permutation_llr(c: np.ndarray, mu: np.ndarray, total: float) -> np.ndarray:
    """Kulldorff's log-likelihood ratio of cylinders with ``c`` observed and ``mu`` expected.

    LLR = c ln(c/μ) + (C − c) ln((C − c)/(C − μ)) when c > μ, else 0 (only excess is
    scanned for). ``C`` is the total number of cases of the study period.

    Parameters
    ----------
    c, mu : ndarray
        Observed and expected cases of each cylinder.
    total : float
        C.

    Returns
    -------
    ndarray
    """
    c = np.asarray(c, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    high = (c > mu) & (mu > 0)
    safe_c = np.where(high, c, 1.0)
    safe_mu = np.where(high, mu, 1.0)
    rest = total - safe_c
    rest_mu = np.where(high, total - safe_mu, 1.0)
    # (C − c) ln((C − c)/(C − μ)) is 0 when every case is inside (the limit of x ln x).
    outside = np.where(rest > 0, rest * np.log(np.where(rest > 0, rest, 1.0) / rest_mu), 0.0)
    return np.where(high, safe_c * np.log(safe_c / safe_mu) + outside, 0.0)


class _Scan:
    """The fixed part of a scan: circles, their case totals and the temporal margins.

    Under the permutation null the day labels of the cases are shuffled, which keeps every
    cell's total and every day's total, so a cylinder's expected count μ = N_Z · N_T / C is
    the same in every replicate; only the observed counts change. Each circle is described
    by ``inside[i, j]``: the study-period cases of the smallest circle around centre ``i``
    that contains case cell ``j`` (∞ when that circle holds more than the allowed share of
    the cases). Because ``inside`` grows strictly with every further case cell, it orders
    the case cells by distance and, as the circle that just reaches cell ``j``, it is also
    the ``N_Z`` of that circle's cylinders.

    For the replicates the same circles are kept as ``order`` (centres × K: the case cells
    under the size limit by ``inside``, padded with the index of an extra, always empty,
    cell) and ``n_sorted`` (their ``inside``, ∞ in the padding), K rounded up to whole
    blocks of ``levels[0]`` circles (:meth:`max_llr`).
    """

    #: Circle positions per block of :meth:`max_llr`'s bounds: blocks of ``levels[0]``
    #: circles are split into blocks of ``levels[1]`` … down to single circles (each
    #: size a multiple of the next) while their bound beats the threshold.
    levels = (32, 8, 1)

    def __init__(
        self,
        case_cell: np.ndarray,
        case_age: np.ndarray,
        locations: np.ndarray,
        centres: np.ndarray,
        config: SurveillanceConfig,
    ) -> None:
        self.max_days = config.scan_max_days
        self.case_cell = case_cell  # index into self.cells (cells holding cases)
        self.case_age = case_age  # days before D (0 = D)
        self.total = float(len(case_cell))
        self.locations = locations
        self.centres = centres
        cells_with_cases, self.case_cell = np.unique(case_cell, return_inverse=True)
        self.cells = cells_with_cases  # indices into locations
        n_cell = np.bincount(self.case_cell, minlength=len(self.cells)).astype(np.float64)
        xy = _km_xy(locations)
        self.xy = xy
        cap = config.scan_max_population_share * self.total
        inside = np.full((len(centres), len(self.cells)), np.inf)
        radius = np.zeros((len(centres), len(self.cells)))
        cxy = xy[self.cells]
        for i, centre in enumerate(centres):
            # Distances rounded to 1 mm: cells at the same distance enter a circle together.
            d = np.round(np.hypot(*(cxy - xy[centre]).T), 6)
            order = np.lexsort((self.cells, d))
            ds, cum = d[order], np.cumsum(n_cell[order])
            # The circle that reaches a cell holds every cell as close as it (ties).
            last_of_tie = np.searchsorted(ds, ds, side="right") - 1
            n_in = cum[last_of_tie]
            ok = n_in <= cap
            inside[i, order[ok]] = n_in[ok]
            radius[i, order] = ds
        self.inside = inside
        self.radius = radius
        ages = case_age[case_age < self.max_days]
        # N_T of the cylinders lasting 1 … max_days days (ending on D).
        self.n_days = np.cumsum(np.bincount(ages, minlength=self.max_days)).astype(np.float64)
        # Circles for the replicates: per centre the case cells under the size limit by
        # N_Z. Within a tie both orders give the same full circle at the tie's last cell,
        # and the partial sums before it have the same μ and fewer cases (a lower LLR).
        k = max(int(np.isfinite(inside).sum(axis=1).max()), 1)
        width = -(-k // self.levels[0]) * self.levels[0]
        order = np.argsort(inside, axis=1, kind="stable")[:, :width]
        n_sorted = np.take_along_axis(inside, order, axis=1)
        if width > len(self.cells):  # fewer case cells than one block
            pad = width - len(self.cells)
            order = np.pad(order, ((0, 0), (0, pad)))
            n_sorted = np.pad(n_sorted, ((0, 0), (0, pad)), constant_values=np.inf)
        self.order = np.where(np.isfinite(n_sorted), order, len(self.cells)).astype(np.intp)
        self.n_sorted = n_sorted
        # Row (centre, block) of ``blocks`` holds the cells at that block's ``levels[0]``
        # circle positions (the padding left out): one sparse product gives every block's
        # cases of a replicate, a quarter of the time of gathering the centres × K circle
        # table and summing along it (scale 1.0: 4,352 centres × 1,792 positions).
        flat = self.order.reshape(-1)
        real = flat < len(self.cells)
        per_block = real.reshape(-1, self.levels[0]).sum(axis=1)
        self.blocks = sparse.csr_matrix(
            (
                np.ones(int(real.sum()), dtype=np.uint64),
                flat[real],
                np.concatenate([[0], np.cumsum(per_block)]),
            ),
            shape=(len(per_block), len(self.cells) + 1),
        )
        self.rate = self.n_days / self.total if self.total else self.n_days
        self._mu_start = self._mu(n_sorted[:, :: self.levels[0]])
        self._limits: dict[int, np.ndarray] = {}
        # First threshold of :meth:`max_llr` (then the previous replicate's maximum): a
        # typical maximum on null data; any value gives the same results.
        self._guess = 10.0
        # c ln c and (C − c) ln(C − c) of every possible count (0 ln 0 = 0).
        n = np.arange(int(self.total) + 1, dtype=np.float64)
        self._c_log_c = n * np.log(np.maximum(n, 1.0))
        rest = self.total - n
        self._rest_log_rest = rest * np.log(np.maximum(rest, 1.0))

    def _expected(self, n_in: np.ndarray) -> np.ndarray:
        """μ = N_Z · N_T / C per circle and length; ∞ for circles over the size limit."""
        valid = np.isfinite(n_in)[..., None]
        n = np.where(np.isfinite(n_in), n_in, 0.0)[..., None]
        return np.where(valid, n * self.n_days / self.total, np.inf)

    def _recent(self, age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Case cells with recent cases and their counts per cylinder length (cumulative)."""
        recent = age < self.max_days
        key = self.case_cell[recent] * self.max_days + age[recent]
        cells, inv = np.unique(key // self.max_days, return_inverse=True)
        counts = np.zeros((len(cells), self.max_days))
        np.add.at(counts, (inv, key % self.max_days), 1.0)
        return cells, np.cumsum(counts, axis=1)

    def _packing(self) -> tuple[int, list[np.ndarray]]:
        """Bits per day field and the days packed in each 64-bit word.

        A circle never holds more cases of a day than the county had on it (N_d), so fields
        of N_d's bit length cannot carry into each other however many cells are summed.
        """
        per_day = np.diff(self.n_days, prepend=0.0)
        bits = max(int(per_day.max()).bit_length(), 1)
        per_word = max(64 // bits, 1)
        days = np.arange(self.max_days)
        return bits, np.array_split(days, -(-self.max_days // per_word))

    #: Spacing of the LLR thresholds of :meth:`_limit`.
    step = 0.5

    def _mu(self, n_in: np.ndarray, length: np.ndarray | None = None) -> np.ndarray:
        """μ of circles ``n_in`` for every length (first axis) or for ``length`` (same shape).

        Where no cylinder can have an excess (padding, circles over the size limit, lengths
        without cases, whose c is 0) μ is 2C: finite, so the arithmetic stays free of NaN.
        """
        rate = self.rate.reshape(-1, *[1] * n_in.ndim) if length is None else self.rate[length]
        valid = np.isfinite(n_in) & (rate > 0)
        return np.where(valid, np.where(np.isfinite(n_in), n_in, 0.0) * rate, 2.0 * self.total)

    def _llr(self, c: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """LLR (0 without excess) of integer counts ``c`` against ``mu`` (same shape).

        c ln(c/μ) + (C − c) ln((C − c)/(C − μ)), with c ln c and (C − c) ln(C − c) looked up
        by count and no boolean selection (slow on large arrays).
        """
        cf = c.astype(np.float64)
        high = cf > mu
        log_rest = np.log(np.where(high, self.total - mu, 1.0))
        value = (
            self._c_log_c[c]
            - cf * np.log(np.where(high, mu, 1.0))
            + self._rest_log_rest[c]
            - (self.total - cf) * log_rest
        )
        return np.where(high, value, 0.0)

    def _limit(self, k: int) -> np.ndarray:
        """Per count c = 0 … C, a μ below which LLR(c, μ) may exceed t = k · ``step``.

        For a fixed c the LLR falls from ∞ (μ → 0) to 0 (μ = c), so LLR(c, μ) > t exactly
        when μ is below a root found by bisection; the upper end of the bracket, widened by
        1e-9, errs on the side of testing a block that could be skipped.
        """
        if k not in self._limits:
            t = k * self.step
            c = np.arange(int(self.total) + 1, dtype=np.float64)
            lo, hi = np.zeros_like(c), c.copy()
            rest = self.total - c
            for _ in range(64):
                mid = 0.5 * (lo + hi)
                # Only c = 0 keeps mid at 0 (no excess is possible there): any μ in (0, C).
                safe = np.where(mid > 0, mid, 0.5)
                # 0 ln 0 = 0 for c = 0 and for c = C (then C − μ → 0 as well).
                f = c * np.log(np.maximum(c, 1e-300) / safe) + rest * np.log(
                    np.maximum(rest, 1e-300) / np.maximum(self.total - safe, 1e-300)
                )
                above = (mid > 0) & (f > t)
                lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
            self._limits[k] = hi * (1 + 1e-9)
        return self._limits[k]

    def max_llr(self, age: np.ndarray) -> float:
        """Largest LLR over all cylinders for the day labels ``age`` (one replicate).

        The replicates dominate the run time, so they skip work that cannot change the
        maximum:

        * each cell's counts on the last ``max_days`` days are packed into one 64-bit word
          (:meth:`_packing`), so the counts of every length come from one sum of words;
        * the cases of every block of ``levels[0]`` consecutive circles of a centre come
          from one sparse product (``blocks``), their running sums along each centre give
          the counts at each block's last circle;
        * where c > μ the LLR grows with c and falls with μ, so no circle of a block beats
          LLR(c of its last circle, μ of its first): the block's bound. Given a threshold
          t, only the blocks (and lengths) whose bound exceeds t — found by comparing μ
          with :meth:`_limit`, no logarithm — are searched (:meth:`_search`), their circles'
          counts summed from their cells there. If a circle there exceeds t, the largest
          one is the maximum: every other block is bounded by t. Otherwise t is lowered
          and the search repeated, down to t = 0 (every block with an excess) if need be.
          The first t is just under the previous replicate's maximum (``_guess``), which
          keeps the search to a few thousand blocks on null data.

        The result is the maximum over every circle and length, in float64; the starting
        threshold only changes the time taken.
        """
        recent = age < self.max_days
        if self.total == 0 or not recent.any():
            return 0.0
        bits, words = self._packing()
        n_cells = len(self.cells)
        counts = np.bincount(
            self.case_cell[recent] * self.max_days + age[recent],
            minlength=n_cells * self.max_days,
        ).reshape(n_cells, self.max_days)
        # One extra empty cell: the padding of ``order``.
        counts = np.vstack([counts, np.zeros((1, self.max_days), dtype=counts.dtype)])
        counts = counts.astype(np.uint64)
        packed = []
        for days in words:
            shifts = (bits * np.arange(len(days))).astype(np.uint64)
            packed.append((counts[:, days] << shifts).sum(axis=1, dtype=np.uint64))
        # Packed counts of the circles at each block's last position (cumulative).
        ends = [
            np.cumsum((self.blocks @ w).reshape(len(self.centres), -1), axis=1, dtype=np.uint64)
            for w in packed
        ]
        best = self._max_over_blocks(packed, ends, bits, words)
        self._guess = best
        return best

    def _max_over_blocks(
        self,
        packed: list[np.ndarray],
        ends: list[np.ndarray],
        bits: int,
        words: list[np.ndarray],
    ) -> float:
        """The maximum LLR, searching blocks whose bound beats a falling threshold."""
        c_end = self._unpack(ends, bits, words)
        k = max(int(0.9 * self._guess / self.step), 0)
        best = 0.0
        while True:
            # Blocks searched at a higher t are searched again: their sub-blocks between the
            # two thresholds were skipped.
            length, row, blk = np.nonzero(self._mu_start < self._limit(k)[c_end])
            starts = blk * self.levels[0]
            best = max(best, self._search(packed, ends, length, row, starts, k, bits, words))
            if best > k * self.step or k <= 0:
                return best
            k = max(0, k - max(1, k // 4))

    def _search(
        self,
        packed: list[np.ndarray],
        ends: list[np.ndarray],
        length: np.ndarray,
        row: np.ndarray,
        start: np.ndarray,
        k: int,
        bits: int,
        words: list[np.ndarray],
        batch: int = 8192,
    ) -> float:
        """Largest LLR in blocks (length, centre row, first position) if it beats t.

        Each block is split into blocks of the next size of ``levels``; those whose own
        bound still beats t = k · ``step`` are split again, down to single circles, whose
        LLR is evaluated. Circles in blocks bounded by t are skipped, so a result ≤ t
        says only that no circle here exceeds t.
        """
        best = 0.0
        size0 = self.levels[0]
        within = np.arange(size0)
        for lo in range(0, len(row), batch):
            lv, r, top_start = length[lo : lo + batch], row[lo : lo + batch], start[lo : lo + batch]
            # Packed counts of the block's circles: the blocks before it, then a running sum
            # over its own cells.
            cells = self.order[r[:, None], top_start[:, None] + within]
            before = top_start // size0 - 1
            running = [
                np.where(before >= 0, end[r, np.maximum(before, 0)], np.uint64(0))[:, None]
                + np.cumsum(w[cells], axis=1, dtype=np.uint64)
                for w, end in zip(packed, ends, strict=True)
            ]
            top = np.arange(len(r))
            offset = np.zeros(len(r), dtype=np.intp)
            for parent, size in itertools.pairwise(self.levels):
                split = parent // size
                offset = (offset[:, None] + size * np.arange(split)).ravel()
                lv, r, top = np.repeat(lv, split), np.repeat(r, split), np.repeat(top, split)
                last = offset + size - 1
                c = self._counts([run[top, last] for run in running], lv, bits, words)
                mu = self._mu(self.n_sorted[r, top_start[top] + offset], lv)
                if size == 1:
                    if len(c):
                        best = max(best, float(self._llr(c, mu).max()))
                    break
                keep = mu < self._limit(k)[c]
                lv, r, top, offset = lv[keep], r[keep], top[keep], offset[keep]
        return best

    def _counts(
        self, values: list[np.ndarray], length: np.ndarray, bits: int, words: list[np.ndarray]
    ) -> np.ndarray:
        """Cases of cylinders of length index ``length`` from their packed words."""
        mask = np.uint64((1 << bits) - 1)
        out = np.zeros(len(length), dtype=np.uint64)
        for w, days in zip(values, words, strict=True):
            for k, day in enumerate(days):
                field = (w >> np.uint64(bits * k)) & mask
                out += np.where(length >= day, field, np.uint64(0))
        return out

    def _unpack(self, cum: list[np.ndarray], bits: int, words: list[np.ndarray]) -> np.ndarray:
        """Cases per cylinder length (``max_days`` first) from packed per-day counts."""
        mask = np.uint64((1 << bits) - 1)
        out = np.empty((self.max_days, *cum[0].shape), dtype=np.uint64)
        for word, days in zip(cum, words, strict=True):
            for k, day in enumerate(days):
                np.right_shift(word, np.uint64(bits * k), out=out[day])
                np.bitwise_and(out[day], mask, out=out[day])
                # Cylinders of length L hold the cases of days 0 … L − 1 before D (row by
                # row: numpy's cumsum along a short first axis is several times slower).
                if day:
                    np.add(out[day], out[day - 1], out=out[day])
        return out

    def candidates(self, age: np.ndarray, chunk: int = 128) -> pd.DataFrame:
        """Per centre the best cylinder of the observed data (LLR > 0), best first.

        Evaluated exactly (float64) at every circle that just reaches a cell with recent
        cases, ``chunk`` centres at a time to bound the memory (centres × cells × lengths).
        """
        cells, counts = self._recent(age)
        rows = []
        if not len(cells):
            return pd.DataFrame(columns=["centre", "n_in", "days", "observed", "expected", "llr"])
        for lo in range(0, len(self.centres), chunk):
            n_in = self.inside[lo : lo + chunk, cells]
            order = np.argsort(n_in, axis=1, kind="stable")
            n_sorted = np.take_along_axis(n_in, order, axis=1)
            # Circles over the size limit sort last and have no excess: cut them off.
            width = max(int(np.isfinite(n_sorted).sum(axis=1).max()), 1)
            order, n_sorted = order[:, :width], n_sorted[:, :width]
            c = np.cumsum(counts[order], axis=1)
            mu = self._expected(n_sorted)
            stat = permutation_llr(c, mu, self.total).reshape(len(n_in), -1)
            flat = np.argmax(stat, axis=1)
            for i, f in enumerate(flat):
                if stat[i, f] <= 0:
                    continue
                u, length = divmod(int(f), self.max_days)
                rows.append(
                    (
                        lo + i,
                        n_sorted[i, u],
                        length + 1,
                        c[i, u, length],
                        mu[i, u, length],
                        stat[i, f],
                    )
                )
        out = pd.DataFrame(rows, columns=["centre", "n_in", "days", "observed", "expected", "llr"])
        return out.sort_values(["llr", "centre"], ascending=[False, True], kind="stable")

    def circle(self, centre: int, n_in: float) -> tuple[np.ndarray, float]:
        """Location indices of the circle around ``centre`` holding ``n_in`` cases, radius."""
        radius = float(self.radius[centre][self.inside[centre] <= n_in].max())
        d = np.round(np.hypot(*(self.xy - self.xy[self.centres[centre]]).T), 6)
        return np.flatnonzero(d <= radius), radius


def space_time_scan(
    case_cells: Iterable[str],
    case_onsets: Iterable[dt.date] | pd.Series,
    as_of: dt.date,
    populated_cells: Iterable[str],
    config: SurveillanceConfig = DEFAULT_RULES.surveillance,
    *,
    return_null: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, np.ndarray]:
    """Kulldorff's prospective space-time permutation scan ending on D.

    The study period is the ``scan_study_days`` days ending D. A cylinder is a circle of
    cells around a populated cell's centre (every cell as close as the farthest member is
    in it; at most ``scan_max_population_share`` of the study period's cases) times the
    last 1 … ``scan_max_days`` days ending D. With ``c`` cases in the cylinder, ``C`` in
    the study period, ``N_Z`` in its cells and ``N_T`` on its days over the whole study
    period, the expected count is μ = N_Z · N_T / C and the statistic the LLR of
    :func:`permutation_llr`. The p-value of a cluster is (1 + #replicates whose largest
    LLR is at least the cluster's) / (R + 1) over ``scan_replicates`` replicates in which
    the cases' onset days are randomly permuted among them (fixed ``scan_seed``).

    Secondary clusters follow SaTScan: the best cylinder of every centre, by LLR
    descending, keeping those sharing no cell with a cluster already kept, each compared
    with the same distribution of replicate maxima (conservative).

    Parameters
    ----------
    case_cells : iterable of str
        The H3 cell of each case (cases without a location are left out by the caller).
    case_onsets : iterable of date
        Each case's onset date (aligned with ``case_cells``); dates outside the study
        period are ignored.
    as_of : date
        D, the end of the study period and of every cylinder.
    populated_cells : iterable of str
        Circle centres: the cells people live in (case cells are added as centres only when
        this is empty). Populated cells without cases are part of the circles they fall in.
    config : SurveillanceConfig
    return_null : bool
        Also return the replicates' largest LLRs.

    Returns
    -------
    DataFrame
        Clusters with p < ``scan_alpha``, strongest first: ``rank``, ``centre``,
        ``cells`` (list), ``n_cells``, ``radius_km``, ``start_day``, ``end_day``, ``days``,
        ``observed``, ``expected``, ``relative_risk`` ((c/μ)/((C−c)/(C−μ)), None when every
        case is inside), ``llr``, ``p_value``. With ``return_null``, (clusters, maxima).
    """
    columns = [
        "rank",
        "centre",
        "cells",
        "n_cells",
        "radius_km",
        "start_day",
        "end_day",
        "days",
        "observed",
        "expected",
        "relative_risk",
        "llr",
        "p_value",
    ]
    empty = pd.DataFrame(columns=columns)
    cells_arr = np.asarray(list(case_cells), dtype=object)
    onset, ok = _day_numbers(pd.Series(list(case_onsets)))
    age = _day(as_of) - onset
    keep = ok & (age >= 0) & (age < config.scan_study_days) & pd.notna(cells_arr)
    cells_arr, age = cells_arr[keep].astype(str), age[keep]
    populated = np.asarray(sorted(set(map(str, populated_cells))), dtype=object)
    if not len(populated):
        populated = np.unique(cells_arr).astype(object)
    locations = np.unique(np.r_[populated, cells_arr].astype(str))
    null = np.zeros(0)
    if not len(cells_arr) or not (age < config.scan_max_days).any():
        return (empty, null) if return_null else empty
    case_loc = np.searchsorted(locations, cells_arr)
    centres = np.searchsorted(locations, populated.astype(str))
    scan = _Scan(case_loc, age, locations, centres, config)
    found = scan.candidates(age)
    rng = np.random.default_rng(config.scan_seed)
    null = np.empty(config.scan_replicates)
    for r in range(config.scan_replicates):
        null[r] = scan.max_llr(rng.permutation(age))
    rows: list[dict[str, object]] = []
    taken: set[int] = set()
    d_day = _day(as_of)
    cand = found[["centre", "n_in", "days", "observed", "expected", "llr"]].to_numpy(float)
    for centre_f, n_in, days_f, c, mu, llr in cand:
        centre, days = int(centre_f), int(days_f)
        # Ties of the observed LLR with a replicate count against the cluster (≥), with a
        # relative tolerance for the rounding of the two computations (both float64, but
        # in a different order of operations).
        p = (1 + int((null >= llr * (1 - 1e-5)).sum())) / (config.scan_replicates + 1)
        if p >= config.scan_alpha:
            break  # candidates are by LLR descending: every later one has p at least this
        members, radius = scan.circle(centre, n_in)
        if taken.intersection(members.tolist()):
            continue
        taken.update(members.tolist())
        total = scan.total
        rr = None if c >= total else (c / mu) / ((total - c) / (total - mu))
        rows.append(
            {
                "rank": len(rows) + 1,
                "centre": str(locations[centres[centre]]),
                "cells": sorted(str(x) for x in locations[members]),
                "n_cells": len(members),
                "radius_km": radius,
                "start_day": _date(d_day - days + 1),
                "end_day": as_of,
                "days": days,
                "observed": c,
                "expected": mu,
                "relative_risk": rr,
                "llr": float(llr),
                "p_value": p,
            }
        )
    out = pd.DataFrame(rows, columns=columns) if rows else empty
    return (out, null) if return_null else out


def scan_alerts(clusters: pd.DataFrame, as_of: dt.date, config: SurveillanceConfig) -> pd.DataFrame:
    """Scan clusters as alert rows (:data:`ALERT_COLUMNS`, ``kind`` = ``scan``).

    Parameters
    ----------
    clusters : DataFrame
        From :func:`space_time_scan`.
    as_of : date
    config : SurveillanceConfig

    Returns
    -------
    DataFrame
    """
    if clusters.empty:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    return pd.DataFrame(
        {
            "kind": "scan",
            "method": "space_time_permutation",
            "area_level": f"h3:{config.scan_h3_resolution}",
            "area_id": clusters["centre"].astype(str),
            "day": as_of,
            "start_day": clusters["start_day"],
            "observed": clusters["observed"].astype(float),
            "expected": clusters["expected"].astype(float),
            "statistic": clusters["llr"].astype(float),
            "threshold": config.scan_alpha,
            "relative_risk": clusters["relative_risk"],
            "llr": clusters["llr"].astype(float),
            "p_value": clusters["p_value"].astype(float),
            "n_cells": clusters["n_cells"].astype(int),
            "radius_km": clusters["radius_km"].astype(float),
            "cells": clusters["cells"],
        }
    )[ALERT_COLUMNS]


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


# --------------------------------------------------------------------------------------
# Vaccination targets
# --------------------------------------------------------------------------------------
def _ids(s: pd.Series) -> pd.Series:
    t = s.astype("string").str.strip()
    return t.mask(t == "")


def vaccination_targets(
    as_of: dt.date,
    residents: pd.DataFrame,
    registry: pd.DataFrame | None,
    vaccinations: pd.DataFrame | None,
    grids: pd.DataFrame | None,
    risk: pd.DataFrame,
    config: RulesConfig = DEFAULT_RULES,
) -> pd.DataFrame:
    """Residents to vaccinate against influenza in the cells at risk, per team and household.

    A target is an ``active`` resident living (``h3_<scan resolution>``) in a cell with
    ``at_risk`` true, with no ``influenza`` vaccination dated from the start of the current
    season (``IndicatorConfig.flu_season_start_*``, default Sept 1) to D, who on D is
    aged ``vaccination_age`` (65) or more, or aged ``vaccination_chronic_age`` (60) or more
    and a managed htn or t2dm patient (RULES.md "Managed patients"). The team is the
    managing team for managed patients (registry team, else signed team, else the grid's
    team) and the signed team, else the grid's team, for the others. A household is the
    residents sharing exact coordinates; a resident placed at the village seat only is a
    household of their own. Due: D + ``vaccination_lead_days``.

    Parameters
    ----------
    as_of : date
    residents : DataFrame
        resident_id, birth_date, status, signed_team_id, grid_id, area_code, lat, lng,
        loc_precision and ``h3_<res>``.
    registry : DataFrame or None
        chronic_registry rows.
    vaccinations : DataFrame or None
        resident_id, vaccine, date.
    grids : DataFrame or None
        grid_id, team_id.
    risk : DataFrame
        From :func:`spread_risk` (``h3``, ``score``, ``at_risk``).
    config : RulesConfig

    Returns
    -------
    DataFrame
        team_id, household_id, resident_id, age, reason (``age`` or ``managed``),
        diseases, last_flu_vaccination, h3, risk_score, grid_id, area_code, lat, lng,
        due_date; ordered by team, household, age descending, resident.
    """
    sv = config.surveillance
    columns = [
        "team_id",
        "household_id",
        "resident_id",
        "age",
        "reason",
        "diseases",
        "last_flu_vaccination",
        "h3",
        "risk_score",
        "grid_id",
        "area_code",
        "lat",
        "lng",
        "due_date",
    ]
    cell_col = f"h3_{sv.scan_h3_resolution}"
    at_risk = risk[risk["at_risk"].astype(bool)].set_index("h3")["score"]
    if at_risk.empty or residents.empty:
        return pd.DataFrame(columns=columns)
    res = residents.copy()
    res["resident_id"] = _ids(res["resident_id"])
    res = res.drop_duplicates("resident_id", keep="last")
    status = res["status"].astype("string").fillna("active") if "status" in res else "active"
    cell = res[cell_col].astype("string")
    res = res[(status == "active") & cell.isin(at_risk.index.astype(str)).fillna(False)].copy()
    res["age"] = age_on(res["birth_date"], as_of)
    d = pd.Timestamp(as_of)

    # Managed patients on D (RULES.md): enrolled <= D, not closed <= D, resident active.
    managed = pd.DataFrame(columns=["resident_id", "diseases", "registry_team"])
    if registry is not None and not registry.empty:
        reg = registry.assign(resident_id=_ids(registry["resident_id"]))
        enrolled = pd.to_datetime(reg["enrolled_date"], errors="coerce")
        closed = pd.to_datetime(
            reg["closed_date"] if "closed_date" in reg else pd.Series(pd.NaT, index=reg.index),
            errors="coerce",
        )
        disease = reg["disease"].astype("string").str.strip().str.lower()
        open_ = (enrolled <= d) & ~(closed <= d) & disease.isin(["htn", "t2dm"])
        reg = reg[open_.fillna(False).to_numpy()].assign(
            disease=disease, _enrolled=enrolled, team_id=_ids(reg["team_id"])
        )
        reg = reg.sort_values(["resident_id", "_enrolled"], kind="stable")
        # The team of the latest enrolment that names one (as the follow-up rules do).
        team = reg.dropna(subset=["team_id"]).groupby("resident_id")["team_id"].last()
        diseases = reg.groupby("resident_id")["disease"].agg(lambda s: ";".join(sorted(set(s))))
        managed = pd.DataFrame({"diseases": diseases, "registry_team": team}).reset_index()
    res = res.merge(managed, on="resident_id", how="left")
    is_managed = res["diseases"].notna().to_numpy()
    age = res["age"].fillna(-1).to_numpy()
    old = age >= sv.vaccination_age
    chronic = is_managed & (age >= sv.vaccination_chronic_age)
    res = res[old | chronic].copy()
    res["reason"] = np.where(old[old | chronic], "age", "managed")

    # Influenza vaccinations: this season (start … D) excludes; the latest one is shown.
    last = pd.Series(dtype="datetime64[ns]")
    if vaccinations is not None and not vaccinations.empty:
        vax = vaccinations.assign(resident_id=_ids(vaccinations["resident_id"]))
        when = pd.to_datetime(vax["date"], errors="coerce")
        flu = vax["vaccine"].astype("string").str.strip().str.lower() == "influenza"
        vax = vax[(flu & (when <= d)).fillna(False).to_numpy()].assign(_when=when)
        last = vax.groupby("resident_id")["_when"].max()
    season = pd.Timestamp(flu_season_start(as_of, config.indicators))
    res["last_flu_vaccination"] = res["resident_id"].map(last)
    res = res[~(res["last_flu_vaccination"] >= season).fillna(False)].copy()

    grid_team = pd.Series(dtype="string")
    if grids is not None and not grids.empty:
        g = grids.assign(grid_id=_ids(grids["grid_id"]), team_id=_ids(grids["team_id"]))
        g = g.dropna(subset=["grid_id"]).drop_duplicates("grid_id", keep="last")
        grid_team = g.set_index("grid_id")["team_id"]
    signed = _ids(res["signed_team_id"]) if "signed_team_id" in res else pd.NA
    by_grid = _ids(res["grid_id"]).map(grid_team) if "grid_id" in res else pd.NA
    res["team_id"] = _ids(res["registry_team"]).fillna(signed).fillna(by_grid)

    lat = pd.to_numeric(res["lat"], errors="coerce")
    lng = pd.to_numeric(res["lng"], errors="coerce")
    precise = lat.notna() & lng.notna()
    if "loc_precision" in res:
        precise &= res["loc_precision"].astype("string").fillna("exact") != "village"
    res["household_id"] = np.where(
        precise,
        lat.round(6).astype(str) + "," + lng.round(6).astype(str),
        "resident:" + res["resident_id"].astype(str),
    )
    res["h3"] = res[cell_col].astype(str)
    res["risk_score"] = res["h3"].map(at_risk).astype(float)
    res["lat"], res["lng"] = lat, lng
    res["due_date"] = as_of + dt.timedelta(days=sv.vaccination_lead_days)
    res["age"] = res["age"].astype("int64")
    res["last_flu_vaccination"] = res["last_flu_vaccination"].dt.date
    for c in ("grid_id", "area_code"):
        if c not in res:
            res[c] = None
    res = res.sort_values(
        ["team_id", "household_id", "age", "resident_id"],
        ascending=[True, True, False, True],
        kind="stable",
        na_position="last",
    )
    return res[columns].reset_index(drop=True)
