"""The family-doctor teams' day: push lists, visit routes and the follow-up risk model."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from healthmap.cli.common import (
    AsOfOption,
    DateOption,
    DbOption,
    FormatOption,
    model_path,
    parse_date,
    progress,
    use_db,
    with_names,
)
from healthmap.cli.output import console, emit_frame, is_coordinate, out

pushlist_app = typer.Typer(
    help="The morning follow-up lists of the family-doctor teams.", invoke_without_command=True
)
model_app = typer.Typer(help="The follow-up risk model.", no_args_is_help=True)


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

    state = use_db(db)
    when = parse_date(date)
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
                    model_path=model_path(),
                )
            )
        except UnknownTeamError:
            raise typer.BadParameter(f"unknown team {team_id!r}") from None
    frame = pd.concat(parts, ignore_index=True)
    if not unmasked:
        # A masked list does not point at a home: coordinates to 3 decimals (~100 m).
        coords = [c for c in frame.columns if is_coordinate(c)]
        frame[coords] = frame[coords].astype(float).round(3)
    if fmt == "table":
        frame = with_names(frame, engine)
    emit_frame(frame, fmt, title=f"push list {when}")


@pushlist_app.command("generate")
def pushlist_generate(date: DateOption = None, db: DbOption = None) -> None:
    """Materialise every team's list for D (what the 06:00 scheduler runs)."""
    from pipelines.pushlist import generate_push_lists

    state = use_db(db)
    when = parse_date(date)
    with progress() as bar:
        task = bar.add_task("push lists", total=3)

        def tick(step: str, done: int, total: int) -> None:
            bar.update(task, description=f"push lists: {step}", completed=done, total=total)

        summary = generate_push_lists(
            state.engine(), when, state.settings.rules, model_path=model_path(), progress=tick
        )
    out.print_json(json.dumps(summary, ensure_ascii=False))


def route(
    team: Annotated[str, typer.Option("--team", help="The family-doctor team.")],
    date: DateOption = None,
    mode: Annotated[str, typer.Option(help="drive, ebike or walk.")] = "drive",
    fmt: Annotated[str, typer.Option("--format", "-f", help="json or geojson.")] = "json",
    db: DbOption = None,
) -> None:
    """The day's visit route of a team (OR-Tools), from and back to its base facility."""
    from pipelines.pushlist import UnknownTeamError, team_route

    state = use_db(db)
    try:
        planned = team_route(
            state.engine(),
            team,
            parse_date(date),
            state.settings.rules,
            mode=mode,
            model_path=model_path(),
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

    state = use_db(db)
    when = parse_date(as_of)
    frames = read_frames(
        state.engine(),
        ["residents", "chronic_registry", "followups", "measurements", "claims"],
    )
    result = train_from_frames(frames, when, state.settings.rules)
    path = model_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(result, path)
    out.print_json(json.dumps(result.metrics, default=str))
    console.print(f"saved {path}")
