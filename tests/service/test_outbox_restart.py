"""Fault: ``kill -9`` of the server with webhook calls in the outbox; each delivered once after.

``healthmap serve`` (two uvicorn workers: two delivery threads claiming the same outbox)
runs in a session of its own over the small county of ``svc_county``, on each store, with
``service.emergency_webhook_url`` pointing at a receiver that is down (nothing listens on
its port: every attempt is refused and rescheduled). Emergency readings are recorded;
once every one of them has failed at least once, the server's whole process group is
killed with SIGKILL. Then the receiver comes up, the server starts again, and:

* every reading's call arrives exactly once (the receiver counts by ``Idempotency-Key``);
* the outbox shows every message ``delivered`` (``GET /api/v1/admin/outbox``);
* nothing of the killed server is left running.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from svc_helpers import make_settings, token_headers
from svc_webhook import Receiver, free_port

from store.outbox import OutboxMessage

pytestmark = [pytest.mark.fault, pytest.mark.slow]

HEALTHMAP = str(Path(sys.executable).with_name("healthmap"))
#: Emergency readings recorded before the kill (five alone, two in one batch).
SINGLE, BATCHED = 5, 2
#: Seconds the kernel gets to take the killed group down.
GRACE = 15.0


def _reading(mid: str) -> dict[str, Any]:
    at = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=1)
    return {
        "measurement_id": mid,
        "resident_id": "R01",
        "measured_at": at.isoformat(),
        "sbp": 190,
        "dbp": 100,
    }


def _group(pgid: int) -> list[psutil.Process]:
    """The live (not zombie) processes of process group ``pgid``."""
    out = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return out


class Server:
    """``healthmap serve`` in a session (process group) of its own."""

    def __init__(self, store_url: str, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    HEALTHMAP,
                    "--db",
                    store_url,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    "2",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.3)

    def kill9(self) -> list[psutil.Process]:
        """SIGKILL the whole group; what is left of it after GRACE."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        deadline = time.monotonic() + GRACE
        while (left := _group(self.proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        return left

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for p in _group(self.proc.pid):  # never leave a worker to the next test
            with contextlib.suppress(psutil.Error):
                p.kill()


def _messages(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        session.expunge_all()
        return rows


def _wait(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_killed_server_delivers_each_queued_call_once_after_restart(
    migrated_store_url: str, engine: Engine, county: Any, tmp_path: Path
) -> None:
    headers = token_headers(engine, make_settings(migrated_store_url))["admin1"]
    receiver = Receiver()  # its port is chosen; nothing listens there yet
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHMAP_")}
    env.update(
        HEALTHMAP_MODE="demo",
        HEALTHMAP_DATA_DIR=str(tmp_path / "data"),
        HEALTHMAP_SERVICE__RATE_LIMIT_PER_MINUTE="0",
        HEALTHMAP_SERVICE__SCHEDULER_ENABLED="false",
        HEALTHMAP_SERVICE__EMERGENCY_WEBHOOK_URL=receiver.url,
        HEALTHMAP_OUTBOX__POLL_SECONDS="0.2",
        HEALTHMAP_OUTBOX__TIMEOUT_SECONDS="1",
        HEALTHMAP_OUTBOX__BACKOFF_BASE_SECONDS="0.5",
        HEALTHMAP_OUTBOX__BACKOFF_CAP_SECONDS="2",
        HEALTHMAP_OUTBOX__LEASE_SECONDS="4",
    )
    log = tmp_path / "server.log"
    keys = [f"emergency_reading:KILL-{i}" for i in range(SINGLE + BATCHED)]

    first = Server(migrated_store_url, env, log)
    try:
        first.wait_ready()
        with httpx.Client(base_url=first.base, headers=headers, timeout=10) as http:
            for i in range(SINGLE):
                r = http.post("/api/v1/measurements", json=_reading(f"KILL-{i}"))
                assert r.status_code == 201 and r.json()["emergencies"] == 1, r.text
            batch = [_reading(f"KILL-{i}") for i in range(SINGLE, SINGLE + BATCHED)]
            r = http.post("/api/v1/measurements", json=batch)
            assert r.status_code == 201 and r.json()["emergencies"] == BATCHED, r.text
        # Every call tried and refused at least once: undelivered, waiting for a retry.
        assert _wait(lambda: all(m.attempts >= 1 for m in _messages(engine)), 20)
        left = first.kill9()
    finally:
        first.stop()
    assert not left, f"processes of the killed server still run: {left}"
    before = _messages(engine)
    assert sorted(m.idempotency_key for m in before) == sorted(keys)
    assert all(m.state == "pending" and m.delivered_at is None for m in before)
    assert not receiver.counts

    receiver.start()
    second = Server(migrated_store_url, env, log)
    try:
        second.wait_ready()
        # Due within the cap (2 s) plus a lease a kill may have left (4 s), and a poll.
        assert receiver.wait_for(len(keys), 30), dict(receiver.counts)
        assert _wait(lambda: all(m.state == "delivered" for m in _messages(engine)), 10)
        time.sleep(1.5)  # a second delivery would come within a few polls
        with httpx.Client(base_url=second.base, headers=headers, timeout=10) as http:
            shown = http.get("/api/v1/admin/outbox", params={"state": "delivered"}).json()
    finally:
        second.stop()
        receiver.stop()
    assert dict(receiver.counts) == {key: 1 for key in keys}
    assert shown["total"] == len(keys)
    assert sorted(m["idempotency_key"] for m in shown["items"]) == sorted(keys)
    assert all(m["delivered_at"] and m["last_status"] == 204 for m in shown["items"])
