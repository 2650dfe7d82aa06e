"""A resident's own page (``/r/``): activation, login, and what the resident sees.

Labels (diseases, tasks, vaccines) come with the codes, from ``geo.vocabulary``, so the
page names things exactly as the staff pages do.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from service.schemas.common import Id40, _Out, _Strict
from service.schemas.records import ReadingValues

Pin = Annotated[str, StringConstraints(min_length=1, max_length=32)]


# ----------------------------------------------------------------------------------------
# Doctor: activation
# ----------------------------------------------------------------------------------------
class ActivationOut(BaseModel):
    """A fresh activation: the only answer that ever holds the code in clear."""

    resident_id: str
    login_id: str = Field(description="What the resident logs in with (8 digits).")
    code: str = Field(description="One-time activation code, e.g. `K7QM-3XPA`.")
    expires_at: dt.datetime
    url: str = Field(description="The /r/ address with the code in its fragment.")
    qr_svg: str = Field(description="QR code of `url` as an inline SVG (door plate, slip).")
    name_masked: str
    team_name: str | None
    phone: str = Field(description="The team's phone (residents.team_phones) or the hotline.")
    slip_html: str = Field(description="A printable slip (Chinese), QR code included.")


class ActivationStateOut(BaseModel):
    """A resident's account as the doctor sees it (never a code or a PIN)."""

    resident_id: str
    login_id: str
    state: Literal["issued", "expired", "active", "locked", "revoked"]
    issued_at: dt.datetime
    expires_at: dt.datetime | None
    activated_at: dt.datetime | None
    locked_at: dt.datetime | None
    revoked_at: dt.datetime | None


# ----------------------------------------------------------------------------------------
# Resident: activation and login
# ----------------------------------------------------------------------------------------
class ActivateIn(_Strict):
    code: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="The activation code from the slip (case, spaces and dashes ignored)."
    )
    pin: Pin = Field(description="The new PIN: exactly 6 digits.")


class ResidentLoginIn(_Strict):
    login_id: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    pin: Pin


# ----------------------------------------------------------------------------------------
# Resident: the record
# ----------------------------------------------------------------------------------------
class Label(BaseModel):
    code: str
    zh: str
    en: str


class DiseaseOut(BaseModel):
    disease: Label
    enrolled_date: dt.date
    team_id: str | None


class ClinicOut(BaseModel):
    facility_id: str
    name: str
    type: str
    lat: float
    lng: float


class TeamOut(BaseModel):
    team_id: str
    name: str
    clinic: ClinicOut | None
    phone: str
    phone_is_hotline: bool = Field(description="No team phone configured: the hotline.")


class NextFollowupOut(BaseModel):
    """An open follow-up task of the resident's (the push list's rules, RULES.md)."""

    disease: Label
    task: Label
    due_date: dt.date
    overdue: bool


class VisitOut(BaseModel):
    disease: Label
    visit_date: dt.date
    classification: str | None
    next_visit_date: dt.date | None


class MeOut(BaseModel):
    resident_id: str
    login_id: str
    name: str
    sex: int
    age: int
    diseases: list[DiseaseOut]
    team: TeamOut | None
    next_followup: NextFollowupOut | None = Field(
        description="The earliest open follow-up task (what it is for, when)."
    )
    open_followups: list[NextFollowupOut]
    recent_visits: list[VisitOut]


class TrendPoint(BaseModel):
    at: dt.datetime
    date: dt.date
    kind: Literal["reading", "self", "visit"] = Field(
        description="`reading`: a terminal or staff reading; `self`: entered at home;"
        " `visit`: a follow-up visit's values."
    )
    sbp: float | None = None
    dbp: float | None = None
    glucose: float | None = None
    glucose_type: str | None = None
    heart_rate: float | None = None


class TargetBand(BaseModel):
    """The resident's targets today (RULES.md; ``rules.targets``, ``rules.emergency``)."""

    sbp_below: float
    dbp_below: float
    elderly: bool = Field(description="The 65+ target applies (age today).")
    fasting_glucose_below: float
    glucose_low: float = Field(description="At or below this glucose is an emergency reading.")
    sbp_emergency: float
    dbp_emergency: float
    glucose_high_emergency: float


class TrendsOut(BaseModel):
    date_from: dt.date
    date_to: dt.date
    points: list[TrendPoint]
    targets: TargetBand


class VaccinationOut(BaseModel):
    vaccine: Label
    date: dt.date


class VaccinationsOut(BaseModel):
    items: list[VaccinationOut]
    influenza_this_season: bool
    influenza_recommended: bool = Field(
        description="Aged 65+, or a managed patient aged 60+ (RULES.md vaccination targets)."
    )
    season_start: dt.date


class NearClinicOut(ClinicOut):
    distance_m: float
    walk_minutes: float = Field(description="Straight line × detour at walking speed.")


class NearClinicsOut(BaseModel):
    items: list[NearClinicOut]
    located: bool = Field(description="False when the household has no location.")


class AccessEntryOut(BaseModel):
    at: dt.datetime
    username: str | None
    role: Label | None
    team_id: str | None
    action: str
    what: str = Field(description="`record`: the patient record (GET /api/v1/residents/{id}).")


class AccessLogOut(BaseModel):
    items: list[AccessEntryOut]
    since: dt.date


class HomeReadingIn(ReadingValues):
    """A reading the resident took at home; stored marked self-reported."""

    resident_id: Id40 | None = Field(
        None, description="Optional; when given it must be the caller's own (else 404)."
    )
    measured_at: dt.datetime | None = Field(
        None, description="ISO 8601 (local time without an offset); default now."
    )


class HomeReadingOut(_Out):
    measurement_id: str
    measured_at: dt.datetime
    measured_date: dt.date
    sbp: float | None
    dbp: float | None
    heart_rate: float | None
    glucose: float | None
    glucose_type: str | None
    self_reported: bool = True
    emergency: bool = Field(
        description="An emergency reading: the page tells the resident to call the team now."
    )
