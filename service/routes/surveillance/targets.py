"""The influenza vaccination targets of a team: personal data, for the care roles only.

A doctor its own team, in full; a centre its township's teams, masked unless it asks
``unmask=true`` with a ``reason`` (as for push lists). Bureau, planner and admin 403.
Another team is 404, as unknown. Every read is audited with the resident ids.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import false, select

from geo.followup import mask_name, mask_phone
from geo.vocabulary import TEAM_SCOPED_ROLE
from service.deps import AuditDep, CareUser, EngineDep, SessionDep, release
from service.errors import problem_doc
from service.routes.aggregates import build_or_404
from service.routes.surveillance.common import ROUTER, LimitQuery, OffsetQuery, fetch_window
from service.schemas import fill_page
from service.schemas.surveillance import VaccinationTargetPage, VaccinationTargetRow
from service.scope import ensure_team_visible, teams_of_town
from service.shaping import ReasonQuery, UnmaskQuery, masking
from store.models import Resident
from store.results import VaccinationTarget, current_build_id

router = APIRouter(**ROUTER)


@router.get(
    "/vaccination-targets",
    summary="Influenza vaccination targets of a team (personal data)",
    responses={
        403: problem_doc("Roles other than doctor and chronic-disease centre."),
        404: problem_doc("Nothing built yet, or a team not the doctor's / not in the township."),
    },
)
def vaccination_targets(
    user: CareUser,
    engine: EngineDep,
    session: SessionDep,
    audit: AuditDep,
    team: Annotated[
        str | None,
        Query(max_length=40, description="One team (default: the caller's).", examples=["T01"]),
    ] = None,
    unmask: UnmaskQuery = False,
    reason: ReasonQuery = None,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> VaccinationTargetPage:
    """Residents to vaccinate in cells at risk, by team, household and age (oldest first),
    with names and phones. A doctor: its own team (another team is 404). A centre: the
    teams of its township (one with ``team``; another township's is 404), names and
    phones masked unless ``unmask=true`` with a ``reason``. Audited (``read``) with the
    listed resident ids, and for an unmasked centre read with the reason."""
    if team is not None:
        ensure_team_visible(user, session, team)
        teams = [team]
    elif user.role == TEAM_SCOPED_ROLE:
        teams = [str(user.team_id)]
    else:
        teams = sorted(teams_of_town(session, str(user.town_code)))
    release(session)
    masked, unmasked_by_centre = masking(user.role, unmask, reason)
    build = build_or_404(engine)
    t = VaccinationTarget
    where = [t.build_id == current_build_id(), t.team_id.in_(teams) if teams else false()]
    cols = [c for c in t.__table__.columns if c.name not in ("build_id", "lat", "lng")]
    with engine.connect() as conn:
        total, rows = fetch_window(
            conn,
            t.__table__,
            where,
            select(*cols, Resident.name, Resident.phone)
            .outerjoin(Resident, Resident.resident_id == t.resident_id)
            .where(*where)
            .order_by(t.team_id, t.household_id, t.age.desc(), t.resident_id),
            limit=limit,
            offset=offset,
        )
    items = []
    for r in rows:
        values = r._asdict()
        if masked:
            values["name"] = None if r.name is None else mask_name(r.name)
            values["phone"] = None if r.phone is None else mask_phone(r.phone)
        items.append(VaccinationTargetRow(**values))
    detail: dict[str, Any] = {
        "team_ids": teams,
        "masked": masked,
        "limit": limit,
        "offset": offset,
        "entries": len(items),
        "resident_ids": [i.resident_id for i in items],
    }
    if unmasked_by_centre:
        detail["unmasked"] = True
        detail["reason"] = (reason or "").strip()
    audit("read", "vaccination_targets", team, detail=detail)
    return fill_page(
        VaccinationTargetPage,
        items,
        total=total,
        limit=limit,
        offset=offset,
        as_of=build["as_of"],
        team_ids=teams,
        masked=masked,
    )
