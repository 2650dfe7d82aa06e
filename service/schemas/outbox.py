"""The outbox's admin view: webhook deliveries and their state (``/api/v1/admin/outbox``)."""

from __future__ import annotations

import datetime as dt

from service.schemas.common import Page, _Out
from store.outbox import OutboxState


class OutboxMessageOut(_Out):
    """One outbox message: where it goes and how its delivery stands (never its payload:
    the ids and values of a resident's reading are not the administrator's to read)."""

    id: int
    idempotency_key: str
    kind: str
    target: str
    state: OutboxState
    attempts: int
    next_attempt_at: dt.datetime
    leased_until: dt.datetime | None
    last_error: str | None
    last_status: int | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class OutboxPage(Page[OutboxMessageOut]):
    """A page of outbox messages, newest first."""
