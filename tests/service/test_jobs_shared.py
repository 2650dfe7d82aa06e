"""Jobs' records in the store: any worker answers for any job, a dead owner's job failed.

Two registries on one store stand for two uvicorn workers. A job submitted to the first
is seen by the second — queued or running with its progress, then succeeded with its
summary — and listed by both; a job whose owner process is gone is reported failed; a job
unknown to both is None.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from typing import Any

from sqlalchemy import Engine

from service.jobs import JobRegistry
from store.jobs import load_job, update_job


def test_a_job_of_one_worker_is_known_to_the_other(store: Engine) -> None:
    first, second = JobRegistry(engine=store), JobRegistry(engine=store)
    halfway, finish = threading.Event(), threading.Event()

    def work() -> dict[str, Any]:
        first.progress("job-1", 0.5, "drawing maps")
        halfway.set()
        assert finish.wait(30)
        return {"pages": 12}

    job = first.submit("coverage_report", {"format": "pdf", "user_id": 7}, work, job_id="job-1")
    assert halfway.wait(30)
    seen = second.get(job.job_id)
    assert seen is not None
    assert (seen.status, seen.progress, seen.step) == ("running", 0.5, "drawing maps")
    assert seen.params == {"format": "pdf", "user_id": 7}
    finish.set()
    first.wait(job.job_id, timeout=30)
    done = second.get(job.job_id)
    assert done is not None
    assert (done.status, done.summary, done.progress) == ("succeeded", {"pages": 12}, 1.0)
    assert done.finished_at is not None and done.finished_at.tzinfo is not None
    assert [j.job_id for j in second.list()] == [job.job_id]
    assert second.get("no-such-job") is None
    first.shutdown()
    second.shutdown()


def test_a_failed_job_keeps_its_error(store: Engine) -> None:
    registry = JobRegistry(engine=store)

    def work() -> dict[str, Any]:
        raise ValueError("town 370783999000 is not in the store\nsecond line")

    job = registry.submit("coverage_report", {}, work)
    registry.wait(job.job_id, timeout=30)
    record = load_job(store, job.job_id)
    assert record is not None
    assert record["status"] == "failed"
    assert record["error"] == "ValueError: town 370783999000 is not in the store"
    registry.shutdown()


def test_a_job_whose_process_is_gone_is_failed(store: Engine) -> None:
    registry = JobRegistry(engine=store)
    job = registry.submit("build", {}, lambda: {})
    registry.wait(job.job_id, timeout=30)
    # A process that has exited: its pid is free (not reused within the test).
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    update_job(store, job.job_id, status="running", owner=f"{socket.gethostname()}:{dead}")
    other = JobRegistry(engine=store)
    seen = other.get(job.job_id)
    assert seen is not None and seen.status == "failed"
    assert seen.error is not None and "stopped" in seen.error
    # Another host's process cannot be checked from here: its word is taken.
    update_job(store, job.job_id, owner="elsewhere:1")
    seen = other.get(job.job_id)
    assert seen is not None and seen.status == "running"
    registry.shutdown()
    other.shutdown()
