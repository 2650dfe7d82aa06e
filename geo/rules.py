"""Domain rules shared by every computation: thresholds, targets and the primitive predicates.

Every number here is a default of ``shared/RULES.md`` (after the national basic public-health
service specification, 3rd edition). A deployment changes them through :class:`RulesConfig`
(``service.settings.Settings.rules``); nothing in ``geo/`` reads the environment.

The predicates are vectorised over pandas Series so that indicators, follow-up tasks and the
risk model apply exactly the same definition of "controlled" and "emergency" to millions of
rows; the scalar forms exist for the phone page and single measurements.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, cast

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from geo.coverage_config import CoverageConfig
from geo.vocabulary import DISEASE_TERMS, codes

Disease = Literal["htn", "t2dm"]
DISEASES: tuple[Disease, ...] = cast(tuple[Disease, ...], codes(DISEASE_TERMS))

#: Visit classifications that count as "not satisfactory" (RULES.md, follow-up tasks).
NOT_SATISFACTORY = frozenset({"unsatisfactory", "adverse", "complication"})

#: Facility types whose claims are primary care (基层).
PRIMARY_FACILITY_TYPES = frozenset(
    {"township_hc", "community_hc", "village_clinic", "community_station"}
)

#: Outpatient claim types (RULES.md conventions).
OUTPATIENT_VISIT_TYPES = frozenset({"outpatient", "chronic_outpatient"})


class TargetsConfig(BaseModel):
    """Blood-pressure and glucose targets (管理人群控制目标)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    htn_sbp_below: float = 140.0
    """Hypertension controlled: SBP below this (mmHg)."""
    htn_dbp_below: float = 90.0
    """Hypertension controlled: DBP below this (mmHg)."""
    elderly_age: int = Field(
        65, description="From this age on the visit date the elderly target applies."
    )
    elderly_sbp_below: float = 150.0
    """Elderly target: SBP below this (mmHg)."""
    elderly_dbp_below: float = 90.0
    """Elderly target: DBP below this (mmHg)."""
    t2dm_fasting_glucose_below: float = 7.0
    """Type 2 diabetes controlled: fasting glucose below this (mmol/L)."""


class EmergencyConfig(BaseModel):
    """Emergency-referral readings (紧急转诊指征)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    sbp_at_least: float = 180.0
    """Emergency reading: SBP at or above (mmHg)."""
    dbp_at_least: float = 110.0
    """Emergency reading: DBP at or above (mmHg)."""
    glucose_at_least: float = 16.7
    """Emergency reading (t2dm): glucose at or above (mmol/L)."""
    glucose_at_most: float = 3.9
    """Emergency reading (t2dm): glucose at or below (mmol/L)."""


class FollowupConfig(BaseModel):
    """Due-date offsets and windows of the daily follow-up tasks."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    post_discharge_window_days: int = 30
    """Inpatient discharges within this many days before D open a post_discharge task."""
    post_discharge_due_days: int = 7
    """post_discharge is due this many days after discharge."""
    uncontrolled_recheck_days: int = 14
    """uncontrolled_recheck is due this many days after the last visit."""
    first_followup_days: int = 14
    """first_followup is due this many days after enrolment."""
    routine_interval_days: int = 90
    """routine_followup is due this long after the last visit when it names no next date."""
    routine_overdue_yellow_days: int = Field(
        30, description="A routine task overdue by more than this many days turns yellow."
    )
    case_finding_window_days: int = 365
    """Case finding looks at claims in this many days up to D."""
    case_finding_min_outpatient_dates: int = 2
    """Case finding needs outpatient claims on at least this many different dates."""
    #: ICD-10 ranges (inclusive, by 3-character category) of the post-discharge rule.
    post_discharge_icd10: tuple[tuple[str, str], ...] = (
        ("I10", "I15"),
        ("E10", "E14"),
        ("I20", "I25"),
        ("I60", "I64"),
    )
    """Main diagnoses (ICD-10 category ranges) of a post-discharge follow-up."""
    #: ICD-10 ranges that identify each disease for case finding.
    case_finding_icd10: dict[str, tuple[tuple[str, str], ...]] = {
        "htn": (("I10", "I15"),),
        "t2dm": (("E11", "E11"),),
    }
    """ICD-10 ranges that identify each disease for case finding."""
    risk_fallback_visits: int = Field(4, description="Visits in the fallback risk score.")


class IndicatorConfig(BaseModel):
    """Indicator definitions: prevalence estimates, windows, standard-management visit count."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    window_days: int = 365
    """Indicator window W: the days ending D."""
    htn_prevalence: float = Field(0.275, description="Estimated htn prevalence among adults 18+.")
    t2dm_prevalence: float = Field(0.119, description="Estimated t2dm prevalence among adults 18+.")
    standard_min_visits: int = 4
    """Visits in W for standard management (prorated for shorter enrolment)."""
    overdue_days: int = 30
    """followup_overdue_rate counts open tasks overdue by more than this."""
    key_population_age: int = 65
    """Key population for signing: aged at least this (or managed for htn/t2dm)."""
    elderly_vax_age: int = 65
    """elderly_flu_vax_rate counts residents at least this old."""
    flu_season_start_month: int = 9
    """Influenza season starts on this month ..."""
    flu_season_start_day: int = 1
    """... and day (season runs to the day before, a year later)."""
    suppression_k: int = Field(10, description="Small-number threshold (denominator and count).")
    #: Grid health index components and weights (default equal). Component names are
    #: indicators; ``1-followup_overdue_rate`` is the complement of the overdue rate.
    health_index_weights: dict[str, float] = {
        "htn_standard_rate": 1.0,
        "htn_control_rate": 1.0,
        "t2dm_standard_rate": 1.0,
        "t2dm_control_rate": 1.0,
        "1-followup_overdue_rate": 1.0,
        "key_pop_signing_rate": 1.0,
        "elderly_flu_vax_rate": 1.0,
    }
    """Grid health index components and their weights (default equal)."""


class HotspotConfig(BaseModel):
    """Hotspot method settings (EB smoothing, Gi*, BH FDR)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    h3_resolution: int = 8
    """H3 resolution of cell hotspots."""
    fdr: float = 0.05
    """Benjamini–Hochberg false discovery rate."""
    permutations: int = 9999
    """Conditional permutations for the second (pseudo) p-value."""
    seed: int = 12345
    """Seed of the permutations (results are reproducible)."""


class SurveillanceConfig(BaseModel):
    """Infectious-disease early warning (EARS and the space-time permutation scan)."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    c1_threshold: float = 3.0
    """EARS C1 alerts above this statistic."""
    c2_threshold: float = 3.0
    """EARS C2 alerts above this statistic."""
    c3_threshold: float = 2.0
    """EARS C3 alerts above this statistic."""
    sd_floor: float = 0.5
    """Floor of the EARS baseline standard deviation."""
    scan_h3_resolution: int = 8
    """H3 resolution of the space-time scan."""
    scan_study_days: int = 365
    """Study period of the scan: the days ending D."""
    scan_max_days: int = 7
    """Longest cylinder (days) of the prospective scan."""
    scan_max_population_share: float = 0.5
    """Largest circle: this share of the cases."""
    scan_replicates: int = 999
    """Monte Carlo replicates of the scan."""
    scan_alpha: float = 0.05
    """Clusters with p below this are alerts."""
    scan_seed: int = 20240917
    """Seed of the scan's Monte Carlo replicates (results are reproducible)."""
    ears_report_days: int = 7
    """EARS alerts are evaluated on each of this many days ending D."""
    risk_recent_days: int = 7
    """Risk of spread: a cell's recent case rate counts onsets in this many days ending D."""
    risk_min_cases: int = 2
    """Risk of spread: a cell's rate counts only from this many recent cases on."""
    risk_rate_reference_per_1000: float = 5.0
    """Risk of spread: a recent rate (per 1,000 residents) at or above this scores 1."""
    risk_rate_weight: float = 0.5
    """Risk of spread: weight of the recent-rate component."""
    risk_mobility_weight: float = 0.5
    """Risk of spread: weight of the inflow-from-alert-cells component."""
    risk_mobility_days: int = 7
    """Risk of spread: mobility hours of this many days ending D (or the last delivered day)."""
    risk_heat_decay_km: float = 2.0
    """Risk of spread without OD flows: distance decay (km) of the heat of alert cells."""
    risk_threshold: float = 0.5
    """A cell is at risk when its score reaches this (alert cells always are)."""
    vaccination_lead_days: int = 14
    """Vaccination targets are to be reached within this many days."""
    vaccination_age: int = 65
    """Vaccination targets: residents at least this old ..."""
    vaccination_chronic_age: int = 60
    """... and managed htn/t2dm patients at least this old."""


class RulesConfig(BaseModel):
    """All domain thresholds in one object; defaults are exactly those of RULES.md."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    timezone: str = "Asia/Shanghai"
    """Local time zone of dates (a measurement's date is its local date)."""
    targets: TargetsConfig = TargetsConfig()
    """Blood-pressure and glucose targets."""
    emergency: EmergencyConfig = EmergencyConfig()
    """Emergency-referral readings."""
    followup: FollowupConfig = FollowupConfig()
    """Follow-up task rules."""
    indicators: IndicatorConfig = IndicatorConfig()
    """Indicator definitions and suppression."""
    hotspots: HotspotConfig = HotspotConfig()
    """Hotspot method."""
    surveillance: SurveillanceConfig = SurveillanceConfig()
    """Infectious-disease early warning."""
    coverage: CoverageConfig = CoverageConfig()
    """Coverage and access."""


DEFAULT_RULES = RulesConfig()


# --------------------------------------------------------------------------------------
# Dates and ages
# --------------------------------------------------------------------------------------
def age_on(birth_date: pd.Series, on: pd.Series | dt.date) -> pd.Series:
    """Age in completed years on a date (vectorised).

    Parameters
    ----------
    birth_date : Series of datetime64 or date
        Birth dates.
    on : Series or date
        The date(s) on which to take the age; a Series is aligned with ``birth_date``.

    Returns
    -------
    Series of int
        Completed years; NA where a date is missing.
    """
    b = pd.to_datetime(birth_date)
    o = pd.to_datetime(on) if isinstance(on, pd.Series) else pd.Timestamp(on)
    oy: pd.Series | int
    om: pd.Series | int
    od: pd.Series | int
    if isinstance(o, pd.Series):
        oy, om, od = o.dt.year, o.dt.month, o.dt.day
    else:
        oy, om, od = o.year, o.month, o.day
    years = oy - b.dt.year
    before_birthday = (om < b.dt.month) | ((om == b.dt.month) & (od < b.dt.day))
    return (years - before_birthday.astype("int64")).astype("Int64")


def age_on_scalar(birth_date: dt.date, on: dt.date) -> int:
    """Age in completed years on ``on`` (scalar form of :func:`age_on`)."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def flu_season_start(on: dt.date, config: IndicatorConfig = DEFAULT_RULES.indicators) -> dt.date:
    """First day of the influenza season (default Sept 1 – Aug 31) that contains ``on``."""
    start = dt.date(on.year, config.flu_season_start_month, config.flu_season_start_day)
    return start if on >= start else start.replace(year=on.year - 1)


# --------------------------------------------------------------------------------------
# Targets, emergencies, classification
# --------------------------------------------------------------------------------------
def _num(s: pd.Series | None, index: pd.Index) -> pd.Series:
    if s is None:
        return pd.Series(np.nan, index=index, dtype="float64")
    return pd.to_numeric(s, errors="coerce").astype("float64")


def meets_target(
    disease: pd.Series,
    age: pd.Series,
    sbp: pd.Series | None,
    dbp: pd.Series | None,
    fasting_glucose: pd.Series | None,
    targets: TargetsConfig = DEFAULT_RULES.targets,
) -> pd.Series:
    """Whether a visit meets its disease's control target (vectorised).

    Hypertension: SBP < 140 and DBP < 90 mmHg, or SBP < 150 and DBP < 90 from age 65 on the
    visit date. Type 2 diabetes: fasting glucose < 7.0 mmol/L. A visit without the needed
    values does not meet the target (it cannot be shown to).

    Parameters
    ----------
    disease : Series of {"htn", "t2dm"}
    age : Series of int
        Age in completed years on the visit date.
    sbp, dbp, fasting_glucose : Series or None
        Measured values (NaN when absent).
    targets : TargetsConfig

    Returns
    -------
    Series of bool
    """
    idx = disease.index
    s, d, g = _num(sbp, idx), _num(dbp, idx), _num(fasting_glucose, idx)
    elderly = pd.to_numeric(age, errors="coerce").fillna(-1).to_numpy() >= targets.elderly_age
    sbp_lim = np.where(elderly, targets.elderly_sbp_below, targets.htn_sbp_below)
    dbp_lim = np.where(elderly, targets.elderly_dbp_below, targets.htn_dbp_below)
    htn_ok = (s.to_numpy() < sbp_lim) & (d.to_numpy() < dbp_lim)
    t2dm_ok = g.to_numpy() < targets.t2dm_fasting_glucose_below
    dis = disease.to_numpy()
    return pd.Series(
        np.where(dis == "htn", htn_ok, np.where(dis == "t2dm", t2dm_ok, False)), index=idx
    )


def is_emergency(
    disease: pd.Series,
    sbp: pd.Series | None,
    dbp: pd.Series | None,
    glucose: pd.Series | None,
    emergency: EmergencyConfig = DEFAULT_RULES.emergency,
) -> pd.Series:
    """Whether a reading is an emergency reading for a disease (vectorised).

    SBP >= 180 or DBP >= 110 for both diseases; for t2dm also glucose >= 16.7 or <= 3.9
    mmol/L of any glucose type.
    """
    idx = disease.index
    s, d, g = _num(sbp, idx), _num(dbp, idx), _num(glucose, idx)
    bp = (s >= emergency.sbp_at_least) | (d >= emergency.dbp_at_least)
    glu = (g >= emergency.glucose_at_least) | (g <= emergency.glucose_at_most)
    return (bp | ((disease == "t2dm") & glu)).fillna(False).astype(bool)


def classify_visit(
    disease: pd.Series,
    age: pd.Series,
    sbp: pd.Series | None,
    dbp: pd.Series | None,
    fasting_glucose: pd.Series | None,
    adverse_reaction: pd.Series | None,
    given: pd.Series | None = None,
    targets: TargetsConfig = DEFAULT_RULES.targets,
) -> pd.Series:
    """Visit classification; the source's own classification wins when present.

    ``adverse`` when adverse_reaction is true, else ``satisfactory`` when the target is met,
    else ``unsatisfactory``. ``complication`` only ever comes from the source.
    """
    idx = disease.index
    ok = meets_target(disease, age, sbp, dbp, fasting_glucose, targets)
    adverse = (
        pd.Series(False, index=idx)
        if adverse_reaction is None
        else adverse_reaction.fillna(False).astype(bool)
    )
    computed = pd.Series(
        np.where(adverse, "adverse", np.where(ok, "satisfactory", "unsatisfactory")), index=idx
    )
    if given is None:
        return computed
    return given.where(given.notna() & (given.astype("string") != ""), computed).astype(object)


def not_satisfactory(classification: pd.Series) -> pd.Series:
    """True for ``unsatisfactory``, ``adverse`` and ``complication`` visits."""
    return classification.isin(NOT_SATISFACTORY)


def icd10_in_ranges(icd10: pd.Series, ranges: tuple[tuple[str, str], ...]) -> pd.Series:
    """Whether ICD-10 codes fall in inclusive 3-character category ranges (``I10``–``I15``).

    ``E11.9`` has category ``E11``; comparison is on the upper-cased first three characters.
    """
    cat = icd10.astype("string").str.upper().str.strip().str[:3]
    out = pd.Series(False, index=icd10.index)
    for lo, hi in ranges:
        out |= (cat >= lo) & (cat <= hi)
    return out.fillna(False).astype(bool)
