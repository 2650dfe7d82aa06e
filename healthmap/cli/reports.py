"""``healthmap report coverage``: the planners' coverage report in one of five formats.

The coverage computation (``pipelines.coverage.compute_coverage``) runs on the store with
the settings' thresholds, then ``service.reports.build_report`` writes the file; a rich
progress bar on the terminal follows both (silent when stderr is not a terminal).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from healthmap.cli.common import DbOption, progress, use_db
from healthmap.cli.output import console

report_app = typer.Typer(help="Reports for planners (coverage, standards, siting).")

#: Share of the progress bar the coverage computation takes before the report is written.
_COMPUTE_SHARE = 40


@report_app.command("coverage")
def coverage(
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="pdf, xlsx, gpkg, geojson or html.")
    ] = "pdf",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output file (default coverage.<format>).")
    ] = None,
    town: Annotated[str | None, typer.Option(help="Town area code (default the county).")] = None,
    db: DbOption = None,
) -> None:
    """Coverage report: travel-time maps, planning standards, underserved areas, siting.

    PDF (Chinese, maps with legend, scale bar and north arrow), XLSX (the same tables),
    GeoPackage/GeoJSON (catchments, travel-time cells, candidate and chosen sites), or one
    self-contained HTML map (pydeck; opens with no server and no internet).
    """
    from geo.errors import HealthmapError
    from pipelines.coverage import compute_coverage
    from service.reports import FORMATS, build_report

    if fmt not in FORMATS:
        raise typer.BadParameter(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    target = out or Path(f"coverage{FORMATS[fmt][0]}")
    state = use_db(db)
    try:
        with progress() as bar:
            task = bar.add_task("coverage", total=100)
            result = compute_coverage(state.engine(), state.settings.rules.coverage)
            bar.update(task, completed=_COMPUTE_SHARE, description=f"report ({fmt})")

            def step(name: str, done: float) -> None:
                share = _COMPUTE_SHARE + (100 - _COMPUTE_SHARE) * done
                bar.update(task, completed=share, description=f"report: {name}")

            k = state.settings.rules.indicators.suppression_k
            build_report(result, fmt, target, town=town, k=k, progress=step)
    except HealthmapError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"wrote {target} ({target.stat().st_size:,} bytes)")
