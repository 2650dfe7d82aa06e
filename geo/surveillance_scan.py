"""Kulldorff's prospective space-time permutation scan over H3 cells.

Kulldorff et al. 2005, PLoS Med 2:e59; hand-written because no maintained Python library
implements it. ``docs/surveillance.md`` describes the method as implemented.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import sparse

from geo.rules import DEFAULT_RULES, SurveillanceConfig
from geo.surveillance_common import (
    ALERT_COLUMNS,
    _date,
    _day,
    _day_numbers,
    _km_xy,
)


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
