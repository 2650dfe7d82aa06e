"""Risk score of a managed patient (the push list's second sort key).

RULES.md: the score is the probability, from a model trained on the county's own history,
that the patient's next visit is uncontrolled or that an emergency reading or inpatient
admission happens within 90 days. Until a model is trained the score is the *fallback*: the
share of the patient's last four visits that were not satisfactory. Only the fallback lives
here for now, with the two primitives it shares with :mod:`geo.followup` (filling missing
visit classifications, ordering visits per patient) so both read "the last visits"
identically.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from geo.rules import DEFAULT_RULES, DISEASES, RulesConfig, age_on, classify_visit, not_satisfactory


def _column(df: pd.DataFrame, name: str) -> pd.Series | None:
    return df[name] if name in df.columns else None


def filled_classification(
    followups: pd.DataFrame,
    birth_date: pd.Series | None = None,
    config: RulesConfig = DEFAULT_RULES,
) -> np.ndarray:
    """Visit classifications, computing the missing ones with :func:`geo.rules.classify_visit`.

    frames.md has ``classification`` filled at ingestion; rows where it is still missing (or
    empty) are classified from their values, at the age on the visit date (the 65+ blood
    pressure target), so the tasks never depend on who filled the column.

    Parameters
    ----------
    followups : DataFrame
        Canonical followups rows (disease, visit_date, sbp, dbp, fasting_glucose,
        adverse_reaction, classification).
    birth_date : Series, optional
        Birth date of each row's resident, aligned with ``followups``. Without it the age
        is unknown and the under-65 target applies.
    config : RulesConfig

    Returns
    -------
    ndarray of object
        One classification per row.
    """
    given = _column(followups, "classification")
    if given is None:
        out = np.full(len(followups), None, dtype=object)
        missing = np.ones(len(followups), dtype=bool)
    else:
        out = given.astype(object).where(given.notna(), None).to_numpy(dtype=object).copy()
        missing = (given.isna() | (given.astype("str").str.strip() == "")).to_numpy()
    if not missing.any():
        return out
    sub = followups.loc[missing]
    if birth_date is not None:
        age = age_on(
            pd.Series(birth_date.to_numpy()[missing], index=sub.index),
            pd.to_datetime(sub["visit_date"]),
        )
    else:
        age = pd.Series(pd.NA, index=sub.index, dtype="Int64")
    out[missing] = classify_visit(
        sub["disease"].astype("str"),
        age,
        _column(sub, "sbp"),
        _column(sub, "dbp"),
        _column(sub, "fasting_glucose"),
        _column(sub, "adverse_reaction"),
        targets=config.targets,
    ).to_numpy()
    return out


def order_and_rank(
    keys: np.ndarray, days: np.ndarray, tiebreak: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Order visits by (key, day, tiebreak) and rank each from its key's latest visit.

    Parameters
    ----------
    keys : ndarray of int
        Patient × disease key per visit.
    days : ndarray of float
        Visit day numbers.
    tiebreak : ndarray, optional
        Orders visits of one key on one day (``followup_id``); only those tied rows are
        compared, so the (string) tiebreak costs nothing on clean data. Without it tied rows
        keep their input order.

    Returns
    -------
    order : ndarray of int
        Positions that sort the visits.
    rank : ndarray of int
        For each sorted row, 0 for its key's last visit, 1 for the one before, ...
    """
    n = len(keys)
    if n and not np.isnan(days).any() and np.abs(days).max() < (1 << 20):
        # One int64 argsort of (key, day) packed together is several times faster than
        # lexsort over two keys on 1.5M visits; stable, so ties keep input order.
        packed = (keys.astype(np.int64) << 21) + (days.astype(np.int64) + (1 << 20))
        order = np.argsort(packed, kind="stable")
    else:
        order = np.lexsort((days, keys))
    if tiebreak is not None and n > 1:
        sk, sd = keys[order], days[order]
        tied = (sk[1:] == sk[:-1]) & (sd[1:] == sd[:-1])
        if tied.any():
            in_tie = np.zeros(n, dtype=bool)
            in_tie[1:] |= tied
            in_tie[:-1] |= tied
            sub = order[in_tie]
            tb_rank = np.zeros(n, dtype=np.int64)
            tb_rank[sub] = pd.Series(tiebreak[sub]).rank(method="first").to_numpy(dtype=np.int64)
            order = np.lexsort((tb_rank, days, keys))
    sk = keys[order]
    new = np.r_[True, sk[1:] != sk[:-1]] if n else np.zeros(0, dtype=bool)
    group = np.cumsum(new) - 1
    ends = np.r_[np.flatnonzero(new)[1:] - 1, n - 1] if n else np.zeros(0, dtype=np.int64)
    rank = ends[group] - np.arange(n)
    return order, rank


def fallback_scores(
    sorted_keys: np.ndarray,
    rank: np.ndarray,
    sorted_bad: np.ndarray,
    n_keys: int,
    config: RulesConfig = DEFAULT_RULES,
) -> np.ndarray:
    """Fallback score per key from ranked visits (see :func:`fallback_risk`).

    Parameters
    ----------
    sorted_keys, rank, sorted_bad : ndarray
        Key, rank from last and "not satisfactory" flag of each visit in sorted order
        (:func:`order_and_rank`).
    n_keys : int
        Keys are ``0 .. n_keys - 1``.
    config : RulesConfig

    Returns
    -------
    ndarray of float
        Share of not-satisfactory visits among each key's last four; 0.0 without visits.
    """
    recent = rank < config.followup.risk_fallback_visits
    k = sorted_keys[recent]
    n = np.bincount(k, minlength=n_keys).astype("float64")
    bad = np.bincount(k, weights=sorted_bad[recent].astype("float64"), minlength=n_keys)
    return np.divide(bad, n, out=np.zeros(n_keys), where=n > 0)


def fallback_risk(
    followups: pd.DataFrame,
    as_of: dt.date,
    config: RulesConfig = DEFAULT_RULES,
    *,
    residents: pd.DataFrame | None = None,
    pairs: pd.MultiIndex | None = None,
) -> pd.Series:
    """Fallback risk score: share of the last four visits that were not satisfactory.

    For each resident and disease, the last ``config.followup.risk_fallback_visits`` (4)
    followups with ``visit_date <= as_of`` are taken (fewer when the patient has fewer;
    same-day visits ordered by ``followup_id``); the score is the share of them classified
    ``unsatisfactory``, ``adverse`` or ``complication``. A patient with no visit scores 0.0:
    with no history there is no evidence of poor control, and their task (first
    follow-up) already flags them.

    Parameters
    ----------
    followups : DataFrame
        Canonical followups frame.
    as_of : date
        The day ``D``.
    config : RulesConfig
    residents : DataFrame, optional
        resident_id and birth_date, used only to classify visits without a
        classification (see :func:`filled_classification`).
    pairs : MultiIndex of (resident_id, disease), optional
        When given the result is reindexed to these pairs, those without visits scoring
        0.0. Without it, only pairs with at least one visit appear.

    Returns
    -------
    Series of float in [0, 1]
        Indexed by (resident_id, disease), named ``risk_score``.
    """
    d = pd.Timestamp(as_of)
    vd = pd.to_datetime(followups["visit_date"], errors="coerce").dt.normalize()
    keep = (followups["disease"].isin(DISEASES) & (vd <= d)).to_numpy()
    fu = followups.loc[keep]
    birth = None
    if residents is not None and "birth_date" in residents.columns:
        lookup = residents.drop_duplicates("resident_id", keep="last").set_index("resident_id")
        birth = fu["resident_id"].map(pd.to_datetime(lookup["birth_date"]))
    cls = filled_classification(fu, birth, config)
    codes, uniques = pd.factorize(fu["resident_id"].astype("str"))
    dis = (fu["disease"].to_numpy() == DISEASES[1]).astype(np.int64)
    keys = codes.astype(np.int64) * 2 + dis
    days = vd.to_numpy()[keep].astype("datetime64[D]").astype("float64")
    fid = fu["followup_id"].to_numpy() if "followup_id" in fu.columns else None
    order, rank = order_and_rank(keys, days, fid)
    bad = not_satisfactory(pd.Series(cls)).to_numpy()
    score = fallback_scores(keys[order], rank, bad[order], 2 * len(uniques), config)
    present = np.unique(keys)
    index = pd.MultiIndex.from_arrays(
        [np.asarray(uniques)[present // 2], np.asarray(DISEASES)[present % 2]],
        names=["resident_id", "disease"],
    )
    out = pd.Series(score[present], index=index, name="risk_score")
    if pairs is not None:
        out = out.reindex(pairs, fill_value=0.0)
        out.index.names = ["resident_id", "disease"]
    return out
