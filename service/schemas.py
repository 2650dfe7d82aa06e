"""Request and response bodies of the ``/api/v1`` endpoints (pydantic, with examples).

The models are the API's contract: ``/openapi.json`` is generated from them, and the
schemathesis test checks every response against it. Ranges of recorded values come from
the data contract's own table (``pipelines.ingest.schema.SPECS``), so the API and the ingestion
can never disagree on what a valid blood pressure is.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipelines.ingest.schema import SPECS
from service.shaping import MAX_DATE, MIN_DATE

Disease = Literal["htn", "t2dm"]
Colour = Literal["red", "yellow", "green"]
TaskCode = Literal[
    "emergency_reading",
    "referral_suggested",
    "post_discharge",
    "uncontrolled_recheck",
    "first_followup",
    "routine_followup",
    "suspected_unmanaged",
]
Level = Literal["h3:7", "h3:8", "h3:9", "grid", "village", "town", "county", "team"]
#: Largest list of readings one request may post.
MAX_MEASUREMENTS = 500

Id40 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Id60 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


def _ranged(table: str, column: str, description: str | None = None) -> Any:
    """An optional field with the data contract's range for ``table.column``."""
    col = SPECS[table].col(column)
    return Field(None, ge=col.lo, le=col.hi, description=description)


class _Strict(BaseModel):
    # No NaN/inf (JSON has none, but Python's parser accepts the tokens), no unknown fields
    # (a misspelt "spb" must fail loudly, not be dropped).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ----------------------------------------------------------------------------------------
# Meta and search
# ----------------------------------------------------------------------------------------
class IndicatorInfo(_Out):
    """One indicator of RULES.md."""

    code: str
    name_zh: str
    name_en: str
    scale: float = Field(description="1 for rates and shares, 1000 for per-1000 indicators.")


class LayerInfo(_Out):
    """A vector-tile layer the caller may fetch."""

    name: str
    description: str
    geometry: str
    minzoom: int
    maxzoom: int
    params: list[str]
    tilejson: str = Field(description="Path of the layer's TileJSON.")


class CallerScope(_Out):
    """Who is asking and what they may see."""

    username: str
    role: str
    team_id: str | None
    town_code: str | None
    scope: str = Field(description="`team:<id>`, `town:<code>` or `county`.")


class Meta(_Out):
    """What the service holds now and what the caller may ask for."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-15",
                    "build_id": 3,
                    "periods": ["2026-11-15", "2026-10-31"],
                    "levels": ["h3:8", "grid", "village", "town", "county", "team"],
                    "town_scoped_levels": [],
                    "indicators": [
                        {
                            "code": "htn_control_rate",
                            "name_zh": "管理人群血压控制率",
                            "name_en": "Blood-pressure control rate of managed patients",
                            "scale": 1.0,
                        }
                    ],
                    "hotspot_indicators": ["htn_prevalence"],
                    "hotspot_levels": ["h3:8", "grid"],
                    "user": {
                        "username": "demo_bureau",
                        "role": "bureau",
                        "team_id": None,
                        "town_code": None,
                        "scope": "county",
                    },
                    "layers": [],
                }
            ]
        }
    )

    as_of: dt.date | None = Field(description="As-of date of the current build; null before.")
    build_id: int | None
    periods: list[dt.date] = Field(description="Built periods, newest first.")
    levels: list[str] = Field(description="Aggregate levels the caller may query.")
    town_scoped_levels: list[str] = Field(
        description="Levels of which the caller sees only its own township's units."
    )
    indicators: list[IndicatorInfo]
    hotspot_indicators: list[str]
    hotspot_levels: list[str]
    user: CallerScope
    layers: list[LayerInfo]


class SearchHit(_Out):
    """A town, village or grid whose name matches."""

    code: str
    name: str
    level: Literal["town", "village", "grid"]
    town_code: str | None
    centroid: list[float] | None = Field(None, description="`[lng, lat]`.")
    bbox: list[float] | None = Field(None, description="`[west, south, east, north]`.")


class SearchResult(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "q": "东关",
                    "items": [
                        {
                            "code": "370783001001",
                            "name": "东关村",
                            "level": "village",
                            "town_code": "370783001000",
                            "centroid": [118.725, 36.825],
                            "bbox": [118.7, 36.8, 118.75, 36.85],
                        }
                    ],
                }
            ]
        }
    )

    q: str
    items: list[SearchHit]


# ----------------------------------------------------------------------------------------
# Aggregates
# ----------------------------------------------------------------------------------------
class IndicatorRow(_Out):
    """One indicator of one unit in one period, as stored (suppression applied)."""

    level: str
    unit_id: str
    indicator: str
    period: dt.date
    numerator: float | None
    denominator: float | None
    value: float | None = Field(description="Null when suppressed.")
    suppressed: bool
    suppression_reason: str | None = Field(
        description="`denominator_below_k` or `count_below_k` (RULES.md small numbers)."
    )


class IndicatorPage(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-15",
                    "period": "2026-11-15",
                    "level": "town",
                    "total": 1,
                    "limit": 100,
                    "offset": 0,
                    "items": [
                        {
                            "level": "town",
                            "unit_id": "370783001000",
                            "indicator": "htn_control_rate",
                            "period": "2026-11-15",
                            "numerator": 812.0,
                            "denominator": 1290.0,
                            "value": 0.6295,
                            "suppressed": False,
                            "suppression_reason": None,
                        }
                    ],
                }
            ]
        }
    )

    as_of: dt.date
    period: dt.date
    level: str
    total: int
    limit: int
    offset: int
    items: list[IndicatorRow]


class TrendPoint(_Out):
    period: dt.date
    numerator: float | None
    denominator: float | None
    value: float | None
    suppressed: bool
    suppression_reason: str | None


class UnitIndicator(_Out):
    """One indicator of a unit: the requested period and every built period."""

    indicator: str
    name_zh: str | None
    numerator: float | None
    denominator: float | None
    value: float | None
    suppressed: bool
    suppression_reason: str | None
    trend: list[TrendPoint] = Field(description="Every built period, oldest first.")


class HealthIndexRow(_Out):
    period: dt.date
    grid_id: str
    value: float | None
    components: dict[str, Any] | None


class UnitDetail(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "level": "grid",
                    "unit_id": "G01",
                    "name": "东西关网格",
                    "as_of": "2026-11-15",
                    "period": "2026-11-15",
                    "indicators": [
                        {
                            "indicator": "signing_rate",
                            "name_zh": "家庭医生签约率",
                            "numerator": 310.0,
                            "denominator": 402.0,
                            "value": 0.771,
                            "suppressed": False,
                            "suppression_reason": None,
                            "trend": [
                                {
                                    "period": "2026-10-31",
                                    "numerator": 300.0,
                                    "denominator": 400.0,
                                    "value": 0.75,
                                    "suppressed": False,
                                    "suppression_reason": None,
                                }
                            ],
                        }
                    ],
                    "health_index": {
                        "period": "2026-11-15",
                        "grid_id": "G01",
                        "value": 71.5,
                        "components": {"signing_rate": 0.771},
                    },
                }
            ]
        }
    )

    level: str
    unit_id: str
    name: str | None
    as_of: dt.date
    period: dt.date
    indicators: list[UnitIndicator]
    health_index: HealthIndexRow | None = Field(description="Grids only.")


class HealthIndexPage(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "period": "2026-11-15",
                    "items": [
                        {
                            "period": "2026-11-15",
                            "grid_id": "G01",
                            "value": 71.5,
                            "components": {"htn_control_rate": 0.63},
                        }
                    ],
                }
            ]
        }
    )

    period: dt.date
    items: list[HealthIndexRow]


class HotspotRow(_Out):
    unit_id: str
    indicator: str
    level: str
    rate: float | None
    smoothed_rate: float | None
    numerator: float | None
    denominator: float | None
    neighbours: int | None
    z: float | None
    p: float | None
    q: float | None
    p_sim: float | None
    hotspot_class: str = Field(description="`hot`, `cold` or `none`.")
    suppressed: bool
    suppression_reason: str | None


class HotspotList(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-15",
                    "indicator": "htn_prevalence",
                    "level": "h3:8",
                    "items": [
                        {
                            "unit_id": "8830a5570bfffff",
                            "indicator": "htn_prevalence",
                            "level": "h3:8",
                            "rate": 0.21,
                            "smoothed_rate": 0.2,
                            "numerator": 21.0,
                            "denominator": 100.0,
                            "neighbours": 6,
                            "z": 2.5,
                            "p": 0.012,
                            "q": 0.03,
                            "p_sim": 0.01,
                            "hotspot_class": "hot",
                            "suppressed": False,
                            "suppression_reason": None,
                        }
                    ],
                }
            ]
        }
    )

    as_of: dt.date
    indicator: str
    level: str
    items: list[HotspotRow]


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection (RFC 7946), coordinates in WGS84 lng/lat."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "id": "G01",
                            "geometry": {
                                "type": "Polygon",
                                "coordinates": [
                                    [[118.7, 36.8], [118.75, 36.8], [118.75, 36.9], [118.7, 36.8]]
                                ],
                            },
                            "properties": {"unit_id": "G01", "value": 0.63},
                        }
                    ],
                }
            ]
        },
    )

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]


class BurdenRowOut(_Out):
    town_code: str
    block: str
    block_name: str | None
    visits: float | None
    patients: float | None
    cost: float | None
    rate_per_1000: float | None
    county_rate_per_1000: float | None
    ratio_to_county: float | None
    rank_visits: int | None
    rank_patients: int | None
    rank_cost: int | None
    suppressed: bool
    suppression_reason: str | None


class BurdenList(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-15",
                    "items": [
                        {
                            "town_code": "370783001000",
                            "block": "I10-I15",
                            "block_name": "高血压病",
                            "visits": 1200.0,
                            "patients": 410.0,
                            "cost": 250000.0,
                            "rate_per_1000": 12.5,
                            "county_rate_per_1000": 11.0,
                            "ratio_to_county": 1.14,
                            "rank_visits": 1,
                            "rank_patients": 1,
                            "rank_cost": 2,
                            "suppressed": False,
                            "suppression_reason": None,
                        }
                    ],
                }
            ]
        }
    )

    as_of: dt.date
    items: list[BurdenRowOut]


# ----------------------------------------------------------------------------------------
# Push lists, routes, tasks
# ----------------------------------------------------------------------------------------
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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "team_id": "T01",
                    "date": "2026-11-15",
                    "masked": False,
                    "total": 1,
                    "entries": [
                        {
                            "resident_id": "R000123",
                            "name": "张三",
                            "phone": "13800000001",
                            "age": 71,
                            "sex": 1,
                            "disease": "htn",
                            "task_code": "emergency_reading",
                            "colour": "red",
                            "due_date": "2026-11-15",
                            "days_overdue": 0,
                            "last_visit_date": "2026-08-20",
                            "last_sbp": 150.0,
                            "last_dbp": 92.0,
                            "last_glucose": None,
                            "last_classification": "unsatisfactory",
                            "risk_score": 0.72,
                            "lat": 36.86,
                            "lng": 118.78,
                            "grid_id": "G01",
                            "team_id": "T01",
                            "reason_zh": "2026-11-15测量血压186/112 mmHg，达紧急转诊指征",
                            "risk_source": "model",
                        }
                    ],
                }
            ]
        }
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "team_id": "T01",
                    "date": "2026-11-15",
                    "mode": "drive",
                    "stops": [
                        {
                            "resident_id": "R000123",
                            "order": 1,
                            "lat": 36.86,
                            "lng": 118.78,
                            "colour": "red",
                            "arrival_s": 240.0,
                        }
                    ],
                    "legs": [
                        {"from": "base", "to": "R000123", "distance_m": 2000.0, "seconds": 240.0},
                        {"from": "R000123", "to": "base", "distance_m": 2000.0, "seconds": 240.0},
                    ],
                    "total_distance_m": 4000.0,
                    "total_seconds": 480.0,
                    "deferred": [],
                    "skipped": [],
                    "geometry": {"type": "FeatureCollection", "features": []},
                }
            ]
        }
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "team_id": "T01",
                    "items": [
                        {
                            "list_date": "2026-11-15",
                            "generated_at": "2026-11-14T22:00:04Z",
                            "teams": 212,
                            "entries": 9120,
                            "team_entries": 41,
                            "seconds": 38.2,
                            "risk_source": "model",
                        }
                    ],
                }
            ]
        }
    )

    team_id: str
    items: list[PushListRunOut]


class DismissIn(_Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "resident_id": "R000123",
                    "disease": "htn",
                    "task_code": "routine_followup",
                    "due_date": "2026-11-10",
                    "reason": "已转上级医院住院",
                }
            ]
        }
    )

    resident_id: Id40
    disease: Disease
    task_code: TaskCode
    due_date: dt.date = Field(description="The task's due date, as on the list.")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]

    @field_validator("due_date")
    @classmethod
    def _plausible(cls, value: dt.date) -> dt.date:
        # Every push list reads the dismissals: a date pandas cannot hold would break them all.
        if not MIN_DATE <= value <= MAX_DATE:
            raise ValueError(f"must be between {MIN_DATE} and {MAX_DATE}")
        return value


class DismissalOut(_Out):
    id: int
    resident_id: str
    disease: str
    task_code: str
    due_date: dt.date
    dismissed_at: dt.datetime
    reason: str
    team_id: str | None


# ----------------------------------------------------------------------------------------
# Residents and recordings
# ----------------------------------------------------------------------------------------
Method = Literal["clinic", "home", "phone", "online"]
Adherence = Literal["regular", "intermittent", "none"]
Classification = Literal["satisfactory", "unsatisfactory", "adverse", "complication"]
GlucoseType = Literal["fasting", "random", "postprandial"]


class FollowupIn(_Strict):
    """A follow-up visit (随访记录), fields and ranges as in the data contract."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "followup_id": "FU-20261115-0001",
                    "resident_id": "R000123",
                    "disease": "htn",
                    "visit_date": "2026-11-15",
                    "method": "home",
                    "sbp": 138,
                    "dbp": 86,
                    "heart_rate": 72,
                    "adherence": "regular",
                    "adverse_reaction": False,
                    "referred": False,
                    "next_visit_date": "2027-02-13",
                }
            ]
        }
    )

    followup_id: Id40 | None = Field(
        None, description="Client id for safe retries; generated when absent."
    )
    resident_id: Id40
    disease: Disease
    visit_date: dt.date
    method: Method | None = None
    sbp: float | None = _ranged("followups", "sbp", "mmHg")
    dbp: float | None = _ranged("followups", "dbp", "mmHg")
    fasting_glucose: float | None = _ranged("followups", "fasting_glucose", "mmol/L")
    heart_rate: float | None = _ranged("followups", "heart_rate")
    weight_kg: float | None = Field(None, gt=0, le=500)
    height_cm: float | None = Field(None, gt=0, le=300)
    adherence: Adherence | None = None
    adverse_reaction: bool | None = None
    symptoms: Annotated[str, StringConstraints(max_length=1000)] | None = None
    classification: Classification | None = Field(
        None, description="Computed from the values (RULES.md) when absent."
    )
    referred: bool | None = None
    next_visit_date: dt.date | None = None
    staff_id: Id40 | None = None

    @field_validator("dbp")
    @classmethod
    def _sbp_above_dbp(cls, dbp: float | None, info: ValidationInfo) -> float | None:
        sbp = info.data.get("sbp")
        if dbp is not None and sbp is not None and not sbp > dbp:
            raise ValueError("dbp must be lower than sbp")
        return dbp

    @model_validator(mode="after")
    def _dates(self) -> FollowupIn:
        if self.next_visit_date is not None and self.next_visit_date < self.visit_date:
            raise ValueError("next_visit_date is before visit_date")
        return self


class FollowupOut(_Out):
    followup_id: str
    resident_id: str
    disease: str
    visit_date: dt.date
    method: str | None
    sbp: float | None
    dbp: float | None
    fasting_glucose: float | None
    heart_rate: float | None
    weight_kg: float | None
    height_cm: float | None
    adherence: str | None
    adverse_reaction: bool | None
    symptoms: str | None
    classification: str
    classification_source: str = Field(description="`source` (as sent) or `computed`.")
    referred: bool | None
    next_visit_date: dt.date | None
    staff_id: str | None


class MeasurementIn(_Strict):
    """One terminal reading (智能检测终端数据)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "measurement_id": "DEV42-000981",
                    "resident_id": "R000123",
                    "measured_at": "2026-11-15T08:12:00+08:00",
                    "device_id": "DEV42",
                    "sbp": 186,
                    "dbp": 112,
                    "heart_rate": 88,
                }
            ]
        }
    )

    measurement_id: Id60 | None = Field(
        None, description="The terminal's id (idempotency key); generated when absent."
    )
    resident_id: Id40
    measured_at: dt.datetime = Field(
        description="ISO 8601; without an offset it is local time (Asia/Shanghai)."
    )
    device_id: Id60 | None = None
    facility_id: Id40 | None = None
    sbp: float | None = _ranged("measurements", "sbp")
    dbp: float | None = _ranged("measurements", "dbp")
    heart_rate: float | None = _ranged("measurements", "heart_rate")
    glucose: float | None = _ranged("measurements", "glucose")
    glucose_type: GlucoseType | None = None

    @field_validator("dbp")
    @classmethod
    def _sbp_above_dbp(cls, dbp: float | None, info: ValidationInfo) -> float | None:
        sbp = info.data.get("sbp")
        if dbp is not None and sbp is not None and not sbp > dbp:
            raise ValueError("dbp must be lower than sbp")
        return dbp

    @model_validator(mode="after")
    def _some_value(self) -> MeasurementIn:
        if all(v is None for v in (self.sbp, self.dbp, self.heart_rate, self.glucose)):
            raise ValueError("a reading needs at least one of sbp, dbp, heart_rate, glucose")
        return self


def _one_or_many(value: Any) -> str:
    return "items" if isinstance(value, list) else "item"


#: One reading or a list of them (at most MAX_MEASUREMENTS).
MeasurementBody = Annotated[
    Annotated[MeasurementIn, Tag("item")]
    | Annotated[
        list[MeasurementIn], Tag("items"), Field(min_length=1, max_length=MAX_MEASUREMENTS)
    ],
    Discriminator(_one_or_many),
]


class MeasurementOut(_Out):
    measurement_id: str
    resident_id: str
    measured_at: dt.datetime
    measured_date: dt.date = Field(description="Local (Asia/Shanghai) date of measured_at.")
    device_id: str | None
    facility_id: str | None
    sbp: float | None
    dbp: float | None
    heart_rate: float | None
    glucose: float | None
    glucose_type: str | None


class MeasurementResult(MeasurementOut):
    status: Literal["created", "unchanged"]
    emergency: bool = Field(description="An emergency reading (RULES.md) for a managed disease.")
    emergency_diseases: list[str]


class MeasurementsOut(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "created": 1,
                    "unchanged": 0,
                    "emergencies": 1,
                    "items": [
                        {
                            "measurement_id": "DEV42-000981",
                            "resident_id": "R000123",
                            "measured_at": "2026-11-15T00:12:00Z",
                            "measured_date": "2026-11-15",
                            "device_id": "DEV42",
                            "facility_id": None,
                            "sbp": 186.0,
                            "dbp": 112.0,
                            "heart_rate": 88.0,
                            "glucose": None,
                            "glucose_type": None,
                            "status": "created",
                            "emergency": True,
                            "emergency_diseases": ["htn"],
                        }
                    ],
                }
            ]
        }
    )

    created: int
    unchanged: int
    emergencies: int
    items: list[MeasurementResult]


class RegistryOut(_Out):
    disease: str
    enrolled_date: dt.date
    diagnosed_date: dt.date | None
    team_id: str | None
    closed_date: dt.date | None
    close_reason: str | None


class ResidentOut(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "resident_id": "R000123",
                    "name": "张三",
                    "id_masked": "3707**********1234",
                    "sex": 1,
                    "birth_date": "1950-03-04",
                    "age": 76,
                    "phone": "13800000001",
                    "address": "东关村5号",
                    "area_code": "370783001001",
                    "town_code": "370783001000",
                    "grid_id": "G01",
                    "signed_team_id": "T01",
                    "status": "active",
                    "lat": 36.86,
                    "lng": 118.78,
                    "loc_precision": "exact",
                    "registry": [],
                    "followups": [],
                    "measurements": [],
                }
            ]
        }
    )

    resident_id: str
    name: str
    id_masked: str | None
    sex: int
    birth_date: dt.date
    age: int
    phone: str | None
    address: str | None
    area_code: str
    town_code: str | None
    grid_id: str | None
    signed_team_id: str | None
    status: str
    lat: float | None
    lng: float | None
    loc_precision: str
    registry: list[RegistryOut]
    followups: list[FollowupOut] = Field(description="Latest first.")
    measurements: list[MeasurementOut] = Field(description="Latest first.")


# ----------------------------------------------------------------------------------------
# Administration
# ----------------------------------------------------------------------------------------
JobKind = Literal["ingest", "build", "pushlists"]
JobStatus = Literal["queued", "running", "succeeded", "failed"]


class JobOut(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": "5f0c1e7a9b2d4c3e8f1a2b3c4d5e6f70",
                    "kind": "build",
                    "status": "succeeded",
                    "created_at": "2026-11-15T02:00:00Z",
                    "started_at": "2026-11-15T02:00:00Z",
                    "finished_at": "2026-11-15T02:04:10Z",
                    "params": {"as_of": "2026-11-15", "months": 12},
                    "summary": {"build_id": 4, "seconds": 250.1},
                    "error": None,
                }
            ]
        }
    )

    job_id: str
    kind: JobKind
    status: JobStatus
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    params: dict[str, Any]
    summary: dict[str, Any] | None
    error: str | None


class JobList(_Out):
    items: list[JobOut]


class UserOut(_Out):
    id: int
    username: str
    role: str
    team_id: str | None
    town_code: str | None
    disabled: bool
    locked_until: dt.datetime | None
    created_at: dt.datetime
    scope: str


class UserList(_Out):
    items: list[UserOut]


Role = Literal["doctor", "chronic_center", "bureau", "planner", "admin"]


class UserIn(_Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "dr_li",
                    "password": "a-long-random-passphrase",
                    "role": "doctor",
                    "team_id": "T01",
                }
            ]
        }
    )

    username: Annotated[str, StringConstraints(min_length=3, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    role: Role
    team_id: Id40 | None = None
    town_code: Annotated[str, StringConstraints(min_length=1, max_length=12)] | None = None


class RoleIn(_Strict):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"role": "chronic_center", "town_code": "370783001000"}]}
    )

    role: Role
    team_id: Id40 | None = None
    town_code: Annotated[str, StringConstraints(min_length=1, max_length=12)] | None = None
