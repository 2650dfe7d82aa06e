"""Running and administering the service: serve, accounts, the audit log, the demo, settings."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from healthmap.cli.common import (
    DbOption,
    FormatOption,
    current_state,
    session,
    today,
    use_db,
)
from healthmap.cli.output import console, emit_frame, out

if TYPE_CHECKING:
    from sqlalchemy import Engine

users_app = typer.Typer(help="Service accounts (admin).", no_args_is_help=True)


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

    state = use_db(db)
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

    with Session(engine) as db_session:
        users = ensure_demo_users(db_session)
        db_session.commit()
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

    with session(db) as db_session:
        add_user(db_session, username, password, role, team_id=team, town_code=town)
    console.print(f"added {username} ({role})")


@users_app.command("list")
def users_list(fmt: FormatOption = "table", db: DbOption = None) -> None:
    """List service accounts (never passwords)."""
    from service.accounts import list_users

    with session(db) as db_session:
        emit_frame(list_users(db_session), fmt, title="users")


@users_app.command("disable")
def users_disable(username: str, db: DbOption = None) -> None:
    """Disable an account (its tokens stop working)."""
    from service.accounts import disable_user

    with session(db) as db_session:
        disable_user(db_session, username)
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

    with session(db) as db_session:
        set_role(db_session, username, role, team_id=team, town_code=town)
    console.print(f"{username} is now {role}")


def audit(
    user: Annotated[str | None, typer.Option(help="Only this user.")] = None,
    action: Annotated[str | None, typer.Option(help="read, write, export, login or admin.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries, newest first.")] = 100,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Show the audit log (who read or changed which personal record)."""
    from service.audit import list_audit

    state = use_db(db)
    emit_frame(
        list_audit(state.engine(), username=user, action=action, limit=limit), fmt, title="audit"
    )


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

    state = current_state()
    as_of = today()
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


def show_settings(
    markdown: Annotated[bool, typer.Option("--markdown", help="The reference page.")] = False,
) -> None:
    """Show the effective settings (secrets hidden), or the reference of every setting."""
    from service.settings import settings_reference

    if markdown:
        sys.stdout.write(settings_reference())
        return
    data = current_state().settings.model_dump(mode="json")
    for section, key in (("auth", "secret"), ("ingest", "id_hash_key")):
        data[section][key] = "***"
    out.print_json(json.dumps(data, ensure_ascii=False))
