"""An emergency reading reaches the doctor's open phone page in under 2 s (issue 15).

The demo doctor's phone page is open in headless Chromium (today's list, the live
channel connected: the header's indicator says so). A terminal — registered through the
admin API, its request signed with ``service.terminal_auth.signed_headers`` — posts an
emergency reading of one of the team's hypertension patients; the red
``emergency_reading`` task must appear on the page without a reload within 2 s of the
POST's response (put there from the event at once, then replaced by the refetched list's
entry: both times are measured and printed).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import httpx
import pytest
from browser_helpers import api_token, log_in, watched_page
from sqlalchemy import create_engine, text

from service.terminal_auth import signed_headers

pytestmark = pytest.mark.browser

READINGS = "/api/v1/terminal/readings"
LIMIT_S = 2.0


def _team_patients(store_url: str, team_id: str) -> list[str]:
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT resident_id FROM chronic_registry"
                    " WHERE team_id = :t AND disease = 'htn' ORDER BY resident_id"
                ),
                {"t": team_id},
            )
            return [r[0] for r in rows]
    finally:
        engine.dispose()


def _register_terminal(server: str, admin: dict[str, str]) -> tuple[str, str]:
    terminal_id = f"BROWSER-{int(time.time() * 1000)}"
    r = httpx.post(
        f"{server}/api/v1/admin/terminals",
        json={"terminal_id": terminal_id, "label": "browser test"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    return terminal_id, r.json()["key"]


def _post_emergency(server: str, terminal_id: str, key: str, resident: str, n: int) -> float:
    """Post an emergency reading as the terminal; the monotonic time of the answer."""
    body = json.dumps(
        {
            "measurement_id": f"{terminal_id}-{n}",
            "resident_id": resident,
            "measured_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "values": {"sbp": 196, "dbp": 118, "heart_rate": 90},
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        **signed_headers(terminal_id, key, "POST", READINGS, body, time.time()),
    }
    r = httpx.post(f"{server}{READINGS}", content=body, headers=headers)
    answered = time.monotonic()
    assert r.status_code == 201, r.text
    assert r.json()["emergencies"] == 1, r.text
    return answered


def test_emergency_reading_marks_the_team_on_the_centres_console(
    server: str, browser: Any, sample_store_url: str
) -> None:
    centre = {"Authorization": f"Bearer {api_token(server, 'chronic_center')}"}
    admin = {"Authorization": f"Bearer {api_token(server, 'admin')}"}
    teams = httpx.get(f"{server}/api/v1/console/teams", headers=centre).json()["teams"]
    team = next(t for t in teams if _team_patients(sample_store_url, t["team_id"]))
    patient = _team_patients(sample_store_url, team["team_id"])[-1]
    terminal_id, key = _register_terminal(server, admin)
    with watched_page(browser, server, viewport={"width": 1280, "height": 900}) as page:
        page.goto(f"{server}/c/")
        log_in(page, "chronic_center")
        row = f'#teams tr[data-team="{team["team_id"]}"]'
        page.wait_for_selector(row)
        page.wait_for_selector("#live[data-state=live]", timeout=10_000)
        answered = _post_emergency(server, terminal_id, key, patient, 1)
        page.wait_for_selector(f"{row}.live-new", timeout=int(LIMIT_S * 1000) + 3000)
        elapsed = time.monotonic() - answered
        print(f"\nthe team marked on the console {elapsed * 1000:.0f} ms after the POST's answer")
        assert elapsed < LIMIT_S
        # The status line names the team (the counts were refetched with it).
        assert team["team_id"] in page.locator("#status").inner_text()
        assert page.locator("#status").is_visible()


def test_emergency_reading_appears_on_the_open_phone_page(
    server: str, browser: Any, sample_store_url: str
) -> None:
    doctor = {"Authorization": f"Bearer {api_token(server, 'doctor')}"}
    admin = {"Authorization": f"Bearer {api_token(server, 'admin')}"}
    team = httpx.get(f"{server}/auth/me", headers=doctor).json()["team_id"]
    today = httpx.get(f"{server}/api/v1/teams/{team}/pushlist", headers=doctor).json()
    red_now = {e["resident_id"] for e in today["entries"] if e["task_code"] == "emergency_reading"}
    patient = next(r for r in _team_patients(sample_store_url, team) if r not in red_now)
    terminal_id, key = _register_terminal(server, admin)

    options = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "locale": "zh-CN"}
    with watched_page(browser, server, **options) as page:
        page.goto(f"{server}/m/")
        log_in(page, "doctor", tap=False)
        page.wait_for_selector("article.task")
        page.wait_for_selector("#live[data-state=live]", timeout=10_000)
        card = f'article.task.red[data-task="emergency_reading"][data-resident="{patient}"]'
        assert page.locator(card).count() == 0
        page.evaluate("window.__sameDocument = true")  # gone if the page reloads

        answered = _post_emergency(server, terminal_id, key, patient, 1)
        page.wait_for_selector(card, timeout=int(LIMIT_S * 1000) + 3000)
        elapsed = time.monotonic() - answered
        # Then the refetched list's own entry (the team's list recomputed) replaces the
        # one the page put there from the event.
        page.wait_for_selector(f"{card}:not([data-provisional])", timeout=15_000)
        confirmed = time.monotonic() - answered
        print(
            f"\nred task on the open page {elapsed * 1000:.0f} ms after the POST's response;"
            f" the refetched list's entry after {confirmed * 1000:.0f} ms"
        )
        assert elapsed < LIMIT_S, f"the red task took {elapsed:.2f} s"
        assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
        # Marked as new, and the status line names it.
        assert "live-new" in (page.locator(card).first.get_attribute("class") or "")
        assert page.locator("#status").is_visible()
