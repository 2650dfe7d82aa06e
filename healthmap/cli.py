"""The ``healthmap`` command: one front door to the pipelines, the spatial core and the service.

Commands import their machinery lazily so that ``healthmap --help`` answers at once.
Settings come from the environment (``HEALTHMAP_*``) once, in the callback; ``--db``
overrides ``HEALTHMAP_DATABASE_URL``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from service.settings import Settings

app = typer.Typer(
    help="healthmap — geospatial health-map analytics for county health bureaus (智慧健康地图).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
quarantine_app = typer.Typer(help="Rows that could not be loaded.", no_args_is_help=True)
users_app = typer.Typer(help="Service accounts (admin).", no_args_is_help=True)
db_app = typer.Typer(help="The store's schema.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(users_app, name="users")
app.add_typer(db_app, name="db")

console = Console(stderr=True)
out = Console(soft_wrap=True)


class State:
    """What the callback resolved for the command that runs."""

    def __init__(self) -> None:
        self.db: str | None = None
        self._settings: Settings | None = None
        self._engine: Engine | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from service.settings import load_settings

            overrides: dict[str, Any] = {"database_url": self.db} if self.db else {}
            self._settings = load_settings(**overrides)
        return self._settings

    def engine(self, *, migrate: bool = True) -> Engine:
        """The store's engine, its schema brought up to date first."""
        if self._engine is None:
            from store.engine import make_engine
            from store.engine import migrate as run_migrations

            self._engine = make_engine(self.settings.database_url)
            if migrate:
                run_migrations(self._engine)
        return self._engine


state = State()

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Store URL (overrides HEALTHMAP_DATABASE_URL).", show_default=False),
]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="Output format.")]


@app.callback()
def main(db: DbOption = None) -> None:
    """Resolve settings once for the command that follows."""
    state.db = db


@contextmanager
def _session(db: str | None) -> Iterator[Any]:
    """A store session for an admin command: committed at the end; a domain error is
    printed as its message (no traceback) with exit code 1."""
    from sqlalchemy.orm import Session

    from service.errors import HealthmapError

    if db:
        state.db = db
    try:
        with Session(state.engine()) as session:
            yield session
            session.commit()
    except HealthmapError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None


def _today() -> dt.date:
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(state.settings.rules.timezone)).date()


def _parse_date(value: str | None) -> dt.date:
    if value in (None, "", "today"):
        return _today()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD or 'today'") from None


def _progress() -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )


def emit_frame(frame: Any, fmt: str, *, title: str | None = None) -> None:
    """Print a DataFrame as csv, json (records) or a rich table."""
    if fmt == "csv":
        sys.stdout.write(frame.to_csv(index=False))
    elif fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", force_ascii=False, date_format="iso"))
        sys.stdout.write("\n")
    elif fmt == "table":
        table = Table(title=title)
        for col in frame.columns:
            table.add_column(str(col))
        # pandas 3 keeps missing values as NaN floats through astype(str); rich needs text.
        text = frame.astype(object).where(frame.notna(), "").astype(str)
        for row in text.itertuples(index=False):
            table.add_row(*row)
        out.print(table)
    else:
        raise typer.BadParameter(f"unknown format {fmt!r}; use csv, json or table")


# ----------------------------------------------------------------------------------------
# sample / ingest / quarantine / db
# ----------------------------------------------------------------------------------------
@app.command()
def sample(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the delivery to.")],
    scale: Annotated[
        float, typer.Option(help="1.0 = a Shouguang-sized county (~1M people).")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files.")] = 0,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Last day the data covers (default today).")
    ] = None,
    dirty: Annotated[
        bool, typer.Option("--dirty", help="Also inject bad rows and files, with a manifest.")
    ] = False,
) -> None:
    """Write a synthetic Shouguang-like county in the data-contract format."""
    from pipelines.sample.county import generate_county

    with _progress() as progress:
        task = progress.add_task("sample", total=None)

        def tick(step: str, done: int, total: int) -> None:
            progress.update(task, description=f"sample: {step}", completed=done, total=total)

        manifest = generate_county(
            out_dir, scale=scale, seed=seed, as_of=_parse_date(as_of), dirty=dirty, progress=tick
        )
    counts = manifest.get("counts", {})
    console.print(f"wrote {sum(counts.values()):,} rows in {len(counts)} tables to {out_dir}")


@app.command()
def ingest(
    folder: Annotated[Path, typer.Argument(help="A delivery folder (one file per table).")],
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Load a county delivery into the store (validate, geocode, index onto cells, upsert)."""
    from pipelines.ingest.delivery import ingest_delivery

    if db:
        state.db = db
    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder")
    engine = state.engine()
    with _progress() as progress:
        tasks: dict[str, Any] = {}

        def tick(table: str, file: str, done: int, total: int | None) -> None:
            if file not in tasks:
                tasks[file] = progress.add_task(f"{table}: {file}", total=total or None)
            progress.update(tasks[file], completed=done, total=total or None)

        summary = ingest_delivery(
            folder, engine, state.settings.ingest, state.settings.rules, progress=tick
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

    if db:
        state.db = db
    emit_frame(list_quarantine(state.engine(), table=table), fmt, title="quarantine")


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create or upgrade the store's schema (Alembic migrations)."""
    if db:
        state.db = db
    state.engine()
    console.print(f"store at head: {state.settings.database_url}")


@db_app.command("bump-version")
def db_bump_version(db: DbOption = None) -> None:
    """Tell running services the store changed (after a manual SQL edit of the data).

    Moves the ``store_version`` counter on, so every worker recomputes its cached push
    lists at the next request. Ingests, builds and the API's writes do this themselves.
    """
    from store.version import bump_store_version, store_version

    if db:
        state.db = db
    engine = state.engine()
    bump_store_version(engine)
    console.print(f"store version now {store_version(engine)[0]}")


# ----------------------------------------------------------------------------------------
# build / indicators / hotspots / burden
# ----------------------------------------------------------------------------------------
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="As-of date D, YYYY-MM-DD (default today).")
]


@app.command()
def build(as_of: AsOfOption = None, db: DbOption = None) -> None:
    """Compute indicators, grid health index, disease burden and hotspots; swap atomically."""
    from pipelines.build import build_periods, run_build

    if db:
        state.db = db
    when = _parse_date(as_of)
    engine = state.engine()
    with _progress() as progress:
        task = progress.add_task("build", total=len(build_periods(when)) + 2)

        def tick(step: str, done: int, total: int) -> None:
            progress.update(task, description=f"build: {step}", completed=done, total=total)

        summary = run_build(engine, when, state.settings.rules, progress=tick)
    rows = ", ".join(f"{n:,} {t}" for t, n in summary["rows"].items())
    console.print(
        f"build {summary['build_id']} for {when} is current ({summary['seconds']} s): {rows}"
    )


def _query(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from store.queries import NoBuildError

    try:
        return fn(state.engine(), *args, **kwargs)
    except (NoBuildError, LookupError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


@app.command()
def indicators(
    level: Annotated[
        str, typer.Option(help="h3:7, h3:8, h3:9, grid, village, town, county or team.")
    ] = "town",
    as_of: AsOfOption = None,
    indicator: Annotated[str | None, typer.Option(help="Only this indicator.")] = None,
    fmt: FormatOption = "csv",
    db: DbOption = None,
) -> None:
    """Indicators of the current build at one level (suppressed values withheld, with why)."""
    from geo.indicators import LEVELS
    from store.queries import indicator_values

    if db:
        state.db = db
    if level not in LEVELS:
        raise typer.BadParameter(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    period = _parse_date(as_of) if as_of else None
    frame = _query(indicator_values, level, period=period, indicator=indicator)
    emit_frame(frame, fmt, title=f"indicators ({level})")


@app.command()
def hotspots(
    indicator: Annotated[
        str,
        typer.Option(
            help="htn_prevalence, t2dm_prevalence, htn_uncontrolled_share, t2dm_uncontrolled_share."
        ),
    ],
    level: Annotated[str, typer.Option(help="h3:8 or grid.")] = "h3:8",
    fmt: FormatOption = "csv",
    db: DbOption = None,
) -> None:
    """Hotspots (EB-smoothed Gi*, BH FDR) of the current build; geojson draws the units."""
    from geo.hotspots import HOTSPOT_INDICATORS
    from store.queries import hotspot_results

    if db:
        state.db = db
    if indicator not in HOTSPOT_INDICATORS:
        raise typer.BadParameter(
            f"unknown indicator {indicator!r}; use one of {', '.join(HOTSPOT_INDICATORS)}"
        )
    frame = _query(hotspot_results, indicator, level)
    if fmt == "geojson":
        from store.shapes import unit_features

        sys.stdout.write(
            json.dumps(unit_features(state.engine(), level, frame), ensure_ascii=False)
        )
        sys.stdout.write("\n")
        return
    emit_frame(frame, fmt, title=f"hotspots {indicator} ({level})")


@app.command()
def burden(
    town: Annotated[str | None, typer.Option(help="Town area code (default all towns).")] = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Disease burden per town: top ICD-10 blocks by visits, patients and cost (一院一专科)."""
    from store.queries import burden as burden_rows

    if db:
        state.db = db
    emit_frame(_query(burden_rows, town_code=town), fmt, title="disease burden")


@app.command()
def alerts(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Only alerts of this day (default all).")
    ] = None,
    fmt: FormatOption = "csv",
    db: DbOption = None,
) -> None:
    """Influenza-like illness alerts of the current build: EARS C1/C2/C3 and scan clusters."""
    from store.queries import surveillance_alerts

    if db:
        state.db = db
    frame = _query(surveillance_alerts, day=_parse_date(as_of) if as_of else None)
    emit_frame(frame, fmt, title="early-warning alerts")


@app.command("vaccination-targets")
def vaccination_targets(
    team: Annotated[str | None, typer.Option("--team", help="One team (default all).")] = None,
    fmt: FormatOption = "csv",
    db: DbOption = None,
) -> None:
    """Residents to vaccinate against influenza in cells at risk, per team and household."""
    from store.queries import vaccination_targets as targets

    if db:
        state.db = db
    emit_frame(_query(targets, team_id=team), fmt, title="vaccination targets")


# ----------------------------------------------------------------------------------------
# pushlist / route / model
# ----------------------------------------------------------------------------------------
pushlist_app = typer.Typer(
    help="The morning follow-up lists of the family-doctor teams.", invoke_without_command=True
)
model_app = typer.Typer(help="The follow-up risk model.", no_args_is_help=True)
app.add_typer(pushlist_app, name="pushlist")
app.add_typer(model_app, name="model")
DateOption = Annotated[
    str | None, typer.Option("--date", help="The day D, YYYY-MM-DD (default today).")
]


def _model_path() -> Path:
    return state.settings.data_dir / "risk_model.joblib"


@pushlist_app.callback()
def pushlist(
    ctx: typer.Context,
    date: DateOption = None,
    team: Annotated[str | None, typer.Option("--team", help="One team (default all).")] = None,
    fmt: FormatOption = "csv",
    unmasked: Annotated[
        bool, typer.Option("--unmasked", help="Full names and phones (the team's own view).")
    ] = False,
    db: DbOption = None,
) -> None:
    """Print the push list of a day (masked names and phones unless --unmasked)."""
    if ctx.invoked_subcommand is not None:
        return
    from pipelines.pushlist import UnknownTeamError, team_push_list

    if db:
        state.db = db
    when = _parse_date(date)
    engine = state.engine()
    if team is None:
        from sqlalchemy import select

        from store.models import Team

        with engine.connect() as conn:
            teams = list(conn.execute(select(Team.team_id).order_by(Team.team_id)).scalars())
    else:
        teams = [team]
    import pandas as pd

    parts = []
    for team_id in teams:
        try:
            parts.append(
                team_push_list(
                    engine,
                    team_id,
                    when,
                    state.settings.rules,
                    masked=not unmasked,
                    model_path=_model_path(),
                )
            )
        except UnknownTeamError:
            raise typer.BadParameter(f"unknown team {team_id!r}") from None
    emit_frame(pd.concat(parts, ignore_index=True), fmt, title=f"push list {when}")


@pushlist_app.command("generate")
def pushlist_generate(date: DateOption = None, db: DbOption = None) -> None:
    """Materialise every team's list for D (what the 06:00 scheduler runs)."""
    from pipelines.pushlist import generate_push_lists

    if db:
        state.db = db
    when = _parse_date(date)
    with _progress() as progress:
        task = progress.add_task("push lists", total=3)

        def tick(step: str, done: int, total: int) -> None:
            progress.update(task, description=f"push lists: {step}", completed=done, total=total)

        summary = generate_push_lists(
            state.engine(), when, state.settings.rules, model_path=_model_path(), progress=tick
        )
    out.print_json(json.dumps(summary, ensure_ascii=False))


@app.command()
def route(
    team: Annotated[str, typer.Option("--team", help="The family-doctor team.")],
    date: DateOption = None,
    mode: Annotated[str, typer.Option(help="drive, ebike or walk.")] = "drive",
    fmt: Annotated[str, typer.Option("--format", "-f", help="json or geojson.")] = "json",
    db: DbOption = None,
) -> None:
    """The day's visit route of a team (OR-Tools), from and back to its base facility."""
    from pipelines.pushlist import UnknownTeamError, team_route

    if db:
        state.db = db
    try:
        planned = team_route(
            state.engine(),
            team,
            _parse_date(date),
            state.settings.rules,
            mode=mode,
            model_path=_model_path(),
        )
    except UnknownTeamError:
        raise typer.BadParameter(f"unknown team {team!r}") from None
    if fmt == "geojson":
        sys.stdout.write(json.dumps(planned.to_geojson(), ensure_ascii=False) + "\n")
        return
    body = {
        "team_id": team,
        "stops": json.loads(planned.stops.to_json(orient="records", force_ascii=False)),
        "legs": json.loads(planned.legs.to_json(orient="records", force_ascii=False)),
        "total_distance_m": planned.total_distance_m,
        "total_seconds": planned.total_seconds,
        "deferred": list(planned.deferred),
        "skipped": list(planned.skipped),
    }
    sys.stdout.write(json.dumps(body, ensure_ascii=False, default=str) + "\n")


@model_app.command("train")
def model_train(as_of: AsOfOption = None, db: DbOption = None) -> None:
    """Train the risk model on the county's own history (temporal split) and save it."""
    from geo.risk_model import save_model, train_from_frames
    from store.frames import read_frames

    if db:
        state.db = db
    when = _parse_date(as_of)
    frames = read_frames(
        state.engine(),
        ["residents", "chronic_registry", "followups", "measurements", "claims"],
    )
    result = train_from_frames(frames, when, state.settings.rules)
    path = _model_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(result, path)
    out.print_json(json.dumps(result.metrics, default=str))
    console.print(f"saved {path}")


# ----------------------------------------------------------------------------------------
# serve / users / audit
# ----------------------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes (default: service.workers)."),
    ] = None,
    db: DbOption = None,
    demo_users: Annotated[
        bool, typer.Option("--demo-users", help="Create the demo accounts and print them.")
    ] = False,
) -> None:
    """Serve the API, the bureau's map and the family doctor's phone page.

    With several workers uvicorn starts that many processes of the app factory
    (``service.app:create_app``), each reading the settings from the environment; ``--db``
    is handed to them as ``HEALTHMAP_DATABASE_URL``. The schema is migrated here first,
    once; the 06:00 lists run in one worker only (``service.scheduler.SchedulerLock``).
    """
    import os

    import uvicorn

    from service.app import create_app

    if db:
        state.db = db
    settings = state.settings
    engine = state.engine()
    if demo_users:
        _print_demo_users(engine)
    host = host or settings.service.host
    port = port or settings.service.port
    workers = workers or settings.service.workers
    console.print(
        f"healthmap serving on http://{host}:{port}  (store: {settings.database_url},"
        f" {workers} worker{'s' if workers > 1 else ''})"
    )
    if workers == 1:
        uvicorn.run(create_app(settings, engine=engine), host=host, port=port, log_level="warning")
        return
    engine.dispose()  # the workers open their own; connections must not cross a fork
    os.environ["HEALTHMAP_DATABASE_URL"] = settings.database_url
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def _print_demo_users(engine: Engine) -> None:
    from sqlalchemy.orm import Session

    from service.accounts import ensure_demo_users

    with Session(engine) as session:
        users = ensure_demo_users(session)
        session.commit()
    table = Table(title="demo log-ins (demo mode only)")
    for col in ("username", "password", "role", "scope"):
        table.add_column(col)
    for row in users:
        table.add_row(*(str(v) for v in row))
    console.print(table)


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help="doctor, chronic_center, bureau, planner or admin.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    team: Annotated[str | None, typer.Option(help="Team of a doctor.")] = None,
    town: Annotated[str | None, typer.Option(help="Town code of a chronic-disease centre.")] = None,
    db: DbOption = None,
) -> None:
    """Create a service account."""
    from service.accounts import add_user

    with _session(db) as session:
        add_user(session, username, password, role, team_id=team, town_code=town)
    console.print(f"added {username} ({role})")


@users_app.command("list")
def users_list(fmt: FormatOption = "table", db: DbOption = None) -> None:
    """List service accounts (never passwords)."""
    from service.accounts import list_users

    with _session(db) as session:
        emit_frame(list_users(session), fmt, title="users")


@users_app.command("disable")
def users_disable(username: str, db: DbOption = None) -> None:
    """Disable an account (its tokens stop working)."""
    from service.accounts import disable_user

    with _session(db) as session:
        disable_user(session, username)
    console.print(f"disabled {username}")


@users_app.command("set-role")
def users_set_role(
    username: str,
    role: str,
    team: Annotated[str | None, typer.Option(help="Team of a doctor.")] = None,
    town: Annotated[str | None, typer.Option(help="Town code of a chronic-disease centre.")] = None,
    db: DbOption = None,
) -> None:
    """Change an account's role and scope."""
    from service.accounts import set_role

    with _session(db) as session:
        set_role(session, username, role, team_id=team, town_code=town)
    console.print(f"{username} is now {role}")


@app.command()
def audit(
    user: Annotated[str | None, typer.Option(help="Only this user.")] = None,
    action: Annotated[str | None, typer.Option(help="read, write, export, login or admin.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries, newest first.")] = 100,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Show the audit log (who read or changed which personal record)."""
    from service.audit import list_audit

    if db:
        state.db = db
    emit_frame(
        list_audit(state.engine(), username=user, action=action, limit=limit), fmt, title="audit"
    )


@app.command()
def demo(
    scale: Annotated[float, typer.Option(help="Size of the sample county.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    data: Annotated[Path, typer.Option(help="Where the sample delivery goes.")] = Path(
        "var/sample_county"
    ),
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """Generate the sample county, ingest it, build, and serve the map."""
    from pipelines.ingest.delivery import ingest_delivery
    from pipelines.sample.county import generate_county

    as_of = _today()
    manifest_path = data / "manifest.json"
    fresh = manifest_path.exists() and json.loads(manifest_path.read_text()).get("as_of") == str(
        as_of
    )
    if not fresh:
        console.print(f"generating the sample county (scale {scale}) in {data} …")
        generate_county(data, scale=scale, seed=seed, as_of=as_of)
    engine = state.engine()
    console.print("ingesting …")
    summary = ingest_delivery(data, engine, state.settings.ingest, state.settings.rules)
    loaded = sum(t.loaded + t.updated for t in summary.tables.values())
    console.print(f"ingested: {loaded:,} rows loaded or updated")
    from pipelines.build import run_build

    console.print("building indicators, hotspots and burden …")
    built = run_build(engine, as_of, state.settings.rules)
    console.print(f"build {built['build_id']} ready in {built['seconds']} s")
    if serve_after:
        serve(host=None, port=None, db=None, demo_users=True)


@app.command("settings")
def show_settings(
    markdown: Annotated[bool, typer.Option("--markdown", help="The reference page.")] = False,
) -> None:
    """Show the effective settings (secrets hidden), or the reference of every setting."""
    from service.settings import settings_reference

    if markdown:
        sys.stdout.write(settings_reference())
        return
    data = state.settings.model_dump(mode="json")
    for section, key in (("auth", "secret"), ("ingest", "id_hash_key")):
        data[section][key] = "***"
    out.print_json(json.dumps(data, ensure_ascii=False))


def run() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
