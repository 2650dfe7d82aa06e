"""Background jobs' records in the store, so every uvicorn worker can answer for any job.

A job runs on the worker that took it (``service.jobs.JobRegistry``); its record here —
status, progress, summary, error and the process that owns it — is what another worker
(or the same one after a restart) reads when asked about it (migration 0021).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, Float, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.models import Base

#: The columns a caller may set (besides ``job_id``).
JOB_FIELDS = (
    "kind",
    "params",
    "status",
    "progress",
    "step",
    "owner",
    "created_at",
    "started_at",
    "finished_at",
    "summary",
    "error",
)


class JobRecord(Base):
    """One background job (an ingest, a build, a coverage report…)."""

    __tablename__ = "jobs"
    job_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    step: Mapped[str | None] = mapped_column(String(60))
    #: ``host:pid`` of the worker process running the job.
    owner: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite keeps no offset; what it holds is UTC.
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


def _as_dict(row: JobRecord) -> dict[str, Any]:
    out = {"job_id": row.job_id, **{f: getattr(row, f) for f in JOB_FIELDS}}
    for f in ("created_at", "started_at", "finished_at"):
        out[f] = _aware(out[f])
    return out


def insert_job(engine: Engine, job_id: str, **fields: Any) -> None:
    """Record a new job."""
    with Session(engine) as session, session.begin():
        session.add(JobRecord(job_id=job_id, **fields))


def update_job(engine: Engine, job_id: str, **fields: Any) -> None:
    """Set fields of a recorded job (nothing when it is not recorded)."""
    unknown = set(fields) - set(JOB_FIELDS)
    if unknown:
        raise ValueError(f"not a job field: {sorted(unknown)}; use one of {JOB_FIELDS}")
    with engine.begin() as conn:
        conn.execute(update(JobRecord).where(JobRecord.job_id == job_id).values(**fields))


def load_job(engine: Engine, job_id: str) -> dict[str, Any] | None:
    """The job's record as a dict, or None."""
    with Session(engine) as session:
        row = session.get(JobRecord, job_id)
        return None if row is None else _as_dict(row)


def recent_jobs(engine: Engine, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` newest jobs' records, newest first."""
    with Session(engine) as session:
        rows = session.scalars(
            select(JobRecord).order_by(JobRecord.created_at.desc()).limit(limit)
        ).all()
        return [_as_dict(r) for r in rows]
