"""The family doctor's phone page in real headless Chromium at 390 × 844.

Log in as the demo doctor, see today's plan on top (at most the team's max_daily_visits
households, numbered as the route visits them: the same numbers on the cards and on the
map, the route leaving from the base with stop 1) and the backlog grouped by colour below,
with call and navigate links; coinciding markers spread apart; record a visit for a
planned task and see it gone; large text and English. No console error, no uncaught
exception, no raw code of the vocabulary in the Chinese page, no request to any host but
the server.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from browser_helpers import AS_OF, api_token, log_in, watched_page
from sqlalchemy import create_engine, text
from test_console_browser import FIND_CODES as FIND_ANY_CODE
from test_console_browser import vocabulary_codes

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


def test_phone_page(server: str, browser: Any, sample_store_url: str) -> None:
    phone = {"width": 390, "height": 844}
    options = {"viewport": phone, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}
    with watched_page(browser, server, **options) as page:
        _walk(page, server, sample_store_url)


def max_daily_visits(store_url: str, team_id: str) -> int:
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT max_daily_visits FROM teams WHERE team_id = :t"), {"t": team_id}
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _walk(page: Any, server: str, store_url: str) -> None:
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
    headers = {"Authorization": f"Bearer {token}"}
    route = httpx.get(
        f"{server}/api/v1/teams/{me['team_id']}/route", params={"date": AS_OF}, headers=headers
    ).json()
    page.wait_for_selector("#plan section.stop")
    cards = page.locator("article.task")
    assert cards.count() == len(entries)  # the plan and the backlog hold every task

    # -- today's plan: what fits max_daily_visits, in the route's order ----------------------
    limit = max_daily_visits(store_url, me["team_id"])
    stops = page.locator("#plan section.stop")
    n = stops.count()
    assert 0 < n <= limit, (n, limit)
    located = {e["resident_id"] for e in entries if e["lat"] is not None}
    assert n == min(limit, len(located)), "the plan does not fill the day"
    plan = [
        (int(stops.nth(i).get_attribute("data-stop")), stops.nth(i).get_attribute("data-resident"))
        for i in range(n)
    ]
    assert [o for o, _ in plan] == list(range(1, n + 1))
    assert plan == [(s["order"], s["resident_id"]) for s in route["stops"]]
    # The rules' order decides who is in the plan: red never waits for a yellow or a green.
    planned = {r for _, r in plan}
    colours = [e["colour"] for e in entries if e["resident_id"] in planned]
    if "red" in [e["colour"] for e in entries]:
        first_reds = [e["resident_id"] for e in entries if e["colour"] == "red"][: min(n, 3)]
        assert set(first_reds) <= planned
    assert colours
    # The numbers on the cards are the stop numbers.
    for i in range(n):
        number = stops.nth(i).locator(".stop-no").first.inner_text()
        assert number == str(i + 1)
    # The route leaves the base and reaches stop 1 first.
    assert route["legs"][0]["from"] == "base"
    assert route["legs"][0]["to"] == plan[0][1]
    # The backlog below is grouped by colour.
    backlog = page.locator("#list article.task")
    shown = [backlog.nth(i).get_attribute("class").split()[1] for i in range(backlog.count())]
    assert shown == sorted(shown, key=COLOURS.index), "the backlog is not grouped by colour"

    # -- the map: the same numbers on the markers, coinciding markers spread ------------------
    page.wait_for_selector("#route-map .marker.stop")
    on_map = page.eval_on_selector_all(
        "#route-map .marker.stop",
        "els => els.map(e => [Number(e.dataset.order), e.dataset.resident])",
    )
    assert sorted(tuple(x) for x in on_map) == plan
    centres = page.eval_on_selector_all(
        "#route-map .marker",
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })",
    )
    for i, a in enumerate(centres):
        for b in centres[i + 1 :]:
            assert abs(a[0] - b[0]) + abs(a[1] - b[1]) >= 6, "two markers on top of each other"

    first = page.locator("#plan article.task").first
    entry = next(e for e in entries if e["resident_id"] == plan[0][1])
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
    assert not page.evaluate(FIND_ANY_CODE, vocabulary_codes())
    tasks = {t.code: t for t in TASK_TERMS}
    reason = first.locator("p.reason b").inner_text()
    assert reason == tasks[entry["task_code"]].zh
    diseases = {t.code: t.zh for t in DISEASE_TERMS}
    assert first.locator(".tag").inner_text() == diseases[entry["disease"]]
    headings = page.locator("#list section.group h2").all_inner_texts()
    colour_labels = {t.code: t.zh for t in COLOUR_TERMS}
    assert bool(headings) == (backlog.count() > 0)
    assert all(any(h.startswith(colour_labels[c]) for c in colour_labels) for h in headings), (
        headings
    )

    # -- usable at 390 px, also with large text: nothing wider than the screen ---------------
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.evaluate("() => { document.documentElement.style.fontSize = ''; }")

    # -- the route map: numbered stops -----------------------------------------------------
    page.wait_for_selector("#route-map .marker")
    assert "今日路线" in page.locator("#route-summary").inner_text()

    # -- record a visit for the first planned task that takes a follow-up ------------------
    target = page.locator("#plan article.task:has(button.record)").first
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

    # -- English: the page's toggle (the choice is kept, as the map's is) -------------------
    page.tap("#lang")
    assert page.locator("#plan-box h2").inner_text() == "Today's plan"
    page.reload()
    page.wait_for_selector("article.task")
    assert page.locator("#plan-box h2").inner_text() == "Today's plan"
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
