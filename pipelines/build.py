"""``healthmap build``: compute what the map and the dashboards show, store it, swap atomically.

For the as-of date D and each of the 12 month-ends before it: every RULES.md indicator at
every level (H3 7/8/9, grid, village, town, county, team), small-number suppression, and
the grid health index. For D only: the disease burden per town and the hotspots (htn and
t2dm prevalence among adults, uncontrolled share among managed patients; H3 res 8 and
grids).

Validate → compute → assemble: the store is read once into canonical frames, ``geo/``
computes on them, and the results are written under a new ``build_id``; one short
transaction then makes that build current. Readers join through ``build_current`` and
never see half a build.

The build it replaced is kept (``superseded``: to compare with, or to go back to) until
the next build, which deletes its rows (``dropped``) in a spawned process while it reads
the store — a core is idle then, and the delete is off the build's critical path. The
early warning, which needs no claims, is forked as soon as the other tables are read;
the periods once the claims are read and reduced.

Every child process dies with this one (:func:`store.children.die_with_parent`): a
``kill -9`` of the build leaves no worker behind, and its ``building`` row, which records
its owner process, is dropped by the next build (docs/operations.md).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, select, update
from sqlalchemy import insert as sql_insert
from sqlalchemy.orm import Session

from geo.burden import disease_burden
from geo.followup import task_relevant_claims
from geo.health_index import grid_health_index
from geo.hotspots import hotspot_inputs, hotspots
from geo.indicators import LEVELS, compute_indicators, prepare_claims
from geo.rules import RulesConfig, age_on
from geo.suppression import suppress
from geo.vocabulary import HOTSPOT_INDICATORS
from geo.weights import polygon_weights
from pipelines.load import insert
from pipelines.pushlist import tasks_from_frames
from pipelines.surveillance import (
    compute_surveillance,
    delete_surveillance_rows,
    store_surveillance,
)
from store.children import die_with_parent, owner_alive, process_owner
from store.engine import analyze, make_engine
from store.frames import read_frames_in_two
from store.partitions import add_build_partition, drop_build_indicators
from store.results import (
    CURRENT_BUILD_NAME,
    Build,
    BuildCurrent,
    BurdenRow,
    HealthIndex,
    HotspotResult,
)
from store.results import current_build_id as current_build_id_of_store
from store.shapes import grid_shapes as grid_shapes_of

Progress = Callable[[str, int, int], None]

HOTSPOT_LEVELS: tuple[str, ...] = ("h3:8", "grid")


def build_periods(as_of: dt.date, months: int = 12) -> list[dt.date]:
    """D and the ``months`` month-ends before it, newest first.

    The month-end of D's own month is not included unless D is that day (then D covers it).
    """
    periods = [as_of]
    first_of_month = as_of.replace(day=1)
    for _ in range(months):
        month_end = first_of_month - dt.timedelta(days=1)
        periods.append(month_end)
        first_of_month = month_end.replace(day=1)
    return periods


def prepare_frames(frames: dict[str, Any], rules: RulesConfig) -> dict[str, Any]:
    """Frames as :func:`compute_period` takes them: the store's, plus two reductions of claims.

    The county's millions of claims are reduced once for all periods instead of once per
    period: ``task_claims`` holds the few diagnoses the follow-up rules look at, and
    ``indicator_claims`` (:func:`geo.indicators.prepare_claims`) the resident positions,
    day numbers and flags the indicators count.
    """
    return {
        **frames,
        "task_claims": task_relevant_claims(frames["claims"], rules),
        "indicator_claims": prepare_claims(
            frames["claims"], frames["residents"], frames["facilities"]
        ),
    }


def compute_period(
    period: dt.date, frames: dict[str, Any], rules: RulesConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Indicators at every level (raw and suppressed) and the grid health index for a date."""
    tasks = period_tasks(period, frames, rules)
    values = period_values(period, frames, rules, tasks)
    shown, index = finish_period(values, rules)
    return values, shown, index


def period_tasks(period: dt.date, frames: dict[str, Any], rules: RulesConfig) -> pd.DataFrame:
    """The follow-up tasks open on ``period`` (the overdue indicator counts them)."""
    return tasks_from_frames(frames, period, rules, claims_key="task_claims")


def period_values(
    period: dt.date,
    frames: dict[str, Any],
    rules: RulesConfig,
    tasks: pd.DataFrame | None,
    **replaced: Any,
) -> pd.DataFrame:
    """:func:`geo.indicators.compute_indicators` of ``period`` on the build's frames.

    ``replaced`` overrides arguments (``claims=None``, ``population=None`` …): the Dask
    path (:mod:`pipelines.build_dask`) calls it on a partition's frames without some tables.
    """
    arguments: dict[str, Any] = {
        "residents": frames["residents"],
        "registry": frames["chronic_registry"],
        "followups": frames["followups"],
        "claims": frames.get("indicator_claims", frames.get("claims")),
        "facilities": frames.get("facilities"),
        "staff": frames.get("staff"),
        "grids": frames["grids"],
        "areas": frames["areas"],
        "population": frames.get("population"),
        "vaccinations": frames.get("vaccinations"),
        "open_tasks": tasks,
        "levels": LEVELS,
        "config": rules,
    }
    return compute_indicators(period, **{**arguments, **replaced})


def finish_period(values: pd.DataFrame, rules: RulesConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A period's values as shown (small-number suppression) and the grid health index."""
    shown = suppress(values, k=rules.indicators.suppression_k)
    index = grid_health_index(shown[shown["level"] == "grid"], config=rules)
    return shown, index


def key_order(shown: pd.DataFrame) -> pd.DataFrame:
    """A period's rows in the store's key order.

    The period is fixed: the store appends the period's rows to its B-tree instead of
    inserting them all over it (migration 0009).
    """
    return shown.sort_values(["level", "unit_id", "indicator"], ignore_index=True)


def adults_per_unit(residents: pd.DataFrame, as_of: dt.date, level: str) -> pd.Series:
    """Active residents aged 18+ on ``as_of`` per unit of ``level`` (``h3:8`` or ``grid``)."""
    column = "grid_id" if level == "grid" else f"h3_{level.split(':')[1]}"
    active = residents[residents["status"].fillna("active") == "active"]
    adult = active[age_on(active["birth_date"], as_of).fillna(-1).to_numpy() >= 18]
    return adult.groupby(adult[column].astype(str))[column].size().rename("adults")


def compute_hotspots(
    as_of: dt.date,
    values: pd.DataFrame,
    residents: pd.DataFrame,
    grid_shapes: Any,
    rules: RulesConfig,
) -> pd.DataFrame:
    """Gi* hotspots of every hotspot indicator on H3 res 8 and on grids (RULES.md)."""
    parts = []
    for level in HOTSPOT_LEVELS:
        inputs = hotspot_inputs(values, adults_per_unit(residents, as_of, level), level)
        grid_w = None
        if level == "grid":
            if grid_shapes is None or not len(grid_shapes):
                continue
            shapes = grid_shapes[grid_shapes["grid_id"].isin(inputs["unit_id"])]
            shapes = shapes.reset_index(drop=True)
            grid_w = polygon_weights(shapes, "grid_id")
            inputs = inputs[inputs["unit_id"].isin(shapes["grid_id"])]
        for indicator in HOTSPOT_INDICATORS:
            sub = inputs[inputs["indicator"] == indicator].reset_index(drop=True)
            if sub.empty:
                continue
            if level == "grid":
                result = hotspots(sub, weights=grid_w, kind="polygon", config=rules.hotspots)
            else:
                result = hotspots(sub, kind="h3", config=rules.hotspots)
            parts.append(result.assign(indicator=indicator, level=level))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    # RULES.md small numbers: a unit's raw rate and count are withheld below k; the
    # smoothed rate, z and class are model estimates over the neighbourhood and stay.
    k = rules.indicators.suppression_k
    below_den = (out["denominator"] < k).to_numpy()
    below_num = ((out["numerator"] > 0) & (out["numerator"] < k)).to_numpy()
    out["suppressed"] = below_den | below_num
    reason = np.full(len(out), None, dtype=object)
    reason[below_num] = "count_below_k"
    reason[below_den] = "denominator_below_k"
    out["suppression_reason"] = reason
    out.loc[out["suppressed"], ["rate", "numerator"]] = np.nan
    return out


_WORKER: dict[str, Any] = {}

#: What a build computes besides its periods: the early warning, as of D only.
SURVEILLANCE = "surveillance"


def _init_worker(frames: dict[str, Any], rules: RulesConfig, parent: int) -> None:
    # A forked worker holds copies of every pipe of the build: orphaned, it would block on
    # them for good (issue 17), so it goes when the build goes.
    die_with_parent(parent)
    # Forked workers inherit the frames without pickling; this keeps a reference per process.
    _WORKER["frames"], _WORKER["rules"] = frames, rules


def _compute_job(
    job: dt.date | str, as_of: dt.date, frames: dict[str, Any], rules: RulesConfig
) -> Any:
    """A period's (raw values at D only, suppressed values, health index), or the early warning."""
    if job == SURVEILLANCE:
        return compute_surveillance(as_of, frames, rules)
    assert isinstance(job, dt.date)
    values, shown, index = compute_period(job, frames, rules)
    return (values if job == as_of else None), key_order(shown), index


def _compute_in_worker(job: dt.date | str, as_of: dt.date) -> tuple[Any, float]:
    started = time.perf_counter()
    result = _compute_job(job, as_of, _WORKER["frames"], _WORKER["rules"])
    return result, time.perf_counter() - started


class _Jobs:
    """Jobs computed in forked worker processes, each batch forked with its own frames.

    Periods and the early warning are independent, so worker processes compute them (the
    frames are shared copy-on-write) while this process writes finished ones to the store.
    A batch's processes are forked when it is submitted: the early warning, which needs no
    claims, starts while this process is still reading and reducing them. With one worker
    (or no ``fork``) the jobs are computed here, in order, by :meth:`completed`.
    """

    def __init__(self, as_of: dt.date, rules: RulesConfig, workers: int | None) -> None:
        self.as_of, self.rules = as_of, rules
        self.n = workers or min(4, os.cpu_count() or 1)
        self.inline = self.n <= 1 or "fork" not in mp.get_all_start_methods()
        self._pools: list[ProcessPoolExecutor] = []
        self._futures: dict[Future[tuple[Any, float]], dt.date | str] = {}
        self._batches: list[tuple[list[dt.date | str], dict[str, Any]]] = []

    def submit(
        self, jobs: list[dt.date | str], frames: dict[str, Any], processes: int | None = None
    ) -> None:
        """Start ``jobs`` on ``frames`` (in ``processes`` forked processes, at most n)."""
        if self.inline:
            self._batches.append((jobs, frames))
            return
        pool = ProcessPoolExecutor(
            max_workers=min(processes or self.n, self.n, len(jobs)),
            mp_context=mp.get_context("fork"),
            initializer=_init_worker,
            initargs=(frames, self.rules, os.getpid()),
        )
        self._pools.append(pool)
        for job in jobs:  # a fork context forks every worker at the first submit
            self._futures[pool.submit(_compute_in_worker, job, self.as_of)] = job

    def completed(self) -> Iterator[tuple[dt.date | str, Any, float]]:
        """Each job's ``(job, result, seconds)`` as it is done."""
        for jobs, frames in self._batches:
            for job in jobs:
                started = time.perf_counter()
                result = _compute_job(job, self.as_of, frames, self.rules)
                yield job, result, time.perf_counter() - started
        for future in as_completed(self._futures):
            result, seconds = future.result()
            yield self._futures[future], result, seconds

    def close(self) -> None:
        for pool in self._pools:
            pool.shutdown(cancel_futures=True)


def _drop_in_process(url: str, keep: set[int | None]) -> tuple[list[int], float]:
    """:func:`drop_superseded_builds` on a store of its own (a spawned process's)."""
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        return drop_superseded_builds(engine, keep), time.perf_counter() - started
    finally:
        engine.dispose()


def run_build(
    engine: Engine,
    as_of: dt.date,
    rules: RulesConfig,
    *,
    months: int = 12,
    workers: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Compute and store a full build for ``as_of``; return its summary.

    Parameters
    ----------
    engine : Engine
        The store (schema at head).
    as_of : date
        D, the as-of date of the build.
    rules : RulesConfig
        Domain thresholds (``Settings.rules``).
    months : int
        How many month-ends before D are built too (default 12).
    workers : int, optional
        Processes computing periods in parallel (default: the machine's cores, at most 4);
        1 computes in this process.
    progress : callable, optional
        ``progress(step, done, total)`` for the command line's progress bar.
    """
    tick = progress or (lambda *_: None)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    build_id = open_build(engine, as_of)
    jobs = _Jobs(as_of, rules, workers)
    # The superseded build's rows are deleted by a spawned process (a store connection of
    # its own, nothing inherited) while this one reads: a core is idle then.
    dropper = ProcessPoolExecutor(
        max_workers=1,
        mp_context=mp.get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
    try:
        t0 = time.perf_counter()
        keep = {build_id, current_build_id(engine)}
        url = engine.url.render_as_string(hide_password=False)
        dropping = dropper.submit(_drop_in_process, url, keep)
        first, read_claims = read_frames_in_two(engine, later=("claims",))
        # No open connection may cross a fork (SQLite files get corrupted when a child
        # closes an inherited handle): the pool is emptied before each batch of workers.
        engine.dispose()
        jobs.submit([SURVEILLANCE], first, processes=1)  # needs no claims: starts now
        frames = prepare_frames({**first, **read_claims()}, rules)
        grid_shapes = grid_shapes_of(engine)
        timings["read"] = time.perf_counter() - t0
        periods = build_periods(as_of, months)
        steps = len(periods) + 3
        counts = {"indicator_values": 0, "health_index": 0, "burden": 0, "hotspot_results": 0}
        values_at_d = None
        engine.dispose()
        jobs.submit(list(periods), frames)
        for i, (job, result, seconds) in enumerate(jobs.completed()):
            tick(f"computed {job}", i + 1, steps)
            timings[f"compute {job}"] = seconds
            t0 = time.perf_counter()
            if not isinstance(job, dt.date):  # SURVEILLANCE
                counts.update(store_surveillance(engine, build_id, result))
            else:
                values, shown, index = result
                if values is not None:
                    values_at_d = values
                store_period(engine, build_id, job, shown, index, counts)
            timings[f"store {job}"] = time.perf_counter() - t0
        jobs.close()
        tick("burden", steps - 2, steps)
        t0 = time.perf_counter()
        burden = disease_burden(
            as_of,
            claims=frames["claims"],
            residents=frames["residents"],
            population=frames.get("population"),
            config=rules,
        )
        counts["burden"] = store_burden(engine, build_id, burden)
        timings["burden"] = time.perf_counter() - t0
        tick("hotspots", steps - 1, steps)
        t0 = time.perf_counter()
        assert values_at_d is not None  # D is always the first period
        hot = compute_hotspots(as_of, values_at_d, frames["residents"], grid_shapes, rules)
        counts["hotspot_results"] = store_hotspots(engine, build_id, hot)
        timings["hotspots"] = time.perf_counter() - t0
        _, timings["drop superseded"] = dropping.result()
        tick("done", steps, steps)
    except BaseException:
        jobs.close()
        dropper.shutdown(wait=True)
        fail_build(engine, build_id)
        raise
    dropper.shutdown(wait=True)
    summary = {
        "build_id": build_id,
        "as_of": as_of.isoformat(),
        "periods": [p.isoformat() for p in periods],
        # Every reader applies the small-number rule with the k the build ran with.
        "suppression_k": rules.indicators.suppression_k,
        "rows": counts,
        "seconds": round(time.perf_counter() - started, 2),
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }
    make_current(engine, build_id, summary)
    return summary


def open_build(engine: Engine, as_of: dt.date) -> int:
    """A new ``building`` row (owned by this process) and its indicator partition; its id."""
    with Session(engine) as session:
        # The owner process: a build killed mid-way is told from one still running.
        build = Build(
            as_of=as_of, started_at=_now(), status="building", summary={"owner": process_owner()}
        )
        session.add(build)
        session.commit()
        build_id = build.build_id
    add_build_partition(engine, build_id)
    return build_id


def fail_build(engine: Engine, build_id: int) -> None:
    """Mark a build ``failed`` and delete every row it wrote."""
    drop_build_indicators(engine, build_id)
    with Session(engine) as session:
        session.execute(update(Build).where(Build.build_id == build_id).values(status="failed"))
        _delete_build_rows(session, build_id)
        session.commit()


def store_period(
    engine: Engine,
    build_id: int,
    period: dt.date,
    shown: pd.DataFrame,
    index: pd.DataFrame,
    counts: dict[str, int],
) -> None:
    """Write a period's shown indicator values and health index; add to ``counts``."""
    counts["indicator_values"] += _store_indicators(engine, build_id, period, shown)
    counts["health_index"] += _store_index(engine, build_id, period, index)


def current_build_id(engine: Engine) -> int | None:
    """The build readers see, or None before the first build."""
    with Session(engine) as session:
        return session.scalar(select(current_build_id_of_store()))


# ----------------------------------------------------------------------------------------
def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _insert(engine: Engine, table: str, frame: pd.DataFrame, **constants: Any) -> int:
    if frame.empty:
        return 0
    # Dates as Timestamps: the loader converts datetime-like columns, not Python objects.
    constants = {k: pd.Timestamp(v) if isinstance(v, dt.date) else v for k, v in constants.items()}
    frame = frame.assign(**constants)
    with engine.begin() as conn:
        return insert(conn, table, frame)


def _store_indicators(engine: Engine, build_id: int, period: dt.date, shown: pd.DataFrame) -> int:
    cols = [
        "level",
        "unit_id",
        "indicator",
        "numerator",
        "denominator",
        "value",
        "suppressed",
        "suppression_reason",
    ]
    return _insert(engine, "indicator_values", shown[cols], build_id=build_id, period=period)


def _store_index(engine: Engine, build_id: int, period: dt.date, index: pd.DataFrame) -> int:
    if index.empty:
        return 0
    detail = [c for c in index.columns if c not in ("level", "unit_id", "as_of", "health_index")]
    frame = pd.DataFrame(
        {
            "grid_id": index["unit_id"].astype(str),
            "value": pd.to_numeric(index["health_index"], errors="coerce"),
            "components": [
                _jsonable(dict(zip(detail, row, strict=True)))
                for row in index[detail].itertuples(index=False)
            ],
        }
    )
    return _insert(engine, "health_index", frame, build_id=build_id, period=period)


def store_burden(engine: Engine, build_id: int, burden: pd.DataFrame) -> int:
    """Write the disease burden rows of a build; the number written."""
    if "suppressed" not in burden:
        burden = burden.assign(suppressed=False)
    cols = [c.name for c in BurdenRow.__table__.columns if c.name in burden.columns]
    return _insert(engine, "burden", burden[cols], build_id=build_id)


def store_hotspots(engine: Engine, build_id: int, hot: pd.DataFrame) -> int:
    """Write the hotspot rows of a build; the number written."""
    hot = hot.rename(columns={"class": "hotspot_class"})
    cols = [c.name for c in HotspotResult.__table__.columns if c.name in hot.columns]
    return _insert(engine, "hotspot_results", hot[cols], build_id=build_id)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


#: A build still ``building`` this long after it started is taken for dead when its owner
#: process cannot be checked (another host, or a build from before owners were recorded).
STALE_BUILD = dt.timedelta(hours=6)


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def drop_superseded_builds(engine: Engine, keep: set[int | None]) -> list[int]:
    """Delete the rows of the ``superseded`` builds not in ``keep``; mark them ``dropped``.

    A build still ``building`` whose owner process is gone (on this host), or after
    :data:`STALE_BUILD` when that cannot be told, was killed (a failing build deletes its
    own rows): its rows go too.

    The indicator rows go first (:func:`store.partitions.drop_build_indicators`:
    a partition dropped on PostgreSQL, a key range per period deleted on SQLite), then the
    rest of the build in one transaction.

    Parameters
    ----------
    engine : Engine
        The store.
    keep : set of int
        Builds to leave alone (the current one, the one being built).

    Returns
    -------
    list of int
        The builds dropped.
    """
    stale = _now() - STALE_BUILD
    with Session(engine) as session:
        rows = session.execute(
            select(Build.build_id, Build.status, Build.started_at, Build.summary).where(
                Build.status.in_(("superseded", "building"))
            )
        ).all()
    old = [
        b
        for b, status, started, summary in rows
        if b not in keep and (status == "superseded" or _killed(started, summary, stale))
    ]
    for build_id in old:
        drop_build_indicators(engine, build_id)
        with Session(engine) as session, session.begin():
            _delete_build_rows(session, build_id)
            session.execute(
                update(Build).where(Build.build_id == build_id).values(status="dropped")
            )
    return old


def _killed(started: dt.datetime, summary: Any, stale: dt.datetime) -> bool:
    """Whether a ``building`` build was killed mid-way."""
    alive = owner_alive(summary.get("owner") if isinstance(summary, dict) else None)
    return _aware(started) < stale if alive is None else not alive


def _delete_build_rows(session: Session, build_id: int) -> None:
    """A build's rows but its indicator values (``drop_build_indicators`` removes those)."""
    for table in (HealthIndex, BurdenRow, HotspotResult):
        session.execute(delete(table).where(table.build_id == build_id))
    delete_surveillance_rows(session, build_id)


def make_current(engine: Engine, build_id: int, summary: dict[str, Any]) -> None:
    """Point readers at ``build_id`` in one transaction; the build it replaces is kept."""
    with Session(engine) as session, session.begin():
        previous = session.scalar(select(current_build_id_of_store()))
        if previous is None:
            session.execute(
                sql_insert(BuildCurrent).values(name=CURRENT_BUILD_NAME, build_id=build_id)
            )
        else:
            session.execute(
                update(BuildCurrent)
                .where(BuildCurrent.name == CURRENT_BUILD_NAME)
                .values(build_id=build_id)
            )
        session.execute(
            update(Build)
            .where(Build.build_id == build_id)
            .values(status="ready", finished_at=_now(), summary=summary)
        )
        # The build replaced keeps its rows until the next build drops them.
        session.execute(
            update(Build)
            .where(Build.build_id != build_id, Build.status == "ready")
            .values(status="superseded")
        )
    # One-unit look-ups (the side panel) must use the unit key, not scan a whole build.
    analyze(engine, ("indicator_values", "hotspot_results", "health_index"))
