"""The vaccination targets counted per team, town and county, small counts withheld.

Summary counts of 1 to k−1 are withheld (RULES.md small numbers; k the current build ran
with), and one more count beside a lone withheld one, so that it cannot be had by
subtraction from a total that is shown: :func:`geo.suppression.withheld_counts`, the one
home of the rule (here also under its older name ``withheld``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.suppression import withheld_counts as withheld
from geo.vocabulary import TOWN_SCOPED_ROLE, town_of_code
from service.deps import AggregateUser, EngineDep, SessionDep, release
from service.routes.aggregates import build_or_404
from service.routes.surveillance.common import AGGREGATE_ERRORS, ROUTER
from service.schemas.surveillance import TargetCounts, TargetSummary
from service.scope import team_town
from store.results import VaccinationTarget, current_build_id

router = APIRouter(**ROUTER)

COUNTS = ("households", "people", "people_age", "people_managed")


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
            select(t.team_id, t.household_id, t.reason, t.area_code).where(
                t.build_id == current_build_id()
            )
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
    county = user.role != TOWN_SCOPED_ROLE
    if not county:
        frame = [f for f in frame if f["town_code"] == user.town_code]
    return TargetSummary(as_of=build["as_of"], k=k, items=summary_rows(frame, k, county=county))
