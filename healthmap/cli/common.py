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

    try:
        return fn(current_state().engine(), *args, **kwargs)
    except (NoBuildError, LookupError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


def model_path() -> Path:
    """Where the follow-up risk model is saved (``data_dir/risk_model.joblib``)."""
    return current_state().settings.data_dir / "risk_model.joblib"
