"""What a resident sees of their own record, every query scoped to that one resident.

Every function takes the resident id from the caller's token (``ResidentUser``), never
from the request: there is no parameter through which another resident could be named.
The facts come from where the staff pages get them:

* the next follow-up: the push list's own rules over this one resident's records
  (``pipelines.pushlist.read_rule_frames`` / ``tasks_from_frames``, RULES.md), tasks not yet
  due included; case finding (``suspected_unmanaged``) is a staff worklist, never shown;
* the target band: ``rules.targets`` and ``rules.emergency`` (``geo.rules``), the elderly
  target from age 65 (age today);
* vaccinations: the season start of ``geo.rules.flu_season_start`` and the RULES.md
  vaccination-target groups (65+, or a managed patient aged 60+);
* nearest clinics: ``geo.travel.StraightLineModel`` (detour × walking speed, ``rules.coverage``);
* who read the record: the audit log's ``read`` records of resource ``resident`` with this id
  by staff accounts (``GET /api/v1/residents/{id}`` writes them, with the team).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from geo.rules import age_on_scalar, flu_season_start
from geo.travel import StraightLineModel
from geo.vocabulary import (
    DISEASE_TERMS,
    ROLE_TERMS,
    STAFF_ROLES,
    SUSPECTED_UNMANAGED,
    TASK_TERMS,
    VACCINE_TERMS,
    Term,
)
from pipelines.pushlist import read_rule_frames, tasks_from_frames
from service.errors import NotFound
from service.recording import managed_diseases
from service.resident_accounts import login_id_of
from service.schemas.residents import (
    AccessEntryOut,
    AccessLogOut,
    ClinicOut,
    DiseaseOut,
    Label,
    MeOut,
    NearClinicOut,
    NearClinicsOut,
    NextFollowupOut,
    TargetBand,
    TeamOut,
    TrendPoint,
    TrendsOut,
    VaccinationOut,
    VaccinationsOut,
    VisitOut,
)
from service.scope import managing_team
from service.settings import Settings
from store.accounts import AuditLog, User
from store.models import (
    ChronicRegistry,
    Facility,
    Followup,
    Measurement,
    Resident,
    Team,
    Vaccination,
)
from store.resident_accounts import SELF_REPORTED
from store.types import as_utc

#: Recent visits shown on the home screen.
RECENT_VISITS = 6
#: Most points of a trend (a resident with a terminal at home may read daily for years).
MAX_POINTS = 2000
#: The RULES.md vaccination-target ages: everyone from 65, a managed patient from 60.
VACCINATION_AGE, VACCINATION_AGE_MANAGED = 65, 60


def label(terms: tuple[Term, ...], code: str) -> Label:
    """``code`` with its labels (a code the vocabulary lacks is its own label)."""
    for t in terms:
        if t.code == code:
            return Label(code=t.code, zh=t.zh, en=t.en)
    return Label(code=code, zh=code, en=code)


def resident_of(session: Session, resident_id: str) -> Resident:
    """The resident (404 if the record was removed since the account was made)."""
    person = session.get(Resident, resident_id)
    if person is None:
        raise NotFound()
    return person


# ----------------------------------------------------------------------------------------
# The record
# ----------------------------------------------------------------------------------------
def team_of(session: Session, resident_id: str, settings: Settings) -> TeamOut | None:
    """The family-doctor team: the managing team of the first managed disease (RULES.md),
    else the signed team, else the grid's team; its clinic and phone."""
    diseases = sorted(
        session.scalars(
            select(ChronicRegistry.disease).where(ChronicRegistry.resident_id == resident_id)
        )
    )
    team_id = managing_team(session, resident_id, diseases[0] if diseases else "htn")
    team = session.get(Team, team_id) if team_id else None
    if team is None:
        return None
    clinic = session.get(Facility, team.facility_id)
    phone = settings.residents.team_phones.get(team.team_id)
    return TeamOut(
        team_id=team.team_id,
        name=team.name,
        clinic=_clinic(clinic) if clinic else None,
        phone=phone or settings.residents.hotline,
        phone_is_hotline=phone is None,
    )


def _clinic(f: Facility) -> ClinicOut:
    return ClinicOut(facility_id=f.facility_id, name=f.name, type=f.type, lat=f.lat, lng=f.lng)


def open_followups(
    engine: Engine, resident_id: str, today: dt.date, settings: Settings
) -> list[NextFollowupOut]:
    """The resident's open follow-up tasks by the push list's rules, earliest due first."""
    rules = settings.rules
    frames = read_rule_frames(engine, claims_for=(today, rules), resident_ids=[resident_id])
    tasks = tasks_from_frames(frames, today, rules)
    tasks = tasks[
        (tasks["resident_id"] == resident_id) & (tasks["task_code"] != SUSPECTED_UNMANAGED)
    ]
    out = []
    tasks = tasks.sort_values(["due_date", "disease"])
    dues = [ts.date() for ts in pd.to_datetime(tasks["due_date"])]
    for row, due in zip(tasks.itertuples(), dues, strict=True):
        out.append(
            NextFollowupOut(
                disease=label(DISEASE_TERMS, str(row.disease)),
                task=label(TASK_TERMS, str(row.task_code)),
                due_date=due,
                overdue=due < today,
            )
        )
    return out


def my_record(
    session: Session, engine: Engine, resident_id: str, username: str, settings: Settings
) -> MeOut:
    """The home screen: who, which diseases, the team, the next follow-up, recent visits."""
    person = resident_of(session, resident_id)
    today = dt.datetime.now(ZoneInfo(settings.rules.timezone)).date()
    registry = session.scalars(
        select(ChronicRegistry)
        .where(ChronicRegistry.resident_id == resident_id)
        .order_by(ChronicRegistry.disease)
    ).all()
    managed = set(managed_diseases(session, resident_id, today))
    visits = session.scalars(
        select(Followup)
        .where(Followup.resident_id == resident_id)
        .order_by(Followup.visit_date.desc(), Followup.followup_id.desc())
        .limit(RECENT_VISITS)
    ).all()
    team = team_of(session, resident_id, settings)
    tasks = open_followups(engine, resident_id, today, settings)
    return MeOut(
        resident_id=resident_id,
        login_id=login_id_of(username),
        name=person.name,
        sex=person.sex,
        age=age_on_scalar(person.birth_date, today),
        diseases=[
            DiseaseOut(
                disease=label(DISEASE_TERMS, r.disease),
                enrolled_date=r.enrolled_date,
                team_id=r.team_id,
            )
            for r in registry
            if r.disease in managed
        ],
        team=team,
        next_followup=tasks[0] if tasks else None,
        open_followups=tasks,
        recent_visits=[
            VisitOut(
                disease=label(DISEASE_TERMS, v.disease),
                visit_date=v.visit_date,
                classification=v.classification,
                next_visit_date=v.next_visit_date,
            )
            for v in visits
        ],
    )


# ----------------------------------------------------------------------------------------
# Trends
# ----------------------------------------------------------------------------------------
def target_band(age: int, settings: Settings) -> TargetBand:
    """The resident's targets today (``rules.targets``; the elderly target from 65)."""
    t, e = settings.rules.targets, settings.rules.emergency
    elderly = age >= t.elderly_age
    return TargetBand(
        sbp_below=t.elderly_sbp_below if elderly else t.htn_sbp_below,
        dbp_below=t.elderly_dbp_below if elderly else t.htn_dbp_below,
        elderly=elderly,
        fasting_glucose_below=t.t2dm_fasting_glucose_below,
        glucose_low=e.glucose_at_most,
        sbp_emergency=e.sbp_at_least,
        dbp_emergency=e.dbp_at_least,
        glucose_high_emergency=e.glucose_at_least,
    )


def my_trends(session: Session, resident_id: str, days: int, settings: Settings) -> TrendsOut:
    """Readings (terminal, staff, home) and visits' values of the last ``days`` days."""
    person = resident_of(session, resident_id)
    zone = ZoneInfo(settings.rules.timezone)
    today = dt.datetime.now(zone).date()
    start = today - dt.timedelta(days=days - 1)
    points: list[TrendPoint] = []
    readings = session.scalars(
        select(Measurement)
        .where(Measurement.resident_id == resident_id, Measurement.measured_date >= start)
        .order_by(Measurement.measured_at.desc())
        .limit(MAX_POINTS)
    ).all()
    for m in readings:
        points.append(
            TrendPoint(
                at=as_utc(m.measured_at),
                date=m.measured_date,
                kind="self" if m.source == SELF_REPORTED else "reading",
                sbp=m.sbp,
                dbp=m.dbp,
                glucose=m.glucose,
                glucose_type=m.glucose_type,
                heart_rate=m.heart_rate,
            )
        )
    visits = session.scalars(
        select(Followup)
        .where(Followup.resident_id == resident_id, Followup.visit_date >= start)
        .order_by(Followup.visit_date.desc())
        .limit(MAX_POINTS)
    ).all()
    for v in visits:
        # A visit has a date only: noon local time places it on its day in the chart.
        noon = dt.datetime.combine(v.visit_date, dt.time(12), zone).astimezone(dt.UTC)
        glucose = v.fasting_glucose
        points.append(
            TrendPoint(
                at=noon,
                date=v.visit_date,
                kind="visit",
                sbp=v.sbp,
                dbp=v.dbp,
                glucose=glucose,
                glucose_type="fasting" if glucose is not None else None,
                heart_rate=v.heart_rate,
            )
        )
    points.sort(key=lambda p: p.at)
    age = age_on_scalar(person.birth_date, today)
    return TrendsOut(
        date_from=start, date_to=today, points=points, targets=target_band(age, settings)
    )


# ----------------------------------------------------------------------------------------
# Vaccinations and clinics
# ----------------------------------------------------------------------------------------
def my_vaccinations(session: Session, resident_id: str, settings: Settings) -> VaccinationsOut:
    """The resident's vaccinations, newest first, and whether this season's flu shot is due."""
    person = resident_of(session, resident_id)
    today = dt.datetime.now(ZoneInfo(settings.rules.timezone)).date()
    rows = session.scalars(
        select(Vaccination)
        .where(Vaccination.resident_id == resident_id)
        .order_by(Vaccination.date.desc(), Vaccination.vaccine)
    ).all()
    season = flu_season_start(today, settings.rules.indicators)
    flu = any(r.vaccine.strip().lower() == "influenza" and season <= r.date <= today for r in rows)
    age = age_on_scalar(person.birth_date, today)
    managed = bool(managed_diseases(session, resident_id, today))
    return VaccinationsOut(
        items=[VaccinationOut(vaccine=label(VACCINE_TERMS, r.vaccine), date=r.date) for r in rows],
        influenza_this_season=flu,
        influenza_recommended=age >= VACCINATION_AGE
        or (managed and age >= VACCINATION_AGE_MANAGED),
        season_start=season,
    )


def nearest_clinics(session: Session, resident_id: str, settings: Settings) -> NearClinicsOut:
    """The nearest open facilities to the household, by walking time (straight line × detour)."""
    person = resident_of(session, resident_id)
    if person.lat is None or person.lng is None:
        return NearClinicsOut(items=[], located=False)
    rows = session.scalars(select(Facility).where(Facility.open.is_(True))).all()
    if not rows:
        return NearClinicsOut(items=[], located=True)
    model = StraightLineModel("walk", settings.rules.coverage)
    metres, seconds = model.matrix([[person.lat, person.lng]], [[f.lat, f.lng] for f in rows])
    order = np.argsort(metres[0], kind="stable")[: settings.residents.nearest_clinics]
    items = [
        NearClinicOut(
            **_clinic(rows[i]).model_dump(),
            distance_m=round(float(metres[0, i]), 1),
            walk_minutes=round(float(seconds[0, i]) / 60.0, 1),
        )
        for i in order
    ]
    return NearClinicsOut(items=items, located=True)


# ----------------------------------------------------------------------------------------
# Who read my record
# ----------------------------------------------------------------------------------------
def access_log(session: Session, resident_id: str, settings: Settings) -> AccessLogOut:
    """Staff reads of the resident's record, newest first (the resident's right to know).

    The audit log's ``read`` and ``export`` records of resource ``resident`` with this id, by
    staff roles only (the resident's own reads are not listed); the team is the one the
    reader had then (``detail.team_id``), else the account's team now.
    """
    zone = ZoneInfo(settings.rules.timezone)
    since = dt.datetime.now(zone).date() - dt.timedelta(days=settings.residents.access_log_days)
    start = dt.datetime.combine(since, dt.time(0), zone).astimezone(dt.UTC)
    rows = session.execute(
        select(
            AuditLog.at,
            AuditLog.username,
            AuditLog.role,
            AuditLog.action,
            AuditLog.detail,
            User.team_id,
        )
        .outerjoin(User, User.id == AuditLog.user_id)
        .where(
            AuditLog.resource_type == "resident",
            AuditLog.resource_id == resident_id,
            AuditLog.action.in_(("read", "export")),
            AuditLog.role.in_(sorted(STAFF_ROLES)),
            AuditLog.at >= start,
        )
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(500)
    ).all()
    items = []
    for at, username, role, action, detail, team_now in rows:
        then: Any = (detail or {}).get("team_id") if isinstance(detail, dict) else None
        items.append(
            AccessEntryOut(
                at=as_utc(at),
                username=username,
                role=label(ROLE_TERMS, role) if role else None,
                team_id=then or team_now,
                action=action,
                what="record",
            )
        )
    return AccessLogOut(items=items, since=since)
