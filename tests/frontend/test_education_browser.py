"""Health education in real headless Chromium, on the demo county (docs/health-education.md).

The demo centre writes an item in its console: the server's preview renders the Markdown
and names a refused external link (no link to it in the page); it saves a safe body, sees
its draft, submits it (no publish button for its own item); the bureau publishes it over
the API and the console shows it published. The bureau's map offers the reads layer as an
overlay and fills grids from ``/api/v1/education/reads``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from browser_helpers import AS_OF, api_token, log_in, watched_page

pytestmark = pytest.mark.browser

BAD = "**少盐**，每天不超过 5 克。详见[外部网站](https://evil.example/salt)"
GOOD = "**少盐**，每天不超过 5 克。\n\n- 按时服药\n- 见[我的页面](/r/)"


def test_centre_writes_and_submits_an_item(server: str, browser: Any) -> None:
    options = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN"}
    with watched_page(browser, server, **options) as page:
        page.goto(f"{server}/c/?date={AS_OF}")
        log_in(page, "chronic_center")
        page.wait_for_selector("#edu-panel:not(.hidden)")
        page.click("#edu-new")
        page.fill("#edu-form input[name=title]", "冬季少盐")
        page.fill("#edu-form textarea[name=body]", BAD)
        page.check("#edu-form input[name=disease][value=htn]")
        page.fill("#edu-form input[name=min_age]", "60")
        page.click("#edu-preview-btn")
        page.wait_for_selector("#edu-preview strong")
        preview = page.locator("#edu-preview")
        assert "https://evil.example/salt" in preview.locator("p.error").inner_text()
        assert preview.locator("a").count() == 0  # the external link is text only
        page.fill("#edu-form textarea[name=body]", GOOD)
        page.click("#edu-preview-btn")
        page.wait_for_selector("#edu-preview a[href='/r/']")
        assert page.locator("#edu-preview p.error").count() == 0
        page.click("#edu-form button[type=submit]")
        row = page.locator("#edu-items tbody tr", has_text="冬季少盐")
        row.wait_for()
        assert "草稿" in row.inner_text() and "高血压" in row.inner_text()
        item_id = row.get_attribute("data-item")
        row.locator("button[data-action=submit]").click()
        page.wait_for_selector(f"#edu-items tr[data-item='{item_id}'][data-state='in_review']")
        own = page.locator(f"#edu-items tr[data-item='{item_id}']")
        assert own.locator("button[data-action=publish]").count() == 0  # not one's own

        token = api_token(server, "bureau")
        r = httpx.post(
            f"{server}/api/v1/education/items/{item_id}/publish",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        page.select_option("#edu-filter", "published")
        page.wait_for_selector(f"#edu-items tr[data-item='{item_id}'][data-state='published']")
        assert "已发布" in page.locator(f"#edu-items tr[data-item='{item_id}']").inner_text()


def test_bureau_map_has_the_reads_layer(server: str, browser: Any) -> None:
    options = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN"}
    with watched_page(browser, server, **options) as page:
        page.goto(server)
        log_in(page, "bureau")
        box = page.locator("#overlay-layers input[value=education_reads]")
        box.wait_for()
        page.wait_for_function("() => window.healthmap && window.healthmap.ready", timeout=60_000)
        with page.expect_response(lambda r: "/api/v1/education/reads" in r.url) as answer:
            box.check()
        assert answer.value.status == 200
        page.wait_for_function(
            "() => window.healthmap.map.getLayoutProperty('education-reads-fill', 'visibility')"
            " === 'visible'"
            " && window.healthmap.map.querySourceFeatures('education_reads').length > 0",
            timeout=30_000,
        )
        assert "健康教育阅读" in page.locator("#legend").inner_text()
