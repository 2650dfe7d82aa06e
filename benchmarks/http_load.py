"""HTTP load benchmark: ``healthmap serve`` under 50 concurrent clients on the loopback.

Starts the real server (``healthmap serve --demo-users --workers N``, default
:data:`WORKERS` uvicorn worker processes, rate limits and the 06:00 scheduler off) on a
free port of 127.0.0.1 against a given store, logs in as the demo doctor and the demo
bureau, and drives three endpoints one after the other, each with ``clients`` concurrent
clients (each a keep-alive HTTP/1.1 connection, :class:`Connection`; one event loop) for
at most ``seconds`` seconds or ``max_requests`` requests:

* the doctor's team's live push list (``GET /api/v1/teams/{team}/pushlist``),
* an indicator lookup (``GET /api/v1/indicators/town/{code}``: one town, trend included),
* a vector tile (``GET /tiles/town_indicators/{z}/{x}/{y}.mvt`` at the county's centre).

It reports requests per second, p50/p99 latency and errors as a markdown section
(:func:`run_http_bench`). The store must hold a build (``healthmap demo`` or
``healthmap build``); ``--demo-users`` (re)creates the demo accounts in it, and every
push-list read adds an audit record — use a demo or benchmark store, never production.

    python benchmarks/http_load.py --db sqlite:///var/healthmap.db

``--scenario mixed`` runs the mixed load instead (doctors recording visits while centres
and the bureau read; ``benchmarks/http_mixed.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy.engine import make_url

T = TypeVar("T")
BIN = Path(sys.executable).parent
HEALTHMAP = str(BIN / "healthmap")
HOST = "127.0.0.1"
CLIENTS = 50
SECONDS = 10.0
MAX_REQUESTS = 20_000
#: uvicorn worker processes of the load run (``service.workers``' default).
WORKERS = 2
TILE_ZOOM = 10
#: Seconds a request may take before it counts as an error.
TIMEOUT = 60.0


@dataclass
class Result:
    """What one endpoint did under load."""

    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    #: The very first request after the server started (nothing cached yet), in ms.
    first_ms: float = math.nan

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + self.errors

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def free_port() -> int:
    """A TCP port of the loopback nobody listens on (now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


#: Per server process (by pid): the folder holding its stderr and its access log.
_SERVER_LOGS: dict[int, Path] = {}


def start_server(store_url: str, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    """``healthmap serve`` on 127.0.0.1:port with ``workers`` processes, rate limits and the
    scheduler off.

    The access log stays on (the service's default, so its cost is measured) and goes to a
    scratch folder, as does the server's stderr: stderr must not be a pipe nobody reads,
    because the access log writes a line per request to it and a full pipe (64 KB, a few
    hundred requests) blocks every worker.
    """
    logs = Path(tempfile.mkdtemp(prefix="healthmap-bench-"))
    env = {
        **os.environ,
        "HEALTHMAP_SERVICE__RATE_LIMIT_PER_MINUTE": "0",
        "HEALTHMAP_SERVICE__SCHEDULER_ENABLED": "false",
        "HEALTHMAP_SERVICE__ACCESS_LOG_FILE": str(logs / "access.log"),
    }
    cmd = [HEALTHMAP, "serve", "--db", store_url, "--host", HOST, "--port", str(port)]
    cmd += ["--workers", str(workers)]
    with open(logs / "stderr.log", "wb") as stderr:
        proc = subprocess.Popen(
            [*cmd, "--demo-users"], env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    _SERVER_LOGS[proc.pid] = logs
    return proc


def server_stderr(proc: subprocess.Popen[bytes], tail: int = 2000) -> str:
    """The last ``tail`` characters the server wrote to stderr."""
    logs = _SERVER_LOGS.get(proc.pid)
    if logs is None or not (logs / "stderr.log").exists():
        return ""
    return (logs / "stderr.log").read_bytes().decode(errors="replace")[-tail:]


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    """Wait until ``/readyz`` answers 200 (the server imports and migrates first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"healthmap serve exited ({proc.returncode}): {server_stderr(proc)}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"healthmap serve did not become ready within {timeout:.0f} s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    logs = _SERVER_LOGS.pop(proc.pid, None)
    if logs is not None:
        shutil.rmtree(logs, ignore_errors=True)


def tile_at(lng: float, lat: float, z: int) -> tuple[int, int]:
    """XYZ tile holding a point."""
    n = 2**z
    x = int((lng + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


async def _login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await client.post("/auth/token", data={"username": username, "password": password})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _targets(client: httpx.AsyncClient) -> list[tuple[str, str, dict[str, str]]]:
    """(label, path, headers) of the three endpoints, found through the API itself."""
    doctor = await _login(client, "demo_doctor", "demo-doctor-pass")
    bureau = await _login(client, "demo_bureau", "demo-bureau-pass")
    team = (await client.get("/auth/me", headers=doctor)).json()["team_id"]
    towns = await client.get(
        "/api/v1/indicators", params={"level": "town", "limit": 1}, headers=bureau
    )
    towns.raise_for_status()
    town = towns.json()["items"][0]["unit_id"]
    tilejson = await client.get("/tiles/town_indicators.json", headers=bureau)
    tilejson.raise_for_status()
    lng, lat, _ = tilejson.json()["center"]
    x, y = tile_at(lng, lat, TILE_ZOOM)
    return [
        ("push list (doctor's team)", f"/api/v1/teams/{team}/pushlist", doctor),
        ("indicator lookup (one town)", f"/api/v1/indicators/town/{town}", bureau),
        (
            "vector tile (town indicators)",
            f"/tiles/town_indicators/{TILE_ZOOM}/{x}/{y}.mvt",
            bureau,
        ),
    ]


class Connection:
    """One client's HTTP/1.1 keep-alive connection to the server: GET, the whole body read.

    The load is driven with these rather than with ``httpx``: on this 2-core machine the
    client shares the CPU with the server, and httpx spent about as much CPU per request
    as the server did (its pool is slow with 50 connections), which halved the throughput
    measured. These cost a few tens of microseconds per request.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, request: bytes) -> int:
        """Send a prepared request; the response's status (its body read and dropped)."""
        status, _ = await self.fetch(request, keep_body=False)
        return status

    async def fetch(self, request: bytes, keep_body: bool = True) -> tuple[int, bytes]:
        """Send a prepared request; the response's status and body (``b""`` unless kept)."""
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.reader, self.writer
        writer.write(request)
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in head[1:]:
            key, _, value = line.partition(":")
            key, value = key.strip().lower(), value.strip().lower()
            if key == "content-length":
                length = int(value)
            elif key == "transfer-encoding":
                chunked = "chunked" in value
            elif key == "connection":
                close = value == "close"
        parts: list[bytes] = []
        if chunked:
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append((await reader.readexactly(size + 2))[:size])
                if size == 0:
                    break
        elif length:
            parts.append(await reader.readexactly(length))
        if close:
            await self.close()
        return status, b"".join(parts) if keep_body else b""

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def request_bytes(
    host: str, port: int, path: str, headers: dict[str, str], json_body: bytes | None = None
) -> bytes:
    """A request as sent on the wire: a GET, or with ``json_body`` a POST of that JSON."""
    method = "GET" if json_body is None else "POST"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: */*"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if json_body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(json_body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (json_body or b"")


def spread(items: Sequence[T], n: int) -> list[T]:
    """``n`` of ``items`` evenly spaced (all of them when there are no more)."""
    if n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


async def _load(
    base: str,
    label: str,
    path: str,
    headers: dict[str, str],
    clients: int,
    seconds: float,
    max_requests: int,
    pace: float = 0.0,
) -> Result:
    """Drive one endpoint; ``pace`` > 0: each client starts a request every ``pace`` seconds
    (from a random offset; at once if the last answer took longer), else back to back."""
    url = httpx.URL(base)
    host, port = str(url.host), int(url.port or 80)
    request = request_bytes(host, port, path, headers)
    result = Result(label)
    budget = [max_requests]
    started = time.perf_counter()
    deadline = started + seconds

    async def worker(offset: float) -> None:
        conn = Connection(host, port)
        due = started + offset
        try:
            while time.perf_counter() < deadline and budget[0] > 0:
                if pace:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    due += pace
                budget[0] -= 1
                t0 = time.perf_counter()
                try:
                    status = await asyncio.wait_for(conn.get(request), TIMEOUT)
                    ok = status < 400
                except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError):
                    await conn.close()
                    ok = False
                if ok:
                    result.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
                else:
                    result.errors += 1
        finally:
            await conn.close()

    rng = random.Random(0)
    await asyncio.gather(*(worker(rng.uniform(0, pace)) for _ in range(clients)))
    result.seconds = time.perf_counter() - started
    return result


async def _drive(
    base: str, clients: int, seconds: float, max_requests: int, pace: float = 0.0
) -> list[Result]:
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        targets = await _targets(client)
        firsts = []
        for _, path, headers in targets:
            t0 = time.perf_counter()
            await client.get(path, headers=headers)
            firsts.append((time.perf_counter() - t0) * 1000.0)
    results = []
    for (label, path, headers), first in zip(targets, firsts, strict=True):
        # Warm-up: one request on each of the clients' connections, so that every worker
        # process has computed what it caches (steady state; the first request's time is
        # reported on its own).
        await _load(base, label, path, headers, clients, TIMEOUT, clients)
        result = await _load(base, label, path, headers, clients, seconds, max_requests, pace)
        result.first_ms = first
        results.append(result)
    return results


def report(
    results: list[Result],
    store_url: str,
    clients: int,
    seconds: float,
    workers: int = 1,
    pace: float = 0.0,
) -> str:
    """The markdown section."""
    store = make_url(store_url)
    procs = "one uvicorn worker" if workers == 1 else f"{workers} uvicorn workers"
    mode = (
        f"each sending a request every {pace:g} s (a user's pace; the next one at once if "
        "an answer took longer)"
        if pace
        else "each sending its next request as soon as the last is answered (saturation)"
    )
    lines = [
        "## HTTP load",
        "",
        f"`healthmap serve` ({procs}) on the loopback, store "
        f"`{store.get_backend_name()}`, {clients} concurrent clients (one keep-alive HTTP/1.1"
        f" connection each, one asyncio loop) {mode}, up to {seconds:.0f} s per endpoint;"
        " latency is per request, client side.",
        "",
        "| endpoint | requests | req/s | p50 ms | p99 ms | errors | first request ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rate = r.requests / r.seconds if r.seconds else 0.0
        lines.append(
            f"| {r.name} | {r.requests} | {rate:.1f} | {r.percentile(0.5):.1f} |"
            f" {r.percentile(0.99):.1f} | {r.errors} | {r.first_ms:.0f} |"
        )
    mean = [statistics.fmean(r.latencies_ms) for r in results if r.latencies_ms]
    if mean:
        lines += ["", f"Mean latency over the three: {statistics.fmean(mean):.1f} ms."]
    if not pace:
        lines += [
            "",
            f"Each client sends its next request when the last one is answered, so the mean "
            f"latency is about {clients} / (requests per second): p99 under 50 ms needs more "
            f"than {clients * 20:,} requests per second.",
        ]
    lines += [
        "",
        "The first request of an endpoint after start computes what is then cached (a "
        "team's list: until the next write to the store).",
    ]
    return "\n".join(lines) + "\n"


def run_http_bench(
    store_url: str,
    *,
    clients: int = CLIENTS,
    seconds: float = SECONDS,
    max_requests: int = MAX_REQUESTS,
    workers: int = WORKERS,
    pace: float = 0.0,
) -> str:
    """Serve ``store_url``, load three endpoints, return a markdown section of the results.

    Parameters
    ----------
    store_url : str
        A store with a build (SQLAlchemy URL).
    clients : int
        Concurrent clients per endpoint.
    seconds : float
        Longest run per endpoint.
    max_requests : int
        Most requests per endpoint.
    workers : int
        uvicorn worker processes of the server.
    pace : float
        0: every client sends back to back (closed loop, saturation); else each client
        starts a request every ``pace`` seconds.

    Returns
    -------
    str
        Markdown: a ``## HTTP load`` section with requests, req/s, p50/p99 and errors.
    """
    port = free_port()
    base = f"http://{HOST}:{port}"
    proc = start_server(store_url, port, workers)
    try:
        wait_ready(base, proc)
        results = asyncio.run(_drive(base, clients, seconds, max_requests, pace))
    finally:
        stop_server(proc)
    return report(results, store_url, clients, seconds, workers, pace)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="Store URL (with a build).")
    parser.add_argument(
        "--scenario",
        choices=("read", "mixed"),
        default="read",
        help="read: three endpoints one after the other (default); mixed: doctors recording"
        " visits, centres and the bureau at once (benchmarks/http_mixed.py).",
    )
    parser.add_argument("--clients", type=int, help=f"Default {CLIENTS}; mixed: 200.")
    parser.add_argument("--seconds", type=float, help=f"Default {SECONDS:g}; mixed: 120.")
    parser.add_argument("--max-requests", type=int, default=MAX_REQUESTS)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument(
        "--pace",
        type=float,
        default=0.0,
        help="Seconds between a client's requests (0: back to back; read scenario only).",
    )
    parser.add_argument(
        "--visit-rate",
        type=float,
        default=None,
        help="mixed: visits recorded per second across the doctors (default 2.2).",
    )
    args = parser.parse_args(argv)
    if args.scenario == "mixed":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import http_mixed

        outcome = http_mixed.run_mixed_bench(
            args.db,
            clients=args.clients or http_mixed.CLIENTS,
            seconds=args.seconds or http_mixed.SECONDS,
            workers=args.workers,
            rate=http_mixed.VISIT_RATE if args.visit_rate is None else args.visit_rate,
        )
        sys.stdout.write(outcome.text)
        if outcome.problems:
            raise SystemExit("verification failed: " + "; ".join(outcome.problems))
        return
    text: Any = run_http_bench(
        args.db,
        clients=args.clients or CLIENTS,
        seconds=args.seconds or SECONDS,
        max_requests=args.max_requests,
        workers=args.workers,
        pace=args.pace,
    )
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
