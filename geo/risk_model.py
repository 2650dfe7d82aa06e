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
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from geo.risk_examples import (
    current_features,
    make_examples,
)
from geo.risk_features import (
    _KEYS,
    CATEGORICAL_FEATURES,
    FEATURES,
    HORIZON_DAYS,
    NUMERIC_FEATURES,
    OUTCOME_COLUMNS,
)
from geo.risk_training import (
    DEFAULT_PARAMS,
    RiskModelResult,
    _design,
    monthly_cutoffs,
    train_from_frames,
    train_risk_model,
)

__all__ = [
    "CATEGORICAL_FEATURES",
    "DEFAULT_PARAMS",
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

_FORMAT_VERSION = 1
#: Up to this many rows are scored on one thread (see :func:`score`).
SMALL_BATCH_ROWS = 256


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
    design = _design(features_frame, features)
    if len(design) <= SMALL_BATCH_ROWS:
        # A few rows (a list spliced after one visit): OpenMP's threads cost more to wake
        # than the trees cost to walk, the more so on a busy server.
        with threadpool_limits(limits=1, user_api="openmp"):
            p = est.predict_proba(design)[:, 1]
    else:
        p = est.predict_proba(design)[:, 1]
    return pd.Series(p, index=index, name="risk_score")
