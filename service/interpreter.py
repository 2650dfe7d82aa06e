"""How a worker's interpreter shares its time: the lock's switch interval, and full garbage
collections on a timer instead of Python's allocation counts.

**The switch interval.** A worker's threads (the event loop, the routes' threads, the
audit writer, the list refresher) share one interpreter lock. A thread that waits for it
(a route back from a round trip to PostgreSQL, the event loop with a response to send)
asks the holder to let go and gets it after at most ``sys.getswitchinterval()``, 5 ms by
default. Under the mixed load (issue 17) a splice or a page computing holds the lock for
tens of milliseconds, and each of the request's waits costs up to 5 ms: on PostgreSQL
(four of them a request) the queues grew until a burst became a backlog. At 0.5 ms
(``service.switch_interval_ms``) a 121-s PostGIS trial gave p50 15 ms and p99 214 ms
against 24 ms and 0.74-1.6 s at 5 ms, and less CPU per request (5.5 against 5.9 ms).

**Full collections.** CPython runs a full (generation-2) collection once enough objects
have survived the younger ones. A worker's survivors are mostly its caches (lists,
answers, tiles, the store's compiled statements), long-lived and not garbage, and every
full collection walks them all: under the mixed load (issue 17) a worker paused
80-140 ms every ~15 s for a collection that freed almost nothing, and each pause held up
every request of the worker. ``gc.freeze()`` after start-up (``service.app``) keeps the
start-up objects out; this keeps the full collections themselves to one per
``service.full_gc_seconds``.

The young generations are still collected by Python as ever, so short-lived cycles (an
exception and its traceback) go at once; only cycles that outlived them wait for the
timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from collections.abc import AsyncIterator

#: Generation-1 collections before an automatic full one: never, in practice.
NO_AUTOMATIC_FULL = 2**30


@contextlib.asynccontextmanager
async def tuned(switch_interval_ms: float, full_gc_seconds: float) -> AsyncIterator[None]:
    """While open: the lock's switch interval (0: Python's own) and full collections on a
    timer (:func:`full_collections`). Both are the process's and come back on exit."""
    previous = sys.getswitchinterval()
    if switch_interval_ms > 0:
        sys.setswitchinterval(switch_interval_ms / 1000)
    try:
        async with full_collections(full_gc_seconds):
            yield
    finally:
        sys.setswitchinterval(previous)


@contextlib.asynccontextmanager
async def full_collections(seconds: float) -> AsyncIterator[None]:
    """While open, collect everything every ``seconds`` and never otherwise (0: Python's
    own schedule, unchanged). Python's thresholds are restored on exit."""
    if seconds <= 0:
        yield
        return
    young, middle, full = gc.get_threshold()
    gc.set_threshold(young, middle, NO_AUTOMATIC_FULL)

    async def collect() -> None:
        while True:
            await asyncio.sleep(seconds)
            gc.collect()  # on the event loop: the pause it is anyway, once per period

    task = asyncio.create_task(collect(), name="full-gc")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        gc.set_threshold(young, middle, full)
