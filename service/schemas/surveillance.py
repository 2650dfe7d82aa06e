"""The infectious-disease early warning: alerts, risk cells, vaccination targets."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import ConfigDict, Field

from service.schemas.common import Page, _Out, examples


class AlertRow(_Out):
    """One EARS alert (a town or the county, one day) or one space-time scan cluster."""

    alert_id: int
    kind: Literal["ears", "scan"]
    method: str = Field(description="`C1`, `C2`, `C3` or `space_time_permutation`.")
    area_level: str = Field(description="`county`, `town` or `h3:8` (a scan's centre cell).")
    area_id: str
    day: dt.date
    start_day: dt.date
    observed: float = Field(description="Cases (a count: never withheld).")
    expected: float | None = Field(description="Expected cases (a count: never withheld).")
    statistic: float | None
    threshold: float | None
    relative_risk: float | None = Field(
        description="Scan clusters; null when the observed count is below k (suppressed)."
    )
    llr: float | None
    p_value: float | None
    n_cells: int | None
    radius_km: float | None
    cells: list[str] | None = Field(description="A scan cluster's H3 cells.")
    suppressed: bool = Field(description="Whether the relative risk is withheld.")
    suppression_reason: str | None = Field(description="`count_below_k` when suppressed.")


class _AlertHead(_Out):
    as_of: dt.date
    k: int = Field(description="The small-number threshold applied.")


class AlertPage(Page[AlertRow], _AlertHead):
    model_config = ConfigDict(json_schema_extra=examples("AlertPage"))


class RiskCellRow(_Out):
    """Risk of spread of one H3 res-8 cell; the rate and its counts withheld when small."""

    h3: str
    score: float
    at_risk: bool
    alert_cell: bool
    mobility_source: str = Field(description="`od`, `heat` or `none`.")
    mobility_share: float | None = Field(description="Null when the rate is withheld.")
    residents: int | None = Field(description="Null when the rate is withheld.")
    recent_cases: int | None = Field(description="Null when the rate is withheld.")
    rate_per_1000: float | None = Field(description="Null when suppressed.")
    rate_score: float | None = Field(description="Null when the rate is withheld.")
    suppressed: bool
    suppression_reason: str | None = Field(
        description="`denominator_below_k` (residents < k) or `count_below_k` (1..k-1 cases)."
    )


class _RiskCellHead(_Out):
    as_of: dt.date
    k: int


class RiskCellPage(Page[RiskCellRow], _RiskCellHead):
    model_config = ConfigDict(json_schema_extra=examples("RiskCellPage"))


class VaccinationTargetRow(_Out):
    """A resident to vaccinate against influenza (a cell at risk), with name and phone."""

    resident_id: str
    name: str | None = Field(description="Masked (张\\*\\*) for a centre unless unmasked.")
    phone: str | None = Field(description="Masked (138\\*\\*\\*\\*5678) likewise.")
    team_id: str | None
    household_id: str
    age: int
    reason: str = Field(description="`age` (65+) or `managed` (htn/t2dm patient 60+).")
    diseases: str | None
    last_flu_vaccination: dt.date | None
    h3: str
    risk_score: float | None
    grid_id: str | None
    area_code: str | None
    due_date: dt.date


class _VaccinationTargetHead(_Out):
    as_of: dt.date
    team_ids: list[str] = Field(description="The teams listed.")
    masked: bool


class VaccinationTargetPage(Page[VaccinationTargetRow], _VaccinationTargetHead):
    model_config = ConfigDict(json_schema_extra=examples("VaccinationTargetPage"))


class TargetCounts(_Out):
    """Targets of one team, one town or the county; counts of 1..k-1 withheld (null)."""

    level: Literal["team", "town", "county"]
    team_id: str | None = Field(description="Teams only (null: targets without a team).")
    town_code: str | None = Field(description="Teams and towns (a team's base facility's).")
    households: int | None
    people: int | None
    people_age: int | None = Field(description="Reason `age` (65+).")
    people_managed: int | None = Field(description="Reason `managed` (htn/t2dm 60+).")
    suppressed: list[str] = Field(description="The counts withheld (`count_below_k`).")


class TargetSummary(_Out):
    model_config = ConfigDict(json_schema_extra=examples("TargetSummary"))

    as_of: dt.date
    k: int
    items: list[TargetCounts]
