"""Residents' own page (``/r/``): the doctor's activation, the resident's login and record.

* ``POST|GET|DELETE /api/v1/residents/{id}/activation`` — a doctor of the resident's
  managing team (RULES.md: registry team, else signed team, else the grid's) issues,
  inspects or revokes; any other doctor gets 404, other roles 403. Audited (``write``).
* ``POST /auth/resident/activate``, ``POST /auth/resident/token`` — public: code + new PIN,
  then login id + PIN (``service.resident_accounts``); throttled per address like the staff
  login. Tokens are the staff's (``/auth/refresh`` refreshes them).
* ``GET /api/v1/me…``, ``POST /api/v1/me/readings`` — the ``resident`` role only
  (``ResidentUser``); the resident is the token's, never a parameter, so another
  resident's data cannot be named; a body naming another resident is 404.

docs/residents.md describes the whole.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.audit import record_audit
from service.auth import Principal, issue_token
from service.client import public_base_url
from service.deps import (
    AuditDep,
    DoctorUser,
    EngineDep,
    LimiterDep,
    ResidentUser,
    SessionDep,
    SettingsDep,
    client_address,
    release,
)
from service.emergencies import announce
from service.errors import (
    Conflict,
    NotFound,
    ResidentLocked,
    TooManyRequests,
    Unauthorized,
    problem_doc,
)
from service.recording import bump_reading_teams, record_measurement
from service.resident_accounts import (
    activate,
    activation_state,
    activation_url,
    authenticate_resident,
    display_code,
    issue_activation,
    login_id_of,
    qr_svg,
    revoke_activation,
    slip,
)
from service.resident_self import (
    access_log,
    my_record,
    my_trends,
    my_vaccinations,
    nearest_clinics,
)
from service.routes.auth import TokenPair
from service.schemas import MeasurementIn
from service.schemas.residents import (
    AccessLogOut,
    ActivateIn,
    ActivationOut,
    ActivationStateOut,
    HomeReadingIn,
    HomeReadingOut,
    MeOut,
    NearClinicsOut,
    ResidentLoginIn,
    TrendsOut,
    VaccinationsOut,
)
from service.scope import managing_team
from service.settings import Settings
from service.shaping import invalid_field
from store.models import ChronicRegistry, Resident
from store.resident_accounts import SELF_REPORTED

router = APIRouter(tags=["residents"])

ResidentId = Annotated[str, Path(max_length=40, description="A resident.", examples=["R01"])]
NOT_MANAGING: dict[int | str, dict[str, Any]] = {
    403: problem_doc("Roles other than doctor."),
    404: problem_doc("Unknown resident, or not managed by the doctor's team."),
}


class ResidentTokenPair(TokenPair):
    """The staff's token pair, with the resident's login id (shown after activation)."""

    login_id: str = Field(description="What the resident logs in with next time.")


def _pair(principal: Principal, settings: Settings) -> ResidentTokenPair:
    access, access_s = issue_token(principal, settings.token_auth, "access")
    refresh, refresh_s = issue_token(principal, settings.token_auth, "refresh")
    return ResidentTokenPair(
        access_token=access,
        expires_in=access_s,
        refresh_token=refresh,
        refresh_expires_in=refresh_s,
        login_id=login_id_of(principal.username),
    )


def ensure_managing_doctor(user: Principal, session: Session, resident_id: str) -> Resident:
    """The resident, if the doctor's team manages them (any of their diseases; without a
    registry row the signed team, else the grid's); 404 otherwise, like an unknown id."""
    person = session.get(Resident, resident_id)
    if person is None:
        raise NotFound()
    diseases = list(
        session.scalars(
            select(ChronicRegistry.disease).where(ChronicRegistry.resident_id == resident_id)
        )
    ) or ["htn"]  # no registry row: managing_team falls back to the signed or grid team
    teams = {managing_team(session, resident_id, d) for d in diseases}
    if user.team_id is None or user.team_id not in teams:
        raise NotFound()
    return person


# ----------------------------------------------------------------------------------------
# The doctor's side
# ----------------------------------------------------------------------------------------
@router.post(
    "/api/v1/residents/{resident_id}/activation",
    summary="Issue (or reissue) a resident's activation code",
    status_code=201,
    responses=NOT_MANAGING,
)
def issue(
    request: Request,
    resident_id: ResidentId,
    user: DoctorUser,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditDep,
) -> ActivationOut:
    """A one-time activation code (expires after ``residents.activation_days``), the login
    id, a printable slip and the QR code of the ``/r/`` address with the code. A reissue
    spends the previous code and clears the PIN and a lock-out; a revoked account is enabled
    again. Only a doctor of the resident's managing team (else 404). Audited (``write``)."""
    ensure_managing_doctor(user, session, resident_id)
    issued = issue_activation(session, resident_id, user, settings)
    url = activation_url(public_base_url(request), issued.code)
    svg = qr_svg(url)
    printed = slip(session, issued, url, svg, settings)
    audit(
        "write",
        "resident_activation",
        resident_id,
        detail={"op": "issue", "expires_at": issued.expires_at.isoformat()},
        session=session,
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("The activation was issued concurrently; retry.") from None
    return ActivationOut(
        resident_id=resident_id,
        login_id=issued.login_id,
        code=display_code(issued.code),
        expires_at=issued.expires_at,
        url=url,
        qr_svg=svg,
        name_masked=printed.name_masked,
        team_name=printed.team_name,
        phone=printed.phone,
        slip_html=printed.html,
    )


@router.get(
    "/api/v1/residents/{resident_id}/activation",
    summary="A resident's account state",
    responses=NOT_MANAGING,
)
def state(resident_id: ResidentId, user: DoctorUser, session: SessionDep) -> ActivationStateOut:
    """Issued, expired, active, locked or revoked, with the times (never a code or PIN).
    404 when no activation was ever issued, or the resident is not the team's."""
    ensure_managing_doctor(user, session, resident_id)
    s = activation_state(session, resident_id)
    return ActivationStateOut(**s.__dict__)


@router.delete(
    "/api/v1/residents/{resident_id}/activation",
    summary="Revoke a resident's account",
    status_code=204,
    responses=NOT_MANAGING,
)
def revoke(
    resident_id: ResidentId, user: DoctorUser, session: SessionDep, audit: AuditDep
) -> Response:
    """Disable the resident's account (its tokens stop working at once) and spend its code;
    a new issue enables it again with a new code. Audited (``write``)."""
    ensure_managing_doctor(user, session, resident_id)
    revoke_activation(session, resident_id)
    audit("write", "resident_activation", resident_id, detail={"op": "revoke"}, session=session)
    session.commit()
    return Response(status_code=204)


# ----------------------------------------------------------------------------------------
# The resident's login
# ----------------------------------------------------------------------------------------
def _throttled(
    request: Request, session: Session, settings: Settings, limiter: Any, attempt: Any
) -> Principal:
    from service.ratelimit import LoginBackoff, LoginThrottle

    client = client_address(request)
    limiter.hit(f"client:{client}")
    throttle = LoginThrottle(LoginBackoff.of(settings.auth))
    throttle.check(session, client)
    try:
        principal: Principal = attempt(client)
    except (Unauthorized, TooManyRequests, ResidentLocked):
        throttle.failed(session, client)
        raise
    request.state.user_id = principal.id
    return principal


@router.post(
    "/auth/resident/activate",
    summary="A resident activates their account (code + new PIN)",
    responses={401: problem_doc("Wrong, spent or expired code."), 422: problem_doc("Bad PIN.")},
)
def resident_activate(
    request: Request,
    body: ActivateIn,
    settings: SettingsDep,
    session: SessionDep,
    engine: EngineDep,
    limiter: LimiterDep,
) -> ResidentTokenPair:
    """Spend the activation code and set a 6-digit PIN; answers the tokens (the resident is
    logged in) and the login id. The code works once, until it expires."""
    principal = _throttled(
        request,
        session,
        settings,
        limiter,
        lambda client: activate(session, body.code, body.pin, settings, client=client),
    )
    record_audit(
        engine,
        action="login",
        endpoint="POST /auth/resident/activate",
        user=principal,
        client=client_address(request),
    )
    return _pair(principal, settings)


@router.post(
    "/auth/resident/token",
    summary="A resident logs in (login id + PIN)",
    responses={
        401: problem_doc("Wrong login id or PIN."),
        403: problem_doc("Locked by wrong PINs (`resident-locked`): the doctor reissues."),
    },
)
def resident_token(
    request: Request,
    body: ResidentLoginIn,
    settings: SettingsDep,
    session: SessionDep,
    engine: EngineDep,
    limiter: LimiterDep,
) -> ResidentTokenPair:
    """Tokens for a login id and PIN. ``residents.max_failed_pins`` wrong PINs in a row lock
    the account (403 ``resident-locked``) until the family doctor reissues a code."""
    principal = _throttled(
        request,
        session,
        settings,
        limiter,
        lambda client: authenticate_resident(
            session, body.login_id, body.pin, settings, client=client
        ),
    )
    record_audit(
        engine,
        action="login",
        endpoint="POST /auth/resident/token",
        user=principal,
        client=client_address(request),
    )
    return _pair(principal, settings)


# ----------------------------------------------------------------------------------------
# The resident's record
# ----------------------------------------------------------------------------------------
def _rid(user: Principal) -> str:
    # ResidentUser guarantees it; the assert keeps a refactoring from running unscoped.
    assert user.resident_id is not None
    return user.resident_id


@router.get("/api/v1/me", summary="My record (resident)")
def me(
    user: ResidentUser,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    audit: AuditDep,
) -> MeOut:
    """Name, age, managed diseases, the family-doctor team (clinic, phone), the next
    follow-up and what it is for (the push list's rules), recent visits."""
    out = my_record(session, engine, _rid(user), user.username, settings)
    release(session)
    audit("read", "own_record", _rid(user))
    return out


@router.get("/api/v1/me/trends", summary="My blood pressure and glucose over time")
def trends(
    user: ResidentUser,
    session: SessionDep,
    settings: SettingsDep,
    days: Annotated[int | None, Query(ge=7, le=3650, description="Days up to today.")] = None,
) -> TrendsOut:
    """Readings (terminal, staff, home: ``kind``) and visits' values, oldest first, with the
    target band of RULES.md (the 65+ target by age today)."""
    return my_trends(session, _rid(user), days or settings.residents.trend_days, settings)


@router.get("/api/v1/me/vaccinations", summary="My vaccinations")
def vaccinations(user: ResidentUser, session: SessionDep, settings: SettingsDep) -> VaccinationsOut:
    """Vaccinations, newest first; whether this season's influenza shot is recorded and
    recommended (RULES.md vaccination targets)."""
    return my_vaccinations(session, _rid(user), settings)


@router.get("/api/v1/me/clinics", summary="The clinics nearest to my home")
def clinics(user: ResidentUser, session: SessionDep, settings: SettingsDep) -> NearClinicsOut:
    """The ``residents.nearest_clinics`` nearest open facilities, with distance and walking
    minutes (straight line × detour, ``rules.coverage``)."""
    return nearest_clinics(session, _rid(user), settings)


@router.get("/api/v1/me/access-log", summary="Who on the staff read my record")
def my_access_log(user: ResidentUser, session: SessionDep, settings: SettingsDep) -> AccessLogOut:
    """Every staff read of the resident's record (from the audit log), newest first, for
    ``residents.access_log_days``: when, which account, its role and team."""
    return access_log(session, _rid(user), settings)


def _measurement(body: HomeReadingIn, resident_id: str, settings: Settings) -> MeasurementIn:
    """The reading as the terminals' model, so the same ranges and checks apply."""
    now = dt.datetime.now(ZoneInfo(settings.rules.timezone)).replace(microsecond=0)
    try:
        return MeasurementIn(
            resident_id=resident_id,
            measured_at=body.measured_at or now,
            sbp=body.sbp,
            dbp=body.dbp,
            heart_rate=body.heart_rate,
            glucose=body.glucose,
            glucose_type=body.glucose_type,
        )
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise invalid_field(f"body.{where}" if where != "body" else where, first["msg"]) from None


@router.post(
    "/api/v1/me/readings",
    summary="Add a home reading",
    status_code=201,
    responses={404: problem_doc("The body names another resident.")},
)
def add_reading(
    request: Request,
    body: HomeReadingIn,
    user: ResidentUser,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditDep,
) -> HomeReadingOut:
    """Store a reading the resident took at home, marked self-reported (``source`` =
    ``self``): the team sees it on the patient record as such; it is never a follow-up
    visit. The ranges are the terminals' (SBP 50–300, DBP 30–200 and below SBP, glucose
    1.0–40.0, heart rate 20–250). An emergency value is flagged (the page says to call the
    team) and, like a terminal's, opens the red task on the team's list."""
    rid = _rid(user)
    if body.resident_id is not None and body.resident_id != rid:
        raise NotFound()
    reading = _measurement(body, rid, settings)
    seen: dict[str, Any] = {}
    recorded = record_measurement(
        session, reading, "body", settings.rules, dt.datetime.now(dt.UTC), seen
    )
    recorded.row.source = SELF_REPORTED
    bump_reading_teams(session, seen)
    audit(
        "write",
        "measurement",
        recorded.row.measurement_id,
        detail={"resident_id": rid, "source": SELF_REPORTED},
        session=session,
    )
    announce(session, [recorded], webhook_url=request.app.state.emergency_webhook_url)
    session.commit()
    row = recorded.row
    at = row.measured_at if row.measured_at.tzinfo else row.measured_at.replace(tzinfo=dt.UTC)
    return HomeReadingOut(
        measurement_id=row.measurement_id,
        measured_at=at,
        measured_date=row.measured_date,
        sbp=row.sbp,
        dbp=row.dbp,
        heart_rate=row.heart_rate,
        glucose=row.glucose,
        glucose_type=row.glucose_type,
        emergency=bool(recorded.emergency_diseases),
    )
