"""Long administrative work (ingest, build, push-list generation, reports) as background jobs.

Jobs run one at a time on a single worker thread, in the order they were submitted — an
ingest and a build must not interleave (a build would read half a delivery), and on
SQLite they would only wait for each other's write lock anyway. Jobs of different uvicorn
workers do not interleave either: each runs holding the store's ``jobs`` lock
(:class:`store.locks.StoreLock`), so a job submitted to a second worker waits (``queued``)
until the first worker's job has finished.

A registry given the store keeps each job's record there (:mod:`store.jobs`): status,
progress, summary, error and the process that runs it, so any worker answers for any job
and a restart forgets none. A job whose process is gone (killed, restarted) while it was
queued or running is reported ``failed``. Without a store (tests, the CLI) the registry
keeps the last :data:`MAX_JOBS` jobs in memory only.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from store.jobs import insert_job, load_job, recent_jobs, update_job
from store.locks import StoreLock

logger = logging.getLogger("healthmap.service")

#: Jobs remembered (oldest finished ones are forgotten first).
MAX_JOBS = 200
#: Characters of an error message kept on a failed job (the traceback goes to the log).
MAX_ERROR = 500


@dataclass
class Job:
    """One background job and what became of it."""

    job_id: str
    kind: str
    params: dict[str, Any]
    created_at: dt.datetime
    status: str = "queued"
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None
    progress: float = 0.0
    step: str | None = None
    future: Future[None] | None = field(default=None, repr=False)

    def public(self) -> dict[str, Any]:
        """The job as the API shows it."""
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "status": self.status,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "params": self.params,
            "summary": self.summary,
            "error": self.error,
        }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_job_id() -> str:
    """A fresh job id (also the name of an upload's folder)."""
    return uuid.uuid4().hex


#: This process, as a job record names its owner.
OWNER = f"{socket.gethostname()}:{os.getpid()}"


def _owner_gone(owner: str) -> bool:
    """Whether the process ``host:pid`` is known to be gone (only decidable on this host)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class JobRegistry:
    """Runs jobs on one worker thread; remembers them in the store when given one.

    Parameters
    ----------
    max_jobs : int
        Jobs kept in memory (and listed).
    lock : StoreLock, optional
        Held while a job runs, so jobs of several workers never interleave.
    engine : Engine, optional
        Where the jobs' records are kept (:mod:`store.jobs`). A failure to write a record
        is logged and never fails the job.
    """

    def __init__(
        self,
        max_jobs: int = MAX_JOBS,
        *,
        lock: StoreLock | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.max_jobs = max_jobs
        self.lock = lock
        self.engine = engine
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="healthmap-job")

    def submit(
        self,
        kind: str,
        params: dict[str, Any],
        work: Callable[[], dict[str, Any]],
        *,
        job_id: str | None = None,
    ) -> Job:
        """Queue ``work``; its return value becomes the job's summary."""
        job = Job(job_id=job_id or new_job_id(), kind=kind, params=params, created_at=_now())
        with self._lock:
            self._jobs[job.job_id] = job
            self._forget_old()
        if self.engine is not None:
            # Recorded before it can start, so another worker can answer for it at once.
            insert_job(
                self.engine,
                job.job_id,
                kind=kind,
                params=params,
                status=job.status,
                progress=0.0,
                owner=OWNER,
                created_at=job.created_at,
            )
        job.future = self._pool.submit(self._run, job, work)
        return job

    def _record(self, job: Job, *fields: str) -> None:
        if self.engine is None:
            return
        try:
            update_job(self.engine, job.job_id, **{f: getattr(job, f) for f in fields})
        except Exception:  # the store may be down: the job goes on, its record lags
            logger.warning("job %s: its record could not be written", job.job_id, exc_info=True)

    def progress(self, job_id: str, done: float, step: str) -> None:
        """Report a running job's progress (0–1) and its current step."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return
        done = round(min(max(done, 0.0), 1.0), 3)
        changed = step != job.step or done - job.progress >= 0.01
        job.progress, job.step = done, step
        if changed:  # a record write per percent at most
            self._record(job, "progress", "step")

    def _run(self, job: Job, work: Callable[[], dict[str, Any]]) -> None:
        try:
            if self.lock is not None:
                self.lock.acquire()  # another worker's job runs: stay queued until it ends
        except Exception as exc:
            logger.exception("job %s (%s): the jobs lock failed", job.job_id, job.kind)
            job.error = f"{type(exc).__name__}: the store's jobs lock failed"[:MAX_ERROR]
            job.status, job.finished_at = "failed", _now()
            self._record(job, "status", "finished_at", "error")
            return
        job.status, job.started_at = "running", _now()
        self._record(job, "status", "started_at")
        try:
            job.summary = work()
            job.status = "succeeded"
            job.progress, job.step = 1.0, "done"
        except Exception as exc:
            logger.exception("job %s (%s) failed", job.job_id, job.kind)
            first_line = (str(exc).splitlines() or [""])[0]
            job.error = f"{type(exc).__name__}: {first_line}"[:MAX_ERROR]
            job.status = "failed"
        finally:
            job.finished_at = _now()
            self._record(job, "status", "finished_at", "summary", "error", "progress", "step")
            if self.lock is not None:
                self.lock.release()

    def _forget_old(self) -> None:
        while len(self._jobs) > self.max_jobs:
            oldest = next(
                (k for k, j in self._jobs.items() if j.status in ("succeeded", "failed")), None
            )
            if oldest is None:
                break
            del self._jobs[oldest]

    def get(self, job_id: str) -> Job | None:
        """The job (this worker's, or from its record in the store), or None."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None or self.engine is None:
            return job
        record = load_job(self.engine, job_id)
        return None if record is None else _from_record(record)

    def list(self) -> list[Job]:
        """The remembered jobs, newest first (every worker's, with a store)."""
        with self._lock:
            mine = list(reversed(self._jobs.values()))
        if self.engine is None:
            return mine
        local = {j.job_id: j for j in mine}
        records = recent_jobs(self.engine, self.max_jobs)
        return [local.get(r["job_id"]) or _from_record(r) for r in records]

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job has finished (tests, the CLI); KeyError if unknown."""
        job = self._jobs[job_id]
        if job.future is not None:
            job.future.result(timeout=timeout)
        return job

    def shutdown(self) -> None:
        """Drop queued jobs; a running one finishes in its thread (it cannot be killed)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _from_record(record: dict[str, Any]) -> Job:
    """Another worker's job (or a job of an earlier run), from its record."""
    fields = {k: record[k] for k in record if k in Job.__dataclass_fields__}
    job = Job(**fields)
    if job.status in ("queued", "running") and _owner_gone(record["owner"]):
        job.status = "failed"
        job.error = "The worker process running the job stopped (killed or restarted)."
    return job
