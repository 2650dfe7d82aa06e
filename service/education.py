"""Health education: who may see, write and review an item, matching, the reads layer.

The routes are ``service.routes.education``; the rules (docs/health-education.md):

* **Township of an item.** An item belongs to its author's township: a centre's own
  (``town_code`` of the account), a doctor's team's (where the team's base facility lies);
  the bureau's and admin's items are county-wide (``town_code`` NULL). An item's grids must
  lie in its township; naming none targets every grid of it (of the county when
  county-wide).
* **Seeing.** Bureau and admin: every item. A centre: its township's items and county-wide
  published ones. A doctor: its own items and the published ones of its township or the
  county. Anything else answers 404, as if it did not exist.
* **Writing.** Only the author edits its item and submits it, and only while a draft.
* **Reviewing.** A centre publishes, sends back and withdraws its township's items; the
  bureau and admin any item (county-wide ones only they). Nobody publishes their own item.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Engine, and_, func, or_, select, true
from sqlalchemy.orm import Session

from geo.education_content import Audience, ResidentFacts, item_matches, markdown_problems
from geo.suppression import DENOMINATOR_BELOW_K, suppression_reasons
from geo.vocabulary import TEAM_SCOPED_ROLE, TOWN_SCOPED_ROLE, town_of_code
from service.auth import Principal, utcnow
from service.errors import Conflict, Forbidden, NotFound
from service.schemas.education import EducationItemIn
from service.scope import team_town, unit_town, units_in_town
from service.shaping import invalid_field
from store.education import EducationItem, EducationRead
from store.models import ChronicRegistry, Grid, GridVillage, Resident
from store.shapes import unit_features

DRAFT, IN_REVIEW, PUBLISHED, WITHDRAWN = "draft", "in_review", "published", "withdrawn"


def new_item_id() -> str:
    """A fresh, unguessable item id (``E`` and 12 hex digits)."""
    return "E" + secrets.token_hex(6)


def author_town(user: Principal, session: Session) -> str | None:
    """The township an item written by ``user`` belongs to (None: county-wide)."""
    if user.role == TOWN_SCOPED_ROLE:
        return user.town_code
    if user.role == TEAM_SCOPED_ROLE:
        town = team_town(session, str(user.team_id)) if user.team_id else None
        if town is None:
            raise Forbidden(
                f"Team {user.team_id} has no township on record; ask an administrator to "
                "load its base facility before writing health education."
            )
        return town
    return None


def check_item(session: Session, body: EducationItemIn, town: str | None) -> None:
    """422 for a body with refused URLs or grids that are unknown or outside ``town``."""
    problems = markdown_problems(body.body_markdown)
    if problems:
        raise invalid_field("body.body_markdown", "; ".join(problems), "unsafe_markdown")
    bad = []
    for grid_id in body.grids:
        grid_town = unit_town(session, "grid", grid_id)
        if grid_town is None or (town is not None and grid_town != town):
            bad.append(grid_id)
    if bad:
        where = f"township {town}" if town else "the county"
        raise invalid_field(
            "body.grids",
            f"unknown grids or outside {where}: {', '.join(bad)}; an item targets only grids "
            "of its author's township (leave the list empty for all of them)",
            "unknown_grid",
        )


# ----------------------------------------------------------------------------------------
# Visibility and permissions
# ----------------------------------------------------------------------------------------
def visible_clause(user: Principal, session: Session) -> ColumnElement[bool]:
    """The items ``user`` may see, as a WHERE clause."""
    items = EducationItem.__table__.c
    if user.role == TOWN_SCOPED_ROLE:
        return or_(
            items.town_code == user.town_code,
            and_(items.town_code.is_(None), items.state == PUBLISHED),
        )
    if user.role == TEAM_SCOPED_ROLE:
        town = team_town(session, str(user.team_id)) if user.team_id else None
        published_here = and_(
            items.state == PUBLISHED,
            or_(items.town_code.is_(None), items.town_code == town),
        )
        return or_(items.author_user_id == user.id, published_here)
    return true()


def visible_item(user: Principal, session: Session, item_id: str) -> EducationItem:
    """The item, if ``user`` may see it; 404 otherwise (unknown or out of scope alike)."""
    item = session.scalar(
        select(EducationItem).where(EducationItem.item_id == item_id, visible_clause(user, session))
    )
    if item is None:
        raise NotFound()
    return item


def own_draft(user: Principal, session: Session, item_id: str) -> EducationItem:
    """The caller's own draft (404 unseen, 403 someone else's, 409 not a draft)."""
    item = visible_item(user, session, item_id)
    if item.author_user_id != user.id:
        raise Forbidden(f"Only its author ({item.author_username}) may change item {item_id}.")
    if item.state != DRAFT:
        raise Conflict(
            f"Item {item_id} is {item.state}; only a draft can be changed or submitted "
            "(a reviewer sends an item in review back to its author as a draft)."
        )
    return item


def reviewable(user: Principal, session: Session, item_id: str, *states: str) -> EducationItem:
    """An item ``user`` may review in one of ``states`` (404, 403 or 409 otherwise)."""
    item = visible_item(user, session, item_id)
    if user.role == TOWN_SCOPED_ROLE and item.town_code != user.town_code:
        raise Forbidden(f"Item {item_id} is county-wide; the bureau reviews it.")
    if item.state not in states:
        raise Conflict(f"Item {item_id} is {item.state}; this step needs it {' or '.join(states)}.")
    return item


def stamp_review(item: EducationItem, user: Principal, state: str, note: str | None) -> None:
    """Move ``item`` to ``state`` as reviewed by ``user`` now."""
    now = utcnow()
    item.state = state
    item.reviewer_username = user.username
    item.review_note = note
    item.reviewed_at = now
    item.updated_at = now
    if state == PUBLISHED:
        item.published_at = now
    elif state == WITHDRAWN:
        item.withdrawn_at = now


# ----------------------------------------------------------------------------------------
# Matching for a resident
# ----------------------------------------------------------------------------------------
def resident_facts(session: Session, resident_id: str, today: dt.date) -> ResidentFacts:
    """What matching needs of a resident: birth date, managed diseases, grid, township.

    The grid is ``residents.grid_id`` (derived at ingestion), else the grid whose villages
    hold the resident's village (``grid_villages``). Managed diseases are the registry's
    files not closed on ``today``.
    """
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFound()
    grid_id = resident.grid_id or session.scalar(
        select(GridVillage.grid_id)
        .where(GridVillage.area_code == resident.area_code)
        .order_by(GridVillage.grid_id)
        .limit(1)
    )
    diseases = session.scalars(
        select(ChronicRegistry.disease).where(
            ChronicRegistry.resident_id == resident_id,
            or_(ChronicRegistry.closed_date.is_(None), ChronicRegistry.closed_date > today),
        )
    ).all()
    return ResidentFacts(
        birth_date=resident.birth_date,
        diseases=tuple(diseases),
        grid_id=grid_id,
        town_code=resident.town_code or town_of_code(resident.area_code),
    )


def audience(item: EducationItem) -> Audience:
    """The audience of a stored item."""
    return Audience(
        diseases=tuple(item.diseases or ()),
        min_age=item.min_age,
        max_age=item.max_age,
        grids=tuple(item.grids or ()),
        town_code=item.town_code,
        valid_from=item.valid_from,
        valid_to=item.valid_to,
    )


def matching_items(session: Session, resident_id: str, today: dt.date) -> list[EducationItem]:
    """Published items valid on ``today`` that match the resident, newest first."""
    facts = resident_facts(session, resident_id, today)
    items = EducationItem.__table__.c
    candidates = session.scalars(
        select(EducationItem)
        .where(
            items.state == PUBLISHED,
            items.valid_from <= today,
            or_(items.valid_to.is_(None), items.valid_to >= today),
            or_(items.town_code.is_(None), items.town_code == facts.town_code),
        )
        .order_by(items.published_at.desc(), items.item_id)
    ).all()
    return [item for item in candidates if item_matches(audience(item), facts, today)]


def reads_of(session: Session, resident_id: str) -> dict[str, dt.datetime]:
    """When the resident first read each item they read."""
    rows = session.execute(
        select(EducationRead.item_id, EducationRead.read_at).where(
            EducationRead.resident_id == resident_id
        )
    )
    return {item_id: read_at for item_id, read_at in rows}


# ----------------------------------------------------------------------------------------
# The bureau's map layer
# ----------------------------------------------------------------------------------------
def reads_per_grid(
    session: Session, grid_ids: set[str] | None, item_id: str | None, k: int
) -> pd.DataFrame:
    """Readers per grid under the small-number rule (``geo.suppression``).

    One row per grid (``grid_ids``; None: every grid): ``readers`` (distinct residents of
    the grid who read ``item_id``, or any item), ``residents`` (active residents of the
    grid: the denominator), ``value`` (readers / residents) and the suppression columns. A
    suppressed row shows no value and no readers; below ``k`` residents the residents too.
    """
    grids = {g: n for g, n in session.execute(select(Grid.grid_id, Grid.name))}
    if grid_ids is not None:
        grids = {g: n for g, n in grids.items() if g in grid_ids}
    people = Resident.__table__.c
    residents: dict[str, int] = dict(
        session.execute(
            select(people.grid_id, func.count())
            .where(people.status == "active", people.grid_id.is_not(None))
            .group_by(people.grid_id)
        ).all()
    )
    reads = EducationRead.__table__.c
    readers_q = (
        select(people.grid_id, func.count(func.distinct(reads.resident_id)))
        .join(Resident, Resident.resident_id == reads.resident_id)
        .where(people.status == "active")
        .group_by(people.grid_id)
    )
    if item_id is not None:
        readers_q = readers_q.where(reads.item_id == item_id)
    readers: dict[str, int] = dict(session.execute(readers_q).all())
    order = sorted(grids)
    num = [int(readers.get(g, 0)) for g in order]
    den = [int(residents.get(g, 0)) for g in order]
    reasons: list[str | None] = list(suppression_reasons(num, den, k)) if order else []
    rows: list[dict[str, Any]] = []
    for g, n, d, why in zip(order, num, den, reasons, strict=True):
        rows.append(
            {
                "unit_id": g,
                "name": grids[g],
                "readers": None if why else n,
                "residents": None if why == DENOMINATOR_BELOW_K else d,
                "value": None if why or d == 0 else n / d,
                "suppressed": why is not None,
                "suppression_reason": why,
            }
        )
    columns = ["unit_id", "name", "readers", "residents", "value", "suppressed"]
    return pd.DataFrame(rows, columns=[*columns, "suppression_reason"])


def reads_layer(
    engine: Engine,
    session: Session,
    user: Principal,
    item_id: str | None,
    k: int,
) -> dict[str, Any]:
    """The reads layer as GeoJSON: one feature per grid the caller may see."""
    grid_ids = (
        units_in_town(session, "grid", str(user.town_code))
        if user.role == TOWN_SCOPED_ROLE
        else None
    )
    frame = reads_per_grid(session, grid_ids, item_id, k)
    session.close()  # one pooled connection per request: the shapes take the engine
    body = unit_features(engine, "grid", frame)
    body.update({"level": "grid", "item_id": item_id, "suppression_k": k})
    return body
