"""Risk-model features, part 2: snapshots at a cut-off, their labels, training examples.

Features are computed from data dated ``<= T`` only and labels from ``T+1 … T+90``
(``docs/risk-model.md``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from geo.risk import fallback_scores, order_and_rank
from geo.risk_features import (
    _KEYS,
    _KIND_CODES,
    _N_DIS,
    _NON_KEY_FEATURES,
    _RECENT_DAYS,
    _YEAR_DAYS,
    CATEGORICAL_FEATURES,
    HORIZON_DAYS,
    NUMERIC_FEATURES,
    OUTCOME_COLUMNS,
    _at,
    _day,
    _prepare,
    _Prepared,
)
from geo.rules import (
    DEFAULT_RULES,
    DISEASES,
    RulesConfig,
    age_on,
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
