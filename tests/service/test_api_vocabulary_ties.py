"""The API's enums are the domain's vocabulary: each Literal equals its ``geo.vocabulary``
tuple, in order, and so does the enum the OpenAPI document shows for it."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from svc_helpers import make_settings

from geo import vocabulary as v
from service.app import create_app
from service.routes import aggregates
from service.schemas import (
    Classification,
    Colour,
    Disease,
    HotspotLevel,
    Level,
    Role,
    TaskCode,
)

#: (the API's Literal, the domain's tuple, where the OpenAPI document shows the enum)
TIES: list[tuple[str, Any, tuple[str, ...], tuple[str, ...]]] = [
    ("TaskCode", TaskCode, v.TASK_CODES, ("DismissIn", "task_code")),
    ("Disease", Disease, v.codes(v.DISEASE_TERMS), ("DismissIn", "disease")),
    ("Level", Level, v.LEVELS, ("query", "/api/v1/indicators", "level")),
    ("Role", Role, v.ROLES, ("UserIn", "role")),
    ("HotspotLevel", HotspotLevel, v.HOTSPOT_LEVELS, ("query", "/api/v1/hotspots", "level")),
    (
        "Classification",
        Classification,
        v.codes(v.CLASSIFICATION_TERMS),
        ("FollowupIn", "classification"),
    ),
]


@pytest.mark.parametrize(("name", "literal", "domain", "where"), TIES, ids=[t[0] for t in TIES])
def test_literal_is_the_domain_tuple(
    name: str, literal: Any, domain: tuple[str, ...], where: tuple[str, ...]
) -> None:
    assert typing.get_args(literal) == domain


def test_colour_is_the_domain_tuple() -> None:
    # No body takes a colour today (lists carry it as a string); the type still must agree.
    assert typing.get_args(Colour) == v.COLOURS


def test_aggregates_use_the_shared_hotspot_level() -> None:
    assert aggregates.HotspotLevel is HotspotLevel


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return create_app(make_settings()).openapi()


def _enum(schema: dict[str, Any]) -> tuple[str, ...]:
    """The enum of a property or parameter schema (optional ones are ``anyOf`` with null)."""
    if "enum" in schema:
        return tuple(schema["enum"])
    for option in schema.get("anyOf", []):
        if "enum" in option:
            return tuple(option["enum"])
    raise AssertionError(f"no enum in {schema}")


@pytest.mark.parametrize(("name", "literal", "domain", "where"), TIES, ids=[t[0] for t in TIES])
def test_openapi_enum_is_the_domain_tuple(
    openapi: dict[str, Any],
    name: str,
    literal: Any,
    domain: tuple[str, ...],
    where: tuple[str, ...],
) -> None:
    if where[0] == "query":
        _, path, param = where
        params = openapi["paths"][path]["get"]["parameters"]
        schema = next(p["schema"] for p in params if p["name"] == param)
    else:
        model, field = where
        schema = openapi["components"]["schemas"][model]["properties"][field]
    assert _enum(schema) == domain


def test_the_emergency_kind_is_the_task_code() -> None:
    # The webhook call, the live event and the red task name an emergency the same way.
    from geo.vocabulary import EMERGENCY_READING, TASK_COLOUR
    from service.emergencies import WEBHOOK_KIND
    from service.live import EMERGENCY_KIND

    assert TASK_COLOUR[EMERGENCY_READING] == "red"
    assert WEBHOOK_KIND == EMERGENCY_KIND == EMERGENCY_READING == "emergency_reading"
