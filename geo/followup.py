"""Daily follow-up tasks and the team push list (RULES.md, "Follow-up tasks").

For a day ``D`` every managed patient and disease gets at most one open task — the first
rule of the RULES.md table that applies — and active residents who look like unmanaged
patients get a ``suspected_unmanaged`` case-finding task. :func:`push_list` turns the open
tasks into one team's ordered list for the day and :func:`push_list_entries` adds the
resident fields a doctor sees (masked outside the team's own view).

Implementation: the county run is ~400k patients, 1.5M followups, millions of readings and
8M claims, so nothing loops over patients. Resident ids of every frame are factorised once
into integer codes; a patient × disease is the integer ``pair = code * 2 + disease`` and
per-pair facts (last visit, earliest open emergency reading, ...) live in dense arrays
indexed by it. Dates are float day numbers (NaN = missing), so "missing" never compares
true. The big frames are screened with cheap vectorised tests (emergency readings, claim
types, windows, ICD-10 ranges) before any per-row string work.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from geo.risk import fallback_scores, filled_classification, order_and_rank
from geo.rules import (
    DEFAULT_RULES,
    DISEASES,
    OUTPATIENT_VISIT_TYPES,
    RulesConfig,
    age_on,
    icd10_in_ranges,
    is_emergency,
    not_satisfactory,
)

#: Task codes in precedence order (RULES.md table), then case finding.
TASK_ORDER: tuple[str, ...] = (
    "emergency_reading",
    "referral_suggested",
    "post_discharge",
    "uncontrolled_recheck",
    "first_followup",
    "routine_followup",
)
SUSPECTED_UNMANAGED = "suspected_unmanaged"
_ALL_CODES = np.asarray([*TASK_ORDER, SUSPECTED_UNMANAGED], dtype=object)
_K_EMERGENCY, _K_REFERRAL, _K_DISCHARGE, _K_UNCONTROLLED, _K_FIRST, _K_ROUTINE = range(6)
_K_SUSPECTED = 6

#: Base colour of each task (before the routine overdue turn).
TASK_COLOUR: dict[str, str] = {
    "emergency_reading": "red",
    "referral_suggested": "red",
    "post_discharge": "red",
    "uncontrolled_recheck": "yellow",
    "first_followup": "yellow",
    "routine_followup": "green",
    SUSPECTED_UNMANAGED: "yellow",
}
COLOUR_RANK: dict[str, int] = {"red": 0, "yellow": 1, "green": 2}

DISEASE_ZH: dict[str, str] = {"htn": "高血压", "t2dm": "2型糖尿病"}

#: Claim types counted on distinct dates by case finding (RULES.md: outpatient,
#: chronic_outpatient or emergency); one inpatient claim suffices on its own.
CASE_FINDING_VISIT_TYPES = frozenset(OUTPATIENT_VISIT_TYPES | {"emergency"})

TASK_COLUMNS: list[str] = [
    "resident_id",
    "disease",
    "task_code",
    "colour",
    "due_date",
    "days_overdue",
    "event_date",
    "team_id",
    "grid_id",
    "last_visit_date",
    "last_sbp",
    "last_dbp",
    "last_glucose",
    "last_classification",
    "risk_score",
    "reason_zh",
]

_KEYS = ["resident_id", "disease"]
_DIS = np.asarray(DISEASES, dtype=object)
# Task keys pack (pair, rule, due day) into one int64 so dismissals are a np.isin.
_DAY_BITS = 21
_DAY_OFFSET = 1 << 20


# --------------------------------------------------------------------------------------
# Column helpers
# --------------------------------------------------------------------------------------
def _col(df: pd.DataFrame, name: str, default: Any = np.nan) -> pd.Series:
    """A column, or a Series of ``default`` when the frame lacks it (optional fields)."""
    if name in df.columns:
        return df[name]
    return pd.Series(default, index=df.index)


def _ids(s: pd.Series) -> pd.Series:
    """Ids as ``str`` with empty strings as missing, so merges and fallbacks agree."""
    out = s.astype("str")
    return out.where(out.str.strip() != "")


def _id_array(s: pd.Series) -> np.ndarray:
    """Ids as an object array with missing as NaN (for ``fillna`` fallbacks)."""
    return _ids(s).to_numpy(dtype=object, na_value=np.nan)


def _local_dates(s: pd.Series, tz: str) -> pd.Series:
    """Local calendar dates as naive midnight ``datetime64[ns]``.

    Timezone-aware values are converted to ``tz`` first; naive values already are local
    (the frames convention for dates and the data contract's for timestamps).
    """
    out = pd.to_datetime(s, errors="coerce")
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_convert(tz).dt.tz_localize(None)
    return out.dt.normalize().astype("datetime64[ns]")


def _days(s: pd.Series, tz: str) -> np.ndarray:
    """Local day numbers (days since 1970-01-01) as float, NaN where missing."""
    v = _local_dates(s, tz).to_numpy()
    out = v.astype("datetime64[D]").astype("int64").astype("float64")
    out[np.isnat(v)] = np.nan
    return out


def _instants(s: pd.Series, tz: str) -> np.ndarray:
    """Absolute instants as int64 ns since the epoch (UTC); missing = int64 min.

    Naive values are local wall-clock times (data contract: "local time Asia/Shanghai
    when no offset is given").
    """
    out = pd.to_datetime(s, errors="coerce")
    if not isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    v = out.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    return v.astype("int64")  # NaT is int64 min


_NO_INSTANT = np.iinfo(np.int64).min


def _to_dates(days: np.ndarray) -> np.ndarray:
    """Float day numbers back to ``datetime64[ns]`` (NaN → NaT)."""
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = ~np.isnan(days)
    out[ok] = days[ok].astype("int64").astype("datetime64[D]")
    return out


def _date_strs(days: np.ndarray) -> pd.Series:
    """``YYYY-MM-DD`` strings of day numbers (empty where missing)."""
    out = np.full(len(days), "", dtype=object)
    ok = ~np.isnan(days)
    out[ok] = np.datetime_as_string(days[ok].astype("int64").astype("datetime64[D]"))
    return pd.Series(out, dtype=object)


def _num_strs(values: np.ndarray, decimals: int) -> pd.Series:
    """Rounded numbers as strings: ``186`` for mmHg, ``18.2`` for mmol/L."""
    r = pd.Series(np.round(values, decimals))
    return (r.astype("Int64") if decimals == 0 else r).astype("str").astype(object)


def _task_keys(pair: np.ndarray, k: np.ndarray | int, due: np.ndarray) -> np.ndarray:
    """Pack (pair, rule index, due day) into int64 (due must not be NaN)."""
    return ((pair.astype(np.int64) * 8 + k) << _DAY_BITS) + (due.astype(np.int64) + _DAY_OFFSET)


def _first_per_pair(pair: np.ndarray, *sort_keys: np.ndarray) -> np.ndarray:
    """Positions of the first row of each pair when sorted by ``sort_keys`` (ascending)."""
    if len(pair) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((*reversed(sort_keys), pair))
    sp = pair[order]
    return order[np.r_[True, sp[1:] != sp[:-1]]]


def _empty_tasks() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="object") for c in TASK_COLUMNS})
    for c in ("due_date", "event_date", "last_visit_date"):
        out[c] = out[c].astype("datetime64[ns]")
    for c in ("last_sbp", "last_dbp", "last_glucose", "risk_score"):
        out[c] = out[c].astype("float64")
    out["days_overdue"] = out["days_overdue"].astype("int64")
    return out


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
    """Every ICD-10 category range a claim task can come from: post-discharge, then the
    case-finding ranges of each disease."""
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


def open_tasks(
    as_of: dt.date,
    *,
    residents: pd.DataFrame,
    registry: pd.DataFrame,
    followups: pd.DataFrame,
    measurements: pd.DataFrame,
    claims: pd.DataFrame,
    grids: pd.DataFrame,
    dismissals: pd.DataFrame | None = None,
    config: RulesConfig = DEFAULT_RULES,
) -> pd.DataFrame:
    """Open follow-up tasks on day ``as_of`` (RULES.md, "Follow-up tasks" and case finding).

    Every managed patient × disease (a registry row with ``enrolled_date <= D``, no
    ``closed_date <= D``, resident ``active``) gets the first task of the RULES.md table that
    applies, in the order ``emergency_reading``, ``referral_suggested``, ``post_discharge``,
    ``uncontrolled_recheck``, ``first_followup``, ``routine_followup``. Active residents
    with qualifying claims and no registry row for the disease get ``suspected_unmanaged``.
    Tasks not yet due are included too (negative ``days_overdue``); :func:`push_list` keeps
    the due ones.

    Closing. A task is closed by any followup of the disease dated after the event that
    opened it: every rule is evaluated against the last visit ``<= D``, so a newer visit
    replaces the task (an emergency reading or a discharge before it no longer counts).
    A dismissal closes the task with the same (resident_id, disease, task_code, due_date)
    and the patient's open task is then the NEXT applicable rule in table order (a
    dismissed ``referral_suggested`` falls through to ``uncontrolled_recheck``; a
    dismissed ``routine_followup`` leaves no task until the next visit). For the event
    rules a dismissal closes the event, not the rule, so new evidence is never silenced:
    after an ``emergency_reading`` dismissal only readings measured after the dismissal
    instant (and not on a dismissed due date) open a new emergency task; a dismissed
    discharge is skipped and a later qualifying discharge opens a new ``post_discharge``
    task; a ``suspected_unmanaged`` dismissal (its due date is always ``D``, so the key
    cannot match on later days) holds until a qualifying claim dated after the dismissal
    day. Dismissals with ``dismissed_at`` after ``D`` are ignored, so past days replay.

    Resolutions of RULES.md details:

    - Managed: residents missing from ``residents`` are not active, hence not managed.
      Several open registry rows for one patient and disease: the earliest enrolment (and
      its team) is used. The managing team is registry ``team_id``, else the resident's
      ``signed_team_id``, else the grid's ``team_id`` (empty strings count as missing).
    - "Last visit" ignores enrolment (RULES: the latest followup with ``visit_date <= D``);
      same-day visits are ordered by ``followup_id``. A missing ``referred`` is false.
      Rows without ``classification`` are classified with :func:`geo.rules.classify_visit`
      at the resident's age on the visit date (65+ target).
    - ``emergency_reading``: a reading's date is the local date (``config.timezone``) of
      ``measured_at`` (naive timestamps are local). The glucose criterion applies to t2dm
      only (:func:`geo.rules.is_emergency`); due and ``event_date`` are the earliest open
      reading's date.
    - ``post_discharge``: a visit on the discharge day does not close it ("after" = a later
      date); with several open discharges the earliest gives the due date. It applies to
      each managed disease of the patient, whichever listed diagnosis the claim has.
    - ``first_followup`` applies when no followup of the disease is dated between
      enrolment and ``D``; ``routine_followup`` needs a last visit (without one only a
      dismissed ``first_followup`` reaches it, and then there is no task).
    - ``suspected_unmanaged``: claims count by ``visit_date`` (admission for inpatients).
      Any registry row of the disease enrolled by ``D`` — open or closed — excludes the
      resident: a closed patient left the programme for a recorded reason (moved,
      misdiagnosis), re-enrolment is the team's decision and case finding must not
      re-flag them daily. Due ``D``, ``days_overdue`` 0, ``event_date`` the latest
      qualifying claim's visit date; team: signed team, else the grid's team.

    Parameters
    ----------
    as_of : date
        The day ``D`` (a local date).
    residents, registry, followups, measurements, claims, grids : DataFrame
        Canonical frames (``docs/frames.md``). ``residents.birth_date`` is used only for
        followups without a classification.
    dismissals : DataFrame, optional
        resident_id, disease, task_code, due_date, dismissed_at (, reason, staff_id).
    config : RulesConfig
        Thresholds and windows.

    Returns
    -------
    DataFrame
        One row per open task, columns :data:`TASK_COLUMNS`: resident_id, disease,
        task_code, colour (a routine task overdue > 30 days already yellow), due_date,
        days_overdue (``D − due`` in days), event_date, team_id, grid_id, last_visit_date,
        last_sbp, last_dbp, last_glucose (fasting), last_classification, risk_score (the
        fallback score of :func:`geo.risk.fallback_risk`), reason_zh. Sorted by
        resident_id, disease.
    """
    tz = config.timezone
    fc = config.followup
    d = float(np.datetime64(pd.Timestamp(as_of).date(), "D").astype("int64"))

    em_rows = _screen_measurements(measurements, d, config)
    cl_rows = _screen_claims(claims, d, config)
    dis_rows = _screen_dismissals(dismissals, d, tz)

    # One factorisation of every resident id: codes are comparable across frames.
    frames = [residents, registry, followups, em_rows, cl_rows]
    if dis_rows is not None:
        frames.append(dis_rows)
    lens = [len(f) for f in frames]
    all_ids = pd.concat([_ids(f["resident_id"]) for f in frames], ignore_index=True)
    codes, uniques = pd.factorize(all_ids)
    parts = np.split(codes.astype(np.int64), np.cumsum(lens)[:-1])
    res_c, reg_c, fu_c, em_c, cl_c = parts[:5]
    dis_c = parts[5] if dis_rows is not None else np.zeros(0, dtype=np.int64)
    n = len(uniques)
    n_pairs = 2 * n
    uniques_arr = np.asarray(uniques, dtype=object)

    # ---- residents (per code) ---------------------------------------------------------
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

    # ---- registry: managed pairs and pairs known to the programme ----------------------
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
    mp = reg_pair[first]  # managed pairs, ascending
    m_enrolled = enrolled[first]
    m_team = _id_array(_col(registry, "team_id"))[first]
    enrolled_at = np.full(n_pairs, np.nan)
    enrolled_at[mp] = m_enrolled
    managed = np.zeros(n_pairs, dtype=bool)
    managed[mp] = True

    # ---- followups: last / previous visit, fallback risk -------------------------------
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

    # ---- dismissals ---------------------------------------------------------------------
    dismissed_keys = np.zeros(0, dtype=np.int64)
    em_dismissed_at = np.full(n_pairs, _NO_INSTANT, dtype=np.int64)
    sus_dismissed_day = np.full(n_pairs, np.nan)
    if dis_rows is not None:
        ok = dis_c >= 0
        dp = (dis_c * 2 + dis_rows["dis"].to_numpy().astype(np.int64))[ok]
        dk = dis_rows["k"].to_numpy().astype(np.int64)[ok]
        ddue = dis_rows["due"].to_numpy()[ok]
        dinst = dis_rows["instant"].to_numpy()[ok]
        dday = dis_rows["day"].to_numpy()[ok]
        has_due = ~np.isnan(ddue)
        dismissed_keys = np.unique(_task_keys(dp[has_due], dk[has_due], ddue[has_due]))
        e = dk == _K_EMERGENCY
        np.maximum.at(em_dismissed_at, dp[e], dinst[e])
        s = dk == _K_SUSPECTED
        np.fmax.at(sus_dismissed_day, dp[s], np.where(np.isnan(dday[s]), ddue[s], dday[s]))

    def not_dismissed(pair: np.ndarray, k: int, due: np.ndarray) -> np.ndarray:
        if len(dismissed_keys) == 0:
            return np.ones(len(pair), dtype=bool)
        out = np.ones(len(pair), dtype=bool)
        ok = ~np.isnan(due)
        out[ok] = ~np.isin(_task_keys(pair[ok], k, due[ok]), dismissed_keys)
        return out

    # ---- emergency readings -------------------------------------------------------------
    em_day = np.full(n_pairs, np.nan)
    em_vals = np.full((n_pairs, 3), np.nan) if len(em_rows) else np.zeros((0, 3))
    if len(em_rows):
        ep_list, ei_list = [], []
        for j in range(len(DISEASES)):
            rows = np.flatnonzero(em_rows[f"em{j}"].to_numpy() & (em_c >= 0))
            ep_list.append(em_c[rows] * 2 + j)
            ei_list.append(rows)
        ep, ei = np.concatenate(ep_list), np.concatenate(ei_list)
        sel = managed[ep]
        ep, ei = ep[sel], ei[sel]
        eday = em_rows["day"].to_numpy()[ei]
        einst = em_rows["instant"].to_numpy()[ei]
        # "Dated after the last visit (on or after enrolment when there is none)".
        lv = last_day[ep]
        after = np.where(np.isnan(lv), eday >= enrolled_at[ep], eday > lv)
        # Readings up to a dismissal were seen by the doctor who dismissed the task.
        after &= einst > em_dismissed_at[ep]
        after &= not_dismissed(ep, _K_EMERGENCY, eday)
        ep, ei, eday, einst = ep[after], ei[after], eday[after], einst[after]
        pick = _first_per_pair(ep, einst)
        em_day[ep[pick]] = eday[pick]
        em_vals[ep[pick]] = em_rows[["sbp", "dbp", "glucose"]].to_numpy()[ei[pick]]

    # ---- discharges ---------------------------------------------------------------------
    pd_day = np.full(n_pairs, np.nan)
    pd_icd = np.full(n_pairs, None, dtype=object)
    rows = np.flatnonzero(cl_rows["pd_ok"].to_numpy() & (cl_c >= 0))
    if len(rows):
        # The claim is the patient's: it concerns each of their managed diseases.
        cp = np.concatenate([cl_c[rows] * 2 + j for j in range(len(DISEASES))])
        ci = np.concatenate([rows] * len(DISEASES))
        sel = managed[cp]
        cp, ci = cp[sel], ci[sel]
        dday = cl_rows["dday"].to_numpy()[ci]
        # "No visit after discharge": a visit on the discharge day does not close it.
        ok = ~(last_day[cp] > dday)
        ok &= not_dismissed(cp, _K_DISCHARGE, dday + fc.post_discharge_due_days)
        cp, ci, dday = cp[ok], ci[ok], dday[ok]
        pick = _first_per_pair(cp, dday)
        pd_day[cp[pick]] = dday[pick]
        pd_icd[cp[pick]] = cl_rows.attrs["icd_uniques"][cl_rows["icd_code"].to_numpy()[ci[pick]]]

    # ---- choose the first applicable, non-dismissed rule per managed pair --------------
    lv = last_day[mp]
    has_last = ~np.isnan(lv)
    bad, ref = last_bad[mp], last_ref[mp]
    rules: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [
        (~np.isnan(em_day[mp]), em_day[mp], em_day[mp]),
        (has_last & bad & prev_bad[mp] & ~ref, lv, lv),
        (~np.isnan(pd_day[mp]), pd_day[mp] + fc.post_discharge_due_days, pd_day[mp]),
        (has_last & (bad | ref), lv + fc.uncontrolled_recheck_days, lv),
        # "No visit at all since enrolment": the last visit <= D predates enrolment.
        (~(lv >= m_enrolled), m_enrolled + fc.first_followup_days, m_enrolled),
        (
            has_last,
            np.where(np.isnan(last_next[mp]), lv + fc.routine_interval_days, last_next[mp]),
            lv,
        ),
    ]
    chosen = np.full(len(mp), -1, dtype=np.int64)
    due = np.full(len(mp), np.nan)
    event = np.full(len(mp), np.nan)
    for k, (applies, k_due, k_event) in enumerate(rules):
        take = (chosen < 0) & applies
        take[take] = not_dismissed(mp[take], k, k_due[take])
        chosen[take], due[take], event[take] = k, k_due[take], k_event[take]
    got = chosen >= 0
    t_pair, t_k, t_due, t_event = mp[got], chosen[got], due[got], event[got]
    # Positional Series (a fresh RangeIndex each) so the fallbacks align row by row.
    t_team = (
        pd.Series(m_team[got], dtype=object)
        .fillna(pd.Series(signed[t_pair // 2], dtype=object))
        .fillna(pd.Series(grid_team[t_pair // 2], dtype=object))
    )

    # ---- case finding -------------------------------------------------------------------
    sus = _case_finding(cl_rows, cl_c, active, known, sus_dismissed_day, n_pairs, config)
    s_pair, s_event, s_n_out, s_last_inp = sus
    s_team = pd.Series(signed[s_pair // 2], dtype=object).fillna(
        pd.Series(grid_team[s_pair // 2], dtype=object)
    )

    # ---- assemble ---------------------------------------------------------------------
    pair = np.concatenate([t_pair, s_pair])
    if len(pair) == 0:
        return _empty_tasks()
    k_all = np.concatenate([t_k, np.full(len(s_pair), _K_SUSPECTED)])
    due_all = np.concatenate([t_due, np.full(len(s_pair), d)])
    event_all = np.concatenate([t_event, s_event])
    days_overdue = (d - due_all).astype(np.int64)
    code = _ALL_CODES[k_all]
    code_s = pd.Series(code)
    resident = uniques_arr[pair // 2]
    disease = _DIS[pair % 2]
    reasons = _reasons(
        k_all,
        disease,
        days_overdue,
        due_all,
        em_day[pair],
        em_vals[pair] if len(em_vals) else np.full((len(pair), 3), np.nan),
        pd_day[pair],
        pd_icd[pair],
        last_day[pair],
        last_ref[pair],
        np.concatenate([m_enrolled[got], np.full(len(s_pair), np.nan)]),
        np.concatenate([np.zeros(len(t_pair), dtype=np.int64), s_n_out]),
        np.concatenate([np.full(len(t_pair), np.nan), s_last_inp]),
        d,
        config,
    )
    tasks = pd.DataFrame(
        {
            "resident_id": resident,
            "disease": disease,
            "task_code": code,
            "colour": _colours(code_s, pd.Series(days_overdue), config),
            "due_date": _to_dates(due_all),
            "days_overdue": days_overdue,
            "event_date": _to_dates(event_all),
            "team_id": np.concatenate(
                [t_team.to_numpy(dtype=object), s_team.to_numpy(dtype=object)]
            ),
            "grid_id": grid[pair // 2],
            "last_visit_date": _to_dates(last_day[pair]),
            "last_sbp": last_sbp[pair],
            "last_dbp": last_dbp[pair],
            "last_glucose": last_glu[pair],
            "last_classification": last_cls[pair],
            "risk_score": risk[pair],
            "reason_zh": reasons,
        }
    )
    return tasks.sort_values(_KEYS, kind="stable", ignore_index=True)


def _disease_index(s: pd.Series) -> np.ndarray:
    """0 for htn, 1 for t2dm, -1 otherwise."""
    v = s.astype("str")
    out = np.full(len(v), -1, dtype=np.int64)
    for j, dis in enumerate(DISEASES):
        out[(v == dis).to_numpy(dtype=bool, na_value=False)] = j
    return out


def _num_col(df: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(_col(df, name), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


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


def _reasons(
    k: np.ndarray,
    disease: np.ndarray,
    days_overdue: np.ndarray,
    due: np.ndarray,
    em_day: np.ndarray,
    em_vals: np.ndarray,
    pd_day: np.ndarray,
    pd_icd: np.ndarray,
    last_day: np.ndarray,
    last_ref: np.ndarray,
    enrolled: np.ndarray,
    n_out: np.ndarray,
    last_inp: np.ndarray,
    d: float,
    config: RulesConfig,
) -> np.ndarray:
    """One-line Chinese reason per task (vectorised per task code)."""
    fc = config.followup
    out = np.full(len(k), "", dtype=object)
    name = pd.Series(disease).map(DISEASE_ZH).to_numpy(dtype=object)

    sel = np.flatnonzero(k == _K_EMERGENCY)
    if len(sel):
        ago_n = (d - em_day[sel]).astype(np.int64)
        ago = np.where(
            ago_n == 0, "今天", pd.Series(ago_n).astype("str").to_numpy(dtype=object) + "天前"
        )
        sbp, dbp, glu = em_vals[sel, 0], em_vals[sel, 1], em_vals[sel, 2]
        ec = config.emergency
        parts = [
            np.where(sbp >= ec.sbp_at_least, "收缩压" + _num_strs(sbp, 0) + " mmHg", ""),
            np.where(dbp >= ec.dbp_at_least, "舒张压" + _num_strs(dbp, 0) + " mmHg", ""),
            np.where(
                (disease[sel] == "t2dm")
                & ((glu >= ec.glucose_at_least) | (glu <= ec.glucose_at_most)),
                "血糖" + _num_strs(glu, 1) + " mmol/L",
                "",
            ),
        ]
        text = parts[0].astype(object)
        for part in parts[1:]:
            text = text + np.where((text != "") & (part != ""), "、", "") + part
        out[sel] = ago + "智能终端测得" + text + "，属紧急转诊指征"

    out[k == _K_REFERRAL] = "连续两次随访控制不满意，未转诊"

    sel = np.flatnonzero(k == _K_DISCHARGE)
    if len(sel):
        out[sel] = (
            _date_strs(pd_day[sel])
            + "出院（主要诊断"
            + pd.Series(pd_icd[sel], dtype=object)
            + f"），出院后{fc.post_discharge_due_days}日内需随访"
        ).to_numpy()

    sel = np.flatnonzero(k == _K_UNCONTROLLED)
    if len(sel):
        when = ("上次随访（" + _date_strs(last_day[sel]) + "）").to_numpy()
        days = fc.uncontrolled_recheck_days
        out[sel] = np.where(
            last_ref[sel],
            when + f"已转诊，需{days}日内随访了解转诊结果",
            when + f"控制不满意，需{days}日内复查",
        )

    sel = np.flatnonzero(k == _K_FIRST)
    if len(sel):
        out[sel] = (
            _date_strs(enrolled[sel]).to_numpy()
            + "纳入"
            + name[sel]
            + f"管理，需{fc.first_followup_days}日内完成首次随访"
        )

    sel = np.flatnonzero(k == _K_ROUTINE)
    if len(sel):
        late = days_overdue[sel]
        late_s = pd.Series(late).astype("str").to_numpy(dtype=object)
        out[sel] = (
            "常规随访，应于"
            + _date_strs(due[sel]).to_numpy()
            + "随访"
            + np.where(late > 0, "，已逾期" + late_s + "天", "")
        )

    sel = np.flatnonzero(k == _K_SUSPECTED)
    if len(sel):
        nm = name[sel]
        tail = "，未纳入" + nm + "管理"
        inpatient = ~np.isnan(last_inp[sel])
        out[sel] = np.where(
            inpatient,
            "近一年有" + nm + "住院记录（" + _date_strs(last_inp[sel]).to_numpy() + "）" + tail,
            "近一年"
            + pd.Series(n_out[sel]).astype("str").to_numpy(dtype=object)
            + "次"
            + nm
            + "门诊就诊"
            + tail,
        )
    return out


def _colours(code: pd.Series, days_overdue: pd.Series, config: RulesConfig) -> np.ndarray:
    """Task colour with the turn of long-overdue routine tasks to yellow."""
    base = code.map(TASK_COLOUR).to_numpy(dtype=object)
    turn = (code == "routine_followup").to_numpy() & (
        days_overdue.to_numpy() > config.followup.routine_overdue_yellow_days
    )
    return np.where(turn, "yellow", base)


# --------------------------------------------------------------------------------------
# Push list
# --------------------------------------------------------------------------------------
def _risk_for(tasks: pd.DataFrame, risk: pd.Series | None) -> pd.Series:
    """Risk per task row: the given scores, the fallback where a pair has none."""
    fallback = (
        tasks["risk_score"].astype("float64")
        if "risk_score" in tasks.columns
        else pd.Series(0.0, index=tasks.index)
    )
    if risk is None:
        return fallback
    if isinstance(risk.index, pd.MultiIndex):
        flat = pd.Series(
            risk.to_numpy(),
            index=risk.index.get_level_values(0).astype("str")
            + "\x1f"
            + risk.index.get_level_values(1).astype("str"),
        )
        flat = flat[~flat.index.duplicated(keep="last")]
        key = tasks["resident_id"].astype("str") + "\x1f" + tasks["disease"].astype("str")
        got = key.map(flat)
    else:
        got = tasks["resident_id"].map(risk[~risk.index.duplicated(keep="last")])
    return pd.Series(got.to_numpy(dtype="float64", na_value=np.nan), index=tasks.index).fillna(
        fallback
    )


def push_list(
    tasks: pd.DataFrame,
    as_of: dt.date,
    *,
    team_id: str | None = None,
    risk: pd.Series | None = None,
    config: RulesConfig = DEFAULT_RULES,
) -> pd.DataFrame:
    """The ordered push list of team ``team_id`` on day ``as_of``.

    Keeps the open tasks (from :func:`open_tasks`) of the team's patients whose due date is
    ``<= D``; recomputes ``days_overdue = D − due`` and the colour (a routine task overdue
    by more than ``config.followup.routine_overdue_yellow_days`` = 30 days turns yellow).
    Order: colour (red, yellow, green), risk score descending, days_overdue descending,
    resident_id (then disease and task_code, for a total order).

    Parameters
    ----------
    tasks : DataFrame
        Output of :func:`open_tasks`.
    as_of : date
        The day ``D``.
    team_id : str, optional
        The team; ``None`` keeps every team (county or town overview).
    risk : Series, optional
        Model risk scores indexed by (resident_id, disease) or by resident_id. Tasks
        without a model score (and every task when ``risk`` is None) use the fallback score
        already in ``tasks["risk_score"]`` — a model that cannot score a patient should
        not push them to the bottom of the list.
    config : RulesConfig

    Returns
    -------
    DataFrame
        The ``tasks`` columns, with ``risk_score``, ``days_overdue`` and ``colour``
        as used for ordering, in list order with a fresh index.
    """
    d = pd.Timestamp(as_of).normalize()
    due = pd.to_datetime(tasks["due_date"])
    keep = due <= d
    if team_id is not None:
        keep &= tasks["team_id"] == team_id
    t = tasks.loc[keep].copy()
    t["risk_score"] = _risk_for(t, risk)
    t["days_overdue"] = (d - due.loc[keep]).dt.days.astype("int64")
    t["colour"] = _colours(t["task_code"], t["days_overdue"], config)
    t["_colour_rank"] = t["colour"].map(COLOUR_RANK)
    t = t.sort_values(
        ["_colour_rank", "risk_score", "days_overdue", "resident_id", "disease", "task_code"],
        ascending=[True, False, False, True, True, True],
        kind="stable",
        ignore_index=True,
    )
    return t.drop(columns="_colour_rank")


# --------------------------------------------------------------------------------------
# Masking and list entries
# --------------------------------------------------------------------------------------
def mask_name(name: str) -> str:
    """Mask a name: first character, then one ``*`` per remaining character.

    ``张三`` → ``张*``, ``欧阳娜娜`` → ``欧***``. A one-character name still gets one ``*``
    so that no name is ever shown whole. Surrounding whitespace is dropped.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
    """
    s = name.strip()
    if not s:
        return s
    return s[0] + "*" * max(len(s) - 1, 1)


def mask_phone(phone: str | int) -> str:
    """Mask a phone number, keeping the first 3 and last 4 characters: ``138****1234``.

    Numbers of 8 or more characters keep their first 3 and last 4; shorter ones only their
    last 2 (2 characters or fewer are fully masked).

    Parameters
    ----------
    phone : str or int

    Returns
    -------
    str
    """
    s = str(phone).strip()
    n = len(s)
    if n >= 8:
        return s[:3] + "*" * (n - 7) + s[-4:]
    if n > 2:
        return "*" * (n - 2) + s[-2:]
    return "*" * n


def _stars(n: pd.Series) -> pd.Series:
    """Strings of ``n`` asterisks (vectorised through a lookup table)."""
    counts = n.clip(lower=0).to_numpy(dtype=np.int64)
    table = np.array(["*" * i for i in range(int(counts.max(initial=0)) + 1)], dtype=object)
    return pd.Series(table[counts], index=n.index, dtype=object)


def mask_names(names: pd.Series) -> pd.Series:
    """Vectorised :func:`mask_name` (missing and empty names stay as they are)."""
    s = names.astype("str").str.strip()
    n = s.str.len().fillna(0).astype("int64")
    out = s.str[:1].astype(object) + _stars((n - 1).clip(lower=1))
    return pd.Series(np.where(n > 0, out, s), index=s.index, dtype="str")


def mask_phones(phones: pd.Series) -> pd.Series:
    """Vectorised :func:`mask_phone` (missing stays missing)."""
    s = phones.astype("str").str.strip()
    n = s.str.len().fillna(0).astype("int64")
    head, tail4, tail2 = (
        s.str[:3].astype(object),
        s.str[-4:].astype(object),
        s.str[-2:].astype(object),
    )
    long_ = head + _stars(n - 7) + tail4
    mid = _stars(n - 2) + tail2
    out = np.where(n >= 8, long_, np.where(n > 2, mid, _stars(n)))
    return pd.Series(np.where(s.isna(), s, out), index=s.index, dtype="str")


ENTRY_COLUMNS: list[str] = [
    "resident_id",
    "name",
    "phone",
    "age",
    "sex",
    "disease",
    "task_code",
    "colour",
    "due_date",
    "days_overdue",
    "last_visit_date",
    "last_sbp",
    "last_dbp",
    "last_glucose",
    "last_classification",
    "risk_score",
    "lat",
    "lng",
    "grid_id",
    "team_id",
    "reason_zh",
]


def push_list_entries(
    tasks: pd.DataFrame,
    residents: pd.DataFrame,
    risk: pd.Series | None,
    as_of: dt.date,
    team_id: str | None,
    masked: bool = True,
    *,
    config: RulesConfig = DEFAULT_RULES,
) -> pd.DataFrame:
    """Push-list entries with the fields RULES.md names, in list order.

    Parameters
    ----------
    tasks : DataFrame
        Output of :func:`open_tasks`.
    residents : DataFrame
        Canonical residents frame (name, phone, sex, birth_date, lat, lng).
    risk : Series or None
        As in :func:`push_list`.
    as_of : date
        The day ``D``; ``age`` is the age in completed years on ``D``.
    team_id : str or None
        As in :func:`push_list`.
    masked : bool, default True
        Mask name and phone (:func:`mask_names`, :func:`mask_phones`). RULES.md has the
        entries carry masked values; only the team's own view should pass ``False``.
    config : RulesConfig

    Returns
    -------
    DataFrame
        Columns :data:`ENTRY_COLUMNS`; ``lat``/``lng`` are the household location.
    """
    pl = push_list(tasks, as_of, team_id=team_id, risk=risk, config=config)
    fields = ["name", "phone", "birth_date", "sex", "lat", "lng"]
    res = pd.DataFrame({c: _col(residents, c, pd.NA) for c in fields})
    res.insert(0, "resident_id", _ids(residents["resident_id"]))
    res = res.drop_duplicates("resident_id", keep="last")
    out = pl.drop(columns=[c for c in fields if c in pl.columns])
    out = out.merge(res, on="resident_id", how="left", sort=False)
    out["age"] = age_on(out["birth_date"], as_of).to_numpy()
    for c in ("lat", "lng"):
        out[c] = pd.to_numeric(out[c], errors="coerce")
    if masked:
        out["name"] = mask_names(out["name"])
        out["phone"] = mask_phones(out["phone"])
    return out.reindex(columns=ENTRY_COLUMNS)
