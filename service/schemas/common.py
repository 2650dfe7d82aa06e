"""What every part of the API's bodies shares: base models, identifiers, the enums, the page.

The enums are the domain's vocabulary (``geo.vocabulary``) as ``Literal`` types built from
its tuples, so ``/openapi.json`` enumerates them and validation rejects anything else;
``tests/service/test_api_vocabulary_ties.py`` checks the OpenAPI enums against the tuples.
The OpenAPI examples are package data (``service/schemas/examples/<Model>.json``), read
once by :func:`examples`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable
from importlib.resources import files
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeAlias, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from geo.vocabulary import (
    COLOURS,
    DISEASE_TERMS,
    HOTSPOT_LEVELS,
    LEVELS,
    ROLES,
    TASK_CODES,
    codes,
)

if TYPE_CHECKING:
    # For mypy the enums are plain text: it cannot read a Literal built from a tuple.
    Disease: TypeAlias = str
    Colour: TypeAlias = str
    TaskCode: TypeAlias = str
    Level: TypeAlias = str
    Role: TypeAlias = str
    HotspotLevel: TypeAlias = str
else:
    # At run time (validation, /openapi.json) each enum IS the domain's tuple
    # (``Literal[("a", "b")]`` is ``Literal["a", "b"]``): nothing to keep in step.
    Disease = Literal[codes(DISEASE_TERMS)]
    Colour = Literal[COLOURS]
    TaskCode = Literal[TASK_CODES]
    Level = Literal[LEVELS]
    Role = Literal[ROLES]
    HotspotLevel = Literal[HOTSPOT_LEVELS]

# ----------------------------------------------------------------------------------------
# Bounds: every number and date a request carries has one, defined once here
# ----------------------------------------------------------------------------------------
#: Dates the service accepts (a day D, a period, a filter, a visit): pandas cannot
#: represent much beyond these, and nothing in a county's health data is older or later.
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2200, 12, 31)
#: The largest offset of any paginated list: far beyond any county's rows, far inside the
#: stores' 64-bit integers (an offset of 2**63 was a 500 on both stores).
MAX_OFFSET = 10_000_000
#: The largest page of a list that takes the shared :data:`Limit`.
MAX_LIMIT = 1000
#: The deepest tile zoom, and so the largest tile column and row (``2**MAX_ZOOM - 1``).
MAX_ZOOM = 24


def _date_in_range(value: dt.date) -> dt.date:
    if not MIN_DATE <= value <= MAX_DATE:
        raise ValueError(f"must be between {MIN_DATE} and {MAX_DATE}")
    return value


def _moment_in_range(value: dt.datetime) -> dt.datetime:
    _date_in_range(value.date())
    return value


#: A date of a body or a parameter, between :data:`MIN_DATE` and :data:`MAX_DATE` (422
#: otherwise, like any validation error).
Day = Annotated[dt.date, AfterValidator(_date_in_range)]
#: A date-time whose date is between :data:`MIN_DATE` and :data:`MAX_DATE`.
Moment = Annotated[dt.datetime, AfterValidator(_moment_in_range)]

#: ``offset`` of every paginated list.
Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description="Results to skip (at most 10,000,000).")
]
#: ``limit`` of a paginated list whose largest page is :data:`MAX_LIMIT`.
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]


def limit_query(max_page: int) -> Any:
    """``Query`` of a ``limit`` whose largest page is ``max_page`` (``Annotated[int, …]``)."""
    return Query(ge=1, le=max_page, description=f"Page size (at most {max_page}).")


#: An optional date query parameter (``Annotated[DateParam, Query(description=…)]``):
#: 422 outside :data:`MIN_DATE` … :data:`MAX_DATE`.
DateParam = Day | None
#: Tile zoom, column and row.
TileZ = Annotated[int, Path(ge=0, le=MAX_ZOOM, examples=[10])]
TileX = Annotated[int, Path(ge=0, le=2**MAX_ZOOM - 1, examples=[849])]
TileY = Annotated[int, Path(ge=0, le=2**MAX_ZOOM - 1, examples=[399])]

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
