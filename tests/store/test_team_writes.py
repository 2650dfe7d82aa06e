"""The live-write log: each move of a team's counter names the residents it was for.

Hand-made: residents R1 (signed to T1), R2 (signed to T1, in a grid of T2) and R3 (signed
to T2). Three writes move T1 to 3 and T2 to 2; the log answers each version range with
the residents written, and an incomplete range (pruned) with None.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, insert, select, update

from store.models import Grid, Resident, Team
from store.version import (
    TeamWrite,
    bump_team_versions,
    prune_team_writes,
    residents_written,
    team_counter,
)


def _seed(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(Team),
            [{"team_id": t, "name": t, "facility_id": "F1"} for t in ("T1", "T2")],
        )
        conn.execute(insert(Grid), [{"grid_id": "G2", "team_id": "T2"}])
        person = {"name": "某", "sex": 1, "birth_date": dt.date(1950, 1, 1), "area_code": "0" * 12}
        conn.execute(
            insert(Resident),
            [
                {**person, "resident_id": "R1", "signed_team_id": "T1", "grid_id": None},
                {**person, "resident_id": "R2", "signed_team_id": "T1", "grid_id": "G2"},
                {**person, "resident_id": "R3", "signed_team_id": "T2", "grid_id": None},
            ],
        )


def test_the_log_names_the_residents_of_each_version(store: Engine) -> None:
    _seed(store)
    assert team_counter(store, "T1") == 0
    with store.begin() as conn:
        assert bump_team_versions(conn, ["R1"]) == {"T1"}  # T1 → 1
    with store.begin() as conn:
        assert bump_team_versions(conn, ["R2"]) == {"T1", "T2"}  # T1 → 2, T2 → 1
    with store.begin() as conn:
        assert bump_team_versions(conn, ["R3", "R1"]) == {"T1", "T2"}  # T1 → 3, T2 → 2
    assert (team_counter(store, "T1"), team_counter(store, "T2")) == (3, 2)
    assert residents_written(store, "T1", 0, 3) == ["R1", "R2", "R3"]
    assert residents_written(store, "T1", 1, 2) == ["R2"]
    assert residents_written(store, "T1", 2, 3) == ["R1", "R3"]
    assert residents_written(store, "T2", 0, 1) == ["R2"]
    assert residents_written(store, "T1", 3, 3) == []
    # A range the log does not cover (version 4 was never written) is not answered.
    assert residents_written(store, "T1", 2, 4) is None


def test_a_pruned_range_is_not_answered(store: Engine) -> None:
    _seed(store)
    for _ in range(2):
        with store.begin() as conn:
            bump_team_versions(conn, ["R1"])
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    with store.begin() as conn:
        conn.execute(update(TeamWrite).where(TeamWrite.version == 1).values(written_at=old))
    assert prune_team_writes(store, old + dt.timedelta(days=1)) == 1
    with store.connect() as conn:
        assert conn.execute(select(TeamWrite.version)).scalars().all() == [2]
    assert residents_written(store, "T1", 1, 2) == ["R1"]
    assert residents_written(store, "T1", 0, 2) is None
