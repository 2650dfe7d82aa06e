"""``GET /api/v1/live``: the open pages' Server-Sent Events (``service.live``).

Scope, as for the push lists (``docs/security.md``): a doctor receives the events of its
own team, a chronic-disease centre those of its township; the other roles get 403. An
event carries ids and values only (resident id, measurement id, the readings); the page
asks the API for anything else, with that route's own checks and audit.

**How the pages authenticate.** The browser's ``EventSource`` cannot send an
``Authorization`` header, and the pages keep their Bearer token in ``sessionStorage``.
The pages read the stream with ``fetch()`` instead (``frontend/src/common/live.ts``), with
the same header as every other call: no second kind of credential, and no token in a URL
(URLs end up in proxies' access logs and browser history; a query-string ticket would
have needed its own signing, lifetime and replay rules). What ``EventSource`` would have
done by itself, the page does: reconnect after a pause, sending ``Last-Event-ID``.

The stream:

* first a ``ready`` event (``data: {"last_id": N}``; with ``id: N`` when the caller sent
  no ``Last-Event-ID``, so a page that reconnects later resumes from there);
* with ``Last-Event-ID: N``, the events of its scope after ``N`` still in the store (an
  hour), then the live ones;
* ``: ping`` comments every :data:`HEARTBEAT_SECONDS` (proxies close idle connections;
  the page notices a dead one);
* the stream ends after the access token's lifetime (``auth.access_minutes``): the page
  reconnects at once with its current token, resuming by ``Last-Event-ID``;
* ``?once=true`` ends the stream after the ``ready`` event and the replay: for a client
  that only polls, and for the authorization matrix (which waits for whole responses).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from sse_starlette.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from geo.vocabulary import TEAM_SCOPED_ROLE
from service.deps import AuditDep, CareUser, SettingsDep
from service.errors import problem_doc
from service.live import LiveHub, LiveMessage
from service.settings import Settings
from store.live_events import live_events_after

router = APIRouter(tags=["live"])

#: Seconds between the keep-alive comments.
HEARTBEAT_SECONDS = 15
#: What a page waits before reconnecting (the SSE ``retry:`` field, milliseconds).
RETRY_MS = 3000
#: Most events replayed after a ``Last-Event-ID`` (older ones: the page refetches).
REPLAY_LIMIT = 500


def stream_seconds(settings: Settings) -> float:
    """How long one stream lasts: an access token's lifetime."""
    return float(settings.auth.access_minutes * 60)


def _event(message: LiveMessage) -> ServerSentEvent:
    return ServerSentEvent(
        data=json.dumps(message.data(), ensure_ascii=False, separators=(",", ":")),
        event=message.kind,
        id=str(message.id),
    )


@router.get(
    "/api/v1/live",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "An endless ``text/event-stream`` of the caller's scope.",
            "content": {"text/event-stream": {}},
        },
        403: problem_doc("Roles other than doctor and chronic-disease centre."),
    },
)
async def live(
    request: Request,
    user: CareUser,
    audit: AuditDep,
    settings: SettingsDep,
    last_event_id: Annotated[
        int | None,
        Header(alias="Last-Event-ID", ge=0, description="Resume after this event id."),
    ] = None,
    once: Annotated[
        bool, Query(description="End after the ``ready`` event and the replay.")
    ] = False,
) -> EventSourceResponse:
    """Events for the caller's open page: ``emergency_reading`` (a new emergency reading of
    the team's patients; data: ``measurement_id``, ``resident_id``, ``diseases``,
    ``measured_at``, ``sbp``, ``dbp``, ``heart_rate``, ``glucose``, ``team_id``,
    ``town_code``). Doctors: their team's; chronic-disease centres: their township's."""
    hub: LiveHub = request.app.state.live
    # A stream outlives no access token: the page reconnects (resuming by Last-Event-ID)
    # with its current one, so a disabled account or a changed role stops receiving.
    deadline = time.monotonic() + stream_seconds(settings)
    engine = request.app.state.engine
    if user.role == TEAM_SCOPED_ROLE:
        scope = {"team_id": user.team_id, "town_code": None}
    else:
        scope = {"team_id": None, "town_code": user.town_code}
    await run_in_threadpool(
        audit, "read", "live", scope["team_id"] or scope["town_code"], {"resume": last_event_id}
    )

    async def stream() -> AsyncIterator[ServerSentEvent]:
        # Subscribed before the replay is read: an event committed in between is in both,
        # and sent once.
        sub = hub.subscribe(**scope)
        start = hub.high_water
        try:
            ready = json.dumps({"last_id": start})
            if last_event_id is None:
                yield ServerSentEvent(data=ready, event="ready", id=str(start), retry=RETRY_MS)
            else:
                yield ServerSentEvent(data=ready, event="ready", retry=RETRY_MS)
            sent: set[int] = set()
            if last_event_id is not None:
                rows = await run_in_threadpool(
                    live_events_after, engine, last_event_id, limit=REPLAY_LIMIT, **scope
                )
                for row in rows:
                    sent.add(row.id)
                    yield _event(LiveMessage.of(row))
            if once:
                return
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    message = await asyncio.wait_for(sub.queue.get(), left)
                except TimeoutError:
                    return  # the token's lifetime is over: reconnect (and show it again)
                if message is None:  # too slow, or the service is stopping: reconnect
                    return
                if message.id not in sent:
                    yield _event(message)
        finally:
            hub.unsubscribe(sub)

    return EventSourceResponse(
        stream(),
        ping=HEARTBEAT_SECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
