"""Fault suite: ``kill -9`` of ``healthmap ingest`` and ``healthmap build`` on both stores.

What must hold after the kill (issue 17): no process of the killed command is left (its
process group is checked through psutil, zombies waiting for init count as gone), the
store is consistent (the previous build still current; every table holds exactly what its
loaded files say, nothing of the file being loaded), and the next run succeeds — the
killed ingest batch marked failed with a reason, the killed build's rows dropped.

Each command runs in a session of its own (``start_new_session``), so its process group
is exactly the command and everything it started.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import Engine, func, select, text
from tests_support import StoreBackend

from pipelines.build import current_build_id
from pipelines.ingest.delivery import STALE_BATCH, fail_stale_batches
from pipelines.ingest.files import find_files
from store.children import process_owner
from store.engine import make_engine
from store.models import IngestBatch, IngestFile
from store.results import Build

HEALTHMAP = str(Path(sys.executable).with_name("healthmap"))
AS_OF = "2025-06-30"
SCALE = "0.01"
#: Seconds the kernel and init get to take the children down after the kill.
GRACE = 15.0


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HEALTHMAP_")}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [HEALTHMAP, *args], capture_output=True, text=True, timeout=900, env=_env(), check=False
    )
    assert done.returncode == 0, f"healthmap {args} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _start(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [HEALTHMAP, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
            start_new_session=True,  # its own process group: the command and its children
        )


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


def _kill_and_wait(proc: subprocess.Popen[bytes]) -> list[str]:
    """``kill -9`` the command; the descriptions of its group's processes left after GRACE."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + GRACE
    while (left := _group(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    described = []
    for p in left:
        try:
            described.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
        except psutil.Error:
            continue
    for p in left:  # do not leave them to the next test
        with contextlib.suppress(psutil.Error):
            p.kill()
    return described


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small sample county (scale 0.01, ~300k rows)."""
    out = tmp_path_factory.mktemp("fault-delivery") / "data"
    _run("sample", "--out", str(out), "--scale", SCALE, "--as-of", AS_OF)
    return out


@pytest.fixture
def store_url_of_test(store_backend: StoreBackend, tmp_path: Path) -> Iterator[str]:
    with store_backend.fresh(tmp_path / "store") as url:
        yield url


def _table_rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())


def _loaded(engine: Engine) -> dict[str, int]:
    """Rows loaded per table according to the files recorded as loaded."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(IngestFile.table_name, func.sum(IngestFile.rows_loaded))
            .where(IngestFile.status == "loaded")
            .group_by(IngestFile.table_name)
        ).all()
    return {t: int(n or 0) for t, n in rows}


@pytest.mark.fault
@pytest.mark.slow
def test_killed_ingest_leaves_nothing_half_loaded(
    delivery: Path, store_url_of_test: str, tmp_path: Path
) -> None:
    url = store_url_of_test
    _run("--db", url, "db", "upgrade")
    engine = make_engine(url)
    try:
        proc = _start("--db", url, "ingest", str(delivery), log=tmp_path / "ingest.log")
        # Killed once a file is committed and the next one is being loaded.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if _loaded(engine):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the ingest finished before it could be killed"
        time.sleep(0.3)
        assert _kill_and_wait(proc) == []
        with engine.connect() as conn:
            batch_id, finished = conn.execute(
                select(IngestBatch.batch_id, IngestBatch.finished_at)
            ).one()
        assert finished is None  # what the next run must clean up
        loaded = _loaded(engine)
        assert 0 < len(loaded) < len({f.table for f in find_files(delivery)[0]})  # mid-way
        for table in ("residents", "facilities", "followups", "claims", "measurements"):
            # Every committed file whole, the one being loaded not at all.
            assert _table_rows(engine, table) == loaded.get(table, 0), table

        done = _run("--db", url, "ingest", str(delivery), "--json")
        assert f"batches [{batch_id}] had been killed" in done.stdout
        with engine.connect() as conn:
            killed = conn.execute(
                select(IngestBatch.finished_at, IngestBatch.summary).where(
                    IngestBatch.batch_id == batch_id
                )
            ).one()
            unfinished = conn.scalar(select(func.count()).where(IngestBatch.finished_at.is_(None)))
        assert killed.finished_at is not None
        assert killed.summary["status"] == "failed"
        assert "ended without finishing it" in killed.summary["reason"]
        assert unfinished == 0
        report = json.loads(done.stdout)
        statuses = {f["file"]: f["status"] for f in report["files"]}
        assert set(statuses.values()) <= {"loaded", "already_loaded"}, statuses
        after = _loaded(engine)
        assert set(after) == {f.table for f in find_files(delivery)[0]}
        for table in ("residents", "followups", "claims"):
            assert _table_rows(engine, table) == after[table], table
    finally:
        engine.dispose()


def _forked_worker(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the build has forked its compute workers (children with its command line)."""
    try:
        me = psutil.Process(proc.pid)
        mine = me.cmdline()
        return any(c.cmdline() == mine for c in me.children())
    except psutil.Error:
        return False


def _indicator_rows(engine: Engine, build_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM indicator_values WHERE build_id = :b"), {"b": build_id}
            ).scalar_one()
        )


@pytest.mark.fault
@pytest.mark.slow
def test_killed_build_leaves_no_process_and_the_previous_build_current(
    delivery: Path, store_url_of_test: str, tmp_path: Path
) -> None:
    url = store_url_of_test
    _run("--db", url, "ingest", str(delivery))
    _run("--db", url, "build", "--as-of", AS_OF)
    engine = make_engine(url)
    try:
        previous = current_build_id(engine)
        assert previous is not None
        rows_before = _indicator_rows(engine, previous)

        proc = _start("--db", url, "build", "--as-of", AS_OF, log=tmp_path / "build.log")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and not _forked_worker(proc):
            time.sleep(0.02)
        assert proc.poll() is None, "the build finished before its workers were seen"
        children = len(psutil.Process(proc.pid).children(recursive=True))
        assert children >= 2  # a forked worker and at least the spawned dropper
        assert _kill_and_wait(proc) == []

        with engine.connect() as conn:
            killed = conn.execute(
                select(Build.build_id, Build.status, Build.summary).order_by(Build.build_id.desc())
            ).first()
        assert killed is not None and killed.build_id != previous
        assert killed.status == "building"
        assert killed.summary["owner"]["pid"] == proc.pid
        assert current_build_id(engine) == previous
        assert _indicator_rows(engine, previous) == rows_before

        _run("--db", url, "build", "--as-of", AS_OF)
        now = current_build_id(engine)
        assert now not in (None, previous, killed.build_id)
        with engine.connect() as conn:
            status = conn.scalar(select(Build.status).where(Build.build_id == killed.build_id))
        assert status == "dropped"  # its owner was gone: dropped now, not six hours later
        assert _indicator_rows(engine, killed.build_id) == 0
        assert _indicator_rows(engine, now) > 0
    finally:
        engine.dispose()


def test_stale_batches_by_owner_and_by_age(store: Engine) -> None:
    """Which unfinished batches the next ingest marks failed (hand-made rows)."""
    now = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)
    dead = {**process_owner(), "pid": 2**22 + 17}  # above pid_max's default: never running
    alive = process_owner()
    elsewhere = {"host": "another-host", "pid": 1, "started": 0.0}
    rows = [
        ("dead", now - dt.timedelta(minutes=5), {"owner": dead}),
        ("alive", now - dt.timedelta(days=3), {"owner": alive}),
        ("elsewhere-recent", now - dt.timedelta(hours=1), {"owner": elsewhere}),
        ("elsewhere-old", now - STALE_BATCH - dt.timedelta(minutes=1), {"owner": elsewhere}),
        ("legacy-old", now - dt.timedelta(days=2), None),
        ("done", now - dt.timedelta(days=2), None),
    ]
    ids = {}
    with store.begin() as conn:
        for source, started, summary in rows:
            ids[source] = conn.execute(
                IngestBatch.__table__.insert()
                .values(
                    source=source,
                    started_at=started,
                    summary=summary,
                    finished_at=started if source == "done" else None,
                )
                .returning(IngestBatch.batch_id)
            ).scalar_one()
    failed = fail_stale_batches(store, now)
    assert sorted(failed) == sorted(ids[s] for s in ("dead", "elsewhere-old", "legacy-old"))
    with store.connect() as conn:
        open_ = conn.execute(
            select(IngestBatch.source).where(IngestBatch.finished_at.is_(None))
        ).scalars()
        assert sorted(open_) == ["alive", "elsewhere-recent"]
    assert fail_stale_batches(store, now) == []  # marked once
