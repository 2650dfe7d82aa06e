"""The workers' shared lists: a newer counter replaces an older one, never the other way;
a list of other inputs (another key) replaces whatever is stored; old days are pruned."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, func, select

from store.list_snapshots import ListSnapshot, load_snapshot, prune_list_snapshots, save_snapshot

DAY = dt.date(2026, 12, 7)


def _list(*ids: str) -> pd.DataFrame:
    return pd.DataFrame({"resident_id": list(ids), "rank": list(range(1, len(ids) + 1))})


def _stored(store: Engine, team: str = "T1", day: dt.date = DAY) -> tuple[str, int, list[str]]:
    got = load_snapshot(store, team, day)
    assert got is not None
    return got.key, got.team_version, got.entries["resident_id"].tolist()


def test_the_newest_list_of_a_key_is_kept(store: Engine) -> None:
    assert load_snapshot(store, "T1", DAY) is None
    save_snapshot(store, "T1", DAY, key="k1", team_version=3, entries=_list("R1", "R2"))
    assert _stored(store) == ("k1", 3, ["R1", "R2"])
    # A worker that spliced an older list later does not overwrite the newer one.
    save_snapshot(store, "T1", DAY, key="k1", team_version=2, entries=_list("R9"))
    assert _stored(store) == ("k1", 3, ["R1", "R2"])
    save_snapshot(store, "T1", DAY, key="k1", team_version=4, entries=_list("R2"))
    assert _stored(store) == ("k1", 4, ["R2"])
    # After a build (another key) the list of the new store replaces it, counter or not.
    save_snapshot(store, "T1", DAY, key="k2", team_version=0, entries=_list("R3"))
    assert _stored(store) == ("k2", 0, ["R3"])
    # Entries are read only when newer than what the caller holds.
    assert load_snapshot(store, "T1", DAY, newer_than=0) is None
    assert load_snapshot(store, "T1", DAY, newer_than=-1) is not None


def test_old_days_are_pruned(store: Engine) -> None:
    for days in (0, 1, 2, 3):
        day = DAY - dt.timedelta(days=days)
        save_snapshot(store, "T1", day, key="k", team_version=1, entries=_list("R1"))
    save_snapshot(store, "T2", DAY, key="k", team_version=1, entries=_list("R1"))
    assert prune_list_snapshots(store, DAY - dt.timedelta(days=1)) == 2
    with store.connect() as conn:
        left = conn.execute(select(func.count()).select_from(ListSnapshot)).scalar_one()
    assert left == 3
    assert _stored(store, "T2") == ("k", 1, ["R1"])
