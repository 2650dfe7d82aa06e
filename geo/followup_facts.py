"""Per-resident and per-pair facts the follow-up rules read, computed once per day.

Resident codes across frames, residents' status and teams, managed pairs, the last and
previous visit of each pair, and the dismissals (steps 2–3 of
:func:`geo.followup.open_tasks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.followup_common import (
    _K_EMERGENCY,
    _K_SUSPECTED,
    _NO_INSTANT,
    _col,
    _days,
    _disease_index,
    _first_per_pair,
    _id_array,
    _num_col,
    _task_keys,
)
from geo.ids import normalise_ids
from geo.risk import fallback_scores, filled_classification, order_and_rank
from geo.rules import (
    RulesConfig,
    not_satisfactory,
)


@dataclass(frozen=True)
class _ResidentCodes:
    """Resident codes of each frame (``-1`` for a missing id) and the ids they stand for."""

    codes: list[np.ndarray]
    uniques: np.ndarray

    @property
    def n(self) -> int:
        """Number of distinct residents."""
        return len(self.uniques)

    @property
    def n_pairs(self) -> int:
        """Number of (resident, disease) pairs: ``pair = code * 2 + disease``."""
        return 2 * len(self.uniques)

    @classmethod
    def of(cls, frames: list[pd.DataFrame | None]) -> _ResidentCodes:
        """Factorise the ``resident_id`` of every frame at once (None: an empty code array)."""
        present = [f for f in frames if f is not None]
        lens = [len(f) for f in present]
        all_ids = pd.concat([normalise_ids(f["resident_id"]) for f in present], ignore_index=True)
        codes, uniques = pd.factorize(all_ids)
        parts = iter(np.split(codes.astype(np.int64), np.cumsum(lens)[:-1]))
        out = [next(parts) if f is not None else np.zeros(0, dtype=np.int64) for f in frames]
        return cls(out, np.asarray(uniques, dtype=object))


@dataclass(frozen=True)
class _People:
    """Per resident code: active, signed team, grid, the grid's team, birth date."""

    active: np.ndarray
    signed: np.ndarray
    grid: np.ndarray
    grid_team: np.ndarray
    birth: np.ndarray


def _people(residents: pd.DataFrame, res_c: np.ndarray, grids: pd.DataFrame, n: int) -> _People:
    """What the rules need of each resident (the last row of a duplicated id wins)."""
    last_row = ~pd.Series(res_c).duplicated(keep="last").to_numpy() & (res_c >= 0)
    rc = res_c[last_row]
    rsub = residents.loc[last_row]
    active = np.zeros(n, dtype=bool)
    # Data contract: status defaults to ``active`` when the source leaves it empty.
    status = _col(rsub, "status", "active").fillna("active").astype("str")
    active[rc] = (status == "active").to_numpy(dtype=bool, na_value=False)
    signed = np.full(n, np.nan, dtype=object)
    signed[rc] = _id_array(_col(rsub, "signed_team_id"))
    grid = np.full(n, np.nan, dtype=object)
    grid[rc] = _id_array(_col(rsub, "grid_id"))
    grid_team_map = pd.Series(_id_array(grids["team_id"]), index=_id_array(grids["grid_id"]))
    grid_team_map = grid_team_map[~grid_team_map.index.duplicated(keep="last")]
    grid_team = pd.Series(grid).map(grid_team_map).to_numpy(dtype=object)
    birth = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if "birth_date" in rsub.columns:
        birth[rc] = (
            pd.to_datetime(rsub["birth_date"], errors="coerce").to_numpy().astype("datetime64[ns]")
        )
    return _People(active, signed, grid, grid_team, birth)


@dataclass(frozen=True)
class _Managed:
    """Managed pairs (ascending) with enrolment and team; pairs known to the programme."""

    pairs: np.ndarray
    enrolled: np.ndarray
    team: np.ndarray
    enrolled_at: np.ndarray  # per pair
    is_managed: np.ndarray  # per pair
    known: np.ndarray  # per pair: any registry row enrolled by D, open or closed


def _managed(
    registry: pd.DataFrame,
    reg_c: np.ndarray,
    active: np.ndarray,
    n_pairs: int,
    d: float,
    config: RulesConfig,
) -> _Managed:
    """Managed pairs on day ``d``: the earliest open enrolment of an active resident."""
    tz = config.timezone
    reg_dis = _disease_index(registry["disease"])
    enrolled = _days(registry["enrolled_date"], tz)
    closed = _days(_col(registry, "closed_date", pd.NaT), tz)
    valid = (reg_c >= 0) & (reg_dis >= 0)
    reg_pair = reg_c * 2 + reg_dis
    known = np.zeros(n_pairs, dtype=bool)
    known[reg_pair[valid & ~(enrolled > d)]] = True
    live = valid & (enrolled <= d) & ~(closed <= d)
    live &= active[np.where(reg_c >= 0, reg_c, 0)]
    live_idx = np.flatnonzero(live)
    first = live_idx[_first_per_pair(reg_pair[live_idx], enrolled[live_idx])]
    mp = reg_pair[first]
    m_enrolled = enrolled[first]
    m_team = _id_array(_col(registry, "team_id"))[first]
    enrolled_at = np.full(n_pairs, np.nan)
    enrolled_at[mp] = m_enrolled
    is_managed = np.zeros(n_pairs, dtype=bool)
    is_managed[mp] = True
    return _Managed(mp, m_enrolled, m_team, enrolled_at, is_managed, known)


@dataclass(frozen=True)
class _Visits:
    """Per pair: the last visit ``<= D``, the previous visit's class, the fallback risk.

    The last visit's day, values, class, ``referred`` and next-visit day.
    """

    day: np.ndarray
    sbp: np.ndarray
    dbp: np.ndarray
    glucose: np.ndarray
    classification: np.ndarray
    bad: np.ndarray
    referred: np.ndarray
    next_day: np.ndarray
    prev_bad: np.ndarray
    risk: np.ndarray


def _last_visits(
    followups: pd.DataFrame,
    fu_c: np.ndarray,
    birth: np.ndarray,
    n_pairs: int,
    d: float,
    config: RulesConfig,
) -> _Visits:
    """Last and previous visit of each pair (same-day visits ordered by ``followup_id``)."""
    tz = config.timezone
    fu_dis = _disease_index(followups["disease"])
    vday = _days(followups["visit_date"], tz)
    keep = (fu_c >= 0) & (fu_dis >= 0) & (vday <= d)
    cols = [
        c
        for c in (
            "disease",
            "visit_date",
            "sbp",
            "dbp",
            "fasting_glucose",
            "adverse_reaction",
            "classification",
            "referred",
            "next_visit_date",
            "followup_id",
        )
        if c in followups.columns
    ]
    fu = followups.loc[keep, cols]
    fu_pair = (fu_c * 2 + fu_dis)[keep]
    fu_day = vday[keep]
    cls = filled_classification(fu, pd.Series(birth[fu_c[keep]], index=fu.index), config)
    fid = fu["followup_id"].to_numpy() if "followup_id" in fu.columns else None
    order, rank = order_and_rank(fu_pair, fu_day, fid)
    s_pair = fu_pair[order]
    s_bad = not_satisfactory(pd.Series(cls[order])).to_numpy()
    risk = fallback_scores(s_pair, rank, s_bad, n_pairs, config)

    at0 = order[rank == 0]  # rows (in fu) of each pair's last visit
    p0 = s_pair[rank == 0]
    last_day = np.full(n_pairs, np.nan)
    last_day[p0] = fu_day[at0]
    last_sbp = np.full(n_pairs, np.nan)
    last_sbp[p0] = _num_col(fu, "sbp")[at0]
    last_dbp = np.full(n_pairs, np.nan)
    last_dbp[p0] = _num_col(fu, "dbp")[at0]
    last_glu = np.full(n_pairs, np.nan)
    last_glu[p0] = _num_col(fu, "fasting_glucose")[at0]
    last_cls = np.full(n_pairs, None, dtype=object)
    last_cls[p0] = cls[at0]
    last_bad = np.zeros(n_pairs, dtype=bool)
    last_bad[p0] = s_bad[rank == 0]
    last_ref = np.zeros(n_pairs, dtype=bool)
    last_ref[p0] = (
        _col(fu, "referred", pd.NA).astype("boolean").fillna(False).to_numpy(dtype=bool)[at0]
    )
    last_next = np.full(n_pairs, np.nan)
    last_next[p0] = _days(_col(fu, "next_visit_date", pd.NaT), tz)[at0]
    prev_bad = np.zeros(n_pairs, dtype=bool)
    prev_bad[s_pair[rank == 1]] = s_bad[rank == 1]
    return _Visits(
        last_day, last_sbp, last_dbp, last_glu, last_cls, last_bad, last_ref, last_next,
        prev_bad, risk,
    )  # fmt: skip


@dataclass(frozen=True)
class _Dismissed:
    """Dismissed task keys, the last emergency dismissal instant and case-finding day."""

    keys: np.ndarray
    em_at: np.ndarray  # per pair
    sus_day: np.ndarray  # per pair

    @classmethod
    def of(cls, dis_rows: pd.DataFrame | None, dis_c: np.ndarray, n_pairs: int) -> _Dismissed:
        """Index the screened dismissals (:func:`geo.followup_events._screen_dismissals`)."""
        keys = np.zeros(0, dtype=np.int64)
        em_at = np.full(n_pairs, _NO_INSTANT, dtype=np.int64)
        sus_day = np.full(n_pairs, np.nan)
        if dis_rows is not None:
            ok = dis_c >= 0
            dp = (dis_c * 2 + dis_rows["dis"].to_numpy().astype(np.int64))[ok]
            dk = dis_rows["k"].to_numpy().astype(np.int64)[ok]
            ddue = dis_rows["due"].to_numpy()[ok]
            dinst = dis_rows["instant"].to_numpy()[ok]
            dday = dis_rows["day"].to_numpy()[ok]
            has_due = ~np.isnan(ddue)
            keys = np.unique(_task_keys(dp[has_due], dk[has_due], ddue[has_due]))
            e = dk == _K_EMERGENCY
            np.maximum.at(em_at, dp[e], dinst[e])
            s = dk == _K_SUSPECTED
            np.fmax.at(sus_day, dp[s], np.where(np.isnan(dday[s]), ddue[s], dday[s]))
        return cls(keys, em_at, sus_day)

    def not_dismissed(self, pair: np.ndarray, k: int, due: np.ndarray) -> np.ndarray:
        """Whether the task (pair, rule ``k``, due day) of each row was not dismissed."""
        if len(self.keys) == 0:
            return np.ones(len(pair), dtype=bool)
        out = np.ones(len(pair), dtype=bool)
        ok = ~np.isnan(due)
        out[ok] = ~np.isin(_task_keys(pair[ok], k, due[ok]), self.keys)
        return out
