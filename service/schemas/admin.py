"""Administration: background jobs and user accounts."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, StringConstraints

from service.schemas.common import Id40, Role, _Out, _Strict, examples

JobKind = Literal["ingest", "build", "pushlists"]
JobStatus = Literal["queued", "running", "succeeded", "failed"]


class JobOut(_Out):
    model_config = ConfigDict(json_schema_extra=examples("JobOut"))

    job_id: str
    kind: JobKind
    status: JobStatus
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    params: dict[str, Any]
    summary: dict[str, Any] | None
    error: str | None


class JobList(_Out):
    items: list[JobOut]


class UserOut(_Out):
    id: int
    username: str
    role: str
    team_id: str | None
    town_code: str | None
    disabled: bool
    locked_until: dt.datetime | None
    created_at: dt.datetime
    scope: str


class UserList(_Out):
    items: list[UserOut]


class UserIn(_Strict):
    model_config = ConfigDict(json_schema_extra=examples("UserIn"))

    username: Annotated[str, StringConstraints(min_length=3, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    role: Role
    team_id: Id40 | None = None
    town_code: Annotated[str, StringConstraints(min_length=1, max_length=12)] | None = None


class RoleIn(_Strict):
    model_config = ConfigDict(json_schema_extra=examples("RoleIn"))

    role: Role
    team_id: Id40 | None = None
    town_code: Annotated[str, StringConstraints(min_length=1, max_length=12)] | None = None
