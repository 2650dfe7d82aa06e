"""The chronic-disease centre's console (/c/) in real headless Chromium, on the demo county.

The demo centre logs in, sees its township's teams and grids (the API's, nothing else),
the grid map drawn (a screenshot with non-background pixels), opens a team's list
(masked), unmasks it with a reason, opens a grid's health-index trend, and switches to
English. No raw code of the vocabulary in the Chinese page text; no request leaves the
server; a centre account opening the phone page is sent here.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_helpers import AS_OF, api_token, log_in, watched_page
from PIL import Image

pytestmark = pytest.mark.browser

VOCABULARY_TS = Path(__file__).resolve().parents[2] / "frontend/src/common/vocabulary.ts"


def vocabulary_codes() -> list[str]:
    """Every code of frontend/src/common/vocabulary.ts: record keys and list items."""
    text = VOCABULARY_TS.read_text(encoding="utf-8")
    keys = re.findall(r'^\s+"([^"]+)": \{', text, flags=re.M)
    items = [
        c
        for block in re.findall(r"= \[([^\]]*)\] as const", text)
        for c in re.findall(r'"([^"]+)"', block)
    ]
    singles = re.findall(r'^export const \w+_ROLE = "([^"]+)";', text, flags=re.M)
    return sorted(set(keys) | set(items) | set(singles))


#: Codes found as words in the page's visible text (the same test as the phone page's).
FIND_CODES = """codes => {
    const text = document.body.innerText;
    const esc = c => c.replace(/[.*+?^${}()|[\\]\\\\]/g, '\\\\$&');
    return codes.filter(c => new RegExp(`(^|[^A-Za-z0-9_])${esc(c)}($|[^A-Za-z0-9_])`).test(text));
}"""


def drawn_pixels(png: bytes, background: tuple[int, int, int] = (0xEE, 0xF0, 0xF2)) -> int:
    """Pixels of a screenshot that differ from the map's background colour."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    bg = background
    return sum(
        1
        for px in image.getdata()
        if abs(px[0] - bg[0]) + abs(px[1] - bg[1]) + abs(px[2] - bg[2]) > 24
    )


def _api(server: str, path: str, **params: Any) -> Any:
    token = api_token(server, "chronic_center")
    r = httpx.get(
        f"{server}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    r.raise_for_status()
    return r.json()


def test_codes_of_the_vocabulary_are_found() -> None:
    codes = vocabulary_codes()
    assert {"htn", "emergency_reading", "chronic_center", "up", "none", "h3:8"} <= set(codes)


def test_centre_console(server: str, browser: Any) -> None:
    options = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN"}
    with watched_page(browser, server, **options) as page:
        page.goto(f"{server}/c/?date={AS_OF}")
        log_in(page, "chronic_center")
        page.wait_for_selector("#teams tbody tr")
        page.wait_for_selector("#grids tbody tr")

        # -- its teams and grids: the API's, for its township --------------------------------
        teams = _api(server, "/api/v1/console/teams", date=AS_OF)
        grids = _api(server, "/api/v1/console/grids")
        shown_teams = page.eval_on_selector_all(
            "#teams tbody tr", "rows => rows.map(r => r.dataset.team)"
        )
        assert shown_teams == [t["team_id"] for t in teams["teams"]] and shown_teams
        shown_grids = page.eval_on_selector_all(
            "#grids tr.grid-head", "rows => rows.map(r => r.dataset.grid)"
        )
        assert shown_grids == [g["grid_id"] for g in grids["grids"]] and shown_grids
        assert grids["town_name"] in page.locator("#subtitle").inner_text()
        first = teams["teams"][0]
        row = page.locator(f"#teams tr[data-team='{first['team_id']}']")
        assert row.locator("td.red").inner_text() == str(first["red"])
        assert row.locator("td.yellow").inner_text() == str(first["yellow"])

        # -- the grid map is drawn -----------------------------------------------------------
        page.wait_for_function(
            "() => window.healthmapConsole && window.healthmapConsole.map"
            " && window.healthmapConsole.map.loaded()"
            " && window.healthmapConsole.map"
            ".queryRenderedFeatures({layers: ['grid-fill']}).length > 0",
            timeout=30_000,
        )
        png = page.locator("#map").screenshot()
        assert drawn_pixels(png) > 5_000, "the grid map drew (almost) nothing"

        # -- no raw code in the Chinese page ------------------------------------------------
        assert not page.evaluate(FIND_CODES, vocabulary_codes())

        # -- a team's list: masked, then unmasked with a reason --------------------------------
        page.locator(f"#teams tr[data-team='{first['team_id']}'] button.open-list").click()
        page.wait_for_selector("#list-panel:not(.hidden)")
        if first["total"]:
            page.wait_for_selector("#list tbody tr")
            names = page.locator("#list tbody tr td:first-child").all_inner_texts()
            assert names and all("*" in n for n in names), names
            page.once("dialog", lambda d: d.accept("电话随访失访患者"))
            page.click("#unmask")
            page.wait_for_selector("#unmask.hidden", state="attached")
            names = page.locator("#list tbody tr td:first-child").all_inner_texts()
            assert not any("*" in n for n in names), names
        assert not page.evaluate(FIND_CODES, vocabulary_codes())

        # -- a grid's health index and its seven parts ----------------------------------------
        page.locator("#grids tr.grid-head button").first.click()
        page.wait_for_selector("#trend tbody tr")
        assert page.locator("#trend thead th").count() == 2 + 7
        assert not page.evaluate(FIND_CODES, vocabulary_codes())

        # -- English ----------------------------------------------------------------------------
        page.click("#lang")
        assert page.locator("#title").inner_text() == "Chronic-disease centre console"
        page.evaluate("() => localStorage.removeItem('healthmap.lang')")


def test_centre_on_the_phone_page_goes_to_its_console(server: str, browser: Any) -> None:
    with watched_page(browser, server, viewport={"width": 390, "height": 844}) as page:
        page.goto(f"{server}/m/")
        log_in(page, "chronic_center")
        page.wait_for_url(re.compile(r".*/c/$"))
        page.wait_for_selector("#teams tbody tr")
        assert "本账号没有团队" not in page.locator("body").inner_text()
