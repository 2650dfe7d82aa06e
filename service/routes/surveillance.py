"""The infectious-disease early warning of the current build: alerts, risk cells and the
influenza vaccination targets (RULES.md "Infectious-disease early warning";
``docs/surveillance.md``; tables of ``store.results``).

Who (``docs/security.md``):

* ``/alerts``, ``/risk-cells``, ``/vaccination-targets/summary``: aggregates, for the
  chronic-disease centre, the bureau, planners and the administrator (``AggregateUser``,
  as every other aggregate endpoint); doctors 403. A centre sees its township: its town's
  EARS alerts, the scan clusters with a cell in its town, the county's EARS alerts; its
  town's risk cells; its town's teams in the summary. A cell belongs to the township
  holding its centre (``service.tiles.towns``, the rule of its map tiles).
* ``/vaccination-targets``: personal data (names and phones), for the care roles only
  (``CareUser``): a doctor its own team, in full; a centre its township's teams, masked
  unless it asks ``unmask=true`` with a ``reason`` (as for push lists). Bureau, planner
  and admin 403. Another team is 404, as unknown. Every read is audited with the resident
  ids.

Small numbers (RULES.md: no rate with its raw count below k — the k the current build ran
with, ``rules.indicators.suppression_k`` then, as for the build's indicators), applied here
since the build stores the raw rows:

* an alert's **relative risk** is withheld (null, ``suppressed: true``,
  ``count_below_k``) when its observed count is below k. The observed and expected
  counts stay: they are counts, not rates, and an alert without them says nothing;
* a risk cell's **rate** is withheld when the cell has fewer than k residents
  (``denominator_below_k``) or 1 to k−1 recent cases (``count_below_k``) — with its
  residents, recent cases, rate score and mobility share, from which the rate could be
  worked out again; the score and the at-risk flag stay;
* summary counts of 1 to k−1 are withheld, and one more count beside a lone withheld one
  (so that it cannot be had by subtraction from a total that is shown).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, and_, false, func, or_, select
from sqlalchemy.orm import Session

from geo.followup import mask_name, mask_phone
from service.deps import (
    AggregateUser,
    AuditDep,
    CareUser,
    EngineDep,
    SessionDep,
    release,
)
from service.errors import problem_doc
from service.routes.aggregates import build_or_404
from service.scope import ensure_team_visible, team_town, teams_of_town
from service.shaping import ReasonQuery, UnmaskQuery, masking
from service.tiles.towns import cells_in_town, town_of_code
from service.tiles.warning import alert_suppression, risk_suppression
from store.models import Resident
from store.queries import _current
from store.results import RiskCell, SurveillanceAlert, VaccinationTarget

router = APIRouter(prefix="/api/v1", tags=["early warning"])

MAX_PAGE = 1000
K = TypeVar("K", bound=Hashable)
#: Longest reason a centre may give for unmasking (kept in the audit log); as push lists.

AGGREGATE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: problem_doc("Doctors: the early warning is for the centre, bureau, planner and admin."),
    404: problem_doc("Nothing built yet."),
}
LimitQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size.")]
OffsetQuery = Annotated[int, Query(ge=0, le=10_000_000)]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ----------------------------------------------------------------------------------------
# Alerts
# ----------------------------------------------------------------------------------------
class AlertRow(_Out):
    """One EARS alert (a town or the county, one day) or one space-time scan cluster."""

    alert_id: int
    kind: Literal["ears", "scan"]
    method: str = Field(description="`C1`, `C2`, `C3` or `space_time_permutation`.")
    area_level: str = Field(description="`county`, `town` or `h3:8` (a scan's centre cell).")
    area_id: str
    day: dt.date
    start_day: dt.date
    observed: float = Field(description="Cases (a count: never withheld).")
    expected: float | None = Field(description="Expected cases (a count: never withheld).")
    statistic: float | None
    threshold: float | None
    relative_risk: float | None = Field(
        description="Scan clusters; null when the observed count is below k (suppressed)."
    )
    llr: float | None
    p_value: float | None
    n_cells: int | None
    radius_km: float | None
    cells: list[str] | None = Field(description="A scan cluster's H3 cells.")
    suppressed: bool = Field(description="Whether the relative risk is withheld.")
    suppression_reason: str | None = Field(description="`count_below_k` when suppressed.")


class AlertPage(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-15",
                    "k": 10,
                    "total": 1,
                    "limit": 100,
                    "offset": 0,
                    "items": [
                        {
                            "alert_id": 7,
                            "kind": "scan",
                            "method": "space_time_permutation",
                            "area_level": "h3:8",
                            "area_id": "8830a5570bfffff",
                            "day": "2026-11-15",
                            "start_day": "2026-11-13",
                            "observed": 6.0,
                            "expected": 1.2,
                            "statistic": 5.1,
                            "threshold": 0.05,
                            "relative_risk": None,
                            "llr": 5.1,
                            "p_value": 0.012,
                            "n_cells": 2,
                            "radius_km": 0.8,
                            "cells": ["8830a5570bfffff", "8830a5545dfffff"],
                            "suppressed": True,
                            "suppression_reason": "count_below_k",
                        }
                    ],
                }
            ]
        }
    )

    as_of: dt.date
    k: int = Field(description="The small-number threshold applied.")
    total: int
    limit: int
    offset: int
    items: list[AlertRow]


def _scan_alerts_in_town(engine: Engine, town: str) -> list[int]:
    """Ids of the current build's scan clusters with a cell in ``town``."""
    t = SurveillanceAlert
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.alert_id, t.area_id, t.cells).where(t.build_id == _current(), t.kind == "scan")
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
    day: Annotated[dt.date | None, Query(description="Only alerts of this day.")] = None,
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
    where: list[Any] = [t.build_id == _current()]
    for column, value in ((t.day, day), (t.kind, kind), (t.method, method)):
        if value is not None:
            where.append(column == value)
    if area_level is not None:
        where.append(t.area_level == area_level)
    if user.role == "chronic_center":
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
        total = conn.scalar(select(func.count()).select_from(t).where(*where)) or 0
        rows = conn.execute(
            select(*cols).where(*where).order_by(t.day, t.alert_id).limit(limit).offset(offset)
        ).all()
    items = []
    for r in rows:
        why = alert_suppression(r.observed, k)
        values = r._asdict()
        values["relative_risk"] = None if why else r.relative_risk
        items.append(AlertRow(**values, suppressed=why is not None, suppression_reason=why))
    return AlertPage(
        as_of=build["as_of"], k=k, total=total, limit=limit, offset=offset, items=items
    )


# ----------------------------------------------------------------------------------------
# Risk cells
# ----------------------------------------------------------------------------------------
class RiskCellRow(_Out):
    """Risk of spread of one H3 res-8 cell; the rate and its counts withheld when small."""

    h3: str
    score: float
    at_risk: bool
    alert_cell: bool
    mobility_source: str = Field(description="`od`, `heat` or `none`.")
    mobility_share: float | None = Field(description="Null when the rate is withheld.")
    residents: int | None = Field(description="Null when the rate is withheld.")
    recent_cases: int | None = Field(description="Null when the rate is withheld.")
    rate_per_1000: float | None = Field(description="Null when suppressed.")
    rate_score: float | None = Field(description="Null when the rate is withheld.")
    suppressed: bool
    suppression_reason: str | None = Field(
        description="`denominator_below_k` (residents < k) or `count_below_k` (1..k-1 cases)."
    )


class RiskCellPage(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-15",
                    "k": 10,
                    "total": 1,
                    "limit": 100,
                    "offset": 0,
                    "items": [
                        {
                            "h3": "8830a5570bfffff",
                            "score": 0.72,
                            "at_risk": True,
                            "alert_cell": False,
                            "mobility_source": "heat",
                            "mobility_share": 0.44,
                            "residents": 412,
                            "recent_cases": 12,
                            "rate_per_1000": 29.1,
                            "rate_score": 1.0,
                            "suppressed": False,
                            "suppression_reason": None,
                        }
                    ],
                }
            ]
        }
    )

    as_of: dt.date
    k: int
    total: int
    limit: int
    offset: int
    items: list[RiskCellRow]


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
    where: list[Any] = [t.build_id == _current()]
    if at_risk is not None:
        where.append(t.at_risk == at_risk)
    if user.role == "chronic_center":
        with engine.connect() as conn:
            every = list(conn.scalars(select(t.h3).where(t.build_id == _current())))
        mine = cells_in_town(engine, every, str(user.town_code))
        where.append(t.h3.in_(mine) if mine else false())
    cols = [c for c in t.__table__.columns if c.name != "build_id"]
    with engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(t).where(*where)) or 0
        rows = conn.execute(
            select(*cols).where(*where).order_by(t.score.desc(), t.h3).limit(limit).offset(offset)
        ).all()
    items = []
    for r in rows:
        why = risk_suppression(r.residents, r.recent_cases, k)
        values = r._asdict()
        if why is not None:
            for name in ("rate_per_1000", "residents", "recent_cases", "rate_score"):
                values[name] = None
            values["mobility_share"] = None
        items.append(RiskCellRow(**values, suppressed=why is not None, suppression_reason=why))
    return RiskCellPage(
        as_of=build["as_of"], k=k, total=total, limit=limit, offset=offset, items=items
    )


# ----------------------------------------------------------------------------------------
# Vaccination targets (personal)
# ----------------------------------------------------------------------------------------
class VaccinationTargetRow(_Out):
    """A resident to vaccinate against influenza (a cell at risk), with name and phone."""

    resident_id: str
    name: str | None = Field(description="Masked (张\\*\\*) for a centre unless unmasked.")
    phone: str | None = Field(description="Masked (138\\*\\*\\*\\*5678) likewise.")
    team_id: str | None
    household_id: str
    age: int
    reason: str = Field(description="`age` (65+) or `managed` (htn/t2dm patient 60+).")
    diseases: str | None
    last_flu_vaccination: dt.date | None
    h3: str
    risk_score: float | None
    grid_id: str | None
    area_code: str | None
    due_date: dt.date


class VaccinationTargetPage(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-15",
                    "team_ids": ["T01"],
                    "masked": False,
                    "total": 1,
                    "limit": 100,
                    "offset": 0,
                    "items": [
                        {
                            "resident_id": "R000123",
                            "name": "张三",
                            "phone": "13800000001",
                            "team_id": "T01",
                            "household_id": "36.812345,118.731234",
                            "age": 71,
                            "reason": "age",
                            "diseases": None,
                            "last_flu_vaccination": "2025-10-02",
                            "h3": "8830a5570bfffff",
                            "risk_score": 0.72,
                            "grid_id": "G01",
                            "area_code": "370783001001",
                            "due_date": "2026-11-29",
                        }
                    ],
                }
            ]
        }
    )

    as_of: dt.date
    team_ids: list[str] = Field(description="The teams listed.")
    masked: bool
    total: int
    limit: int
    offset: int
    items: list[VaccinationTargetRow]


@router.get(
    "/vaccination-targets",
    summary="Influenza vaccination targets of a team (personal data)",
    responses={
        403: problem_doc("Roles other than doctor and chronic-disease centre."),
        404: problem_doc("Nothing built yet, or a team not the doctor's / not in the township."),
    },
)
def vaccination_targets(
    user: CareUser,
    engine: EngineDep,
    session: SessionDep,
    audit: AuditDep,
    team: Annotated[
        str | None,
        Query(max_length=40, description="One team (default: the caller's).", examples=["T01"]),
    ] = None,
    unmask: UnmaskQuery = False,
    reason: ReasonQuery = None,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> VaccinationTargetPage:
    """Residents to vaccinate in cells at risk, by team, household and age (oldest first),
    with names and phones. A doctor: its own team (another team is 404). A centre: the
    teams of its township (one with ``team``; another township's is 404), names and
    phones masked unless ``unmask=true`` with a ``reason``. Audited (``read``) with the
    listed resident ids, and for an unmasked centre read with the reason."""
    if team is not None:
        ensure_team_visible(user, session, team)
        teams = [team]
    elif user.role == "doctor":
        teams = [str(user.team_id)]
    else:
        teams = sorted(teams_of_town(session, str(user.town_code)))
    release(session)
    masked, unmasked_by_centre = masking(user.role, unmask, reason)
    build = build_or_404(engine)
    t = VaccinationTarget
    where = [t.build_id == _current(), t.team_id.in_(teams) if teams else false()]
    cols = [c for c in t.__table__.columns if c.name not in ("build_id", "lat", "lng")]
    with engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(t).where(*where)) or 0
        rows = conn.execute(
            select(*cols, Resident.name, Resident.phone)
            .outerjoin(Resident, Resident.resident_id == t.resident_id)
            .where(*where)
            .order_by(t.team_id, t.household_id, t.age.desc(), t.resident_id)
            .limit(limit)
            .offset(offset)
        ).all()
    items = []
    for r in rows:
        values = r._asdict()
        if masked:
            values["name"] = None if r.name is None else mask_name(r.name)
            values["phone"] = None if r.phone is None else mask_phone(r.phone)
        items.append(VaccinationTargetRow(**values))
    detail: dict[str, Any] = {
        "team_ids": teams,
        "masked": masked,
        "limit": limit,
        "offset": offset,
        "entries": len(items),
        "resident_ids": [i.resident_id for i in items],
    }
    if unmasked_by_centre:
        detail["unmasked"] = True
        detail["reason"] = (reason or "").strip()
    audit("read", "vaccination_targets", team, detail=detail)
    return VaccinationTargetPage(
        as_of=build["as_of"],
        team_ids=teams,
        masked=masked,
        total=total,
        limit=limit,
        offset=offset,
        items=items,
    )


# ----------------------------------------------------------------------------------------
# Vaccination targets: counts (aggregate)
# ----------------------------------------------------------------------------------------
COUNTS = ("households", "people", "people_age", "people_managed")


class TargetCounts(_Out):
    """Targets of one team, one town or the county; counts of 1..k-1 withheld (null)."""

    level: Literal["team", "town", "county"]
    team_id: str | None = Field(description="Teams only (null: targets without a team).")
    town_code: str | None = Field(description="Teams and towns (a team's base facility's).")
    households: int | None
    people: int | None
    people_age: int | None = Field(description="Reason `age` (65+).")
    people_managed: int | None = Field(description="Reason `managed` (htn/t2dm 60+).")
    suppressed: list[str] = Field(description="The counts withheld (`count_below_k`).")


class TargetSummary(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-15",
                    "k": 10,
                    "items": [
                        {
                            "level": "team",
                            "team_id": "T01",
                            "town_code": "370783001000",
                            "households": None,
                            "people": 12,
                            "people_age": None,
                            "people_managed": None,
                            "suppressed": ["households", "people_age", "people_managed"],
                        },
                        {
                            "level": "county",
                            "team_id": None,
                            "town_code": None,
                            "households": 950,
                            "people": 1310,
                            "people_age": 1020,
                            "people_managed": 290,
                            "suppressed": [],
                        },
                    ],
                }
            ]
        }
    )

    as_of: dt.date
    k: int
    items: list[TargetCounts]


def withheld(values: Mapping[K, int], k: int, total_shown: bool) -> set[K]:
    """Counts to withhold among ``values`` (the parts of one total).

    Every count of 1 to k−1; and when exactly one is withheld and the total is shown, the
    smallest other non-zero count too, so the withheld one cannot be had by subtraction.
    (One pass: a county's counts, then each town's teams, then each row's reasons.)
    """
    hidden = {key for key, v in values.items() if 0 < v < k}
    if total_shown and len(hidden) == 1:
        rest = sorted((v, str(key), key) for key, v in values.items() if key not in hidden and v)
        if rest:
            hidden.add(rest[0][2])
    return hidden


def summary_rows(frame: list[dict[str, Any]], k: int, *, county: bool) -> list[TargetCounts]:
    """Counts per team, town and (``county``) the county, with small numbers withheld.

    ``frame`` holds one dict per target: ``team_id``, ``town_code``, ``household_id``,
    ``reason``.
    """

    def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
        return {
            "households": len({r["household_id"] for r in rows}),
            "people": len(rows),
            "people_age": sum(r["reason"] == "age" for r in rows),
            "people_managed": sum(r["reason"] == "managed" for r in rows),
        }

    by_town: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    by_team: dict[tuple[str | None, str | None], list[dict[str, Any]]] = defaultdict(list)
    for r in frame:
        by_town[r["town_code"]].append(r)
        by_team[(r["town_code"], r["team_id"])].append(r)
    town_counts = {town: counts(rows) for town, rows in by_town.items()}
    team_counts = {key: counts(rows) for key, rows in by_team.items()}
    hidden: dict[Any, set[str]] = defaultdict(set)
    # Towns within the county (always shown, RULES.md); a centre's one town stands alone.
    for name in COUNTS:
        for town in withheld({t: c[name] for t, c in town_counts.items()}, k, county):
            hidden[("town", town)].add(name)
    # Teams within their town.
    for town in town_counts:
        members = {key: c for key, c in team_counts.items() if key[0] == town}
        for name in COUNTS:
            shown = name not in hidden[("town", town)]
            for key in withheld({m: c[name] for m, c in members.items()}, k, shown):
                hidden[("team", key)].add(name)
    out = []
    rows: list[tuple[Literal["team", "town"], Any, dict[str, int]]] = [
        ("team", key, c) for key, c in sorted(team_counts.items(), key=lambda i: str(i[0]))
    ]
    rows += [("town", town, c) for town, c in sorted(town_counts.items(), key=lambda i: str(i))]
    for level, key, c in rows:
        gone = hidden[(level, key)]
        # The reasons within the row.
        reasons = {"people_age": c["people_age"], "people_managed": c["people_managed"]}
        gone |= {str(n) for n in withheld(reasons, k, "people" not in gone)}
        team_id, town = (key[1], key[0]) if level == "team" else (None, key)
        out.append(_counts_row(level, team_id, town, c, gone))
    if county:
        c = counts(frame)
        reasons = {"people_age": c["people_age"], "people_managed": c["people_managed"]}
        gone = {str(n) for n in withheld(reasons, k, True)}
        out.append(_counts_row("county", None, None, c, gone))
    return out


def _counts_row(
    level: Literal["team", "town", "county"],
    team_id: str | None,
    town: str | None,
    c: dict[str, int],
    gone: set[str],
) -> TargetCounts:
    values: dict[str, Any] = {n: None if n in gone else c[n] for n in COUNTS}
    return TargetCounts(
        level=level,
        team_id=team_id,
        town_code=town,
        suppressed=[n for n in COUNTS if n in gone],
        **values,
    )


def target_towns(session: Session, rows: Sequence[Any]) -> dict[str | None, str | None]:
    """The township of each team of ``rows`` (its base facility's)."""
    return {team: team_town(session, team) for team in {r.team_id for r in rows} if team}


@router.get(
    "/vaccination-targets/summary",
    summary="Vaccination targets counted per team and town",
    responses=AGGREGATE_ERRORS,
)
def vaccination_summary(
    user: AggregateUser,
    engine: EngineDep,
    session: SessionDep,
) -> TargetSummary:
    """Households and people to vaccinate (and people by reason) per team, per town and
    for the county. Counts of 1 to k−1 are null and named in ``suppressed`` (with one more
    beside a lone withheld count). A team's town is its base facility's; a target without
    a team counts for the town of its village. A centre gets its town and its town's
    teams (no county row)."""
    build = build_or_404(engine)
    k = build["suppression_k"]
    t = VaccinationTarget
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.team_id, t.household_id, t.reason, t.area_code).where(t.build_id == _current())
        ).all()
    towns = target_towns(session, rows)
    release(session)
    frame = [
        {
            "team_id": r.team_id,
            "town_code": towns.get(r.team_id) if r.team_id else town_of_code(r.area_code),
            "household_id": r.household_id,
            "reason": r.reason,
        }
        for r in rows
    ]
    county = user.role != "chronic_center"
    if not county:
        frame = [f for f in frame if f["town_code"] == user.town_code]
    return TargetSummary(as_of=build["as_of"], k=k, items=summary_rows(frame, k, county=county))
