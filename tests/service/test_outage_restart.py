"""PostgreSQL stopped and restarted under a serving app: 503s only, back in 2 s, no write lost.

The machine's shared server is never touched: a throwaway PostgreSQL 15 cluster is made
with ``initdb`` in a temporary folder (as the ``postgres`` user when the tests run as
root) and started with ``pg_ctl`` on a free port. The small county of ``svc_county`` is
loaded into it and ``healthmap serve`` (one uvicorn worker) serves it on 127.0.0.1.

Readers and a writer (terminal readings, each with its own id) run against it while the
cluster is stopped (``pg_ctl stop -m fast``) for a few seconds and started again. Then:
every answer during the outage is a 503 problem+json with ``Retry-After`` (never a 500);
the first success after the restart comes within 2 s; every reading acknowledged with a
2xx is in the store.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from svc_county import seed_county
from svc_helpers import USERS, make_settings, token_headers

from service.accounts import add_user
from store.engine import make_engine, migrate
from store.models import Measurement

pytestmark = [pytest.mark.fault, pytest.mark.slow]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
HEALTHMAP = str(Path(sys.executable).with_name("healthmap"))
OUTAGE_SECONDS = 4.0
RECOVERY_SECONDS = 2.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb and the server refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class Cluster:
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        cmd = [str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), *args]
        done = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl {args[-1]}: {done.stdout}{done.stderr}\n{tail}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl("-o", options, "-l", str(self.folder / "server.log"), "-w", "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"{PG_BIN}/initdb is missing (apt-get install postgresql-15)", pytrace=False)
    # Not under pytest's temporary root: that is private to root (0700), and the server
    # runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="healthmap-pg-outage-"))
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(folder, pg.pw_uid, pg.pw_gid)
    subprocess.run(
        _as_postgres(
            [str(PG_BIN / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "postgres"]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    made = Cluster(folder, _free_port())
    made.start()
    try:
        yield made
    finally:
        with contextlib.suppress(RuntimeError):
            made.stop()
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Outcomes:
    """What the clients saw: (monotonic time, kind, status, retry-after present)."""

    seen: list[tuple[float, str, int, bool]] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, status: int, retry: bool) -> None:
        with self.lock:
            self.seen.append((time.monotonic(), kind, status, retry))


def _client_loop(
    base: str, headers: dict[str, dict[str, str]], out: Outcomes, stop: threading.Event, me: int
) -> None:
    n = 0
    with httpx.Client(base_url=base, timeout=10) as http:
        while not stop.is_set():
            n += 1
            if me == 0:  # the writer: terminal readings, each with its own id
                mid = f"OUT-{n}"
                r = None
                try:
                    r = http.post(
                        "/api/v1/measurements",
                        json={
                            "measurement_id": mid,
                            "resident_id": "R01",
                            "measured_at": "2026-01-01T08:00:00+08:00",
                            "sbp": 130,
                            "dbp": 80,
                        },
                        headers=headers["admin1"],
                    )
                except httpx.HTTPError:
                    out.add("write", 0, False)
                if r is not None:
                    out.add("write", r.status_code, "retry-after" in r.headers)
                    if 200 <= r.status_code < 300:
                        with out.lock:
                            out.acknowledged.append(mid)
            else:
                path = ("/api/v1/teams/T01/pushlist", "/api/v1/indicators?level=grid")[me % 2]
                who = "doctor1" if me % 2 == 0 else "bureau1"
                try:
                    r = http.get(path, headers=headers[who])
                    out.add(path, r.status_code, "retry-after" in r.headers)
                except httpx.HTTPError:
                    out.add(path, 0, False)
            time.sleep(0.05)


def _served_every_kind(out: Outcomes) -> bool:
    with out.lock:
        ok = {s[1] for s in out.seen if 200 <= s[2] < 300}
    return {"write", "/api/v1/teams/T01/pushlist", "/api/v1/indicators?level=grid"} <= ok


def test_postgres_restart_gives_503s_only_and_loses_no_write(
    cluster: Cluster, tmp_path: Path
) -> None:
    engine = make_engine(cluster.url)
    migrate(engine)
    seed_county(engine)
    with Session(engine) as session:
        for username, (password, role, team, town) in USERS.items():
            add_user(session, username, password, role, team_id=team, town_code=town)
    headers = token_headers(engine, make_settings(cluster.url))
    engine.dispose()

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHMAP_")}
    env.update(
        HEALTHMAP_MODE="demo",
        HEALTHMAP_SERVICE__RATE_LIMIT_PER_MINUTE="0",
        HEALTHMAP_DATA_DIR=str(tmp_path / "data"),
    )
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [
            HEALTHMAP,
            "--db",
            cluster.url,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    out, stop = Outcomes(), threading.Event()
    threads: list[threading.Thread] = []
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.3)
        threads = [
            threading.Thread(target=_client_loop, args=(base, headers, out, stop, i))
            for i in range(4)
        ]
        for t in threads:
            t.start()
        # Serving before the outage: every kind of request answered once (the first list
        # is computed on the first request, which on a loaded machine takes seconds).
        warm_until = time.monotonic() + 60
        while time.monotonic() < warm_until and not _served_every_kind(out):
            time.sleep(0.2)
        time.sleep(1.0)
        stopped_at = time.monotonic()
        cluster.stop()
        down_from = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        up_from = time.monotonic()
        cluster.start()
        back_at = time.monotonic()
        time.sleep(RECOVERY_SECONDS + 3.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=20)
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()

    seen = sorted(out.seen)
    before = [s for s in seen if s[0] < stopped_at]
    assert before and all(200 <= s[2] < 300 for s in before), before[:5]
    during = [s for s in seen if down_from < s[0] < up_from]
    assert during, "no request was made during the outage"
    after = [s for s in seen if s[0] > back_at]
    first_ok = next((s[0] for s in after if 200 <= s[2] < 300), None)
    assert first_ok is not None and first_ok - back_at <= RECOVERY_SECONDS, (
        first_ok,
        back_at,
    )
    assert all(200 <= s[2] < 300 for s in after if s[0] > back_at + RECOVERY_SECONDS)

    engine = make_engine(cluster.url)
    try:
        with engine.connect() as conn:
            stored = set(
                conn.execute(
                    select(Measurement.measurement_id).where(
                        Measurement.measurement_id.like("OUT-%")
                    )
                ).scalars()
            )
    finally:
        engine.dispose()
    assert out.acknowledged and set(out.acknowledged) <= stored
    # Last: what the outage looked like to the clients.
    errors = [s for s in seen if not (200 <= s[2] < 300)]
    assert errors, "the outage was not seen"
    assert all(s[2] == 503 and s[3] for s in errors), (
        "only 503s with Retry-After during the outage; saw "
        + str(sorted({(s[1], s[2], s[3]) for s in errors}))
        + "\n"
        + "\n".join(
            line
            for line in (tmp_path / "server.log").read_text().splitlines()
            if "Error" in line or "error" in line
        )[-3000:]
    )
