"""Recording visits and readings: ``POST /api/v1/followups`` and ``/api/v1/measurements``.

A doctor records for the patients of its own team (anyone else's is 404, like an unknown
resident); readings also come from the smart terminals, which post with a service account
of role ``admin`` and may post for any resident. The rules (ranges, idempotency, local
time, emergencies) are in ``service.recording``; writes are audited (``write``).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.vocabulary import TEAM_SCOPED_ROLE
from service.auth import Principal
from service.deps import (
    AuditDep,
    DoctorUser,
    RecorderUser,
    SessionDep,
    SettingsDep,
    WorklistsDep,
)
from service.emergencies import announce
from service.errors import Conflict, NotFound, problem_doc
from service.recording import record_followup, record_measurements
from service.routes.care import measurement_out
from service.schemas import (
    FollowupIn,
    FollowupOut,
    MeasurementBody,
    MeasurementResult,
    MeasurementsOut,
    RecordWarning,
)
from service.scope import ensure_resident_for_doctor
from service.shaping import local_today
from store.models import ChronicRegistry, Followup, Resident

router = APIRouter(prefix="/api/v1", tags=["records"])
logger = logging.getLogger("healthmap.service")


@router.post(
    "/followups",
    summary="Record a follow-up visit",
    status_code=201,
    responses={
        200: {"description": "The same visit was recorded already.", "model": FollowupOut},
        404: problem_doc("Unknown resident, or not a patient of the doctor's team."),
        409: problem_doc("The followup_id exists with different content."),
    },
)
def post_followup(
    body: FollowupIn,
    user: DoctorUser,
    session: SessionDep,
    settings: SettingsDep,
    worklists: WorklistsDep,
    audit: AuditDep,
    response: Response,
) -> FollowupOut:
    """Record a visit of one of the team's patients (fields and ranges as in the data
    contract: SBP 50–300, DBP 30–200 and below SBP, glucose 1.0–40.0, heart rate 20–250;
    422 names the field). The classification is computed (RULES.md) when absent. The
    visit closes the patient's open task of that disease on the live list at once.

    Idempotent on ``followup_id``: the same body again answers 200 with the stored visit;
    a different body with a used id is 409."""
    resident = ensure_resident_for_doctor(user, session, body.resident_id)
    today = local_today(settings.rules.timezone)
    try:
        row, created = record_followup(session, body, resident, settings.rules, today)
        if created:
            audit(
                "write",
                "followup",
                row.followup_id,
                detail={"resident_id": row.resident_id, "disease": row.disease},
                session=session,
            )
        session.commit()
        if created:  # the doctor goes back to the list next: have it made by then
            worklists.refresh_soon([body.resident_id], today)
    except IntegrityError:
        # A concurrent request stored the same id first: answer as if this one came second.
        session.rollback()
        row, created = record_followup(session, body, resident, settings.rules, today)
        if created:
            raise Conflict("The follow-up was recorded concurrently; retry.") from None
    response.status_code = 201 if created else 200
    out = FollowupOut.model_validate(row)
    out.warnings = registry_warnings(session, row)
    return out


def registry_warnings(session: Session, row: Followup) -> list[RecordWarning]:
    """A ``not_in_registry`` warning when the resident has no registry entry of the visit's
    disease open on its date. The visit is kept (a doctor may see a patient before the
    registry catches up), but it counts towards no managed-patient indicator until then."""
    entry = session.get(ChronicRegistry, (row.resident_id, row.disease))
    open_then = (
        entry is not None
        and entry.enrolled_date <= row.visit_date
        and (entry.closed_date is None or entry.closed_date >= row.visit_date)
    )
    if open_then:
        return []
    message = (
        f"Stored, but the resident has no {row.disease} registry entry open on"
        f" {row.visit_date}: the visit counts towards no managed-patient indicator until the"
        " registry lists them."
    )
    return [RecordWarning(code="not_in_registry", message=message)]


def _check_residents(user: Principal, session: Session, resident_ids: list[str]) -> None:
    for rid in dict.fromkeys(resident_ids):
        if user.role == TEAM_SCOPED_ROLE:
            ensure_resident_for_doctor(user, session, rid)
        elif session.get(Resident, rid) is None:
            raise NotFound(f"No resident {rid}.")


@router.post(
    "/measurements",
    summary="Record terminal readings (one or a list)",
    status_code=201,
    responses={
        200: {"description": "Every reading was recorded already.", "model": MeasurementsOut},
        404: problem_doc("Unknown resident (or, for a doctor, not a patient of its team)."),
        409: problem_doc("A measurement_id exists with different content."),
    },
)
def post_measurements(
    request: Request,
    body: Annotated[MeasurementBody, Body()],
    user: RecorderUser,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditDep,
    response: Response,
) -> MeasurementsOut:
    """Record one reading or a list of up to 500, all or nothing. ``measured_at`` with an
    offset, or local time (Asia/Shanghai) without; ``measured_date`` is its local date.
    Idempotent per ``measurement_id`` (same content → ``unchanged``; different → 409).

    A reading that is an emergency reading for one of the patient's managed diseases
    (SBP ≥ 180 or DBP ≥ 110; for diabetes also glucose ≥ 16.7 or ≤ 3.9) is flagged
    (``emergency``), is a red ``emergency_reading`` task on the team's live list at once,
    and is POSTed to ``service.emergency_webhook_url`` when one is set (through the outbox,
    committed with the reading and delivered in the background: the request never waits
    for it; retried until it arrives, once per reading)."""
    items = body if isinstance(body, list) else [body]
    locs = [f"body.items.{i}" for i in range(len(items))] if isinstance(body, list) else ["body"]
    _check_residents(user, session, [m.resident_id for m in items])
    try:
        recorded = record_measurements(session, items, settings.rules, locs=locs)
        new = [r for r in recorded if r.created]
        if new:
            audit(
                "write",
                "measurement",
                new[0].row.measurement_id if len(new) == 1 else None,
                detail={
                    "measurement_ids": [r.row.measurement_id for r in new],
                    "resident_ids": sorted({r.row.resident_id for r in new}),
                },
                session=session,
            )
        announce(session, recorded, webhook_url=request.app.state.emergency_webhook_url)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("A reading was recorded concurrently; retry the request.") from None
    results = [
        MeasurementResult(
            **measurement_out(r.row).model_dump(),
            status="created" if r.created else "unchanged",
            emergency=bool(r.emergency_diseases),
            emergency_diseases=r.emergency_diseases,
        )
        for r in recorded
    ]
    created = sum(r.created for r in recorded)
    response.status_code = 201 if created else 200
    return MeasurementsOut(
        created=created,
        unchanged=len(recorded) - created,
        emergencies=sum(bool(r.emergency_diseases) for r in recorded),
        items=results,
    )
