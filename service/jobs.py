"""Long administrative work (ingest, build, push-list generation) as background jobs.

An in-process registry: jobs run one at a time on a single worker thread, in the order they
were submitted — an ingest and a build must not interleave (a build would read half a
delivery), and on SQLite they would only wait for each other's write lock anyway. The
registry lives in the worker's memory: it keeps the last :data:`MAX_JOBS` jobs, a restart
forgets them (the store keeps what they did: ``ingest_batches``, ``builds``,
``push_list_runs``), and with several uvicorn workers each has its own registry, so a job
id is only known to the worker that took it (poll with the connection that submitted it,
or run ``healthmap serve --workers 1`` for administration). Jobs of different workers do
not interleave either: each runs holding the store's ``jobs`` lock
(:class:`store.locks.StoreLock`), so a job submitted to a second worker waits
(``queued``) until the first worker's job has finished.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

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


class JobRegistry:
    """Runs jobs on one worker thread and remembers the latest :data:`MAX_JOBS`."""

    def __init__(self, max_jobs: int = MAX_JOBS, *, lock: StoreLock | None = None) -> None:
        self.max_jobs = max_jobs
        self.lock = lock
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
        job.future = self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[], dict[str, Any]]) -> None:
        try:
            if self.lock is not None:
                self.lock.acquire()  # another worker's job runs: stay queued until it ends
        except Exception as exc:
            logger.exception("job %s (%s): the jobs lock failed", job.job_id, job.kind)
            job.error = f"{type(exc).__name__}: the store's jobs lock failed"[:MAX_ERROR]
            job.status, job.finished_at = "failed", _now()
            return
        job.status, job.started_at = "running", _now()
        try:
            job.summary = work()
            job.status = "succeeded"
        except Exception as exc:
            logger.exception("job %s (%s) failed", job.job_id, job.kind)
            first_line = (str(exc).splitlines() or [""])[0]
            job.error = f"{type(exc).__name__}: {first_line}"[:MAX_ERROR]
            job.status = "failed"
        finally:
            job.finished_at = _now()
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
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        """Every remembered job, newest first."""
        with self._lock:
            return list(reversed(self._jobs.values()))

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job has finished (tests, the CLI); KeyError if unknown."""
        job = self._jobs[job_id]
        if job.future is not None:
            job.future.result(timeout=timeout)
        return job

    def shutdown(self) -> None:
        """Drop queued jobs; a running one finishes in its thread (it cannot be killed)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
