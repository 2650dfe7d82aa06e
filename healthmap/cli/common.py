"""What the commands share: the common options, the running command's state, dates,
the progress bar, store sessions and queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from healthmap.cli.output import console

if TYPE_CHECKING:
    from healthmap.cli import State

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Store URL (overrides HEALTHMAP_DATABASE_URL).", show_default=False),
]
CountyOption = Annotated[
    str | None,
    typer.Option(
        "--county",
        help="The county partition to work in, by its 6-digit code (a province deployment;"
        " overrides HEALTHMAP_COUNTY). Unset: the root store.",
        show_default=False,
    ),
]
EngineOption = Annotated[
    str,
    typer.Option(
        "--engine", help="local (a process pool on this machine) or dask (a Dask cluster)."
    ),
]
SchedulerOption = Annotated[
    str,
    typer.Option(
        "--scheduler",
        help="With --engine dask: local (a LocalCluster here) or a scheduler address "
        "(tcp://host:8786).",
    ),
]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="Output format.")]
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="As-of date D, YYYY-MM-DD (default today).")
]
DateOption = Annotated[
    str | None, typer.Option("--date", help="The day D, YYYY-MM-DD (default today).")
]


def current_state() -> State:
    """The state of the running command, looked up on the package at each call.

    It is ``healthmap.cli.state``; looking it up late lets a test replace it.
    """
    import healthmap.cli

    return healthmap.cli.state


def use_db(db: str | None) -> State:
    """The running command's state, pointed at the store ``--db`` names (when given)."""
    state = current_state()
    if db:
        state.db = db
    return state


@contextmanager
def session(db: str | None) -> Iterator[Any]:
    """A store session for an admin command: committed at the end; a domain error is
    printed as its message (no traceback) with exit code 1."""
    from sqlalchemy.orm import Session

    from geo.errors import HealthmapError

    state = use_db(db)
    try:
        with Session(state.engine()) as db_session:
            yield db_session
            db_session.commit()
    except HealthmapError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


def today() -> dt.date:
    """Today in the county's time zone (``rules.timezone``)."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(current_state().settings.rules.timezone)).date()


def parse_date(value: str | None) -> dt.date:
    """A ``YYYY-MM-DD`` option as a date; none, empty or ``today`` is :func:`today`."""
    if value in (None, "", "today"):
        return today()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD or 'today'") from None


def progress() -> Any:
    """A rich progress bar on stderr, silent when stderr is not a terminal."""
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


def query(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(engine, *args, **kwargs)``; no build yet or an unknown name exits 1 with why."""
    from store.queries import NoBuildError

    require_store()
    try:
        return fn(current_state().engine(), *args, **kwargs)
    except (NoBuildError, LookupError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


def model_path() -> Path:
    """Where the follow-up risk model is saved (``data_dir/risk_model.joblib``)."""
    return current_state().settings.risk_model_path


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite store URL (None for another backend or an in-memory store)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def require_store() -> None:
    """Stop with a clear message when the configured store does not exist yet.

    A command that reads results would otherwise create an empty SQLite file (and its
    folder) wherever the URL points and answer "No build yet". Creating a store is asked
    for explicitly: ``healthmap db upgrade`` (empty) or ``healthmap ingest`` / ``demo``.
    """
    state = current_state()
    settings = state.settings
    path = sqlite_path(settings.store_url)
    if path is None or path.exists():
        return
    console.print(
        f"[red]No store at {path}[/red] (database_url {settings.store_url}; data_dir "
        f"{settings.data_dir}).\nPoint HEALTHMAP_DATA_DIR or HEALTHMAP_DATABASE_URL (or --db) "
        "at the county's store, or create one: `healthmap db upgrade` (empty) or "
        "`healthmap ingest DIR`. Nothing was created."
    )
    raise typer.Exit(1)


#: Code columns of result frames and the kind of place (:func:`place_names`) whose name
#: goes beside them in table output; ``unit_id`` is looked up by its row's ``level``.
_NAMED = {
    "town_code": "town",
    "village_code": "village",
    "area_code": "area",
    "grid_id": "grid",
    "team_id": "team",
}


def place_names(engine: Any) -> dict[str, dict[str, str]]:
    """Names of the county's places: kind (town, village, grid, team, area) → code → name."""
    from sqlalchemy import select

    from store.models import Area, Grid, Team

    names: dict[str, dict[str, str]] = {"town": {}, "village": {}, "area": {}, "grid": {}}
    with engine.connect() as conn:
        for level, code, name in conn.execute(select(Area.level, Area.area_code, Area.name)):
            if name:
                names["area"][code] = name
                names.setdefault(level, {})[code] = name
        names["grid"] = {g: n for g, n in conn.execute(select(Grid.grid_id, Grid.name)) if n}
        names["team"] = {t: n for t, n in conn.execute(select(Team.team_id, Team.name)) if n}
    return names


def with_names(frame: Any, engine: Any) -> Any:
    """``frame`` with a ``…_name`` column after each code column a person cannot read.

    For table output only (csv and json stay as the store has them): town, village, grid
    and team codes get their names; ``unit_id`` gets the name of its ``level``'s unit.
    """
    if frame is None or len(frame) == 0:
        return frame
    names = place_names(engine)
    out = frame.copy()
    for column in list(frame.columns):
        if column == "unit_id" and "level" in frame.columns:
            looked = [
                names.get(str(level), {}).get(str(unit))
                for level, unit in zip(frame["level"], frame["unit_id"], strict=True)
            ]
        elif column in _NAMED:
            table = names.get(_NAMED[column], {})
            looked = [table.get(str(code)) for code in frame[column]]
        else:
            continue
        if not any(looked):
            continue
        target = (
            "unit_name"
            if column == "unit_id"
            else column.removesuffix("_code").removesuffix("_id") + "_name"
        )
        if target in out.columns:
            continue
        out.insert(out.columns.get_loc(column) + 1, target, [n or "" for n in looked])
    return out
