"""Data in: the sample county, ingesting a delivery, its quarantine, the schema, the build."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from healthmap.cli.common import (
    AsOfOption,
    DbOption,
    EngineOption,
    FormatOption,
    SchedulerOption,
    parse_date,
    progress,
    use_db,
)
from healthmap.cli.output import console, emit_frame, out

quarantine_app = typer.Typer(help="Rows that could not be loaded.", no_args_is_help=True)
db_app = typer.Typer(help="The store's schema.", no_args_is_help=True)


def sample(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the delivery to.")],
    scale: Annotated[
        float,
        typer.Option(help="1.0 = the county's full size (Shouguang ~1M people, Changle ~0.6M)."),
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files.")] = 0,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Last day the data covers (default today).")
    ] = None,
    dirty: Annotated[
        bool, typer.Option("--dirty", help="Also inject bad rows and files, with a manifest.")
    ] = False,
    county: Annotated[
        str,
        typer.Option(
            "--county", help="Six-digit code of the county: 370783 寿光市, 370725 昌乐县."
        ),
    ] = "370783",
) -> None:
    """Write a synthetic county (Shouguang by default) in the data-contract format."""
    from pipelines.sample.county import generate_county
    from pipelines.sample.profiles import COUNTY_PROFILES

    if county not in COUNTY_PROFILES:
        known = ", ".join(f"{code} ({p.name})" for code, p in COUNTY_PROFILES.items())
        raise typer.BadParameter(
            f"no sample county {county!r}; known: {known}", param_hint="--county"
        )

    with progress() as bar:
        task = bar.add_task("sample", total=None)

        def tick(step: str, done: int, total: int) -> None:
            bar.update(task, description=f"sample: {step}", completed=done, total=total)

        manifest = generate_county(
            out_dir,
            scale=scale,
            seed=seed,
            as_of=parse_date(as_of),
            dirty=dirty,
            progress=tick,
            county=county,
        )
    counts = manifest.get("counts", {})
    console.print(f"wrote {sum(counts.values()):,} rows in {len(counts)} tables to {out_dir}")


def ingest(
    folder: Annotated[Path, typer.Argument(help="A delivery folder (one file per table).")],
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    engine_name: EngineOption = "local",
    scheduler: SchedulerOption = "local",
    workers: Annotated[
        int, typer.Option("--workers", help="With --engine dask: the LocalCluster's workers.")
    ] = 2,
) -> None:
    """Load a county delivery into the store (validate, geocode, index onto cells, upsert).

    ``--engine dask`` checks each file's rows on a Dask cluster while this process loads
    (the same checks; foreign and duplicate keys stay here, in file order).
    """
    from contextlib import nullcontext

    from pipelines.ingest.delivery import ingest_delivery

    state = use_db(db)
    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder")
    if engine_name not in ("local", "dask"):
        raise typer.BadParameter(f"--engine {engine_name!r}: use local or dask")
    if engine_name == "local" and scheduler != "local":
        raise typer.BadParameter("--scheduler needs --engine dask")
    engine = state.engine()
    cluster: Any = nullcontext(None)
    if engine_name == "dask":
        from pipelines.build_dask import dask_client

        cluster = dask_client(scheduler, workers)
    with progress() as bar, cluster as client:
        tasks: dict[str, Any] = {}

        def tick(table: str, file: str, done: int, total: int | None) -> None:
            if file not in tasks:
                tasks[file] = bar.add_task(f"{table}: {file}", total=total or None)
            bar.update(tasks[file], completed=done, total=total or None)

        summary = ingest_delivery(
            folder, engine, state.settings.ingest, state.settings.rules, tick, client
        )
    if as_json:
        out.print_json(summary.model_dump_json())
        return
    table = Table(title=f"ingest {folder}")
    for col in ("table", "files", "read", "loaded", "updated", "quarantined", "rejected"):
        table.add_column(col, justify="right" if col != "table" else "left")
    for name, t in summary.tables.items():
        table.add_row(
            name,
            str(t.files),
            f"{t.read:,}",
            f"{t.loaded:,}",
            f"{t.updated:,}",
            f"{t.quarantined:,}",
            str(len(t.rejected_files)),
        )
    out.print(table)
    for name, t in summary.tables.items():
        for rejected in t.rejected_files:
            console.print(f"[red]rejected[/red] {name}: {rejected}")


@quarantine_app.command("list")
def quarantine_list(
    table: Annotated[str | None, typer.Option("--table", help="Only this table.")] = None,
    fmt: FormatOption = "csv",
    db: DbOption = None,
) -> None:
    """List quarantined rows with file, row, column, value and reason code."""
    from pipelines.ingest.delivery import list_quarantine

    state = use_db(db)
    emit_frame(list_quarantine(state.engine(), table=table), fmt, title="quarantine")


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create or upgrade the store's schema (Alembic migrations)."""
    state = use_db(db)
    state.engine()
    console.print(f"store at head: {state.settings.database_url}")


@db_app.command("bump-version")
def db_bump_version(db: DbOption = None) -> None:
    """Tell running services the store changed (after a manual SQL edit of the data).

    Moves the ``store_version`` counter on, so every worker recomputes its cached push
    lists at the next request. Ingests, builds and the API's writes do this themselves.
    """
    from store.version import bump_store_version, store_version

    engine = use_db(db).engine()
    bump_store_version(engine)
    console.print(f"store version now {store_version(engine)[0]}")


def build_counties(
    state: Any,
    spec: str,
    when: Any,
    force: bool,
    scheduler: str,
    workers: int,
    parquet: Path | None,
) -> None:
    """``build --engine dask --counties``: build and publish registered counties on one
    cluster (``pipelines.build_dask.run_counties_dask``), one line per county."""
    from geo.errors import HealthmapError
    from pipelines.build import build_periods
    from pipelines.build_dask import run_counties_dask
    from service.shaping import check_build_date
    from store.counties import county_code12, open_partition
    from store.province import counties as registered_counties

    if state.settings.county is not None:
        raise typer.BadParameter(
            "--counties builds each county in its own partition: leave out the global"
            " --county (and HEALTHMAP_COUNTY)",
            param_hint="--counties",
        )
    url = state.settings.database_url
    registry = registered_counties(state.root_engine())
    names = dict(zip(registry["county_code"], registry["name"], strict=True))
    hint = "register counties with `healthmap counties add CODE --name NAME`"
    if spec.strip().lower() == "all":
        codes = list(names)
        if not codes:
            raise typer.BadParameter(f"no county is registered; {hint}", param_hint="--counties")
    else:
        try:
            codes = list(dict.fromkeys(county_code12(c) for c in spec.split(",") if c.strip()))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--counties") from None
        if not codes:
            raise typer.BadParameter("name 'all' or county codes", param_hint="--counties")
        unknown = [c[:6] for c in codes if c not in names]
        if unknown:
            known = ", ".join(c[:6] for c in names) or "none"
            raise typer.BadParameter(
                f"not registered: {', '.join(unknown)} (registered: {known}); {hint}",
                param_hint="--counties",
            )
    for code in codes:  # every county's D is checked before any is built
        part = open_partition(url, code)
        try:
            check_build_date(part, when, force=force)
        except HealthmapError as exc:
            console.print(f"[red]county {code[:6]}: {exc.detail}[/red]")
            raise typer.Exit(1) from None
        finally:
            part.dispose()
    with progress() as bar:
        task = bar.add_task("build", total=len(codes) * (len(build_periods(when)) + 3))

        def tick(step: str, done: int, total: int) -> None:
            bar.update(task, description=f"build: {step}", completed=done, total=total)

        summaries = run_counties_dask(
            url,
            codes,
            when,
            state.settings.rules,
            scheduler=scheduler,
            workers=workers,
            parquet=parquet,
            progress=tick,
        )
    for code6, summary in summaries.items():
        rows = ", ".join(f"{n:,} {t}" for t, n in summary["rows"].items())
        published = summary["published"]
        console.print(
            f"county {code6} {names.get(summary['county_code'], '')}: build"
            f" {summary['build_id']} for {when} is current ({summary['seconds']} s,"
            f" {summary['partitions']} partitions), published {published['rows']:,}"
            f" aggregate rows: {rows}",
            soft_wrap=True,  # one line per county, whatever the terminal's width
        )


def build(
    as_of: AsOfOption = None,
    db: DbOption = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Build even for a D more than 31 days before the current build's."
        ),
    ] = False,
    engine_name: EngineOption = "local",
    scheduler: SchedulerOption = "local",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Processes (local engine; default the cores, at most 4) or the LocalCluster's "
            "workers (dask; default 2).",
        ),
    ] = None,
    parquet: Annotated[
        Path | None,
        typer.Option(
            "--parquet",
            help="With --engine dask: also write indicator values (by period/level) and "
            "hotspots (by level) as Parquet datasets under this folder.",
        ),
    ] = None,
    counties: Annotated[
        str | None,
        typer.Option(
            "--counties",
            help="With --engine dask: build and publish these registered counties on one "
            "cluster, one after the other: 'all' or codes (370783,370725).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Compute indicators, grid health index, disease burden and hotspots; swap atomically.

    The new build becomes current at once, for every reader: a D more than 31 days before
    the current build's is refused without ``--force``. ``--engine dask`` computes the same
    rows on a Dask cluster (``pipelines.build_dask``, docs/scale.md); with ``--counties``
    it builds each listed county in its partition and publishes it for the province.
    """
    from geo.errors import HealthmapError
    from pipelines.build import build_periods, run_build
    from service.shaping import check_build_date

    if engine_name not in ("local", "dask"):
        raise typer.BadParameter(f"--engine {engine_name!r}: use local or dask")
    if engine_name == "local" and (scheduler != "local" or parquet is not None):
        raise typer.BadParameter("--scheduler and --parquet need --engine dask")
    if counties is not None and engine_name != "dask":
        raise typer.BadParameter("--counties needs --engine dask", param_hint="--counties")
    state = use_db(db)
    when = parse_date(as_of)
    if counties is not None:
        build_counties(state, counties, when, force, scheduler, workers or 2, parquet)
        return
    engine = state.engine()
    try:
        check_build_date(engine, when, force=force)
    except HealthmapError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    with progress() as bar:
        task = bar.add_task("build", total=len(build_periods(when)) + 2)

        def tick(step: str, done: int, total: int) -> None:
            bar.update(task, description=f"build: {step}", completed=done, total=total)

        if engine_name == "dask":
            from pipelines.build_dask import run_build_dask

            summary = run_build_dask(
                engine,
                when,
                state.settings.rules,
                scheduler=scheduler,
                workers=workers or 2,
                parquet=parquet,
                progress=tick,
            )
        else:
            summary = run_build(engine, when, state.settings.rules, workers=workers, progress=tick)
    rows = ", ".join(f"{n:,} {t}" for t, n in summary["rows"].items())
    console.print(
        f"build {summary['build_id']} for {when} is current ({summary['seconds']} s): {rows}"
    )
    publish(state)


def publish(state: Any) -> None:
    """Publish the county's current build for the province (docs/province.md)."""
    from pipelines.province import publish_county

    try:
        done = publish_county(state.engine(), state.root_engine())
    except LookupError as exc:
        console.print(f"[yellow]not published for the province: {exc}[/yellow]")
        return
    console.print(
        f"published county {done['county_code']} build {done['build_id']}:"
        f" {done['rows']:,} aggregate rows, {done['shapes']} outlines"
    )
