"""Aggregates of the current build: indicators, the grid health index, hotspots, burden.

Everything here is served as stored by ``healthmap build``: small-number suppression is
already applied (RULES.md; ``store.results``), so a suppressed value never exists
outside the build. Roles: chronic-disease centre, bureau, planner, admin (doctors 403). A
centre sees grids, villages and teams of its own township only (``service.scope``); H3
cells, towns, the county, H3 hotspots and the burden per town are county-wide for it too.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from geo.indicators import INDICATOR_BY_NAME, INDICATORS
from geo.vocabulary import HOTSPOT_INDICATORS
from service.auth import Principal
from service.deps import (
    AggregateUser,
    AnswersDep,
    AuditDep,
    EngineDep,
    ReadSessionDep,
    SessionDep,
    release,
)
from service.errors import Invalid, NotFound, problem_doc
from service.schemas import (
    BurdenList,
    BurdenRowOut,
    HealthIndexPage,
    HealthIndexRow,
    HotspotLevel,
    HotspotList,
    HotspotRow,
    IndicatorPage,
    IndicatorRow,
    Level,
    TrendPoint,
    UnitDetail,
    UnitIndicator,
    fill_page,
)
from service.schemas.common import DateParam, Offset
from service.scope import aggregate_units, ensure_unit_visible
from service.shaping import csv_text, records
from service.tiles.cache import LRU
from store import queries
from store.models import Area, Grid, Team
from store.shapes import unit_features
from store.version import store_version

router = APIRouter(
    prefix="/api/v1",
    tags=["aggregates"],
    responses={
        403: problem_doc("Doctors: aggregates are for the centre, bureau, planner and admin."),
        404: problem_doc("Nothing built yet, or an unknown unit / one outside the township."),
        422: problem_doc("A bad parameter, or a period that was not built."),
    },
)

MAX_PAGE = 5000
if TYPE_CHECKING:
    IndicatorCode = str
    HotspotIndicator = str
else:
    # Enumerated in the OpenAPI document, from the one definition of each list.
    IndicatorCode = Literal[tuple(d.name for d in INDICATORS)]
    HotspotIndicator = Literal[tuple(HOTSPOT_INDICATORS)]

PeriodQuery = Annotated[
    DateParam,
    Query(description="A built period (see `/api/v1/meta`); default the build's as-of date."),
]
LevelQuery = Annotated[Level, Query(description="Aggregation level.")]
NO_BUILD = "Nothing has been built yet (run `healthmap build` or POST /api/v1/admin/build)."


def build_or_404(engine: Engine) -> dict[str, Any]:
    """The current build; 404 before the first one."""
    try:
        return queries.current_build(engine)
    except queries.NoBuildError:
        raise NotFound(NO_BUILD) from None


def build_at(request: Request, engine: Engine, version: tuple[str, ...]) -> dict[str, Any]:
    """:func:`build_or_404` as of ``version`` (:func:`store.version.store_version` without
    the live counter, which names the current build), kept per app.

    A build's id, as-of date and periods never change, and a cached page or unit read
    them on every request: a transaction and a JSON summary, three of a cached page's six
    round trips on PostgreSQL.
    """
    lookups: LRU[Any] = request.app.state.lookups
    return lookups.get_or_make(("build", *version), lambda: build_or_404(engine))


def units_at(
    request: Request, user: Principal, session: Session, level: str, version: tuple[str, ...]
) -> frozenset[str] | None:
    """:func:`service.scope.aggregate_units` as of ``version``, kept per app: a
    township's grids, villages and teams change only with an ingest or a build, and a
    centre's page read every grid of the county to find its own."""

    def units() -> tuple[frozenset[str] | None]:  # a tuple: the cache cannot hold None
        allowed = aggregate_units(user, session, level)
        return (None if allowed is None else frozenset(allowed),)

    lookups: LRU[Any] = request.app.state.lookups
    key = ("units", *version, level, user.role, user.town_code)
    return lookups.get_or_make(key, units)[0]


def built_period(build: dict[str, Any], period: dt.date | None) -> dt.date:
    """``period`` if it was built (default the as-of date); 422 naming the built ones."""
    if period is None:
        as_of: dt.date = build["as_of"]
        return as_of
    if period.isoformat() not in build["periods"]:
        raise Invalid(
            f"period {period} was not built; built periods: {', '.join(build['periods'])}.",
            extra={"errors": [{"loc": "query.period", "msg": "not built", "type": "not_built"}]},
        )
    return period


def scoped_indicators(
    engine: Engine,
    session: Session,
    user: Principal,
    level: str,
    period: dt.date,
    indicator: str | None = None,
    unit_id: str | None = None,
) -> pd.DataFrame:
    """Indicator rows of a level and period, cut to the units the caller may see."""
    frame = queries.indicator_values(
        engine, level, period=period, indicator=indicator, unit_id=unit_id
    )
    allowed = aggregate_units(user, session, level)
    release(session)
    if allowed is not None:
        frame = frame[frame["unit_id"].astype(str).isin(allowed)]
    return frame.reset_index(drop=True)


# ----------------------------------------------------------------------------------------
# Keyset pagination of the indicator list
# ----------------------------------------------------------------------------------------
def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque cursor: the listing's filters and the last row's key, base64url JSON."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The position of :func:`encode_cursor`'s cursor; 422 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw.decode("utf-8"))
        if not isinstance(position, dict):
            raise ValueError
        after = position["after"]
        if not (
            isinstance(after, list) and len(after) == 2 and all(isinstance(a, str) for a in after)
        ):
            raise ValueError
        int(position["offset"])
    except (binascii.Error, ValueError, UnicodeDecodeError, KeyError, TypeError):
        raise _bad_cursor("is not a cursor of this list") from None
    return position


def _bad_cursor(msg: str) -> Invalid:
    return Invalid(
        f"cursor {msg}.",
        extra={"errors": [{"loc": "query.cursor", "msg": msg, "type": "bad_cursor"}]},
    )


class _Counts:
    """Row counts per (build, filters) in this app: a build's rows never change."""

    def __init__(self, max_items: int = 4096) -> None:
        self._items: OrderedDict[tuple[Any, ...], int] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_items

    def get(self, key: tuple[Any, ...]) -> int | None:
        with self._lock:
            n = self._items.get(key)
            if n is not None:
                self._items.move_to_end(key)
            return n

    def put(self, key: tuple[Any, ...], n: int) -> None:
        with self._lock:
            self._items[key] = n
            while len(self._items) > self._max:
                self._items.popitem(last=False)


_COUNTS_LOCK = threading.Lock()


def _counts(request: Request) -> _Counts:
    with _COUNTS_LOCK:
        counts = getattr(request.app.state, "indicator_counts", None)
        if counts is None:
            counts = request.app.state.indicator_counts = _Counts()
    return counts


@router.get(
    "/indicators",
    summary="Indicator values of one level (paginated)",
    response_model=IndicatorPage,
)
def list_indicators(
    request: Request,
    user: AggregateUser,
    engine: EngineDep,
    session: ReadSessionDep,
    answers: AnswersDep,
    level: LevelQuery,
    period: PeriodQuery = None,
    indicator: Annotated[IndicatorCode | None, Query(description="Only this indicator.")] = None,
    unit_id: Annotated[str | None, Query(max_length=40, description="Only this unit.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Offset = 0,
    cursor: Annotated[
        str | None,
        Query(
            max_length=1000,
            description="Where the page starts: the `next` of the previous page (opaque).",
        ),
    ] = None,
) -> Response:
    """Every indicator row of ``level`` for ``period``, ordered by unit and indicator.

    Suppressed rows are included with ``value`` null and the reason, so the map can say why
    a cell is blank. A chronic-disease centre gets only its own township's grids, villages
    and teams.

    Paging: follow ``next`` (a link holding an opaque ``cursor``; null on the last page).
    A page is read from the store's key after the previous page's last row, so every page
    costs the same whatever the level's size. ``offset`` still works (the rows skipped are
    read and thrown away: the deeper, the slower); it cannot be combined with ``cursor``.
    """
    version = store_version(session.connection())[1:]
    release(session)  # build_at may read on a connection of its own
    build = build_at(request, engine, version)
    when = built_period(build, period)
    filters = {"level": level, "period": when.isoformat(), "indicator": indicator, "unit": unit_id}
    after: tuple[str, str] | None = None
    if cursor is not None:
        if offset:
            raise _bad_cursor("and offset cannot be used together")
        position = decode_cursor(cursor)
        if {k: position.get(k) for k in filters} != filters:
            raise _bad_cursor("belongs to another listing (level, period or filters differ)")
        after = (position["after"][0], position["after"][1])
        offset = int(position["offset"])
    allowed = units_at(request, user, session, level, version)
    release(session)
    units = None if allowed is None else sorted(allowed)
    key = (
        build["build_id"],
        level,
        when,
        indicator,
        unit_id,
        None if units is None else tuple(units),
    )

    def page() -> bytes:
        return _indicator_page(request, engine, build, key, filters, after, offset, limit)

    # A page depends on the build, the query and the caller's units only: a centre's
    # staff and the bureau reread the same pages all day. Cached per worker until a build
    # becomes current or an ingest loads a file (as a unit's figures).
    cached = ("page", version, request.url.path, request.url.query, *key)
    return Response(answers.get_or_make(cached, page), media_type="application/json")


def _indicator_page(
    request: Request,
    engine: Engine,
    build: dict[str, Any],
    key: tuple[Any, ...],
    filters: dict[str, Any],
    after: tuple[str, str] | None,
    offset: int,
    limit: int,
) -> bytes:
    """The body of one indicator page (:func:`list_indicators`)."""
    _, level, when, indicator, unit_id, unit_ids = key
    units = None if unit_ids is None else list(unit_ids)
    counts = _counts(request)
    total = counts.get(key)
    if total is None:
        total = queries.indicator_count(
            engine,
            build["build_id"],
            level,
            when,
            indicator=indicator,
            unit_id=unit_id,
            units=units,
        )
        counts.put(key, total)
    window = queries.indicator_page(
        engine,
        build["build_id"],
        level,
        when,
        indicator=indicator,
        unit_id=unit_id,
        units=units,
        after=after,
        offset=0 if after is not None else offset,
        limit=limit,
    )
    following = None
    if len(window) == limit and offset + limit < total:
        last = window.iloc[-1]
        token = encode_cursor(
            {
                **filters,
                "after": [str(last["unit_id"]), str(last["indicator"])],
                "offset": offset + limit,
            }
        )
        link = request.url.remove_query_params(["offset", "cursor"]).include_query_params(
            cursor=token
        )
        following = f"{link.path}?{link.query}"
    page = fill_page(
        IndicatorPage,
        [IndicatorRow(**r) for r in records(window, ["period"])],
        total=total,
        limit=limit,
        offset=offset,
        as_of=build["as_of"],
        period=when,
        level=level,
        next=following,
    )
    return page.model_dump_json().encode("utf-8")


def unit_name(session: Session, level: str, unit_id: str) -> str | None:
    """Display name of a unit (none for H3 cells)."""
    if level in ("town", "village", "county"):
        return session.scalar(select(Area.name).where(Area.area_code == unit_id))
    if level == "grid":
        return session.scalar(select(Grid.name).where(Grid.grid_id == unit_id))
    if level == "team":
        return session.scalar(select(Team.name).where(Team.team_id == unit_id))
    return None


@router.get(
    "/indicators/{level}/{unit_id}",
    summary="One unit: every indicator and its trend",
    response_model=UnitDetail,
)
def unit_indicators(
    request: Request,
    user: AggregateUser,
    engine: EngineDep,
    session: ReadSessionDep,
    answers: AnswersDep,
    level: Annotated[Level, Path(description="Aggregation level.", examples=["town"])],
    unit_id: Annotated[str, Path(max_length=40, examples=["370783001000"])],
    period: PeriodQuery = None,
) -> Response:
    """Every indicator of one unit with numerator, denominator and suppression for
    ``period``, the trend over every built period (the as-of date and the 12 month-ends
    before it), and for a grid its health index. 404 for an unknown unit, or a grid,
    village or team outside a centre's township. The answer is cached per worker until a
    build becomes current or an ingest loads a file."""
    version = store_version(session.connection())[1:]
    release(session)  # build_at may read on a connection of its own
    build = build_at(request, engine, version)
    when = built_period(build, period)
    ensure_unit_visible(user, session, level, unit_id)
    key = (version, "unit", level, unit_id, when)
    release(session)

    def detail() -> bytes:
        made = unit_detail(engine, session, build, level, unit_id, when)
        # Given back before the answer is stored for the other workers (one connection
        # at a time, service.deps.release).
        release(session)
        return made.model_dump_json().encode("utf-8")

    return Response(answers.get_or_make(key, detail), media_type="application/json")


def unit_detail(
    engine: Engine,
    session: Session,
    build: dict[str, Any],
    level: str,
    unit_id: str,
    when: dt.date,
) -> UnitDetail:
    """What :func:`unit_indicators` answers (404 for a unit without indicators)."""
    trend = queries.indicator_trend(engine, level, unit_id)
    if trend.empty:
        raise NotFound()
    trend_rows = records(trend, ["period"])
    current = {r["indicator"]: r for r in trend_rows if r["period"] == when}
    by_indicator: dict[str, list[dict[str, Any]]] = {}
    for r in trend_rows:
        by_indicator.setdefault(r["indicator"], []).append(r)
    items = []
    for code, points in by_indicator.items():
        now = current.get(code)
        definition = INDICATOR_BY_NAME.get(code)
        items.append(
            UnitIndicator(
                indicator=code,
                name_zh=definition.label_zh if definition else None,
                numerator=now["numerator"] if now else None,
                denominator=now["denominator"] if now else None,
                value=now["value"] if now else None,
                suppressed=bool(now["suppressed"]) if now else False,
                suppression_reason=now["suppression_reason"] if now else None,
                trend=[
                    TrendPoint(**{k: p[k] for k in TrendPoint.model_fields})
                    for p in sorted(points, key=lambda p: p["period"])
                ],
            )
        )
    index = None
    if level == "grid":
        hi = queries.health_index(engine, period=when)
        hi = hi[hi["grid_id"] == unit_id]
        if not hi.empty:
            index = HealthIndexRow(**records(hi, ["period"])[0])
    return UnitDetail(
        level=level,
        unit_id=unit_id,
        name=unit_name(session, level, unit_id),
        as_of=build["as_of"],
        period=when,
        indicators=items,
        health_index=index,
    )


@router.get("/health-index", summary="The grid health index")
def health_index(
    user: AggregateUser,
    engine: EngineDep,
    session: SessionDep,
    period: PeriodQuery = None,
    grid_id: Annotated[str | None, Query(max_length=40, description="Only this grid.")] = None,
) -> HealthIndexPage:
    """The composite health index of every grid (a centre: its township's grids) for
    ``period``, with its components."""
    build = build_or_404(engine)
    when = built_period(build, period)
    frame = queries.health_index(engine, period=when)
    allowed = aggregate_units(user, session, "grid")
    if allowed is not None:
        frame = frame[frame["grid_id"].astype(str).isin(allowed)]
    if grid_id is not None:
        frame = frame[frame["grid_id"] == grid_id]
    return HealthIndexPage(
        period=when, items=[HealthIndexRow(**r) for r in records(frame, ["period"])]
    )


@router.get(
    "/hotspots",
    summary="Hotspots and coldspots of an indicator",
    response_model=HotspotList,
    responses={
        200: {
            "description": "A list (`format=json`) or a GeoJSON FeatureCollection (`geojson`).",
            "content": {
                "application/geo+json": {
                    "schema": {"$ref": "#/components/schemas/FeatureCollection"}
                }
            },
        }
    },
)
def hotspots(
    user: AggregateUser,
    engine: EngineDep,
    session: SessionDep,
    indicator: Annotated[HotspotIndicator, Query(description="A hotspot indicator.")],
    level: Annotated[HotspotLevel, Query()] = "h3:8",
    format: Annotated[Literal["json", "geojson"], Query()] = "json",
) -> Any:
    """Getis-Ord Gi* classes (``hot``/``cold``/``none``) with z, p, FDR q and the pseudo
    p-value, for the build's as-of date. Raw rates and counts of small units are withheld
    (suppressed); the smoothed rate and the class stay. ``format=geojson`` draws each unit
    (H3 cell or grid polygon)."""
    build = build_or_404(engine)
    frame = queries.hotspot_results(engine, indicator, level)
    allowed = aggregate_units(user, session, level)
    release(session)
    if allowed is not None:
        frame = frame[frame["unit_id"].astype(str).isin(allowed)].reset_index(drop=True)
    if format == "geojson":
        body = unit_features(engine, level, frame)
        return Response(
            json.dumps(body, ensure_ascii=False, default=str),
            media_type="application/geo+json",
        )
    return HotspotList(
        as_of=build["as_of"],
        indicator=indicator,
        level=level,
        items=[HotspotRow(**r) for r in records(frame)],
    )


@router.get("/burden", summary="Disease burden per town")
def burden(
    user: AggregateUser,
    engine: EngineDep,
    town: Annotated[str | None, Query(max_length=12, description="Only this town code.")] = None,
) -> BurdenList:
    """Top conditions per town by ICD-10 block: visits, patients, cost, rate per 1000 and
    the ratio to the county rate, with their ranks (as of the build's date)."""
    build = build_or_404(engine)
    frame = queries.burden(engine, town)
    return BurdenList(as_of=build["as_of"], items=[BurdenRowOut(**r) for r in records(frame)])


EXPORT_COLUMNS = (
    "level",
    "unit_id",
    "unit_name",
    "indicator",
    "period",
    "numerator",
    "denominator",
    "value",
    "suppressed",
    "suppression_reason",
)


def _export_frame(
    engine: Engine,
    session: Session,
    user: Principal,
    level: str,
    period: dt.date | None,
    indicator: str | None,
) -> tuple[pd.DataFrame, dt.date]:
    build = build_or_404(engine)
    when = built_period(build, period)
    return scoped_indicators(engine, session, user, level, when, indicator), when


def _names(session: Session, level: str) -> dict[str, str]:
    if level in ("town", "village", "county"):
        rows = session.execute(select(Area.area_code, Area.name).where(Area.level == level))
    elif level == "grid":
        rows = session.execute(select(Grid.grid_id, Grid.name))
    elif level == "team":
        rows = session.execute(select(Team.team_id, Team.name))
    else:
        return {}
    return {str(k): v for k, v in rows if v}


@router.get(
    "/export/indicators.csv",
    summary="Export indicator values as CSV",
    response_class=Response,
    responses={
        200: {
            "description": "UTF-8 CSV with a byte-order mark (opens in Excel).",
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "level,unit_id,unit_name,indicator,period,numerator,denominator,"
                    "value,suppressed,suppression_reason\r\ntown,370783001000,圣城街道,"
                    "signing_rate,2026-11-15,310.0,402.0,0.771,False,\r\n",
                }
            },
        }
    },
)
def export_csv(
    user: AggregateUser,
    engine: EngineDep,
    session: SessionDep,
    audit: AuditDep,
    level: LevelQuery,
    period: PeriodQuery = None,
    indicator: Annotated[IndicatorCode | None, Query()] = None,
) -> Response:
    """Every indicator row of a level (as stored: suppressed values are empty, with the
    reason), named units, as a spreadsheet. Aggregates only; the export is audited."""
    frame, when = _export_frame(engine, session, user, level, period, indicator)
    names = _names(session, level)
    release(session)
    rows = records(frame, ["period"])
    for r in rows:
        r["unit_name"] = names.get(str(r["unit_id"]))
    audit(
        "export",
        "indicators",
        detail={"level": level, "period": str(when), "indicator": indicator, "rows": len(rows)},
    )
    filename = f"indicators_{level.replace(':', '')}_{when}.csv"
    return Response(
        csv_text(rows, EXPORT_COLUMNS),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/export/indicators.geojson",
    summary="Export indicator values as GeoJSON",
    response_class=Response,
    responses={
        200: {
            "description": "A FeatureCollection, one feature per unit and indicator.",
            "content": {
                "application/geo+json": {
                    "schema": {"$ref": "#/components/schemas/FeatureCollection"}
                }
            },
        }
    },
)
def export_geojson(
    user: AggregateUser,
    engine: EngineDep,
    session: SessionDep,
    audit: AuditDep,
    level: LevelQuery,
    period: PeriodQuery = None,
    indicator: Annotated[IndicatorCode | None, Query()] = None,
) -> Response:
    """The rows of the CSV export drawn as their units (H3 cells, grids, villages, towns,
    the county; teams have no geometry). Aggregates only; the export is audited."""
    frame, when = _export_frame(engine, session, user, level, period, indicator)
    body = unit_features(engine, level, frame)
    audit(
        "export",
        "indicators",
        detail={"level": level, "period": str(when), "indicator": indicator, "rows": len(frame)},
    )
    filename = f"indicators_{level.replace(':', '')}_{when}.geojson"
    return Response(
        json.dumps(body, ensure_ascii=False, default=str),
        media_type="application/geo+json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
