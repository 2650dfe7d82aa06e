"""Running and administering the service: serve, accounts, the audit log, the demo, settings."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

    from service.settings import Settings

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
    if settings.county is None:
        # Every county's partition at head before the workers race to it (docs/province.md).
        from store.counties import migrate_partitions

        migrate_partitions(settings.database_url)
    if demo_users:
        _print_demo_users(engine, settings)
    host = host or settings.service.host
    port = port or settings.service.port
    workers = workers or settings.service.workers
    console.print(
        f"healthmap serving on http://{host}:{port}  (store: {settings.database_url},"
        f" {workers} worker{'s' if workers > 1 else ''})"
    )
    # No `Server: uvicorn` (it tells a prober what to try), and no X-Forwarded-For from
    # uvicorn: service.client believes it from service.trusted_proxies only.
    hardened: dict[str, Any] = {"server_header": False, "proxy_headers": False}
    if workers == 1:
        uvicorn.run(
            create_app(settings, engine=engine),
            host=host,
            port=port,
            log_level="warning",
            **hardened,
        )
        return
    engine.dispose()  # the workers open their own; connections must not cross a fork
    os.environ["HEALTHMAP_DATABASE_URL"] = settings.database_url
    if settings.county is not None:  # this county's partition only (docs/province.md)
        os.environ["HEALTHMAP_COUNTY"] = settings.county
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        **hardened,
    )


def _print_demo_users(engine: Engine, settings: Settings) -> None:
    from sqlalchemy.orm import Session

    from service.accounts import ensure_demo_users
    from service.resident_accounts import demo_activation, display_code

    with Session(engine) as db_session:
        users = ensure_demo_users(db_session)
        db_session.commit()
        resident = demo_activation(db_session, settings)
        db_session.commit()
    table = Table(title="demo log-ins (demo mode only)")
    for col in ("username", "password", "role", "scope"):
        table.add_column(col)
    for row in users:
        table.add_row(*(str(v) for v in row))
    console.print(table)
    if resident is not None:
        console.print(
            f"resident {resident.resident_id}: open /r/, activate with the code"
            f" [bold]{display_code(resident.code)}[/bold] and choose a 6-digit PIN; then log"
            f" in with the login id [bold]{resident.login_id}[/bold] and that PIN"
        )


#: Where `users add` takes the new password from when no file is named (never an option:
#: a command line is visible to every user of the machine in `ps`).
NEW_PASSWORD_ENV = "HEALTHMAP_NEW_PASSWORD"


def new_password(password_file: Path | None) -> str:
    """The new account's password: from ``--password-file`` (its first line), else
    ``HEALTHMAP_NEW_PASSWORD``, else asked twice at the terminal (not echoed)."""
    import os

    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {password_file}: {exc.strerror}", param_hint="--password-file"
            ) from None
        return lines[0] if lines else ""
    from_env = os.environ.get(NEW_PASSWORD_ENV)
    if from_env:
        return from_env
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("add")
def users_add(
    username: str,
    role: Annotated[str, typer.Option(help="doctor, chronic_center, bureau, planner or admin.")],
    team: Annotated[str | None, typer.Option(help="Team of a doctor.")] = None,
    town: Annotated[str | None, typer.Option(help="Town code of a chronic-disease centre.")] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file",
            help=f"Read the password from this file's first line (else ${NEW_PASSWORD_ENV},"
            " else a prompt). Never on the command line: `ps` would show it.",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Create a service account (the team or township must be in the store)."""
    from service.accounts import add_user, check_scope_known

    password = new_password(password_file)
    with session(db) as db_session:
        check_scope_known(db_session, team, town)
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
    from service.accounts import check_scope_known, set_role

    with session(db) as db_session:
        check_scope_known(db_session, team, town)
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


def demo_regeneration_reason(data: Path, *, scale: float, seed: int, as_of: dt.date) -> str | None:
    """Why the demo must generate its sample county again, or None when the one on disk fits.

    The county on disk is described by its ``manifest.json``; it fits when it was made
    clean (not ``--dirty``) for this as-of date, scale and seed.

    Parameters
    ----------
    data : Path
        The demo's delivery folder.
    scale, seed, as_of
        What the demo was asked for.

    Returns
    -------
    str or None
        E.g. ``"scale 0.05 on disk, 1.0 asked"``; None: keep it.
    """
    path = data / "manifest.json"
    if not path.exists():
        return "no sample county yet"
    try:
        made = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "its manifest.json is unreadable"
    if not isinstance(made, dict):
        return "its manifest.json is unreadable"
    asked = {"as_of": as_of.isoformat(), "scale": float(scale), "seed": int(seed)}
    for key, want in asked.items():
        have = made.get(key)
        if key == "scale" and isinstance(have, int | float):
            have = float(have)
        if have != want:
            return f"{key} {have} on disk, {want} asked"
    if made.get("dirty"):
        return "the county on disk has injected bad rows (--dirty)"
    return None


def _demo_train_model(engine: Engine, as_of: dt.date) -> None:
    """Train and save the risk model (as ``healthmap model train``) and say who orders lists."""
    from geo.risk_model import save_model, train_from_frames
    from healthmap.cli.common import model_path
    from pipelines.pushlist import model_beats_fallback
    from store.frames import read_frames

    frames = read_frames(
        engine, ["residents", "chronic_registry", "followups", "measurements", "claims"]
    )
    state = current_state()
    try:
        result = train_from_frames(frames, as_of, state.settings.rules)
    except ValueError as exc:  # too little history to split: the lists use the fallback
        console.print(f"risk model not trained ({exc}); the lists use the fallback score")
        return
    path = model_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(result, path)
    m = result.metrics
    beats = model_beats_fallback(m)
    try:
        auc = f"ROC AUC {float(m['model']['roc_auc']):.3f} vs {float(m['fallback']['roc_auc']):.3f}"
    except (KeyError, TypeError, ValueError):
        auc = "no held-out ROC AUC"
    console.print(
        f"risk model saved to {path} ({auc}): the lists use "
        + ("the model" if beats else "the fallback score, which did as well")
    )


def demo(
    scale: Annotated[float, typer.Option(help="Size of the sample county.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    data: Annotated[Path, typer.Option(help="Where the sample delivery goes.")] = Path(
        "var/sample_county"
    ),
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """Generate the sample county, ingest it, train the risk model, build, and serve the map.

    The county on disk is kept when it was made for today, this scale and this seed
    (:func:`demo_regeneration_reason`); otherwise it is generated again and loaded over
    the store's rows.
    """
    from pipelines.ingest.delivery import ingest_delivery
    from pipelines.sample.county import generate_county

    state = current_state()
    as_of = today()
    console.print(f"store: {state.settings.database_url}")
    reason = demo_regeneration_reason(data, scale=scale, seed=seed, as_of=as_of)
    if reason is not None:
        console.print(
            f"generating the sample county (scale {scale}, seed {seed}) in {data}: {reason} …"
        )
        generate_county(data, scale=scale, seed=seed, as_of=as_of)
    else:
        console.print(f"sample county in {data} is today's (scale {scale}, seed {seed})")
    engine = state.engine()
    console.print("ingesting …")
    summary = ingest_delivery(data, engine, state.settings.ingest, state.settings.rules)
    loaded = sum(t.loaded + t.updated for t in summary.tables.values())
    console.print(f"ingested: {loaded:,} rows loaded or updated")
    console.print("training the follow-up risk model …")
    _demo_train_model(engine, as_of)
    from pipelines.build import run_build

    console.print("building indicators, hotspots and burden …")
    built = run_build(engine, as_of, state.settings.rules)
    console.print(f"build {built['build_id']} ready in {built['seconds']} s")
    from healthmap.cli.data import publish

    publish(state)  # the province page shows the demo county
    console.print(f"store: {state.settings.database_url}")
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
