"""What the early-warning endpoints share: their errors and paging."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from sqlalchemy import Connection, Select, func, select
from sqlalchemy.sql import FromClause

from service.errors import problem_doc
from service.schemas.common import Offset, limit_query

#: Prefix and tag of every early-warning router (the route templates, as the audit log
#: records them, are complete on each).
ROUTER: dict[str, Any] = {"prefix": "/api/v1", "tags": ["early warning"]}
MAX_PAGE = 1000
AGGREGATE_ERRORS: dict[int | str, dict[str, Any]] = {
    403: problem_doc("Doctors: the early warning is for the centre, bureau, planner and admin."),
    404: problem_doc("Nothing built yet."),
}
LimitQuery = Annotated[int, limit_query(MAX_PAGE)]
OffsetQuery = Offset


def fetch_window(
    conn: Connection,
    table: FromClause,
    where: Sequence[Any],
    stmt: Select[Any],
    *,
    limit: int,
    offset: int,
) -> tuple[int, Sequence[Any]]:
    """How many rows of ``table`` match ``where`` in all, and the window of ``stmt``."""
    total = conn.scalar(select(func.count()).select_from(table).where(*where)) or 0
    rows = conn.execute(stmt.limit(limit).offset(offset)).all()
    return total, rows
