"""The bureau's web map in real headless Chromium (Playwright, /usr/bin/chromium).

One walk through the page, as a person would: log in, see hexagons and a legend, switch
layers and months (the picture changes), click a cell (the side panel shows the API's
numbers), search a village. Throughout: no console error, no uncaught exception, and not a
single request to any host but the server.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
from browser_helpers import api_token, log_in, watched_page
from PIL import Image, ImageChops

from geo.suppression import SUPPRESSION_REASON_TERMS
from geo.vocabulary import (
    CHANGE_FLAG_TERMS,
    CLASSIFICATION_TERMS,
    COLOUR_TERMS,
    DISEASE_TERMS,
    FACILITY_TYPE_TERMS,
    HOTSPOT_CLASS_TERMS,
    HOTSPOT_INDICATOR_TERMS,
    LEVEL_TERMS,
    ROLE_TERMS,
    TASK_TERMS,
)

pytestmark = pytest.mark.browser

#: Colours of the map that are not data: the background and the county's white fill.
BACKGROUND = [(0xEE, 0xF0, 0xF2), (0xFF, 0xFF, 0xFF)]


def painted_share(png: bytes) -> float:
    """Share of the pixels that are neither background nor the county's white base."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    px = np.asarray(img, dtype=np.int16).reshape(-1, 3)
    plain = np.zeros(len(px), dtype=bool)
    for bg in BACKGROUND:
        plain |= np.abs(px - np.array(bg, dtype=np.int16)).sum(axis=1) < 24
    return float((~plain).mean())


def changed_share(a: bytes, b: bytes) -> float:
    ia = Image.open(io.BytesIO(a)).convert("RGB")
    ib = Image.open(io.BytesIO(b)).convert("RGB").resize(ia.size)
    diff = ImageChops.difference(ia, ib).convert("L").point(lambda v: 255 if v > 20 else 0)
    histogram = diff.histogram()
    return histogram[255] / (ia.size[0] * ia.size[1])


def wait_drawn(page: Any) -> None:
    """Until MapLibre has every tile of the view and nothing left to draw."""
    page.wait_for_function(
        """() => {
            const hm = window.healthmap;
            return hm && hm.ready && hm.map.loaded() && hm.map.areTilesLoaded()
                && !hm.map.isMoving();
        }""",
        timeout=30_000,
    )
    page.wait_for_timeout(300)  # the last frame reaches the canvas


def map_shot(page: Any) -> bytes:
    return page.locator("#map canvas").screenshot()


#: Finds a rendered, unsuppressed unit of the choropleth and its pixel position.
FIND_CELL = """() => {
    const map = window.healthmap.map;
    const canvas = map.getCanvas();
    const w = canvas.clientWidth, h = canvas.clientHeight;
    for (let step = 60; step >= 10; step = Math.floor(step / 2)) {
        for (let y = step; y < h - step; y += step) {
            for (let x = step; x < w - step; x += step) {
                const f = map.queryRenderedFeatures([x, y], {layers: ["choro-fill"]})[0];
                if (f && f.properties.unit_id && f.properties.value !== undefined
                    && !f.properties.suppressed) {
                    return {x, y, unit_id: f.properties.unit_id, level: f.properties.level};
                }
            }
        }
    }
    return null;
}"""


def format_value(scale: float, value: float | None) -> str:
    """What the side panel shows for a value (frontend/src/map/format.ts formatValue)."""
    if value is None:
        return "—"
    return f"{value * 100:.1f}%" if scale == 1 else f"{value:.2f}"


def format_count(v: float | None) -> str:
    """What the side panel shows for a numerator or denominator (formatCount)."""
    if v is None:
        return "—"
    return str(round(v)) if abs(v - round(v)) < 1e-9 else f"{v:.1f}"


def test_web_map(server: str, browser: Any) -> None:
    viewport = {"width": 1280, "height": 820}
    with watched_page(browser, server, viewport=viewport, locale="zh-CN") as page:
        _walk(page, server)


def _walk(page: Any, server: str) -> None:
    page.goto(f"{server}/")
    log_in(page, "bureau")
    page.wait_for_selector("#app:not(.hidden)")
    page.wait_for_selector("#legend .legend-row")

    # -- hexagons and a legend ------------------------------------------------------------
    wait_drawn(page)
    hexagons = map_shot(page)
    assert painted_share(hexagons) > 0.05, "the map shows no data"
    assert page.locator("#legend .legend-row").count() >= 3
    assert page.locator("input[name=choro][value=indicators]").is_checked()
    # Role and level names are the vocabulary's labels (common/vocabulary.ts), never codes.
    roles = {t.code: t for t in ROLE_TERMS}
    assert roles["bureau"].zh in page.locator("#user").inner_text()
    levels = {t.code: t for t in LEVEL_TERMS}
    title = page.locator("#legend .legend-title").first.inner_text()
    assert any(levels[c].zh in title for c in levels)

    # -- another layer changes the picture -------------------------------------------------
    page.check("input[name=choro][value=town_indicators]")
    page.wait_for_function("() => window.healthmap.state.choro === 'town_indicators'")
    wait_drawn(page)
    towns = map_shot(page)
    assert painted_share(towns) > 0.05
    assert changed_share(hexagons, towns) > 0.02, "switching layers changed nothing"

    # -- another month: that month's tiles, values and legend -------------------------------
    # Not a pixel difference: with a county's years of care history the month-to-month
    # rates are nearly flat and most units keep their class, so the picture may hardly
    # change. What must change is what is drawn: the tiles asked for, the values on screen
    # and the legend's month.
    page.check("input[name=choro][value=indicators]")
    wait_drawn(page)
    before = page.evaluate("() => window.healthmap.state.period")
    oldest = page.evaluate("() => window.healthmap.state.meta.periods[0]")
    indicator = page.evaluate("() => window.healthmap.state.indicator")
    assert oldest < before, (oldest, before)
    tile_requests: list[str] = []

    def on_request(req: Any) -> None:
        if "/tiles/indicators/" in req.url and ".mvt" in req.url:
            tile_requests.append(req.url)

    page.context.on("request", on_request)  # the context sees MapLibre's worker too
    page.focus("#month")
    page.keyboard.press("Home")  # the oldest built month
    page.wait_for_function(f"() => window.healthmap.state.period === '{oldest}'")
    page.wait_for_function(
        "m => document.querySelector('#legend .legend-title').textContent.includes(m)",
        arg=oldest[:7],
    )
    wait_drawn(page)
    page.context.remove_listener("request", on_request)
    assert painted_share(map_shot(page)) > 0.05, "the older month shows no data"
    assert page.locator("#month-label").inner_text() == oldest[:7]
    assert oldest[:7] in page.locator("#legend .legend-title").first.inner_text()
    assert f"month={oldest}" in page.evaluate("() => location.hash")
    # Every tile fetched since the switch is the new month's, for the same indicator.
    assert tile_requests, "switching months fetched no tiles"
    for url in tile_requests:
        q = parse_qs(urlsplit(url).query)
        assert q.get("period") == [oldest] and q.get("indicator") == [indicator], url
    # What is on screen is the new month's: the features' period, and each unit's value
    # exactly the API's for that month (which differs from the latest month's somewhere).
    drawn = page.evaluate(
        """() => window.healthmap.map.queryRenderedFeatures({layers: ["choro-fill"]})
            .map(f => ({unit_id: f.properties.unit_id, level: f.properties.level,
                        period: f.properties.period, value: f.properties.value ?? null,
                        suppressed: Boolean(f.properties.suppressed)}))"""
    )
    assert drawn, "nothing drawn after switching months"
    assert {f["period"] for f in drawn} == {oldest}
    drawn_level = {f["level"] for f in drawn}
    assert len(drawn_level) == 1, drawn_level
    token = api_token(server, "bureau")

    def values_at(period: str) -> dict[str, float | None]:
        rows: dict[str, float | None] = {}
        for offset in range(0, 1_000_000, 5000):
            r = httpx.get(
                f"{server}/api/v1/indicators",
                params={
                    "level": next(iter(drawn_level)),
                    "period": period,
                    "indicator": indicator,
                    "limit": 5000,
                    "offset": offset,
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            rows.update({i["unit_id"]: None if i["suppressed"] else i["value"] for i in items})
            if len(items) < 5000:
                return rows
        raise AssertionError("too many rows")

    then, now = values_at(oldest), values_at(before)
    shown = {
        f["unit_id"]: f["value"] for f in drawn if not f["suppressed"] and f["value"] is not None
    }
    assert shown, "no unsuppressed unit on screen"
    for unit, value in shown.items():
        assert then.get(unit) is not None, (unit, value)
        assert value == pytest.approx(then[unit]), (unit, value, then[unit], now.get(unit))
    assert any(now.get(u) != pytest.approx(then[u]) for u in shown), (
        "the sample county's two months are identical on screen: the check proves nothing"
    )

    # -- click a cell: the side panel shows the API's numbers ------------------------------
    page.focus("#month")
    page.keyboard.press("End")  # back to the as-of month
    page.wait_for_function(f"() => window.healthmap.state.period === '{before}'")
    wait_drawn(page)
    cell = page.evaluate(FIND_CELL)
    assert cell, "no unsuppressed cell on screen"
    box = page.locator("#map canvas").bounding_box()
    page.mouse.click(box["x"] + cell["x"], box["y"] + cell["y"])
    page.wait_for_selector("#panel[data-loaded=true]")
    assert page.get_attribute("#panel", "data-unit") == cell["unit_id"]
    level = page.get_attribute("#panel", "data-level")
    assert levels[level].zh in page.locator("#panel-body p.muted").first.inner_text()

    token = api_token(server, "bureau")
    meta = httpx.get(f"{server}/api/v1/meta", headers={"Authorization": f"Bearer {token}"}).json()
    scales = {d["code"]: d["scale"] for d in meta["indicators"]}
    r = httpx.get(
        f"{server}/api/v1/indicators/{level}/{cell['unit_id']}",
        params={"period": before},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    expected = {row["indicator"]: row for row in r.json()["indicators"]}
    rows = page.locator("#panel tr.ind")
    assert rows.count() == len(expected) > 0
    for i in range(rows.count()):
        tr = rows.nth(i)
        code = tr.get_attribute("data-indicator")
        want = expected[code]
        if want["suppressed"]:
            assert tr.locator("td.value").inner_text() == "—"
            reasons = {t.code: t.zh for t in SUPPRESSION_REASON_TERMS}
            if want.get("suppression_reason") in reasons:
                shown = tr.locator("td.counts").inner_text()
                assert shown == reasons[want["suppression_reason"]], code
            continue
        for key in ("numerator", "denominator", "value"):
            shown = tr.get_attribute(f"data-{key}")
            if want[key] is None:
                assert shown == "", (code, key)
            else:
                assert float(shown) == pytest.approx(want[key]), (code, key)
        assert tr.locator("td.value").inner_text() == format_value(scales[code], want["value"])
        counts = f"{format_count(want['numerator'])} / {format_count(want['denominator'])}"
        assert tr.locator("td.counts").inner_text() == counts, code
    # The trend chart has a point per built period with a value.
    assert page.locator("#panel svg.trend").count() == 1
    assert page.locator("#panel svg.trend circle").count() >= 1

    # -- search a place, fly there ---------------------------------------------------------
    page.fill("#search", "村")
    page.wait_for_selector("#search-results:not(.hidden) li")
    hits = page.locator("#search-results li button")
    if hits.count():
        centre = page.evaluate("() => window.healthmap.map.getCenter().toArray().join()")
        hits.first.click()
        page.wait_for_function(
            "c => window.healthmap.map.getCenter().toArray().join() !== c", arg=centre
        )

    # -- English, and the PNG export works under the CSP ----------------------------------
    page.click("#app .lang-toggle")
    assert page.locator("#export-png").inner_text() == "Map image (PNG)"
    assert roles["bureau"].en in page.locator("#user").inner_text()
    with page.expect_download() as download:
        page.click("#export-png")
    assert download.value.suggested_filename.endswith(".png")


#: Hotspot fills (palette.ts HOTSPOT_FILL, #d7301f and #2b8cbe) at opacity 0.8 over white.
HOT_ON_WHITE = (223, 89, 76)
COLD_ON_WHITE = (85, 163, 203)

#: Every code of the vocabulary a page could show raw (snake_case or with a colon: a word
#: like ``hot`` or ``red`` is also English prose and is caught by the Latin-letter check).
RAW_CODES = sorted(
    {
        t.code
        for terms in (
            ROLE_TERMS,
            LEVEL_TERMS,
            FACILITY_TYPE_TERMS,
            HOTSPOT_CLASS_TERMS,
            HOTSPOT_INDICATOR_TERMS,
            TASK_TERMS,
            CLASSIFICATION_TERMS,
            COLOUR_TERMS,
            DISEASE_TERMS,
            CHANGE_FLAG_TERMS,
            SUPPRESSION_REASON_TERMS,
        )
        for t in terms
        if "_" in t.code or ":" in t.code
    }
    | {"p_sim", "class z p q"}
)

#: Visible text of the page (what a person reads), with the map's own controls.
VISIBLE_TEXT = """() => {
    const out = [];
    const walk = (el) => {
        if (el.nodeType === Node.TEXT_NODE) { out.push(el.textContent); return; }
        if (el.nodeType !== Node.ELEMENT_NODE) return;
        const style = getComputedStyle(el);
        if (style.display === "none" || style.visibility === "hidden") return;
        if (el.tagName === "SCRIPT" || el.tagName === "STYLE") return;
        if (el.tagName === "OPTION") { out.push(el.textContent); return; }
        for (const c of el.childNodes) walk(c);
    };
    walk(document.body);
    return out.join(" ");
}"""


def raw_codes_in(text: str) -> list[str]:
    return [code for code in RAW_CODES if code in text]


def _hotspot_counts(server: str, indicator: str, level: str) -> tuple[int, int]:
    token = api_token(server, "bureau")
    r = httpx.get(
        f"{server}/api/v1/hotspots",
        params={"indicator": indicator, "level": level},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    classes = [row["hotspot_class"] for row in r.json()["items"]]
    return classes.count("hot"), classes.count("cold")


def test_bureau_hotspots_names_legends_and_shared_state(server: str, browser: Any) -> None:
    """The bureau's working view: hotspots with their sentence, every overlay's legend, no
    raw code in the Chinese page, the state in the URL, the composed PNG."""
    viewport = {"width": 1280, "height": 820}
    with watched_page(browser, server, viewport=viewport, locale="zh-CN") as page:
        page.goto(f"{server}/")
        log_in(page, "bureau")
        page.wait_for_selector("#legend .legend-row")
        wait_drawn(page)
        # Choose a non-default indicator, then visit the hotspot layer and come back.
        codes = page.evaluate("() => window.healthmap.state.meta.indicators.map(d => d.code)")
        chosen = codes[2]
        page.select_option("#indicator", chosen)
        page.wait_for_function(f"() => window.healthmap.state.indicator === '{chosen}'")
        assert page.locator("#class-box").is_visible()

        page.check("input[name=choro][value=hotspots]")
        page.wait_for_function("() => window.healthmap.state.hotspotSummary !== null")
        wait_drawn(page)
        # Class selectors do not apply to hotspots; the month does not either.
        assert not page.locator("#class-box").is_visible()
        assert not page.locator("#month-box").is_visible()
        state = page.evaluate(
            "() => ({hs: window.healthmap.state.hotspotIndicator,"
            " level: window.healthmap.state.hotspotLevel})"
        )
        hot, cold = _hotspot_counts(server, state["hs"], state["level"])
        note = page.locator("#hotspot-note").inner_text()
        if hot + cold == 0:
            # The sample county planted nothing significant here: the page says why.
            assert "未发现显著" in note and "Getis-Ord Gi*" in note and "0.05" in note
            assert page.locator("#hotspot-note.hotspot-none").count() == 1
        else:
            assert f"热点 {hot} 个" in note and f"冷点 {cold} 个" in note
            shot = map_shot(page)
            img = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), dtype=np.int16)
            px = img.reshape(-1, 3)
            # The hot and cold fills (opacity 0.8) over the county's white base.
            red = (np.abs(px - np.array(HOT_ON_WHITE)).sum(axis=1) < 45).mean()
            blue = (np.abs(px - np.array(COLD_ON_WHITE)).sum(axis=1) < 45).mean()
            assert (red > 0) == (hot > 0) and (blue > 0) == (cold > 0), (hot, cold, red, blue)
            drawn = page.evaluate(
                """() => {
                    const fs = window.healthmap.map.queryRenderedFeatures({layers: ["choro-fill"]});
                    return [...new Set(fs.map(f => f.properties.class))].sort();
                }"""
            )
            assert ("hot" in drawn) == (hot > 0) and ("cold" in drawn) == (cold > 0), drawn
        hash_ = page.evaluate("() => location.hash")
        assert "layer=hotspots" in hash_ and f"indicator={chosen}" in hash_

        page.check("input[name=choro][value=indicators]")
        page.wait_for_function("() => window.healthmap.state.choro === 'indicators'")
        assert page.evaluate("() => window.healthmap.state.indicator") == chosen
        assert page.locator("#indicator").input_value() == chosen

        # Every overlay on: each gets its legend, facility types by name.
        for name in ("facilities", "risk", "alerts"):
            box = page.locator(f"#overlay-layers input[value={name}]")
            if box.count() and not box.is_checked():
                box.check()
        legend = page.locator("#legend").inner_text()
        assert "村卫生室" in legend and "乡镇卫生院" in legend
        assert "预警" in legend and "风险" in legend and "县界" in legend
        wait_drawn(page)
        assert painted_share(map_shot(page)) > 0.05

        # No raw vocabulary code anywhere a person reads (the DOM's visible text).
        text = page.evaluate(VISIBLE_TEXT)
        assert raw_codes_in(text) == [], raw_codes_in(text)

        # The view is shareable: a new page on the same URL shows the same state.
        url = page.url
        assert "overlays=" in url and "facilities" in url
        page.goto(url)
        page.wait_for_selector("#legend .legend-row")
        assert page.evaluate("() => window.healthmap.state.indicator") == chosen

        # The PNG is composed: larger than the bare map, with a white title band.
        wait_drawn(page)
        with page.expect_download() as download:
            page.click("#export-png")
        png = Path(download.value.path()).read_bytes()
        img = Image.open(io.BytesIO(png)).convert("RGB")
        canvas = page.locator("#map canvas").bounding_box()
        assert img.size[0] > canvas["width"] and img.size[1] > canvas["height"]
        band = np.asarray(img.crop((0, 0, img.size[0], 50)), dtype=np.int16)
        assert (band.sum(axis=2) < 300).mean() > 0.002, "no title drawn"
        assert painted_share(png) > 0.05


def test_hotspot_layer_explains_a_county_with_nothing_significant(
    server: str, browser: Any
) -> None:
    """A uniform county (every unit 'none', as the API answers for one): the page says why
    the layer is grey, with the test's settings, instead of showing an empty map."""
    with watched_page(browser, server, locale="zh-CN") as page:

        def uniform(route: Any) -> None:
            # The real answer with every class 'none': what a county without any
            # significant cluster returns.
            body = route.fetch().json()
            for row in body["items"]:
                row["hotspot_class"] = "none"
            route.fulfill(json=body)

        page.route(re.compile(r"/api/v1/hotspots\?"), uniform)
        page.goto(f"{server}/")
        log_in(page, "bureau")
        page.wait_for_selector("#legend .legend-row")
        page.check("input[name=choro][value=hotspots]")
        page.wait_for_function("() => window.healthmap.state.hotspotSummary !== null")
        summary = page.evaluate("() => window.healthmap.state.hotspotSummary")
        assert summary["hot"] == 0 and summary["cold"] == 0
        note = page.locator("#hotspot-note").inner_text()
        assert "未发现显著" in note and "Getis-Ord Gi*" in note and "0.05" in note, note
        assert page.locator("#hotspot-note.hotspot-none").count() == 1
        assert raw_codes_in(page.locator("body").inner_text()) == []
