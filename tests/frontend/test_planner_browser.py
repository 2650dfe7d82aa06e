"""The planner's page (/planner/) in real headless Chromium, on the demo county.

The demo planner logs in, sees the town table and the suggested sites, places a village
clinic on the most populous underserved cell and sees the covered population rise (from
``POST /api/v1/coverage/what-if``); resets it; asks for an XLSX report and gets the file
through the page's job with its progress bar. No request leaves the server (Watch).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from browser_helpers import log_in, watched_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: The first visit computes the coverage of the store (tens of seconds on a busy machine).
READY_MS = 240_000


def _covered(page: Any) -> float:
    return float(page.eval_on_selector("#covered", "el => el.dataset.value || 'nan'"))


def test_place_a_clinic_and_the_covered_population_rises(browser: Any, server: str) -> None:
    with watched_page(browser, server, viewport={"width": 1400, "height": 950}) as page:
        page.goto(f"{server}/planner/")
        log_in(page, "planner")
        page.wait_for_function("() => window.planner && window.planner.ready", timeout=READY_MS)
        rows = page.locator("#towns tbody tr")
        assert rows.count() >= 2  # towns and the county
        assert "寿光" in page.inner_text("#towns") or rows.count() > 2
        before = _covered(page)
        assert before > 0
        # The most populous cell beyond the 15-minute walk: a clinic there covers it.
        point = page.evaluate(
            """() => {
              const c = window.planner.state.underserved[0];
              const p = window.planner.map.project([c.lng, c.lat]);
              return {x: p.x, y: p.y};
            }"""
        )
        box = page.locator("#map").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
        page.wait_for_function(
            f"() => Number(document.querySelector('#covered').dataset.value) > {before}",
            timeout=60_000,
        )
        after = _covered(page)
        assert after > before
        assert page.inner_text("#covered-delta").startswith("+")
        assert "1" in page.inner_text("#subtitle")  # "模拟新增 1 处"
        # Reset: back to the data's coverage.
        page.click("#reset")
        page.wait_for_function(
            f"() => Number(document.querySelector('#covered').dataset.value) === {before}",
            timeout=60_000,
        )
        # A report through the page's job, downloaded as a file.
        page.select_option("#report-form select[name=format]", "xlsx")
        with page.expect_download(timeout=120_000) as download:
            page.click("#report-form button[type=submit]")
            page.wait_for_function(
                "() => /已生成|失败|Done|Failed/.test("
                "document.querySelector('#report-status').textContent)",
                timeout=120_000,
            )
            status = page.inner_text("#report-status")
            assert "失败" not in status and "Failed" not in status, status
        path = download.value.path()
        assert download.value.suggested_filename == "coverage.xlsx"
        sheets = pd.read_excel(path, sheet_name=None)
        assert "规划标准" in sheets and "乡镇覆盖与资源" in sheets
        assert page.eval_on_selector("#report-progress", "el => el.value") == 1
