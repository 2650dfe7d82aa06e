"""A resident's own page (/r/) in real headless Chromium at 390 × 844.

The demo doctor issues an activation for one of its patients and opens the patient's
record (the read the resident must see). The resident opens the door plate's address (the
code in the fragment), sets a PIN, logs out, logs in again with the login id and the PIN,
and sees the blood-pressure chart with its points and target band, and the doctor's read in
"who read my record". Large type (body ≥ 20 px), nothing wider than the screen, no console
error, no request to any host but the server.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from browser_helpers import AS_OF, api_token, demo_password, watched_page

pytestmark = pytest.mark.browser

PIN = "482916"


def _patient(server: str, headers: dict[str, str]) -> str:
    """A patient of the demo doctor's team with a recent blood pressure (a chart to draw)."""
    team = httpx.get(f"{server}/auth/me", headers=headers).json()["team_id"]
    r = httpx.get(f"{server}/api/v1/teams/{team}/pushlist?date={AS_OF}", headers=headers)
    r.raise_for_status()
    since = (dt.date.today() - dt.timedelta(days=300)).isoformat()
    for e in r.json()["entries"]:
        recent = (e.get("last_visit_date") or "") >= since
        if e["task_code"] != "suspected_unmanaged" and e.get("last_sbp") and recent:
            return str(e["resident_id"])
    raise AssertionError("no patient of the demo team with a recent blood pressure")


def test_resident_page(server: str, browser: Any) -> None:
    doctor = {"Authorization": f"Bearer {api_token(server, 'doctor')}"}
    rid = _patient(server, doctor)
    slip = httpx.post(f"{server}/api/v1/residents/{rid}/activation", headers=doctor)
    assert slip.status_code == 201, slip.text
    code, login_id, url = slip.json()["code"], slip.json()["login_id"], slip.json()["url"]
    assert url.startswith(f"{server}/r/#code=")
    # The doctor opens the patient's record: the resident will see this read.
    assert httpx.get(f"{server}/api/v1/residents/{rid}", headers=doctor).status_code == 200

    phone = {"width": 390, "height": 844}
    options = {"viewport": phone, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}
    with watched_page(browser, server, **options) as page:
        # -- the door plate's QR code: the activation form with the code filled in -----------
        page.goto(url)
        page.wait_for_selector("#activate:not(.hidden)")
        assert page.input_value("#activate-form input[name=code]").replace("-", "") == code.replace(
            "-", ""
        )
        assert "#code" not in page.url  # taken out of the address bar and the history
        size = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
        assert size >= 20
        page.fill("#activate-form input[name=pin]", PIN)
        page.fill("#activate-form input[name=pin2]", "000000")
        page.tap("#activate-form button[type=submit]")
        assert "不一致" in page.inner_text("#activate-error")  # the two PINs differ
        page.fill("#activate-form input[name=pin2]", PIN)
        page.tap("#activate-form button[type=submit]")
        page.wait_for_selector("#app:not(.hidden)")
        assert login_id in page.inner_text("#status")

        # -- log out, log in with the login id and PIN ------------------------------------
        page.tap("#logout")
        page.wait_for_selector("#login:not(.hidden)")
        # (A wrong PIN is tested in tests/service/test_api_residents_self.py: here its 401
        # would be a console error, which the watch refuses.)
        page.fill("#login-form input[name=login_id]", f"{login_id[:4]} {login_id[4:]}")
        page.fill("#login-form input[name=pin]", PIN)
        page.tap("#login-form button[type=submit]")
        page.wait_for_selector("#app:not(.hidden)")

        # -- the trend chart: points and the shaded target band ---------------------------
        page.wait_for_selector("#bp-chart svg.trend")
        points = page.locator("#bp-chart svg.trend .pt").count()
        assert points >= 2  # at least one reading or visit: its SBP and DBP
        assert page.locator("#bp-chart svg.trend rect.band").count() == 1
        assert "150" in page.inner_text("#bp-legend") or "140" in page.inner_text("#bp-legend")

        # -- who read my record: the doctor's read ----------------------------------------
        doctor_name = demo_password("doctor")[0]
        page.wait_for_selector("#access-log li.access")
        entries = page.locator("#access-log li.access").all_inner_texts()
        assert any(doctor_name in e and "家庭医生" in e for e in entries), entries

        # -- the team's phone as a tel: link; nothing wider than the phone -----------------
        assert page.locator("#team a[href^='tel:']").count() == 1
        assert page.inner_text("#next").strip()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
