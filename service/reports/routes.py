"""Report downloads for the planner's page: a job per report, its progress, its file.

- ``POST /api/v1/coverage/reports`` ``{"format": "pdf", "town": null}`` → 202 and the job
  (``Location`` its status URL);
- ``GET /api/v1/coverage/reports/{job_id}`` → ``status`` (queued, running, succeeded,
  failed), ``progress`` (0–1) and ``step``, which the page shows as a progress bar;
- ``GET /api/v1/coverage/reports/{job_id}/file`` → the report, as an attachment.

A county PDF takes tens of seconds at scale 1.0, longer than a request should wait. Report
jobs have a registry of their own (one thread, in order; ``service.jobs``) rather than the
administration's, which holds the store's jobs lock: a report only reads, and must not
queue behind an ingest. Like those jobs they live in the worker's memory (a job id is
known to the worker that took it; a restart forgets them), and a job is visible only to
the account that asked for it. Files are kept under ``data_dir/reports/`` and the oldest
beyond :data:`KEEP_FILES` are deleted. Roles: planner, bureau, admin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from geo.errors import NotFoundError
from geo.vocabulary import PLANNING_ROLES
from service.auth import Principal
from service.deps import EngineDep, SettingsDep, require_roles
from service.errors import problem_doc
from service.jobs import Job, JobRegistry, new_job_id
from service.reports import FORMATS, build_report
from service.tiles.sources.coverage import coverage_result

PlanningUser = Annotated[Principal, Depends(require_roles(*PLANNING_ROLES))]

router = APIRouter(
    prefix="/api/v1/coverage/reports",
    tags=["coverage"],
    responses={403: problem_doc("Coverage is for planners, the bureau and admin.")},
)

#: Report files kept on disk (the oldest are deleted first).
KEEP_FILES = 50
#: Share of the progress the coverage computation takes (cached afterwards: then 0).
_COMPUTE_SHARE = 0.3


class ReportIn(BaseModel):
    """Which report to write."""

    format: str = Field("pdf", pattern="^(pdf|xlsx|gpkg|geojson|html)$")
    town: str | None = Field(None, pattern="^[0-9]{12}$", description="Town area code.")


def _registry(request: Request) -> JobRegistry:
    registry: JobRegistry = request.app.state.report_jobs
    return registry


def _folder(settings: Any) -> Path:
    folder = Path(settings.data_dir) / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _prune(folder: Path) -> None:
    files = sorted(folder.glob("*.*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP_FILES:]:
        old.unlink(missing_ok=True)


def _public(job: Job) -> dict[str, Any]:
    done, step = job.progress, job.step or job.status
    if job.status == "succeeded":
        done, step = 1.0, "done"
    return {
        "job_id": job.job_id,
        "status": job.status,
        "progress": done,
        "step": step,
        "format": job.params["format"],
        "town": job.params["town"],
        "error": job.error,
        "file": f"/api/v1/coverage/reports/{job.job_id}/file"
        if job.status == "succeeded"
        else None,
    }


def _own_job(request: Request, job_id: str, user: Principal) -> Job:
    job = _registry(request).get(job_id)
    if job is None or job.params.get("user_id") != user.id:
        raise NotFoundError(f"no report job {job_id!r}")
    return job


@router.post("", status_code=202, summary="Write a coverage report (a background job)")
def submit_report(
    body: ReportIn,
    request: Request,
    response: Response,
    user: PlanningUser,
    engine: EngineDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Queue the report; follow it at the returned job's URL, then download its file."""
    job_id = new_job_id()
    registry = _registry(request)
    suffix = FORMATS[body.format][0]
    out = _folder(settings) / f"{job_id}{suffix}"

    def work() -> dict[str, Any]:
        registry.progress(job_id, 0.02, "coverage")
        result = coverage_result(engine, settings.rules.coverage)
        registry.progress(job_id, _COMPUTE_SHARE, "report")

        def step(name: str, done: float) -> None:
            registry.progress(job_id, _COMPUTE_SHARE + (1 - _COMPUTE_SHARE) * done, name)

        build_report(
            result,
            body.format,
            out,
            town=body.town,
            k=settings.rules.indicators.suppression_k,
            progress=step,
        )
        _prune(out.parent)
        return {"path": str(out), "bytes": out.stat().st_size}

    params = {"format": body.format, "town": body.town, "user_id": user.id}
    job = registry.submit("coverage_report", params, work, job_id=job_id)
    response.headers["Location"] = f"/api/v1/coverage/reports/{job.job_id}"
    return _public(job)


@router.get("/{job_id}", summary="A report job's status and progress")
def report_status(job_id: str, request: Request, user: PlanningUser) -> dict[str, Any]:
    """``progress`` runs from 0 to 1; ``file`` is set once the report is written."""
    return _public(_own_job(request, job_id, user))


@router.get("/{job_id}/file", summary="The written report", response_class=FileResponse)
def report_file(job_id: str, request: Request, user: PlanningUser) -> FileResponse:
    """The report file as an attachment (``coverage[-TOWN].<format>``)."""
    job = _own_job(request, job_id, user)
    if job.status != "succeeded" or not job.summary:
        raise NotFoundError(f"report job {job_id!r} has no file yet ({job.status})")
    path = Path(job.summary["path"])
    if not path.is_file():
        raise NotFoundError(f"the file of report job {job_id!r} is no longer kept")
    fmt = job.params["format"]
    town = job.params["town"]
    name = f"coverage{'-' + town if town else ''}{FORMATS[fmt][0]}"
    return FileResponse(path, media_type=FORMATS[fmt][1], filename=name)
