"""Residents and recordings: follow-up visits, terminal readings, a patient's record.

Ranges of recorded values come from the data contract's own table
(``pipelines.ingest.schema.SPECS``), so the API and the ingestion can never disagree on
what a valid blood pressure is.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
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
from service.schemas.common import Day, Disease, Id40, Id60, Moment, _Out, _Strict, examples

#: Largest list of readings one request may post.
MAX_MEASUREMENTS = 500


def _ranged(table: str, column: str, description: str | None = None) -> Any:
    """An optional field with the data contract's range for ``table.column``."""
    col = SPECS[table].col(column)
    return Field(None, ge=col.lo, le=col.hi, description=description)


Method = Literal["clinic", "home", "phone", "online"]
Adherence = Literal["regular", "intermittent", "none"]
Classification = Literal["satisfactory", "unsatisfactory", "adverse", "complication"]
GlucoseType = Literal["fasting", "random", "postprandial"]


class FollowupIn(_Strict):
    """A follow-up visit (随访记录), fields and ranges as in the data contract."""

    model_config = ConfigDict(json_schema_extra=examples("FollowupIn"))

    followup_id: Id40 | None = Field(
        None, description="Client id for safe retries; generated when absent."
    )
    resident_id: Id40
    disease: Disease
    visit_date: Day
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
    next_visit_date: Day | None = None
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


class RecordWarning(_Out):
    """Something about an accepted record the recorder should know (the record is stored)."""

    code: Literal["not_in_registry"] = Field(
        description="`not_in_registry`: the resident has no registry entry of this disease"
        " open on the visit date."
    )
    message: str


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
    warnings: list[RecordWarning] = Field(
        default_factory=list, description="Empty unless something needs the recorder's eye."
    )


class ReadingValues(_Strict):
    """The values of one reading (at least one of sbp, dbp, heart_rate, glucose)."""

    sbp: float | None = _ranged("measurements", "sbp", "mmHg")
    dbp: float | None = _ranged("measurements", "dbp", "mmHg")
    heart_rate: float | None = _ranged("measurements", "heart_rate", "beats per minute")
    glucose: float | None = _ranged("measurements", "glucose", "mmol/L")
    glucose_type: GlucoseType | None = None

    @field_validator("dbp")
    @classmethod
    def _sbp_above_dbp(cls, dbp: float | None, info: ValidationInfo) -> float | None:
        sbp = info.data.get("sbp")
        if dbp is not None and sbp is not None and not sbp > dbp:
            raise ValueError("dbp must be lower than sbp")
        return dbp

    @model_validator(mode="after")
    def _some_value(self) -> ReadingValues:
        if all(v is None for v in (self.sbp, self.dbp, self.heart_rate, self.glucose)):
            raise ValueError("a reading needs at least one of sbp, dbp, heart_rate, glucose")
        return self


class MeasurementIn(ReadingValues):
    """One terminal reading (智能检测终端数据): who, when, from where, and its values."""

    model_config = ConfigDict(json_schema_extra=examples("MeasurementIn"))

    measurement_id: Id60 | None = Field(
        None, description="The terminal's id (idempotency key); generated when absent."
    )
    resident_id: Id40
    measured_at: Moment = Field(
        description="ISO 8601; without an offset it is local time (Asia/Shanghai)."
    )
    device_id: Id60 | None = None
    facility_id: Id40 | None = None


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
    source: str | None = Field(
        None,
        description="`self`: entered by the resident at home on /r/ (docs/residents.md);"
        " null: taken by staff or a terminal.",
    )
    self_reported: bool = Field(
        False,
        description="Entered by the resident: shown to the team, never counted as a follow-up.",
    )


class MeasurementResult(MeasurementOut):
    status: Literal["created", "unchanged"]
    emergency: bool = Field(description="An emergency reading (RULES.md) for a managed disease.")
    emergency_diseases: list[str]


class MeasurementsOut(_Out):
    model_config = ConfigDict(json_schema_extra=examples("MeasurementsOut"))

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
    model_config = ConfigDict(json_schema_extra=examples("ResidentOut"))

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
