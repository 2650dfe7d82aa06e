"""Administration over HTTP (uploads, background jobs, accounts) and the 06:00 scheduler."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from svc_county import TODAY
from svc_helpers import assert_problem, make_settings, token_headers

import service.app
from service.app import create_app
from service.scheduler import next_run, parse_daily_cron, run_daily
from store.models import Team

Headers = dict[str, dict[str, str]]
TEAMS_CSV = "team_id,name,facility_id,max_daily_visits\nT09,九队,F01,10\n".encode()


def wait_job(api: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    api.app.state.jobs.wait(job_id, timeout=120)  # type: ignore[attr-defined]
    r = api.get(f"/api/v1/admin/jobs/{job_id}", headers=headers)
    assert r.status_code == 200
    return r.json()


def test_ingest_a_zipped_delivery_in_the_background(
    api: TestClient, auth: Headers, engine: Any, api_settings: Any
) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("delivery/teams.csv", TEAMS_CSV)
        zf.writestr("../../escape.csv", b"x,y\n1,2\n")  # flattened into the job's folder
        zf.writestr("notes.txt", b"ignored")
    r = api.post(
        "/api/v1/admin/ingest",
        files=[("files", ("delivery.zip", buf.getvalue(), "application/zip"))],
        headers=auth["admin1"],
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/api/v1/admin/jobs/{job['job_id']}"
    assert job["kind"] == "ingest" and job["params"]["files"] == ["teams.csv", "escape.csv"]
    done = wait_job(api, auth["admin1"], job["job_id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["summary"]["tables"]["teams"]["loaded"] == 1
    folder = Path(api_settings.data_dir) / "uploads" / job["job_id"]
    assert sorted(p.name for p in folder.iterdir()) == ["escape.csv", "teams.csv"]
    assert not (Path(api_settings.data_dir) / "escape.csv").exists()
    with Session(engine) as session:
        assert session.get(Team, "T09") is not None
    listed = api.get("/api/v1/admin/jobs", headers=auth["admin1"]).json()["items"]
    assert [j["job_id"] for j in listed] == [job["job_id"]]
    audit = api.get("/admin/audit", params={"action": "admin"}, headers=auth["admin1"]).json()
    assert audit["items"][0]["resource_type"] == "ingest"


def test_uploads_that_are_not_deliveries(api: TestClient, auth: Headers) -> None:
    h = auth["admin1"]
    bad = api.post(
        "/api/v1/admin/ingest",
        files=[("files", ("x.exe", b"MZ", "application/octet-stream"))],
        headers=h,
    )
    assert_problem(bad, 422, "invalid")
    broken = api.post(
        "/api/v1/admin/ingest",
        files=[("files", ("d.zip", b"PK\x03\x04junk", "application/zip"))],
        headers=h,
    )
    assert "zip" in assert_problem(broken, 422)["detail"]
    assert_problem(api.post("/api/v1/admin/ingest", headers=h), 422)


@pytest.mark.slow  # a whole build and the push lists, run as jobs
def test_build_and_pushlist_jobs(api: TestClient, auth: Headers) -> None:
    h = auth["admin1"]
    before = api.get("/api/v1/meta", headers=h).json()["build_id"]
    r = api.post("/api/v1/admin/build", params={"months": 0}, headers=h)
    assert r.status_code == 202 and r.json()["params"] == {"as_of": TODAY.isoformat(), "months": 0}
    built = wait_job(api, h, r.json()["job_id"])
    assert built["status"] == "succeeded", built["error"]
    assert built["summary"]["build_id"] == api.get("/api/v1/meta", headers=h).json()["build_id"]
    assert built["summary"]["build_id"] != before
    r = api.post("/api/v1/admin/pushlists", params={"date": TODAY.isoformat()}, headers=h)
    generated = wait_job(api, h, r.json()["job_id"])
    assert generated["status"] == "succeeded" and generated["summary"]["teams"] == 2
    runs = api.get("/api/v1/teams/T01/pushlist/runs", headers=auth["doctor1"]).json()["items"]
    assert runs[0]["list_date"] == TODAY.isoformat() and runs[0]["team_entries"] == 3
    assert_problem(api.post("/api/v1/admin/build", params={"months": 99}, headers=h), 422)


def test_accounts_over_http_are_audited_with_the_acting_admin(
    api: TestClient, auth: Headers, engine: Any, api_settings: Any
) -> None:
    h = auth["admin1"]
    body = {
        "username": "Dr_Wang",
        "password": "wang-password-1",
        "role": "doctor",
        "team_id": "T02",
    }
    r = api.post("/api/v1/admin/users", json=body, headers=h)
    assert r.status_code == 201 and r.json()["username"] == "dr_wang"
    assert r.json()["scope"] == "team:T02"
    assert_problem(api.post("/api/v1/admin/users", json=body, headers=h), 409, "conflict")
    weak = {**body, "username": "weak", "password": "short"}
    assert_problem(api.post("/api/v1/admin/users", json=weak, headers=h), 422)
    noscope = {**body, "username": "noscope", "team_id": None}
    assert_problem(api.post("/api/v1/admin/users", json=noscope, headers=h), 422)
    token = token_headers(engine, api_settings)["dr_wang"]
    assert api.get("/api/v1/teams/T02/pushlist", headers=token).status_code == 200
    assert api.post("/api/v1/admin/users/dr_wang/disable", headers=h).json()["disabled"] is True
    assert_problem(api.get("/api/v1/meta", headers=token), 401)
    assert api.post("/api/v1/admin/users/dr_wang/enable", headers=h).json()["disabled"] is False
    moved = api.put(
        "/api/v1/admin/users/dr_wang/role",
        json={"role": "chronic_center", "town_code": "370783002000"},
        headers=h,
    )
    assert moved.json()["scope"] == "town:370783002000"
    assert_problem(api.get("/api/v1/meta", headers=token), 401)  # role changed: log in again
    assert_problem(api.post("/api/v1/admin/users/ghost/disable", headers=h), 404)
    users = api.get("/api/v1/admin/users", headers=h).json()["items"]
    assert "dr_wang" in {u["username"] for u in users}
    assert all("password" not in str(u) and "hash" not in str(u) for u in users)
    changes = api.get(
        "/admin/audit", params={"action": "admin", "user": "admin1"}, headers=h
    ).json()["items"]
    assert [c["detail"]["change"] for c in changes] == ["set_role", "enable", "disable", "add"]
    assert changes[-1]["endpoint"] == "POST /api/v1/admin/users"


# ----------------------------------------------------------------------------------------
# The scheduler
# ----------------------------------------------------------------------------------------
SH = dt.timezone(dt.timedelta(hours=8))


def test_daily_cron_parsing_and_next_run() -> None:
    assert parse_daily_cron("0 6 * * *") == (6, 0)
    assert parse_daily_cron(" 30 23 * * * ") == (23, 30)
    for bad in ("*/5 * * * *", "0 6 * * 1", "60 6 * * *", "0 24 * * *", "daily"):
        with pytest.raises(ValueError):
            parse_daily_cron(bad)
    before = dt.datetime(2026, 11, 15, 5, 59, tzinfo=SH)
    assert next_run("0 6 * * *", before, "Asia/Shanghai") == dt.datetime(
        2026, 11, 15, 6, 0, tzinfo=SH
    )
    at = dt.datetime(2026, 11, 15, 6, 0, tzinfo=SH)
    assert next_run("0 6 * * *", at, "Asia/Shanghai").date() == dt.date(2026, 11, 16)
    # 23:00 UTC is 07:00 in Shanghai the next day: the next run is the day after that.
    utc = dt.datetime(2026, 11, 15, 23, 0, tzinfo=dt.UTC)
    assert next_run("0 6 * * *", utc, "Asia/Shanghai") == dt.datetime(2026, 11, 17, 6, 0, tzinfo=SH)


def test_run_daily_runs_the_job_at_the_time_and_survives_failures() -> None:
    clock = [dt.datetime(2026, 11, 15, 5, 58, tzinfo=SH)]
    days: list[dt.date] = []

    async def fake_sleep(seconds: float) -> None:
        clock[0] += dt.timedelta(seconds=seconds)
        await asyncio.sleep(0)

    def job(day: dt.date) -> None:
        days.append(day)
        if len(days) == 1:
            raise RuntimeError("store down")  # logged; tomorrow's run still happens
        if len(days) == 2:
            raise asyncio.CancelledError

    async def main() -> None:
        task = asyncio.create_task(
            run_daily("0 6 * * *", "Asia/Shanghai", job, clock=lambda: clock[0], sleep=fake_sleep)
        )
        with pytest.raises(asyncio.CancelledError):
            await task

    # A fresh thread has no running loop, whatever an earlier test (Playwright's sync API)
    # left on this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result()
    assert days == [dt.date(2026, 11, 15), dt.date(2026, 11, 16)]


def test_lifespan_starts_and_stops_the_scheduler(
    migrated_store_url: str, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []

    async def fake_run_daily(expr: str, tz: str, job: Any) -> None:
        events.append(f"start {expr} {tz}")
        try:
            await asyncio.Event().wait()
        finally:
            events.append("stop")

    monkeypatch.setattr(service.app, "run_daily", fake_run_daily)
    settings = make_settings(migrated_store_url, service={"pushlist_cron": "15 5 * * *"})
    app = create_app(settings, engine)
    assert app.state.scheduler_enabled is True  # the default
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        assert events == ["start 15 5 * * * Asia/Shanghai"]
    assert events[-1] == "stop"
    off = create_app(settings, engine)
    off.state.scheduler_enabled = False
    with TestClient(off):
        pass
    assert len(events) == 2
    with pytest.raises(ValueError, match="daily form"):
        create_app(make_settings(migrated_store_url, service={"pushlist_cron": "*/5 * * * *"}))
