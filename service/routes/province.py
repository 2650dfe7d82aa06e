"""The province's and cities' view: counties ranked on an indicator, and a map by county
that drills down into a county's towns (docs/province.md).

Aggregates only: these routes read what counties published into the root store
(:mod:`store.province`) — county and town rows after the small-number rule — and never a
county's partition. The province role may use nothing else (``require_roles``).
``GET /api/v1/counties`` is public: the log-in page lists the counties to log in to.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from geo.indicator_defs import INDICATOR_BY_NAME
from geo.vocabulary import ABOVE_COUNTY_LEVEL_TERMS, PROVINCE_ROLE
from pipelines.province import map_features, ranking
from service.auth import Principal
from service.deps import EngineDep, require_roles
from service.errors import NotFound
from service.routes.overview import indicator_infos
from service.schemas import IndicatorInfo
from store.province import counties, publications, published_periods

router = APIRouter(prefix="/api/v1", tags=["province"])

ProvinceUser = Annotated[Principal, Depends(require_roles(PROVINCE_ROLE, "admin"))]
IndicatorQuery = Annotated[
    str, Query(max_length=40, description="An indicator code (GET /api/v1/province/meta).")
]
PeriodQuery = Annotated[
    dt.date | None,
    Query(
        ge=dt.date(2000, 1, 1),
        le=dt.date(2100, 12, 31),
        description="A published period (default: the latest).",
    ),
]


class CountyInfo(BaseModel):
    """A county of the deployment."""

    county_code: str
    name: str
    city_code: str
    city_name: str | None


class Publication(BaseModel):
    """What a county last published."""

    county_code: str
    build_id: int
    as_of: dt.date
    published_at: dt.datetime
    rows: int


class ProvinceMeta(BaseModel):
    """What the province view can show."""

    counties: list[CountyInfo]
    publications: list[Publication]
    periods: list[dt.date]
    indicators: list[IndicatorInfo]
    levels: list[dict[str, str]]


class RankedCounty(BaseModel):
    """A county's value and rank (1 = highest) on one indicator."""

    rank: int | None
    county_code: str
    name: str | None
    city_code: str | None
    city_name: str | None
    numerator: float | None
    denominator: float | None
    value: float | None


class AboveCounty(BaseModel):
    """A city's or the province's value: the ratio of its counties' sums."""

    level: str
    unit_id: str
    name: str | None
    counties: int
    numerator: float | None
    denominator: float | None
    value: float | None
    suppressed: bool
    suppression_reason: str | None


class Ranking(BaseModel):
    """Counties ranked on one indicator at one period, with their cities and province."""

    indicator: str
    name_zh: str
    name_en: str
    unit: str
    period: dt.date
    counties: list[RankedCounty]
    above: list[AboveCounty]


def _county_infos(engine: Any, *, partitioned_only: bool = False) -> list[CountyInfo]:
    frame = counties(engine, partitioned_only=partitioned_only)
    return [
        CountyInfo(
            county_code=r.county_code, name=r.name, city_code=r.city_code, city_name=r.city_name
        )
        for r in frame.itertuples(index=False)
    ]


def _check(indicator: str) -> None:
    if indicator not in INDICATOR_BY_NAME:
        raise NotFound(f"No indicator {indicator!r}; GET /api/v1/province/meta lists them.")


def _period(engine: Any, period: dt.date | None) -> dt.date:
    periods = published_periods(engine)
    if not periods:
        raise NotFound("No county has published yet: build a county first (healthmap build).")
    if period is None:
        return periods[0]
    if period not in periods:
        raise NotFound(f"No county published the period {period}; GET /api/v1/province/meta.")
    return period


def _clean(row: dict[Any, Any]) -> dict[str, Any]:
    return {str(k): (None if isinstance(v, float) and v != v else v) for k, v in row.items()}


@router.get("/counties", summary="The counties of this deployment (public: the log-in page)")
async def list_counties(engine: EngineDep) -> list[CountyInfo]:
    """Codes and names of the counties one logs in to; empty for a county deployed alone."""
    return await run_in_threadpool(functools.partial(_county_infos, engine, partitioned_only=True))


@router.get("/province/meta", summary="What the province view can show")
def province_meta(user: ProvinceUser, engine: EngineDep) -> ProvinceMeta:
    """The counties, what each last published, the published periods and the indicators."""
    pubs = publications(engine)
    return ProvinceMeta(
        counties=_county_infos(engine),
        publications=[Publication(**_clean(r)) for r in pubs.to_dict("records")],
        periods=published_periods(engine),
        indicators=indicator_infos(),
        levels=[
            {"code": t.code, "name_zh": t.zh, "name_en": t.en} for t in ABOVE_COUNTY_LEVEL_TERMS
        ],
    )


@router.get("/province/ranking", summary="Counties ranked on one indicator")
def province_ranking(
    user: ProvinceUser, engine: EngineDep, indicator: IndicatorQuery, period: PeriodQuery = None
) -> Ranking:
    """Every county's published county-level value, ranked (1 = highest), with each city's
    and the province's value made from the counties' numerators and denominators."""
    _check(indicator)
    when = _period(engine, period)
    result = ranking(engine, indicator, when)
    defn = INDICATOR_BY_NAME[indicator]
    ranked = result["counties"]
    above = result["above"]
    return Ranking(
        indicator=indicator,
        name_zh=defn.label_zh,
        name_en=defn.label_en,
        unit=defn.unit,
        period=when,
        counties=[
            RankedCounty(**_clean({k: r[k] for k in RankedCounty.model_fields}))
            for r in ranked.to_dict("records")
        ],
        above=[
            AboveCounty(**_clean({k: r[k] for k in AboveCounty.model_fields}))
            for r in above.to_dict("records")
        ],
    )


@router.get("/province/map", summary="Counties (or one county's towns) with their values, GeoJSON")
def province_map(
    user: ProvinceUser,
    engine: EngineDep,
    indicator: IndicatorQuery,
    period: PeriodQuery = None,
    county: Annotated[
        str | None,
        Query(pattern=r"^\d{6}(000000)?$", description="Drill down: this county's towns."),
    ] = None,
) -> dict[str, Any]:
    """A FeatureCollection of every county's outline and value, or with ``county`` the
    outlines and values of its towns (suppressed towns carry no value, and the reason)."""
    _check(indicator)
    when = _period(engine, period)
    code = None if county is None else county[:6] + "000000"
    if code is not None and code not in set(counties(engine)["county_code"]):
        raise NotFound(f"No county {county!r} in this deployment.")
    return {
        "type": "FeatureCollection",
        "indicator": indicator,
        "period": when.isoformat(),
        "level": "county" if code is None else "town",
        "features": map_features(engine, indicator, when, code),
    }
