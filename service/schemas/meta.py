"""What the service holds and what the caller may ask for (``/api/v1/meta``), search."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import ConfigDict, Field

from service.schemas.common import _Out, examples


class IndicatorInfo(_Out):
    """One indicator of RULES.md."""

    code: str
    name_zh: str
    name_en: str
    scale: float = Field(description="1 for rates and shares, 1000 for per-1000 indicators.")


class LayerInfo(_Out):
    """A vector-tile layer the caller may fetch."""

    name: str
    description: str
    geometry: str
    minzoom: int
    maxzoom: int
    params: list[str]
    tilejson: str = Field(description="Path of the layer's TileJSON.")


class CallerScope(_Out):
    """Who is asking and what they may see."""

    username: str
    role: str
    team_id: str | None
    town_code: str | None
    scope: str = Field(description="`team:<id>`, `town:<code>` or `county`.")


class Meta(_Out):
    """What the service holds now and what the caller may ask for."""

    model_config = ConfigDict(json_schema_extra=examples("Meta"))

    as_of: dt.date | None = Field(description="As-of date of the current build; null before.")
    build_id: int | None
    periods: list[dt.date] = Field(description="Built periods, newest first.")
    levels: list[str] = Field(description="Aggregate levels the caller may query.")
    town_scoped_levels: list[str] = Field(
        description="Levels of which the caller sees only its own township's units."
    )
    indicators: list[IndicatorInfo]
    hotspot_indicators: list[str]
    hotspot_levels: list[str]
    user: CallerScope
    layers: list[LayerInfo]


class SearchHit(_Out):
    """A town, village or grid whose name matches."""

    code: str
    name: str
    level: Literal["town", "village", "grid"]
    town_code: str | None
    centroid: list[float] | None = Field(None, description="`[lng, lat]`.")
    bbox: list[float] | None = Field(None, description="`[west, south, east, north]`.")


class SearchResult(_Out):
    model_config = ConfigDict(json_schema_extra=examples("SearchResult"))

    q: str
    items: list[SearchHit]
