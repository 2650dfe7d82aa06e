"""Risk-model training: temporal split, the scikit-learn pipeline, held-out metrics.

See ``docs/risk-model.md`` for the choices.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from geo.risk_examples import (
    make_examples,
)
from geo.risk_features import (
    _DAY,
    CATEGORICAL_FEATURES,
    FEATURES,
    HORIZON_DAYS,
    NUMERIC_FEATURES,
    OUTCOME_COLUMNS,
)
from geo.rules import (
    DEFAULT_RULES,
    DISEASES,
    RulesConfig,
)

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
