"""Risk model: the probability that a managed patient is in trouble within 90 days.

RULES.md ("Risk score", under follow-up tasks): the score is the probability, from a model
trained on the county's own history, that the patient's next visit is uncontrolled or that
an emergency reading or inpatient admission happens within 90 days; until a model is
trained it is the share of the patient's last four visits that were not satisfactory (the
fallback of :mod:`geo.risk`).

This module builds that model from the canonical frames (``docs/frames.md``):

- :func:`make_examples` — one row per managed patient × disease × cut-off date ``T`` with
  snapshot features computed from data dated ``<= T`` only, and the label read from
  ``T+1 … T+90``;
- :func:`train_risk_model` — temporal split, a scikit-learn
  ``HistGradientBoostingClassifier`` pipeline, held-out metrics for the model and for the
  fallback score on the same rows;
- :func:`train_from_frames` — picks monthly cut-offs over the available history and
  trains (see ``docs/risk-model.md`` for the choices);
- :func:`current_features` / :func:`score` — features of the live list and its scores,
  a Series indexed by (resident_id, disease) that :func:`geo.followup.push_list` accepts;
- :func:`save_model` / :func:`load_model` — joblib persistence (the only I/O here).
"""

from __future__ import annotations

import datetime as dt
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.calibration import calibration_curve
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from geo.risk import fallback_scores, filled_classification, order_and_rank
from geo.rules import (
    DEFAULT_RULES,
    DISEASES,
    OUTPATIENT_VISIT_TYPES,
    RulesConfig,
    age_on,
    is_emergency,
    not_satisfactory,
)

__all__ = [
    "CATEGORICAL_FEATURES",
    "FEATURES",
    "HORIZON_DAYS",
    "NUMERIC_FEATURES",
    "OUTCOME_COLUMNS",
    "RiskModelResult",
    "current_features",
    "load_model",
    "make_examples",
    "monthly_cutoffs",
    "save_model",
    "score",
    "train_from_frames",
    "train_risk_model",
]

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

#: Booster settings. Shallow trees, a small learning rate and early stopping on 15% of
#: the patients (see ``_fit``): county histories are a few hundred thousand rows with a
#: weak, noisy signal, where deep trees only memorise patients.
DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "max_iter": 500,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "early_stopping": True,
    "validation_fraction": 0.15,
    "n_iter_no_change": 30,
    "random_state": 0,
}

_FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------
# Column helpers
# --------------------------------------------------------------------------------------
def _ids(s: pd.Series) -> np.ndarray:
    """Ids as ``str`` so frames agree (ids may arrive as int)."""
    return s.astype("str").to_numpy(dtype=object)


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
    reg_rid = _ids(registry["resident_id"])
    ids = np.unique(reg_rid[reg_ok].astype(str)).astype(object)
    index = pd.Index(ids)

    def codes_of(s: pd.Series) -> np.ndarray:
        return index.get_indexer(_ids(s))

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
    pos = pd.Index(_ids(res["resident_id"])).get_indexer(ids)
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


# --------------------------------------------------------------------------------------
# Snapshot features and labels for one cut-off
# --------------------------------------------------------------------------------------
def _managed_keys(prep: _Prepared, t: float, active_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Keys of the pairs managed on day ``t`` (sorted) and their enrolment day."""
    reg = prep.registry
    enrolled, closed = reg["enrolled"].to_numpy(), reg["closed"].to_numpy()
    # NaN compares False, so an open row (closed NaN) passes the second test.
    live = (enrolled <= t) & ~(closed <= t)
    # Several open rows for one pair are a data error: the earliest enrolment is kept
    # (as in geo.followup).
    first = np.full(prep.n_keys, np.inf)
    np.minimum.at(first, reg["key"].to_numpy()[live], enrolled[live])
    keys = np.flatnonzero(np.isfinite(first))
    if active_only:
        keys = keys[prep.active[keys // _N_DIS]]
    return keys, first[keys]


def _snapshot(
    prep: _Prepared, when: pd.Timestamp, config: RulesConfig, *, active_only: bool
) -> tuple[pd.DataFrame, np.ndarray]:
    """Features of every managed pair on ``when`` from data dated ``<= when`` only.

    Returns the features frame and the pair keys of its rows.
    """
    t = _day(when)
    n_keys, n_res = prep.n_keys, len(prep.ids)
    keys, enrolled = _managed_keys(prep, t, active_only)
    code = keys // _N_DIS
    out = pd.DataFrame(
        {
            "resident_id": prep.ids[code],
            "disease": np.asarray(DISEASES, dtype=object)[keys % _N_DIS],
            "cutoff": np.full(len(keys), when.to_datetime64()).astype("datetime64[ns]"),
            "sex": prep.sex[code],
        }
    )
    out["age"] = age_on(pd.Series(prep.birth[code]), when.date()).astype("float64").to_numpy()
    out["years_enrolled"] = (t - enrolled) / 365.25
    per_res = np.bincount(code, minlength=n_res)
    out["comorbid"] = (per_res[code] > 1).astype("float64")

    # Visits up to t, ranked from the last with geo.risk's helper so "the last four
    # visits" means exactly what the fallback and the task list mean by it. `visits` is
    # already in (key, day, followup_id) order, so re-ranking the prefix is cheap.
    v = prep.visits.loc[prep.visits["day"].to_numpy() <= t]
    order, rank = order_and_rank(
        v["key"].to_numpy(),
        v["day"].to_numpy(),
        v["tiebreak"].to_numpy() if prep.has_tiebreak else None,
    )
    v = v.iloc[order]
    vkey = v["key"].to_numpy()
    last_row = np.full(n_keys, -1)
    last_row[vkey[rank == 0]] = np.flatnonzero(rank == 0)
    rows = last_row[keys]
    out["days_since_last_visit"] = t - _at(v["day"].to_numpy(), rows)
    out["last_sbp"] = _at(v["sbp"].to_numpy(), rows)
    out["last_dbp"] = _at(v["dbp"].to_numpy(), rows)
    out["last_glucose"] = _at(v["glucose"].to_numpy(), rows)
    out["last_classification"] = _at(v["classification"].to_numpy(dtype=object), rows, "none")
    out["last_adherence"] = _at(v["adherence"].to_numpy(dtype=object), rows, "none")
    out["last_referred"] = _at(v["referred"].to_numpy(), rows)

    recent4 = rank < config.followup.risk_fallback_visits
    for col, name in (("sbp", "mean_sbp_last4"), ("dbp", "mean_dbp_last4")):
        x = v[col].to_numpy()[recent4]
        xkey = vkey[recent4]
        has = ~np.isnan(x)
        total = np.bincount(xkey[has], weights=x[has], minlength=n_keys)
        count = np.bincount(xkey[has], minlength=n_keys)
        mean = np.divide(total, count, out=np.full(n_keys, np.nan), where=count > 0)
        out[name] = mean[keys]
    # The fallback exactly as geo.risk computes it (0.0 without visits), so the model can
    # be compared with it on the same rows.
    fallback = fallback_scores(vkey, rank, v["bad"].to_numpy(dtype=bool), n_keys, config)
    out["fallback_score"] = fallback[keys]

    year_start = t - (_YEAR_DAYS - 1)
    in_year = v["day"].to_numpy() >= year_start
    out["visits_365d"] = np.bincount(vkey[in_year], minlength=n_keys)[keys].astype("float64")

    rd = prep.readings
    rday = rd["day"].to_numpy()
    recent = (rday >= t - (_RECENT_DAYS - 1)) & (rday <= t)
    rcode, rsbp = rd["code"].to_numpy()[recent], rd["sbp"].to_numpy()[recent]
    out["measurements_90d"] = np.bincount(rcode, minlength=n_res)[code].astype("float64")
    top = np.full(n_res, -np.inf)
    np.maximum.at(top, rcode[~np.isnan(rsbp)], rsbp[~np.isnan(rsbp)])
    out["max_sbp_90d"] = np.where(np.isfinite(top), top, np.nan)[code]

    cl = prep.claims
    known, visit = cl["known"].to_numpy(), cl["visit"].to_numpy()
    window = (known <= t) & (visit >= year_start)
    ccode, ckind = cl["code"].to_numpy()[window], cl["kind"].to_numpy()[window]
    for name, k in _KIND_CODES.items():
        per_kind = np.bincount(ccode[ckind == k], minlength=n_res)
        out[f"{name}_claims_365d"] = per_kind[code].astype("float64")
    # Total cost counts every claim type: it is the patient's overall use of care.
    cost = np.bincount(ccode, weights=cl["cost"].to_numpy()[window], minlength=n_res)
    out["cost_365d"] = cost[code]
    return out, keys


def _labels(
    prep: _Prepared, keys: np.ndarray, when: pd.Timestamp, horizon_days: int
) -> pd.DataFrame:
    """Outcomes of each pair in ``when+1 … when+horizon`` (NA when past ``data_end``)."""
    t = _day(when)
    end = t + horizon_days
    n = len(keys)
    if end > prep.data_end:
        na = pd.array([pd.NA] * n, dtype="boolean")
        return pd.DataFrame({"label": na, **{c: na.copy() for c in OUTCOME_COLUMNS}})

    # The NEXT visit of the disease after t: only that one counts, and only when it
    # falls in the window (a visit after t+90 tells nothing about the window). `visits`
    # is in (key, day, followup_id) order, so the first row after t is the next visit.
    v = prep.visits
    after = v["day"].to_numpy() > t
    akey = v["key"].to_numpy()[after]
    uniq, first = np.unique(akey, return_index=True)
    next_day = np.full(prep.n_keys, np.nan)
    next_bad = np.zeros(prep.n_keys, dtype=bool)
    next_day[uniq] = v["day"].to_numpy()[after][first]
    next_bad[uniq] = v["bad"].to_numpy(dtype=bool)[after][first]
    visit_bad = (next_day[keys] <= end) & next_bad[keys]

    em = prep.emergencies
    eday = em["day"].to_numpy()
    hit = np.zeros(prep.n_keys, dtype=bool)
    hit[em["key"].to_numpy()[(eday > t) & (eday <= end)]] = True
    emergency = hit[keys]

    # An admission's date is the claim's visit_date; any diagnosis counts.
    cl = prep.claims
    visit = cl["visit"].to_numpy()
    adm = (cl["kind"].to_numpy() == _KIND_CODES["inpatient"]) & (visit > t) & (visit <= end)
    admitted = np.zeros(len(prep.ids), dtype=bool)
    admitted[cl["code"].to_numpy()[adm]] = True
    inpatient = admitted[keys // _N_DIS]

    return pd.DataFrame(
        {
            "label": pd.array(visit_bad | emergency | inpatient, dtype="boolean"),
            "outcome_visit": pd.array(visit_bad, dtype="boolean"),
            "outcome_emergency": pd.array(emergency, dtype="boolean"),
            "outcome_inpatient": pd.array(inpatient, dtype="boolean"),
        }
    )


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Frame dtypes of the output: ids and categoricals ``str``, numbers float64."""
    for c in [*_KEYS, *CATEGORICAL_FEATURES]:
        frame[c] = frame[c].astype("str")
    for c in NUMERIC_FEATURES:
        frame[c] = frame[c].astype("float64")
    frame["cutoff"] = frame["cutoff"].astype("datetime64[ns]")
    return frame


# --------------------------------------------------------------------------------------
# Public: examples and live features
# --------------------------------------------------------------------------------------
def make_examples(
    as_of_dates: Sequence[dt.date],
    *,
    residents: pd.DataFrame,
    registry: pd.DataFrame,
    followups: pd.DataFrame,
    measurements: pd.DataFrame | None,
    claims: pd.DataFrame | None,
    config: RulesConfig = DEFAULT_RULES,
    data_end: dt.date | None = None,
    horizon_days: int = HORIZON_DAYS,
) -> pd.DataFrame:
    """Training examples: managed patient × disease × cut-off date, features and label.

    For each cut-off ``T`` every pair managed on ``T`` (a registry row of the disease with
    ``enrolled_date <= T`` and no ``closed_date <= T``) gets one row. Features use only
    data dated ``<= T``; the label reads ``T+1 … T+horizon_days``.

    Label (RULES.md, "Risk score"): 1 when, within ``T+1 … T+90``,

    - the patient's NEXT followup of that disease (the first one dated after ``T``) falls
      in the window and is not satisfactory (``unsatisfactory``, ``adverse`` or
      ``complication``; missing classifications are computed as in :mod:`geo.risk`), or
    - a measurement whose local date is in the window is an emergency reading for that
      disease (:func:`geo.rules.is_emergency`: blood pressure for both diseases, glucose
      for t2dm only), or
    - the resident has an inpatient claim (any diagnosis) whose ``visit_date`` — the
      admission — is in the window;

    else 0. When ``T + horizon_days`` is after ``data_end`` the outcome is not observed
    yet and the label is NA (such rows are left out of training).

    Leakage guards (why the snapshot is honest):

    - followups, measurements (by local date) and claims are cut at ``T``; a claim counts
      from the day it is settled — the discharge date for a stay, else the visit date —
      so an admission still open on ``T`` is not a feature on ``T``;
    - the residents' ``status`` is the status at export and has no date, so it is NOT
      used to choose historical examples (it would drop exactly the patients who later
      died or moved); the registry's dated ``closed_date`` is. :func:`current_features`
      does apply ``status == 'active'`` for the live list.

    Parameters
    ----------
    as_of_dates : sequence of date
        The cut-off dates ``T``.
    residents, registry, followups, measurements, claims : DataFrame
        Canonical frames (``docs/frames.md``); ``residents`` needs resident_id, sex,
        birth_date (and status for :func:`current_features`). ``measurements`` and
        ``claims`` may be None or empty.
    config : RulesConfig
        Targets, emergency thresholds, the fallback's visit count, time zone.
    data_end : date, optional
        Last date the data covers. Default: the latest visit, reading or claim date.
        Data dated after it is ignored.
    horizon_days : int, default 90
        Label window length.

    Returns
    -------
    DataFrame
        Columns resident_id, disease, cutoff (datetime64), the :data:`FEATURES`, then
        ``label`` and the :data:`OUTCOME_COLUMNS` (nullable boolean; NA = not labelled).
        Sorted by cutoff, resident_id, disease.
    """
    prep = _prepare(
        residents=residents,
        registry=registry,
        followups=followups,
        measurements=measurements,
        claims=claims,
        config=config,
        data_end=data_end,
    )
    parts = []
    for d in sorted(set(as_of_dates)):
        t = pd.Timestamp(d).normalize()
        snap, keys = _snapshot(prep, t, config, active_only=False)
        parts.append(pd.concat([snap, _labels(prep, keys, t, horizon_days)], axis=1))
    if not parts:
        raise ValueError("as_of_dates is empty")
    ex = _typed(pd.concat(parts, ignore_index=True))
    return ex[[*_KEYS, "cutoff", *_NON_KEY_FEATURES, "label", *OUTCOME_COLUMNS]]


def current_features(
    as_of: dt.date,
    *,
    residents: pd.DataFrame,
    registry: pd.DataFrame,
    followups: pd.DataFrame,
    measurements: pd.DataFrame | None,
    claims: pd.DataFrame | None,
    config: RulesConfig = DEFAULT_RULES,
) -> pd.DataFrame:
    """Features of the live list on ``as_of`` (for :func:`score`); no labels.

    Same features as :func:`make_examples` for the single cut-off ``T = as_of`` (data
    dated after ``as_of`` is ignored), restricted to managed patients as RULES.md defines
    them on the day: the resident must also have ``status == 'active'``.

    Returns
    -------
    DataFrame
        resident_id, disease, cutoff and the :data:`FEATURES`, one row per managed pair.
    """
    prep = _prepare(
        residents=residents,
        registry=registry,
        followups=followups,
        measurements=measurements,
        claims=claims,
        config=config,
        data_end=as_of,
    )
    snap, _ = _snapshot(prep, pd.Timestamp(as_of).normalize(), config, active_only=True)
    return _typed(snap)[[*_KEYS, "cutoff", *_NON_KEY_FEATURES]]


# --------------------------------------------------------------------------------------
# Model, metrics, training
# --------------------------------------------------------------------------------------
@dataclass
class RiskModelResult:
    """A trained risk model with its held-out evaluation.

    Attributes
    ----------
    model : Pipeline
        The model to score with (refit on every labelled cut-off when
        ``refit_on_all``; else the evaluated model itself).
    metrics : dict
        Held-out metrics of the evaluated model and of the fallback score on the same rows
        (see :func:`train_risk_model`); JSON-serialisable.
    features : list of str
        Model inputs, in order.
    train_cutoffs, test_cutoffs : list of date
        Cut-offs of the evaluation's training and test rows.
    split_date : date
        Test rows have ``cutoff >= split_date``.
    refit_on_all : bool
        Whether ``model`` was refit on train + test (+ embargoed) rows after evaluation.
    evaluation_model : Pipeline
        The model the metrics describe (trained on ``train_cutoffs`` only).
    """

    model: Pipeline
    metrics: dict[str, Any]
    features: list[str]
    train_cutoffs: list[dt.date]
    test_cutoffs: list[dt.date]
    split_date: dt.date
    refit_on_all: bool = False
    evaluation_model: Pipeline | None = field(default=None, repr=False)


def _design(frame: pd.DataFrame, features: Sequence[str] = FEATURES) -> pd.DataFrame:
    """Model input in a fixed form: categoricals as object strings, numbers as float64."""
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise ValueError(f"features frame lacks columns: {missing}")
    x = frame.loc[:, list(features)].copy()
    for c in features:
        if c in CATEGORICAL_FEATURES:
            x[c] = x[c].astype("object").where(x[c].notna(), "none").astype("str").astype(object)
        else:
            x[c] = pd.to_numeric(x[c], errors="coerce").astype("float64")
    return x


def _patient_holdout(resident_id: pd.Series, share: float) -> np.ndarray:
    """Deterministic choice of about ``share`` of the patients (all their rows)."""
    h = pd.util.hash_array(resident_id.astype("str").to_numpy(dtype=object))
    return np.asarray(h % 1000 < round(share * 1000))


def _fit(
    rows: pd.DataFrame, y: np.ndarray, params: Mapping[str, Any] | None
) -> tuple[Pipeline, float]:
    """Fit the pipeline on ``rows``; returns it and the seconds taken.

    Early stopping: the same patient appears at every cut-off with nearly the same
    features, so a random validation split (the booster's own) shares patients with the
    training rows and never stops improving — the booster memorises patients. The number
    of boosting iterations is therefore chosen on a held-out ``validation_fraction`` of
    the PATIENTS, then the pipeline is refit on every row with that many iterations.

    A numeric feature with no value at all in ``rows`` (e.g. ``max_sbp_90d`` when terminal
    readings only started after the last labelled cut-off) is set to 0 for the fit:
    scikit-learn 1.9's binning fails on an all-missing column, and a constant column is
    never split on, so the model ignores the feature whatever its values at scoring time.
    """
    x = _design(rows)
    for c in NUMERIC_FEATURES:
        if x[c].isna().all():
            x[c] = 0.0
    settings = {**DEFAULT_PARAMS, **(params or {})}
    started = time.perf_counter()
    held = _patient_holdout(rows["resident_id"], settings["validation_fraction"])
    if settings["early_stopping"] and held.any() and (~held).any():
        probe = _pipeline(settings)
        prep = probe.named_steps["prep"].fit(x.loc[~held])
        probe.named_steps["hgb"].fit(
            prep.transform(x.loc[~held]),
            y[~held],
            X_val=prep.transform(x.loc[held]),
            y_val=y[held],
        )
        settings = {
            **settings,
            "max_iter": int(probe.named_steps["hgb"].n_iter_),
            "early_stopping": False,
        }
    pipeline = _pipeline(settings)
    pipeline.fit(x, y)
    return pipeline, time.perf_counter() - started


def _pipeline(params: Mapping[str, Any] | None) -> Pipeline:
    """Ordinal-encode the categoricals, pass numbers through, gradient-boost natively."""
    cats = ColumnTransformer(
        [
            (
                "cat",
                # Levels unseen in training (a new adherence code) become missing, which
                # the booster routes like any missing value instead of failing.
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                ),
                CATEGORICAL_FEATURES,
            ),
            ("num", "passthrough", NUMERIC_FEATURES),
        ],
        verbose_feature_names_out=False,
    )
    hgb = HistGradientBoostingClassifier(
        # The categoricals come first out of the ColumnTransformer.
        categorical_features=list(range(len(CATEGORICAL_FEATURES))),
        **{**DEFAULT_PARAMS, **(params or {})},
    )
    return Pipeline([("prep", cats), ("hgb", hgb)])


def _calibration(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> list[dict[str, Any]]:
    """Reliability table over 10 uniform bins (sklearn's calibration_curve + counts)."""
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Same bin rule as calibration_curve, which returns rates for non-empty bins only.
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=n_bins)
    rows: list[dict[str, Any]] = []
    nonempty = iter(zip(prob_pred.tolist(), prob_true.tolist(), strict=True))
    for i in range(n_bins):
        row: dict[str, Any] = {
            "bin_lower": round(float(edges[i]), 2),
            "bin_upper": round(float(edges[i + 1]), 2),
            "n": int(counts[i]),
            "mean_predicted": None,
            "observed_rate": None,
        }
        if counts[i]:
            row["mean_predicted"], row["observed_rate"] = next(nonempty)
        rows.append(row)
    return rows


def _score_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """AUC, Brier, log loss, reliability table and expected calibration error."""
    two_classes = len(np.unique(y)) == 2
    table = _calibration(y, p)
    n = len(y)
    ece = sum(r["n"] / n * abs(r["observed_rate"] - r["mean_predicted"]) for r in table if r["n"])
    return {
        # AUC needs both classes; a degenerate test set reports NaN rather than failing.
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else math.nan,
        "brier": float(brier_score_loss(y, p)),
        # Probabilities of exactly 0 or 1 (the fallback's 0/4 and 4/4) are clipped by
        # sklearn at machine epsilon: a confidently wrong fallback is heavily penalised.
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "mean_predicted": float(np.mean(p)),
        "ece": float(ece),
        "calibration": table,
    }


def _dates(s: pd.Series) -> list[dt.date]:
    return [pd.Timestamp(x).date() for x in sorted(pd.unique(s))]


def train_risk_model(
    examples: pd.DataFrame,
    *,
    split_date: dt.date,
    embargo_days: int = HORIZON_DAYS,
    params: Mapping[str, Any] | None = None,
    refit: bool = False,
) -> RiskModelResult:
    """Train on early cut-offs, evaluate on later ones, compare with the fallback.

    Temporal split: test rows have ``cutoff >= split_date``; training rows have
    ``cutoff + embargo_days < split_date``, i.e. their whole label window ends before
    the split, as it would for a model trained on the eve of ``split_date``. Without the
    embargo, training labels would come from the same weeks (often the same next visit)
    as the test labels of the first test cut-offs. ``embargo_days=0`` gives the plain
    ``cutoff < split_date`` split. Unlabelled rows (NA label) are dropped first.

    Parameters
    ----------
    examples : DataFrame
        Output of :func:`make_examples`.
    split_date : date
        First day of the test period.
    embargo_days : int, default 90
        Gap between training cut-offs and the split (the label horizon by default).
    params : mapping, optional
        Overrides of :data:`DEFAULT_PARAMS` for ``HistGradientBoostingClassifier``.
    refit : bool, default False
        After evaluating, refit the same pipeline on every labelled row (training, embargoed
        and test cut-offs) and return it as ``model``: the live model should learn from the
        most recent outcomes too; the metrics still describe the evaluated model.

    Returns
    -------
    RiskModelResult
        ``metrics`` holds: split_date, embargo_days, horizon cut-off lists, n_train,
        n_test, n_unlabelled, positive_rate_train/test, outcome_rates_test (share of test
        rows with each label component), ``model`` and ``fallback`` blocks (roc_auc, brier,
        log_loss, mean_predicted, ece, calibration = 10-bin table), ``by_disease``
        (n, positive rate, AUC of model and fallback), ``brier_base_rate`` (Brier of
        always predicting the training positive rate), fit_seconds, n_iter, n_refit.

    Raises
    ------
    ValueError
        When the training or test set is empty or training has a single class.
    """
    split = pd.Timestamp(split_date).normalize()
    labelled = examples.loc[examples["label"].notna()]
    cutoff = pd.to_datetime(labelled["cutoff"])
    train_mask = (cutoff + embargo_days * _DAY < split).to_numpy()
    test_mask = (cutoff >= split).to_numpy()
    train, test = labelled.loc[train_mask], labelled.loc[test_mask]
    if train.empty or test.empty:
        raise ValueError(
            f"empty split: {len(train)} training and {len(test)} test rows for split "
            f"{split.date()} with a {embargo_days}-day embargo"
        )
    y_train = train["label"].astype(bool).to_numpy().astype(int)
    y_test = test["label"].astype(bool).to_numpy().astype(int)
    if len(np.unique(y_train)) < 2:
        raise ValueError("the training rows have a single class")

    model, fit_seconds = _fit(train, y_train, params)

    p_model = model.predict_proba(_design(test))[:, 1]
    p_fallback = test["fallback_score"].astype("float64").to_numpy()

    by_disease: dict[str, Any] = {}
    for dis in DISEASES:
        m = (test["disease"] == dis).to_numpy()
        if not m.any():
            continue
        two = len(np.unique(y_test[m])) == 2
        by_disease[dis] = {
            "n": int(m.sum()),
            "positive_rate": float(y_test[m].mean()),
            "model_roc_auc": float(roc_auc_score(y_test[m], p_model[m])) if two else math.nan,
            "fallback_roc_auc": float(roc_auc_score(y_test[m], p_fallback[m])) if two else math.nan,
        }
    base = float(y_train.mean())
    metrics: dict[str, Any] = {
        "horizon_days": HORIZON_DAYS,
        "split_date": split.date().isoformat(),
        "embargo_days": embargo_days,
        "train_cutoffs": [d.isoformat() for d in _dates(train["cutoff"])],
        "test_cutoffs": [d.isoformat() for d in _dates(test["cutoff"])],
        "n_train": len(train),
        "n_test": len(test),
        "n_unlabelled": int(examples["label"].isna().sum()),
        "positive_rate_train": base,
        "positive_rate_test": float(y_test.mean()),
        "outcome_rates_test": {
            c.removeprefix("outcome_"): float(test[c].astype(bool).mean())
            for c in OUTCOME_COLUMNS
            if c in test.columns
        },
        "model": _score_metrics(y_test, p_model),
        "fallback": _score_metrics(y_test, p_fallback),
        "brier_base_rate": float(brier_score_loss(y_test, np.full(len(y_test), base))),
        "by_disease": by_disease,
        "fit_seconds": fit_seconds,
        "n_iter": int(model.named_steps["hgb"].n_iter_),
        "n_refit": 0,
    }

    final = model
    if refit:
        y_all = labelled["label"].astype(bool).to_numpy().astype(int)
        final, metrics["refit_seconds"] = _fit(labelled, y_all, params)
        metrics["refit_n_iter"] = int(final.named_steps["hgb"].n_iter_)
        metrics["n_refit"] = len(labelled)
        metrics["refit_cutoffs"] = [d.isoformat() for d in _dates(labelled["cutoff"])]

    return RiskModelResult(
        model=final,
        metrics=metrics,
        features=list(FEATURES),
        train_cutoffs=_dates(train["cutoff"]),
        test_cutoffs=_dates(test["cutoff"]),
        split_date=split.date(),
        refit_on_all=refit,
        evaluation_model=model,
    )


# --------------------------------------------------------------------------------------
# Orchestration over the county's frames
# --------------------------------------------------------------------------------------
def monthly_cutoffs(
    as_of: dt.date,
    *,
    lookback_days: int = 365,
    horizon_days: int = HORIZON_DAYS,
    data_start: dt.date | None = None,
    min_history_days: int = 0,
) -> list[dt.date]:
    """Month-end cut-offs ``T`` with ``as_of − lookback_days <= T <= as_of − horizon_days``.

    The upper bound is the last cut-off whose label window ``T+1 … T+90`` is fully
    observed on ``as_of``. With ``data_start`` (the first date the history covers),
    cut-offs also need ``T >= data_start + min_history_days`` so their snapshot features
    are not dominated by the start of the export.
    """
    lo = pd.Timestamp(as_of) - lookback_days * _DAY
    if data_start is not None:
        lo = max(lo, pd.Timestamp(data_start) + min_history_days * _DAY)
    hi = pd.Timestamp(as_of) - horizon_days * _DAY
    ends = pd.date_range(lo.normalize(), hi.normalize(), freq="ME")
    return [d.date() for d in ends]


def train_from_frames(
    frames: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    config: RulesConfig = DEFAULT_RULES,
    *,
    lookback_days: int = 365,
    test_cutoffs: int = 3,
    min_history_days: int = 0,
    embargo_days: int = HORIZON_DAYS,
    refit: bool = True,
    params: Mapping[str, Any] | None = None,
) -> RiskModelResult:
    """Train the county's risk model from its canonical frames as of ``as_of``.

    Cut-offs: the month-ends of :func:`monthly_cutoffs` (``as_of − 365`` …
    ``as_of − 90``; every label window is observed by ``as_of``). Month-ends because
    visits are roughly quarterly: a monthly snapshot sees each patient at a different
    point of their visit cycle, and finer steps add near-duplicate rows, not information.
    The last ``test_cutoffs`` (3) cut-offs are the test set (``split_date`` = the first
    of them); training uses the earlier ones outside the embargo (see
    :func:`train_risk_model`). With ``refit`` (default) the returned ``model`` is then
    refit on every labelled cut-off, so the live model has seen the latest quarter.

    Parameters
    ----------
    frames : mapping of str to DataFrame
        ``residents``, ``chronic_registry`` (or ``registry``), ``followups`` and, when
        present, ``measurements`` and ``claims`` (canonical frames).
    as_of : date
        The training day; data dated after it is ignored.
    config : RulesConfig
    lookback_days, min_history_days : int
        Cut-off range (see :func:`monthly_cutoffs`; the history starts at the first
        followup's date).
    test_cutoffs : int, default 3
        How many of the latest cut-offs form the test set.
    embargo_days : int, default 90
    refit : bool, default True
    params : mapping, optional
        Booster overrides.

    Returns
    -------
    RiskModelResult
    """
    registry = frames["chronic_registry"] if "chronic_registry" in frames else frames["registry"]
    followups = frames["followups"]
    first_visit = pd.to_datetime(followups["visit_date"], errors="coerce").min()
    start = None if pd.isna(first_visit) else pd.Timestamp(first_visit).date()
    cutoffs = monthly_cutoffs(
        as_of,
        lookback_days=lookback_days,
        data_start=start,
        min_history_days=min_history_days,
    )
    if len(cutoffs) <= test_cutoffs:
        raise ValueError(
            f"{len(cutoffs)} cut-offs between {as_of} − {lookback_days} days and "
            f"{as_of} − {HORIZON_DAYS} days: too few for {test_cutoffs} test cut-offs"
        )
    examples = make_examples(
        cutoffs,
        residents=frames["residents"],
        registry=registry,
        followups=followups,
        measurements=frames.get("measurements"),
        claims=frames.get("claims"),
        config=config,
        data_end=as_of,
    )
    return train_risk_model(
        examples,
        split_date=cutoffs[-test_cutoffs],
        embargo_days=embargo_days,
        params=params,
        refit=refit,
    )


# --------------------------------------------------------------------------------------
# Persistence and scoring
# --------------------------------------------------------------------------------------
def save_model(result: RiskModelResult, path: str | Path) -> None:
    """Write the model with its metrics and provenance (joblib).

    The file holds a dict: ``model`` (the Pipeline), ``metrics``, ``features``,
    ``sklearn_version`` (pickles are only guaranteed to load in the same version),
    ``created_at`` (UTC ISO), ``train_cutoffs``, ``test_cutoffs``, ``split_date``,
    ``refit_on_all``, ``horizon_days`` and ``format_version``.
    """
    payload = {
        "format_version": _FORMAT_VERSION,
        "model": result.model,
        "metrics": result.metrics,
        "features": list(result.features),
        "categorical_features": list(CATEGORICAL_FEATURES),
        "sklearn_version": sklearn.__version__,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "train_cutoffs": [d.isoformat() for d in result.train_cutoffs],
        "test_cutoffs": [d.isoformat() for d in result.test_cutoffs],
        "split_date": result.split_date.isoformat(),
        "refit_on_all": result.refit_on_all,
        "horizon_days": HORIZON_DAYS,
    }
    joblib.dump(payload, Path(path))


def load_model(path: str | Path) -> dict[str, Any]:
    """Read a file written by :func:`save_model`.

    Returns
    -------
    dict
        The saved dict (see :func:`save_model`). A scikit-learn version different from
        the one that saved it gives a ``UserWarning`` (scores may differ or fail): retrain.
    """
    payload: dict[str, Any] = joblib.load(Path(path))
    if not isinstance(payload, dict) or "model" not in payload:
        raise ValueError(f"{path} is not a risk model file")
    if payload.get("sklearn_version") != sklearn.__version__:
        warnings.warn(
            f"risk model saved with scikit-learn {payload.get('sklearn_version')}, "
            f"running {sklearn.__version__}: retrain the model",
            UserWarning,
            stacklevel=2,
        )
    return payload


def score(
    model: Pipeline | RiskModelResult | Mapping[str, Any], features_frame: pd.DataFrame
) -> pd.Series:
    """Risk scores of the pairs of a features frame (one cut-off).

    Parameters
    ----------
    model : Pipeline, RiskModelResult or the dict of :func:`load_model`
    features_frame : DataFrame
        Output of :func:`current_features` (or one cut-off of :func:`make_examples`).

    Returns
    -------
    Series of float in [0, 1]
        Indexed by (resident_id, disease), named ``risk_score`` — the ``risk`` argument
        of :func:`geo.followup.push_list`.
    """
    features: Sequence[str] = FEATURES
    if isinstance(model, RiskModelResult):
        est, features = model.model, model.features
    elif isinstance(model, Mapping):
        est, features = model["model"], model.get("features", FEATURES)
    else:
        est = model
    if features_frame.duplicated(_KEYS).any():
        raise ValueError("features_frame has several rows per (resident_id, disease)")
    index = pd.MultiIndex.from_frame(features_frame[_KEYS].astype("str"), names=_KEYS)
    if features_frame.empty:
        return pd.Series(np.array([], dtype="float64"), index=index, name="risk_score")
    p = est.predict_proba(_design(features_frame, features))[:, 1]
    return pd.Series(p, index=index, name="risk_score")
