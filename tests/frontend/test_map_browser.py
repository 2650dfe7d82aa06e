"""The bureau's web map in real headless Chromium (Playwright, /usr/bin/chromium).

One walk through the page, as a person would: log in, see hexagons and a legend, switch
layers and months (the picture changes), click a cell (the side panel shows the API's
numbers), search a village. Throughout: no console error, no uncaught exception, and not a
single request to any host but the server.
"""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pytest
from browser_helpers import api_token, log_in, watched_page
from PIL import Image, ImageChops

from geo.suppression import SUPPRESSION_REASON_TERMS
from geo.vocabulary import LEVEL_TERMS, ROLE_TERMS

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
    """What the side panel shows for a value (frontend/src/map/main.ts formatValue)."""
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
    assert any(levels[c].zh in page.locator("#legend .legend-title").inner_text() for c in levels)

    # -- another layer changes the picture -------------------------------------------------
    page.check("input[name=choro][value=town_indicators]")
    page.wait_for_function("() => window.healthmap.state.choro === 'town_indicators'")
    wait_drawn(page)
    towns = map_shot(page)
    assert painted_share(towns) > 0.05
    assert changed_share(hexagons, towns) > 0.02, "switching layers changed nothing"

    # -- another month changes the picture -------------------------------------------------
    page.check("input[name=choro][value=indicators]")
    wait_drawn(page)
    latest = map_shot(page)
    before = page.evaluate("() => window.healthmap.state.period")
    page.focus("#month")
    page.keyboard.press("Home")  # the oldest built month
    page.wait_for_function(f"() => window.healthmap.state.period !== '{before}'")
    wait_drawn(page)
    oldest = map_shot(page)
    assert changed_share(latest, oldest) > 0.005, "switching months changed nothing"
    assert page.locator("#month-label").inner_text() == page.evaluate(
        "() => window.healthmap.state.period.slice(0, 7)"
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
