"""The planners' coverage report: PDF (Chinese), XLSX, GeoPackage, GeoJSON and HTML.

``build_report(result, fmt, out)`` writes one format of the report of a
:class:`pipelines.coverage.CoverageResult` (the county's, or one town's with ``town``);
``coverage_deck(result)`` is the same map as a pydeck ``Deck`` for notebooks. The
``healthmap report coverage`` command and the planner's page (through a job:
``service.reports.routes``) call them. docs/reports.md says what each format holds.

Imports are lazy: matplotlib, pydeck and openpyxl are slow to import, and
``service.tiles.static_map`` imports :mod:`service.reports.fonts` from here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geo.errors import BadParameterError

if TYPE_CHECKING:
    import pydeck

    from pipelines.coverage import CoverageResult

#: Report formats, their file suffixes and media types.
FORMATS: dict[str, tuple[str, str]] = {
    "pdf": (".pdf", "application/pdf"),
    "xlsx": (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "gpkg": (".gpkg", "application/geopackage+sqlite3"),
    "geojson": (".geojson", "application/geo+json"),
    "html": (".html", "text/html; charset=utf-8"),
}

#: Called with (step, fraction done) while a report is written.
Progress = Callable[[str, float], None]


def build_report(
    result: CoverageResult,
    fmt: str,
    out: Path,
    *,
    town: str | None = None,
    k: int | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write the coverage report in ``fmt`` to ``out``.

    Parameters
    ----------
    result : pipelines.coverage.CoverageResult
        One coverage computation.
    fmt : {"pdf", "xlsx", "gpkg", "geojson", "html"}
        Format.
    out : pathlib.Path
        Output file (overwritten).
    town : str, optional
        A town's area code: that town's report.
    k : int, optional
        Small-number threshold (default: the rules' ``indicators.suppression_k``).
    progress : callable, optional
        Called with (step, fraction done).

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    geo.errors.BadParameterError
        Unknown format.
    geo.errors.NotFoundError
        Unknown town.
    service.reports.fonts.CjkFontMissingError
        PDF without the CJK font.
    """
    from service.reports.tables import prepare

    if fmt not in FORMATS:
        raise BadParameterError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    report = progress or (lambda _step, _done: None)
    if fmt == "pdf":
        from service.reports.fonts import cjk_font_family

        cjk_font_family()  # fail before the work, with what to install
    data = prepare(result, town=town, k=k)
    report("tables", 0.05 if fmt == "pdf" else 0.3)
    out = Path(out)
    if fmt == "pdf":
        from service.reports.pdf import write_pdf

        write_pdf(data, out, progress=lambda step, done: report(step, 0.05 + 0.95 * done))
    elif fmt == "xlsx":
        from service.reports.files import write_xlsx

        write_xlsx(data, out)
    elif fmt == "gpkg":
        from service.reports.files import write_gpkg

        write_gpkg(data, out)
    elif fmt == "geojson":
        from service.reports.files import write_geojson

        write_geojson(data, out)
    else:
        from service.reports.deck import html_text

        out.write_text(html_text(data), encoding="utf-8")
    report("done", 1.0)
    return out


def coverage_deck(result: CoverageResult, **kwargs: Any) -> pydeck.Deck:
    """The coverage map as a pydeck ``Deck``; see :func:`service.reports.deck.coverage_deck`."""
    from service.reports.deck import coverage_deck as _deck

    return _deck(result, **kwargs)


__all__ = ["FORMATS", "Progress", "build_report", "coverage_deck"]
