"""Helpers of the health-education tests (plain functions; used by the matrix too)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.auth import Principal, issue_token
from service.settings import Settings
from store.accounts import User
from store.education import EducationItem


def add_resident_user(engine: Engine, username: str, resident_id: str) -> None:
    """A resident's account bound to ``resident_id`` (as an activation would make it)."""
    with Session(engine) as session:
        session.add(
            User(
                username=username,
                password_hash="x",  # never logs in: tokens are minted
                role="resident",
                resident_id=resident_id,
                disabled=False,
                created_at=dt.datetime.now(dt.UTC),
                failed_count=0,
            )
        )
        session.commit()


def headers_of(engine: Engine, settings: Settings, username: str) -> dict[str, str]:
    """``Authorization`` header of an account, minted without a login."""
    with Session(engine) as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        principal = Principal.of(user)
    return {"Authorization": f"Bearer {issue_token(principal, settings.auth, 'access')[0]}"}


def insert_item(engine: Engine, item_id: str, author: str, state: str, **kw: Any) -> None:
    """An item stored as-is (the workflow is tested through the API elsewhere)."""
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as session:
        user = session.scalars(select(User).where(User.username == author)).one()
        values: dict[str, Any] = dict(
            item_id=item_id,
            title=f"标题 {item_id}",
            body_markdown="**少盐** 每天不超过5克。",
            diseases=[],
            min_age=None,
            max_age=None,
            grids=[],
            town_code=user.town_code,
            valid_from=dt.date(2000, 1, 1),
            valid_to=None,
            state=state,
            author_user_id=user.id,
            author_username=user.username,
            author_role=user.role,
            author_team_id=user.team_id,
            created_at=now,
            updated_at=now,
            published_at=now if state == "published" else None,
        )
        values.update(kw)
        session.add(EducationItem(**values))
        session.commit()


def seed_matrix_items(engine: Engine) -> None:
    """The items the authorization matrix's education rows use (town A unless named).

    ``EM-DRAFT1``/``EM-DRAFT2``: doctor1's drafts; ``EM-REVIEW1..6``: doctor1's, in review;
    ``EM-PUB1..4``: doctor1's, published; ``EM-B1``: doctor2's draft in town B.
    """
    town_a, town_b = "370783001000", "370783002000"
    for n in (1, 2):
        insert_item(engine, f"EM-DRAFT{n}", "doctor1", "draft", town_code=town_a)
    for n in range(1, 7):
        insert_item(engine, f"EM-REVIEW{n}", "doctor1", "in_review", town_code=town_a)
    for n in range(1, 5):
        insert_item(engine, f"EM-PUB{n}", "doctor1", "published", town_code=town_a)
    insert_item(engine, "EM-B1", "doctor2", "draft", town_code=town_b)


#: A valid body of ``POST /api/v1/education/items``.
ITEM_BODY: dict[str, Any] = {
    "title": "冬季血压管理",
    "body_markdown": "## 要点\n\n- 注意保暖\n- 按时服药，见[我的页面](/r/)",
    "diseases": ["htn"],
    "min_age": 60,
    "grids": [],
    "valid_from": "2026-01-01",
}


#: The resident account of the matrix's education rows (R06: town A, grid G01).
MATRIX_RESIDENT = "edu_resident"


def seed_matrix_education(engine: Engine, settings: Settings, auth: dict[str, Any]) -> None:
    """The matrix's items, a county-wide published ``EM-PUBC`` and :data:`MATRIX_RESIDENT`
    (its headers added to ``auth``)."""
    seed_matrix_items(engine)
    insert_item(engine, "EM-PUBC", "bureau1", "published")
    add_resident_user(engine, MATRIX_RESIDENT, "R06")
    auth[MATRIX_RESIDENT] = headers_of(engine, settings, MATRIX_RESIDENT)
