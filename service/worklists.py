"""Push lists and routes served from an in-process cache keyed by the store's write version.

A team's live list for a day is a pure function of the store's contents, the rules and the
risk model; recomputing it reads the team's residents, their registry, visits, readings
and claims (about a second at county scale). :class:`WorklistCache` keeps the computed
list, its rendered JSON and CSV bodies and the day's routes under a key holding

* the store's write version for the team (:func:`store.version.store_version`:
  the team's counter, which every API write about one of its residents bumps in its own
  transaction, the store-wide counter, the current build, the ingest marks),
* the risk model file's modification time and size,
* the team, the day and the variant (masked or not, JSON or CSV, route mode).

The version is read from the store once per request, so a visit recorded, a reading posted
or a task dismissed — in this worker or in any other — makes the older entries of the
resident's teams unreachable at once: their next request misses and recomputes; the other
teams' lists stay cached. Old entries are evicted as new ones
arrive (:class:`service.caching.SingleFlightLRU`). Concurrent misses of one key wait for a
single computation (50 phones opening the same list at 08:00 do not compute it 50 times).

A miss after live writes only (the team's counter moved, nothing else of the version did)
does not recompute the whole list: the team's latest list is brought up to date by
recomputing the residents written since and splicing them in
(:func:`pipelines.pushlist.refresh_team_list`), whichever worker recorded the write.

A doctor's visit or dismissal is followed by the doctor's return to the list, so the
worker that took the write splices it at once, in a background thread
(:meth:`WorklistCache.refresh_soon`), and stores the result
(:mod:`store.list_snapshots`): the next read, in this worker or in the other, finds it
made. Splicing on the read instead cost each worker ~120 ms of the GIL per visit (both
workers spliced the same write), a third of a worker's time at ten times a county's
morning peak (issue 17). The residents' fresh entries of a splice are computed in a
child process of the worker (:mod:`service.splicer`, ``service.splice_process``), whose
interpreter lock is not the one the requests wait on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from geo.followup import ENTRY_COLUMNS, mask_names, mask_phones
from geo.routing import Route
from geo.rules import RulesConfig
from pipelines.pushlist import (
    FreshEntries,
    TeamList,
    UnknownTeamError,
    refresh_team_list,
    team_list,
    team_route,
)
from service.batching import BatchingThread
from service.caching import SingleFlightLRU
from service.schemas import PushList, PushListEntryOut
from service.shaping import csv_text, records
from store.list_snapshots import load_snapshot, save_snapshot
from store.version import known_team_version, resident_teams, store_version

logger = logging.getLogger(__name__)

#: Cached values per app: a team's list, its JSON/CSV bodies (~60 kB each at county
#: scale) and routes; 1024 hold a day of every team's variants in ~60 MB at most.
MAX_ITEMS = 1024


@dataclass(frozen=True)
class RenderedList:
    """A list's response body and what its audit record says about it."""

    body: bytes
    entries: int
    resident_ids: list[str]


def model_mark(model_path: Path | None) -> tuple[float, int] | None:
    """The risk model file's (mtime, size): retraining it changes the lists' order."""
    if model_path is None:
        return None
    try:
        st = model_path.stat()
    except OSError:
        return None
    return (st.st_mtime, st.st_size)


class WorklistCache:
    """Computed lists and routes of one app (one store, one set of rules).

    Parameters
    ----------
    engine : Engine
        The store.
    rules : RulesConfig
    model_path : Path, optional
        Where the trained risk model is (the fallback score without it).
    max_items : int
        Cached values at most.
    fresh : callable, optional
        Computes the written residents' entries of a splice (``service.splicer.Splicer``:
        in a child process); default in this process.
    """

    def __init__(
        self,
        engine: Engine,
        rules: RulesConfig,
        model_path: Path | None = None,
        *,
        max_items: int = MAX_ITEMS,
        fresh: FreshEntries | None = None,
    ) -> None:
        self.engine = engine
        self.rules = rules
        self.model_path = model_path
        self.fresh = fresh
        self._cache: SingleFlightLRU[Any] = SingleFlightLRU(max_items)
        # The latest list of each (team, day) and its version: what a miss after live
        # writes splices from. Bounded like the cache (one per team and day in use).
        self._latest: OrderedDict[tuple[str, dt.date], tuple[Hashable, TeamList]] = OrderedDict()
        self._latest_lock = threading.Lock()
        self._max_items = max_items
        #: Lists computed whole, spliced, and taken from another worker as they were
        #: (for the tests and the benchmark).
        self.computed = 0
        self.spliced = 0
        self.shared = 0
        #: Lists refreshed in the background after a write (:meth:`refresh_soon`).
        self.refreshed = 0
        self._refresher: BatchingThread[tuple[tuple[str, ...], dt.date]] = BatchingThread(
            self._refresh, name="list-refresher"
        )
        self._unsettled = 0  # writes queued or being refreshed (settle() waits for 0)
        self._settled = threading.Condition()

    # ------------------------------------------------------------------------------
    def refresh_soon(self, resident_ids: list[str], day: dt.date) -> None:
        """Bring the doctors' lists (unmasked JSON) of ``day`` holding ``resident_ids`` up
        to date in a background thread, after a write about them has committed.

        Only the lists this worker has made for ``day`` (read since it started): a
        resident is also on the lists of their grid's and their registry's teams, which
        nobody may be reading, and a list made whole costs seconds.

        Returns at once. Several writes queued meanwhile are taken together, each team's
        list refreshed once. The result is what the next read would have computed, under
        the same key, so a read in this worker waits for it instead of computing it again
        (single flight), and the other worker takes it from the store. A failure is
        logged and left to the next read, which computes the list as ever.
        """
        with self._settled:
            self._unsettled += 1
        self._refresher.put((tuple(resident_ids), day))

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait until every refresh queued so far is done (for tests); False on timeout."""
        with self._settled:
            return self._settled.wait_for(lambda: self._unsettled == 0, timeout)

    def close(self) -> None:
        """Finish the refreshes queued and stop the background thread."""
        self._refresher.close()

    def _refresh(self, batch: list[tuple[tuple[str, ...], dt.date]]) -> None:
        try:
            self._refresh_lists(batch)
        finally:
            with self._settled:
                self._unsettled -= len(batch)
                self._settled.notify_all()

    def _refresh_lists(self, batch: list[tuple[tuple[str, ...], dt.date]]) -> None:
        days: dict[dt.date, set[str]] = {}
        for written, day in batch:
            days.setdefault(day, set()).update(written)
        for day, ids in days.items():
            try:
                with self.engine.connect() as conn:
                    teams = resident_teams(conn, ids)
                with self._latest_lock:  # only lists in use here: a resident's other teams'
                    teams = {t for t in teams if (t, day) in self._latest}  # may be unread
                for team in sorted(teams):
                    version = self.version(team)
                    try:
                        self.rendered(version, team, day, masked=False, fmt="json")
                    except UnknownTeamError:  # a signed team missing from `teams`
                        continue
                    self.refreshed += 1
            except Exception:  # the next read computes the list itself
                logger.exception("refreshing the lists of %d residents failed", len(ids))

    # ------------------------------------------------------------------------------
    def version(self, team_id: str, bind: Engine | Connection | None = None) -> tuple[Any, ...]:
        """The key prefix of everything computed now for ``team_id`` (one cheap query).

        Pass the request's connection when it has one: on PostgreSQL every pool checkout
        costs a ping round trip.
        """
        return (store_version(bind or self.engine, team_id), model_mark(self.model_path))

    def known_version(self, team_id: str, bind: Connection) -> tuple[Any, ...] | None:
        """:meth:`version`, or None when there is no such team (in the same statement)."""
        store = known_team_version(bind, team_id)
        return None if store is None else (store, model_mark(self.model_path))

    def _get_or_make(self, key: Hashable, make: Callable[[], Any]) -> Any:
        return self._cache.get_or_make(key, make)

    @property
    def hits(self) -> int:
        return self._cache.hits

    def clear(self) -> None:
        self._cache.clear()
        with self._latest_lock:
            self._latest.clear()

    # ------------------------------------------------------------------------------
    def entries(self, version: Hashable, team_id: str, day: dt.date) -> pd.DataFrame:
        """The team's list with names and phones in full (mask with :func:`masked`).

        Raises
        ------
        UnknownTeamError
            No such team.
        """
        return self._get_or_make(
            (version, "entries", team_id, day), lambda: self._list(version, team_id, day)
        )

    def _list(self, version: Hashable, team_id: str, day: dt.date) -> pd.DataFrame:
        # The newest list to start from: this worker's own, or the one another worker
        # stored (store.list_snapshots), when only live writes happened since; then only
        # the residents written after it are recomputed (often none).
        key = inputs_key(version)
        with self._latest_lock:
            latest = self._latest.get((team_id, day))
        base = latest[1] if latest is not None and inputs_key(latest[0]) == key else None
        stored = -1
        if key is not None:
            newer_than = base.team_version if base is not None else -1
            snapshot = load_snapshot(self.engine, team_id, day, newer_than=newer_than)
            if snapshot is not None and snapshot.key == key:
                base = TeamList(team_id, day, snapshot.entries, snapshot.team_version)
                stored = snapshot.team_version
        if base is None:
            made = team_list(self.engine, team_id, day, self.rules, model_path=self.model_path)
            self.computed += 1
        else:
            made = refresh_team_list(
                self.engine, base, self.rules, model_path=self.model_path, fresh=self.fresh
            )
            if made.spliced:
                self.spliced += 1
            elif stored >= 0:
                self.shared += 1
        if key is not None and (made.spliced or base is None):
            save_snapshot(
                self.engine,
                team_id,
                day,
                key=key,
                team_version=made.team_version,
                entries=made.entries,
            )
        with self._latest_lock:
            self._latest[(team_id, day)] = (version, made)
            self._latest.move_to_end((team_id, day))
            while len(self._latest) > self._max_items:
                self._latest.popitem(last=False)
        return made.entries

    def rendered(
        self, version: Hashable, team_id: str, day: dt.date, *, masked: bool, fmt: str
    ) -> RenderedList:
        """The response body of the list as JSON (``fmt="json"``) or CSV."""

        def make() -> RenderedList:
            frame = self.entries(version, team_id, day)
            if masked:
                frame = masked_entries(frame)
            rows = list_rows(frame)
            ids = sorted({str(r["resident_id"]) for r in rows})
            if fmt == "csv":
                body = csv_text(rows, [*ENTRY_COLUMNS, "risk_source"]).encode("utf-8")
            else:
                out = PushList(
                    team_id=team_id,
                    date=day,
                    masked=masked,
                    total=len(rows),
                    entries=[PushListEntryOut(**r) for r in rows],
                )
                body = out.model_dump_json().encode("utf-8")
            return RenderedList(body, len(rows), ids)

        return self._get_or_make((version, "body", team_id, day, masked, fmt), make)

    def route(self, version: Hashable, team_id: str, day: dt.date, mode: str) -> Route:
        """The day's route of the team (``mode``: drive, ebike or walk).

        Raises
        ------
        UnknownTeamError
            No such team.
        NotFound
            The team's base facility is unknown.
        """

        def make() -> Route:
            entries = self.entries(version, team_id, day)
            return team_route(
                self.engine,
                team_id,
                day,
                self.rules,
                mode=mode,
                entries=entries,
                model_path=self.model_path,
            )

        return self._get_or_make((version, "route", team_id, day, mode), make)


def inputs_key(version: Hashable) -> str | None:
    """What a list of ``version`` (:meth:`WorklistCache.version`) was computed from, but
    the team's counter: lists of equal keys differ by live writes only.

    Live writes move the team's counter, the last component of the store version; an
    ingest, a build, ``db bump-version`` or a retrained model move another component.
    None for a version of another shape (nothing is spliced from it).
    """
    if not (isinstance(version, tuple) and len(version) == 2):
        return None
    store, model = version
    return json.dumps([list(tuple(store)[:-1]), model])


def only_live_writes_between(old: Hashable, new: Hashable) -> bool:
    """Whether two versions (:meth:`WorklistCache.version`) differ by live writes only."""
    key = inputs_key(old)
    return key is not None and key == inputs_key(new)


def masked_entries(frame: pd.DataFrame) -> pd.DataFrame:
    """The list as everyone but the team's own doctor sees it (names and phones masked)."""
    return frame.assign(name=mask_names(frame["name"]), phone=mask_phones(frame["phone"]))


def list_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The entries as JSON-ready dicts (dates as dates, ``sex`` as an int code)."""
    rows = records(frame, ["due_date", "last_visit_date"])
    for r in rows:  # sex is a float column in the frame (missing values); it is a code
        if r.get("sex") is not None:
            r["sex"] = int(r["sex"])
    return rows
