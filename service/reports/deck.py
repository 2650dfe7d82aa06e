"""The coverage map with pydeck: a ``Deck`` for notebooks and one self-contained HTML file.

:func:`coverage_deck` builds the layers — the travel-time cells as an ``H3HexagonLayer``
(deck.gl computes the hexagons from the H3 index), the catchments and town outlines as
``GeoJsonLayer``, candidate and chosen sites and the sub-centre as ``ScatterplotLayer`` —
on no basemap: the intranet PC it is handed to has no internet, and a basemap would be
tiles from a public server. The town outlines stand in for the basemap.

:func:`html_text` is ``Deck.to_html(offline=True)`` (deck.gl's bundle inlined), then
cleaned: pydeck's template still adds ``<script>``/``<link>`` tags to CDNs (mapbox-gl,
bootstrap, font-awesome, maplibre's CSS, the deck.gl widgets' CSS) which are removed; a
Content-Security-Policy ``<meta>`` then forbids the page any request (``connect-src``,
``img-src``, ``font-src`` only ``data:``/``blob:``), so a default of the bundle that would
reach out (a CARTO style) fails closed; a title, a legend and the methods line are added.
:func:`assert_offline` is the check that nothing external is left; the acceptance test
opens the file in Chromium with every request blocked and recorded.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from service.reports.maps import COLOURS, TIME_COLUMN, cell_colours, class_labels
from service.reports.tables import ReportData

if TYPE_CHECKING:
    import pydeck

    from pipelines.coverage import CoverageResult

_EXTERNAL_TAG = re.compile(
    r"""<script\b[^>]*\bsrc=["']?(?:https?:)?//[^>]*>\s*</script>\s*"""
    r"""|<link\b[^>]*\bhref=["']?(?:https?:)?//[^>]*>\s*""",
    re.IGNORECASE,
)
_ANY_EXTERNAL_ATTR = re.compile(
    r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//""", re.I
)

CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
    "connect-src data: blob:; worker-src blob:"
)


def _rgb(colour: str, alpha: int = 200) -> list[int]:
    colour = colour.lstrip("#")
    return [int(colour[i : i + 2], 16) for i in (0, 2, 4)] + [alpha]


def _fmt_minutes(value: float) -> str:
    return "—" if not np.isfinite(value) else f"{value:.1f}"


def _cell_records(data: ReportData) -> list[dict[str, Any]]:
    cells = data.layers["travel_time_cells"]
    minutes = cells[TIME_COLUMN].to_numpy(dtype=float)
    records = []
    for h3, town, pop, m, colour in zip(
        cells["h3"],
        cells["town_code"],
        cells["population"],
        minutes,
        cell_colours(minutes),
        strict=True,
    ):
        people = f"<{data.k}" if pop != pop else f"{pop:,.0f}"  # NaN: withheld
        records.append(
            {
                "h3": str(h3),
                "color": _rgb(colour),
                "tip": f"{data.town_names.get(str(town), str(town))} · 人口 {people} · "
                f"步行至村卫生室 {_fmt_minutes(m)} 分钟",
            }
        )
    return records


def _outline_features(data: ReportData) -> dict[str, Any]:
    cells = data.layers["travel_time_cells"]
    features = []
    for code, group in cells.groupby(cells["town_code"].astype(str)):
        outline = shapely.union_all(np.asarray(group.geometry.values))
        features.append(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(outline),
                "properties": {"tip": data.town_names.get(code, code)},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _point_records(frame: Any, label: str) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    out = []
    for row in frame.itertuples(index=False):
        tip = f"{label}：{getattr(row, 'name', '')}"
        newly = getattr(row, "newly_covered", None)
        if newly is not None:
            tip += " · 新增覆盖 " + ("—" if newly != newly else f"{newly:,.0f}") + " 人"
        out.append({"lng": float(row.lng), "lat": float(row.lat), "tip": tip})
    return out


def deck_from_data(data: ReportData) -> pydeck.Deck:
    """The pydeck ``Deck`` of a prepared report (see :func:`coverage_deck`)."""
    import pydeck as pdk

    layers = [
        pdk.Layer(
            "H3HexagonLayer",
            _cell_records(data),
            id="travel_time_cells",
            get_hexagon="h3",
            get_fill_color="color",
            extruded=False,
            stroked=False,
            pickable=True,
        ),
        pdk.Layer(
            "GeoJsonLayer",
            _outline_features(data),
            id="towns",
            stroked=True,
            filled=False,
            get_line_color=[37, 37, 37, 255],
            line_width_min_pixels=1.5,
            pickable=False,
        ),
    ]
    catchments = data.layers.get("catchments")
    if catchments is not None and not catchments.empty:
        clinics = catchments
        if "group" in catchments.columns:
            clinics = catchments[catchments["group"] == "village_clinic"]
        clinics = clinics[["name", "geometry"]].assign(
            tip=clinics["name"].astype(str) + " 服务范围"
        )
        layers.append(
            pdk.Layer(
                "GeoJsonLayer",
                clinics.__geo_interface__,
                id="catchments",
                stroked=True,
                filled=False,
                get_line_color=[82, 82, 82, 160],
                line_width_min_pixels=0.5,
                pickable=False,
            )
        )
    candidates = data.layers.get("candidate_sites")
    if candidates is not None and "chosen" in candidates.columns:
        candidates = candidates[~candidates["chosen"].astype(bool)]
    for layer_id, frame, label, colour, radius in (
        ("candidate_sites", candidates, "候选点", [99, 99, 99, 220], 3),
        ("chosen_sites", data.layers.get("chosen_sites"), "新增村卫生室", [178, 24, 43, 255], 8),
        ("sub_centre", data.layers.get("sub_centre"), "县域医疗服务次中心", [33, 102, 172, 255], 9),
    ):
        records = _point_records(frame, label)
        if records:
            layers.append(
                pdk.Layer(
                    "ScatterplotLayer",
                    records,
                    id=layer_id,
                    get_position=["lng", "lat"],
                    get_fill_color=colour,
                    get_line_color=[255, 255, 255, 255],
                    stroked=True,
                    line_width_min_pixels=1,
                    radius_min_pixels=radius,
                    radius_max_pixels=radius * 2,
                    pickable=True,
                )
            )
    cells = data.layers["travel_time_cells"]
    if len(cells):
        minx, miny, maxx, maxy = cells.total_bounds
        span = max(maxx - minx, (maxy - miny) * 1.3, 1e-3)
        zoom = float(np.clip(np.log2(360.0 / span) - 0.6, 1, 16))
        view = pdk.ViewState(latitude=(miny + maxy) / 2, longitude=(minx + maxx) / 2, zoom=zoom)
    else:
        view = pdk.ViewState(latitude=0, longitude=0, zoom=1)
    return pdk.Deck(
        layers=layers,
        initial_view_state=view,
        map_provider=None,
        map_style=None,
        tooltip={"text": "{tip}"},
    )


def coverage_deck(
    result: CoverageResult, *, town: str | None = None, k: int | None = None
) -> pydeck.Deck:
    """The coverage map of a computation as a pydeck ``Deck`` (for notebooks).

    Parameters
    ----------
    result : pipelines.coverage.CoverageResult
        One coverage computation (``pipelines.coverage.compute_coverage``).
    town : str, optional
        Only this town's cells and sites.
    k : int, optional
        Small-number threshold for the tooltips' populations (default: the result's).

    Returns
    -------
    pydeck.Deck
        Travel-time H3 cells, town outlines, catchments, candidate and chosen sites, on
        no basemap. In Jupyter, ``deck.show()``; ``html_text`` writes the offline file.

    Examples
    --------
    >>> from pipelines.coverage import compute_coverage  # doctest: +SKIP
    >>> deck = coverage_deck(compute_coverage(engine, config))  # doctest: +SKIP
    """
    from service.reports.tables import prepare

    return deck_from_data(prepare(result, town=town, k=k))


def _legend(data: ReportData) -> str:
    rows = "".join(
        f'<div><span class="sw" style="background:{c}"></span>{html.escape(lbl)}</div>'
        for c, lbl in zip(COLOURS, class_labels(), strict=True)
    )
    methods = dict(data.methods)
    note = f"数据截至 {methods.get('数据截至', '—')} · {methods.get('出行模型', '')}"
    return (
        '<div id="hm-legend"><h1>' + html.escape(data.title) + "</h1>"
        "<h2>步行至最近村卫生室时间</h2>"
        + rows
        + '<div><span class="sw star"></span>新增村卫生室（选址）</div>'
        + '<div><span class="sw sub"></span>县域医疗服务次中心</div>'
        + f"<p>{html.escape(note)}</p></div>"
    )


_LEGEND_CSS = """
#hm-legend{position:absolute;z-index:10;top:10px;left:10px;max-width:320px;padding:8px 12px;
background:rgba(255,255,255,.92);
font:12px "Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;
border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3)}
#hm-legend h1{font-size:14px;margin:0 0 4px}#hm-legend h2{font-size:12px;margin:4px 0}
#hm-legend p{margin:6px 0 0;color:#555}
#hm-legend .sw{display:inline-block;width:14px;height:10px;margin-right:6px;vertical-align:middle}
#hm-legend .star{background:#b2182b;border-radius:50%}
#hm-legend .sub{background:#2166ac;border-radius:50%}
body{background:#f7f7f7}
"""


def assert_offline(text: str) -> None:
    """Raise ``ValueError`` if the page still links anything outside itself."""
    found = _ANY_EXTERNAL_ATTR.search(text)
    if found:
        raise ValueError(f"the HTML still loads an external resource: {found.group(0)[:120]}")


def html_text(data: ReportData) -> str:
    """One self-contained HTML page of the coverage map (no server, no internet)."""
    deck = deck_from_data(data)
    page = str(deck.to_html(as_string=True, offline=True, notebook_display=False))
    page = _EXTERNAL_TAG.sub("", page)
    head = (
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f"    <title>{html.escape(data.title)}</title>"
    )
    page = page.replace("<title>pydeck</title>", head, 1)
    page = page.replace("</style>", _LEGEND_CSS + "</style>", 1)
    page = page.replace('<div id="deck-container">', _legend(data) + '<div id="deck-container">', 1)
    page = page.replace("<html>", '<html lang="zh-CN">', 1)
    assert_offline(page)
    return page
