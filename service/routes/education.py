"""Health education (``/api/v1/education``, ``/api/v1/me/education``).

Who may call (docs/health-education.md; the rules are in ``service.education``):

* write (create, replace a draft, submit): doctor, chronic_center, bureau, admin — the
  author only, its own drafts;
* review (publish, send back, withdraw): chronic_center (its township's items), bureau and
  admin (any); never one's own item;
* list and read items: the authors' and reviewers' roles, each within its scope;
* the reads layer: the analyst roles (a centre sees its township's grids);
* ``/api/v1/me/education``: a resident, the items that match them today; reading one
  that does not match them answers 404.

Every write is audited (action ``write``, resource ``education_item``) in the write's own
transaction; a resident's first read of an item is audited as ``education_read``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.education_content import markdown_problems, render_markdown
from geo.vocabulary import EDUCATION_AUTHOR_ROLES, EDUCATION_REVIEW_ROLES
from service import education as edu
from service.auth import Principal, utcnow
from service.deps import (
    AggregateUser,
    AuditDep,
    EngineDep,
    ResidentUser,
    SessionDep,
    SettingsDep,
    require_roles,
)
from service.errors import Forbidden, NotFound, problem_doc
from service.schemas.common import Limit, Offset, fill_page
from service.schemas.education import (
    EducationItemIn,
    EducationItemOut,
    EducationItemPage,
    EducationItemRow,
    EducationReadOut,
    EducationState,
    RenderIn,
    RenderOut,
    ResidentEducationItem,
    ResidentEducationPage,
    ReviewIn,
)
from service.shaping import invalid_field, local_today
from store.education import EducationItem, EducationRead

router = APIRouter(prefix="/api/v1", tags=["education"])

_READ_ROLES = sorted(EDUCATION_AUTHOR_ROLES | EDUCATION_REVIEW_ROLES)
StaffUser = Annotated[Principal, Depends(require_roles(*_READ_ROLES))]
AuthorUser = Annotated[Principal, Depends(require_roles(*sorted(EDUCATION_AUTHOR_ROLES)))]
ReviewerUser = Annotated[Principal, Depends(require_roles(*sorted(EDUCATION_REVIEW_ROLES)))]
ItemId = Annotated[str, Path(min_length=1, max_length=40, examples=["E3f9a01c2b4d5"])]

ITEM_ERRORS: dict[int | str, dict[str, Any]] = {
    403: problem_doc("A role that may not take this step, or someone else's item."),
    404: problem_doc("Unknown item, or one outside the caller's scope."),
    409: problem_doc("The item is not in a state this step applies to."),
}


def _out(item: EducationItem) -> EducationItemOut:
    return EducationItemOut.model_validate(
        {
            **EducationItemRow.model_validate(item).model_dump(),
            "body_markdown": item.body_markdown,
            "body_html": render_markdown(item.body_markdown),
        }
    )


def _commit(session: Session, item: EducationItem) -> EducationItemOut:
    session.commit()
    return _out(item)


# ----------------------------------------------------------------------------------------
# Staff: list, read, write, review
# ----------------------------------------------------------------------------------------
@router.get("/education/items", summary="Health-education items the caller may see")
def list_items(
    user: StaffUser,
    session: SessionDep,
    state: Annotated[EducationState | None, Query(description="Only items in this state.")] = None,
    mine: Annotated[bool, Query(description="Only the caller's own items.")] = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> EducationItemPage:
    """Items in the caller's scope, most recently changed first (the page envelope)."""
    items = EducationItem.__table__.c
    where = [edu.visible_clause(user, session)]
    if state is not None:
        where.append(items.state == state)
    if mine:
        where.append(items.author_user_id == user.id)
    total = session.scalar(select(func.count()).select_from(EducationItem).where(*where)) or 0
    rows = session.scalars(
        select(EducationItem)
        .where(*where)
        .order_by(items.updated_at.desc(), items.item_id)
        .limit(limit)
        .offset(offset)
    ).all()
    return fill_page(
        EducationItemPage,
        (EducationItemRow.model_validate(r) for r in rows),
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/education/items",
    status_code=201,
    summary="Write a new item (a draft)",
    responses={422: problem_doc("A refused image or external link, or a grid out of scope.")},
)
def create_item(
    body: EducationItemIn, user: AuthorUser, session: SessionDep, audit: AuditDep
) -> EducationItemOut:
    """A draft in the author's township (county-wide for the bureau and admin)."""
    town = edu.author_town(user, session)
    edu.check_item(session, body, town)
    now = utcnow()
    item = EducationItem(
        item_id=edu.new_item_id(),
        **body.model_dump(),
        town_code=town,
        state=edu.DRAFT,
        author_user_id=user.id,
        author_username=user.username,
        author_role=user.role,
        author_team_id=user.team_id,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    audit("write", "education_item", item.item_id, {"step": "create"}, session=session)
    return _commit(session, item)


@router.get(
    "/education/items/{item_id}", summary="One item with its rendered body", responses=ITEM_ERRORS
)
def get_item(item_id: ItemId, user: StaffUser, session: SessionDep) -> EducationItemOut:
    return _out(edu.visible_item(user, session, item_id))


@router.put(
    "/education/items/{item_id}",
    summary="Replace the fields of one's own draft",
    responses={**ITEM_ERRORS, 422: problem_doc("A refused URL or a grid out of scope.")},
)
def update_item(
    item_id: ItemId, body: EducationItemIn, user: AuthorUser, session: SessionDep, audit: AuditDep
) -> EducationItemOut:
    item = edu.own_draft(user, session, item_id)
    edu.check_item(session, body, item.town_code)
    for field, value in body.model_dump().items():
        setattr(item, field, value)
    item.updated_at = utcnow()
    audit("write", "education_item", item_id, {"step": "edit"}, session=session)
    return _commit(session, item)


@router.post(
    "/education/items/{item_id}/submit",
    summary="Submit one's own draft for review",
    responses=ITEM_ERRORS,
)
def submit_item(
    item_id: ItemId, user: AuthorUser, session: SessionDep, audit: AuditDep
) -> EducationItemOut:
    item = edu.own_draft(user, session, item_id)
    # Checked again: a draft saved before a rule tightened must not slip through.
    if problems := markdown_problems(item.body_markdown):
        raise invalid_field("body_markdown", "; ".join(problems), "unsafe_markdown")
    now = utcnow()
    item.state, item.submitted_at, item.updated_at = edu.IN_REVIEW, now, now
    audit("write", "education_item", item_id, {"step": "submit"}, session=session)
    return _commit(session, item)


def _review(
    user: Principal,
    session: Session,
    audit: Any,
    item_id: str,
    step: str,
    to_state: str,
    from_states: tuple[str, ...],
    note: str | None,
) -> EducationItemOut:
    item = edu.reviewable(user, session, item_id, *from_states)
    if step == "publish" and item.author_user_id == user.id:
        raise Forbidden(
            f"Item {item_id} is your own; another reviewer of its township publishes it."
        )
    edu.stamp_review(item, user, to_state, note)
    audit("write", "education_item", item_id, {"step": step}, session=session)
    return _commit(session, item)


@router.post(
    "/education/items/{item_id}/publish", summary="Publish an item in review", responses=ITEM_ERRORS
)
def publish_item(
    item_id: ItemId,
    user: ReviewerUser,
    session: SessionDep,
    audit: AuditDep,
    body: ReviewIn | None = None,
) -> EducationItemOut:
    note = body.note if body else None
    return _review(user, session, audit, item_id, "publish", edu.PUBLISHED, (edu.IN_REVIEW,), note)


@router.post(
    "/education/items/{item_id}/send-back",
    summary="Send an item in review back to its author",
    responses={**ITEM_ERRORS, 422: problem_doc("No note: say what to change.")},
)
def send_back_item(
    item_id: ItemId, body: ReviewIn, user: ReviewerUser, session: SessionDep, audit: AuditDep
) -> EducationItemOut:
    if not body.note:
        raise invalid_field("body.note", "say what the author should change", "missing")
    return _review(
        user, session, audit, item_id, "send_back", edu.DRAFT, (edu.IN_REVIEW,), body.note
    )


@router.post(
    "/education/items/{item_id}/withdraw",
    summary="Withdraw an item (residents no longer see it)",
    responses=ITEM_ERRORS,
)
def withdraw_item(
    item_id: ItemId,
    user: ReviewerUser,
    session: SessionDep,
    audit: AuditDep,
    body: ReviewIn | None = None,
) -> EducationItemOut:
    note = body.note if body else None
    states = (edu.IN_REVIEW, edu.PUBLISHED)
    return _review(user, session, audit, item_id, "withdraw", edu.WITHDRAWN, states, note)


@router.post("/education/render", summary="Preview a body: its safe HTML and refused URLs")
def render_preview(body: RenderIn, user: AuthorUser) -> RenderOut:
    """What a resident would see, and what saving would refuse (200 either way)."""
    return RenderOut(
        html=render_markdown(body.body_markdown), problems=markdown_problems(body.body_markdown)
    )


# ----------------------------------------------------------------------------------------
# The bureau's map layer
# ----------------------------------------------------------------------------------------
@router.get(
    "/education/reads",
    summary="Readers of health education per grid (GeoJSON, small numbers suppressed)",
    response_class=Response,
    responses={
        200: {
            "description": "A FeatureCollection, one feature per grid.",
            "content": {
                "application/geo+json": {
                    "schema": {"$ref": "#/components/schemas/FeatureCollection"}
                }
            },
        },
        404: problem_doc("Unknown item, or one outside the centre's township."),
    },
)
def reads_layer(
    user: AggregateUser,
    engine: EngineDep,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditDep,
    level: Annotated[str, Query(pattern="^grid$", description="Only `grid`.")] = "grid",
    item_id: Annotated[
        str | None, Query(max_length=40, description="One item; default: any item.")
    ] = None,
) -> Response:
    """Per grid: residents who read (the item, or any item) over the grid's residents."""
    if item_id is not None:
        # A doctor never gets here (403); a centre sees its own and county-wide items.
        edu.visible_item(user, session, item_id)
    k = settings.rules.indicators.suppression_k
    body = edu.reads_layer(engine, session, user, item_id, k)
    audit("read", "education_reads", item_id, {"level": level, "grids": len(body["features"])})
    return Response(
        json.dumps(body, ensure_ascii=False, default=str), media_type="application/geo+json"
    )


# ----------------------------------------------------------------------------------------
# A resident's own items
# ----------------------------------------------------------------------------------------
@router.get("/me/education", summary="Health education that matches me today")
def my_items(
    user: ResidentUser,
    session: SessionDep,
    settings: SettingsDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ResidentEducationPage:
    today = local_today(settings.rules.timezone)
    resident_id = str(user.resident_id)
    items = edu.matching_items(session, resident_id, today)
    reads = edu.reads_of(session, resident_id)
    window = items[offset : offset + limit]
    return fill_page(
        ResidentEducationPage,
        (
            ResidentEducationItem(
                item_id=i.item_id,
                title=i.title,
                body_html=render_markdown(i.body_markdown),
                diseases=list(i.diseases or ()),
                valid_from=i.valid_from,
                valid_to=i.valid_to,
                read_at=reads.get(i.item_id),
            )
            for i in window
        ),
        total=len(items),
        limit=limit,
        offset=offset,
    )


@router.post(
    "/me/education/{item_id}/read",
    summary="Record that I read an item (idempotent)",
    responses={404: problem_doc("No item of that id matches this resident today.")},
)
def read_item(
    item_id: ItemId, user: ResidentUser, session: SessionDep, settings: SettingsDep, audit: AuditDep
) -> EducationReadOut:
    today = local_today(settings.rules.timezone)
    resident_id = str(user.resident_id)
    if item_id not in {i.item_id for i in edu.matching_items(session, resident_id, today)}:
        raise NotFound()
    first = edu.reads_of(session, resident_id).get(item_id)
    if first is None:
        first = utcnow()
        session.add(EducationRead(item_id=item_id, resident_id=resident_id, read_at=first))
        audit("write", "education_read", item_id, session=session)
        try:
            session.commit()
        except IntegrityError:  # the same resident's other tab got there first
            session.rollback()
            first = edu.reads_of(session, resident_id)[item_id]
    return EducationReadOut(item_id=item_id, read_at=first)
