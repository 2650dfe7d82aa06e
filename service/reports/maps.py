"""The report's static maps (matplotlib): travel time to the nearest village clinic.

Drawn from the report's layers alone (no store needed), in Web Mercator like the map and
``service.tiles.render_png``, with that renderer's helpers: the polygons, the scale bar
and the north arrow. Cells are classed on fixed breaks around the service circle (5, 10,
15, 30 minutes), so the 15-minute line is the same colour edge on every map; town
outlines are the dissolved cells of each town (the result carries no boundaries, and a
town's populated cells are what the report is about); chosen sites are red stars,
candidates grey dots, the county sub-centre a blue square. Every text is in the CJK font.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from service.reports.fonts import font_families
from service.tiles.mvt import to_mercator
from service.tiles.static_map import add_north_arrow, add_scale_bar, draw_polygons

if TYPE_CHECKING:
    import geopandas as gpd
    from matplotlib.figure import Figure

    from service.reports.tables import ReportData

#: Upper bounds (minutes) of the travel-time classes and their colours (green → red).
BREAKS: tuple[float, ...] = (5.0, 10.0, 15.0, 30.0, np.inf)
COLOURS: tuple[str, ...] = ("#1a9850", "#91cf60", "#d9ef8b", "#fc8d59", "#d73027")
TIME_COLUMN = "t_village_clinic_walk"


def class_labels(breaks: tuple[float, ...] = BREAKS) -> list[str]:
    """Legend text of each class, e.g. ``"5–10 分钟"``; the last one includes unreachable."""
    out, lower = [], 0.0
    for upper in breaks:
        out.append(f"> {lower:g} 分钟或不可达" if np.isinf(upper) else f"{lower:g}–{upper:g} 分钟")
        lower = upper
    return out


def cell_colours(minutes: np.ndarray) -> list[str]:
    """The class colour of each travel time.

    No time (NaN or infinite: no facility of the group within the computation's
    ``matrix_limit_minutes``, or none reachable over the roads) is the last class: for a
    planner it is the worst served.
    """
    minutes = np.where(np.isfinite(minutes), minutes, np.inf)
    idx = np.searchsorted(np.asarray(BREAKS[:-1]), minutes, side="left")
    return [COLOURS[int(i)] for i in idx]


def _font(size: float, weight: str = "normal") -> FontProperties:
    return FontProperties(family=font_families(), size=size, weight=weight)


def _points(ax: Any, frame: gpd.GeoDataFrame | None, **style: Any) -> bool:
    if frame is None or frame.empty:
        return False
    merc = to_mercator(np.asarray(frame.geometry.values, dtype=object))
    ax.scatter(shapely.get_x(merc), shapely.get_y(merc), **style)
    return True


def draw_coverage_map(
    ax: Any,
    data: ReportData,
    *,
    town: str | None = None,
    legend: bool = True,
    title: str | None = None,
) -> None:
    """Draw the travel-time map of the county (or of ``town``) on a matplotlib axes.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw (its aspect is set equal and its frame hidden).
    data : ReportData
        The report's layers (``travel_time_cells``, sites).
    town : str, optional
        Only this town's cells and sites.
    legend : bool
        Draw the legend in the axes' lower right.
    title : str, optional
        Axes title.
    """
    ax.set_axis_off()
    ax.set_aspect("equal")
    cells = data.layers["travel_time_cells"]
    if town is not None:
        cells = cells[cells["town_code"].astype(str) == town]
    if cells.empty:
        ax.text(
            0.5, 0.5, "无人口单元", ha="center", transform=ax.transAxes, fontproperties=_font(10)
        )
        return
    minutes = cells[TIME_COLUMN].to_numpy(dtype=float)
    geoms = to_mercator(np.asarray(cells.geometry.values, dtype=object))
    draw_polygons(ax, list(geoms), cell_colours(minutes), edgecolor="none", linewidth=0)
    # Town outlines: the dissolved cells of each town.
    for code, group in cells.groupby(cells["town_code"].astype(str)):
        outline = to_mercator(
            np.asarray([shapely.union_all(np.asarray(group.geometry.values))], dtype=object)
        )
        draw_polygons(ax, list(outline), ["none"], edgecolor="#252525", linewidth=0.8, zorder=3)
        if town is None and code in data.town_names:
            centre = shapely.centroid(outline[0])
            ax.text(
                shapely.get_x(centre),
                shapely.get_y(centre),
                data.town_names[code],
                ha="center",
                va="center",
                fontproperties=_font(7),
                zorder=5,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7},
            )
    handles: list[Any] = [
        Patch(facecolor=c, label=lbl) for c, lbl in zip(COLOURS, class_labels(), strict=True)
    ]
    layers = data.layers

    def sites(name: str) -> gpd.GeoDataFrame | None:
        frame = layers.get(name)
        if frame is not None and town is not None:
            frame = frame[frame["town_code"].astype(str) == town]
        return frame

    candidates = sites("candidate_sites")
    if candidates is not None and "chosen" in candidates.columns:
        candidates = candidates[~candidates["chosen"].astype(bool)]
    if _points(ax, candidates, s=6, color="#636363", zorder=4):
        handles.append(_marker("o", "#636363", "候选点", 4))
    if _points(
        ax,
        sites("chosen_sites"),
        s=90,
        marker="*",
        color="#b2182b",
        edgecolors="white",
        linewidths=0.5,
        zorder=6,
    ):
        handles.append(_marker("*", "#b2182b", "新增村卫生室（选址）", 11))
    if _points(
        ax,
        sites("sub_centre"),
        s=50,
        marker="s",
        color="#2166ac",
        edgecolors="white",
        linewidths=0.5,
        zorder=6,
    ):
        handles.append(_marker("s", "#2166ac", "县域医疗服务次中心", 7))
    ax.autoscale_view()
    add_scale_bar(ax, fontsize=7)
    add_north_arrow(ax, fontsize=9)
    if title:
        ax.set_title(title, fontproperties=_font(10, "bold"))
    if legend:
        ax.legend(
            handles=handles,
            loc="lower right",
            prop=_font(7),
            title="步行至最近村卫生室",
            title_fontproperties=_font(7, "bold"),
            framealpha=0.9,
        )


def _marker(symbol: str, colour: str, label: str, size: float) -> Line2D:
    return Line2D(
        [],
        [],
        marker=symbol,
        color="none",
        markerfacecolor=colour,
        markeredgecolor=colour,
        markersize=size,
        label=label,
    )


def coverage_figure(data: ReportData, *, town: str | None = None, dpi: int = 150) -> Figure:
    """A stand-alone map figure (A4 landscape proportions), e.g. to save as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.69, 8.27), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.9))
    name = data.town_names.get(town, data.scope_name) if town else data.scope_name
    draw_coverage_map(ax, data, town=town)
    fig.suptitle(f"{name} 步行至最近村卫生室时间", fontproperties=_font(14, "bold"))
    return fig
