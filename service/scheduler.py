"""The morning push lists, generated inside ``healthmap serve`` at ``service.pushlist_cron``.

A tiny in-process scheduler: an asyncio task started in the app's lifespan sleeps until
the next run, then runs :func:`pipelines.pushlist.generate_push_lists` for the local day in
a worker thread, and sleeps again. Only the daily form ``M H * * *`` of cron is understood
(minute and hour as numbers, local time of ``rules.timezone``); anything else is refused at
start-up. Off when ``service.scheduler_enabled`` is false — then run the equivalent cron
line instead::

    0 6 * * * healthmap pushlist generate --date today

With several uvicorn workers (``service.workers``) only one process runs the schedule: the
one holding :class:`SchedulerLock` (:class:`store.locks.StoreLock`: a PostgreSQL
advisory lock, or a ``flock`` on ``<store file>.pushlist-scheduler.lock``). The
others retry every :data:`LEADER_RETRY_S` seconds, so when the holder exits another
worker takes over within a minute. (Several *hosts* on one SQLite file are not supported
anyway; on PostgreSQL the lock holds across hosts.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from store.locks import StoreLock

logger = logging.getLogger("healthmap.service")

#: Seconds between a non-leader's attempts to take the scheduler lock.
LEADER_RETRY_S = 60.0

_DAILY = re.compile(r"^\s*(\d{1,2})\s+(\d{1,2})\s+\*\s+\*\s+\*\s*$")


def parse_daily_cron(expr: str) -> tuple[int, int]:
    """``(hour, minute)`` of a daily cron expression ``M H * * *``.

    Raises
    ------
    ValueError
        Any other form, or a minute/hour out of range.
    """
    m = _DAILY.match(expr)
    if not m:
        raise ValueError(
            f"service.pushlist_cron {expr!r}: only the daily form 'M H * * *' is supported"
        )
    minute, hour = int(m.group(1)), int(m.group(2))
    if not (0 <= minute <= 59 and 0 <= hour <= 23):
        raise ValueError(f"service.pushlist_cron {expr!r}: minute 0-59, hour 0-23")
    return hour, minute


def next_run(expr: str, now: dt.datetime, timezone: str) -> dt.datetime:
    """The first run of the daily cron ``expr`` strictly after ``now`` (aware), in local time."""
    hour, minute = parse_daily_cron(expr)
    local = now.astimezone(ZoneInfo(timezone))
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate <= local:
        candidate = (candidate + dt.timedelta(days=1)).replace(hour=hour, minute=minute)
    return candidate


async def run_daily(
    expr: str,
    timezone: str,
    job: Callable[[dt.date], Any],
    *,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> None:
    """Forever: wait for the next run of ``expr``, then ``job(local date)`` in a thread.

    A failing run is logged and the schedule goes on. Cancel the task to stop it.
    """
    parse_daily_cron(expr)  # fail now, not at 06:00
    while True:
        when = next_run(expr, clock(), timezone)
        # Sleep in slices: a suspended laptop or a changed clock is noticed within a minute.
        while (remaining := (when - clock()).total_seconds()) > 0:
            await sleep(min(remaining, 60.0))
        day = when.date()
        logger.info("scheduler: generating the push lists of %s", day)
        try:
            summary = await asyncio.to_thread(job, day)
            logger.info("scheduler: push lists of %s done: %s", day, summary)
        except Exception:
            logger.exception("scheduler: push lists of %s failed", day)


class SchedulerLock(StoreLock):
    """The right to run the morning lists, held by at most one process of the service."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, "pushlist-scheduler")


async def run_as_leader(
    lock: SchedulerLock,
    schedule: Callable[[], Any],
    *,
    retry_s: float = LEADER_RETRY_S,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> None:
    """Wait until ``lock`` is ours, then await ``schedule()``; the lock is released at the end.

    The first attempt is made before any await, so a single process starts its schedule
    at once.
    """
    try:
        while not lock.try_acquire():
            await sleep(retry_s)
        logger.info("scheduler: this process (pid %s) runs the morning lists", os.getpid())
        await schedule()
    finally:
        lock.release()
