"""Push lists and visit routes from the store: the morning run, one team's live list, a route.

The rules live in :mod:`geo.followup` (tasks, order, colours, masking) and
:mod:`geo.routing`; this module only reads the store into frames, calls them and writes the
morning snapshot. One team's list reads just that team's residents (signed to it, living in
its grids, or managed by it), so the phone page answers in well under a second.

A live write (a visit, a reading, a dismissal) changes one resident's tasks only:
:func:`refresh_team_list` recomputes the residents written since a list was computed (the
store logs them with each move of the team's counter, :func:`store.version.residents_written`)
and splices their entries into it, instead of reading and computing the whole team again
(issue 17: 200–450 ms after every write).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session

from geo.errors import NotFoundError, UnknownTeamError
from geo.followup import (
    ENTRY_COLUMNS,
    open_tasks,
    push_list,
    push_list_entries,
    task_icd10_ranges,
)
from geo.push_list import in_list_order
from geo.risk_model import current_features, load_model, score
from geo.routing import Route, plan_route
from geo.rules import RulesConfig
from geo.travel import StraightLineModel
from pipelines.load import insert as bulk_insert
from store.frames import read_frame, start_frame
from store.list_snapshots import prune_list_snapshots
from store.models import Facility, Team
from store.shared_answers import prune_shared_answers
from store.version import prune_team_writes, residents_written, team_counter
from store.worklists import PushListEntry, PushListRun, TaskDismissal

#: Tables the follow-up rules read, keyed by the frame names of docs/frames.md.
RULE_TABLES = ("residents", "chronic_registry", "followups", "measurements", "claims", "grids")

#: A team's residents: signed to it, living in one of its grids, or managed by it.
TEAM_RESIDENTS = (
    # Three indexed look-ups rather than one OR, which makes both stores scan every resident.
    "SELECT resident_id FROM residents WHERE signed_team_id = {team}"
    " UNION SELECT resident_id FROM residents"
    " WHERE grid_id IN (SELECT grid_id FROM grids WHERE team_id = {team})"
    " UNION SELECT resident_id FROM chronic_registry WHERE team_id = {team}"
)


def dismissals_frame(engine: Engine, resident_ids: list[str] | None = None) -> pd.DataFrame:
    """Doctors' dismissals (of ``resident_ids`` only, if given) as ``open_tasks`` takes them."""
    stmt = select(
        TaskDismissal.resident_id,
        TaskDismissal.disease,
        TaskDismissal.task_code,
        TaskDismissal.due_date,
        TaskDismissal.dismissed_at,
        TaskDismissal.reason,
    )
    if resident_ids is not None:
        stmt = stmt.where(TaskDismissal.resident_id.in_(resident_ids))
    with engine.connect() as conn:
        rows = conn.execute(stmt).fetchall()
    frame = pd.DataFrame(
        rows, columns=["resident_id", "disease", "task_code", "due_date", "dismissed_at", "reason"]
    )
    frame["due_date"] = pd.to_datetime(frame["due_date"]).astype("datetime64[ns]")
    frame["dismissed_at"] = pd.to_datetime(frame["dismissed_at"], utc=True)
    return frame


def task_claims_filter(as_of: dt.date, rules: RulesConfig) -> tuple[str, dict[str, Any]]:
    """SQL condition (``read_frame``'s ``where``/``params``) for the claims the rules use on D.

    Only a claim with a post-discharge or case-finding diagnosis, seen in the case-finding
    window or discharged in the post-discharge window, can open a task on D: a fifth of a
    county's claims or less, read instead of all of them. The condition is a superset of
    :func:`geo.followup.open_tasks`' own screening (one day of margin at each end), which
    still decides.
    """
    fc = rules.followup
    ranges = task_icd10_ranges(rules)
    category = "upper(substr(trim(icd10), 1, 3))"
    icd = " OR ".join(f"({category} BETWEEN {{lo{i}}} AND {{hi{i}}})" for i in range(len(ranges)))
    when = (
        "(visit_date >= {case_from} AND visit_date <= {until})"
        " OR (discharge_date >= {discharge_from} AND discharge_date <= {until})"
    )
    params: dict[str, Any] = {
        "case_from": as_of - dt.timedelta(days=fc.case_finding_window_days + 1),
        "discharge_from": as_of - dt.timedelta(days=fc.post_discharge_window_days + 1),
        "until": as_of + dt.timedelta(days=1),
    }
    for i, (lo, hi) in enumerate(ranges):
        params[f"lo{i}"], params[f"hi{i}"] = lo.upper(), hi.upper()
    return f"({icd}) AND ({when})", params


def team_resident_ids(engine: Engine, team_id: str) -> list[str]:
    """The residents on team ``team_id``'s lists (:data:`TEAM_RESIDENTS`)."""
    return [
        str(r)
        for r in read_frame(
            engine,
            "residents",
            ["resident_id"],
            where=f"resident_id IN ({TEAM_RESIDENTS})",
            params={"team": team_id},
        )["resident_id"].tolist()
    ]


def read_rule_frames(
    engine: Engine,
    team_id: str | None = None,
    *,
    claims_for: tuple[dt.date, RulesConfig] | None = None,
    resident_ids: list[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """The frames the follow-up rules need: the whole county, one team's residents, or a few.

    ``claims_for=(D, rules)`` reads only the claims the rules can use on D
    (:func:`task_claims_filter`); without it every claim is read (the risk model's features
    count all of a year's claims). ``resident_ids`` reads just those residents' records
    (the grids whole: they say which team a resident's grid belongs to).
    """
    who: str = ""
    params: dict[str, Any] = {}
    if resident_ids is not None:
        names = {f"r{i}": rid for i, rid in enumerate(resident_ids)}
        who = "resident_id IN (" + ", ".join(f"{{{n}}}" for n in names) + ")"
        params = dict(names)
    elif team_id is not None:
        ids = team_resident_ids(engine, team_id)
        if engine.dialect.name == "postgresql":
            # An explicit id array lets PostgreSQL use the resident_id indexes; with the
            # subquery it hash-joins the county's 8M claims (seconds per list).
            who, params = "resident_id = ANY({ids})", {"ids": ids}
        else:
            who, params = f"resident_id IN ({TEAM_RESIDENTS})", {"team": team_id}
    reads: dict[str, Callable[[], pd.DataFrame]] = {}
    for table in RULE_TABLES:
        where, args = (who, params) if table != "grids" else ("", {})
        if table == "claims" and claims_for is not None:
            condition, extra = task_claims_filter(*claims_for)
            where, args = (f"({where}) AND {condition}" if where else condition), {**args, **extra}
        if table == "claims" and team_id is None:
            # The county's claims (~1.6M of 8M rows at scale 1.0) are read by a child
            # process on SQLite while this one reads the residents and their records.
            reads[table] = start_frame(engine, table, where=where or None, params=args or None)
        else:
            reads[table] = partial(
                read_frame,
                engine,
                table,
                where=where or None,
                params=args or None,
                few_rows=resident_ids is not None and table != "grids",
            )
    frames = {table: read() for table, read in reads.items()}
    frames["dismissals"] = dismissals_frame(engine, resident_ids)
    return frames


def tasks_from_frames(
    frames: dict[str, pd.DataFrame],
    as_of: dt.date,
    rules: RulesConfig,
    *,
    claims_key: str = "claims",
) -> pd.DataFrame:
    """:func:`geo.followup.open_tasks` over frames named as :func:`read_rule_frames` names them."""
    return open_tasks(
        as_of,
        residents=frames["residents"],
        registry=frames["chronic_registry"],
        followups=frames["followups"],
        measurements=frames["measurements"],
        claims=frames[claims_key],
        grids=frames["grids"],
        dismissals=frames.get("dismissals"),
        config=rules,
    )


def usable_model(model_path: Path | None) -> dict[str, Any] | None:
    """The trained model bundle the lists should use, or None to use the fallback score.

    None without a trained model, and also when the model ranked the held-out months worse
    than the fallback score did (test ROC AUC): the list is ordered by the score, so a
    model that orders patients worse than "share of the last four visits not satisfactory"
    must not replace it.
    """
    if model_path is None:
        return None
    try:
        st = Path(model_path).stat()
    except OSError:
        return None
    bundle = _loaded_model(str(model_path), st.st_mtime_ns, st.st_size)
    return bundle if model_beats_fallback(bundle.get("metrics", {})) else None


@functools.lru_cache(maxsize=4)
def _loaded_model(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    # Keyed by the file's mtime and size: a retrained model is read again, an unchanged
    # one is not (unpickling it costs ~0.3-0.7 s, which a list spliced after one visit
    # would otherwise pay on every read). The bundle is only ever read, never mutated.
    del mtime_ns, size
    return load_model(path)


def model_risk(
    bundle: dict[str, Any] | None,
    frames: dict[str, pd.DataFrame],
    as_of: dt.date,
    rules: RulesConfig,
) -> pd.Series | None:
    """Model risk scores indexed by (resident_id, disease), or None to use the fallback.

    ``bundle`` is what :func:`usable_model` returned (None: no model the lists may use).
    """
    if bundle is None:
        return None
    features = current_features(
        as_of,
        residents=frames["residents"],
        registry=frames["chronic_registry"],
        followups=frames["followups"],
        measurements=frames["measurements"],
        claims=frames["claims"],
        config=rules,
    )
    if features.empty:
        return None
    return score(bundle, features)


def model_beats_fallback(metrics: dict[str, Any]) -> bool:
    """Whether the model's held-out ROC AUC is at least the fallback score's."""
    try:
        return float(metrics["model"]["roc_auc"]) >= float(metrics["fallback"]["roc_auc"])
    except (KeyError, TypeError, ValueError):
        return False


def team_exists(engine: Engine, team_id: str) -> bool:
    with Session(engine) as session:
        return session.get(Team, team_id) is not None


def team_push_list(
    engine: Engine,
    team_id: str,
    as_of: dt.date,
    rules: RulesConfig,
    *,
    masked: bool = True,
    model_path: Path | None = None,
) -> pd.DataFrame:
    """Team ``team_id``'s live list for ``as_of`` (entries with the RULES.md fields).

    Parameters
    ----------
    engine : Engine
    team_id : str
    as_of : date
        The day D.
    rules : RulesConfig
    masked : bool
        Mask names and phones (everyone but the team itself).
    model_path : Path, optional
        A trained risk model; the fallback score is used without one.
    """
    if not team_exists(engine, team_id):
        raise UnknownTeamError(team_id)
    return _entries(engine, team_id, as_of, rules, usable_model(model_path), masked=masked)


def _entries(
    engine: Engine,
    team_id: str,
    as_of: dt.date,
    rules: RulesConfig,
    model: dict[str, Any] | None,
    *,
    masked: bool,
    resident_ids: list[str] | None = None,
) -> pd.DataFrame:
    """The team's entries: all of them, or those of ``resident_ids`` only."""
    frames = read_rule_frames(
        engine,
        team_id,
        claims_for=None if model else (as_of, rules),
        resident_ids=resident_ids,
    )
    tasks = tasks_from_frames(frames, as_of, rules)
    risk = model_risk(model, frames, as_of, rules)
    entries = push_list_entries(
        tasks, frames["residents"], risk, as_of, team_id, masked=masked, config=rules
    )
    entries["risk_source"] = "fallback" if risk is None else "model"
    return entries


# ----------------------------------------------------------------------------------------
# A list kept up to date by splicing
# ----------------------------------------------------------------------------------------
#: Days of the live-write log (``team_writes``) the morning run keeps.
TEAM_WRITES_KEPT_DAYS = 2


@dataclass(frozen=True)
class TeamList:
    """A team's live list (names and phones in full) and what it was computed from.

    ``team_version`` (the team's live-write counter) was read before the records the
    entries were computed from, so a write that landed in between is recomputed again by
    the next :func:`refresh_team_list`.
    """

    team_id: str
    as_of: dt.date
    entries: pd.DataFrame
    team_version: int
    spliced: tuple[str, ...] = ()


def team_list(
    engine: Engine,
    team_id: str,
    as_of: dt.date,
    rules: RulesConfig,
    *,
    model_path: Path | None = None,
) -> TeamList:
    """The team's whole list, computed from the store (unmasked), with its counter.

    Raises
    ------
    UnknownTeamError
        No such team.
    """
    if not team_exists(engine, team_id):
        raise UnknownTeamError(team_id)
    version = team_counter(engine, team_id)
    entries = _entries(engine, team_id, as_of, rules, usable_model(model_path), masked=False)
    return TeamList(team_id, as_of, entries, version)


#: Computes the entries of some residents on a team's list of a day:
#: ``(team_id, as_of, resident_ids) -> entries`` (:func:`residents_entries` bound to a store,
#: rules and model; the service may run it in another process).
FreshEntries = Callable[[str, dt.date, list[str]], pd.DataFrame]


def residents_entries(
    engine: Engine,
    team_id: str,
    as_of: dt.date,
    rules: RulesConfig,
    resident_ids: list[str],
    *,
    model_path: Path | None = None,
) -> pd.DataFrame:
    """The entries of ``resident_ids`` on the team's list of ``as_of`` (names in full).

    What :func:`refresh_team_list` splices in.
    """
    model = usable_model(model_path)
    return _entries(engine, team_id, as_of, rules, model, masked=False, resident_ids=resident_ids)


def refresh_team_list(
    engine: Engine,
    base: TeamList,
    rules: RulesConfig,
    *,
    model_path: Path | None = None,
    fresh: FreshEntries | None = None,
) -> TeamList:
    """``base`` brought up to date after live writes, recomputing only the residents written.

    Valid while only live writes happened since ``base`` was computed: no ingest, build,
    manual fix or retrained model (those change the store version's other components and
    the caller computes the list whole, :func:`team_list`). The residents written since
    (:func:`store.version.residents_written`) get their tasks recomputed by
    :func:`geo.followup.open_tasks` on their own frames; their entries replace theirs in
    the list, which is put back in list order (:func:`geo.push_list.in_list_order`, a
    total order): the result equals the list computed whole. When the write log no longer
    covers ``base`` (pruned), the list is computed whole.

    ``fresh`` computes the written residents' entries (default :func:`residents_entries`
    here, in this process).
    """
    version = team_counter(engine, base.team_id)
    changed = residents_written(engine, base.team_id, base.team_version, version)
    if changed is None:
        return team_list(engine, base.team_id, base.as_of, rules, model_path=model_path)
    if not changed:
        return replace(base, team_version=version, spliced=())
    if fresh is None:
        made = residents_entries(
            engine, base.team_id, base.as_of, rules, changed, model_path=model_path
        )
    else:
        made = fresh(base.team_id, base.as_of, changed)
    kept = base.entries[~base.entries["resident_id"].isin(changed)]
    parts = [p for p in (kept, made) if len(p)]
    entries = in_list_order(pd.concat(parts, ignore_index=True)) if parts else kept
    if len(parts) < 2:  # nothing to interleave: keep the frame's own dtypes and a fresh index
        entries = entries.reset_index(drop=True)
    return replace(base, entries=entries, team_version=version, spliced=tuple(changed))


def generate_push_lists(
    engine: Engine,
    as_of: dt.date,
    rules: RulesConfig,
    *,
    model_path: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Materialise every team's list for ``as_of`` (the 06:00 run); replaces that day's lists.

    Returns a summary: teams, entries, entries per colour, seconds, risk source.
    """
    started = time.perf_counter()
    tick = progress or (lambda *_: None)
    tick("reading the store", 0, 3)
    model = usable_model(model_path)
    frames = read_rule_frames(engine, claims_for=None if model else (as_of, rules))
    tick("follow-up rules", 1, 3)
    tasks = tasks_from_frames(frames, as_of, rules)
    risk = model_risk(model, frames, as_of, rules)
    lists = push_list(tasks, as_of, risk=risk, config=rules)
    lists = lists[lists["team_id"].notna()].copy()
    lists["rank"] = lists.groupby("team_id").cumcount() + 1
    source = "fallback" if risk is None else "model"
    now = dt.datetime.now(dt.UTC)
    rows = pd.DataFrame(
        {
            "list_date": pd.Timestamp(as_of),
            "team_id": lists["team_id"].astype(str),
            "resident_id": lists["resident_id"].astype(str),
            "disease": lists["disease"].astype(str),
            "rank": lists["rank"].astype(int),
            "task_code": lists["task_code"].astype(str),
            "colour": lists["colour"].astype(str),
            "due_date": pd.to_datetime(lists["due_date"]),
            "days_overdue": lists["days_overdue"].astype(int),
            "risk_score": pd.to_numeric(lists["risk_score"], errors="coerce"),
            "risk_source": source,
            "grid_id": lists["grid_id"],
            "reason_zh": lists["reason_zh"],
            "generated_at": pd.Timestamp(now),
        }
    )
    tick("writing the lists", 2, 3)
    with Session(engine) as session, session.begin():
        session.execute(delete(PushListEntry).where(PushListEntry.list_date == as_of))
        session.execute(delete(PushListRun).where(PushListRun.list_date == as_of))
        # The loader's bulk path (COPY on PostgreSQL): a county's lists are ~10^5 rows.
        bulk_insert(session.connection(), PushListEntry.__tablename__, rows)
        seconds = round(time.perf_counter() - started, 2)
        session.execute(
            insert(PushListRun).values(
                list_date=as_of,
                generated_at=now,
                teams=int(rows["team_id"].nunique()),
                entries=len(rows),
                seconds=seconds,
                risk_source=source,
            )
        )
    # The live-write log and the workers' shared lists only serve lists cached today, the
    # shared tiles and pages the current build mostly; two days leave a margin.
    kept = dt.timedelta(days=TEAM_WRITES_KEPT_DAYS)
    prune_team_writes(engine, now - kept)
    prune_list_snapshots(engine, as_of - kept)
    prune_shared_answers(engine, now - kept)
    tick("done", 3, 3)
    return {
        "date": as_of.isoformat(),
        "teams": int(rows["team_id"].nunique()),
        "entries": len(rows),
        "colours": {k: int(v) for k, v in rows["colour"].value_counts().items()},
        "risk_source": source,
        "seconds": round(time.perf_counter() - started, 2),
    }


def team_base(engine: Engine, team_id: str) -> tuple[tuple[float, float], int]:
    """The team's home facility (lat, lng) and its max_daily_visits."""
    with Session(engine) as session:
        team = session.get(Team, team_id)
        if team is None:
            raise UnknownTeamError(team_id)
        facility = session.get(Facility, team.facility_id)
        if facility is None:
            # Said as the API says it: the facility id is the store's business, not the caller's.
            raise NotFoundError("The team's base facility is not in the store.")
        return (facility.lat, facility.lng), int(team.max_daily_visits or 12)


def team_route(
    engine: Engine,
    team_id: str,
    as_of: dt.date,
    rules: RulesConfig,
    *,
    mode: str = "drive",
    entries: pd.DataFrame | None = None,
    model_path: Path | None = None,
) -> Route:
    """The day's visit route of a team: its list's first max_daily_visits, red first."""
    base, max_visits = team_base(engine, team_id)
    if entries is None:
        entries = team_push_list(engine, team_id, as_of, rules, masked=True, model_path=model_path)
    stops = entries[["resident_id", "lat", "lng", "colour"]]
    return plan_route(
        base,
        stops,
        max_stops=max_visits,
        model=StraightLineModel(mode=mode, config=rules.coverage),
        time_limit_s=2.0,
    )


__all__ = [
    "ENTRY_COLUMNS",
    "UnknownTeamError",
    "generate_push_lists",
    "read_rule_frames",
    "team_push_list",
    "team_route",
]
