"""The phone page's work for residents in real headless Chromium at 390 × 844.

The demo doctor opens a patient's record from a card, issues the resident's activation
(the slip: login id, code, expiry, the QR code as an SVG image; Print shows only the slip),
the resident activates with the slip's code and adds a home reading through the API, the
doctor revokes the account (with a confirm) and, reopening the record, sees the reading
marked 自报 and apart from the terminals' and clinic's. Then the health-education screen:
write an item (server preview), edit the draft, submit it; the API lists it in review.
No console error but the one the API's design makes (GET activation answers 404 while a
resident has no account), no uncaught exception, no request to any host but the server.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from browser_helpers import AS_OF, Watch, api_token, log_in

pytestmark = pytest.mark.browser

PIN = "582917"
PHONE = {"width": 390, "height": 844}


def _fresh_patient(server: str, headers: dict[str, str]) -> str:
    """A patient on the demo team's list that has never had an activation (GET: 404)."""
    team = httpx.get(f"{server}/auth/me", headers=headers).json()["team_id"]
    r = httpx.get(f"{server}/api/v1/teams/{team}/pushlist", params={"date": AS_OF}, headers=headers)
    r.raise_for_status()
    for e in r.json()["entries"]:
        if e["task_code"] == "suspected_unmanaged":
            continue
        rid = str(e["resident_id"])
        state = httpx.get(f"{server}/api/v1/residents/{rid}/activation", headers=headers)
        if state.status_code == 404:
            return rid
    raise AssertionError("no patient of the demo team without an activation")


def _expected(error: str) -> bool:
    """The browser's log line of the API's 404 for "no account yet" (and nothing else)."""
    return "status of 404" in error and "/activation" in error


def test_phone_residents(server: str, browser: Any) -> None:
    doctor = {"Authorization": f"Bearer {api_token(server, 'doctor')}"}
    rid = _fresh_patient(server, doctor)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = context.new_page()
    watch = Watch(server)
    watch.attach(context, page)
    try:
        _record_and_account(page, server, doctor, rid)
        _education(page, server, doctor)
        unexpected = [e for e in watch.console_errors if not _expected(e)]
        assert len(unexpected) < len(watch.console_errors), "the 404 of 'no account' was not seen"
        watch.console_errors[:] = unexpected
        watch.assert_clean()
    finally:
        context.close()


def _record_and_account(page: Any, server: str, doctor: dict[str, str], rid: str) -> None:
    page.goto(f"{server}/m/?date={AS_OF}")
    log_in(page, "doctor", tap=True)
    page.wait_for_selector("article.task")
    record = page.locator(f"article.task[data-resident='{rid}'] button.open-record").first
    record.tap()
    page.wait_for_selector("#record:not(.hidden)")

    # -- no account yet: the API's 404 is "none" -----------------------------------------
    page.wait_for_selector("#account[data-state='none']")
    assert "尚未开通" in page.inner_text("#account-state")
    assert page.locator("#account-revoke").is_hidden()
    name = httpx.get(f"{server}/api/v1/residents/{rid}", headers=doctor).json()["name"]
    page.wait_for_selector("#record-who .name")
    assert page.inner_text("#record-who .name") == name

    # -- issue: the slip with login id, code, expiry and the QR code ----------------------
    page.tap("#account-issue")
    page.wait_for_selector("#slip:not(.hidden) .slip-code b")
    page.wait_for_selector("#account[data-state='issued']")
    code = page.inner_text("#slip .slip-code b")
    assert re.fullmatch(r"[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}", code), code
    login_id = page.inner_text("#slip .slip-login b")
    assert re.fullmatch(r"\d{8}", login_id), login_id
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", page.inner_text("#slip .slip-expires b"))
    assert login_id in page.inner_text("#account-state")
    state = httpx.get(f"{server}/api/v1/residents/{rid}/activation", headers=doctor).json()
    assert (state["state"], state["login_id"]) == ("issued", login_id)
    # The QR code: the service's SVG as an image (never inline markup that could script).
    src = page.get_attribute("#slip img.slip-qr", "src")
    assert src.startswith("data:image/svg+xml")
    assert "<svg" in unquote(src.split(",", 1)[1])
    page.wait_for_function(
        "() => { const i = document.querySelector('#slip img.slip-qr');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    assert page.locator("#slip svg, #slip script").count() == 0
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390

    # -- print: window.print, and the print stylesheet shows only the slip ----------------
    page.evaluate(
        "() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }"
    )
    page.tap("#slip-print")
    assert page.evaluate("() => window.__printed") == 1
    page.emulate_media(media="print")
    assert page.locator("#slip .slip-code").is_visible()
    assert page.locator("#slip img.slip-qr").is_visible()
    assert not page.locator("#slip-print").is_visible()
    assert not page.locator("#record-readings").is_visible()
    assert not page.locator("#account-state").is_visible()
    assert not page.locator("#app").is_visible()
    page.emulate_media(media="screen")
    assert page.locator("#record-readings").is_visible()

    # -- the resident activates with the slip's code and adds a home reading ---------------
    r = httpx.post(f"{server}/auth/resident/activate", json={"code": code, "pin": PIN})
    assert r.status_code == 200, r.text
    resident = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = httpx.post(
        f"{server}/api/v1/me/readings",
        json={"sbp": 133, "dbp": 83, "heart_rate": 71},
        headers=resident,
    )
    assert r.status_code == 201, r.text
    assert r.json()["emergency"] is False
    reading = r.json()["measurement_id"]

    # -- revoke, with a confirm -------------------------------------------------------------
    page.tap("#record-close")
    page.locator(f"article.task[data-resident='{rid}'] button.open-record").first.tap()
    page.wait_for_selector("#account[data-state='active']")
    assert page.locator("#slip").is_hidden()  # the code in clear went with the sheet
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.tap("#account-revoke")
    page.wait_for_selector("#account[data-state='revoked']")
    assert dialogs and name in dialogs[0]
    assert "已停用" in page.inner_text("#account-state")
    assert page.locator("#account-revoke").is_hidden()
    state = httpx.get(f"{server}/api/v1/residents/{rid}/activation", headers=doctor).json()
    assert state["state"] == "revoked"
    assert httpx.get(f"{server}/api/v1/me", headers=resident).status_code == 401

    # -- the home reading: marked 自报, apart from the terminals' and the clinic's -----------
    own = page.locator(f"#record-readings ul.readings.self li[data-measurement='{reading}']")
    assert own.count() == 1
    assert "自报" in own.inner_text()
    assert "133/83" in own.inner_text()
    assert own.locator(".self-badge").is_visible()
    taken = page.locator("#record-readings ul.readings.taken li")
    for i in range(taken.count()):
        assert taken.nth(i).get_attribute("data-source") == ""
        assert taken.nth(i).locator(".self-badge").count() == 0
    record = httpx.get(f"{server}/api/v1/residents/{rid}", headers=doctor).json()
    selfs = {m["measurement_id"] for m in record["measurements"] if m["self_reported"]}
    assert page.locator("#record-readings ul.readings.self li").count() == len(selfs)
    assert taken.count() == len(record["measurements"]) - len(selfs)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.tap("#record-close")
    page.wait_for_selector("#record.hidden", state="attached")


def _education(page: Any, server: str, doctor: dict[str, str]) -> None:
    page.tap("#tab-edu")
    page.wait_for_selector("#edu-view:not(.hidden)")
    assert page.locator("#visits-view").is_hidden()
    page.tap("#edu-new")
    page.wait_for_selector("#edu-form:not(.hidden)")
    title = "冬季血压管理要点 phone-test"
    page.fill("#edu-form input[name=title]", title)
    page.fill(
        "#edu-form textarea[name=body]",
        "天冷时血压容易升高。\n\n- **按时服药**\n- 少盐\n\n<script>alert(1)</script>",
    )
    page.tap("#edu-preview-btn")
    page.wait_for_selector("#edu-preview strong")
    assert page.inner_text("#edu-preview strong") == "按时服药"
    assert page.locator("#edu-preview script").count() == 0
    assert "<script>" in page.inner_text("#edu-preview")  # raw HTML shown as text
    page.check("#edu-form input[name=disease][value=htn]")
    page.fill("#edu-form input[name=min_age]", "60")
    page.fill("#edu-form input[name=valid_to]", "2027-03-31")
    page.tap("#edu-form button[type=submit]")
    page.wait_for_selector("#edu-form.hidden", state="attached")
    item = page.locator("#edu-list article.edu-item", has_text=title)
    item.wait_for()
    assert item.get_attribute("data-state") == "draft"
    item_id = item.get_attribute("data-item")
    assert "60–岁" in item.inner_text() and "2027-03-31" in item.inner_text()

    # -- edit the draft ------------------------------------------------------------------
    item.locator("button[data-action=edit]").tap()
    page.wait_for_selector("#edu-form:not(.hidden)")
    assert page.input_value("#edu-form input[name=title]") == title
    assert page.is_checked("#edu-form input[name=disease][value=htn]")
    page.fill("#edu-form input[name=max_age]", "85")
    page.tap("#edu-form button[type=submit]")
    page.wait_for_selector("#edu-form.hidden", state="attached")
    item = page.locator(f"#edu-list article.edu-item[data-item='{item_id}']")
    page.wait_for_function(
        "id => (document.querySelector(`article.edu-item[data-item='${id}']`)?.innerText ?? '')"
        ".includes('60–85')",
        arg=item_id,
    )

    # -- submit for review: the API lists it in review -----------------------------------
    item.locator("button[data-action=submit]").tap()
    page.wait_for_selector(
        f"#edu-list article.edu-item[data-item='{item_id}'][data-state='in_review']"
    )
    assert item.locator("button[data-action=edit]").count() == 0
    assert "已提交审核" in page.inner_text("#edu-message")
    listed = httpx.get(
        f"{server}/api/v1/education/items", params={"mine": "true"}, headers=doctor
    ).json()["items"]
    mine = {i["item_id"]: i for i in listed}
    assert mine[item_id]["state"] == "in_review"
    assert (mine[item_id]["min_age"], mine[item_id]["max_age"]) == (60, 85)
    assert mine[item_id]["diseases"] == ["htn"]
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390

    # -- back to the visits: the list is there ---------------------------------------------
    page.tap("#tab-visits")
    assert page.locator("article.task").first.is_visible()
    assert page.locator("#edu-view").is_hidden()
