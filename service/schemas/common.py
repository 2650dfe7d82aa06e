"""What every part of the API's bodies shares: base models, identifiers, the enums, the page.

The enums are the domain's vocabulary (``geo.vocabulary``) spelt as ``Literal`` types, so
that mypy checks them and ``/openapi.json`` enumerates them;
``tests/service/test_api_vocabulary_ties.py`` holds each equal to its domain tuple.
The OpenAPI examples are package data (``service/schemas/examples/<Model>.json``), read
once by :func:`examples`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from importlib.resources import files
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints

#: ``geo.vocabulary``: codes(DISEASE_TERMS), COLOURS, TASK_CODES, LEVELS, ROLES.
Disease = Literal["htn", "t2dm"]
Colour = Literal["red", "yellow", "green"]
TaskCode = Literal[
    "emergency_reading",
    "referral_suggested",
    "post_discharge",
    "uncontrolled_recheck",
    "first_followup",
    "routine_followup",
    "suspected_unmanaged",
]
Level = Literal["h3:7", "h3:8", "h3:9", "grid", "village", "town", "county", "team"]
Role = Literal["doctor", "chronic_center", "bureau", "planner", "admin"]
#: ``geo.vocabulary.HOTSPOT_LEVELS``.
HotspotLevel = Literal["h3:8", "grid"]

Id40 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Id60 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


class _Strict(BaseModel):
    # No NaN/inf (JSON has none, but Python's parser accepts the tokens), no unknown fields
    # (a misspelt "spb" must fail loudly, not be dropped).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


@functools.cache
def _example_file(model: str) -> str:
    return files(__package__).joinpath("examples", f"{model}.json").read_text(encoding="utf-8")


def examples(model: str) -> dict[str, Any]:
    """``json_schema_extra`` with the OpenAPI examples of ``model`` (its JSON file)."""
    return {"examples": json.loads(_example_file(model))}


# ----------------------------------------------------------------------------------------
# The page
# ----------------------------------------------------------------------------------------
ItemT = TypeVar("ItemT")
PageT = TypeVar("PageT", bound="Page[Any]")


class Page(_Out, Generic[ItemT]):
    """The envelope of a paginated list: one window of the results and how many in all.

    A list's own members (its as-of date, its k…) go in a model listed *after* the page
    among the bases — ``class AlertPage(Page[AlertRow], _AlertHead)`` — so that they come
    first in the body, before ``total``, ``limit``, ``offset`` and ``items``.
    """

    total: int
    limit: int
    offset: int
    items: list[ItemT]


def fill_page(
    model: type[PageT],
    items: Iterable[Any],
    *,
    total: int,
    limit: int,
    offset: int,
    **members: Any,
) -> PageT:
    """A ``model`` page holding ``items`` (the window at ``offset``, at most ``limit``).

    Parameters
    ----------
    total
        How many results there are in all (every page).
    members
        The list's own members (``as_of``, ``k``…).
    """
    return model(**members, total=total, limit=limit, offset=offset, items=list(items))
