"""Results of the current build: indicators, hotspots, burden, alerts, vaccination targets."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from healthmap.cli.common import (
    AsOfOption,
    DbOption,
    FormatOption,
    current_state,
    parse_date,
    query,
    use_db,
    with_names,
)
from healthmap.cli.output import emit_frame


def show(frame: Any, fmt: str, title: str) -> None:
    """Emit ``frame``; a table for a person gets the names of towns, grids and teams beside
    their codes (csv and json stay as the store has them)."""
    if fmt == "table":
        frame = with_names(frame, current_state().engine())
    emit_frame(frame, fmt, title=title)


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

    use_db(db)
    if level not in LEVELS:
        raise typer.BadParameter(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    period = parse_date(as_of) if as_of else None
    frame = query(indicator_values, level, period=period, indicator=indicator)
    show(frame, fmt, f"indicators ({level})")


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
    from geo.vocabulary import HOTSPOT_INDICATORS
    from store.queries import hotspot_results

    state = use_db(db)
    if indicator not in HOTSPOT_INDICATORS:
        raise typer.BadParameter(
            f"unknown indicator {indicator!r}; use one of {', '.join(HOTSPOT_INDICATORS)}"
        )
    frame = query(hotspot_results, indicator, level)
    if fmt == "geojson":
        from store.shapes import unit_features

        sys.stdout.write(
            json.dumps(unit_features(state.engine(), level, frame), ensure_ascii=False)
        )
        sys.stdout.write("\n")
        return
    show(frame, fmt, f"hotspots {indicator} ({level})")


def burden(
    town: Annotated[str | None, typer.Option(help="Town area code (default all towns).")] = None,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Disease burden per town: top ICD-10 blocks by visits, patients and cost (一院一专科)."""
    from store.queries import burden as burden_rows

    use_db(db)
    show(query(burden_rows, town_code=town), fmt, "disease burden")


def alerts(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Only alerts of this day (default all).")
    ] = None,
    fmt: FormatOption = "csv",
    db: DbOption = None,
) -> None:
    """Influenza-like illness alerts of the current build: EARS C1/C2/C3 and scan clusters."""
    from store.queries import surveillance_alerts

    use_db(db)
    frame = query(surveillance_alerts, day=parse_date(as_of) if as_of else None)
    show(frame, fmt, "early-warning alerts")


def vaccination_targets(
    team: Annotated[str | None, typer.Option("--team", help="One team (default all).")] = None,
    fmt: FormatOption = "csv",
    db: DbOption = None,
) -> None:
    """Residents to vaccinate against influenza in cells at risk, per team and household."""
    from store.queries import vaccination_targets as targets

    use_db(db)
    show(query(targets, team_id=team), fmt, "vaccination targets")
