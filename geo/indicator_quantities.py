"""Per-resident and per-claim quantities the indicators count (RULES.md "Indicators").

Managed patients, visit statistics, overdue tasks, flu vaccination and claim quantities,
each as dense arrays the roll-up in :mod:`geo.indicators` sums per unit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from geo.indicator_columns import (
    _DISEASE_CODE,
    _code_in,
    _code_map,
    _col,
    _day_number,
    _days,
    _factor,
    _ids,
    _resident_lookup,
    _to_arrow,
    _to_bool,
    _to_num,
    _unique_residents,
)
from geo.rules import (
    OUTPATIENT_VISIT_TYPES,
    PRIMARY_FACILITY_TYPES,
    RulesConfig,
    age_on,
    flu_season_start,
    meets_target,
)

# Quantities that follow a managed patient (team level: the managing team).
_PATIENT_QTY = (
    "htn_managed",
    "htn_standard",
    "htn_controlled",
    "t2dm_managed",
    "t2dm_standard",
    "t2dm_controlled",
    "pairs_managed",
    "pairs_overdue",
    "people_managed",
    "people_overdue",
)
_CLAIM_QTY = (
    "out_all",
    "out_primary",
    "claims_all",
    "claims_in_county",
    "fund_all",
    "fund_primary",
    "ppl_out_all",
    "ppl_out_primary",
    "ppl_claims",
    "ppl_in_county",
    "ppl_fund",
    "ppl_fund_primary",
)


def _managed_pairs(
    registry: pd.DataFrame | None,
    lookup: Callable[[pd.Series | pa.Array], np.ndarray],
    active: np.ndarray,
    d_day: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted pair keys, enrolment day numbers and registry team (object, None) per pair."""
    if registry is None or registry.empty:
        return (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object))
    dis = _code_map(registry["disease"], _DISEASE_CODE)
    e_day, e_ok = _days(registry["enrolled_date"])
    c_day, c_ok = _days(_col(registry, "closed_date"))
    ok = ~np.isnan(dis) & e_ok & (e_day <= d_day) & (~c_ok | (c_day > d_day))
    mask = pa.array(ok)
    idx = lookup(_to_arrow(registry["resident_id"]).filter(mask))
    key = idx * 2 + dis[ok].astype(np.int64)
    team_codes, team_uniq = _factor(_to_arrow(_col(registry, "team_id")).filter(mask))
    keep = idx >= 0
    keep[keep] &= active[idx[keep]]
    key, enrolled, team_codes = key[keep], e_day[ok][keep], team_codes[keep]
    # Earliest open enrolment; the team of the latest enrolment that names one.
    order = np.lexsort((enrolled, key))
    key, enrolled, team_codes = key[order], enrolled[order], team_codes[order]
    u_key, first = np.unique(key, return_index=True)
    e_first = enrolled[first]
    named = np.flatnonzero(team_codes >= 0)
    last_team = np.full(len(u_key), -1, dtype=np.int64)
    if len(named):
        # Last named row of each key = first occurrence in the reversed order.
        rev = named[::-1]
        k_named, first_rev = np.unique(key[rev], return_index=True)
        last_team[np.searchsorted(u_key, k_named)] = team_codes[rev[first_rev]]
    team = np.array([*team_uniq, None], dtype=object)[last_team]
    return u_key.astype(np.int64), e_first.astype(np.int64), team


def _visit_stats(
    followups: pd.DataFrame | None,
    lookup: Callable[[pd.Series | pa.Array], np.ndarray],
    birth_date: pd.Series,
    pair_key: np.ndarray,
    w_start: int,
    d_day: int,
    config: RulesConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct visit dates in W and "latest visit in W meets the target", per pair."""
    n_pairs = len(pair_key)
    if followups is None or followups.empty or n_pairs == 0:
        return np.zeros(n_pairs, dtype=np.int64), np.zeros(n_pairs, dtype=bool)
    v_day, v_ok = _days(followups["visit_date"])
    in_w = v_ok & (v_day >= w_start) & (v_day <= d_day)
    mask = pa.array(in_w)
    idx = lookup(_to_arrow(followups["resident_id"]).filter(mask))
    dis = _code_map(_to_arrow(followups["disease"]).filter(mask), _DISEASE_CODE)
    ok = (idx >= 0) & ~np.isnan(dis)
    key = np.where(ok, idx * 2 + np.nan_to_num(dis).astype(np.int64), -1)
    pos = np.clip(np.searchsorted(pair_key, key), 0, n_pairs - 1)
    is_pair = ok & (pair_key[pos] == key)
    rows = np.flatnonzero(in_w)[is_pair]  # positions in ``followups``
    pos = pos[is_pair]
    off = v_day[rows] - w_start
    # Distinct visit dates per pair: unique (pair, day) combinations.
    width = int(off.max(initial=0)) + 1  # days in W: 0 … window_days − 1
    combo = np.sort(pos.astype(np.int64) * width + off)
    combo = combo[np.r_[True, combo[1:] != combo[:-1]]] if len(combo) else combo
    n_visits = np.bincount(combo // width, minlength=n_pairs).astype(np.int64)
    # Latest visit date per pair, then every form dated that day.
    last_off = np.full(n_pairs, -1, dtype=np.int64)
    np.maximum.at(last_off, pos, off)
    on_last = off == last_off[pos]
    lrows, lpos = rows[on_last], pos[on_last]
    births = birth_date.iloc[pair_key[lpos] // 2].reset_index(drop=True)
    visit = pd.Series(pd.to_datetime(followups["visit_date"].iloc[lrows]).to_numpy())
    met = meets_target(
        pd.Series(np.where(pair_key[lpos] % 2 == 0, "htn", "t2dm")),
        age_on(births, visit),
        pd.Series(_col(followups, "sbp").iloc[lrows].to_numpy()),
        pd.Series(_col(followups, "dbp").iloc[lrows].to_numpy()),
        pd.Series(_col(followups, "fasting_glucose").iloc[lrows].to_numpy()),
        config.targets,
    ).to_numpy(dtype=bool)
    forms = np.bincount(lpos, minlength=n_pairs)
    meeting = np.bincount(lpos, weights=met.astype(float), minlength=n_pairs)
    return n_visits, (forms > 0) & (meeting == forms)


def _overdue_pairs(
    open_tasks: pd.DataFrame | None,
    lookup: Callable[[pd.Series | pa.Array], np.ndarray],
    pair_key: np.ndarray,
    d_day: int,
    overdue_days: int,
) -> np.ndarray:
    """Whether each managed pair has an open task overdue by more than ``overdue_days``."""
    if open_tasks is None or open_tasks.empty or len(pair_key) == 0:
        return np.zeros(len(pair_key), dtype=bool)
    if "days_overdue" in open_tasks.columns:
        late = pd.to_numeric(open_tasks["days_overdue"], errors="coerce").to_numpy(dtype=float)
    else:
        due, due_ok = _days(open_tasks["due_date"])
        late = np.where(due_ok, d_day - due, np.nan).astype(float)
    sel = np.nan_to_num(late, nan=-1.0) > overdue_days
    mask = pa.array(sel)
    idx = lookup(_to_arrow(open_tasks["resident_id"]).filter(mask))
    dis = _code_map(_to_arrow(open_tasks["disease"]).filter(mask), _DISEASE_CODE)
    ok = (idx >= 0) & ~np.isnan(dis)
    return np.isin(pair_key, idx[ok] * 2 + dis[ok].astype(np.int64))


def _flu_vaccinated(
    vaccinations: pd.DataFrame | None,
    lookup: Callable[[pd.Series | pa.Array], np.ndarray],
    n: int,
    as_of: dt.date,
    d_day: int,
    config: RulesConfig,
) -> np.ndarray:
    """Residents with an influenza vaccination from the season start to D."""
    out = np.zeros(n, dtype=bool)
    if vaccinations is None or vaccinations.empty:
        return out
    start = _day_number(flu_season_start(pd.Timestamp(as_of).date(), config.indicators))
    v_day, v_ok = _days(vaccinations["date"])
    ok = (
        _code_in(vaccinations["vaccine"], ["influenza"])
        & v_ok
        & (v_day >= start)
        & (v_day <= d_day)
    )
    idx = lookup(_to_arrow(vaccinations["resident_id"]).filter(pa.array(ok)))
    out[idx[idx >= 0]] = True
    return out


@dataclass(frozen=True)
class PreparedClaims:
    """Claims reduced once to what the indicators take, for many as-of dates.

    A build computes 13 as-of dates over the same 8M claims; hashing their resident ids,
    parsing their dates and mapping their facility types once instead of 13 times is most
    of a period's claim work. Rows with no valid visit date or a resident not on file are
    dropped here (no indicator counts them); the rest are sorted by day so a window is a
    slice. Make one with :func:`prepare_claims`.

    Attributes
    ----------
    resident_ids : pyarrow.Array
        The unique resident ids ``position`` refers to (checked against the residents a
        computation is given).
    day : ndarray of int64
        Visit date as a day number (since 1970-01-01), ascending.
    position : ndarray of int64
        Row of the resident among ``resident_ids``.
    primary, outpatient, in_county : ndarray of bool
        At a primary facility; an outpatient or chronic_outpatient visit; in the county.
    fund : ndarray of float64
        ``fund_paid`` (missing: 0).
    """

    resident_ids: pa.Array
    day: np.ndarray
    position: np.ndarray
    primary: np.ndarray
    outpatient: np.ndarray
    in_county: np.ndarray
    fund: np.ndarray

    def window(self, w_start: int, d_day: int) -> slice:
        """Rows with ``w_start <= day <= d_day``."""
        lo, hi = np.searchsorted(self.day, [w_start, d_day + 1], side="left")
        return slice(int(lo), int(hi))


def prepare_claims(
    claims: pd.DataFrame | None, residents: pd.DataFrame, facilities: pd.DataFrame | None
) -> PreparedClaims:
    """Reduce ``claims`` once for :func:`compute_indicators` over many as-of dates.

    Parameters
    ----------
    claims, residents, facilities : DataFrame
        Canonical frames; the same ``residents`` must be passed to every
        :func:`compute_indicators` call the result is used with.

    Returns
    -------
    PreparedClaims
    """
    res = _unique_residents(residents)
    ids = _to_arrow(res["resident_id"])
    if claims is None or claims.empty:
        empty_i, empty_b = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        return PreparedClaims(ids, empty_i, empty_i, empty_b, empty_b, empty_b, np.zeros(0))
    day, ok = _days(claims["visit_date"])
    position = _resident_lookup(res)(claims["resident_id"])
    keep = ok & (position >= 0)
    order = np.argsort(day[keep], kind="stable")
    rows = np.flatnonzero(keep)[order]
    return PreparedClaims(
        resident_ids=ids,
        day=day[rows],
        position=position[rows],
        primary=_primary_claims(claims, facilities)[rows],
        outpatient=_code_in(claims["visit_type"], OUTPATIENT_VISIT_TYPES)[rows],
        in_county=_to_bool(_col(claims, "in_county"), default=False)[rows],
        fund=_to_num(_col(claims, "fund_paid"))[rows],
    )


def _primary_claims(claims: pd.DataFrame, facilities: pd.DataFrame | None) -> np.ndarray:
    """Whether each claim is at a primary facility (its own type, else the facility's)."""
    if "facility_type" in claims.columns:
        return _code_in(claims["facility_type"], PRIMARY_FACILITY_TYPES)
    if facilities is not None and "type" in facilities.columns:
        types = dict(zip(_ids(facilities["facility_id"]), facilities["type"], strict=True))
        return _code_in(_ids(claims["facility_id"]).map(types), PRIMARY_FACILITY_TYPES)
    return np.zeros(len(claims), dtype=bool)


def _claim_quantities(
    claims: pd.DataFrame | PreparedClaims | None,
    facilities: pd.DataFrame | None,
    res: pd.DataFrame,
    w_start: int,
    d_day: int,
) -> dict[str, np.ndarray]:
    """Per-resident claim counts, fund sums and "has any" flags over W."""
    n = len(res)
    if claims is None or (isinstance(claims, pd.DataFrame) and claims.empty):
        return {k: np.zeros(n) for k in _CLAIM_QTY}
    if isinstance(claims, pd.DataFrame):
        claims = prepare_claims(claims, res, facilities)
    elif not claims.resident_ids.equals(_to_arrow(res["resident_id"])):
        raise ValueError(
            "prepared claims were made for other residents; call prepare_claims with the "
            "residents frame passed to compute_indicators"
        )
    w = claims.window(w_start, d_day)
    idx = claims.position[w]
    primary, outpatient = claims.primary[w], claims.outpatient[w]
    in_county, fund = claims.in_county[w], claims.fund[w]

    def total(weights: np.ndarray) -> np.ndarray:
        return np.bincount(idx, weights=weights, minlength=n)

    q = {
        "out_all": total(outpatient),
        "out_primary": total(outpatient & primary),
        "claims_all": np.bincount(idx, minlength=n).astype(float),
        "claims_in_county": total(in_county),
        "fund_all": total(fund),
        "fund_primary": total(np.where(primary, fund, 0.0)),
    }
    q["ppl_out_all"] = (q["out_all"] > 0).astype(float)
    q["ppl_out_primary"] = (q["out_primary"] > 0).astype(float)
    q["ppl_claims"] = (q["claims_all"] > 0).astype(float)
    q["ppl_in_county"] = (q["claims_in_county"] > 0).astype(float)
    q["ppl_fund"] = (total(fund > 0) > 0).astype(float)
    q["ppl_fund_primary"] = (total(primary & (fund > 0)) > 0).astype(float)
    return q


def _pair_quantities(
    pair_idx: np.ndarray,
    is_htn: np.ndarray,
    standard: np.ndarray,
    controlled: np.ndarray,
    overdue: np.ndarray,
    team: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-pair patient quantities; people counted once per (team, resident)."""
    t_codes, _ = pd.factorize(pd.Series(team, dtype=object), use_na_sentinel=True)
    t_codes = np.asarray(t_codes, dtype=np.int64)
    combo = t_codes * (int(pair_idx.max(initial=0)) + 1) + pair_idx
    first = np.zeros(len(pair_idx), dtype=bool)
    first[np.unique(combo, return_index=True)[1]] = True
    late_combo = combo[overdue]
    late_first = np.zeros(len(pair_idx), dtype=bool)
    late_first[np.flatnonzero(overdue)[np.unique(late_combo, return_index=True)[1]]] = True
    is_t2 = ~is_htn
    return {
        "htn_managed": is_htn.astype(float),
        "htn_standard": (is_htn & standard).astype(float),
        "htn_controlled": (is_htn & controlled).astype(float),
        "t2dm_managed": is_t2.astype(float),
        "t2dm_standard": (is_t2 & standard).astype(float),
        "t2dm_controlled": (is_t2 & controlled).astype(float),
        "pairs_managed": np.ones(len(pair_idx)),
        "pairs_overdue": overdue.astype(float),
        "people_managed": first.astype(float),
        "people_overdue": late_first.astype(float),
    }
