"""The outbox's admin view: ``GET /api/v1/admin/outbox``, ``POST …/{id}/retry`` (admin).

The emergency webhook's calls wait in the outbox until delivered (``store.outbox``,
``service.outbox``). An administrator sees each message's state, attempts, last error
and times, and re-queues a ``failed`` one (after fixing the receiver) for a fresh series
of attempts.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query

from service.deps import AdminUser, AuditDep, SessionDep
from service.errors import problem_doc
from service.outbox import wake_after_commit
from service.schemas.common import Offset, fill_page, limit_query
from service.schemas.outbox import OutboxMessageOut, OutboxPage
from store.outbox import OutboxState, list_messages, requeue

router = APIRouter(prefix="/api/v1/admin/outbox", tags=["admin"])

#: The largest page of the outbox list.
MAX_PAGE = 500
#: Message ids are 64-bit on PostgreSQL.
MessageId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The message's id.")]


@router.get("", summary="Webhook deliveries waiting, delivered and failed")
def list_outbox(
    user: AdminUser,
    session: SessionDep,
    state: Annotated[OutboxState | None, Query(description="Only messages in this state.")] = None,
    limit: Annotated[int, limit_query(MAX_PAGE)] = 100,
    offset: Offset = 0,
) -> OutboxPage:
    """The outbox's messages, newest first: target, state (``pending``, ``delivered``,
    ``failed``), attempts, the next attempt's time, the last error (an exception's name or
    an HTTP status) and the times it was created and delivered."""
    total, rows = list_messages(session, state=state, limit=limit, offset=offset)
    return fill_page(
        OutboxPage,
        (OutboxMessageOut.model_validate(r) for r in rows),
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/{message_id}/retry",
    summary="Re-queue a failed webhook delivery",
    responses={
        404: problem_doc("No such message."),
        409: problem_doc("The message was delivered already."),
    },
)
def retry(
    message_id: MessageId, user: AdminUser, session: SessionDep, audit: AuditDep
) -> OutboxMessageOut:
    """Make a ``failed`` (or ``pending``) message due at once with its attempts reset; it
    keeps its key and target. A delivered message is 409: it is never sent twice."""
    row = requeue(session, message_id, dt.datetime.now(dt.UTC))
    audit(
        "admin",
        "outbox",
        str(message_id),
        detail={"idempotency_key": row.idempotency_key},
        session=session,
    )
    wake_after_commit(session)
    session.commit()
    return OutboxMessageOut.model_validate(row)
