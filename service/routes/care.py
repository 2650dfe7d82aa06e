"""Care teams' work: the live push list, the day's route, dismissals, a resident's record.

Individual-level data, so (``docs/security.md``):

* only the care roles: a doctor for its own team (names and phones in full: it visits
  them), a chronic-disease centre for the teams of its township (names and phones masked);
  bureau, planner and admin get 403;
* out of scope is 404, exactly like unknown (``service.scope``);
* every read is audited as ``read`` with the resident ids, a CSV download as ``export``,
  a dismissal as ``write``.

Lists are computed live from the store (``pipelines.pushlist.team_push_list``) and cached
per worker under the store's write version (``service.worklists``), so a visit recorded
at 10:00 closes its task at 10:00 and an emergency reading opens a red task at once,
whichever worker took the write; the 06:00 snapshot (``push_lists``) is what
``…/pushlist/runs`` reports on.

A chronic-disease centre sees names and phones masked unless it asks ``unmask=true`` with a
``reason`` (inside its township only; audited with the reason and the resident ids).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.rules import age_on_scalar
from geo.vocabulary import TEAM_SCOPED_ROLE
from pipelines.pushlist import UnknownTeamError
from service.auth import Principal, utcnow
from service.deps import (
    AuditDep,
    CareUser,
    DoctorUser,
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    WorklistsDep,
    ensure_in_scope,
    release,
)
from service.errors import NotFound, problem_doc
from service.schemas import (
    DismissalOut,
    DismissIn,
    FollowupOut,
    MeasurementOut,
    PushList,
    PushListRunOut,
    PushListRuns,
    RegistryOut,
    ResidentOut,
    RouteLeg,
    RouteOut,
    RouteStop,
)
from service.schemas.common import DateParam
from service.scope import ensure_resident_for_doctor, ensure_team_visible, managing_team
from service.settings import Settings
from service.shaping import (
    ReasonQuery,
    UnmaskQuery,
    check_date,
    local_today,
    masking,
    records,
)
from service.worklists import WorklistCache
from store.list_opens import record_list_opened
from store.models import ChronicRegistry, Followup, Measurement
from store.resident_accounts import SELF_REPORTED
from store.version import bump_team_versions
from store.worklists import PushListEntry, PushListRun, TaskDismissal

router = APIRouter(prefix="/api/v1", tags=["care"])

NOT_YOURS: dict[int | str, dict[str, Any]] = {
    403: problem_doc("Roles other than doctor and chronic-disease centre."),
    404: problem_doc("Unknown team, or not the doctor's own / not in the centre's township."),
}
TeamId = Annotated[str, Path(max_length=40, description="A family-doctor team.", examples=["T01"])]
DayQuery = Annotated[DateParam, Query(description="The day D (local date); default today.")]
#: Follow-ups and readings shown on a resident's record.
RECORD_FOLLOWUPS = 10
RECORD_MEASUREMENTS = 20
#: Longest reason a centre may give for unmasking a list (it is kept in the audit log).


def model_path(settings: Settings) -> FilePath:
    """Where ``healthmap model train`` saves the risk model (fallback score without it)."""
    return settings.risk_model_path


def day_of(value: dt.date | None, settings: Settings) -> dt.date:
    return check_date(value, "query.date") if value else local_today(settings.rules.timezone)


CSV_EXAMPLE = (
    "resident_id,name,phone,age,sex,disease,task_code,colour,due_date,...\r\n"
    "R000123,张三,13800000001,71,1,htn,emergency_reading,red,2026-11-15,...\r\n"
)


def visible_list_version(
    user: Principal, session: Session, worklists: WorklistCache, team_id: str
) -> tuple[Any, ...]:
    """404 unless the caller may see the team (``service.scope.ensure_team_visible``);
    then the version its cached list and routes are keyed by.

    On the session's connection. A doctor's check (the team must be theirs and exist) is
    the version's own statement: a list read is the most frequent request of the
    service, and on PostgreSQL every statement is a round trip.
    """
    if user.role == TEAM_SCOPED_ROLE:
        ensure_in_scope(user, team_id=team_id)  # on the id alone, before any query
        version = worklists.known_version(team_id, session.connection())
        if version is None:
            raise NotFound()
        return version
    ensure_team_visible(user, session, team_id)
    return worklists.version(team_id, session.connection())


@router.get(
    "/teams/{team_id}/pushlist",
    summary="A team's live push list",
    response_model=PushList,
    responses={
        **NOT_YOURS,
        200: {
            "description": "JSON (`format=json`) or CSV (`format=csv`, UTF-8 with BOM).",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}},
        },
    },
)
def pushlist(
    user: CareUser,
    team_id: TeamId,
    session: ReadSessionDep,
    settings: SettingsDep,
    worklists: WorklistsDep,
    audit: AuditDep,
    date: DayQuery = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    unmask: UnmaskQuery = False,
    reason: ReasonQuery = None,
) -> Any:
    """The team's open tasks due by day D, in list order (red, yellow, green; then risk,
    then days overdue), with the RULES.md fields. A doctor of the team sees names and
    phones; a centre sees them masked, unless it asks with ``unmask=true`` and a
    ``reason`` (422 without one). Audited (``read``, or ``export`` for CSV) with the
    listed resident ids, and for an unmasked centre read with the reason.

    Served from the service's cache while nothing was written since the list was last
    computed (``service.worklists``): a recorded visit, reading or dismissal, an ingest or
    a build is seen by the next request."""
    version = visible_list_version(user, session, worklists, team_id)
    release(session)
    when = day_of(date, settings)
    masked, unmasked_by_centre = masking(user.role, unmask, reason)
    try:
        rendered = worklists.rendered(version, team_id, when, masked=masked, fmt=format)
    except UnknownTeamError:
        raise NotFound() from None  # as unknown as a team out of scope: no detail
    detail: dict[str, Any] = {
        "date": when.isoformat(),
        "masked": masked,
        "format": format,
        "entries": rendered.entries,
        "resident_ids": rendered.resident_ids,
    }
    if unmasked_by_centre:
        detail["unmasked"] = True
        detail["reason"] = (reason or "").strip()
    audit("export" if format == "csv" else "read", "pushlist", team_id, detail=detail)
    if user.role == TEAM_SCOPED_ROLE:  # the centre's console shows when the team opened it
        record_list_opened(worklists.engine, team_id, when, user.username, utcnow())
    if format == "csv":
        return Response(
            rendered.body,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="pushlist_{team_id}_{when}.csv"',
                "Cache-Control": "no-store",
            },
        )
    return Response(
        rendered.body, media_type="application/json", headers={"Cache-Control": "no-store"}
    )


@router.get(
    "/teams/{team_id}/route", summary="The day's visit route of a team", responses=NOT_YOURS
)
def route(
    user: CareUser,
    team_id: TeamId,
    session: SessionDep,
    settings: SettingsDep,
    worklists: WorklistsDep,
    audit: AuditDep,
    date: DayQuery = None,
    mode: Annotated[Literal["drive", "ebike", "walk"], Query()] = "drive",
) -> RouteOut:
    """The round from the team's base facility through the day's first
    ``max_daily_visits`` listed patients (red first) and back, with legs, totals and a
    GeoJSON drawing (line, base, numbered stops). Audited with the routed resident ids.
    Cached like the list, and recomputed after any write."""
    version = visible_list_version(user, session, worklists, team_id)
    release(session)
    when = day_of(date, settings)
    try:
        planned = worklists.route(version, team_id, when, mode)
    except UnknownTeamError:
        raise NotFound() from None  # as unknown as a team out of scope: no detail
    stops = [RouteStop(**r) for r in records(planned.stops)]
    legs = [RouteLeg(**r) for r in records(planned.legs)]
    audit(
        "read",
        "route",
        team_id,
        detail={
            "date": when.isoformat(),
            "mode": mode,
            "resident_ids": [s.resident_id for s in stops],
        },
    )
    return RouteOut(
        team_id=team_id,
        date=when,
        mode=mode,
        stops=stops,
        legs=legs,
        total_distance_m=float(planned.total_distance_m),
        total_seconds=float(planned.total_seconds),
        deferred=list(planned.deferred),
        skipped=list(planned.skipped),
        geometry=planned.to_geojson(),
    )


@router.get(
    "/teams/{team_id}/pushlist/runs",
    summary="When the morning lists were generated",
    responses=NOT_YOURS,
)
def pushlist_runs(
    user: CareUser,
    team_id: TeamId,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=366)] = 30,
) -> PushListRuns:
    """The latest morning runs (newest first): when the day's lists were generated, how
    big they were county-wide, and how many entries this team's list had."""
    ensure_team_visible(user, session, team_id)
    runs = session.scalars(
        select(PushListRun).order_by(PushListRun.list_date.desc()).limit(limit)
    ).all()
    counts = dict(
        session.execute(
            select(PushListEntry.list_date, func.count())
            .where(
                PushListEntry.team_id == team_id,
                PushListEntry.list_date.in_([r.list_date for r in runs]),
            )
            .group_by(PushListEntry.list_date)
        ).all()
    )
    items = [
        PushListRunOut(
            list_date=r.list_date,
            generated_at=r.generated_at,
            teams=r.teams,
            entries=r.entries,
            team_entries=int(counts.get(r.list_date, 0)),
            seconds=r.seconds,
            risk_source=r.risk_source,
        )
        for r in runs
    ]
    return PushListRuns(team_id=team_id, items=items)


@router.post(
    "/tasks/dismiss",
    summary="Dismiss a task without a visit",
    status_code=201,
    responses={
        200: {"description": "The same dismissal existed already.", "model": DismissalOut},
        404: problem_doc("Unknown resident, or not managed by the doctor's team."),
    },
)
def dismiss(
    body: DismissIn,
    user: DoctorUser,
    session: SessionDep,
    settings: SettingsDep,
    worklists: WorklistsDep,
    audit: AuditDep,
    response: Response,
) -> DismissalOut:
    """Close a task of one of the team's patients with a reason (moved away, in hospital…);
    it leaves the live list at once. Only the doctor of the patient's managing team
    (RULES.md: the registry's team, else the signed team, else the grid's team). Sending
    the same dismissal again returns the existing one (200). Audited (``write``)."""
    team = managing_team(session, body.resident_id, body.disease)
    if team is None or team != user.team_id:
        raise NotFound()
    existing = session.scalar(
        select(TaskDismissal).where(
            TaskDismissal.resident_id == body.resident_id,
            TaskDismissal.disease == body.disease,
            TaskDismissal.task_code == body.task_code,
            TaskDismissal.due_date == body.due_date,
        )
    )
    if existing is not None:
        response.status_code = 200
        return DismissalOut.model_validate(existing)
    row = TaskDismissal(
        resident_id=body.resident_id,
        disease=body.disease,
        task_code=body.task_code,
        due_date=body.due_date,
        dismissed_at=utcnow(),
        reason=body.reason,
        username=user.username[:60],  # the column's length (usernames may have 64)
        team_id=user.team_id,
    )
    session.add(row)
    session.flush()
    audit(
        "write",
        "task_dismissal",
        str(row.id),
        detail={
            "resident_id": body.resident_id,
            "disease": body.disease,
            "task_code": body.task_code,
            "due_date": body.due_date.isoformat(),
        },
        session=session,
    )
    bump_team_versions(session, [body.resident_id])  # their lists are stale from this commit on
    session.commit()
    # The doctor goes back to the list next: have it made by then (service.worklists).
    worklists.refresh_soon([body.resident_id], local_today(settings.rules.timezone))
    return DismissalOut.model_validate(row)


@router.get(
    "/residents/{resident_id}",
    summary="A patient's record",
    responses={404: problem_doc("Unknown resident, or not a patient of the doctor's team.")},
)
def resident(
    user: DoctorUser,
    resident_id: Annotated[str, Path(max_length=40, examples=["R01"])],
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditDep,
) -> ResidentOut:
    """The record a visiting doctor needs: name, masked ID number, phone, address and
    location, the management files, the latest follow-ups and readings. Only doctors of a
    team that holds the resident (signed, grid, or managing team). Audited (``read``)."""
    person = ensure_resident_for_doctor(user, session, resident_id)
    registry = session.scalars(
        select(ChronicRegistry)
        .where(ChronicRegistry.resident_id == resident_id)
        .order_by(ChronicRegistry.disease)
    ).all()
    visits = session.scalars(
        select(Followup)
        .where(Followup.resident_id == resident_id)
        .order_by(Followup.visit_date.desc(), Followup.followup_id.desc())
        .limit(RECORD_FOLLOWUPS)
    ).all()
    readings = session.scalars(
        select(Measurement)
        .where(Measurement.resident_id == resident_id)
        .order_by(Measurement.measured_at.desc(), Measurement.measurement_id.desc())
        .limit(RECORD_MEASUREMENTS)
    ).all()
    today = local_today(settings.rules.timezone)
    out = ResidentOut(
        resident_id=person.resident_id,
        name=person.name,
        id_masked=person.id_masked,
        sex=person.sex,
        birth_date=person.birth_date,
        age=age_on_scalar(person.birth_date, today),
        phone=person.phone,
        address=person.address,
        area_code=person.area_code,
        town_code=person.town_code,
        grid_id=person.grid_id,
        signed_team_id=person.signed_team_id,
        status=person.status,
        lat=person.lat,
        lng=person.lng,
        loc_precision=person.loc_precision,
        registry=[RegistryOut.model_validate(r) for r in registry],
        followups=[FollowupOut.model_validate(v) for v in visits],
        measurements=[measurement_out(m) for m in readings],
    )
    release(session)
    # The resident's "who read my record" (GET /api/v1/me/access-log) lists these reads
    # (resource type and id are indexed); the team as it was when the record was read.
    audit("read", "resident", resident_id, detail={"team_id": user.team_id})
    return out


def measurement_out(m: Measurement) -> MeasurementOut:
    """A stored reading, its time as aware UTC on both backends."""
    out = MeasurementOut.model_validate(m)
    out.self_reported = m.source == SELF_REPORTED
    if out.measured_at.tzinfo is None:  # SQLite keeps no offset; what it holds is UTC
        out.measured_at = out.measured_at.replace(tzinfo=dt.UTC)
    return out
