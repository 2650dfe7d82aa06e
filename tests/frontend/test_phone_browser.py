"""The family doctor's phone page in real headless Chromium at 390 × 844.

Log in as the demo doctor, see the day's list grouped by colour with call and navigate
links and the route map, record a visit for the first task, and see the task gone.
No console error, no uncaught exception, no request to any host but the server.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from browser_helpers import AS_OF, api_token, log_in, watched_page

from geo.vocabulary import (
    CLASSIFICATION_TERMS,
    COLOUR_TERMS,
    DISEASE_TERMS,
    TASK_CODES,
    TASK_TERMS,
    codes,
)

pytestmark = pytest.mark.browser

COLOURS = ("red", "yellow", "green")


def test_phone_page(server: str, browser: Any) -> None:
    phone = {"width": 390, "height": 844}
    options = {"viewport": phone, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}
    with watched_page(browser, server, **options) as page:
        _walk(page, server)


def _walk(page: Any, server: str) -> None:
    # The test county's data end on AS_OF: the list of that day (the page's ?date=).
    page.goto(f"{server}/m/?date={AS_OF}")
    log_in(page, "doctor", tap=True)
    page.wait_for_selector("article.task")

    # -- the list is the API's list, grouped red → yellow → green ---------------------------
    token = api_token(server, "doctor")
    me = httpx.get(f"{server}/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    api = httpx.get(
        f"{server}/api/v1/teams/{me['team_id']}/pushlist",
        params={"date": AS_OF},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    entries = api["entries"]
    assert entries, "the demo doctor's team has no task on the test day"
    cards = page.locator("article.task")
    assert cards.count() == len(entries)
    shown = [cards.nth(i).get_attribute("class").split()[1] for i in range(cards.count())]
    assert shown == sorted(shown, key=COLOURS.index), "cards are not grouped by colour"
    first = cards.first
    entry = entries[0]
    assert first.get_attribute("data-resident") == entry["resident_id"]
    assert entry["name"] in first.inner_text()  # the team's own doctor sees names
    if entry["reason_zh"]:
        assert entry["reason_zh"] in first.inner_text()
    if entry["phone"]:
        assert first.locator("a[href^='tel:']").count() == 1
    if entry["lat"] is not None:
        href = first.locator("a[href^='geo:']").get_attribute("href")
        assert href.startswith(f"geo:{entry['lat']:.6f},{entry['lng']:.6f}")
    # No link leaves the server except tel: and geo: (handled by the phone's own apps).
    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
        assert href.startswith((server, "tel:", "geo:")), href

    # -- labels, never codes: the page speaks Chinese (common/vocabulary.ts) -------------
    assert_no_raw_codes(page)
    tasks = {t.code: t for t in TASK_TERMS}
    reason = first.locator("p.reason b").inner_text()
    assert reason == tasks[entry["task_code"]].zh
    diseases = {t.code: t.zh for t in DISEASE_TERMS}
    assert first.locator(".tag").inner_text() == diseases[entry["disease"]]
    headings = page.locator("section.group h2").all_inner_texts()
    colour_labels = {t.code: t.zh for t in COLOUR_TERMS}
    assert headings and all(
        any(h.startswith(colour_labels[c]) for c in colour_labels) for h in headings
    ), headings

    # -- usable at 390 px: nothing wider than the screen ------------------------------------
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390

    # -- the route map: numbered stops -----------------------------------------------------
    page.wait_for_selector("#route-map .marker")
    assert "今日路线" in page.locator("#route-summary").inner_text()

    # -- record a visit for the first task (first one that takes a follow-up) --------------
    target = page.locator("article.task:has(button.record)").first
    resident = target.get_attribute("data-resident")
    disease = target.get_attribute("data-disease")
    same_task = f"article.task[data-resident='{resident}'][data-disease='{disease}']"
    assert page.locator(same_task).count() == 1
    target.locator("button.record").tap()
    page.wait_for_selector("#visit:not(.hidden)")
    page.fill("#visit-form input[name=sbp]", "128")
    page.fill("#visit-form input[name=dbp]", "78")
    page.fill("#visit-form input[name=heart_rate]", "72")
    if disease == "t2dm":
        page.fill("#visit-form input[name=fasting_glucose]", "5.6")
    page.select_option("#visit-form select[name=method]", "home")
    page.select_option("#visit-form select[name=adherence]", "regular")
    page.tap("#visit-form button[type=submit]")
    page.wait_for_selector("#visit.hidden", state="attached")
    page.wait_for_selector("#status:not(.hidden)")
    assert "已保存" in page.locator("#status").inner_text()
    page.wait_for_selector(same_task, state="detached")
    assert page.locator("article.task").count() == len(entries) - 1
    assert_no_raw_codes(page)

    # -- English labels when the language chosen (on the map) is English -------------------
    page.evaluate("() => localStorage.setItem('healthmap.lang', 'en')")
    page.reload()
    page.wait_for_selector("article.task")
    first = page.locator("article.task").first
    code = first.get_attribute("data-task")
    assert first.locator("p.reason b").inner_text() == {t.code: t.en for t in TASK_TERMS}[code]
    page.evaluate("() => localStorage.removeItem('healthmap.lang')")


#: Codes a user must never read: tasks, visit classifications, diseases.
RAW_CODES = (*TASK_CODES, *codes(CLASSIFICATION_TERMS), *codes(DISEASE_TERMS))

#: Every code of RAW_CODES found as a word in the page's visible text.
FIND_CODES = """codes => {
    const text = document.body.innerText;
    return codes.filter(c => new RegExp(`(^|[^A-Za-z0-9_])${c}($|[^A-Za-z0-9_])`).test(text));
}"""


def assert_no_raw_codes(page: Any) -> None:
    """No raw code (``emergency_reading``, ``suspected_unmanaged``, ``htn`` …) is visible."""
    found = page.evaluate(FIND_CODES, list(RAW_CODES))
    assert not found, f"raw codes in the page's visible text: {found}"
