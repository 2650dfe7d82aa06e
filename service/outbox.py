"""Delivering the outbox: the emergency webhook's POSTs, retried until they arrive.

Every worker process of the service runs one :class:`OutboxWorker`, a daemon thread started
and stopped by the app's lifespan. It claims one due message at a time (``store.outbox``:
a lease, so two processes never deliver the same message at once), POSTs its JSON payload
to the message's target with an ``Idempotency-Key`` header, and records the outcome:
``delivered`` on a 2xx answer; otherwise ``pending`` again after an exponential back-off
with jitter, or ``failed`` after ``outbox.max_attempts``. It polls every
``outbox.poll_seconds`` and is woken at once when this process commits a new message
(:func:`wake_after_commit`), so a reading usually reaches the receiver well within a
second. The store being down is logged and waited out; the thread never dies of it.

Delivery is *at least once*: a process killed after the receiver answered but before the
outcome was written sends the message again after a restart. The ``Idempotency-Key``
(``emergency_reading:<measurement_id>``) is the same every time, so a receiver that
remembers keys sees each reading once.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from service.settings import OutboxSettings
from store.outbox import Claimed, claim, mark_delivered, mark_failed_attempt

logger = logging.getLogger("healthmap.service")
T = TypeVar("T")

#: The header that names the message: the same on every attempt.
IDEMPOTENCY_HEADER = "Idempotency-Key"

#: The workers of this process, woken when it commits a message.
_WORKERS: weakref.WeakSet[OutboxWorker] = weakref.WeakSet()


@dataclass(frozen=True)
class Outcome:
    """One POST's result: ``error`` is None on a 2xx (short, never a response body)."""

    status: int | None
    error: str | None


def send(
    url: str,
    payload: dict[str, Any],
    *,
    key: str,
    timeout: float,
    client: httpx.Client | None = None,
) -> Outcome:
    """POST ``payload`` as JSON to ``url`` with the ``Idempotency-Key`` ``key``. Never raises.

    Pass a ``client`` to reuse its connections and TLS context: a new one loads the
    system's CA bundle, 20-40 ms of CPU with the GIL held, a stall for every request the
    process serves meanwhile.
    """
    post = client.post if client is not None else httpx.post
    try:
        response = post(
            url,
            json=payload,
            headers={IDEMPOTENCY_HEADER: key},  # httpx sets Content-Type: application/json
            timeout=timeout,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        return Outcome(None, type(exc).__name__)
    except Exception as exc:  # a malformed target URL and the like: recorded, not raised
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:200])
    if not response.is_success:
        return Outcome(response.status_code, f"HTTP {response.status_code}")
    return Outcome(response.status_code, None)


def wake_after_commit(session: Session) -> None:
    """Wake this process's outbox workers once ``session``'s transaction commits."""

    def wake(_session: Session) -> None:
        for worker in list(_WORKERS):
            worker.wake()

    event.listen(session, "after_commit", wake, once=True)


class OutboxWorker:
    """The delivery thread of one process (see the module's docstring).

    Parameters
    ----------
    engine
        The store holding the outbox.
    settings
        Poll interval, timeout, attempts, back-off and lease.
    """

    def __init__(self, engine: Engine, settings: OutboxSettings) -> None:
        self.engine = engine
        self.settings = settings
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._random = random.Random()
        self._store_down = False
        # Made in the thread that uses it, closed when it ends.
        self._client: httpx.Client | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="healthmap-outbox", daemon=True)
        _WORKERS.add(self)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, letting a POST under way finish (at most about its timeout)."""
        _WORKERS.discard(self)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=3 * self.settings.timeout_seconds + 2)
            self._thread = None

    def wake(self) -> None:
        """Look for due messages now instead of at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                while not self._stop.is_set() and self.deliver_one():
                    pass
            except Exception as exc:  # the store is down, or anything else: wait, retry
                if not self._store_down:
                    logger.warning(
                        "outbox: cannot reach the store (%s); retrying every %s s",
                        type(exc).__name__,
                        self.settings.poll_seconds,
                    )
                    self._store_down = True
            self._wake.wait(self.settings.poll_seconds)

    def deliver_one(self, now: dt.datetime | None = None) -> bool:
        """Claim one due message and attempt it; False when none was due."""
        s = self.settings
        claimed = claim(self.engine, now or dt.datetime.now(dt.UTC), lease_seconds=s.lease_seconds)
        if self._store_down:
            logger.warning("outbox: the store answers again; deliveries resume")
            self._store_down = False
        if not claimed:
            return False
        self._attempt(claimed[0])
        return True

    def _record(self, message: Claimed, write: Callable[[], T]) -> T:
        """``write`` the attempt's outcome, retried while the store is briefly away.

        Retried until the claim's lease would run out: a delivered message whose outcome
        is lost is sent again after the lease (with the same key), so it is worth waiting
        for a store that restarts."""
        give_up = time.monotonic() + self.settings.lease_seconds - self.settings.poll_seconds
        while True:
            try:
                return write()
            except Exception as exc:
                if time.monotonic() >= give_up or self._stop.is_set():
                    raise
                logger.warning(
                    "outbox: cannot record message %s's outcome (%s); retrying",
                    message.id,
                    type(exc).__name__,
                )
                time.sleep(self.settings.poll_seconds)

    def _attempt(self, message: Claimed) -> None:
        s = self.settings
        if self._client is None:
            self._client = httpx.Client()
        outcome = send(
            message.target,
            message.payload,
            key=message.idempotency_key,
            timeout=s.timeout_seconds,
            client=self._client,
        )
        done = dt.datetime.now(dt.UTC)
        if outcome.error is None:
            delivered = self._record(
                message, lambda: mark_delivered(self.engine, message, done, status=outcome.status)
            )
            if not delivered:
                logger.warning(
                    "outbox: message %s was delivered after its lease ran out", message.id
                )
            return
        error = outcome.error
        rand = self._random.random()
        state = self._record(
            message,
            lambda: mark_failed_attempt(
                self.engine,
                message,
                done,
                error=error,
                status=outcome.status,
                max_attempts=s.max_attempts,
                base=s.backoff_base_seconds,
                cap=s.backoff_cap_seconds,
                rand=rand,
            ),
        )
        logger.warning(
            "outbox: message %s (%s) attempt %s failed: %s; now %s",
            message.id,
            message.kind,
            message.attempts,
            outcome.error,
            state or "leased by another worker",
        )
