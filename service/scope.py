"""Who may see what: the scope questions the routes ask the store.

Scope is enforced here, in queries, never in the front end (``docs/security.md``):

* a **doctor** sees the residents of its own team — signed to it, living in one of its
  grids, or managed by it in the chronic registry (the same set its push list is computed
  from, ``pipelines.pushlist.TEAM_RESIDENTS``), so every patient on its list can be opened;
* a **chronic-disease centre** sees the teams whose base facility lies in its township, and
  the grids and villages of its township; county-wide suppressed aggregates (H3 cells,
  towns, the county, hotspots on H3 cells, burden per town) are open to it as to the bureau.

Anything outside a scope raises :class:`service.errors.NotFound` through
:func:`service.deps.ensure_in_scope`, so an out-of-scope id answers exactly like an unknown
one.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from geo.vocabulary import TEAM_SCOPED_ROLE, TOWN_SCOPED_ROLE, town_of_code, town_prefix
from service.auth import Principal
from service.deps import ensure_in_scope
from service.errors import NotFound
from store.models import Area, ChronicRegistry, Facility, Grid, Resident, Team

#: Aggregate levels a chronic-disease centre sees only inside its own township.
TOWN_SCOPED_LEVELS = frozenset({"grid", "village", "team"})


def team_town(session: Session, team_id: str) -> str | None:
    """The township of a team: where its base facility lies; None for an unknown team."""
    row = session.execute(
        select(Facility.town_code, Facility.area_code)
        .join(Team, Team.facility_id == Facility.facility_id)
        .where(Team.team_id == team_id)
    ).first()
    if row is None:
        return None
    return row.town_code or town_of_code(row.area_code)


def teams_of_town(session: Session, town_code: str) -> set[str]:
    """Teams whose base facility lies in ``town_code``."""
    rows = session.execute(
        select(Team.team_id, Facility.town_code, Facility.area_code).join(
            Facility, Team.facility_id == Facility.facility_id
        )
    )
    return {t for t, town, area in rows if (town or town_of_code(area)) == town_code}


def ensure_team_visible(user: Principal, session: Session, team_id: str) -> None:
    """404 unless the team exists and is the doctor's own or lies in the centre's township."""
    if user.role == TEAM_SCOPED_ROLE:
        # Decided on the id alone: a doctor learns nothing about other teams, not even
        # whether they exist.
        ensure_in_scope(user, team_id=team_id)
        teams = Team.__table__.c
        known = select(teams.team_id).where(teams.team_id == team_id)
        if session.connection().execute(known).first() is None:
            raise NotFound()
        return
    ensure_in_scope(user, town_code=team_town(session, team_id))


def resident_teams(session: Session, resident_id: str) -> set[str]:
    """Teams whose scope holds the resident: signed team, grid's team, registry teams."""
    teams: set[str] = set()
    row = session.execute(
        select(Resident.signed_team_id, Grid.team_id)
        .outerjoin(Grid, Grid.grid_id == Resident.grid_id)
        .where(Resident.resident_id == resident_id)
    ).first()
    if row is None:
        return teams
    teams.update(t for t in row if t)
    teams.update(
        t
        for t in session.scalars(
            select(ChronicRegistry.team_id).where(ChronicRegistry.resident_id == resident_id)
        )
        if t
    )
    return teams


def ensure_resident_for_doctor(user: Principal, session: Session, resident_id: str) -> Resident:
    """The resident, if the calling doctor's team holds them; 404 otherwise."""
    resident = session.get(Resident, resident_id)
    teams = resident_teams(session, resident_id) if resident is not None else set()
    if resident is None or user.team_id not in teams:
        raise NotFound()
    return resident


def residents_for_doctor(
    user: Principal, session: Session, resident_ids: Iterable[str]
) -> dict[str, Resident]:
    """Every resident of ``resident_ids`` in the doctor's team, else 404 for all of them."""
    out = {}
    for rid in dict.fromkeys(resident_ids):
        out[rid] = ensure_resident_for_doctor(user, session, rid)
    return out


def managing_team(session: Session, resident_id: str, disease: str) -> str | None:
    """The team managing ``disease`` for a resident (RULES.md "Managed patients").

    The registry's team, else the resident's signed team, else the team of the resident's
    grid. Without a registry row (a case-finding task) the same fallbacks apply.
    """
    registry_team = session.scalar(
        select(ChronicRegistry.team_id).where(
            ChronicRegistry.resident_id == resident_id, ChronicRegistry.disease == disease
        )
    )
    if registry_team:
        return registry_team
    row = session.execute(
        select(Resident.signed_team_id, Grid.team_id)
        .outerjoin(Grid, Grid.grid_id == Resident.grid_id)
        .where(Resident.resident_id == resident_id)
    ).first()
    if row is None:
        return None
    return row[0] or row[1]


def unit_town(session: Session, level: str, unit_id: str) -> str | None:
    """The township a grid, village or team lies in (None when unknown)."""
    if level == "grid":
        row = session.execute(
            select(Grid.town_code, Grid.village_codes).where(Grid.grid_id == unit_id)
        ).first()
        if row is None:
            return None
        if row.town_code:
            return str(row.town_code)
        first = (row.village_codes or "").split(";")[0].strip()
        return town_of_code(first)
    if level == "village":
        parent = session.scalar(select(Area.parent_code).where(Area.area_code == unit_id))
        return parent or town_of_code(unit_id)
    if level == "team":
        return team_town(session, unit_id)
    if level == "town":
        return unit_id
    return None


def units_in_town(session: Session, level: str, town_code: str) -> set[str]:
    """Ids of the grids, villages or teams of a township (``level`` in TOWN_SCOPED_LEVELS)."""
    if level == "grid":
        rows = session.execute(select(Grid.grid_id, Grid.town_code, Grid.village_codes))
        return {
            g
            for g, town, villages in rows
            if (town or town_of_code((villages or "").split(";")[0].strip())) == town_code
        }
    if level == "village":
        return set(
            session.scalars(
                select(Area.area_code).where(
                    Area.level == "village",
                    or_(
                        Area.parent_code == town_code,
                        Area.area_code.like(town_prefix(town_code) + "%"),
                    ),
                )
            )
        )
    if level == "team":
        return teams_of_town(session, town_code)
    raise ValueError(f"level {level!r} is not town-scoped")


def aggregate_units(user: Principal, session: Session, level: str) -> set[str] | None:
    """The units of ``level`` the caller may see, or None for "all of them"."""
    if user.role == TOWN_SCOPED_ROLE and level in TOWN_SCOPED_LEVELS:
        return units_in_town(session, level, str(user.town_code))
    return None


def ensure_unit_visible(user: Principal, session: Session, level: str, unit_id: str) -> None:
    """404 when a centre asks for a grid, village or team outside its township."""
    if user.role == TOWN_SCOPED_ROLE and level in TOWN_SCOPED_LEVELS:
        ensure_in_scope(user, town_code=unit_town(session, level, unit_id))
