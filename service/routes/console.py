"""The chronic-disease centre's console (``/c/``): its township's grids, teams and runs.

Who may call (``docs/console.md``):

* ``chronic_center``: its own township (``town_code`` of the account); a ``town`` query
  naming another township, and any grid outside it, is 404, exactly like unknown;
* ``bureau`` and ``admin``: any township, named by ``town`` (required);
* everyone else (doctor, planner): 403.

The endpoints serve aggregates only — counts per team, rates per grid — under the
small-number rule; a team's list itself (masked; unmasked with a reason, audited) is
``GET /api/v1/teams/{team_id}/pushlist`` (``service.routes.care``), which the console opens.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import pandas as pd
from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from geo.change_monitoring import DOWN, UP, monitor_changes
from geo.vocabulary import COLOURS, TOWN_SCOPED_ROLE
from pipelines.pushlist import UnknownTeamError
from service.auth import Principal
from service.deps import EngineDep, SessionDep, SettingsDep, WorklistsDep, release, require_roles
from service.errors import NotFound, problem_doc
from service.routes.aggregates import build_or_404
from service.schemas.common import DateParam
from service.schemas.console import (
    Backlog,
    ChangeRow,
    ConsoleGrid,
    ConsoleGrids,
    ConsoleTeam,
    ConsoleTeams,
    GridHealthTrend,
    HealthIndexPoint,
    MorningRun,
)
from service.scope import teams_of_town
from service.shaping import check_date, clean, invalid_field, local_today
from store import queries
from store.list_opens import lists_opened
from store.models import Area, ChronicRegistry, Followup, Grid, Resident, Team
from store.results import HealthIndex
from store.worklists import PushListEntry, PushListRun, TaskDismissal

router = APIRouter(prefix="/api/v1/console", tags=["console"])

#: Who may open the console: the centre for its township, bureau and admin for any.
CONSOLE_ROLES = (TOWN_SCOPED_ROLE, "bureau", "admin")
ConsoleUser = Annotated[Principal, Depends(require_roles(*CONSOLE_ROLES))]

SCOPE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: problem_doc("Roles other than chronic-disease centre, bureau and admin."),
    404: problem_doc("Unknown township or grid, or outside the centre's township."),
}
TownQuery = Annotated[
    str | None,
    Query(
        max_length=12,
        description="Township code (bureau and admin: required; a centre: its own or none).",
        examples=["370783001000"],
    ),
]
DayQuery = Annotated[DateParam, Query(description="The day D (local date); default today.")]
#: Backlog buckets: (field, lowest days overdue, highest) — the issue's 0–7, 8–30, 31–90, >90.
BACKLOG_BUCKETS = (("d0_7", 0, 7), ("d8_30", 8, 30), ("d31_90", 31, 90), ("d91_plus", 91, None))


def scoped_town(user: Principal, session: Session, town: str | None) -> str:
    """The township the caller looks at (404 outside a centre's own; 422 without one)."""
    if user.role == TOWN_SCOPED_ROLE:
        if user.town_code is None or (town is not None and town != user.town_code):
            raise NotFound()
        return user.town_code
    if not town:
        raise invalid_field("query.town", "a township code is required for this role", "missing")
    area = session.get(Area, town)
    if area is None or area.level != "town":
        raise NotFound()
    return town


def _town_place(session: Session, town: str) -> tuple[str | None, list[float] | None]:
    area = session.get(Area, town)
    if area is None:
        return None, None
    seat = [area.lng, area.lat] if area.lng is not None and area.lat is not None else None
    return area.name, seat


def _change_rows(frame: pd.DataFrame, reasons: dict[tuple[str, str], Any]) -> list[ChangeRow]:
    rows = []
    for r in frame.to_dict("records"):
        item = {str(k): clean(v) for k, v in r.items() if k != "unit_id"}
        item["tested"] = bool(r["tested"])
        item["suppression_reason"] = reasons.get((str(r["unit_id"]), str(r["indicator"])))
        rows.append(ChangeRow(**item))
    return rows


def _previous_period(build: dict[str, Any]) -> dt.date | None:
    as_of: dt.date = build["as_of"]
    earlier = sorted(p for p in (dt.date.fromisoformat(s) for s in build["periods"]) if p < as_of)
    return earlier[-1] if earlier else None


def _reasons(frame: pd.DataFrame) -> dict[tuple[str, str], Any]:
    if frame.empty:
        return {}
    shown = frame[frame["suppression_reason"].notna()]
    return {
        (str(u), str(i)): r
        for u, i, r in zip(
            shown["unit_id"], shown["indicator"], shown["suppression_reason"], strict=True
        )
    }


@router.get(
    "/grids",
    summary="The township's grids: indicators' change since last month, health index",
    responses=SCOPE_ERRORS,
)
def grids(
    user: ConsoleUser,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    town: TownQuery = None,
) -> ConsoleGrids:
    """Every grid of the township with each rate indicator at the previous month-end and at
    D, the difference, z, p, q and the flag (RULES.md "Change monitoring": pooled
    two-proportion z-test, Benjamini–Hochberg at 0.05 over all grids × indicators of the
    township, both denominators ≥ k), and the grid health index at both dates. The
    township's own indicators are a family of their own (``town``). Values are the
    published (small-number suppressed) ones: a withheld numerator is not tested."""
    code = scoped_town(user, session, town)
    name, center = _town_place(session, code)
    grid_rows = session.execute(
        select(Grid.grid_id, Grid.name, Grid.team_id).where(Grid.town_code == code)
    ).all()
    release(session)
    build = build_or_404(engine)
    k = int(build["suppression_k"])
    fdr = float(settings.rules.hotspots.fdr)
    as_of, previous = build["as_of"], _previous_period(build)
    ids = {g.grid_id for g in grid_rows}

    def values(level: str, period: dt.date | None, units: set[str]) -> pd.DataFrame:
        if period is None:
            return pd.DataFrame(columns=["unit_id", "indicator", "numerator", "denominator"])
        frame = queries.indicator_values(engine, level, period=period)
        return frame[frame["unit_id"].astype(str).isin(units)]

    now, before = values("grid", as_of, ids), values("grid", previous, ids)
    changes = monitor_changes(before, now, k=k, fdr=fdr)
    town_now, town_before = values("town", as_of, {code}), values("town", previous, {code})
    town_changes = monitor_changes(town_before, town_now, k=k, fdr=fdr)

    index_now = queries.health_index(engine, period=as_of)
    index_before = (
        queries.health_index(engine, period=previous) if previous is not None else index_now[:0]
    )
    hi = dict(zip(index_now["grid_id"].astype(str), index_now["value"], strict=True))
    hi_prev = dict(zip(index_before["grid_id"].astype(str), index_before["value"], strict=True))
    reasons = _reasons(now)
    by_grid = {u: f for u, f in changes.groupby("unit_id")} if not changes.empty else {}
    out = []
    for g in sorted(grid_rows, key=lambda r: r.grid_id):
        rows = _change_rows(by_grid.get(g.grid_id, changes[:0]), reasons)
        out.append(
            ConsoleGrid(
                grid_id=g.grid_id,
                name=g.name,
                team_id=g.team_id,
                health_index=clean(hi.get(g.grid_id)),
                health_index_prev=clean(hi_prev.get(g.grid_id)),
                changes=rows,
                flagged=sum(r.flag in (UP, DOWN) for r in rows),
            )
        )
    return ConsoleGrids(
        town_code=code,
        town_name=name,
        center=center,
        as_of=as_of,
        previous=previous,
        suppression_k=k,
        fdr=fdr,
        town=_change_rows(town_changes, _reasons(town_now)),
        grids=out,
    )


@router.get(
    "/grids/{grid_id}/health-index",
    summary="A grid's health index and its seven parts, every built period",
    responses=SCOPE_ERRORS,
)
def grid_health_index(
    user: ConsoleUser,
    session: SessionDep,
    engine: EngineDep,
    settings: SettingsDep,
    grid_id: Annotated[str, Path(max_length=40, examples=["G0001"])],
    town: TownQuery = None,
) -> GridHealthTrend:
    """The grid health index (0–100) and its seven parts (each 0–100, RULES.md) for every
    period of the current build, oldest first: the trend the console draws."""
    code = scoped_town(user, session, town)
    grid = session.get(Grid, grid_id)
    if grid is None or grid.town_code != code:
        raise NotFound()
    name = grid.name
    release(session)
    build = build_or_404(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            select(HealthIndex.period, HealthIndex.value, HealthIndex.components)
            .where(HealthIndex.build_id == build["build_id"], HealthIndex.grid_id == grid_id)
            .order_by(HealthIndex.period)
        ).all()
    parts = list(settings.rules.indicators.health_index_weights)
    points = [
        HealthIndexPoint(
            period=r.period,
            value=clean(r.value),
            components={p: _number((r.components or {}).get(p)) for p in parts},
        )
        for r in rows
    ]
    return GridHealthTrend(grid_id=grid_id, name=name, components=parts, points=points)


def _number(value: Any) -> float | None:
    v = clean(value)
    return float(v) if isinstance(v, int | float) else None


# ----------------------------------------------------------------------------------------
# Teams
# ----------------------------------------------------------------------------------------
def _teams_of(session: Session, town: str) -> list[Team]:
    ids = teams_of_town(session, town)
    return list(session.scalars(select(Team).where(Team.team_id.in_(ids)).order_by(Team.team_id)))


def _managing_team_expr() -> Any:
    # RULES.md "Managed patients": the registry's team, else the signed team, else the grid's.
    return func.coalesce(ChronicRegistry.team_id, Resident.signed_team_id, Grid.team_id)


def _visits_on(session: Session, day: dt.date, team_ids: list[str]) -> dict[str, int]:
    team = _managing_team_expr()
    stmt = (
        select(team.label("team"), func.count())
        .select_from(Followup)
        .join(
            ChronicRegistry,
            and_(
                ChronicRegistry.resident_id == Followup.resident_id,
                ChronicRegistry.disease == Followup.disease,
            ),
            isouter=True,
        )
        .join(Resident, Resident.resident_id == Followup.resident_id)
        .join(Grid, Grid.grid_id == Resident.grid_id, isouter=True)
        .where(Followup.visit_date == day, team.in_(team_ids))
        .group_by(team)
    )
    return {str(t): int(n) for t, n in session.execute(stmt).all()}


def _closed_on(
    session: Session, day: dt.date, team_ids: list[str], timezone: str
) -> dict[str, int | None]:
    """Tasks of ``day``'s morning list closed on ``day`` by a follow-up or a dismissal."""
    run = session.get(PushListRun, day)
    if run is None:
        return dict.fromkeys(team_ids)
    entries = session.execute(
        select(
            PushListEntry.team_id,
            PushListEntry.resident_id,
            PushListEntry.disease,
            PushListEntry.task_code,
        ).where(PushListEntry.list_date == day, PushListEntry.team_id.in_(team_ids))
    ).all()
    residents = sorted({e.resident_id for e in entries})
    visited: set[tuple[str, str]] = set()
    dismissed: set[tuple[str, str, str]] = set()
    zone = ZoneInfo(timezone)
    for chunk in (residents[i : i + 500] for i in range(0, len(residents), 500)):
        visited.update(
            (r, d)
            for r, d in session.execute(
                select(Followup.resident_id, Followup.disease).where(
                    Followup.visit_date == day, Followup.resident_id.in_(chunk)
                )
            ).all()
        )
        for r, d, t, at in session.execute(
            select(
                TaskDismissal.resident_id,
                TaskDismissal.disease,
                TaskDismissal.task_code,
                TaskDismissal.dismissed_at,
            ).where(TaskDismissal.resident_id.in_(chunk))
        ).all():
            when = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
            if when.astimezone(zone).date() == day:
                dismissed.add((r, d, t))
    counts: Counter[str] = Counter()
    for e in entries:
        if (e.resident_id, e.disease) in visited or (
            e.resident_id,
            e.disease,
            e.task_code,
        ) in dismissed:
            counts[e.team_id] += 1
    return {t: int(counts.get(t, 0)) for t in team_ids}


def _backlog(overdue: list[int]) -> Backlog:
    counts = {}
    for field, lo, hi in BACKLOG_BUCKETS:
        counts[field] = sum(1 for d in overdue if d >= lo and (hi is None or d <= hi))
    return Backlog(**counts)


@router.get(
    "/teams",
    summary="The township's teams: today's list by colour, yesterday's work, backlog, run",
    responses=SCOPE_ERRORS,
)
def teams(
    user: ConsoleUser,
    session: SessionDep,
    settings: SettingsDep,
    worklists: WorklistsDep,
    town: TownQuery = None,
    date: DayQuery = None,
) -> ConsoleTeams:
    """Per team of the township: the day's list by colour (from the 06:00 snapshot when the
    day's lists were generated, else computed live), the follow-ups recorded the day
    before and the tasks of the day before's list closed that day, the backlog by days
    overdue (0–7, 8–30, 31–90, > 90), and the morning run's status: generated, and opened
    by the team (its first fetch of the list that day)."""
    code = scoped_town(user, session, town)
    day = check_date(date, "query.date") if date else local_today(settings.rules.timezone)
    yesterday = day - dt.timedelta(days=1)
    team_rows = _teams_of(session, code)
    ids = [t.team_id for t in team_rows]
    run = session.get(PushListRun, day)
    snapshot: dict[str, list[tuple[str, int]]] = {t: [] for t in ids}
    if run is not None and ids:
        for team_id, colour, overdue in session.execute(
            select(PushListEntry.team_id, PushListEntry.colour, PushListEntry.days_overdue).where(
                PushListEntry.list_date == day, PushListEntry.team_id.in_(ids)
            )
        ).all():
            snapshot[team_id].append((str(colour), int(overdue)))
    visits = _visits_on(session, yesterday, ids) if ids else {}
    closed = _closed_on(session, yesterday, ids, settings.rules.timezone) if ids else {}
    opened = lists_opened(session, day, ids)
    versions = {t: worklists.version(t, session.connection()) for t in ids} if run is None else {}
    info = [(t.team_id, t.name, int(t.max_daily_visits or 0)) for t in team_rows]
    release(session)
    out = []
    for team_id, name, max_visits in info:
        if run is not None:
            items, source = snapshot[team_id], "snapshot"
        else:
            try:
                frame = worklists.entries(versions[team_id], team_id, day)
            except UnknownTeamError:
                continue
            items = list(
                zip(frame["colour"].astype(str), frame["days_overdue"].astype(int), strict=True)
            )
            source = "live"
        colours = Counter(c for c, _ in items)
        first = opened.get(team_id)
        out.append(
            ConsoleTeam(
                team_id=team_id,
                name=name,
                max_daily_visits=max_visits,
                source=source,
                red=colours.get(COLOURS[0], 0),
                yellow=colours.get(COLOURS[1], 0),
                green=colours.get(COLOURS[2], 0),
                total=len(items),
                visits_yesterday=visits.get(team_id, 0),
                closed_yesterday=closed.get(team_id),
                backlog=_backlog([d for _, d in items]),
                run=MorningRun(
                    generated=run is not None,
                    generated_at=run.generated_at if run is not None else None,
                    entries=len(snapshot[team_id]) if run is not None else 0,
                    opened=first is not None,
                    opened_at=first.opened_at if first is not None else None,
                ),
            )
        )
    return ConsoleTeams(town_code=code, date=day, teams=out)
