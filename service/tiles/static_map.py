"""Static county maps as PNG for reports (matplotlib, Agg; no basemap: no internet).

The same data as the tiles, drawn whole: a choropleth classed with mapclassify
(quantiles, natural breaks or equal intervals) with a legend of the class breaks,
suppressed units hatched grey, town boundaries on top, a title, a scale bar and a north
arrow. Maps are drawn in Web Mercator, as on screen. Text is drawn in the CJK font of
:mod:`service.reports.fonts` (Debian's fonts-noto-cjk), so titles and legends may be
Chinese; without the font the renderer refuses with an error that says what to install
rather than draw empty boxes. The planners' report (``service.reports``) draws its maps
with the same helpers (:func:`draw_polygons`, :func:`add_scale_bar`,
:func:`add_north_arrow`).
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Sequence
from typing import Any, Literal

import mapclassify
import numpy as np
import shapely
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch, PathPatch, Rectangle
from matplotlib.path import Path
from sqlalchemy import Engine, select

from service.reports.fonts import font_families
from service.tiles.cache import data_version
from service.tiles.layers import get_layer, normalise_params
from service.tiles.mvt import to_mercator
from service.tiles.sources import MobilitySource, TileContext, grid_geometries
from store.models import Area, Facility
from store.queries import current_build, hotspot_results, indicator_values
from store.shapes import h3_polygon

Classification = Literal["quantiles", "natural_breaks", "equal_interval"]

_CLASSIFIERS = {
    "quantiles": mapclassify.Quantiles,
    "natural_breaks": mapclassify.NaturalBreaks,
    "equal_interval": mapclassify.EqualInterval,
}
_LEVEL_OF_LAYER = {
    "indicators": "h3:8",
    "grid_indicators": "grid",
    "village_indicators": "village",
    "town_indicators": "town",
}
_HOTSPOT_COLOURS = {"hot": "#d7301f", "cold": "#2b8cbe", "none": "#f0f0f0"}
_SUPPRESSED = "#bdbdbd"
_NO_DATA = "#ffffff"


def _path(geom: Any) -> Path | None:
    """A matplotlib path of a (multi)polygon, holes included (even-odd by ring order)."""
    verts: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for poly in shapely.get_parts(geom):
        for ring in shapely.get_rings(poly):
            xy = shapely.get_coordinates(ring)
            if len(xy) < 4:
                continue
            c = np.full(len(xy), Path.LINETO, dtype=np.uint8)
            c[0], c[-1] = Path.MOVETO, Path.CLOSEPOLY
            verts.append(xy)
            codes.append(c)
    if not verts:
        return None
    return Path(np.concatenate(verts), np.concatenate(codes))


def _draw_polygons(
    ax: Any,
    geoms: Sequence[Any],
    facecolors: Sequence[Any],
    *,
    edgecolor: str = "#ffffff",
    linewidth: float = 0.2,
    hatch: str | None = None,
    zorder: float = 1,
) -> None:
    patches, colours = [], []
    for geom, colour in zip(geoms, facecolors, strict=True):
        path = _path(geom)
        if path is not None:
            patches.append(PathPatch(path))
            colours.append(colour)
    if not patches:
        return
    coll = PatchCollection(
        patches,
        facecolors=colours,
        edgecolors=edgecolor,
        linewidths=linewidth,
        zorder=zorder,
        match_original=False,
    )
    if hatch:
        coll.set_hatch(hatch)
    ax.add_collection(coll)


#: Public name for the report's maps.
draw_polygons = _draw_polygons

_EARTH_RADIUS_M = 6378137.0  # the Web Mercator sphere


def _nice_length(metres: float) -> float:
    """The largest 1, 2 or 5 × 10^n metres not above ``metres``."""
    exponent = 10 ** math.floor(math.log10(max(metres, 1.0)))
    for step in (5, 2, 1):
        if step * exponent <= metres:
            return float(step * exponent)
    return float(exponent)


def add_scale_bar(ax: Any, *, fraction: float = 0.25, fontsize: float = 9) -> float:
    """Draw a scale bar in the lower left of a Web Mercator map; return its ground length (m).

    Web Mercator stretches distances by 1/cos(latitude), so the bar is measured at the
    latitude of the map's centre (a county spans well under a degree: the error across
    it is below 1 %).
    """
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    ax.set_xlim(x0, x1)  # fixed: the bar must not rescale the map it measures
    ax.set_ylim(y0, y1)
    lat = math.atan(math.sinh((y0 + y1) / 2 / _EARTH_RADIUS_M))
    ground_per_unit = math.cos(lat)
    length_m = _nice_length((x1 - x0) * ground_per_unit * fraction)
    span = length_m / ground_per_unit
    left, base = x0 + 0.04 * (x1 - x0), y0 + 0.04 * (y1 - y0)
    height = 0.012 * (y1 - y0)
    for i, colour in enumerate(("#252525", "#ffffff", "#252525", "#ffffff")):
        ax.add_patch(_rect(left + i * span / 4, base, span / 4, height, colour))
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    font = FontProperties(family=font_families(), size=fontsize)
    ax.text(left, base + 1.6 * height, "0", fontproperties=font, ha="center", zorder=6)
    ax.text(left + span, base + 1.6 * height, label, fontproperties=font, ha="center", zorder=6)
    return length_m


def _rect(x: float, y: float, w: float, h: float, colour: str) -> Rectangle:
    return Rectangle((x, y), w, h, facecolor=colour, edgecolor="#252525", linewidth=0.6, zorder=6)


def add_north_arrow(ax: Any, *, fontsize: float = 11) -> None:
    """Draw a north arrow in the upper right of the map (Web Mercator: north is up)."""
    ax.annotate(
        "N",
        xy=(0.95, 0.97),
        xytext=(0.95, 0.87),
        xycoords="axes fraction",
        textcoords="axes fraction",
        ha="center",
        va="center",
        fontproperties=FontProperties(family=font_families(), size=fontsize, weight="bold"),
        arrowprops={"facecolor": "#252525", "edgecolor": "#252525", "width": 3, "headwidth": 9},
        zorder=6,
    )


def _unit_geometries(engine: Engine, level: str, ids: Sequence[str]) -> dict[str, Any]:
    if level.startswith("h3:"):
        return {u: h3_polygon(u) for u in ids}
    if level == "grid":
        grid_ids, geoms = grid_geometries(engine)
        return dict(zip(grid_ids, geoms, strict=True))
    with engine.connect() as conn:
        rows = conn.execute(select(Area.area_code, Area.geom).where(Area.level == level)).all()
    return {code: geom for code, geom in rows if geom is not None}


def _classify(values: np.ndarray, method: str, k: int) -> tuple[np.ndarray, list[float]]:
    """Class of each value and the upper bounds of the classes."""
    if method not in _CLASSIFIERS:
        raise ValueError(f"classification must be one of {', '.join(_CLASSIFIERS)}")
    distinct = len(np.unique(values))
    k = max(1, min(k, distinct))
    if distinct <= 1:
        return np.zeros(len(values), dtype=int), [float(values.max())]
    classifier = _CLASSIFIERS[method](values, k=k)
    return np.asarray(classifier.yb, dtype=int), [float(b) for b in classifier.bins]


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _choropleth(
    ax: Any,
    geoms: list[Any],
    values: list[float | None],
    suppressed: list[bool],
    method: str,
    k: int,
    cmap_name: str,
) -> list[Patch]:
    """Draw classed polygons; return the legend handles (class breaks first)."""
    shown = [i for i, v in enumerate(values) if v is not None and not suppressed[i]]
    handles: list[Patch] = []
    colours: list[Any] = [_NO_DATA] * len(geoms)
    if shown:
        data = np.array([values[i] for i in shown], dtype=float)
        classes, bins = _classify(data, method, k)
        cmap = colormaps[cmap_name]
        # Start a little into the ramp: its first colour is nearly the white background.
        palette = [cmap(0.15 + 0.85 * j / max(len(bins) - 1, 1)) for j in range(len(bins))]
        for i, cls in zip(shown, classes, strict=True):
            colours[i] = palette[cls]
        lower = float(data.min())
        for j, upper in enumerate(bins):
            handles.append(Patch(facecolor=palette[j], label=f"{_fmt(lower)} – {_fmt(upper)}"))
            lower = upper
    hidden = [i for i, s in enumerate(suppressed) if s]
    visible = [i for i in range(len(geoms)) if i not in set(hidden)]
    _draw_polygons(ax, [geoms[i] for i in visible], [colours[i] for i in visible])
    if hidden:
        _draw_polygons(
            ax,
            [geoms[i] for i in hidden],
            [_SUPPRESSED] * len(hidden),
            edgecolor="#969696",
            hatch="///",
        )
        handles.append(Patch(facecolor=_SUPPRESSED, hatch="///", label="suppressed (n < 10)"))
    if any(v is None for i, v in enumerate(values) if not suppressed[i]):
        handles.append(Patch(facecolor=_NO_DATA, edgecolor="#969696", label="no data"))
    return handles


def render_png(
    engine: Engine,
    layer: str,
    *,
    indicator: str | None = None,
    period: dt.date | None = None,
    width: int = 1200,
    height: int = 900,
    classification: Classification = "quantiles",
    k: int = 5,
    level: str | None = None,
    hour: int | None = None,
    title: str | None = None,
) -> bytes:
    """A static map of the whole county for ``layer``, as PNG bytes.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    layer : str
        A tile layer: an indicator layer (``indicator`` required; ``indicators`` is drawn
        at ``level``, default ``h3:8``), ``hotspots`` (``indicator`` required),
        ``mobility``, ``facilities`` or ``boundaries``.
    indicator : str, optional
        Indicator to map.
    period : datetime.date, optional
        Built period (indicator layers) or the window's last day (``mobility``).
    width, height : int
        Image size in pixels.
    classification : {"quantiles", "natural_breaks", "equal_interval"}
        mapclassify scheme of the class breaks (choropleths).
    k : int
        Number of classes (fewer when there are fewer distinct values).
    level : str, optional
        ``indicators``: H3 level; ``hotspots``: ``h3:8`` or ``grid``.
    hour : int, optional
        ``mobility``: local hour of day.
    title : str, optional
        Replaces the generated title.

    Returns
    -------
    bytes
        The PNG image.
    """
    spec = get_layer(layer)
    if classification not in _CLASSIFIERS:
        raise ValueError(f"classification must be one of {', '.join(_CLASSIFIERS)}")
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.02, 0.74, 0.88))
    ax.set_axis_off()
    ax.set_aspect("equal")
    if layer in _LEVEL_OF_LAYER:
        handles, subtitle = _indicator_map(
            engine, ax, layer, indicator, period, level, classification, k
        )
    elif layer == "hotspots":
        handles, subtitle = _hotspot_map(engine, ax, indicator, level)
    elif layer == "mobility":
        params = normalise_params(spec, {"period": period, "hour": hour})
        ctx = TileContext(engine, spec, 0, 0, 0, params, data_version(engine))
        handles, subtitle = _mobility_map(ctx, ax, classification, k)
    elif layer == "facilities":
        handles, subtitle = _facility_map(engine, ax)
    elif layer == "boundaries":
        handles, subtitle = [], "towns and county"
    else:
        raise ValueError(f"no static map for layer {layer!r}")

    _draw_boundaries(engine, ax)
    ax.autoscale_view()
    family = font_families()
    fig.suptitle(
        title or subtitle or spec.description, fontsize=15, x=0.02, ha="left", family=family
    )
    note = spec.description
    if layer in _LEVEL_OF_LAYER or layer == "mobility":
        note += f" · classes: {classification.replace('_', ' ')}, k={k}"
    fig.text(0.02, 0.915, note, fontsize=10, color="#555555", family=family)
    if ax.has_data():
        add_scale_bar(ax)
        add_north_arrow(ax)
    if handles:
        fig.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0.77, 0.88),
            frameon=False,
            prop=FontProperties(family=family, size=10),
            title="classes" if layer != "hotspots" else None,
            title_fontproperties=FontProperties(family=family, size=10),
        )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, facecolor="white")
    return buffer.getvalue()


def _indicator_map(
    engine: Engine,
    ax: Any,
    layer: str,
    indicator: str | None,
    period: dt.date | None,
    level: str | None,
    classification: str,
    k: int,
) -> tuple[list[Patch], str]:
    if indicator is None:
        raise ValueError(f"{layer} needs an indicator")
    unit_level = level or _LEVEL_OF_LAYER[layer]
    frame = indicator_values(engine, unit_level, period=period, indicator=indicator)
    when = period or current_build(engine)["as_of"]
    geoms_of = _unit_geometries(engine, unit_level, frame["unit_id"].astype(str).tolist())
    rows = [r for r in frame.to_dict("records") if str(r["unit_id"]) in geoms_of]
    geoms = list(to_mercator(np.array([geoms_of[str(r["unit_id"])] for r in rows], dtype=object)))
    # NaN (not equal to itself) is how pandas hands back a NULL value.
    values = [None if r["value"] is None or r["value"] != r["value"] else r["value"] for r in rows]
    suppressed = [bool(r["suppressed"]) for r in rows]
    handles = _choropleth(ax, geoms, values, suppressed, classification, k, "YlOrRd")
    return handles, f"{indicator} by {unit_level}, {when}"


def _hotspot_map(
    engine: Engine, ax: Any, indicator: str | None, level: str | None
) -> tuple[list[Patch], str]:
    if indicator is None:
        raise ValueError("hotspots needs an indicator")
    unit_level = level or "h3:8"
    frame = hotspot_results(engine, indicator, unit_level)
    geoms_of = _unit_geometries(engine, unit_level, frame["unit_id"].astype(str).tolist())
    rows = [r for r in frame.to_dict("records") if str(r["unit_id"]) in geoms_of]
    geoms = list(to_mercator(np.array([geoms_of[str(r["unit_id"])] for r in rows], dtype=object)))
    colours = [_HOTSPOT_COLOURS.get(str(r["hotspot_class"]), _NO_DATA) for r in rows]
    _draw_polygons(ax, geoms, colours)
    handles = [
        Patch(facecolor=colour, edgecolor="#969696", label=f"{name} spot")
        for name, colour in _HOTSPOT_COLOURS.items()
    ]
    return handles, f"Gi* hotspots of {indicator} by {unit_level}"


def _mobility_map(
    ctx: TileContext, ax: Any, classification: str, k: int
) -> tuple[list[Patch], str]:
    source = MobilitySource()
    window = source.window(ctx)
    if window is None:
        return [], "no mobility data"
    frame = source.means(ctx, window)
    ids = frame["unit_id"].astype(str).tolist()
    geoms = list(to_mercator(np.array([h3_polygon(c) for c in ids], dtype=object)))
    means: list[float | None] = [float(v) for v in frame["mean_count"]]
    handles = _choropleth(ax, geoms, means, [False] * len(ids), classification, k, "PuBu")
    hour = window["hour"]
    when = f"{window['start']} to {window['end']}" + (f", {hour}:00" if hour is not None else "")
    return handles, f"mean people per hour, {when}"


def _facility_map(engine: Engine, ax: Any) -> tuple[list[Patch], str]:
    with engine.connect() as conn:
        points = conn.execute(select(Facility.type, Facility.lng, Facility.lat)).all()
    kinds = sorted({p[0] for p in points})
    cmap = colormaps["tab10"]
    handles = []
    for j, kind in enumerate(kinds):
        xy = np.array([(p[1], p[2]) for p in points if p[0] == kind], dtype=float)
        merc = to_mercator(shapely.points(xy))
        colour = cmap(j % 10)
        ax.scatter(shapely.get_x(merc), shapely.get_y(merc), s=14, color=colour, zorder=4)
        handles.append(Patch(facecolor=colour, label=kind))
    return handles, "health facilities by type"


def _draw_boundaries(engine: Engine, ax: Any) -> None:
    """Town outlines (and the county's, heavier) over whatever was drawn."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Area.level, Area.geom).where(Area.level.in_(("county", "town")))
        ).all()
    for kind, width in (("town", 0.8), ("county", 1.6)):
        geoms = [g for lv, g in rows if lv == kind and g is not None]
        if geoms:
            merc = to_mercator(np.array(geoms, dtype=object))
            _draw_polygons(
                ax,
                list(merc),
                ["none"] * len(geoms),
                edgecolor="#252525",
                linewidth=width,
                zorder=3,
            )
