"""Early-warning aggregates: the alerts (EARS and space-time scan) and the risk cells.

For the chronic-disease centre, the bureau, planners and the administrator; a centre sees
its town's EARS alerts, the county's EARS alerts, the scan clusters with a cell in its
town, and its town's risk cells (a cell belongs to the township holding its centre).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import Engine, and_, false, or_, select

from geo.suppression import observed_count_reason, suppression_reason
from geo.vocabulary import TOWN_SCOPED_ROLE
from service.deps import AggregateUser, EngineDep
from service.routes.aggregates import build_or_404
from service.routes.surveillance.common import (
    AGGREGATE_ERRORS,
    ROUTER,
    LimitQuery,
    OffsetQuery,
    fetch_window,
)
from service.schemas import fill_page
from service.schemas.common import DateParam
from service.schemas.surveillance import AlertPage, AlertRow, RiskCellPage, RiskCellRow
from service.tiles.towns import cells_in_town
from store.results import RiskCell, SurveillanceAlert, current_build_id

router = APIRouter(**ROUTER)


def _scan_alerts_in_town(engine: Engine, town: str) -> list[int]:
    """Ids of the current build's scan clusters with a cell in ``town``."""
    t = SurveillanceAlert
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.alert_id, t.area_id, t.cells).where(
                t.build_id == current_build_id(), t.kind == "scan"
            )
        ).all()
    cells = sorted({c for r in rows for c in (r.cells or [r.area_id])})
    inside = set(cells_in_town(engine, cells, town))
    return [r.alert_id for r in rows if inside & set(r.cells or [r.area_id])]


@router.get(
    "/alerts",
    summary="Early-warning alerts (EARS and space-time scan)",
    responses=AGGREGATE_ERRORS,
)
def alerts(
    user: AggregateUser,
    engine: EngineDep,
    day: Annotated[DateParam, Query(description="Only alerts of this day.")] = None,
    kind: Annotated[Literal["ears", "scan"] | None, Query(description="Only this kind.")] = None,
    method: Annotated[
        Literal["C1", "C2", "C3", "space_time_permutation"] | None,
        Query(description="Only this method."),
    ] = None,
    area_level: Annotated[
        Literal["county", "town", "h3:8"] | None, Query(description="Only this level.")
    ] = None,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> AlertPage:
    """The current build's alerts by day and id. A scan cluster's relative risk is null
    (``suppressed``) when its observed count is below k; counts and expected counts stay.
    A chronic-disease centre gets its town's EARS alerts, the county's EARS alerts and the
    scan clusters with a cell in its township."""
    build = build_or_404(engine)
    k = build["suppression_k"]
    t = SurveillanceAlert
    where: list[Any] = [t.build_id == current_build_id()]
    for column, value in ((t.day, day), (t.kind, kind), (t.method, method)):
        if value is not None:
            where.append(column == value)
    if area_level is not None:
        where.append(t.area_level == area_level)
    if user.role == TOWN_SCOPED_ROLE:
        town = str(user.town_code)
        scans = _scan_alerts_in_town(engine, town)
        where.append(
            or_(
                and_(t.kind == "ears", t.area_level == "county"),
                and_(t.kind == "ears", t.area_level == "town", t.area_id == town),
                t.alert_id.in_(scans) if scans else false(),
            )
        )
    cols = [c for c in t.__table__.columns if c.name != "build_id"]
    with engine.connect() as conn:
        total, rows = fetch_window(
            conn,
            t.__table__,
            where,
            select(*cols).where(*where).order_by(t.day, t.alert_id),
            limit=limit,
            offset=offset,
        )
    items = []
    for r in rows:
        why = observed_count_reason(r.observed, k)
        values = r._asdict()
        values["relative_risk"] = None if why else r.relative_risk
        items.append(AlertRow(**values, suppressed=why is not None, suppression_reason=why))
    return fill_page(
        AlertPage, items, total=total, limit=limit, offset=offset, as_of=build["as_of"], k=k
    )


@router.get("/risk-cells", summary="Risk of spread per H3 cell", responses=AGGREGATE_ERRORS)
def risk_cells(
    user: AggregateUser,
    engine: EngineDep,
    at_risk: Annotated[bool | None, Query(description="Only cells at risk (or not).")] = None,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> RiskCellPage:
    """The current build's risk cells, highest score first. The recent case rate is null
    (with its counts, rate score and mobility share) for a cell with fewer than k
    residents or 1 to k−1 recent cases. A centre gets its township's cells."""
    build = build_or_404(engine)
    k = build["suppression_k"]
    t = RiskCell
    where: list[Any] = [t.build_id == current_build_id()]
    if at_risk is not None:
        where.append(t.at_risk == at_risk)
    if user.role == TOWN_SCOPED_ROLE:
        with engine.connect() as conn:
            every = list(conn.scalars(select(t.h3).where(t.build_id == current_build_id())))
        mine = cells_in_town(engine, every, str(user.town_code))
        where.append(t.h3.in_(mine) if mine else false())
    cols = [c for c in t.__table__.columns if c.name != "build_id"]
    with engine.connect() as conn:
        total, rows = fetch_window(
            conn,
            t.__table__,
            where,
            select(*cols).where(*where).order_by(t.score.desc(), t.h3),
            limit=limit,
            offset=offset,
        )
    items = []
    for r in rows:
        # The cell's rate: recent cases over residents (geo.suppression's rule of a rate).
        why = suppression_reason(r.recent_cases, r.residents, k)
        values = r._asdict()
        if why is not None:
            for name in ("rate_per_1000", "residents", "recent_cases", "rate_score"):
                values[name] = None
            values["mobility_share"] = None
        items.append(RiskCellRow(**values, suppressed=why is not None, suppression_reason=why))
    return fill_page(
        RiskCellPage, items, total=total, limit=limit, offset=offset, as_of=build["as_of"], k=k
    )
