"""Benchmarks at scale 1.0, written to BENCHMARKS.md with the machine and the date.

Each step runs as its own process so that its peak memory (max RSS, from ``wait4``) is its
own. Sections of BENCHMARKS.md are replaced one by one, so ``--only ingest`` refreshes the
ingestion figures and keeps the others.

    python benchmarks/run.py                 # everything
    python benchmarks/run.py --only sample ingest --scale 0.1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HEALTHMAP = str(BIN / "healthmap")
REPORT = ROOT / "BENCHMARKS.md"
WORK = ROOT / "var" / "bench"
PG_ADMIN = os.environ.get(
    "HEALTHMAP_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BENCH_AS_OF = "2026-11-15"
RESULTS_JSON = ROOT / "benchmarks" / "results.json"

#: Figures of the steps run by this invocation, by step then store: later steps (peers,
#: build-dask) divide by them.
RESULTS: dict[str, dict[str, Any]] = {}


def record(step: str, entry: dict[str, Any], scale: float) -> None:
    """Keep ``entry`` for later steps and write it to ``results.json`` (other steps' kept)."""
    RESULTS.setdefault(step, {}).update(entry)
    try:
        data = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    except ValueError:
        data = {}
    data[step] = {
        "run": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "commit": commit(),
        "scale": scale,
        **RESULTS[step],
    }
    RESULTS_JSON.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run ``cmd``; return (wall seconds, peak RSS in MB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    assert proc.stdout is not None and proc.stderr is not None
    stdout = proc.stdout.read().decode()
    stderr = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-4000:]}")
    return wall, usage.ru_maxrss / 1024.0, stdout


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{platform.node() or 'host'}: {os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section between ``<!-- bench:name -->`` markers."""
    text = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n\nWritten by `make bench`.\n"
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else f"{text.rstrip()}\n\n{block}\n"
    )
    REPORT.write_text(text)


def cpu_check() -> float:
    """Milliseconds a fixed single-core workload takes now (Python loop and a NumPy sort).

    The VM's speed varies from hour to hour (the same build took 145 s and 228 s inside on
    one day); this figure, taken before each step, says how fast the machine was then.
    """
    import numpy as np

    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        sum(i * i for i in range(1_000_000))
        np.sort(np.random.default_rng(0).random(1_000_000))
        best = min(best, time.perf_counter() - t0)
    return best * 1000.0


def commit() -> str:
    """The checkout's commit, ``+changes`` when the tree differs from it."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{rev}{'+changes' if dirty else ''}" if rev else "unknown"


def header(title: str, scale: float) -> str:
    now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (
        f"## {title}\n\nRun {now} on {machine()}, commit {commit()}; scale {scale}. CPU "
        f"check before the step: {cpu_check():.0f} ms (a fixed single-core workload; lower "
        "is faster).\n"
    )


# ----------------------------------------------------------------------------------------
def bench_sample(scale: float) -> None:
    out = WORK / f"county_{scale}"
    shutil.rmtree(out, ignore_errors=True)
    wall, rss, _ = run_measured(
        [HEALTHMAP, "sample", "--out", str(out), "--scale", str(scale), "--as-of", BENCH_AS_OF]
    )
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    size_mb = sum(f.stat().st_size for f in out.iterdir()) / 1024**2
    lines = [
        header("Sample county generation", scale),
        f"- wall time: **{wall:.1f} s**, peak memory **{rss / 1024:.2f} GB**, "
        f"{sum(counts.values()):,} rows, {size_mb:,.0f} MB on disk",
        "",
        "| table | rows |",
        "|---|---:|",
        *(f"| {t} | {n:,} |" for t, n in counts.items()),
    ]
    write_section("sample", "\n".join(lines))


def _ingest_into(url: str, delivery: Path) -> tuple[float, float, dict]:
    wall, rss, stdout = run_measured(
        [HEALTHMAP, "ingest", str(delivery), "--db", url, "--json"],
        env={"HEALTHMAP_DATABASE_URL": url, "COLUMNS": "200"},
    )
    return wall, rss, json.loads(stdout)


SQLITE_PATH = WORK / "bench.db"
PG_DB = "hm_bench"


def stores() -> list[tuple[str, str]]:
    """The two stores every bench after ingestion runs on (left by ``bench_ingest``)."""
    return [
        ("SQLite", f"sqlite:///{SQLITE_PATH}"),
        ("PostGIS", PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}"),
    ]


def _fresh_stores() -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
    subprocess.run(
        ["psql", PG_ADMIN, "-qc", f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'], check=True
    )
    subprocess.run(["psql", PG_ADMIN, "-qc", f'CREATE DATABASE "{PG_DB}"'], check=True)


def bench_ingest(scale: float) -> None:
    delivery = WORK / f"county_{scale}"
    if not (delivery / "manifest.json").exists():
        bench_sample(scale)
    _fresh_stores()
    lines = [
        header("Ingestion of the whole delivery", scale),
        "Target: under 10 minutes into either store, peak memory under 8 GB.",
    ]
    for name, url in stores():
        wall, rss, summary = _ingest_into(url, delivery)
        verdict = "meets" if wall < 600 and rss < 8 * 1024 else "MISSES"
        lines += [
            "",
            f"### {name}",
            "",
            f"- wall time **{wall:.0f} s** ({wall / 60:.1f} min), peak memory "
            f"**{rss / 1024:.2f} GB** — {verdict} the target",
            "",
            "| table | rows read | loaded | quarantined | seconds | rows/s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for table, t in summary["tables"].items():
            secs = t.get("seconds") or 0.0
            rate = f"{t['read'] / secs:,.0f}" if secs else "–"
            lines.append(
                f"| {table} | {t['read']:,} | {t['loaded']:,} | {t['quarantined']:,} "
                f"| {secs:.1f} | {rate} |"
            )
        record("ingest", {name: {"seconds": wall, "peak_mb": rss}}, scale)
    write_section("ingest", "\n".join(lines))


def bench_build(scale: float) -> None:
    lines = [
        header("Full build (13 periods × every indicator and level, burden, hotspots)", scale),
        "Target: under 3 minutes and 8 GB.",
    ]
    for name, url in stores():
        wall, rss, _ = run_measured(
            [HEALTHMAP, "--db", url, "build", "--as-of", BENCH_AS_OF], env={"COLUMNS": "200"}
        )
        verdict = "meets" if wall < 180 and rss < 8 * 1024 else "MISSES"
        lines += [
            f"- {name}: wall time **{wall:.0f} s**, peak memory **{rss / 1024:.2f} GB** "
            f"— {verdict} the target",
            f"  - {_build_phases(url, wall)}",
        ]
        record("build", {name: {"seconds": wall, "peak_mb": rss}}, scale)
    write_section("build", "\n".join(lines))


def _build_phases(url: str, wall: float) -> str:
    """Where the build's time went, from the summary the build stores."""
    from sqlalchemy import text

    from store.engine import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        summary = conn.execute(
            text("SELECT summary FROM builds WHERE status = 'ready' ORDER BY build_id DESC")
        ).scalar()
    engine.dispose()
    s = json.loads(summary) if isinstance(summary, str) else summary or {}
    t = s.get("timings", {})
    periods = [v for k, v in t.items() if k.startswith("compute 2")]
    stores = [v for k, v in t.items() if k.startswith("store 2")]
    return (
        f"read {t.get('read', 0):.0f} s; {len(periods)} periods computed in forked workers, "
        f"{sum(periods):.0f} s in all (longest {max(periods, default=0):.0f} s); early warning "
        f"{t.get('compute surveillance', 0):.0f} s in one worker; indicator rows written by the "
        f"main process meanwhile, {sum(stores):.0f} s in all; burden {t.get('burden', 0):.0f} s, "
        f"hotspots {t.get('hotspots', 0):.0f} s; the rows of the build before the one replaced "
        f"dropped by another process meanwhile, {t.get('drop superseded', 0):.0f} s; inside "
        f"the build {s.get('seconds', 0):.0f} s, the rest of the {wall:.0f} s (start-up, "
        f"making the build current) {wall - s.get('seconds', 0):.0f} s"
    )


PUSHLIST_PROBE = """
import datetime as dt, json, statistics, sys, time
from geo.rules import DEFAULT_RULES
from store.engine import make_engine
from pipelines.pushlist import team_push_list, team_route
from sqlalchemy import text
engine = make_engine(sys.argv[1])
day = dt.date.fromisoformat(sys.argv[2])
with engine.connect() as conn:
    teams = [r[0] for r in conn.execute(text("select team_id from teams order by team_id"))]
teams = teams[:: max(1, len(teams) // 15)][:15]
lists, routes = [], []
for team in teams:
    t0 = time.perf_counter()
    entries = team_push_list(engine, team, day, DEFAULT_RULES)
    t1 = time.perf_counter()
    team_route(engine, team, day, DEFAULT_RULES, entries=entries)
    t2 = time.perf_counter()
    lists.append(t1 - t0)
    routes.append(t2 - t0)
print(json.dumps({"teams": len(teams), "list_median": statistics.median(lists),
                  "list_max": max(lists), "route_median": statistics.median(routes),
                  "route_max": max(routes)}))
"""


def bench_pushlist(scale: float) -> None:
    lines = [
        header("Morning push lists and visit routes", scale),
        "Targets: all teams' lists for one day under 60 s; one team's list and route under "
        "1 s (median).",
    ]
    for name, url in stores():
        wall, rss, _ = run_measured(
            [HEALTHMAP, "--db", url, "pushlist", "generate", "--date", BENCH_AS_OF]
        )
        _, _, out = run_measured([sys.executable, "-c", PUSHLIST_PROBE, url, BENCH_AS_OF])
        probe = json.loads(out.strip().splitlines()[-1])
        lines += [
            "",
            f"### {name}",
            "",
            f"- all teams' lists (`healthmap pushlist generate`, whole process): **{wall:.1f} s**, "
            f"peak memory {rss / 1024:.2f} GB",
            f"- one team's live list, {probe['teams']} teams sampled: median "
            f"**{probe['list_median'] * 1000:.0f} ms**, max {probe['list_max'] * 1000:.0f} ms",
            f"- one team's list and route together: median **{probe['route_median'] * 1000:.0f} "
            f"ms**, max {probe['route_max'] * 1000:.0f} ms",
        ]
    write_section("pushlist", "\n".join(lines))


def bench_model(scale: float) -> None:
    name, url = stores()[0]
    wall, rss, out = run_measured(
        [HEALTHMAP, "--db", url, "model", "train", "--as-of", BENCH_AS_OF],
        env={"OMP_NUM_THREADS": "1", "HEALTHMAP_DATA_DIR": str(WORK)},
    )
    metrics = json.loads(out[out.index("{") :])
    test = metrics.get("test", metrics)
    lines = [
        header("Risk model training", scale),
        f"- `healthmap model train` on the {name} store: **{wall:.0f} s**, peak memory "
        f"{rss / 1024:.2f} GB",
        "",
        "```json",
        json.dumps(test, indent=1, default=str)[:6000],
        "```",
    ]
    write_section("model", "\n".join(lines))


def bench_http(scale: float) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from http_load import run_http_bench

    parts = [
        header("HTTP load (50 concurrent clients)", scale),
        "Target: p99 < 50 ms and no errors, judged at a user's pace: 50 clients each "
        "sending a request every second, as locust's users with `constant_pacing(1)` "
        '(docs/api.md, "Load model"). Two requests per client per second shows the '
        "headroom; saturation (each client sends its next request at once, as wrk) shows "
        "the capacity of the 2 cores the clients and the server share.",
    ]
    paces = (
        (1.0, "one request per client per second"),
        (0.5, "two requests per client per second"),
        (0.0, "saturation"),
    )
    for name, url in stores():
        for pace, what in paces:
            before = settle()
            seconds = 10.0 if not pace else 20.0
            text = run_http_bench(url, pace=pace, seconds=seconds).replace("## HTTP load\n", "")
            parts.append(
                f"### {name}, {what}\n\n{text}\nLoad average (1 min) of the machine "
                f"before/after: {before} / {load_average()} (client and server share its cores)."
            )
    write_section("http", "\n".join(parts))


#: The mixed load of issue 17: 200 clients at a user's pace for 2 minutes on each store.
MIXED_CLIENTS = 200
MIXED_SECONDS = 120.0


def bench_mixed(scale: float) -> None:
    """Doctors recording visits while centres and the bureau read (``http_mixed``), on each
    store; the section is written even when the writes' verification fails, then the step
    fails."""
    sys.path.insert(0, str(Path(__file__).parent))
    from http_mixed import VISIT_RATE, run_mixed_bench

    parts = [
        header(f"HTTP mixed load ({MIXED_CLIENTS} clients, visits recorded meanwhile)", scale),
        f"Target: p99 < 150 ms and no errors with {MIXED_CLIENTS} clients at a user's pace "
        f"(each a request a second), doctors recording {VISIT_RATE:g} visits a second (ten "
        "times a county's morning peak) and reading their lists, centres and the bureau "
        "reading indicator pages, a town's figures and tiles; every acknowledged visit must "
        "be in the store and its task closed (issue 17). Beside the read-only figures of "
        '"HTTP load".',
    ]
    problems = []
    for name, url in stores():
        before = settle()
        outcome = run_mixed_bench(url, clients=MIXED_CLIENTS, seconds=MIXED_SECONDS)
        text = outcome.text.replace("## HTTP mixed load\n", "")
        parts.append(
            f"### {name}\n{text}\nLoad average (1 min) of the machine before/after: "
            f"{before} / {load_average()} (client and server share its cores)."
        )
        problems += [f"{name}: {p}" for p in outcome.problems]
    write_section("mixed", "\n\n".join(parts))
    if problems:
        raise SystemExit("mixed load: writes not verified: " + "; ".join(problems))


#: Longest wait for the machine to settle before a latency run, and the load it waits for.
SETTLE_SECONDS, SETTLED_LOAD = 90.0, 1.0


def settle() -> str:
    """Let the machine settle before a latency run: PostgreSQL writes out what the last
    run left dirty (``CHECKPOINT``), then wait until the 1-minute load average is below
    :data:`SETTLED_LOAD` (at most :data:`SETTLE_SECONDS`).

    A run started straight after another measured the other's aftermath: the terminals'
    SQLite run that followed the PostGIS mixed load (load average 9 at its start) had a
    p99 of 466 ms, its PostGIS run after it 49 ms. Returns the load average it started at.
    """
    postgis = dict(stores())["PostGIS"]
    subprocess.run(["psql", postgis, "-qc", "CHECKPOINT"], check=False, capture_output=True)
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline and float(load_average()) >= SETTLED_LOAD:
        time.sleep(2.0)
    return load_average()


def load_average() -> str:
    """The 1-minute load average (other work on the machine makes the figures noisy)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def bench_tiles(scale: float) -> None:
    """Tile latency over HTTP: each of ~200 county tiles cold (first request), then cached."""
    import statistics

    import httpx

    sys.path.insert(0, str(Path(__file__).parent))
    from http_load import free_port, start_server, stop_server, tile_at, wait_ready

    lines = [
        header("Vector tile latency over HTTP (one client, sequential)", scale),
        "Targets: cached p99 < 20 ms, cold p99 < 200 ms. Cold = the first request of a tile "
        "after the server started (its tile cache empty); cached = the same tile again.",
        "",
        "| store | layer | tiles | cold p50 ms | cold p99 ms | cached p50 ms | cached p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, url in stores():
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start_server(url, port)
        try:
            wait_ready(base, proc)
            with httpx.Client(base_url=base, timeout=30) as client:
                token = client.post(
                    "/auth/token",
                    data={"username": "demo_bureau", "password": "demo-bureau-pass"},
                ).json()["access_token"]
                auth = {"Authorization": f"Bearer {token}"}
                west, south, east, north = client.get(
                    "/tiles/indicators.json", headers=auth
                ).json()["bounds"]
                for layer in ("indicators", "grid_indicators", "hotspots"):
                    tiles = []
                    for z in (10, 11, 12, 13):
                        x0, y0 = tile_at(west, north, z)
                        x1, y1 = tile_at(east, south, z)
                        tiles += [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
                    step = max(1, len(tiles) // 200)
                    tiles = tiles[::step][:200]
                    cold, cached = [], []
                    for z, x, y in tiles:
                        for sink in (cold, cached):
                            t0 = time.perf_counter()
                            r = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", headers=auth)
                            sink.append((time.perf_counter() - t0) * 1000)
                            assert r.status_code in (200, 204), r.text
                    q = statistics.quantiles
                    lines.append(
                        f"| {name} | {layer} | {len(tiles)} | {statistics.median(cold):.1f} | "
                        f"{q(cold, n=100)[98]:.1f} | {statistics.median(cached):.1f} | "
                        f"{q(cached, n=100)[98]:.1f} |"
                    )
        finally:
            stop_server(proc)
    write_section("tiles", "\n".join(lines))


def bench_coverage(scale: float) -> None:
    """The planners' coverage and the county PDF in one command, then the what-if median.

    Target (issue: planners): the full computation (all populated cells, three modes,
    three facility groups, 2SFCA, siting) plus the county PDF under 3 minutes and 4 GB
    together; the what-if under 1 s (median).
    """
    lines = [header("Planners' coverage and the county PDF", scale)]
    lines += [
        "| store | coverage + county PDF | peak memory | what-if median | what-if max |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, url in stores():
        out = WORK / "coverage.pdf"
        wall, rss, _ = run_measured(
            [HEALTHMAP, "report", "coverage", "--format", "pdf", "--out", str(out)],
            env={"HEALTHMAP_DATABASE_URL": url, "COLUMNS": "200"},
        )
        _, _, stdout = run_measured(
            [sys.executable, str(ROOT / "benchmarks" / "coverage_whatif.py"), url, "21"]
        )
        w = json.loads(stdout.strip().splitlines()[-1])
        lines.append(
            f"| {name} | {wall:.1f} s | {rss / 1024:.2f} GB | {w['median_ms']:.0f} ms "
            f"| {w['max_ms']:.0f} ms |"
        )
    write_section("coverage", "\n".join(lines))


#: Issue 15: 2,600 terminals (a reading a minute each) and 50 doctors' live channels.
TERMINALS_SECONDS = 120.0


def bench_terminals(scale: float) -> None:
    """The terminals' readings while doctors' pages hold live channels
    (``terminals_load``), on each store; the section is written even when a target is
    missed, then the step fails."""
    sys.path.insert(0, str(Path(__file__).parent))
    from terminals_load import DOCTORS, TERMINALS, run_terminals_bench

    parts = [
        header(
            f"Terminals' load ({TERMINALS:,} terminals, {DOCTORS} doctors' live channels)", scale
        ),
        f"Target (issue 15): {TERMINALS:,} terminals each posting a reading a minute (≈ 43 "
        f"readings/s, a few batches) while {DOCTORS} doctors' pages hold live channels "
        f"(SSE), for {TERMINALS_SECONDS / 60:.0f} minutes: reading p99 < 50 ms, 0 errors, "
        "every reading stored, every emergency delivered to its team's page and the webhook.",
    ]
    problems = []
    for name, url in stores():
        before = settle()
        text, missed = run_terminals_bench(url, seconds=TERMINALS_SECONDS)
        text = text.replace("## Terminals' load\n", "")
        parts.append(
            f"### {name}\n{text}\nLoad average (1 min) of the machine before/after: "
            f"{before} / {load_average()} (client and server share its cores)."
        )
        problems += [f"{name}: {p}" for p in missed]
    write_section("terminals", "\n\n".join(parts))
    if problems:
        raise SystemExit("terminals' load: " + "; ".join(problems))


STEPS: dict[str, Callable[[float], None]] = {
    "sample": bench_sample,
    "ingest": bench_ingest,
    "build": bench_build,
    "pushlist": bench_pushlist,
    "model": bench_model,
    "tiles": bench_tiles,
    "http": bench_http,
    "mixed": bench_mixed,
    "coverage": bench_coverage,
    "terminals": bench_terminals,
    "peers": lambda scale: _peers().bench_peers(scale, sys.modules[__name__]),
    "build-dask": lambda scale: _peers().bench_build_dask(scale, sys.modules[__name__]),
    "ladder": lambda scale: _ladder().bench_ladder(scale, sys.modules[__name__]),
    "counties": lambda scale: _ladder().bench_counties(scale, sys.modules[__name__]),
}


def _ladder() -> Any:
    """:mod:`scale_ladder` (the ladder and the two-county Dask run), as :func:`_peers`."""
    sys.path.insert(0, str(Path(__file__).parent))
    import scale_ladder

    return scale_ladder


def _peers() -> Any:
    """:mod:`peers` (DuckDB, COPY, the Dask build), imported when its steps run; they are
    given this module, whose state (``RESULTS``, the stores) they read."""
    sys.path.insert(0, str(Path(__file__).parent))
    import peers

    return peers


def relocate(work: Path | None, report: Path | None) -> None:
    """Point the bench at another work folder (and PostGIS database) and report."""
    global WORK, SQLITE_PATH, PG_DB, REPORT, RESULTS_JSON
    if work is not None:
        WORK = work.resolve()
        SQLITE_PATH = WORK / "bench.db"
        PG_DB = "hm_bench_" + re.sub(r"[^a-z0-9]+", "_", WORK.name.lower())
    if report is not None:
        REPORT = report.resolve()
        RESULTS_JSON = REPORT.parent / "results.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", nargs="*", choices=sorted(STEPS), default=None)
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="Folder of the deliveries and the SQLite store, and suffix of the PostGIS "
        "database (default var/bench, hm_bench): a trial run beside the real bench's stores.",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="Markdown report to write (default BENCHMARKS.md; results.json goes beside it).",
    )
    args = parser.parse_args()
    relocate(args.work, args.report)
    WORK.mkdir(parents=True, exist_ok=True)
    for name in args.only or list(STEPS):
        print(f"bench: {name} (scale {args.scale})", flush=True)
        STEPS[name](args.scale)
    print(f"bench: figures written to {REPORT}")


if __name__ == "__main__":
    main()
