"""Risk-model features, part 1: the constants and the frames prepared once per run.

:func:`geo.risk_examples.make_examples` and :func:`geo.risk_examples.current_features`
read snapshots and labels off the :class:`_Prepared` arrays built here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geo.ids import normalise_ids
from geo.risk import filled_classification, order_and_rank
from geo.rules import (
    DISEASES,
    OUTPATIENT_VISIT_TYPES,
    RulesConfig,
    is_emergency,
    not_satisfactory,
)

#: Label horizon (RULES.md: "within 90 days"): the label window is T+1 … T+90.
HORIZON_DAYS = 90

#: Snapshot windows (RULES.md convention "the N days up to T" = T−N+1 … T).
_YEAR_DAYS = 365
_RECENT_DAYS = 90

_KEYS = ["resident_id", "disease"]
_DAY = pd.Timedelta(days=1)

#: Categorical features (strings; a missing value is its own level, e.g. ``"none"``).
CATEGORICAL_FEATURES: list[str] = ["disease", "sex", "last_classification", "last_adherence"]
#: Numeric features (float64, NaN where unknown; the booster handles NaN natively).
NUMERIC_FEATURES: list[str] = [
    "age",
    "years_enrolled",
    "visits_365d",
    "days_since_last_visit",
    "last_sbp",
    "last_dbp",
    "last_glucose",
    "mean_sbp_last4",
    "mean_dbp_last4",
    "fallback_score",
    "last_referred",
    "measurements_90d",
    "max_sbp_90d",
    "outpatient_claims_365d",
    "emergency_claims_365d",
    "inpatient_claims_365d",
    "cost_365d",
    "comorbid",
]
#: Every model input, in the order the pipeline receives them.
FEATURES: list[str] = CATEGORICAL_FEATURES + NUMERIC_FEATURES
#: Features other than the key column ``disease`` (which is a feature too).
_NON_KEY_FEATURES: list[str] = [c for c in FEATURES if c not in _KEYS]
#: Label components (not features): which event made the label 1.
OUTCOME_COLUMNS: list[str] = ["outcome_visit", "outcome_emergency", "outcome_inpatient"]


# --------------------------------------------------------------------------------------
# Column helpers
# --------------------------------------------------------------------------------------


def _num(df: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric column as float64 (NaN when the frame lacks it)."""
    if name not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _local_days(s: pd.Series | None, n: int, tz: str) -> np.ndarray:
    """Local calendar dates as day numbers (days since 1970-01-01, float64, NaN if missing).

    Timezone-aware values are converted to ``tz`` first; naive values already are local
    dates (the frames convention). Day numbers make every window test a float compare.
    """
    if s is None:
        return np.full(n, np.nan)
    d = pd.to_datetime(s, errors="coerce")
    if isinstance(d.dtype, pd.DatetimeTZDtype):
        d = d.dt.tz_convert(tz).dt.tz_localize(None)
    v = d.to_numpy(dtype="datetime64[ns]")
    out = v.astype("datetime64[D]").astype("float64")
    out[np.isnat(v)] = np.nan
    return out


def _day(d: dt.date | pd.Timestamp) -> float:
    """Day number of a date (see :func:`_local_days`)."""
    return float(np.datetime64(pd.Timestamp(d).date(), "D").astype("int64"))


def _sex_codes(s: pd.Series) -> np.ndarray:
    """Sex as a category label ("1", "2", else "unknown"): a code, not a quantity."""
    num = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return np.where(num == 1, "1", np.where(num == 2, "2", "unknown")).astype(object)


def _at(values: np.ndarray, rows: np.ndarray, fill: Any = np.nan) -> np.ndarray:
    """``values[rows]`` with ``fill`` where ``rows`` is -1 (no such row)."""
    ok = rows >= 0
    out = np.full(len(rows), fill, dtype=object if values.dtype == object else "float64")
    out[ok] = values[rows[ok]]
    return out


# --------------------------------------------------------------------------------------
# Preparation (once per call, shared by every cut-off)
# --------------------------------------------------------------------------------------
# Everything per cut-off runs on integer codes: a resident's code is its position in
# the sorted registry ids and a pair's key is ``code * 2 + disease`` (0 htn, 1 t2dm) —
# the scheme of geo.risk — so windows are float compares and aggregates are bincounts.
_N_DIS = len(DISEASES)
_KIND_CODES = {"outpatient": 0, "emergency": 1, "inpatient": 2}


@dataclass(frozen=True)
class _Prepared:
    ids: np.ndarray  # resident id of each code (sorted)
    sex: np.ndarray  # per code: "1" / "2" / "unknown"
    birth: np.ndarray  # per code: datetime64[ns] (NaT unknown)
    active: np.ndarray  # per code: status == "active"
    registry: pd.DataFrame  # key, enrolled, closed (day numbers)
    visits: pd.DataFrame  # key, day, tiebreak, sbp, dbp, glucose, adherence, referred,
    #                       classification, bad — sorted by (key, day, followup_id)
    has_tiebreak: bool
    readings: pd.DataFrame  # code, day, sbp
    emergencies: pd.DataFrame  # key, day
    claims: pd.DataFrame  # code, visit, known (day numbers), kind, cost
    data_end: float  # day number

    @property
    def n_keys(self) -> int:
        return len(self.ids) * _N_DIS


def _prepare(
    *,
    residents: pd.DataFrame,
    registry: pd.DataFrame,
    followups: pd.DataFrame,
    measurements: pd.DataFrame | None,
    claims: pd.DataFrame | None,
    config: RulesConfig,
    data_end: dt.date | None,
) -> _Prepared:
    tz = config.timezone
    meas = measurements if measurements is not None else pd.DataFrame()
    cl = claims if claims is not None else pd.DataFrame()
    if meas.empty:
        meas = pd.DataFrame({"resident_id": [], "measured_at": []})
    if cl.empty:
        cl = pd.DataFrame({"resident_id": [], "visit_date": [], "visit_type": []})

    # --- patients: only registry residents can be examples, everything is keyed on them
    dis_code = {d: i for i, d in enumerate(DISEASES)}
    reg_dis = registry["disease"].astype("str").map(dis_code).to_numpy(dtype="float64")
    reg_ok = ~np.isnan(reg_dis)
    reg_rid = normalise_ids(registry["resident_id"], blank_as_missing=False).to_numpy(dtype=object)
    ids = np.unique(reg_rid[reg_ok].astype(str)).astype(object)
    index = pd.Index(ids)

    def codes_of(s: pd.Series) -> np.ndarray:
        return index.get_indexer(normalise_ids(s, blank_as_missing=False).to_numpy(dtype=object))

    reg = pd.DataFrame(
        {
            "key": codes_of(registry["resident_id"]) * _N_DIS + np.nan_to_num(reg_dis, nan=0),
            "enrolled": _local_days(registry["enrolled_date"], len(registry), tz),
            "closed": _local_days(registry.get("closed_date"), len(registry), tz),
        }
    ).loc[reg_ok]
    reg = reg.loc[~np.isnan(reg["enrolled"].to_numpy())]
    reg["key"] = reg["key"].astype(np.int64)

    res = residents.drop_duplicates("resident_id", keep="last")
    pos = pd.Index(
        normalise_ids(res["resident_id"], blank_as_missing=False).to_numpy(dtype=object)
    ).get_indexer(ids)
    sex_all = _sex_codes(res["sex"]) if "sex" in res.columns else np.full(len(res), "unknown")
    birth_all = (
        pd.to_datetime(res["birth_date"], errors="coerce").to_numpy(dtype="datetime64[ns]")
        if "birth_date" in res.columns
        else np.full(len(res), np.datetime64("NaT"), dtype="datetime64[ns]")
    )
    active_all = (
        (res["status"].astype("str") == "active").to_numpy(dtype=bool)
        if "status" in res.columns
        else np.ones(len(res), dtype=bool)
    )
    # Registry residents missing from `residents`: unknown sex and age, not active.
    sex = _at(sex_all.astype(object), pos, fill="unknown")
    birth = np.full(len(ids), np.datetime64("NaT"), dtype="datetime64[ns]")
    birth[pos >= 0] = birth_all[pos[pos >= 0]]
    active = np.zeros(len(ids), dtype=bool)
    active[pos >= 0] = active_all[pos[pos >= 0]]

    # --- the export's last day, when not given: the latest visit, reading or claim
    fu_day = _local_days(followups["visit_date"], len(followups), tz)
    rd_day = _local_days(meas["measured_at"], len(meas), tz)
    cl_day = _local_days(cl["visit_date"], len(cl), tz)
    if data_end is None:
        latest = [np.nanmax(a) for a in (fu_day, rd_day, cl_day) if np.isfinite(a).any()]
        end = max(latest) if latest else np.inf
    else:
        end = _day(data_end)

    # --- visits: classified once with geo.risk's helper (age on the visit date for the
    # 65+ target), ordered with geo.risk's ranking, so features, labels, the fallback
    # and the task list all read the same "last visits".
    fu_code = codes_of(followups["resident_id"])
    fu_dis = followups["disease"].astype("str").map(dis_code).to_numpy(dtype="float64")
    keep = (fu_code >= 0) & ~np.isnan(fu_dis) & (fu_day <= end)
    fu = followups.loc[keep]
    fu_code, fu_dis, fu_day = fu_code[keep], fu_dis[keep].astype(np.int64), fu_day[keep]
    birth_of_visit = (
        pd.Series(pd.to_datetime(fu["birth_date"], errors="coerce").to_numpy(), index=fu.index)
        if "birth_date" in fu.columns
        else pd.Series(birth[fu_code], index=fu.index)
    )
    cls = filled_classification(fu, birth_of_visit, config)
    vkey = fu_code.astype(np.int64) * _N_DIS + fu_dis
    has_tiebreak = "followup_id" in fu.columns
    tiebreak = fu["followup_id"].to_numpy() if has_tiebreak else np.zeros(len(fu))
    order, _ = order_and_rank(vkey, fu_day, tiebreak if has_tiebreak else None)
    referred = (
        fu["referred"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        if "referred" in fu.columns
        # A missing `referred` is not a referral (RULES.md).
        else np.zeros(len(fu), dtype=bool)
    )
    adherence = (
        fu["adherence"].astype("object").where(fu["adherence"].notna(), "none").astype("str")
        if "adherence" in fu.columns
        else pd.Series("none", index=fu.index)
    )
    visits = pd.DataFrame(
        {
            "key": vkey,
            "day": fu_day,
            "tiebreak": tiebreak,
            "sbp": _num(fu, "sbp"),
            "dbp": _num(fu, "dbp"),
            "glucose": _num(fu, "fasting_glucose"),
            "adherence": adherence.to_numpy(dtype=object),
            "referred": referred.astype("float64"),
            "classification": cls,
            "bad": not_satisfactory(pd.Series(cls)).to_numpy(dtype=bool),
        }
    )
    visits = visits.iloc[order].reset_index(drop=True)

    # --- readings: local date of measured_at (RULES.md); emergency per disease with the
    # shared predicate (blood pressure for both, glucose for t2dm only)
    rd_code = codes_of(meas["resident_id"]) if len(meas) else np.zeros(0, dtype=np.int64)
    sbp, dbp, glu = _num(meas, "sbp"), _num(meas, "dbp"), _num(meas, "glucose")
    ok = (rd_code >= 0) & (rd_day <= end)
    readings = pd.DataFrame({"code": rd_code[ok], "day": rd_day[ok], "sbp": sbp[ok]})
    em_parts = []
    for i, dis in enumerate(DISEASES):
        em = (
            is_emergency(
                pd.Series(dis, index=meas.index),
                pd.Series(sbp, index=meas.index),
                pd.Series(dbp, index=meas.index),
                pd.Series(glu, index=meas.index),
                config.emergency,
            ).to_numpy(dtype=bool)
            & ok
        )
        em_parts.append(pd.DataFrame({"key": rd_code[em] * _N_DIS + i, "day": rd_day[em]}))
    emergencies = pd.concat(em_parts, ignore_index=True).astype({"key": np.int64})

    # --- claims of patients
    cl_code = codes_of(cl["resident_id"]) if len(cl) else np.zeros(0, dtype=np.int64)
    ok = (cl_code >= 0) & (cl_day <= end)
    discharge = _local_days(cl.get("discharge_date"), len(cl), tz)
    # A claim is settled (and exported) when the stay ends: an admission still open on T
    # is not known on T, so its cost and count must not enter T's features.
    known = np.where(discharge > cl_day, discharge, cl_day)
    vt = cl["visit_type"].astype("str")
    kind = np.select(
        [vt.isin(OUTPATIENT_VISIT_TYPES), vt == "emergency", vt == "inpatient"],
        [_KIND_CODES["outpatient"], _KIND_CODES["emergency"], _KIND_CODES["inpatient"]],
        default=-1,
    )
    claim_frame = pd.DataFrame(
        {
            "code": cl_code[ok],
            "visit": cl_day[ok],
            "known": known[ok],
            "kind": kind[ok],
            "cost": np.nan_to_num(_num(cl, "total_cost")[ok], nan=0.0),
        }
    )

    return _Prepared(
        ids=ids,
        sex=sex,
        birth=birth,
        active=active,
        registry=reg,
        visits=visits,
        has_tiebreak=has_tiebreak,
        readings=readings,
        emergencies=emergencies,
        claims=claim_frame,
        data_end=float(end),
    )
