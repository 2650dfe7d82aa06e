"""Care teams' work: push lists, the day's route, the morning runs, dismissals."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.schemas.aggregates import FeatureCollection
from service.schemas.common import Day, Disease, Id40, TaskCode, _Out, _Strict, examples


class PushListEntryOut(_Out):
    """One task of a team's list (RULES.md fields)."""

    resident_id: str
    name: str | None = Field(description="Masked (张*) unless the team's own doctor asks.")
    phone: str | None = Field(description="Masked (138****5678) unless the team's own doctor.")
    age: int | None
    sex: int | None
    disease: str
    task_code: str
    colour: str
    due_date: dt.date | None
    days_overdue: int
    last_visit_date: dt.date | None
    last_sbp: float | None
    last_dbp: float | None
    last_glucose: float | None
    last_classification: str | None
    risk_score: float | None
    lat: float | None
    lng: float | None
    grid_id: str | None
    team_id: str | None
    reason_zh: str | None
    risk_source: str | None


class PushList(_Out):
    model_config = ConfigDict(json_schema_extra=examples("PushList"))

    team_id: str
    date: dt.date
    masked: bool
    total: int
    entries: list[PushListEntryOut]


class RouteStop(_Out):
    resident_id: str
    order: int
    lat: float
    lng: float
    colour: str | None
    arrival_s: float


class RouteLeg(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    distance_m: float
    seconds: float


class RouteOut(_Out):
    model_config = ConfigDict(json_schema_extra=examples("RouteOut"))

    team_id: str
    date: dt.date
    mode: str
    stops: list[RouteStop]
    legs: list[RouteLeg]
    total_distance_m: float
    total_seconds: float
    deferred: list[str] = Field(description="Listed residents left for another day.")
    skipped: list[str] = Field(description="Listed residents without a usable location.")
    geometry: FeatureCollection


class PushListRunOut(_Out):
    list_date: dt.date
    generated_at: dt.datetime
    teams: int
    entries: int
    team_entries: int = Field(description="Entries of this team in that day's snapshot.")
    seconds: float
    risk_source: str


class PushListRuns(_Out):
    model_config = ConfigDict(json_schema_extra=examples("PushListRuns"))

    team_id: str
    items: list[PushListRunOut]


class DismissIn(_Strict):
    model_config = ConfigDict(json_schema_extra=examples("DismissIn"))

    resident_id: Id40
    disease: Disease
    task_code: TaskCode
    # Bounded: every push list reads the dismissals, and a date pandas cannot hold would
    # break them all.
    due_date: Day = Field(description="The task's due date, as on the list.")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class DismissalOut(_Out):
    id: int
    resident_id: str
    disease: str
    task_code: str
    due_date: dt.date
    dismissed_at: dt.datetime
    reason: str
    team_id: str | None
