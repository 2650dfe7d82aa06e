"""A worker's child process that computes the residents' entries a splice needs.

After a visit the team's list is brought up to date by recomputing the visited resident's
tasks (``pipelines.pushlist.refresh_team_list``). That is ~60 ms of pandas on a quiet
machine, and it ran in the worker beside the requests, holding the worker's interpreter
lock: under the mixed load (issue 17) a splice took 230 ms of wall time (median) while
the requests waited on the lock, and the doctor's next read waited on the splice.

Here the resident's entries are computed in a child process of the worker, which has its
own interpreter lock: the worker only sends the team, the day and the resident ids, and
gets back the few rows of their entries; it merges them into its list itself (cheap).
Only the small frames cross the process boundary. (Moving the whole splice or whole
lists there was tried and dropped on 2026-12-07: a list crossing both ways cost more than
it saved.)

The child is spawned when the :class:`Splicer` is made (from the thread that makes it,
which must outlive it: the child has a parent-death signal, ``store.children``) and dies
with the worker. Should it fail or die, the splice is computed in the worker as before.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from geo.rules import RulesConfig
from pipelines.pushlist import residents_entries
from service.settings import Settings
from store.children import die_with_parent
from store.engine import make_engine

logger = logging.getLogger(__name__)

#: The child's store, rules and model (set by :func:`_start` in the child).
_CHILD: dict[str, Any] = {}


def _start(url: str, rules: RulesConfig, model_path: Path | None, parent: int) -> None:
    die_with_parent(parent)
    _CHILD.update(engine=make_engine(url), rules=rules, model_path=model_path)


def _ready() -> int:
    return os.getpid()


def _entries(team_id: str, day: dt.date, resident_ids: list[str]) -> pd.DataFrame:
    return residents_entries(
        _CHILD["engine"],
        team_id,
        day,
        _CHILD["rules"],
        resident_ids,
        model_path=_CHILD["model_path"],
    )


class Splicer:
    """The child process of one worker (``pipelines.pushlist.FreshEntries``).

    Parameters
    ----------
    engine : Engine
        The worker's store (the child opens its own engine on the same URL).
    rules : RulesConfig
    model_path : Path, optional
        The trained risk model.
    """

    def __init__(self, engine: Engine, rules: RulesConfig, model_path: Path | None) -> None:
        self.engine, self.rules, self.model_path = engine, rules, model_path
        url = engine.url.render_as_string(hide_password=False)
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=mp.get_context("spawn"),  # the worker has threads: no fork
            initializer=_start,
            initargs=(url, rules, model_path, os.getpid()),
        )
        # Spawned now, from this thread, not from whichever thread splices first.
        self._pool.submit(_ready)
        #: Entries computed by the child, and in this worker because the child failed.
        self.calls = 0
        self.fallbacks = 0
        self._broken = False  # the child died: not asked again (its pool cannot restart)

    @staticmethod
    def wanted(settings: Settings, engine: Engine) -> bool:
        """Whether an app of ``settings`` on ``engine`` splices in a child process.

        Per ``service.splice_process``; never for one county's app inside a province's
        service (a child per county and worker would be 136 processes a worker: those
        splice in the worker, as before) nor for an in-memory SQLite store (a child
        cannot open it).
        """
        url = engine.url
        in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        return settings.service.splice_process and settings.county is None and not in_memory

    def __call__(self, team_id: str, day: dt.date, resident_ids: list[str]) -> pd.DataFrame:
        """The entries of ``resident_ids`` on ``team_id``'s list of ``day``."""
        self.calls += 1
        if not self._broken:
            try:
                return self._pool.submit(_entries, team_id, day, resident_ids).result()
            except BrokenProcessPool:  # said once: every later splice would fail the same
                logger.exception("the splice child died; splicing in the worker from now on")
                self._broken = True
            except Exception:  # a failing computation: the worker computes it, as before
                logger.exception("the splice child failed; computing in the worker")
        self.fallbacks += 1
        return residents_entries(
            self.engine, team_id, day, self.rules, resident_ids, model_path=self.model_path
        )

    def close(self) -> None:
        """Stop the child (what it was computing is abandoned)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
