"""Health-education items: what staff write and review, what a resident reads.

docs/health-education.md describes the workflow, the safe-Markdown rules and matching.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias

from pydantic import Field, StringConstraints, model_validator

from geo.vocabulary import EDUCATION_STATES
from service.schemas.common import Day, Disease, Id40, Page, _Out, _Strict

if TYPE_CHECKING:
    EducationState: TypeAlias = str
else:
    EducationState = Literal[EDUCATION_STATES]

#: The longest title and body an item may have (a terminal's screen, not a book).
MAX_TITLE = 200
MAX_BODY = 20_000
#: Ages are whole years; nobody in the registry is older.
MAX_AGE = 130

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY)]


class EducationItemIn(_Strict):
    """An item as its author writes it (create, or replace a draft's fields)."""

    title: Title
    body_markdown: Body = Field(
        description="Markdown; no raw HTML, no images, links only inside the service."
    )
    diseases: list[Disease] = Field(
        default_factory=list, max_length=10, description="Target diseases; empty: everyone."
    )
    min_age: int | None = Field(None, ge=0, le=MAX_AGE, description="Youngest age (inclusive).")
    max_age: int | None = Field(None, ge=0, le=MAX_AGE, description="Oldest age (inclusive).")
    grids: list[Id40] = Field(
        default_factory=list,
        max_length=500,
        description="Target grids (of the item's township); empty: all of them.",
    )
    valid_from: Day
    valid_to: Day | None = Field(None, description="Last day shown; null: until withdrawn.")

    @model_validator(mode="after")
    def _bands(self) -> EducationItemIn:
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError(f"min_age {self.min_age} is above max_age {self.max_age}")
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        self.diseases = list(dict.fromkeys(self.diseases))
        self.grids = list(dict.fromkeys(self.grids))
        return self


class ReviewIn(_Strict):
    """A reviewer's note: required to send an item back, optional otherwise."""

    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None


class RenderIn(_Strict):
    body_markdown: Body


class RenderOut(_Out):
    """The preview of a body: its safe HTML and what saving it would refuse."""

    html: str
    problems: list[str] = Field(description="Refused URLs (images, external links); empty: ok.")


class EducationItemRow(_Out):
    """An item in a list (without its body)."""

    item_id: str
    title: str
    state: EducationState
    diseases: list[str]
    min_age: int | None
    max_age: int | None
    grids: list[str]
    town_code: str | None = Field(description="The item's township; null: county-wide.")
    valid_from: dt.date
    valid_to: dt.date | None
    author_username: str
    author_role: str
    author_team_id: str | None
    reviewer_username: str | None
    review_note: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    submitted_at: dt.datetime | None
    reviewed_at: dt.datetime | None
    published_at: dt.datetime | None
    withdrawn_at: dt.datetime | None


class EducationItemOut(EducationItemRow):
    """One item with its Markdown and the HTML rendered from it."""

    body_markdown: str
    body_html: str


class EducationItemPage(Page[EducationItemRow]):
    """Items the caller may see, most recently changed first."""


class ResidentEducationItem(_Out):
    """An item shown to a resident."""

    item_id: str
    title: str
    body_html: str
    diseases: list[str]
    valid_from: dt.date
    valid_to: dt.date | None
    read_at: dt.datetime | None = Field(description="When the resident first opened it.")


class ResidentEducationPage(Page[ResidentEducationItem]):
    """The published items that match the resident today, newest first."""


class EducationReadOut(_Out):
    item_id: str
    read_at: dt.datetime = Field(description="The first read (later ones change nothing).")
