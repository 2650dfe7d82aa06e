"""Administration: the audit log (admin role only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.audit import MAX_PAGE, AuditPage, query_audit
from service.deps import AdminUser, AuditDep, SessionDep, SettingsDep, release
from service.schemas.common import DateParam, Offset, limit_query
from store.accounts import AuditAction

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/audit", summary="Read the audit log")
def audit_log(
    user: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditDep,
    username: Annotated[str | None, Query(max_length=64, alias="user")] = None,
    action: AuditAction | None = None,
    since: Annotated[DateParam, Query(description="First local date, inclusive.")] = None,
    until: Annotated[DateParam, Query(description="Last local date, inclusive.")] = None,
    limit: Annotated[int, limit_query(MAX_PAGE)] = 100,
    offset: Offset = 0,
) -> AuditPage:
    """Audit records, newest first, filtered by username, action and local dates."""
    page = query_audit(
        session,
        username=username,
        action=action,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
        timezone=settings.rules.timezone,
    )
    release(session)  # one pooled connection at a time (service.deps.release)
    # Reading the audit log is itself audited (after the read, so it is not in its own page).
    audit(
        "read",
        "audit_log",
        detail={
            "user": username,
            "action": action,
            "since": str(since or ""),
            "until": str(until or ""),
            "offset": offset,
            "returned": len(page.items),
        },
    )
    return page
