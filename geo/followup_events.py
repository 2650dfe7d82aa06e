"""The events that open follow-up tasks, screened from the big frames before any string work.

Emergency readings, task-relevant claims (inpatient discharges, case-finding visits),
dismissals, and case finding (RULES.md "Follow-up tasks").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.followup_common import (
    _ALL_CODES,
    _DAY_BITS,
    _DAY_OFFSET,
    _NO_INSTANT,
    _col,
    _days,
    _instants,
)
from geo.rules import (
    DEFAULT_RULES,
    DISEASES,
    OUTPATIENT_VISIT_TYPES,
    RulesConfig,
    icd10_in_ranges,
    is_emergency,
)

#: Claim types counted on distinct dates by case finding (RULES.md: outpatient,
#: chronic_outpatient or emergency); one inpatient claim suffices on its own.
CASE_FINDING_VISIT_TYPES = frozenset(OUTPATIENT_VISIT_TYPES | {"emergency"})


# --------------------------------------------------------------------------------------
# Screening the big frames
# --------------------------------------------------------------------------------------
def _screen_measurements(measurements: pd.DataFrame, d: float, config: RulesConfig) -> pd.DataFrame:
    """Readings dated ``<= D`` that are an emergency for at least one disease."""
    if measurements is None or measurements.empty:
        return pd.DataFrame(
            {
                "resident_id": pd.Series(dtype=object),
                "instant": pd.Series(dtype="int64"),
                **{c: pd.Series(dtype="float64") for c in ("day", "sbp", "dbp", "glucose")},
                "em0": pd.Series(dtype=bool),
                "em1": pd.Series(dtype=bool),
            }
        )
    idx = measurements.index
    sbp = pd.to_numeric(_col(measurements, "sbp"), errors="coerce").astype("float64")
    dbp = pd.to_numeric(_col(measurements, "dbp"), errors="coerce").astype("float64")
    glu = pd.to_numeric(_col(measurements, "glucose"), errors="coerce").astype("float64")
    # Emergencies are rare: the shared predicate screens first, so the timezone work
    # below runs on a small subset.
    em = {
        dis: is_emergency(pd.Series(dis, index=idx), sbp, dbp, glu, config.emergency).to_numpy()
        for dis in DISEASES
    }
    hit = em[DISEASES[0]] | em[DISEASES[1]]
    sub = measurements.loc[hit]
    out = pd.DataFrame(
        {
            "resident_id": sub["resident_id"].to_numpy(),
            "instant": _instants(sub["measured_at"], config.timezone),
            "day": _days(sub["measured_at"], config.timezone),
            "sbp": sbp.to_numpy()[hit],
            "dbp": dbp.to_numpy()[hit],
            "glucose": glu.to_numpy()[hit],
            "em0": em[DISEASES[0]][hit],
            "em1": em[DISEASES[1]][hit],
        }
    )
    return out.loc[(out["instant"] != _NO_INSTANT) & (out["day"] <= d)].reset_index(drop=True)


def _screen_claims(claims: pd.DataFrame, d: float, config: RulesConfig) -> pd.DataFrame:
    """Claims that can open a post-discharge task or count for case finding on ``D``."""
    if claims is None or claims.empty:
        out = pd.DataFrame(
            {
                "resident_id": pd.Series(dtype=object),
                "vday": pd.Series(dtype="float64"),
                "dday": pd.Series(dtype="float64"),
                "icd_code": pd.Series(dtype="int64"),
                **{c: pd.Series(dtype=bool) for c in ("inpatient", "pd_ok", "cf0", "cf1")},
            }
        )
        out.attrs["icd_uniques"] = np.zeros(0, dtype=object)
        return out
    fc = config.followup
    tz = config.timezone
    vt = claims["visit_type"].astype("str")
    inpatient = (vt == "inpatient").to_numpy(dtype=bool, na_value=False)
    counted = vt.isin(CASE_FINDING_VISIT_TYPES).to_numpy(dtype=bool)
    vday = _days(claims["visit_date"], tz)
    dday = _days(_col(claims, "discharge_date", pd.NaT), tz)
    # "In the 365 days up to D" is D−364 … D; "within the 30 days before D" is D−30 … D.
    in_case = (vday > d - fc.case_finding_window_days) & (vday <= d) & (inpatient | counted)
    in_pd = inpatient & (dday >= d - fc.post_discharge_window_days) & (dday <= d)
    pre = in_case | in_pd
    sub = claims.loc[pre]
    # A county has a few thousand distinct ICD-10 codes: test each once, then take.
    icd_code, icd_uniques = pd.factorize(sub["icd10"])
    icd_u = pd.Series(np.asarray(icd_uniques, dtype=object), dtype=object)

    def in_ranges(ranges: tuple[tuple[str, str], ...]) -> np.ndarray:
        hit = np.r_[icd10_in_ranges(icd_u, ranges).to_numpy(dtype=bool), False]
        return hit[icd_code]  # code -1 (missing ICD) takes the trailing False

    out = pd.DataFrame(
        {
            "resident_id": sub["resident_id"].to_numpy(),
            "vday": vday[pre],
            "dday": dday[pre],
            "inpatient": inpatient[pre],
            "icd_code": icd_code,
            "pd_ok": in_pd[pre] & in_ranges(fc.post_discharge_icd10),
        }
    )
    keep = out["pd_ok"].to_numpy().copy()
    for j, dis in enumerate(DISEASES):
        ranges = fc.case_finding_icd10.get(dis, ())
        out[f"cf{j}"] = in_case[pre] & in_ranges(ranges)
        keep |= out[f"cf{j}"].to_numpy()
    out.attrs["icd_uniques"] = icd_u.to_numpy()
    return out.loc[keep].reset_index(drop=True)


def _screen_dismissals(dismissals: pd.DataFrame | None, d: float, tz: str) -> pd.DataFrame | None:
    """Dismissals known on ``D`` (later ones are ignored so past days can be replayed)."""
    if dismissals is None or dismissals.empty:
        return None
    at = _col(dismissals, "dismissed_at", pd.NaT)
    code_index = {c: k for k, c in enumerate(_ALL_CODES)}
    out = pd.DataFrame(
        {
            "resident_id": dismissals["resident_id"].to_numpy(),
            "dis": pd.Series(dismissals["disease"].astype("str").to_numpy())
            .map({x: j for j, x in enumerate(DISEASES)})
            .to_numpy(dtype="float64", na_value=np.nan),
            "k": pd.Series(dismissals["task_code"].astype("str").to_numpy())
            .map(code_index)
            .to_numpy(dtype="float64", na_value=np.nan),
            "due": _days(dismissals["due_date"], tz),
            "instant": _instants(at, tz),
            "day": _days(at, tz),
        }
    )
    # A dismissal without a time stamp is kept: it can only close its exact task.
    ok = out["dis"].notna() & out["k"].notna() & ~(out["day"] > d)
    out = out.loc[ok].reset_index(drop=True)
    return out if not out.empty else None


# --------------------------------------------------------------------------------------
# Open tasks
# --------------------------------------------------------------------------------------
def task_icd10_ranges(config: RulesConfig = DEFAULT_RULES) -> tuple[tuple[str, str], ...]:
    """Every ICD-10 category range a claim task can come from.

    Post-discharge first, then the case-finding ranges of each disease.
    """
    fc = config.followup
    return (*fc.post_discharge_icd10, *(r for rs in fc.case_finding_icd10.values() for r in rs))


def task_relevant_claims(claims: pd.DataFrame, config: RulesConfig = DEFAULT_RULES) -> pd.DataFrame:
    """The claims :func:`open_tasks` can use on any day: main diagnosis in a rule's ranges.

    Only post-discharge (I10–I15, E10–E14, I20–I25, I60–I64) and case-finding diagnoses
    ever open a task, so a caller evaluating many days (the build's 13 periods) filters
    the county's claims once instead of screening all of them on every day.
    """
    if claims is None or claims.empty:
        return claims
    ranges = task_icd10_ranges(config)
    codes, uniques = pd.factorize(claims["icd10"])
    hit = np.r_[
        icd10_in_ranges(
            pd.Series(np.asarray(uniques, dtype=object), dtype=object), ranges
        ).to_numpy(dtype=bool),
        False,
    ]
    return claims.loc[hit[codes]]


def _case_finding(
    cl_rows: pd.DataFrame,
    cl_c: np.ndarray,
    active: np.ndarray,
    known: np.ndarray,
    dismissed_day: np.ndarray,
    n_pairs: int,
    config: RulesConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``suspected_unmanaged`` pairs: (pair, event day, n outpatient dates, last inpatient)."""
    fc = config.followup
    ok_res = cl_c >= 0
    ok_res[ok_res] = active[cl_c[ok_res]]
    cp_list, ci_list = [], []
    for j in range(len(DISEASES)):
        rows = np.flatnonzero(cl_rows[f"cf{j}"].to_numpy() & ok_res)
        cp_list.append(cl_c[rows] * 2 + j)
        ci_list.append(rows)
    cp, ci = np.concatenate(cp_list), np.concatenate(ci_list)
    # Any registry row of the disease known by D excludes the resident (docstring).
    keep = ~known[cp]
    cp, ci = cp[keep], ci[keep]
    empty = np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0)
    if len(cp) == 0:
        return empty
    vday = cl_rows["vday"].to_numpy()[ci]
    inp = cl_rows["inpatient"].to_numpy()[ci]
    # Distinct outpatient/emergency visit dates: same-day claims count once.
    day_keys = np.unique((cp[~inp] << _DAY_BITS) + (vday[~inp].astype(np.int64) + _DAY_OFFSET))
    n_out = np.bincount(day_keys >> _DAY_BITS, minlength=n_pairs)
    n_inp = np.bincount(cp[inp], minlength=n_pairs)
    last_inp = np.full(n_pairs, np.nan)
    np.fmax.at(last_inp, cp[inp], vday[inp])
    event = np.full(n_pairs, np.nan)
    np.fmax.at(event, cp, vday)
    pairs = np.unique(cp)
    flag = (n_inp[pairs] >= 1) | (n_out[pairs] >= fc.case_finding_min_outpatient_dates)
    # A dismissal holds until a qualifying claim dated after the dismissal day.
    flag &= ~(dismissed_day[pairs] >= event[pairs])
    pairs = pairs[flag]
    return pairs, event[pairs], n_out[pairs], last_inp[pairs]
