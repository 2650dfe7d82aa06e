"""The live channel: events that open pages must see at once (Server-Sent Events).

An emergency reading must reach the responsible team's open phone pages and the
township centre's console within two seconds (issue 15). The service runs several
uvicorn worker processes, and the page's connection may be held by another worker than
the one that recorded the reading, so:

* :func:`publish` adds a ``live_events`` row (``store.live_events``) in the caller's
  transaction: the event exists exactly when the reading does (a rolled-back reading
  announces nothing);
* each process runs one :class:`LiveHub`: a thread that reads the rows above the last id
  it has seen — **one query per process** every :data:`POLL_SECONDS`, however many pages
  are connected — and hands them to the event loop, which puts each into the bounded queue
  of every subscriber in its scope (a doctor's team, a centre's township). A commit in the
  same process wakes the thread at once; another process's commit is seen at the next
  poll, so delivery takes at most a poll interval plus the page's own refetch;
* a subscriber that does not keep up (its queue is full) is dropped, not waited for: its
  stream ends, the page reconnects with ``Last-Event-ID`` and reads what it missed from
  the table (``GET /api/v1/live``, ``service.routes.live``).

Ids on PostgreSQL come from a sequence, and a transaction that took a lower id can commit
after one that took a higher id: the hub keeps the ids it has not seen below the highest it
has (:data:`GAP_SECONDS`), so a late commit is still delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

from geo.vocabulary import EMERGENCY_READING
from service.scope import team_town
from store.live_events import (
    LiveEvent,
    add_live_event,
    last_live_event_id,
    live_events_after,
    prune_live_events,
)

logger = logging.getLogger("healthmap.live")

#: The event of a new emergency reading (the red task of the same code).
EMERGENCY_KIND = EMERGENCY_READING
#: How often a process looks for events written by the others (seconds).
POLL_SECONDS = 0.25
#: Events a subscriber may have waiting; beyond that it is dropped (and resumes).
QUEUE_SIZE = 256
#: How long an id below the highest seen may still turn up (a transaction slower to
#: commit than a later one); after this it is taken for a rolled-back one.
GAP_SECONDS = 10.0
#: How often a process deletes the old events (seconds).
PRUNE_SECONDS = 300.0
#: Most events one poll reads (a burst beyond it is read over the next polls).
POLL_LIMIT = 1000
#: Most unseen ids tracked at once (a jump beyond it is not waited for).
GAP_LIMIT = 10_000


@dataclass(frozen=True)
class LiveMessage:
    """One event as the pages receive it."""

    id: int
    kind: str
    team_id: str | None
    town_code: str | None
    created_at: str
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: LiveEvent) -> LiveMessage:
        created = row.created_at
        return cls(
            id=int(row.id),
            kind=row.kind,
            team_id=row.team_id,
            town_code=row.town_code,
            created_at=created.isoformat() if created is not None else "",
            payload=dict(row.payload or {}),
        )

    def data(self) -> dict[str, Any]:
        """The event's JSON (what the page reads from ``data:``)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "team_id": self.team_id,
            "town_code": self.town_code,
            "created_at": self.created_at,
            **self.payload,
        }


@dataclass(eq=False)
class Subscriber:
    """One open page: its scope and its queue (``None`` in the queue ends the stream)."""

    team_id: str | None
    town_code: str | None
    queue: asyncio.Queue[LiveMessage | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )
    dropped: bool = False

    def wants(self, message: LiveMessage) -> bool:
        """Whether the event lies in this page's scope."""
        if self.team_id is not None and message.team_id == self.team_id:
            return True
        return self.town_code is not None and message.town_code == self.town_code


# ----------------------------------------------------------------------------------------
# Publishing
# ----------------------------------------------------------------------------------------
#: The hubs of this process by engine, woken when a session of theirs commits an event.
_HUBS: weakref.WeakKeyDictionary[Engine, weakref.WeakSet[LiveHub]] = weakref.WeakKeyDictionary()
_WAKE_PENDING = "healthmap.live.wake_pending"


def _engine_of(session: Session) -> Engine | None:
    bind = session.get_bind()
    if isinstance(bind, Connection):
        return bind.engine
    return bind if isinstance(bind, Engine) else None


def _wake_hubs(engine: Engine, session: Session) -> None:
    session.info.pop(_WAKE_PENDING, None)
    for hub in list(_HUBS.get(engine, ())):
        hub.wake()


def publish(
    session: Session,
    *,
    kind: str,
    team_id: str | None,
    town_code: str | None,
    payload: dict[str, Any],
    now: dt.datetime | None = None,
) -> None:
    """Publish an event to the open pages of ``team_id`` and of ``town_code``.

    The row joins the caller's transaction; it is delivered only once that commits. The
    payload holds ids and values, never names, phones or addresses.

    Parameters
    ----------
    session
        The recording transaction (the caller commits).
    kind
        The event's kind (the pages' ``event:``), e.g. ``emergency_reading``.
    team_id, town_code
        Whose pages receive it: a doctor's team, a centre's township.
    payload
        JSON-serialisable ids and values.
    """
    add_live_event(
        session,
        kind=kind,
        team_id=team_id,
        town_code=town_code,
        payload=payload,
        now=now or dt.datetime.now(dt.UTC),
    )
    engine = _engine_of(session)
    if engine is not None and not session.info.get(_WAKE_PENDING):
        # This process's hubs need not wait for their next poll.
        session.info[_WAKE_PENDING] = True
        event.listen(session, "after_commit", functools.partial(_wake_hubs, engine), once=True)


#: What a page is told of an emergency reading (ids and values; the webhook's fields).
EMERGENCY_FIELDS = (
    "measurement_id",
    "resident_id",
    "diseases",
    "measured_at",
    "measured_date",
    "sbp",
    "dbp",
    "heart_rate",
    "glucose",
    "glucose_type",
)


def publish_emergency(session: Session, reading: dict[str, Any]) -> None:
    """Publish a newly recorded emergency reading to each managing team and its township.

    ``reading`` is the webhook's payload of the reading (``service.emergencies``): its
    ``teams`` are the teams managing the diseases it is an emergency for.
    """
    payload = {k: reading.get(k) for k in EMERGENCY_FIELDS}
    for team in reading.get("teams") or ():
        publish(
            session,
            kind=EMERGENCY_KIND,
            team_id=team,
            town_code=team_town(session, team),
            payload=payload,
        )


# ----------------------------------------------------------------------------------------
# The per-process dispatcher
# ----------------------------------------------------------------------------------------
class LiveHub:
    """Reads new events from the store (one thread per process) and fans them out.

    :meth:`start` and :meth:`stop` run on the event loop (the app's lifespan);
    :meth:`subscribe` and :meth:`unsubscribe` on the loop too (the SSE route).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        poll_seconds: float = POLL_SECONDS,
        gap_seconds: float = GAP_SECONDS,
        prune_seconds: float = PRUNE_SECONDS,
    ) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self.gap_seconds = gap_seconds
        self.prune_seconds = prune_seconds
        self.subscribers: set[Subscriber] = set()
        #: Ids above it have not all been seen yet (read by the route for ``ready``).
        self.floor = 0
        #: The highest id handed out so far.
        self.high_water = 0
        self.dispatched = 0
        self.dropped = 0
        self._seen: set[int] = set()
        self._gaps: dict[int, float] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- life -------------------------------------------------------------------------
    def start(self) -> None:
        """Start watching from the newest event (earlier ones are for ``Last-Event-ID``)."""
        self._loop = asyncio.get_running_loop()
        self.floor = self.high_water = last_live_event_id(self.engine)
        _HUBS.setdefault(self.engine, weakref.WeakSet()).add(self)
        self._thread = threading.Thread(target=self._run, name="healthmap-live", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop the thread and end every open stream."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
        hubs = _HUBS.get(self.engine)
        if hubs is not None:
            hubs.discard(self)
        for sub in list(self.subscribers):
            self._end(sub)
        self.subscribers.clear()

    def wake(self) -> None:
        """Look for new events now (a commit of this process wrote one)."""
        self._wake.set()

    # -- subscribers ------------------------------------------------------------------
    def subscribe(self, *, team_id: str | None = None, town_code: str | None = None) -> Subscriber:
        """A queue of the events of a team and/or a township, from now on."""
        sub = Subscriber(team_id=team_id, town_code=town_code)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget a subscriber (its page went away)."""
        self.subscribers.discard(sub)

    @staticmethod
    def _end(sub: Subscriber) -> None:
        # Make room for the end marker: what was queued is read again from the table.
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)

    def _fan_out(self, messages: list[LiveMessage]) -> None:
        # On the event loop: the queues are not thread-safe.
        for message in messages:
            self.high_water = max(self.high_water, message.id)
            for sub in list(self.subscribers):
                if sub.dropped or not sub.wants(message):
                    continue
                try:
                    sub.queue.put_nowait(message)
                    self.dispatched += 1
                except asyncio.QueueFull:
                    sub.dropped = True
                    self.dropped += 1
                    self.subscribers.discard(sub)
                    self._end(sub)
                    logger.warning("live: a slow subscriber was dropped (queue full)")

    # -- the thread -------------------------------------------------------------------
    def _run(self) -> None:
        last_prune = 0.0
        failures = 0
        while not self._stopping.is_set():
            self._wake.wait(self.poll_seconds if failures == 0 else min(5.0, 0.5 * failures))
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                self.poll()
                if time.monotonic() - last_prune > self.prune_seconds:
                    last_prune = time.monotonic()
                    prune_live_events(self.engine, dt.datetime.now(dt.UTC))
                failures = 0
            except Exception:  # the store is away: keep trying, quietly after the first
                failures += 1
                if failures == 1:
                    logger.exception("live: reading the events failed; retrying")

    def poll(self) -> list[LiveMessage]:
        """Read the events not seen yet and hand them to the loop (one query)."""
        rows = live_events_after(self.engine, self.floor, limit=POLL_LIMIT)
        fresh = [LiveMessage.of(r) for r in rows if r.id not in self._seen]
        self._advance([r.id for r in rows])
        if fresh and self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._fan_out, fresh)
        return fresh

    def _advance(self, ids: list[int]) -> None:
        """Remember ``ids`` as seen and move the floor over every id settled."""
        now = time.monotonic()
        self._seen.update(ids)
        top = max(self._seen, default=self.floor)
        if top - self.floor > GAP_LIMIT:
            # A jump no transaction explains (a restored store): do not wait for it.
            self._seen = {i for i in self._seen if i > top - GAP_LIMIT}
            self._gaps = {}
            self.floor = top - GAP_LIMIT
        for i in range(self.floor + 1, top):
            if i not in self._seen:
                self._gaps.setdefault(i, now)
        while True:
            nxt = self.floor + 1
            if nxt in self._seen:
                self._seen.discard(nxt)
            elif nxt in self._gaps and now - self._gaps[nxt] >= self.gap_seconds:
                pass
            else:
                break
            self._gaps.pop(nxt, None)
            self.floor = nxt
