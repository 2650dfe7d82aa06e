"""Aggregates of the current build: indicators, the grid health index, hotspots, burden."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import Page, _Out, examples


class IndicatorRow(_Out):
    """One indicator of one unit in one period, as stored (suppression applied)."""

    level: str
    unit_id: str
    indicator: str
    period: dt.date
    numerator: float | None
    denominator: float | None
    value: float | None = Field(description="Null when suppressed.")
    suppressed: bool
    suppression_reason: str | None = Field(
        description="`denominator_below_k` or `count_below_k` (RULES.md small numbers)."
    )


class _IndicatorHead(_Out):
    as_of: dt.date
    period: dt.date
    level: str


class IndicatorPage(Page[IndicatorRow], _IndicatorHead):
    model_config = ConfigDict(json_schema_extra=examples("IndicatorPage"))

    next: str | None = Field(
        default=None,
        description="The next page (a link with an opaque `cursor`); null on the last page.",
    )


class TrendPoint(_Out):
    period: dt.date
    numerator: float | None
    denominator: float | None
    value: float | None
    suppressed: bool
    suppression_reason: str | None


class UnitIndicator(_Out):
    """One indicator of a unit: the requested period and every built period."""

    indicator: str
    name_zh: str | None
    numerator: float | None
    denominator: float | None
    value: float | None
    suppressed: bool
    suppression_reason: str | None
    trend: list[TrendPoint] = Field(description="Every built period, oldest first.")


class HealthIndexRow(_Out):
    period: dt.date
    grid_id: str
    value: float | None
    components: dict[str, Any] | None


class UnitDetail(_Out):
    model_config = ConfigDict(json_schema_extra=examples("UnitDetail"))

    level: str
    unit_id: str
    name: str | None
    as_of: dt.date
    period: dt.date
    indicators: list[UnitIndicator]
    health_index: HealthIndexRow | None = Field(description="Grids only.")


class HealthIndexPage(_Out):
    model_config = ConfigDict(json_schema_extra=examples("HealthIndexPage"))

    period: dt.date
    items: list[HealthIndexRow]


class HotspotRow(_Out):
    unit_id: str
    indicator: str
    level: str
    rate: float | None
    smoothed_rate: float | None
    numerator: float | None
    denominator: float | None
    neighbours: int | None
    z: float | None
    p: float | None
    q: float | None
    p_sim: float | None
    hotspot_class: str = Field(description="`hot`, `cold` or `none`.")
    suppressed: bool
    suppression_reason: str | None


class HotspotList(_Out):
    model_config = ConfigDict(json_schema_extra=examples("HotspotList"))

    as_of: dt.date
    indicator: str
    level: str
    items: list[HotspotRow]


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection (RFC 7946), coordinates in WGS84 lng/lat."""

    model_config = ConfigDict(extra="allow", json_schema_extra=examples("FeatureCollection"))

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]


class BurdenRowOut(_Out):
    town_code: str
    block: str
    block_name: str | None
    visits: float | None
    patients: float | None
    cost: float | None
    rate_per_1000: float | None
    county_rate_per_1000: float | None
    ratio_to_county: float | None
    rank_visits: int | None
    rank_patients: int | None
    rank_cost: int | None
    suppressed: bool
    suppression_reason: str | None


class BurdenList(_Out):
    model_config = ConfigDict(json_schema_extra=examples("BurdenList"))

    as_of: dt.date
    items: list[BurdenRowOut]
