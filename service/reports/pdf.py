"""The coverage report as a PDF in Chinese (matplotlib's PDF backend; no other dependency).

Pages, in the order of issue 14: the cover with the headline figures and the county map;
the town maps (four to a page; one full page in a town's report); the planning
standards; coverage and resources per town; the underserved areas; the siting result;
the methods note. Tables are drawn on landscape pages and continue on the next page when
long. Text is drawn in the CJK font (Type 3 subsets with a ToUnicode map, so the
Chinese text can be searched and extracted: ``pdftotext``).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from service.reports.fonts import font_families
from service.reports.maps import draw_coverage_map
from service.reports.tables import ReportData

Progress = Callable[[str, float], None]

PORTRAIT = (8.27, 11.69)  # A4, inches
LANDSCAPE = (11.69, 8.27)
#: Table rows per landscape page.
ROWS_PER_PAGE = 26
#: Town maps per page (2 × 2).
MAPS_PER_PAGE = 4
HEADER_WRAP = 7


def _font(size: float, weight: str = "normal") -> FontProperties:
    return FontProperties(family=font_families(), size=size, weight=weight)


def _page(size: tuple[float, float], heading: str, data: ReportData) -> Figure:
    fig = Figure(figsize=size)
    fig.text(0.05, 0.965, heading, fontproperties=_font(14, "bold"), va="top")
    fig.text(0.95, 0.02, data.title, fontproperties=_font(7), ha="right", color="#737373")
    return fig


def _cover(data: ReportData) -> Figure:
    fig = Figure(figsize=PORTRAIT)
    fig.text(0.5, 0.95, data.title, fontproperties=_font(18, "bold"), ha="center", va="top")
    methods = dict(data.methods)
    sub = f"数据截至 {methods.get('数据截至', '—')} · 出行模型：{methods.get('出行模型', '—')}"
    fig.text(0.5, 0.91, sub, fontproperties=_font(9), ha="center", va="top", color="#525252")
    for i, (label, value) in enumerate(data.headline):
        x = 0.12 + i * 0.28
        fig.text(x, 0.86, value, fontproperties=_font(16, "bold"), va="top", color="#08519c")
        fig.text(x, 0.825, label, fontproperties=_font(8), va="top")
    ax = fig.add_axes((0.04, 0.04, 0.92, 0.76))
    draw_coverage_map(ax, data, town=data.town_code, title="步行至最近村卫生室时间")
    return fig


def _town_maps(data: ReportData) -> list[Figure]:
    codes = list(data.town_names)
    if data.town_code is not None:
        return []  # the cover's map is the town's
    pages = []
    for start in range(0, len(codes), MAPS_PER_PAGE):
        fig = _page(PORTRAIT, "各乡镇步行至最近村卫生室时间", data)
        for j, code in enumerate(codes[start : start + MAPS_PER_PAGE]):
            row, col = divmod(j, 2)
            ax = fig.add_axes((0.04 + col * 0.47, 0.5 - row * 0.46, 0.44, 0.4))
            draw_coverage_map(ax, data, town=code, legend=j == 0, title=data.town_names[code])
        pages.append(fig)
    return pages


def _wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(text, HEADER_WRAP)) if len(text) > HEADER_WRAP else text


def table_pages(heading: str, table: pd.DataFrame, data: ReportData) -> list[Figure]:
    """A table over as many landscape pages as it needs (headings repeated)."""
    pages = []
    n_pages = max(1, math.ceil(len(table) / ROWS_PER_PAGE))
    for p in range(n_pages):
        rows = table.iloc[p * ROWS_PER_PAGE : (p + 1) * ROWS_PER_PAGE]
        title = heading if n_pages == 1 else f"{heading}（{p + 1}/{n_pages}）"
        fig = _page(LANDSCAPE, title, data)
        ax = fig.add_axes((0.03, 0.05, 0.94, 0.86))
        ax.set_axis_off()
        if rows.empty:
            ax.text(0.0, 0.95, "无", fontproperties=_font(10), transform=ax.transAxes)
            pages.append(fig)
            continue
        cells = [[str(v) for v in r] for r in rows.itertuples(index=False)]
        drawn = ax.table(
            cellText=cells,
            colLabels=[_wrap(str(c)) for c in rows.columns],
            loc="upper center",
            cellLoc="center",
        )
        drawn.auto_set_font_size(False)
        for (r, _c), cell in drawn.get_celld().items():
            cell.get_text().set_fontproperties(_font(7, "bold" if r == 0 else "normal"))
            cell.set_edgecolor("#bdbdbd")
            if r == 0:
                cell.set_facecolor("#deebf7")
                cell.set_height(cell.get_height() * 2.2)
            elif _c >= 0 and cells[r - 1][_c] == "未达标":
                cell.get_text().set_color("#b2182b")
        drawn.auto_set_column_width(list(range(len(rows.columns))))
        pages.append(fig)
    return pages


def _methods(data: ReportData) -> Figure:
    fig = _page(PORTRAIT, "方法说明", data)
    y = 0.92
    for item, text in data.methods:
        fig.text(0.06, y, item, fontproperties=_font(9, "bold"), va="top")
        lines = textwrap.wrap(text, 44) or ["—"]
        fig.text(0.24, y, "\n".join(lines), fontproperties=_font(9), va="top", linespacing=1.5)
        y -= 0.03 + 0.018 * len(lines)
    note = (
        f"覆盖率：出行时间不超过 {data.service_minutes:g} 分钟的人口占常住人口的比例。"
        "少于 {k} 人的人数以“<{k}”表示。本报告由智慧健康地图 healthmap 生成。"
    ).format(k=data.k)
    fig.text(
        0.06,
        y - 0.02,
        "\n".join(textwrap.wrap(note, 50)),
        fontproperties=_font(8),
        va="top",
        color="#525252",
        linespacing=1.5,
    )
    return fig


def write_pdf(data: ReportData, out: Path, *, progress: Progress | None = None) -> Path:
    """Write the PDF report of ``data`` to ``out``.

    Parameters
    ----------
    data : ReportData
        The prepared report (:func:`service.reports.tables.prepare`).
    out : pathlib.Path
        Output file.
    progress : callable, optional
        Called with (step, fraction done) after each page group.

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    steps: list[tuple[str, Callable[[], list[Figure]]]] = [
        ("county map", lambda: [_cover(data)]),
        ("town maps", lambda: _town_maps(data)),
    ]
    for name, table in data.tables.items():
        steps.append((name, lambda n=name, t=table: table_pages(n, t, data)))  # type: ignore[misc]
    steps.append(("methods", lambda: [_methods(data)]))
    metadata: dict[str, Any] = {
        "Title": data.title,
        "Subject": "医疗服务覆盖与规划评估",
        "Creator": "healthmap",
    }
    with PdfPages(out, metadata=metadata) as pdf:
        for i, (name, make) in enumerate(steps):
            for fig in make():
                pdf.savefig(fig)
            if progress is not None:
                progress(name, (i + 1) / len(steps))
    return out
