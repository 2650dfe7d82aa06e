"""Administration over HTTP (admin role only): ingest, build, push lists, jobs, accounts.

Ingest, build and push-list generation take minutes on a county, so they run as background
jobs (``service.jobs``: one at a time, in order, remembered in memory) and answer 202 with
the job; ``GET /api/v1/admin/jobs/{job_id}`` follows it. Uploaded deliveries are kept under
``<data_dir>/uploads/<job id>/``. Every call is audited (``admin``).
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from fastapi import Path as PathParam

from service import accounts
from service.deps import (
    AdminUser,
    AuditDep,
    EngineDep,
    SessionDep,
    SettingsDep,
    client_address,
    release,
)
from service.errors import Invalid, NotFound
from service.jobs import Job, JobRegistry, new_job_id
from service.schemas import JobList, JobOut, RoleIn, UserIn, UserList, UserOut
from service.schemas.common import DateParam
from service.settings import Settings
from service.shaping import check_build_date, check_date, local_today

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

#: File types a delivery may hold (docs/data-contract.md), plus .zip of them.
DELIVERY_SUFFIXES = frozenset({".csv", ".xlsx", ".parquet"})
#: Members a delivery zip may hold, and their total size (a guard against zip bombs).
MAX_ZIP_MEMBERS = 200
MAX_UNZIPPED_BYTES = 4 * 1024**3
_SAFE_NAME = re.compile(r"[^\w.\-]+", re.UNICODE)
_CHUNK = 1024 * 1024


def registry(request: Request) -> JobRegistry:
    jobs: JobRegistry = request.app.state.jobs
    return jobs


def _job_out(job: Job) -> JobOut:
    return JobOut(**job.public())


def _accepted(response: Response, job: Job) -> JobOut:
    response.headers["Location"] = f"/api/v1/admin/jobs/{job.job_id}"
    return _job_out(job)


# ----------------------------------------------------------------------------------------
# Uploads
# ----------------------------------------------------------------------------------------
def safe_name(name: str | None) -> str:
    """A file name with no folder part and no odd characters (keeps Chinese letters)."""
    base = Path((name or "").replace("\\", "/")).name
    cleaned = _SAFE_NAME.sub("_", base).strip("._")
    return cleaned[:120]


def _unzip(archive: Path, folder: Path) -> list[str]:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [i for i in zf.infolist() if not i.is_dir()]
            if len(members) > MAX_ZIP_MEMBERS:
                raise Invalid(f"The zip holds more than {MAX_ZIP_MEMBERS} files.")
            if sum(i.file_size for i in members) > MAX_UNZIPPED_BYTES:
                raise Invalid("The zip unpacks to more than 4 GiB.")
            names = []
            for info in members:
                # Flattened, cleaned names: nothing can be written outside the folder.
                name = safe_name(info.filename)
                if Path(name).suffix.lower() not in DELIVERY_SUFFIXES:
                    continue
                with zf.open(info) as src, (folder / name).open("wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                names.append(name)
            return names
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError):
        raise Invalid("The zip cannot be read (damaged or encrypted).") from None
    finally:
        archive.unlink(missing_ok=True)


def save_delivery(files: list[UploadFile], folder: Path) -> list[str]:
    """Write the uploaded files (a zip is unpacked) into ``folder``; their names."""
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[str] = []
    for upload in files:
        name = safe_name(upload.filename)
        suffix = Path(name).suffix.lower()
        if suffix not in DELIVERY_SUFFIXES | {".zip"}:
            raise Invalid(
                f"{name or 'a file'}: not a delivery file (.csv, .xlsx, .parquet or .zip).",
                extra={"errors": [{"loc": "body.files", "msg": "file type", "type": "file"}]},
            )
        target = folder / name
        with target.open("wb") as out:
            shutil.copyfileobj(upload.file, out, _CHUNK)
        saved += _unzip(target, folder) if suffix == ".zip" else [name]
    if not saved:
        raise Invalid("The upload holds no delivery file (.csv, .xlsx, .parquet).")
    return saved


def _upload_root(settings: Settings) -> Path:
    return Path(settings.data_dir) / "uploads"


@router.post(
    "/ingest",
    summary="Upload and ingest a delivery (background job)",
    status_code=202,
)
def ingest(
    request: Request,
    response: Response,
    user: AdminUser,
    engine: EngineDep,
    settings: SettingsDep,
    audit: AuditDep,
    files: Annotated[
        list[UploadFile],
        File(description="The delivery's files (.csv, .xlsx, .parquet), or one .zip of them."),
    ],
) -> JobOut:
    """Save the upload under ``<data_dir>/uploads/<job id>/`` and ingest it in the
    background (``pipelines.ingest.ingest_delivery``: validation, quarantine, idempotent
    loading). The job's summary is the ingest summary. Uploads are limited by
    ``service.max_body_bytes`` (413); load bigger deliveries with ``healthmap ingest``."""
    job_id = new_job_id()
    folder = _upload_root(settings) / job_id
    try:
        names = save_delivery(files, folder)
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise

    def work() -> dict[str, Any]:
        from pipelines.ingest.delivery import ingest_delivery  # heavy: only when a job runs

        summary = ingest_delivery(folder, engine, settings.ingest, settings.rules)
        return summary.model_dump(mode="json")

    job = registry(request).submit("ingest", {"files": names}, work, job_id=job_id)
    audit("admin", "ingest", job.job_id, detail={"files": names})
    return _accepted(response, job)


@router.post(
    "/build", summary="Build indicators, hotspots and burden (background job)", status_code=202
)
def build(
    request: Request,
    response: Response,
    user: AdminUser,
    engine: EngineDep,
    settings: SettingsDep,
    audit: AuditDep,
    as_of: Annotated[DateParam, Query(description="D (local date); default today.")] = None,
    months: Annotated[int, Query(ge=0, le=36, description="Month-ends before D.")] = 12,
    force: Annotated[
        bool,
        Query(description="Build even for a D more than 31 days before the current build's."),
    ] = False,
) -> JobOut:
    """Run ``healthmap build`` for D in the background; readers switch to the new build
    atomically when it is done. The job's summary is the build summary. 409 for a D more
    than 31 days before the current build's (a typo would replace every map), unless
    ``force=true``."""
    when = check_date(as_of, "query.as_of") if as_of else local_today(settings.rules.timezone)
    check_build_date(engine, when, force=force)

    def work() -> dict[str, Any]:
        from pipelines.build import run_build  # heavy: only when a job runs

        return run_build(engine, when, settings.rules, months=months)

    job = registry(request).submit("build", {"as_of": when.isoformat(), "months": months}, work)
    audit(
        "admin",
        "build",
        job.job_id,
        detail={"as_of": when.isoformat(), "months": months, "force": force},
    )
    return _accepted(response, job)


@router.post(
    "/pushlists", summary="Generate every team's push list (background job)", status_code=202
)
def pushlists(
    request: Request,
    response: Response,
    user: AdminUser,
    engine: EngineDep,
    settings: SettingsDep,
    audit: AuditDep,
    date: Annotated[DateParam, Query(description="The day D; default today.")] = None,
) -> JobOut:
    """Materialise the morning lists of D (what the 06:00 scheduler does); replaces that
    day's lists. The job's summary has teams, entries, colours and seconds."""
    when = check_date(date, "query.date") if date else local_today(settings.rules.timezone)

    def work() -> dict[str, Any]:
        from pipelines.pushlist import generate_push_lists

        return generate_push_lists(
            engine, when, settings.rules, model_path=settings.risk_model_path
        )

    job = registry(request).submit("pushlists", {"date": when.isoformat()}, work)
    audit("admin", "pushlists", job.job_id, detail={"date": when.isoformat()})
    return _accepted(response, job)


@router.get("/jobs", summary="Recent background jobs")
def list_jobs(request: Request, user: AdminUser) -> JobList:
    """The jobs this service process remembers, newest first."""
    return JobList(items=[_job_out(j) for j in registry(request).list()])


@router.get("/jobs/{job_id}", summary="A background job's status and summary")
def get_job(
    request: Request,
    user: AdminUser,
    job_id: Annotated[str, PathParam(max_length=64)],
) -> JobOut:
    """Status (``queued``, ``running``, ``succeeded``, ``failed``), times, the summary of a
    finished job or the error of a failed one (details in the server log)."""
    job = registry(request).get(job_id)
    if job is None:
        raise NotFound("No such job (job ids are forgotten when the service restarts).")
    return _job_out(job)


# ----------------------------------------------------------------------------------------
# Accounts
# ----------------------------------------------------------------------------------------
def _user_out(info: accounts.UserInfo) -> UserOut:
    return UserOut(
        id=info.id,
        username=info.username,
        role=info.role,
        team_id=info.team_id,
        town_code=info.town_code,
        disabled=info.disabled,
        locked_until=info.locked_until,
        created_at=info.created_at,
        scope=info.scope,
    )


def _actor(request: Request, user: Any) -> accounts.Actor:
    route = request.scope.get("route")
    endpoint = f"{request.method} {getattr(route, 'path', request.url.path)}"
    return accounts.Actor(user=user, endpoint=endpoint, client=client_address(request))


@router.get("/users", summary="Service accounts")
def list_users(user: AdminUser, session: SessionDep, audit: AuditDep) -> UserList:
    """Every account by username, with role, scope and state (never a password hash)."""
    frame = accounts.list_users(session)
    release(session)  # one pooled connection at a time (the audit commits on its own)
    audit("read", "users", detail={"returned": len(frame)})
    items = [
        UserOut(
            **{
                str(k): (None if v != v else v)  # NaN/NaT → None
                for k, v in row.items()
            }
        )
        for row in frame.astype(object).to_dict("records")
    ]
    return UserList(items=items)


@router.post("/users", summary="Create an account", status_code=201)
def add_user(request: Request, body: UserIn, user: AdminUser, session: SessionDep) -> UserOut:
    """A new account: a doctor needs ``team_id``, a centre ``town_code``, no other role
    takes either. 409 when the username is taken; 422 for a weak password, or a team or
    township the store does not hold."""
    accounts.check_scope_known(session, body.team_id, body.town_code)
    info = accounts.add_user(
        session,
        body.username,
        body.password,
        body.role,
        team_id=body.team_id,
        town_code=body.town_code,
        actor=_actor(request, user),
    )
    return _user_out(info)


Username = Annotated[str, PathParam(min_length=1, max_length=64)]


@router.post("/users/{username}/disable", summary="Disable an account")
def disable(request: Request, username: Username, user: AdminUser, session: SessionDep) -> UserOut:
    """The account can no longer log in and its tokens stop working at once."""
    return _user_out(accounts.disable_user(session, username, actor=_actor(request, user)))


@router.post("/users/{username}/enable", summary="Enable an account")
def enable(request: Request, username: Username, user: AdminUser, session: SessionDep) -> UserOut:
    """Undo a disable."""
    info = accounts.disable_user(session, username, False, actor=_actor(request, user))
    return _user_out(info)


@router.put("/users/{username}/role", summary="Change an account's role and scope")
def set_role(
    request: Request, username: Username, body: RoleIn, user: AdminUser, session: SessionDep
) -> UserOut:
    """New role and scope; the account's existing tokens stop working (log in again)."""
    accounts.check_scope_known(session, body.team_id, body.town_code)
    info = accounts.set_role(
        session,
        username,
        body.role,
        team_id=body.team_id,
        town_code=body.town_code,
        actor=_actor(request, user),
    )
    return _user_out(info)
