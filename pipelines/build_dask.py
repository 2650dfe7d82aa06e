"""``healthmap build --engine dask``: the build's jobs on a ``dask.distributed`` cluster.

The same build as :func:`pipelines.build.run_build` (same periods, same tables, same rows),
computed by the workers of a :class:`distributed.Client` instead of a process pool:

* the store is read once here and its frames are scattered once to every worker
  (``client.scatter(..., broadcast=True)``), not re-read per worker;
* the residents are split by a coarse H3 parent (:data:`PARTITION_RESOLUTION`, res 5:
  ~250 km², a handful per county) and each partition gets its residents' claims,
  registry rows, follow-ups and vaccinations; the claims are reduced
  (:func:`geo.indicators.prepare_claims`) once per partition, on its worker;
* per period, :func:`geo.indicators.compute_indicators` runs on every partition, and once
  on the whole county without claims, follow-ups or vaccinations (cheap) for what is not
  per resident: the population (a village's population is spread over its cells by its
  active residents, who may sit in two partitions), the facilities' doctors and beds, and
  the expected patients computed from the population. Every other quantity is a sum over
  residents, hence a sum over partitions (:func:`merge_period_values`); rates are then
  recomputed by the function that makes them in ``geo`` (``_long``);
* suppression, the health index, the disease burden, the hotspots and the early warning
  run on the whole county's frames, as in the local path: Gi*/LISA statistics weigh each
  unit's neighbours, which may lie in another partition, so hotspots are NOT
  partition-safe; the burden and the early warning are single whole-county jobs.

No rule is implemented twice: every computation is a ``geo`` function, called through the
same helpers as :mod:`pipelines.build` (``period_tasks``, ``period_values``,
``finish_period``, ``compute_hotspots``); results are written by its ``store_*`` helpers,
and the build row's life (``building`` → ``ready``/``failed``, the atomic swap) is its.

Many counties share one cluster (:func:`run_counties_dask`): the build is partitioned by
county first — each county's build reads and writes its own partition of the store
(:mod:`store.counties`) and is published for the province when it is current — and by the
coarse H3 parent inside the county, as above.

Ingestion's validation is not on Dask yet (issue 16, ``docs/scale.md``).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h3
import numpy as np
import pandas as pd
from sqlalchemy import Engine

from geo.burden import disease_burden
from geo.followup import task_relevant_claims
from geo.indicators import INDICATOR_BY_NAME, OUTPUT_COLUMNS, prepare_claims
from geo.indicators import _long as indicator_rows
from geo.rules import RulesConfig
from pipelines.build import (
    SURVEILLANCE,
    Progress,
    build_periods,
    compute_hotspots,
    current_build_id,
    drop_superseded_builds,
    fail_build,
    finish_period,
    key_order,
    make_current,
    open_build,
    period_tasks,
    period_values,
    store_burden,
    store_hotspots,
    store_period,
)
from pipelines.province import county_of_store, publish_county
from pipelines.surveillance import compute_surveillance, store_surveillance
from store.counties import county_code12, open_partition
from store.engine import make_engine
from store.frames import read_frames
from store.shapes import grid_shapes as grid_shapes_of
from store.shapes import unit_geometries

if TYPE_CHECKING:
    from distributed import Client

#: H3 resolution of the partitions inside a county (res 5 cells are ~250 km²).
PARTITION_RESOLUTION = 5

#: Quantities that are not sums over residents: the whole-county pass computes them.
GEOGRAPHY_QUANTITIES = frozenset(
    {"pop_total", "pop_adults", "htn_expected", "t2dm_expected", "doctors", "beds"}
)

#: Tables split by resident into the partitions (the others go whole to every worker).
PER_RESIDENT_TABLES: tuple[str, ...] = (
    "chronic_registry",
    "followups",
    "vaccinations",
    "claims",
)

_QUANTITY_COLUMNS = ("numerator", "denominator", "numerator_people", "denominator_people")
_KEYS = ["level", "unit_id", "indicator"]

#: A partition for residents without any H3 cell (not geocoded).
UNLOCATED = "unlocated"


# ----------------------------------------------------------------------------------------
# Partitions
# ----------------------------------------------------------------------------------------
def resident_partitions(
    residents: pd.DataFrame, resolution: int = PARTITION_RESOLUTION
) -> pd.Series:
    """Each resident's partition: the H3 parent at ``resolution`` of its household's cell.

    The coarsest stored cell (``h3_7``, else ``h3_8``, ``h3_9``) is lifted to its parent;
    a resident without a cell goes to :data:`UNLOCATED`.

    Parameters
    ----------
    residents : DataFrame
        Canonical residents (``resident_id`` and the ``h3_*`` columns).
    resolution : int
        H3 resolution of the parents (at most 7).

    Returns
    -------
    Series
        Partition key (str) by ``resident_id``.
    """
    if not 0 <= resolution <= 7:
        raise ValueError(f"partition resolution {resolution} is not in 0..7; use 5 or 6")
    cell = pd.Series(pd.NA, index=residents.index, dtype="object")
    for col in ("h3_9", "h3_8", "h3_7"):  # the coarsest one wins
        if col in residents:
            have = residents[col].notna() & (residents[col].astype("string") != "")
            cell = cell.where(~have.to_numpy(), residents[col].astype(object))
    parents = {c: h3.cell_to_parent(str(c), resolution) for c in pd.unique(cell.dropna())}
    key = cell.map(parents, na_action="ignore").fillna(UNLOCATED).astype(str)
    return pd.Series(key.to_numpy(), index=residents["resident_id"].astype(str).to_numpy())


def partition_frames(
    frames: dict[str, Any], part_of: pd.Series, key: str, rules: RulesConfig
) -> dict[str, Any]:
    """The frames of one partition, its claims reduced for the indicators.

    Residents of partition ``key`` and the rows of :data:`PER_RESIDENT_TABLES` that name
    them; the areas and grids whole (units are listed from them in every partition, with
    zero counts where the partition has no resident). A worker runs this once per
    partition; its result stays on that worker for all periods.
    """
    members = set(part_of.index[(part_of == key).to_numpy()])
    residents = frames["residents"]
    own = residents[residents["resident_id"].astype(str).isin(members).to_numpy()]
    out: dict[str, Any] = {
        "residents": own.reset_index(drop=True),
        "grids": frames["grids"],
        "areas": frames["areas"],
    }
    for name in PER_RESIDENT_TABLES:
        table = frames.get(name)
        if table is None:
            out[name] = None
            continue
        mask = table["resident_id"].astype(str).isin(members).to_numpy()
        out[name] = table[mask].reset_index(drop=True)
    out["indicator_claims"] = prepare_claims(out.pop("claims"), own, frames["facilities"])
    return out


def partition_values(
    period: dt.date, part: dict[str, Any], tasks: pd.DataFrame, rules: RulesConfig
) -> pd.DataFrame:
    """A partition's per-resident numerators and denominators of ``period``.

    The population, facilities and staff are left out: their quantities are not sums over
    residents (:data:`GEOGRAPHY_QUANTITIES`) and come from the whole-county pass.
    """
    ids = set(part["residents"]["resident_id"].astype(str))
    own_tasks = tasks[tasks["resident_id"].astype(str).isin(ids).to_numpy()]
    values = period_values(
        period,
        part,
        rules,
        own_tasks,
        facilities=None,
        staff=None,
        population=None,
    )
    return values[[*_KEYS, *_QUANTITY_COLUMNS]]


def county_values(
    period: dt.date, frames: dict[str, Any], tasks: pd.DataFrame, rules: RulesConfig
) -> pd.DataFrame:
    """The whole-county pass of ``period``: every unit and the non-resident quantities.

    Claims, follow-ups and vaccinations are left out (their sums come from the
    partitions); the registry stays so that the managing teams' units are listed as the
    local build lists them.
    """
    return period_values(
        period, frames, rules, tasks, claims=None, followups=None, vaccinations=None
    )


def merge_period_values(county: pd.DataFrame, parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """``compute_indicators``' rows of the whole county from its partitions' rows.

    Each indicator's numerator, denominator and people counts are the partitions' sum
    when the quantity is a sum over residents, else the whole-county pass's
    (:data:`GEOGRAPHY_QUANTITIES`); the value is then made by ``geo.indicators._long``,
    the function that makes it in :func:`geo.indicators.compute_indicators`.

    Parameters
    ----------
    county : DataFrame
        :func:`county_values` (its rows give the units and their order).
    parts : sequence of DataFrame
        :func:`partition_values` of each partition.

    Returns
    -------
    DataFrame
        Columns :data:`geo.indicators.OUTPUT_COLUMNS`, rows in ``county``'s order.
    """
    index = pd.MultiIndex.from_frame(county[_KEYS])
    if parts:
        summed = pd.concat(parts, ignore_index=True).groupby(_KEYS, sort=False).sum()
    else:
        summed = pd.DataFrame(columns=list(_QUANTITY_COLUMNS), index=index[:0])
    stray = summed.index.difference(index)
    if len(stray):
        raise ValueError(
            f"partition units not in the whole county's pass: {list(stray[:5])}; "
            "the partitions must be given the same areas, grids and registry"
        )
    summed = summed.reindex(index).fillna(0.0)
    merged = county.reset_index(drop=True).copy()
    defs = {name: INDICATOR_BY_NAME[name] for name in pd.unique(county["indicator"])}
    for col in _QUANTITY_COLUMNS:
        quantity = merged["indicator"].map({n: getattr(d, col) for n, d in defs.items()})
        from_parts = (quantity.notna() & ~quantity.isin(GEOGRAPHY_QUANTITIES)).to_numpy()
        values = merged[col].to_numpy(dtype=float, na_value=np.nan).copy()
        values[from_parts] = summed[col].to_numpy(dtype=float)[from_parts]
        merged[col] = values
    pieces = []
    for level, rows in merged.groupby("level", sort=False):
        units = np.asarray(pd.unique(rows["unit_id"]), dtype=object)
        names = list(rows["indicator"].iloc[: len(rows) // max(len(units), 1)])
        m, k = len(units), len(names)
        if m * k != len(rows) or list(rows["indicator"]) != names * m:
            raise ValueError(f"level {level}: rows are not unit-major in one indicator order")
        q: dict[str, np.ndarray] = {}
        for j, name in enumerate(names):
            d = defs[name]
            for col in _QUANTITY_COLUMNS:
                quantity = getattr(d, col)
                if quantity is not None:
                    q[quantity] = rows[col].to_numpy(dtype=float).reshape(m, k)[:, j]
        pieces.append(indicator_rows(str(level), units, q, [defs[n] for n in names]))
    out = pd.concat(pieces, ignore_index=True)
    out["as_of"] = county["as_of"].to_numpy()
    return out[list(OUTPUT_COLUMNS)]


def finish_job(period: dt.date, values: pd.DataFrame, as_of: dt.date, rules: RulesConfig) -> Any:
    """A period's (raw values at D only, shown values in key order, health index)."""
    shown, index = finish_period(values, rules)
    return (values if period == as_of else None), key_order(shown), index


# ----------------------------------------------------------------------------------------
# The cluster
# ----------------------------------------------------------------------------------------
@contextmanager
def dask_client(scheduler: str, workers: int = 2, processes: bool = True) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, or of a new ``LocalCluster`` ("local").

    Parameters
    ----------
    scheduler : str
        ``local``, or a scheduler address (``tcp://host:8786``) whose workers can import
        healthmap (same version) — the store is read and written by this process only.
    workers : int
        Workers of the local cluster (one thread each).
    processes : bool
        Workers in processes (True) or threads of this process (False).
    """
    from distributed import Client, LocalCluster

    if scheduler == "local":
        if workers < 1:
            raise ValueError(f"{workers} Dask workers: use --workers 1 or more")
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
    else:
        with Client(scheduler) as client:
            yield client


def run_build_dask(
    engine: Engine,
    as_of: dt.date,
    rules: RulesConfig,
    *,
    months: int = 12,
    scheduler: str = "local",
    workers: int = 2,
    processes: bool = True,
    resolution: int = PARTITION_RESOLUTION,
    parquet: Path | None = None,
    progress: Progress | None = None,
    client: Client | None = None,
) -> dict[str, Any]:
    """Compute and store a full build for ``as_of`` on Dask; return its summary.

    Parameters
    ----------
    engine : Engine
        The store (schema at head).
    as_of : date
        D, the as-of date of the build.
    rules : RulesConfig
        Domain thresholds.
    months : int
        Month-ends before D built too (default 12).
    scheduler : str
        ``local`` (a ``LocalCluster`` of ``workers`` workers) or a scheduler address;
        with ``client``, only reported in the summary.
    workers : int
        Workers of the local cluster.
    processes : bool
        Local workers in processes (True) or threads (False).
    resolution : int
        H3 resolution of the partitions (:data:`PARTITION_RESOLUTION`).
    parquet : Path, optional
        Also write the shown indicator values (partitioned by period and level) and the
        hotspots (by level) as GeoParquet datasets under this folder, each row with its
        unit's outline (:func:`_write_parquet`).
    progress : callable, optional
        ``progress(step, done, total)``.
    client : distributed.Client, optional
        A client to compute on, left open; without it a client of ``scheduler`` is made
        (:func:`dask_client`) and closed at the end.

    Returns
    -------
    dict
        The summary :func:`pipelines.build.run_build` returns, plus ``engine``,
        ``partitions`` and ``workers``.
    """
    tick = progress or (lambda *_: None)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    build_id = open_build(engine, as_of)
    shapes = UnitShapes(engine)  # the GeoParquet's outlines, each level read once
    periods = build_periods(as_of, months)
    steps = len(periods) + 3
    counts = {"indicator_values": 0, "health_index": 0, "burden": 0, "hotspot_results": 0}
    try:
        t0 = time.perf_counter()
        drop_superseded_builds(engine, {build_id, current_build_id(engine)})
        timings["drop superseded"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        frames = read_frames(engine)
        grid_shapes = grid_shapes_of(engine)
        part_of = resident_partitions(frames["residents"], resolution)
        keys = sorted(pd.unique(part_of))
        timings["read"] = time.perf_counter() - t0
        cluster: AbstractContextManager[Client] = (
            dask_client(scheduler, workers, processes) if client is None else nullcontext(client)
        )
        with cluster as client:
            t0 = time.perf_counter()
            shared = client.scatter(frames, broadcast=True)
            part_f = client.scatter(part_of, broadcast=True)
            timings["scatter"] = time.perf_counter() - t0
            n_workers = len(client.scheduler_info().get("workers", {}))
            task_claims = client.submit(task_relevant_claims, shared["claims"], rules)
            task_frames = {**shared, "task_claims": task_claims}
            county_frames = {k: v for k, v in shared.items() if k != "claims"}
            parts = [client.submit(partition_frames, shared, part_f, key, rules) for key in keys]
            jobs: dict[Any, str | dt.date] = {
                client.submit(compute_surveillance, as_of, shared, rules): SURVEILLANCE,
                client.submit(
                    disease_burden,
                    as_of,
                    claims=shared["claims"],
                    residents=shared["residents"],
                    population=shared.get("population"),
                    config=rules,
                ): "burden",
            }
            for period in periods:
                tasks = client.submit(period_tasks, period, task_frames, rules)
                county = client.submit(county_values, period, county_frames, tasks, rules)
                values = client.submit(
                    merge_period_values,
                    county,
                    [client.submit(partition_values, period, p, tasks, rules) for p in parts],
                )
                jobs[client.submit(finish_job, period, values, as_of, rules)] = period
                if period == as_of:
                    values_at_d = values

            def hotspots_job() -> Any:
                # Gi* weighs each unit's neighbours, across any partition's border: the
                # hotspots are computed on the whole county's values at D.
                return client.submit(
                    compute_hotspots, as_of, values_at_d, shared["residents"], grid_shapes, rules
                )

            # esda's permutations reseed NumPy's global RNG (geo.hotspots.gi_star): where
            # worker threads share a process, another task's draws would change the
            # p-values, so the hotspots then start alone, once every other job is done.
            alone = _threads_share_a_process(client)
            if not alone:
                jobs[hotspots_job()] = "hotspots"
            from distributed import as_completed

            pending = as_completed(list(jobs))
            for i, future in enumerate(pending):
                job = jobs.pop(future)
                result = future.result()
                if alone and not jobs:
                    alone = False
                    hot = hotspots_job()
                    jobs[hot] = "hotspots"
                    pending.add(hot)
                tick(f"computed {job}", i + 1, steps)
                t0 = time.perf_counter()
                if job == SURVEILLANCE:
                    counts.update(store_surveillance(engine, build_id, result))
                elif job == "burden":
                    counts["burden"] = store_burden(engine, build_id, result)
                elif job == "hotspots":
                    counts["hotspot_results"] = store_hotspots(engine, build_id, result)
                    if parquet is not None:
                        _write_parquet(result, parquet / "hotspot_results", ["level"], shapes)
                else:
                    assert isinstance(job, dt.date)
                    _, shown, index = result
                    store_period(engine, build_id, job, shown, index, counts)
                    if parquet is not None:
                        _write_parquet(
                            shown.assign(period=job.isoformat()),
                            parquet / "indicator_values",
                            ["period", "level"],
                            shapes,
                        )
                timings[f"store {job}"] = time.perf_counter() - t0
                del future, result
        tick("done", steps, steps)
    except BaseException:
        fail_build(engine, build_id)
        raise
    summary = {
        "build_id": build_id,
        "as_of": as_of.isoformat(),
        "periods": [p.isoformat() for p in periods],
        "suppression_k": rules.indicators.suppression_k,
        "rows": counts,
        "seconds": round(time.perf_counter() - started, 2),
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "engine": "dask",
        "scheduler": scheduler,
        "workers": n_workers,
        "partitions": len(keys),
        "partition_resolution": resolution,
    }
    make_current(engine, build_id, summary)
    return summary


def run_counties_dask(
    root_url: str,
    codes: Sequence[str],
    as_of: dt.date,
    rules: RulesConfig,
    *,
    months: int = 12,
    scheduler: str = "local",
    workers: int = 2,
    processes: bool = True,
    resolution: int = PARTITION_RESOLUTION,
    parquet: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, dict[str, Any]]:
    """Build and publish each of ``codes``' counties on one Dask cluster.

    The build is partitioned by county first: each county's build reads and writes its
    own partition of the store (:func:`store.counties.open_partition`), then inside the
    county by the coarse H3 parent (:func:`run_build_dask`). When a county's build is
    current it is published into the root store (:func:`pipelines.province.publish_county`).

    Every partition is checked to hold its county (one ``areas`` row of level county with
    that code) before the cluster starts. A county whose build fails stops the run: its
    build is marked failed, the counties before it stay built and published, the ones
    after it are not built.

    Parameters
    ----------
    root_url : str
        The URL of the deployment's root store.
    codes : sequence of str
        The counties, by 6- or 12-digit code, built in this order (repeats dropped).
    as_of : date
        D, the as-of date of every county's build.
    rules : RulesConfig
        Domain thresholds.
    months : int
        Month-ends before D built too (default 12).
    scheduler : str
        ``local`` (one ``LocalCluster`` of ``workers`` workers for all counties) or a
        scheduler address.
    workers : int
        Workers of the local cluster.
    processes : bool
        Local workers in processes (True) or threads (False).
    resolution : int
        H3 resolution of the partitions inside each county.
    parquet : Path, optional
        Each county's Parquet datasets go under ``parquet/county=<6-digit code>/``.
    progress : callable, optional
        ``progress(step, done, total)``, counted over all the counties.

    Returns
    -------
    dict
        By 6-digit county code, in build order: :func:`run_build_dask`'s summary plus
        ``county_code`` (12 digits) and ``published`` (``publish_county``'s summary).

    Raises
    ------
    ValueError
        When ``codes`` is empty or names something that is not a county code.
    LookupError
        When a county's partition does not hold that county (not ingested).
    """
    tick = progress or (lambda *_: None)
    counties = list(dict.fromkeys(county_code12(code) for code in codes))
    if not counties:
        raise ValueError("no county to build: name at least one county code")
    for code in counties:
        part = open_partition(root_url, code)
        try:
            held, _ = county_of_store(part)
        except LookupError as exc:
            raise LookupError(f"county {code[:6]}: {exc}") from None
        finally:
            part.dispose()
        if held != code:
            raise LookupError(f"the partition of county {code[:6]} holds county {held}")
    root = make_engine(root_url)
    summaries: dict[str, dict[str, Any]] = {}
    try:
        # One cluster for every county, one county after the other: each county's build
        # already keeps the workers busy (its partitions × periods, then the whole-county
        # jobs); this process alone reads and writes the store, and its reads and writes
        # (pandas, the driver) hold the GIL, so counties in threads here would mostly wait
        # on each other; one county's frames at a time are held on the workers; and the
        # hotspots' "run alone" guard (esda reseeds NumPy's global RNG) covers the jobs of
        # one build only, which counties running at once on threaded workers would break.
        with dask_client(scheduler, workers, processes) as client:
            for i, code in enumerate(counties):
                code6 = code[:6]
                part = open_partition(root_url, code)
                try:
                    summary = run_build_dask(
                        part,
                        as_of,
                        rules,
                        months=months,
                        scheduler=scheduler,
                        workers=workers,
                        processes=processes,
                        resolution=resolution,
                        parquet=None if parquet is None else parquet / f"county={code6}",
                        progress=_county_progress(tick, code6, i, len(counties)),
                        client=client,
                    )
                    published = publish_county(part, root)
                finally:
                    part.dispose()
                summaries[code6] = {**summary, "county_code": code, "published": published}
    finally:
        root.dispose()
    return summaries


def _county_progress(tick: Progress, code6: str, index: int, count: int) -> Progress:
    """County ``index`` of ``count``'s progress as steps of the whole run's."""

    def county_tick(step: str, done: int, total: int) -> None:
        tick(f"county {code6}: {step}", index * total + done, count * total)

    return county_tick


def _threads_share_a_process(client: Client) -> bool:
    """Whether two tasks may run at once in one process (the cluster's or this one).

    Asked of the cluster itself, since a given client's cluster is not described by the
    ``scheduler``/``processes`` arguments: a worker with several threads, workers in this
    process (``LocalCluster(processes=False)``, ``inproc://`` addresses), or two workers
    in one process of a host.
    """
    info = client.scheduler_info().get("workers", {})
    if any(int(w.get("nthreads", 1)) > 1 for w in info.values()):
        return True
    if any(str(address).startswith("inproc://") for address in info):
        return True
    pids = client.run(os.getpid)
    where = [(info.get(address, {}).get("host"), pid) for address, pid in pids.items()]
    return len(set(where)) < len(where)


class UnitShapes:
    """Geometry of the units of a build's levels, looked up once per level.

    H3 cells are made from their ids (``h3``), the other levels read from the store
    (:func:`store.shapes.unit_geometries`: grids, villages, towns, the county).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._by_level: dict[str, dict[str, Any]] = {}

    def of(self, level: str, unit_ids: Sequence[str]) -> list[Any]:
        """The geometry of each of ``unit_ids`` of ``level`` (None where there is none)."""
        known = self._by_level.setdefault(level, {})
        if level.startswith("h3:"):
            missing = [u for u in set(unit_ids) if u not in known]
            known.update(unit_geometries(self.engine, level, missing))
        elif not known:
            known.update(unit_geometries(self.engine, level))
            known.setdefault("", None)  # the level was read, even when it has no shapes
        return [known.get(u) for u in unit_ids]


def _write_parquet(frame: pd.DataFrame, root: Path, by: list[str], shapes: UnitShapes) -> None:
    """Add ``frame`` to the GeoParquet dataset at ``root``, partitioned by ``by``.

    Hive-style folders (``level=h3%3A8/``, the partition values percent-encoded as pyarrow
    writes them), one GeoParquet file (``geo`` metadata, WGS84) per partition and call,
    with the unit's outline as its geometry. geopandas writes the files; pyarrow's
    ``write_to_dataset`` would partition but not write GeoParquet's metadata.
    """
    import uuid
    from urllib.parse import quote

    import geopandas as gpd

    frame = frame.reset_index(drop=True)
    for values, part in frame.groupby(by, sort=False):
        keys = values if isinstance(values, tuple) else (values,)
        folder = root.joinpath(
            *(f"{c}={quote(str(v), safe='')}" for c, v in zip(by, keys, strict=True))
        )
        folder.mkdir(parents=True, exist_ok=True)
        level = str(part["level"].iloc[0])
        geometry = shapes.of(level, part["unit_id"].astype(str).tolist())
        out = gpd.GeoDataFrame(part.drop(columns=by), geometry=geometry, crs="EPSG:4326")
        out.to_parquet(folder / f"part-{uuid.uuid4().hex}.parquet", index=False)
