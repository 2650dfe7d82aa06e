"""Tests of geo.risk_model: examples and labels, leakage, temporal split, training, persistence.

Labels and features of the hand-built histories are worked out by hand from RULES.md
("Risk score") and the definitions in ``docs/risk-model.md``, never by calling the code
under test. Cut-off T = 2026-03-31 unless stated, so T+90 = 2026-06-29, T+91 = 2026-06-30
and the 365 days up to T start on 2025-04-01, the 90 days up to T on 2026-01-01.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from geo.risk import fallback_risk
from geo.risk_model import (
    FEATURES,
    OUTCOME_COLUMNS,
    RiskModelResult,
    current_features,
    load_model,
    make_examples,
    monthly_cutoffs,
    save_model,
    score,
    train_from_frames,
    train_risk_model,
)

T = dt.date(2026, 3, 31)
END = dt.date(2026, 11, 15)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # The booster's OpenMP threads thrash on a loaded CI box; one thread is fastest here.
    with threadpool_limits(limits=1):
        yield


# --------------------------------------------------------------------------------------
# Frame builders (defaults: an active man born 1970 managed for htn since 2024-01-01)
# --------------------------------------------------------------------------------------
def residents(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {"sex": 1, "birth_date": "1970-01-01", "status": "active"}
    df = pd.DataFrame([{**base, **r} for r in rows])
    df["birth_date"] = pd.to_datetime(df["birth_date"])
    return df


def registry(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {"disease": "htn", "enrolled_date": "2024-01-01", "team_id": "T1", "closed_date": None}
    df = pd.DataFrame([{**base, **r} for r in rows])
    for c in ("enrolled_date", "closed_date"):
        df[c] = pd.to_datetime(df[c])
    return df


def followups(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {
        "disease": "htn",
        "sbp": 130.0,
        "dbp": 80.0,
        "fasting_glucose": np.nan,
        "adherence": "regular",
        "adverse_reaction": False,
        "classification": None,
        "referred": False,
    }
    df = pd.DataFrame([{**base, **r} for r in rows])
    df["followup_id"] = [f"F{i:04d}" for i in range(len(df))]
    df["visit_date"] = pd.to_datetime(df["visit_date"])
    return df


def measurements(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {"sbp": 130.0, "dbp": 80.0, "glucose": np.nan}
    df = pd.DataFrame([{**base, **r} for r in rows])
    df["measurement_id"] = [f"M{i:04d}" for i in range(len(df))]
    # ISO strings with their offset; the frame holds tz-aware instants.
    df["measured_at"] = pd.to_datetime(df["measured_at"], utc=True)
    return df


def claims(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {"visit_type": "outpatient", "discharge_date": None, "icd10": "I10", "total_cost": 0.0}
    df = pd.DataFrame([{**base, **r} for r in rows])
    df["claim_id"] = [f"C{i:04d}" for i in range(len(df))]
    for c in ("visit_date", "discharge_date"):
        df[c] = pd.to_datetime(df[c])
    return df


def row(ex: pd.DataFrame, rid: str, disease: str = "htn") -> pd.Series:
    hit = ex.loc[(ex["resident_id"] == rid) & (ex["disease"] == disease)]
    assert len(hit) == 1, f"{rid}/{disease}: {len(hit)} rows"
    return hit.iloc[0]


# --------------------------------------------------------------------------------------
# Labels by hand
# --------------------------------------------------------------------------------------
@pytest.fixture
def label_frames() -> dict[str, pd.DataFrame]:
    ids = [f"R{i:02d}" for i in range(1, 16)]
    res = residents(*({"resident_id": r} for r in ids))
    reg = registry(
        *({"resident_id": r} for r in ids if r not in ("R11", "R12", "R13")),
        {"resident_id": "R08", "disease": "t2dm"},
        {"resident_id": "R11", "enrolled_date": "2026-04-15"},  # enrolled after T
        {"resident_id": "R12", "closed_date": "2026-03-31"},  # closed on T
        {"resident_id": "R13", "closed_date": "2026-04-01"},  # closed after T
    )
    fu = followups(
        {"resident_id": "R01", "visit_date": "2026-03-01"},
        {"resident_id": "R01", "visit_date": "2026-04-30", "sbp": 160.0},  # next, bad
        {"resident_id": "R02", "visit_date": "2026-03-01"},
        {"resident_id": "R02", "visit_date": "2026-04-30"},  # next visit is fine ...
        {"resident_id": "R02", "visit_date": "2026-05-30", "sbp": 165.0},  # ... this is not
        {"resident_id": "R07", "visit_date": "2026-07-04", "sbp": 170.0},  # T+95
        # T+90 with an adverse reaction and no classification → computed `adverse`.
        {"resident_id": "R14", "visit_date": "2026-06-29", "adverse_reaction": True},
        {"resident_id": "R15", "visit_date": "2026-03-31", "sbp": 170.0},  # ON T
    )
    ms = measurements(
        {"resident_id": "R03", "measured_at": "2026-06-29T10:00:00+08:00", "sbp": 185.0},
        # 17:00 UTC on the 29th is 01:00 on 2026-06-30 in Shanghai: T+91.
        {"resident_id": "R04", "measured_at": "2026-06-29T17:00:00+00:00", "sbp": 185.0},
        {"resident_id": "R08", "measured_at": "2026-04-10T07:00:00+08:00", "glucose": 17.0},
        {"resident_id": "R09", "measured_at": "2026-03-31T09:00:00+08:00", "sbp": 190.0},
    )
    cl = claims(
        {
            "resident_id": "R05",
            "visit_type": "inpatient",
            "visit_date": "2026-05-15",
            "discharge_date": "2026-05-20",
        },
        {"resident_id": "R06", "visit_type": "outpatient", "visit_date": "2026-04-15"},
        {"resident_id": "R06", "visit_type": "emergency", "visit_date": "2026-04-16"},
    )
    return {
        "residents": res,
        "chronic_registry": reg,
        "followups": fu,
        "measurements": ms,
        "claims": cl,
    }


def examples_of(frames: dict[str, pd.DataFrame], dates: list[dt.date], **kw: Any) -> pd.DataFrame:
    return make_examples(
        dates,
        residents=frames["residents"],
        registry=frames["chronic_registry"],
        followups=frames["followups"],
        measurements=frames["measurements"],
        claims=frames["claims"],
        **kw,
    )


def test_labels_by_hand(label_frames: dict[str, pd.DataFrame]) -> None:
    ex = examples_of(label_frames, [T], data_end=END)
    expected = {
        ("R01", "htn"): (True, "visit"),  # next visit T+30 unsatisfactory
        ("R02", "htn"): (False, None),  # next visit fine; only the NEXT one counts
        ("R03", "htn"): (True, "emergency"),  # emergency reading on T+90
        ("R04", "htn"): (False, None),  # emergency reading on T+91 (local date)
        ("R05", "htn"): (True, "inpatient"),  # admitted T+45
        ("R06", "htn"): (False, None),  # outpatient / emergency claims are not admissions
        ("R07", "htn"): (False, None),  # next visit T+95: outside the window
        ("R08", "htn"): (False, None),  # a glucose reading is no htn emergency
        ("R08", "t2dm"): (True, "emergency"),  # glucose 17.0 >= 16.7 on T+10
        ("R09", "htn"): (False, None),  # emergency ON T is history, not outcome
        ("R10", "htn"): (False, None),  # nothing happens
        ("R13", "htn"): (False, None),  # closed after T: still an example on T
        ("R14", "htn"): (True, "visit"),  # next visit on T+90, computed `adverse`
        ("R15", "htn"): (False, None),  # a visit ON T is the last visit, not the next
    }
    got = {(r.resident_id, r.disease): r for r in ex.itertuples()}
    assert set(got) == set(expected)  # R11 (enrolled later) and R12 (closed on T) absent
    for pair, (label, why) in expected.items():
        r = got[pair]
        assert bool(r.label) is label, pair
        for c in OUTCOME_COLUMNS:
            assert bool(getattr(r, c)) is (c == f"outcome_{why}"), (pair, c)


def test_unlabelled_when_window_passes_data_end(label_frames: dict[str, pd.DataFrame]) -> None:
    last_ok = END - dt.timedelta(days=90)  # T+90 == data end: fully observed
    ex = examples_of(label_frames, [T, last_ok, last_ok + dt.timedelta(days=1)], data_end=END)
    by_cut = ex.groupby("cutoff")["label"].apply(lambda s: s.isna().all())
    assert list(by_cut) == [False, False, True]
    assert ex.loc[ex["label"].isna(), OUTCOME_COLUMNS].isna().all().all()


def test_data_end_defaults_to_latest_record(label_frames: dict[str, pd.DataFrame]) -> None:
    # Latest record: R07's visit on 2026-07-04, so T+90 = 2026-06-29 is observed and
    # 2026-04-15 + 90 = 2026-07-14 is not.
    ex = examples_of(label_frames, [T, dt.date(2026, 4, 15)])
    assert ex.loc[ex["cutoff"] == pd.Timestamp(T), "label"].notna().all()
    assert ex.loc[ex["cutoff"] == pd.Timestamp("2026-04-15"), "label"].isna().all()


# --------------------------------------------------------------------------------------
# Features by hand
# --------------------------------------------------------------------------------------
@pytest.fixture
def feature_frames() -> dict[str, pd.DataFrame]:
    res = residents({"resident_id": "F1", "sex": 2, "birth_date": "1956-06-15"})
    reg = registry(
        {"resident_id": "F1", "enrolled_date": "2024-03-31"},
        {"resident_id": "F1", "disease": "t2dm", "enrolled_date": "2025-01-01"},
    )
    fu = followups(
        {"resident_id": "F1", "visit_date": "2025-03-30", "sbp": 138.0, "dbp": 88.0},
        {"resident_id": "F1", "visit_date": "2025-06-01", "sbp": 150.0, "dbp": 95.0},
        {"resident_id": "F1", "visit_date": "2025-09-01", "sbp": 130.0, "dbp": 80.0},
        # 145/85 at 69 meets the 65+ target (< 150 / < 90): satisfactory.
        {"resident_id": "F1", "visit_date": "2025-12-01", "sbp": 145.0, "dbp": 85.0},
        {
            "resident_id": "F1",
            "visit_date": "2026-03-01",
            "sbp": 160.0,
            "dbp": 92.0,
            "adherence": "intermittent",
            "referred": True,
        },
        {"resident_id": "F1", "visit_date": "2026-04-10", "sbp": 200.0},  # after T
    )
    ms = measurements(
        {"resident_id": "F1", "measured_at": "2025-12-31T12:00:00+08:00", "sbp": 200.0},
        {"resident_id": "F1", "measured_at": "2026-01-01T08:00:00+08:00", "sbp": 170.0},
        {"resident_id": "F1", "measured_at": "2026-03-31T23:30:00+08:00", "sbp": 150.0},
        {"resident_id": "F1", "measured_at": "2026-04-01T08:00:00+08:00", "sbp": 210.0},
    )
    cl = claims(
        {"resident_id": "F1", "visit_date": "2025-03-31", "total_cost": 1000.0},  # T−365
        {"resident_id": "F1", "visit_date": "2025-04-01", "total_cost": 100.0},
        {
            "resident_id": "F1",
            "visit_type": "emergency",
            "visit_date": "2026-02-01",
            "total_cost": 300.0,
        },
        {
            "resident_id": "F1",
            "visit_type": "inpatient",
            "visit_date": "2026-01-10",
            "discharge_date": "2026-01-15",
            "total_cost": 5000.0,
        },
        # Admitted before T, discharged after: not settled on T, so not a feature.
        {
            "resident_id": "F1",
            "visit_type": "inpatient",
            "visit_date": "2026-03-25",
            "discharge_date": "2026-04-05",
            "total_cost": 9000.0,
        },
    )
    return {
        "residents": res,
        "chronic_registry": reg,
        "followups": fu,
        "measurements": ms,
        "claims": cl,
    }


def test_features_by_hand(feature_frames: dict[str, pd.DataFrame]) -> None:
    ex = examples_of(feature_frames, [T], data_end=END)
    htn = row(ex, "F1", "htn")
    expected_htn = {
        "sex": "2",
        "age": 69.0,
        "years_enrolled": 730 / 365.25,
        "visits_365d": 4.0,  # 2025-03-30 is before 2025-04-01
        "days_since_last_visit": 30.0,
        "last_sbp": 160.0,
        "last_dbp": 92.0,
        "last_classification": "unsatisfactory",
        "last_adherence": "intermittent",
        "last_referred": 1.0,
        "mean_sbp_last4": (150 + 130 + 145 + 160) / 4,
        "mean_dbp_last4": (95 + 80 + 85 + 92) / 4,
        "fallback_score": 0.5,  # unsat, sat, sat (65+ target), unsat
        "measurements_90d": 2.0,  # 2026-01-01 and T itself
        "max_sbp_90d": 170.0,
        "outpatient_claims_365d": 1.0,
        "emergency_claims_365d": 1.0,
        "inpatient_claims_365d": 1.0,
        "cost_365d": 5400.0,
        "comorbid": 1.0,
    }
    for k, v in expected_htn.items():
        assert htn[k] == pytest.approx(v) if isinstance(v, float) else htn[k] == v, k
    assert np.isnan(htn["last_glucose"])

    t2dm = row(ex, "F1", "t2dm")
    assert t2dm["visits_365d"] == 0.0
    assert np.isnan(t2dm["days_since_last_visit"]) and np.isnan(t2dm["last_referred"])
    assert t2dm["last_classification"] == "none" and t2dm["fallback_score"] == 0.0
    assert t2dm["cost_365d"] == 5400.0  # claims are the resident's, for both diseases
    assert t2dm["years_enrolled"] == pytest.approx(454 / 365.25)


def test_fallback_feature_is_geo_risk_fallback() -> None:
    frames = synthetic_county(n=120, seed=3)
    ex = examples_of(frames, [T], data_end=END)
    key = pd.MultiIndex.from_frame(ex[["resident_id", "disease"]])
    fb = fallback_risk(frames["followups"], T, residents=frames["residents"], pairs=key)
    np.testing.assert_allclose(ex["fallback_score"].to_numpy(), fb.to_numpy())


# --------------------------------------------------------------------------------------
# A synthetic county with a planted signal
# --------------------------------------------------------------------------------------
def synthetic_county(n: int = 400, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Patients with a latent 'poorly controlled' trait that drives BP and admissions.

    Visits every 30–60 days from 2025-01-01 to END; poorly controlled patients (40%)
    read ~150/92, the others ~128/78; poorly controlled patients are also admitted more.
    """
    rng = np.random.default_rng(seed)
    ids = np.array([f"S{i:04d}" for i in range(n)])
    poor = rng.random(n) < 0.4
    birth = pd.Timestamp("1945-01-01") + pd.to_timedelta(rng.integers(0, 25 * 365, n), "D")
    res = pd.DataFrame(
        {
            "resident_id": ids,
            "sex": rng.integers(1, 3, n),
            "birth_date": birth,
            "status": np.where(rng.random(n) < 0.03, "moved", "active"),
        }
    )
    reg = pd.DataFrame(
        {
            "resident_id": ids,
            "disease": "htn",
            "enrolled_date": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 300, n), "D"),
            "closed_date": pd.NaT,
        }
    )
    rows = []
    start, end = pd.Timestamp("2025-01-01"), pd.Timestamp(END)
    for i in range(n):
        day = start + pd.Timedelta(days=int(rng.integers(0, 45)))
        while day <= end:
            mu = (150.0, 92.0) if poor[i] else (128.0, 78.0)
            rows.append((ids[i], day, rng.normal(mu[0], 9.0), rng.normal(mu[1], 5.0)))
            day += pd.Timedelta(days=int(rng.integers(30, 61)))
    fu = pd.DataFrame(rows, columns=["resident_id", "visit_date", "sbp", "dbp"])
    fu["disease"] = "htn"
    fu["followup_id"] = [f"F{i:06d}" for i in range(len(fu))]
    fu["classification"] = None
    fu["adherence"] = np.where(rng.random(len(fu)) < 0.2, "intermittent", "regular")
    fu["referred"] = False
    fu["adverse_reaction"] = False
    fu["fasting_glucose"] = np.nan

    n_claims = 3 * n
    who = rng.integers(0, n, n_claims)
    inpatient = rng.random(n_claims) < np.where(poor[who], 0.15, 0.03)
    visit = start + pd.to_timedelta(rng.integers(0, (end - start).days, n_claims), "D")
    cl = pd.DataFrame(
        {
            "claim_id": [f"C{i:06d}" for i in range(n_claims)],
            "resident_id": ids[who],
            "visit_date": visit,
            "discharge_date": np.where(inpatient, visit + pd.Timedelta(days=5), pd.NaT),
            "visit_type": np.where(inpatient, "inpatient", "outpatient"),
            "icd10": "I10",
            "total_cost": np.where(inpatient, 8000.0, 150.0),
        }
    )
    cl["discharge_date"] = pd.to_datetime(cl["discharge_date"])
    ms = pd.DataFrame(
        {
            "measurement_id": ["M1", "M2"],
            "resident_id": ids[:2],
            "measured_at": pd.to_datetime(["2026-02-01T08:00:00+08:00"] * 2, utc=True),
            "sbp": [182.0, 135.0],
            "dbp": [95.0, 85.0],
            "glucose": [np.nan, np.nan],
        }
    )
    return {
        "residents": res,
        "chronic_registry": reg,
        "followups": fu,
        "measurements": ms,
        "claims": cl,
    }


@pytest.fixture(scope="module")
def county() -> dict[str, pd.DataFrame]:
    return synthetic_county()


@pytest.fixture(scope="module")
def county_examples(county: dict[str, pd.DataFrame]) -> pd.DataFrame:
    cuts = [dt.date(2025, m, 28) for m in range(3, 13)] + [dt.date(2026, m, 28) for m in (1, 9)]
    return examples_of(county, cuts, data_end=END)


SPLIT = dt.date(2025, 10, 1)
#: Fewer boosting rounds where only the bookkeeping is under test.
QUICK = {"max_iter": 40}


@pytest.fixture(scope="module")
def trained(county_examples: pd.DataFrame) -> RiskModelResult:
    with threadpool_limits(limits=1):
        return train_risk_model(county_examples, split_date=SPLIT)  # 90-day embargo


# --------------------------------------------------------------------------------------
# No leakage
# --------------------------------------------------------------------------------------
def test_features_ignore_data_after_cutoff(county: dict[str, pd.DataFrame]) -> None:
    before = examples_of(county, [T], data_end=END)
    rng = np.random.default_rng(7)
    after = pd.Timestamp(T) + pd.Timedelta(days=1)
    fu = county["followups"]
    fu = fu.loc[fu["visit_date"] <= pd.Timestamp(T)]  # drop every later visit ...
    extra = fu.sample(200, random_state=1).assign(  # ... and add different ones
        visit_date=after + pd.to_timedelta(rng.integers(0, 200, 200), "D"),
        sbp=rng.normal(190, 5, 200),
        followup_id=[f"X{i}" for i in range(200)],
    )
    cl = county["claims"].copy()
    later = cl["visit_date"] > pd.Timestamp(T)
    cl.loc[later, "total_cost"] *= 10
    cl.loc[later, "visit_type"] = "inpatient"
    cl = pd.concat(
        [
            cl,
            claims(  # an admission open on T is settled after T
                {
                    "resident_id": "S0000",
                    "visit_type": "inpatient",
                    "visit_date": "2026-03-20",
                    "discharge_date": "2026-04-02",
                    "total_cost": 7.0,
                }
            ),
        ],
        ignore_index=True,
    )
    ms = pd.concat(
        [
            county["measurements"],
            measurements({"resident_id": "S0003", "measured_at": "2026-04-01T00:30:00+08:00"}),
        ],
        ignore_index=True,
    )
    reg = county["chronic_registry"].copy()
    reg.loc[:50, "closed_date"] = pd.Timestamp("2026-05-01")  # closed after T
    changed = make_examples(
        [T],
        residents=county["residents"],
        registry=reg,
        followups=pd.concat([fu, extra], ignore_index=True),
        measurements=ms,
        claims=cl,
        data_end=END,
    )
    cols = ["resident_id", "disease", "cutoff", *FEATURES]
    pd.testing.assert_frame_equal(before[cols], changed[cols])
    assert not before["label"].equals(changed["label"])  # the future did change


def test_current_features_match_examples(county: dict[str, pd.DataFrame]) -> None:
    ex = examples_of(county, [T], data_end=END)
    live = current_features(
        T,
        residents=county["residents"],
        registry=county["chronic_registry"],
        followups=county["followups"],
        measurements=county["measurements"],
        claims=county["claims"],
    )
    assert "label" not in live.columns
    active = set(county["residents"].loc[county["residents"]["status"] == "active", "resident_id"])
    want = ex.loc[ex["resident_id"].isin(active)].reset_index(drop=True)
    pd.testing.assert_frame_equal(live, want[live.columns.tolist()])


# --------------------------------------------------------------------------------------
# Temporal split, training, metrics
# --------------------------------------------------------------------------------------
def test_temporal_split_respects_dates(
    county_examples: pd.DataFrame, trained: RiskModelResult
) -> None:
    split = SPLIT
    labelled = county_examples.loc[county_examples["label"].notna()]
    cut = labelled["cutoff"].dt.date

    res = trained
    assert res.train_cutoffs and all(d + dt.timedelta(days=90) < split for d in res.train_cutoffs)
    assert res.test_cutoffs and all(d >= split for d in res.test_cutoffs)
    assert res.metrics["n_train"] == int((cut < dt.date(2025, 7, 3)).sum())
    assert res.metrics["n_test"] == int((cut >= split).sum())
    # 2026-09-28 has no label (T+90 > END): in neither set.
    assert dt.date(2026, 9, 28) not in res.test_cutoffs
    assert res.metrics["n_unlabelled"] == int(county_examples["label"].isna().sum()) > 0

    plain = train_risk_model(county_examples, split_date=split, embargo_days=0, params=QUICK)
    assert max(plain.train_cutoffs) == dt.date(2025, 9, 28) < split
    assert plain.metrics["n_train"] == int((cut < split).sum())


def test_planted_signal_is_learned(county_examples: pd.DataFrame, trained: RiskModelResult) -> None:
    m = trained.metrics
    test = county_examples.loc[
        county_examples["label"].notna() & (county_examples["cutoff"] >= "2025-10-01")
    ]
    y = test["label"].astype(bool).to_numpy()
    random_auc = roc_auc_score(y, np.random.default_rng(0).random(len(y)))
    assert m["model"]["roc_auc"] > 0.7
    assert m["model"]["roc_auc"] > random_auc + 0.15
    # Both scores are evaluated on the same rows, with every metric.
    for who in ("model", "fallback"):
        assert set(m[who]) >= {"roc_auc", "brier", "log_loss", "calibration", "ece"}
        table = m[who]["calibration"]
        assert len(table) == 10 and sum(r["n"] for r in table) == m["n_test"] == len(y)
    assert 0 < m["positive_rate_test"] < 1 and 0 < m["positive_rate_train"] < 1
    assert m["model"]["brier"] < m["brier_base_rate"]


def test_single_class_training_is_refused(county_examples: pd.DataFrame) -> None:
    ex = county_examples.copy()
    ex["label"] = pd.array([False] * len(ex), dtype="boolean")
    with pytest.raises(ValueError, match="single class"):
        train_risk_model(ex, split_date=SPLIT)
    with pytest.raises(ValueError, match="empty split"):
        train_risk_model(county_examples, split_date=dt.date(2025, 1, 1))


def test_train_from_frames_chooses_monthly_cutoffs(county: dict[str, pd.DataFrame]) -> None:
    cuts = monthly_cutoffs(END)
    assert cuts[0] == dt.date(2025, 11, 30) and cuts[-1] == dt.date(2026, 7, 31)
    assert len(cuts) == 9  # month-ends from END − 365 to END − 90
    res = train_from_frames(county, END, params=QUICK)
    assert res.split_date == dt.date(2026, 5, 31)
    assert res.test_cutoffs == cuts[-3:]
    assert res.train_cutoffs == cuts[:4]  # 2026-03-31 and 04-30 are embargoed
    assert res.refit_on_all and res.evaluation_model is not res.model
    assert res.metrics["n_refit"] > res.metrics["n_train"] + res.metrics["n_test"]


# --------------------------------------------------------------------------------------
# Scoring and persistence
# --------------------------------------------------------------------------------------
def test_save_load_round_trip(
    county_examples: pd.DataFrame, trained: RiskModelResult, tmp_path: Path
) -> None:
    res = trained
    live = county_examples.loc[county_examples["cutoff"] == "2026-09-28"]
    first = score(res, live)
    assert first.index.names == ["resident_id", "disease"] and first.name == "risk_score"
    assert len(first) == len(live) and first.between(0, 1).all()

    path = tmp_path / "risk.joblib"
    save_model(res, path)
    loaded = load_model(path)
    assert loaded["features"] == FEATURES and loaded["sklearn_version"] == sklearn.__version__
    assert loaded["metrics"] == res.metrics and loaded["split_date"] == "2025-10-01"
    np.testing.assert_array_equal(score(loaded, live).to_numpy(), first.to_numpy())
    np.testing.assert_array_equal(score(loaded["model"], live).to_numpy(), first.to_numpy())

    with pytest.raises(ValueError, match="several rows"):
        score(res, county_examples)
