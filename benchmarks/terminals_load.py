"""Terminals' load: 2,600 devices posting readings while 50 doctors' pages hold live channels.

``python benchmarks/terminals_load.py --db URL [--duration 120]`` (``make bench``: step
``terminals`` of ``benchmarks/run.py``, on both stores). The real server as the other HTTP
benches run it (``healthmap serve --demo-users --workers 2`` on the loopback, rate limits and
the scheduler off: ``http_load.start_server``), with the emergency webhook pointed at a
receiver of this process (``HEALTHMAP_SERVICE__EMERGENCY_WEBHOOK_URL``).

**The terminals** (issue 15: Shouguang's ~2,600 smart measuring terminals) are registered
through the admin API (``POST /api/v1/admin/terminals``; a re-run rotates their keys) and
each posts **one reading a minute** to ``POST /api/v1/terminal/readings``, signed with its
key (``service.terminal_auth.signed_headers``): ≈ 43 readings a second, the terminals'
turns spread evenly over the minute. :data:`BATCH_SHARE` of the posts are batches of
:data:`BATCH_SIZE` readings (a device that was offline sends what it kept: its readings
dated a minute apart, the oldest first). A reading names a registered patient by
``resident_id``; its values are ordinary (SBP 118–158, DBP 68–94) except for
:data:`EMERGENCY_SHARE` of them, emergency blood pressures (SBP 186, DBP 114: RULES.md)
of a hypertension patient of one of the doctors' teams.

**The doctors**: ``DOCTORS`` bench doctor accounts of as many teams (``http_mixed``'s
``bench_doctor_<team>``), each holding ``GET /api/v1/live`` open for the whole run and
recording the ``emergency_reading`` events it receives.

**Verification** after the run (and :data:`DRAIN_SECONDS` for the last deliveries):
every acknowledged reading's ``measurement_id`` is counted in ``measurements`` (all must
be there); every acknowledged emergency must have reached its team's live channel and the
webhook receiver (counted by ``Idempotency-Key``; duplicates reported). Reported: posts and
readings per second, POST p50/p99, errors, the stored count, the emergencies delivered to
the pages (with the delay from the POST's answer to the event) and to the webhook.

Target (issue 15): reading p99 < 50 ms, 0 errors, every reading stored, every emergency
delivered. Terminals, accounts and readings stay in the store: use a benchmark store.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from http_load import (
    HOST,
    TIMEOUT,
    WORKERS,
    Result,
    free_port,
    start_server,
    stop_server,
    wait_ready,
)
from http_mixed import BENCH_PASSWORD, ensure_accounts

TERMINALS = 2600
DOCTORS = 50
SECONDS = 120.0
#: Each terminal posts once per this many seconds.
PERIOD = 60.0
BATCH_SHARE = 0.05
BATCH_SIZE = 3
EMERGENCY_SHARE = 0.01
#: Seconds after the last post for the last events and webhook calls to arrive.
DRAIN_SECONDS = 15.0
#: Registrations sent at once before the run.
REGISTER_CONCURRENCY = 16
READINGS_PATH = "/api/v1/terminal/readings"
ADMIN = ("demo_admin", "demo-admin-pass")


# ----------------------------------------------------------------------------------------
# The webhook receiver
# ----------------------------------------------------------------------------------------
class Receiver:
    """A local HTTP server counting the webhook's POSTs by ``Idempotency-Key``."""

    def __init__(self) -> None:
        self.keys: Counter[str] = Counter()
        self.measurements: set[str] = set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                key = self.headers.get("Idempotency-Key") or ""
                try:
                    mid = str(json.loads(body).get("measurement_id") or "")
                except ValueError:
                    mid = ""
                with receiver.lock:
                    receiver.keys[key or f"(no key) {mid}"] += 1
                    if mid:
                        receiver.measurements.add(mid)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, free_port()), Handler)
        self.url = f"http://{HOST}:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ----------------------------------------------------------------------------------------
# Setup through the API
# ----------------------------------------------------------------------------------------
async def _login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await client.post("/auth/token", data={"username": username, "password": password})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def register_terminals(base: str, n: int) -> dict[str, str]:
    """``n`` terminals ``BENCH-T0001…`` registered (or their keys rotated): id -> key."""
    keys: dict[str, str] = {}
    gate = asyncio.Semaphore(REGISTER_CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        admin = await _login(client, *ADMIN)

        async def one(tid: str) -> None:
            async with gate:
                body = {"terminal_id": tid, "label": "terminals bench"}
                r = await client.post("/api/v1/admin/terminals", json=body, headers=admin)
                if r.status_code == 409:  # a re-run: the terminal exists, give it a new key
                    r = await client.post(f"/api/v1/admin/terminals/{tid}/rotate", headers=admin)
                if r.status_code not in (200, 201):
                    raise RuntimeError(f"registering {tid}: {r.status_code} {r.text[:300]}")
                keys[tid] = r.json()["key"]

        await asyncio.gather(*(one(f"BENCH-T{i:04d}") for i in range(1, n + 1)))
    return keys


def patients(store_url: str, teams: list[str]) -> tuple[list[str], dict[str, str]]:
    """Registered patients (any disease) and the hypertension patients of ``teams`` with
    their team (whose doctors hold live channels)."""
    from sqlalchemy import select

    from store.engine import make_engine
    from store.models import ChronicRegistry

    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            everyone = sorted(set(conn.scalars(select(ChronicRegistry.resident_id))))
            rows = conn.execute(
                select(ChronicRegistry.resident_id, ChronicRegistry.team_id).where(
                    ChronicRegistry.disease == "htn", ChronicRegistry.team_id.in_(teams)
                )
            )
            htn = {rid: team for rid, team in rows if team}
    finally:
        engine.dispose()
    return everyone, htn


def stored_count(store_url: str, prefix: str) -> int:
    """Measurements whose id starts with ``prefix`` (this run's)."""
    from sqlalchemy import func, select

    from store.engine import make_engine
    from store.models import Measurement

    engine = make_engine(store_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.scalar(
                    select(func.count())
                    .select_from(Measurement)
                    .where(Measurement.measurement_id.like(f"{prefix}%"))
                )
                or 0
            )
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------
@dataclass
class Run:
    """What the clients saw."""

    posts: Result = field(default_factory=lambda: Result("POST /api/v1/terminal/readings"))
    readings_acked: set[str] = field(default_factory=set)
    readings_sent: int = 0
    batches: int = 0
    quarantined: int = 0
    error_samples: list[str] = field(default_factory=list)
    #: Emergency measurement id -> (team, monotonic time of the POST's answer).
    emergencies: dict[str, tuple[str, float]] = field(default_factory=dict)
    #: Per team: emergency measurement id -> monotonic time the live event arrived.
    events: dict[str, dict[str, float]] = field(default_factory=dict)
    live_errors: int = 0
    live_ready: int = 0
    seconds: float = 0.0


async def _listen(
    base: str, team: str, headers: dict[str, str], run: Run, stop: asyncio.Event
) -> None:
    """Hold the team's live channel open until ``stop``; record its emergency events."""
    got = run.events.setdefault(team, {})
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(TIMEOUT, read=None)) as c:
        while not stop.is_set():
            try:
                async with c.stream("GET", "/api/v1/live", headers=headers) as r:
                    if r.status_code != 200:
                        run.live_errors += 1
                        await asyncio.sleep(1)
                        continue
                    event = ""
                    async for line in r.aiter_lines():
                        if line.startswith("event:"):
                            event = line[6:].strip()
                            if event == "ready":
                                run.live_ready += 1
                        elif line.startswith("data:") and event == "emergency_reading":
                            mid = json.loads(line[5:]).get("measurement_id")
                            if mid:
                                got.setdefault(str(mid), time.monotonic())
                        if stop.is_set():
                            return
            except (httpx.HTTPError, asyncio.CancelledError):
                if stop.is_set():
                    return
                run.live_errors += 1
                await asyncio.sleep(1)


def _reading(
    mid: str, resident: str, at: dt.datetime, rng: random.Random, emergency: bool
) -> dict[str, Any]:
    if emergency:
        values = {"sbp": 186, "dbp": 114, "heart_rate": 88}
    else:
        values = {
            "sbp": rng.randint(118, 158),
            "dbp": rng.randint(68, 94),
            "heart_rate": rng.randint(58, 96),
        }
    return {
        "measurement_id": mid,
        "resident_id": resident,
        "measured_at": at.replace(microsecond=0).isoformat(),
        "values": values,
    }


async def _drive(
    base: str,
    keys: dict[str, str],
    everyone: list[str],
    htn: dict[str, str],
    seconds: float,
    prefix: str,
    run: Run,
) -> None:
    from service.terminal_auth import signed_headers

    rng = random.Random(15)
    terminals = sorted(keys)
    emergency_residents = sorted(htn)
    # Every terminal's turns: its phase in the minute, then once a minute.
    turns = sorted(
        (i * PERIOD / len(terminals) + k * PERIOD, tid)
        for i, tid in enumerate(terminals)
        for k in range(math.ceil(seconds / PERIOD) + 1)
        if i * PERIOD / len(terminals) + k * PERIOD < seconds
    )
    counter = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT, limits=limits) as client:

        async def post(tid: str) -> None:
            nonlocal counter
            now = dt.datetime.now(dt.UTC)
            batch = rng.random() < BATCH_SHARE
            readings = []
            for j in range(BATCH_SIZE if batch else 1):
                counter += 1
                mid = f"{prefix}{counter:07d}"
                emergency = bool(emergency_residents) and rng.random() < EMERGENCY_SHARE
                resident = rng.choice(emergency_residents if emergency else everyone)
                at = now - dt.timedelta(minutes=(BATCH_SIZE - 1 - j) if batch else 0)
                readings.append(_reading(mid, resident, at, rng, emergency))
            body = json.dumps({"readings": readings} if batch else readings[0]).encode()
            headers = {
                "Content-Type": "application/json",
                **signed_headers(tid, keys[tid], "POST", READINGS_PATH, body, time.time()),
            }
            run.readings_sent += len(readings)
            run.batches += batch
            start = time.perf_counter()
            try:
                r = await client.post(READINGS_PATH, content=body, headers=headers)
            except httpx.HTTPError as exc:
                run.posts.errors += 1
                if len(run.error_samples) < 5:
                    run.error_samples.append(f"{type(exc).__name__}: {exc}")
                return
            elapsed = (time.perf_counter() - start) * 1000
            answered = time.monotonic()
            if r.status_code not in (200, 201):
                run.posts.errors += 1
                if len(run.error_samples) < 5:
                    run.error_samples.append(f"{r.status_code} {r.text[:200]}")
                return
            run.posts.latencies_ms.append(elapsed)
            for item in r.json()["items"]:
                if item["status"] == "quarantined":
                    run.quarantined += 1
                    if len(run.error_samples) < 5:
                        run.error_samples.append(f"quarantined: {item.get('reason')}")
                    continue
                run.readings_acked.add(item["measurement_id"])
                if item.get("emergency") and item["status"] == "created":
                    run.emergencies[item["measurement_id"]] = (htn[item["resident_id"]], answered)

        tasks: list[asyncio.Task[None]] = []
        began = time.monotonic()
        for at, tid in turns:
            wait = began + at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(post(tid)))
        await asyncio.gather(*tasks)
        run.seconds = time.monotonic() - began


async def _main(
    base: str,
    store_url: str,
    terminals: int,
    doctors: int,
    seconds: float,
    receiver: Receiver,
) -> tuple[Run, str, int]:
    teams, _ = ensure_accounts(store_url, doctors, 1)  # (one centre account: spread needs n > 0)
    everyone, htn = patients(store_url, teams)
    keys = await register_terminals(base, terminals)
    prefix = f"BTL-{uuid.uuid4().hex[:8]}-"
    run = Run()
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        logins = [await _login(client, f"bench_doctor_{t}".lower(), BENCH_PASSWORD) for t in teams]
    listeners = [
        asyncio.create_task(_listen(base, t, h, run, stop))
        for t, h in zip(teams, logins, strict=True)
    ]
    deadline = time.monotonic() + 30
    while run.live_ready < len(teams) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await _drive(base, keys, everyone, htn, seconds, prefix, run)
    # The last events and webhook calls.
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        delivered = sum(1 for m, (t, _) in run.emergencies.items() if m in run.events.get(t, {}))
        with receiver.lock:
            hooked = len(receiver.measurements & run.emergencies.keys())
        if delivered == len(run.emergencies) and hooked == len(run.emergencies):
            break
        await asyncio.sleep(0.25)
    stop.set()
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    return run, prefix, len(teams)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def report(
    run: Run, stored: int, receiver: Receiver, n_terminals: int, n_doctors: int
) -> tuple[str, list[str]]:
    """The markdown section and the problems (empty: the targets held)."""
    delays = [
        (run.events[t][m] - answered) * 1000
        for m, (t, answered) in run.emergencies.items()
        if m in run.events.get(t, {})
    ]
    to_pages = len(delays)
    with receiver.lock:
        hooked = receiver.measurements & run.emergencies.keys()
        duplicates = sum(n - 1 for n in receiver.keys.values() if n > 1)
        keyless = sum(1 for k in receiver.keys if k.startswith("(no key)"))
    p50, p99 = run.posts.percentile(0.50), run.posts.percentile(0.99)
    acked = len(run.readings_acked)
    posts = run.posts.requests
    problems = []
    if p99 >= 50:
        problems.append(f"POST p99 {p99:.1f} ms (target < 50 ms)")
    if run.posts.errors or run.quarantined:
        problems.append(f"{run.posts.errors} errors, {run.quarantined} quarantined")
    if stored != acked:
        problems.append(f"{stored} readings stored of {acked} acknowledged")
    if to_pages != len(run.emergencies):
        problems.append(f"{to_pages} of {len(run.emergencies)} emergencies reached the pages")
    if len(hooked) != len(run.emergencies):
        problems.append(f"{len(hooked)} of {len(run.emergencies)} emergencies reached the webhook")
    lines = [
        "## Terminals' load",
        "",
        f"{n_terminals:,} terminals, one reading a minute each ({BATCH_SHARE:.0%} of the posts"
        f" batches of {BATCH_SIZE}), {n_doctors} doctors' live channels open, "
        f"{run.seconds:.0f} s, {WORKERS} workers:",
        "",
        "| posts | readings | posts/s | readings/s | p50 ms | p99 ms | max ms | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {posts:,} | {run.readings_sent:,} | {posts / max(run.seconds, 1e-9):.1f} "
        f"| {run.readings_sent / max(run.seconds, 1e-9):.1f} | {p50:.1f} | {p99:.1f} "
        f"| {max(run.posts.latencies_ms, default=math.nan):.1f} "
        f"| {run.posts.errors + run.quarantined} |",
        "",
        f"- readings acknowledged {acked:,}, **stored {stored:,}**"
        f" ({'all' if stored == acked else 'MISSING SOME'})",
        f"- emergencies acknowledged {len(run.emergencies)}: **to the team's live channel"
        f" {to_pages}** (delay after the POST's answer p50 {_pct(delays, 0.5):.0f} ms,"
        f" max {max(delays, default=math.nan):.0f} ms), **to the webhook {len(hooked)}**"
        f" ({duplicates} duplicate deliveries, {keyless} without an Idempotency-Key)",
        f"- live channels: {run.live_ready} connections made ({n_doctors} pages),"
        f" {run.live_errors} dropped or refused",
    ]
    if run.error_samples:
        lines.append(f"- first errors: {'; '.join(run.error_samples)}")
    lines.append(
        "- target (issue 15): p99 < 50 ms, 0 errors, every reading stored, every emergency"
        f" delivered — {'met' if not problems else 'MISSED: ' + '; '.join(problems)}"
    )
    return "\n".join(lines) + "\n", problems


def run_terminals_bench(
    store_url: str,
    *,
    terminals: int = TERMINALS,
    doctors: int = DOCTORS,
    seconds: float = SECONDS,
) -> tuple[str, list[str]]:
    """Start the server on ``store_url``, run the load, verify; (markdown, problems)."""
    receiver = Receiver()
    port = free_port()
    saved = os.environ.get("HEALTHMAP_SERVICE__EMERGENCY_WEBHOOK_URL")
    os.environ["HEALTHMAP_SERVICE__EMERGENCY_WEBHOOK_URL"] = receiver.url
    try:
        proc = start_server(store_url, port, workers=WORKERS)
    finally:
        if saved is None:
            os.environ.pop("HEALTHMAP_SERVICE__EMERGENCY_WEBHOOK_URL", None)
        else:
            os.environ["HEALTHMAP_SERVICE__EMERGENCY_WEBHOOK_URL"] = saved
    base = f"http://{HOST}:{port}"
    try:
        wait_ready(base, proc)
        run, prefix, n_doctors = asyncio.run(
            _main(base, store_url, terminals, doctors, seconds, receiver)
        )
        stored = stored_count(store_url, prefix)
    finally:
        stop_server(proc)
        receiver.close()
    return report(run, stored, receiver, terminals, n_doctors)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="a built benchmark store's URL")
    parser.add_argument("--terminals", type=int, default=TERMINALS)
    parser.add_argument("--doctors", type=int, default=DOCTORS)
    parser.add_argument("--duration", type=float, default=SECONDS, help="seconds of load")
    args = parser.parse_args(argv)
    text, problems = run_terminals_bench(
        args.db, terminals=args.terminals, doctors=args.doctors, seconds=args.duration
    )
    print(text)
    if problems:
        raise SystemExit("terminals' load: " + "; ".join(problems))


if __name__ == "__main__":
    main()
