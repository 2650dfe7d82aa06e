"""``/api/v1/meta`` (what is built, what the caller may ask), ``/api/v1/vocabulary`` (every
code with its labels) and ``/api/v1/search``."""

from __future__ import annotations

from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Query
from sqlalchemy import or_, select

from geo.vocabulary import (
    ANALYST_ROLES,
    HOTSPOT_INDICATORS,
    HOTSPOT_LEVELS,
    LEVELS,
    PROVINCE_ROLE,
    TEAM_SCOPED_ROLE,
    TOWN_SCOPED_ROLE,
)
from service.deps import CurrentUser, EngineDep, SessionDep
from service.schemas import CallerScope, IndicatorInfo, LayerInfo, Meta, SearchHit, SearchResult
from service.scope import TOWN_SCOPED_LEVELS, town_of_code
from service.tiles import LAYERS
from service.vocabulary import Vocabulary, indicator_terms, vocabulary
from store.models import Area, Grid, GridVillage
from store.queries import NoBuildError, current_build

router = APIRouter(prefix="/api/v1", tags=["meta"])

#: Roles that may read aggregates (indicators, hotspots, burden, exports).
AGGREGATE_ROLES = ANALYST_ROLES


def indicator_infos() -> list[IndicatorInfo]:
    """Every indicator with its Chinese and English name."""
    return [
        IndicatorInfo(code=t.code, name_zh=t.zh, name_en=t.en, scale=t.scale)
        for t in indicator_terms()
    ]


def scope_label(role: str, team_id: str | None, town_code: str | None) -> str:
    if role == TEAM_SCOPED_ROLE:
        return f"team:{team_id}"
    if role == TOWN_SCOPED_ROLE:
        return f"town:{town_code}"
    return "province" if role == PROVINCE_ROLE else "county"


@router.get("/meta", summary="What is built and what the caller may ask for")
def meta(user: CurrentUser, engine: EngineDep) -> Meta:
    """The current build (as-of date, periods), the aggregate levels and indicators, the
    hotspot indicators, the caller's role and scope, and the map layers it may fetch.

    Every role may call it; a doctor gets no aggregate levels (its view is its team's list).
    """
    try:
        build: dict[str, Any] | None = current_build(engine)
    except NoBuildError:
        build = None
    aggregates = user.role in AGGREGATE_ROLES
    layers = [
        LayerInfo(
            name=spec.name,
            description=spec.description,
            geometry=spec.geometry,
            minzoom=spec.minzoom,
            maxzoom=spec.maxzoom,
            params=sorted(spec.params),
            tilejson=f"/tiles/{spec.name}.json",
        )
        for spec in sorted(LAYERS.values(), key=lambda s: s.name)
        if user.role in spec.roles
    ]
    return Meta(
        as_of=build["as_of"] if build else None,
        build_id=build["build_id"] if build else None,
        periods=sorted(build["periods"], reverse=True) if build else [],
        levels=list(LEVELS) if aggregates else [],
        town_scoped_levels=sorted(TOWN_SCOPED_LEVELS) if user.role == TOWN_SCOPED_ROLE else [],
        indicators=indicator_infos(),
        hotspot_indicators=list(HOTSPOT_INDICATORS) if aggregates else [],
        hotspot_levels=list(HOTSPOT_LEVELS) if aggregates else [],
        user=CallerScope(
            username=user.username,
            role=user.role,
            team_id=user.team_id,
            town_code=user.town_code,
            scope=scope_label(user.role, user.team_id, user.town_code),
        ),
        layers=layers,
    )


@router.get("/vocabulary", summary="Every code a user meets, with its Chinese and English labels")
def get_vocabulary(user: CurrentUser) -> Vocabulary:
    """Tasks (with colours), task colours, diseases, visit classifications, aggregation
    levels, hotspot indicators, levels and classes, roles and the role sets, indicators
    (labels, unit, scale) and small-number suppression reasons, each with ``zh`` and ``en``
    labels, in the product's order.

    Every role may call it; it holds no data, only the product's codes (the web front end
    ships the same content, generated, in ``frontend/src/common/vocabulary.ts``). A token
    is still required, as for every ``/api/v1`` endpoint.
    """
    return vocabulary()


def _extent(geom: Any, lat: float | None = None, lng: float | None = None) -> dict[str, Any]:
    if geom is not None and not geom.is_empty:
        west, south, east, north = (round(float(v), 6) for v in geom.bounds)
        c = geom.centroid
        return {"centroid": [round(c.x, 6), round(c.y, 6)], "bbox": [west, south, east, north]}
    if lat is not None and lng is not None:
        return {"centroid": [lng, lat], "bbox": None}
    return {"centroid": None, "bbox": None}


@router.get("/search", summary="Find towns, villages and grids by name")
def search(
    user: CurrentUser,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=50, description="Part of a name or code.")],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> SearchResult:
    """Towns, villages and grids whose name (or code) contains ``q``: code, level, township,
    centroid and bounding box, to fly the map there. Geography only — never residents.
    Every role may search (the boundaries are on every role's map)."""
    text = q.strip()
    hits: list[SearchHit] = []
    if text:
        areas = session.execute(
            select(
                Area.area_code,
                Area.name,
                Area.level,
                Area.parent_code,
                Area.lat,
                Area.lng,
                Area.geom,
            )
            .where(
                Area.level.in_(("town", "village")),
                or_(
                    Area.name.contains(text, autoescape=True),
                    Area.area_code.startswith(text, autoescape=True),
                ),
            )
            .order_by(Area.level, Area.area_code)
            .limit(limit)
        ).all()
        for a in areas:
            town = (
                a.area_code if a.level == "town" else (a.parent_code or town_of_code(a.area_code))
            )
            hits.append(
                SearchHit(
                    code=a.area_code,
                    name=a.name,
                    level=a.level,
                    town_code=town,
                    **_extent(a.geom, a.lat, a.lng),
                )
            )
        grids = session.execute(
            select(Grid.grid_id, Grid.name, Grid.town_code, Grid.geom)
            .where(
                or_(
                    Grid.name.contains(text, autoescape=True),
                    Grid.grid_id.startswith(text, autoescape=True),
                )
            )
            .order_by(Grid.grid_id)
            .limit(max(0, limit - len(hits)))
        ).all()
        for g in grids:
            geom = g.geom
            if geom is None:
                members = session.scalars(
                    select(Area.geom)
                    .join(GridVillage, GridVillage.area_code == Area.area_code)
                    .where(GridVillage.grid_id == g.grid_id)
                ).all()
                members = [m for m in members if m is not None]
                geom = shapely.union_all(members) if members else None
            hits.append(
                SearchHit(
                    code=g.grid_id,
                    name=g.name or g.grid_id,
                    level="grid",
                    town_code=g.town_code,
                    **_extent(geom),
                )
            )
    return SearchResult(q=q, items=hits[:limit])
