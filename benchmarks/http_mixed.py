"""Mixed HTTP load: doctors recording visits and reading their lists, centres, the bureau.

``python benchmarks/http_load.py --db URL --scenario mixed --clients 200 --seconds 120``
(``make bench``: :func:`run_mixed_bench` on both stores). The real server as the read-only
bench runs it (``healthmap serve --demo-users --workers 2``, loopback); ``clients``
keep-alive connections from one event loop, each at a user's pace: a request every
1 s ± :data:`JITTER` (drawn per interval, so the clients do not beat in step; after a
slower answer the next goes at once, missed turns are not caught up, as locust's
``constant_pacing``). The clients are

* **doctors** (:data:`SHARES`: 60 %), two a team, logged in as the team's bench account
  (``bench_doctor_<team>``, made with ``service.accounts`` as ``healthmap users add``
  does: the demo has one doctor), reading the team's live list
  (``GET /api/v1/teams/{team}/pushlist``) or recording a visit (``POST /api/v1/followups``)
  of a resident on it, which closes the task;
* **centres** (25 %), ``chronic_center`` accounts of the county's towns
  (``bench_centre_<town>``), reading indicator pages of their town's grids, villages and
  teams (following ``next``), their town's figures (``/api/v1/indicators/town/{code}``)
  and vector tiles of their town;
* **the bureau** (the rest), ``demo_bureau``: county-wide indicator pages (towns, grids,
  H3 cells, a few pages each), a town's figures and county tiles.

**The write rate.** A county of 265 teams (the scale-1.0 sample) manages ~143,000
registered patients; four visits a year each (RULES.md, the standard-management bar) is
~572,000 visits a year, ~2,300 per working day (250 a year), ~9 per team per day
(``teams.max_daily_visits`` is 12). A morning peak hour holding a third of the day:
265 × 9 / 3 ≈ 800 visits an hour ≈ 0.22 a second. Ten times that: **2.2 visits a second**
(:data:`VISIT_RATE`) across the doctors. The rate is held by a credit: a doctor's turn is
a visit while fewer than ``rate × elapsed`` visits were sent (and its team's list still
has a task nobody took), else a list read. At 200 clients (120 doctors) that is about
one doctor request in 55.

**A visit** is a satisfactory one (BP 128/78, for diabetes fasting glucose 6.1, no adverse
reaction, not referred), dated the list's day D, next visit D + 90, with a client
``followup_id`` (``BENCH-…``), for a (resident, disease) of a task on the team's list at
the start (case finding, ``suspected_unmanaged``, is left out: a visit does not close it),
each taken once. By RULES.md it closes the task, and no task of that disease can be due
by D after it (routine due D + 90; recheck and referral need an unsatisfactory visit; an
emergency or a discharge needs a reading or a discharge dated after D).

**Verification** after the run, the server still up: every 2xx write's ``followup_id``
(as the response returned it) is looked up in ``followups`` (one row, the resident,
disease and date sent), and the team's live list for D (through the API, as its doctor:
the cache must have seen the write) must no longer hold that (resident, disease). Counts
are printed; any mismatch fails the run (:class:`MixedOutcome` ``problems``).

Target (issue 17): p99 < 150 ms, 0 errors. The accounts stay in the store, and every list
read and visit is audited: use a demo or benchmark store, never production.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import psutil
from http_load import (
    HOST,
    TIMEOUT,
    WORKERS,
    Connection,
    Result,
    free_port,
    request_bytes,
    spread,
    start_server,
    stop_server,
    tile_at,
    wait_ready,
)
from sqlalchemy import bindparam, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

CLIENTS = 200
SECONDS = 120.0
#: Seconds between a client's requests, on average, and the spread around it (± share).
PACE = 1.0
JITTER = 0.25
#: Visits recorded per second across the doctors (module docstring: 10 × a morning peak).
VISIT_RATE = 2.2
#: Share of the clients per role (the bureau gets what is left).
SHARES = {"doctor": 0.60, "centre": 0.25}
DOCTORS_PER_TEAM = 2
#: The bench accounts' password (a benchmark store only).
BENCH_PASSWORD = "bench-mixed-pass"
BUREAU = ("demo_bureau", "demo-bureau-pass")
TARGET_P99_MS = 150.0
PAGE_LIMIT = 100
#: Pages a bureau client reads of one level before it starts another.
BUREAU_PAGES = 5
CENTRE_LEVELS = ("grid", "village", "team")
BUREAU_LEVELS = ("town", "grid", "h3:9")
CENTRE_TILE_ZOOM = 13
CENTRE_TILE_LAYERS = ("grid_indicators", "indicators", "village_indicators")
BUREAU_TILE_ZOOMS = (10, 11, 12)
BUREAU_TILE_LAYERS = ("town_indicators", "indicators", "grid_indicators")
#: Most tiles per town or zoom a client picks from.
TILES_PER_AREA = 24
#: Seconds of pacing the warm-up spreads its requests over.
WARMUP_SECONDS = 3.0
#: Case finding: not closed by a visit (RULES.md), so never a visit's target.
NOT_CLOSED_BY_VISIT = "suspected_unmanaged"


@dataclass
class Team:
    """A bench doctor account's team: its token, the list's day and the tasks to visit."""

    team_id: str
    headers: dict[str, str]
    day: dt.date
    tasks: list[tuple[str, str]]  # (resident_id, disease), list order


@dataclass
class Written:
    """A visit the server acknowledged (2xx)."""

    followup_id: str
    resident_id: str
    disease: str
    team_id: str
    day: dt.date


@dataclass
class Run:
    """What the clients share: results per kind, the write credit, the writes."""

    started: float
    rate: float
    results: dict[str, Result] = field(default_factory=dict)
    failures: dict[str, Counter[str]] = field(default_factory=dict)
    writes_sent: int = 0
    written: list[Written] = field(default_factory=list)
    unanswered_writes: int = 0
    id_mismatches: int = 0
    #: CPU seconds spent during the measured window, by who spent them (:class:`CpuMeter`).
    cpu: dict[str, float] = field(default_factory=dict)

    def record(self, kind: str, ms: float, failure: str | None) -> None:
        result = self.results.setdefault(kind, Result(kind))
        if failure is None:
            result.latencies_ms.append(ms)
        else:
            result.errors += 1
            self.failures.setdefault(kind, Counter())[failure] += 1

    def may_write(self, now: float) -> bool:
        due = self.rate * (now - self.started)
        # Turns without a task to visit leave the credit; never let it burst by more than 3.
        self.writes_sent = max(self.writes_sent, math.floor(due) - 3)
        return self.writes_sent < due


@dataclass
class MixedOutcome:
    """The markdown section and what failed the verification (empty: all held)."""

    text: str
    problems: list[str]


# ----------------------------------------------------------------------------------------
# Accounts and what the clients will ask for
# ----------------------------------------------------------------------------------------
def ensure_accounts(store_url: str, n_teams: int, n_towns: int) -> tuple[list[str], list[str]]:
    """Bench doctor accounts for ``n_teams`` teams and centre accounts for ``n_towns`` towns
    (spread over the store's), made or reset with ``service.accounts``; (teams, towns)."""
    from service.accounts import add_user, check_scope_known, set_password, set_role
    from store.accounts import User
    from store.engine import make_engine
    from store.models import Area
    from store.models import Team as TeamRow

    engine = make_engine(store_url)
    try:
        with Session(engine) as session:
            teams = spread(
                session.scalars(select(TeamRow.team_id).order_by("team_id")).all(), n_teams
            )
            town = select(Area.area_code).where(Area.level == "town").order_by("area_code")
            towns = spread(session.scalars(town).all(), n_towns)
            wanted = [(f"bench_doctor_{t}".lower(), "doctor", t, None) for t in teams]
            wanted += [(f"bench_centre_{c}", "chronic_center", None, c) for c in towns]
            for username, role, team, town in wanted:
                check_scope_known(session, team, town)
                user = session.scalar(select(User).where(User.username == username))
                if user is None:
                    add_user(session, username, BENCH_PASSWORD, role, team_id=team, town_code=town)
                    continue
                if (user.role, user.team_id, user.town_code) != (role, team, town):
                    set_role(session, username, role, team_id=team, town_code=town)
                user.disabled = False
                set_password(session, username, BENCH_PASSWORD)  # also lifts a lock-out
            session.commit()
    finally:
        engine.dispose()
    return teams, towns


async def _login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await client.post("/auth/token", data={"username": username, "password": password})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _team(client: httpx.AsyncClient, team_id: str) -> Team:
    headers = await _login(client, f"bench_doctor_{team_id}".lower(), BENCH_PASSWORD)
    r = await client.get(f"/api/v1/teams/{team_id}/pushlist", headers=headers)
    r.raise_for_status()
    body = r.json()
    tasks = list(
        dict.fromkeys(
            (e["resident_id"], e["disease"])
            for e in body["entries"]
            if e["task_code"] != NOT_CLOSED_BY_VISIT
        )
    )
    return Team(team_id, headers, dt.date.fromisoformat(body["date"]), tasks)


async def _tiles(
    client: httpx.AsyncClient, headers: dict[str, str], zooms: tuple[int, ...]
) -> list[tuple[int, int, int]]:
    """Up to :data:`TILES_PER_AREA` tiles per zoom over the caller's bounds (a centre's:
    its town's; the TileJSON says which)."""
    r = await client.get("/tiles/grid_indicators.json", headers=headers)
    r.raise_for_status()
    west, south, east, north = r.json()["bounds"]
    out = []
    for z in zooms:
        x0, y0 = tile_at(west, north, z)
        x1, y1 = tile_at(east, south, z)
        tiles = [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
        out += spread(tiles, TILES_PER_AREA)
    return out


@dataclass
class Plan:
    """Everything the clients need, found through the API before the run."""

    teams: list[Team]
    centres: list[tuple[str, dict[str, str], list[tuple[int, int, int]]]]  # town, auth, tiles
    bureau: dict[str, str]
    bureau_tiles: list[tuple[int, int, int]]
    towns: list[str]


async def _plan(base: str, teams: list[str], towns: list[str]) -> Plan:
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        gate = asyncio.Semaphore(4)  # logins hash a password: a few at a time

        async def team(t: str) -> Team:
            async with gate:
                return await _team(client, t)

        async def centre(town: str) -> tuple[str, dict[str, str], list[tuple[int, int, int]]]:
            async with gate:
                headers = await _login(client, f"bench_centre_{town}", BENCH_PASSWORD)
                return town, headers, await _tiles(client, headers, (CENTRE_TILE_ZOOM,))

        planned = await asyncio.gather(*(team(t) for t in teams))
        centres = await asyncio.gather(*(centre(t) for t in towns))
        bureau = await _login(client, *BUREAU)
        bureau_tiles = await _tiles(client, bureau, BUREAU_TILE_ZOOMS)
        # The towns with figures: one indicator's rows of the town level (one row a town).
        query: dict[str, Any] = {"level": "town", "limit": 1}
        r = await client.get("/api/v1/indicators", params=query, headers=bureau)
        query.update(limit=500, indicator=r.raise_for_status().json()["items"][0]["indicator"])
        r = await client.get("/api/v1/indicators", params=query, headers=bureau)
        all_towns = sorted({row["unit_id"] for row in r.raise_for_status().json()["items"]})
    return Plan(list(planned), list(centres), bureau, bureau_tiles, all_towns)


# ----------------------------------------------------------------------------------------
# The clients
# ----------------------------------------------------------------------------------------
class Client:
    """One simulated user: its connection, what it asks for next, and how it reads answers."""

    def __init__(self, role: str, host: str, port: int, rng: random.Random) -> None:
        self.role, self.host, self.port, self.rng = role, host, port, rng
        self.conn = Connection(host, port)
        self.next_page: str | None = None
        self.level = 0
        self.pages = 0

    def get(self, path: str, headers: dict[str, str]) -> bytes:
        return request_bytes(self.host, self.port, path, headers)

    def post(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> bytes:
        return request_bytes(self.host, self.port, path, headers, json.dumps(body).encode())

    def page(self, levels: tuple[str, ...], headers: dict[str, str]) -> bytes:
        if self.next_page is None:
            query = urlencode({"level": levels[self.level % len(levels)], "limit": PAGE_LIMIT})
            self.next_page = f"/api/v1/indicators?{query}"
        return self.get(self.next_page, headers)

    def paged(self, body: bytes, levels: tuple[str, ...], most: int | None) -> None:
        """Follow the page's ``next``; at the end (or after ``most`` pages), another level."""
        following = json.loads(body).get("next") if body else None
        self.pages += 1
        if following is None or (most is not None and self.pages >= most):
            following, self.pages = None, 0
            self.level += 1
        self.next_page = following


def visit_body(resident_id: str, disease: str, day: dt.date) -> dict[str, Any]:
    """A satisfactory visit (module docstring: no task of that disease is due by ``day``)."""
    body: dict[str, Any] = {
        "followup_id": f"BENCH-{uuid.uuid4().hex}",
        "resident_id": resident_id,
        "disease": disease,
        "visit_date": day.isoformat(),
        "method": "home",
        "sbp": 128.0,
        "dbp": 78.0,
        "heart_rate": 72.0,
        "adherence": "regular",
        "adverse_reaction": False,
        "referred": False,
        "next_visit_date": (day + dt.timedelta(days=90)).isoformat(),
    }
    if disease == "t2dm":
        body["fasting_glucose"] = 6.1
    return body


async def _client_loop(
    client: Client,
    plan: Plan,
    slot: int,
    run: Run | None,
    deadline: float,
) -> None:
    """Requests at the pace until ``deadline``; ``run`` None: the warm-up (one round of
    each read kind, nothing recorded, no writes)."""
    rng = client.rng
    due = time.perf_counter() + rng.uniform(0, WARMUP_SECONDS if run is None else PACE)
    warm = ["list"] if client.role == "doctor" else ["page", "town", "tile"]
    try:
        while time.perf_counter() < deadline and (run is not None or warm):
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            due = max(due + PACE * rng.uniform(1 - JITTER, 1 + JITTER), time.perf_counter())
            what = warm.pop() if run is None else None
            await _one(client, plan, slot, run, what)
    finally:
        await client.conn.close()


async def _one(client: Client, plan: Plan, slot: int, run: Run | None, what: str | None) -> None:
    rng, role = client.rng, client.role
    write: tuple[Team, tuple[str, str], dict[str, Any]] | None = None
    levels: tuple[str, ...] = ()
    most: int | None = None
    if role == "doctor":
        team = plan.teams[slot % len(plan.teams)]
        if run is not None and team.tasks and run.may_write(time.perf_counter()):
            task = team.tasks.pop(0)
            body = visit_body(*task, team.day)
            write = (team, task, body)
            run.writes_sent += 1
            kind, request = (
                "doctor: record a visit",
                client.post("/api/v1/followups", team.headers, body),
            )
        else:
            kind = "doctor: team's live list"
            request = client.get(f"/api/v1/teams/{team.team_id}/pushlist", team.headers)
    else:
        if role == "centre":
            town, headers, tiles = plan.centres[slot % len(plan.centres)]
            levels, layers = CENTRE_LEVELS, CENTRE_TILE_LAYERS
        else:
            town, headers, tiles = rng.choice(plan.towns), plan.bureau, plan.bureau_tiles
            levels, layers, most = BUREAU_LEVELS, BUREAU_TILE_LAYERS, BUREAU_PAGES
        pick = what or rng.choices(("page", "town", "tile"), weights=(4, 2, 4))[0]
        who = "centre" if role == "centre" else "bureau"
        if pick == "page":
            kind, request = f"{who}: indicator page", client.page(levels, headers)
        elif pick == "town":
            kind = f"{who}: a town's figures"
            request = client.get(f"/api/v1/indicators/town/{town}", headers)
        else:
            z, x, y = rng.choice(tiles)
            kind = f"{who}: vector tile"
            request = client.get(f"/tiles/{rng.choice(layers)}/{z}/{x}/{y}.mvt", headers)
    keep = write is not None or kind.endswith("indicator page")
    t0 = time.perf_counter()
    failure: str | None = None
    body_bytes = b""
    try:
        status, body_bytes = await asyncio.wait_for(client.conn.fetch(request, keep), TIMEOUT)
        if not 200 <= status < 300:
            failure = str(status)
    except TimeoutError:
        await client.conn.close()
        failure = "timeout"
    except (OSError, ValueError, asyncio.IncompleteReadError):
        await client.conn.close()
        failure = "connection"
    ms = (time.perf_counter() - t0) * 1000.0
    if kind.endswith("indicator page"):
        client.paged(body_bytes if failure is None else b"", levels, most)
    if run is None:
        return
    run.record(kind, ms, failure)
    if write is not None:
        team, (resident_id, disease), sent = write
        if failure is None:
            returned = json.loads(body_bytes)["followup_id"]
            run.id_mismatches += returned != sent["followup_id"]
            run.written.append(Written(returned, resident_id, disease, team.team_id, team.day))
        elif failure in ("timeout", "connection"):
            run.unanswered_writes += 1  # committed or not: unknown, so not verified


class CpuMeter:
    """CPU seconds (user + system) of the server's processes, the database's and this one.

    Latency on a shared 2-core machine depends on how fast its cores are that hour (the
    bench's CPU check moved from 38 to 71 ms between two runs of the same code); the CPU
    a request costs each party is the figure the code controls. The server is its
    process and every descendant (uvicorn workers and their children); the database is
    every process named ``postgres`` (its backends and background writers; a backend
    that starts and ends inside the window is missed, but the server's pool keeps its
    connections); the load generator is this process.
    """

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self._start: dict[str, dict[int, float]] = {}

    @staticmethod
    def _spent(procs: list[psutil.Process]) -> dict[int, float]:
        spent = {}
        for proc in procs:
            try:
                t = proc.cpu_times()
                spent[proc.pid] = t.user + t.system
            except psutil.Error:
                pass
        return spent

    def _now(self) -> dict[str, dict[int, float]]:
        server = psutil.Process(self.server_pid)
        database = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]
        return {
            "server": self._spent([server, *server.children(recursive=True)]),
            "database": self._spent(database),
            "load generator": self._spent([psutil.Process()]),
        }

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> dict[str, float]:
        """CPU seconds per party since :meth:`start` (processes alive at both ends)."""
        end = self._now()
        return {
            who: sum(t - self._start[who][pid] for pid, t in now.items() if pid in self._start[who])
            for who, now in end.items()
        }


async def _drive(
    base: str, plan: Plan, roles: list[str], seconds: float, rate: float, meter: CpuMeter
) -> tuple[Run, float]:
    url = httpx.URL(base)
    host, port = str(url.host), int(url.port or 80)
    rng = random.Random(17)
    slots: Counter[str] = Counter()

    def clients() -> list[tuple[Client, int]]:
        out = []
        for role in roles:
            out.append((Client(role, host, port, random.Random(rng.random())), slots[role]))
            slots[role] += 1
        slots.clear()
        return out

    # Warm-up: every client asks once for each kind it reads (each worker computes what it
    # caches: the teams' lists, the pages' counts), nothing recorded.
    warm_deadline = time.perf_counter() + WARMUP_SECONDS + 4 * TIMEOUT
    await asyncio.gather(*(_client_loop(c, plan, s, None, warm_deadline) for c, s in clients()))
    meter.start()
    run = Run(started=time.perf_counter(), rate=rate)
    deadline = run.started + seconds
    await asyncio.gather(*(_client_loop(c, plan, s, run, deadline) for c, s in clients()))
    elapsed = time.perf_counter() - run.started
    run.cpu = meter.stop()
    return run, elapsed


# ----------------------------------------------------------------------------------------
# Verification and the report
# ----------------------------------------------------------------------------------------
@dataclass
class Verification:
    acknowledged: int = 0
    in_store: int = 0
    wrong_in_store: int = 0
    closed: int = 0
    still_listed: list[Written] = field(default_factory=list)


async def _verify(base: str, store_url: str, plan: Plan, run: Run) -> Verification:
    from store.engine import make_engine

    v = Verification(acknowledged=len(run.written))
    ids = [w.followup_id for w in run.written]
    engine = make_engine(store_url)
    rows: dict[str, tuple[str, str, dt.date]] = {}
    try:
        query = text(
            "SELECT followup_id, resident_id, disease, visit_date FROM followups"
            " WHERE followup_id IN :ids"
        ).bindparams(bindparam("ids", expanding=True))
        with engine.connect() as conn:
            for i in range(0, len(ids), 500):
                for fid, rid, disease, day in conn.execute(query, {"ids": ids[i : i + 500]}):
                    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
                    rows[fid] = (rid, disease, day)
    finally:
        engine.dispose()
    for w in run.written:
        got = rows.get(w.followup_id)
        v.in_store += got is not None
        v.wrong_in_store += got is not None and got != (w.resident_id, w.disease, w.day)
    teams = {t.team_id: t for t in plan.teams}
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
        for team_id in sorted({w.team_id for w in run.written}):
            team = teams[team_id]
            r = await client.get(
                f"/api/v1/teams/{team_id}/pushlist",
                params={"date": team.day.isoformat()},
                headers=team.headers,
            )
            r.raise_for_status()
            listed = {(e["resident_id"], e["disease"]) for e in r.json()["entries"]}
            for w in (w for w in run.written if w.team_id == team_id):
                if (w.resident_id, w.disease) in listed:
                    v.still_listed.append(w)
                else:
                    v.closed += 1
    return v


def roles_for(clients: int) -> list[str]:
    """The clients' roles by :data:`SHARES`, interleaved (so a run cut short has all)."""
    n_doctor = round(clients * SHARES["doctor"])
    n_centre = round(clients * SHARES["centre"])
    roles = ["doctor"] * n_doctor + ["centre"] * n_centre
    roles += ["bureau"] * (clients - len(roles))
    random.Random(0).shuffle(roles)
    return roles


def problems_of(run: Run, v: Verification) -> list[str]:
    out = []
    if v.in_store != v.acknowledged:
        out.append(f"{v.acknowledged - v.in_store} acknowledged visits missing from followups")
    if v.wrong_in_store:
        out.append(f"{v.wrong_in_store} stored visits differ from what was sent")
    if v.still_listed:
        sample = ", ".join(f"{w.resident_id}/{w.disease}" for w in v.still_listed[:5])
        out.append(f"{len(v.still_listed)} visited tasks still on the live list ({sample})")
    if run.id_mismatches:
        out.append(f"{run.id_mismatches} responses returned another followup_id than sent")
    return out


def report(
    store_url: str,
    run: Run,
    seconds: float,
    clients: int,
    roles: list[str],
    plan: Plan,
    v: Verification,
    workers: int,
) -> str:
    counts = Counter(roles)
    store = make_url(store_url).get_backend_name()
    lines = [
        "## HTTP mixed load",
        "",
        f"`healthmap serve` ({workers} uvicorn workers) on the loopback, store `{store}`, "
        f"{clients} clients (one keep-alive HTTP/1.1 connection each, one asyncio loop), each "
        f"sending a request every {PACE:g} s ± {JITTER:.0%} (a user's pace), for "
        f"{seconds:.0f} s: {counts['doctor']} doctors of {len(plan.teams)} teams (bench "
        f"accounts, {DOCTORS_PER_TEAM} clients a team), {counts['centre']} centre users of "
        f"{len(plan.centres)} towns, {counts['bureau']} bureau users. Doctors record visits "
        f"at {run.rate:g}/s in all (ten times a county's morning peak, "
        "`benchmarks/http_mixed.py`) and otherwise read their team's live list; latency is "
        "per request, client side. Target: p99 < 150 ms, 0 errors.",
        "",
        "| request kind | requests | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    every = Result("all requests")
    for kind in sorted(run.results):
        r = run.results[kind]
        every.latencies_ms += r.latencies_ms
        every.errors += r.errors
        why = ", ".join(f"{n}× {k}" for k, n in run.failures.get(kind, Counter()).most_common())
        lines.append(
            f"| {kind} | {r.requests} | {r.requests / seconds:.1f} | {r.percentile(0.5):.1f} |"
            f" {r.percentile(0.99):.1f} | {r.errors}{f' ({why})' if why else ''} |"
        )
    lines.append(
        f"| **all requests** | {every.requests} | {every.requests / seconds:.1f} |"
        f" {every.percentile(0.5):.1f} | {every.percentile(0.99):.1f} | {every.errors} |"
    )
    p99 = every.percentile(0.99)
    meets = p99 < TARGET_P99_MS and every.errors == 0
    acknowledged = len(run.written)
    lines += [
        "",
        f"- writes: {run.writes_sent} visits sent, {acknowledged} acknowledged (2xx): "
        f"**{acknowledged / seconds:.2f} visits/s** achieved of {run.rate:g}/s asked"
        + (f"; {run.unanswered_writes} without an answer" if run.unanswered_writes else "")
        + f"; tasks left to visit on the teams' lists at the end: "
        f"{sum(len(t.tasks) for t in plan.teams)}",
        f"- verification: {v.in_store} of {acknowledged} acknowledged visits in `followups`"
        f" by the returned id ({v.wrong_in_store} differing from what was sent); "
        f"{v.closed} of {acknowledged} tasks closed (off the team's live list for the day), "
        f"{len(v.still_listed)} still listed",
        f"- p99 over all requests **{p99:.1f} ms**, {every.errors} errors — "
        f"{'meets' if meets else 'MISSES'} the target",
    ]
    if run.cpu and every.requests:
        per = ", ".join(
            f"{who} {1000 * spent / every.requests:.1f} ms" for who, spent in run.cpu.items()
        )
        busy = sum(run.cpu.values()) / seconds
        lines.append(
            f"- CPU per request (measured window, all parties on the same cores): {per};"
            f" the machine's cores were {busy:.2f} of {os.cpu_count()} busy with them"
        )
    return "\n".join(lines) + "\n"


def run_mixed_bench(
    store_url: str,
    *,
    clients: int = CLIENTS,
    seconds: float = SECONDS,
    workers: int = WORKERS,
    rate: float = VISIT_RATE,
) -> MixedOutcome:
    """Serve ``store_url``, run the mixed load, verify the writes; the markdown section.

    Parameters
    ----------
    store_url : str
        A store with a build (SQLAlchemy URL); bench accounts are added to it.
    clients : int
        Concurrent clients (doctors, centres, bureau by :data:`SHARES`).
    seconds : float
        Length of the measured run (after a warm-up).
    workers : int
        uvicorn worker processes of the server.
    rate : float
        Visits recorded per second across the doctors.

    Returns
    -------
    MixedOutcome
        ``text``: a ``## HTTP mixed load`` section; ``problems``: verification failures.
    """
    roles = roles_for(clients)
    counts = Counter(roles)
    n_teams = max(1, math.ceil(counts["doctor"] / DOCTORS_PER_TEAM))
    teams, towns = ensure_accounts(store_url, n_teams, max(1, counts["centre"]))
    port = free_port()
    base = f"http://{HOST}:{port}"
    proc = start_server(store_url, port, workers)
    try:
        wait_ready(base, proc)
        plan = asyncio.run(_plan(base, teams, towns))
        run, elapsed = asyncio.run(_drive(base, plan, roles, seconds, rate, CpuMeter(proc.pid)))
        verification = asyncio.run(_verify(base, store_url, plan, run))
    finally:
        stop_server(proc)
    problems = problems_of(run, verification)
    text_ = report(store_url, run, elapsed, clients, roles, plan, verification, workers)
    if problems:
        text_ += "\n**Verification failed:** " + "; ".join(problems) + ".\n"
    return MixedOutcome(text_, problems)
