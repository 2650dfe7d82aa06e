"""Why ``indicator_values`` is keyed by period before unit (migration 0009), measured.

Writes two builds of 13 periods × 36,000 H3 cells × 15 indicators (7M rows each, as a
county build does: one period after another, each period's rows sorted by its key) into a
SQLite table shaped like ``indicator_values`` (``WITHOUT ROWID``, the look-up index), then
deletes the first build, once with each primary-key order. Not part of ``make bench``
(about five minutes); run by hand::

    python benchmarks/key_order.py [folder]
"""

from __future__ import annotations

import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

KEYS = {
    "period first (0009)": "build_id, period, level, unit_id, indicator",
    "unit first (0008)": "build_id, level, unit_id, period, indicator",
}
PERIODS = ["2026-11-15", *[f"2026-{m:02d}-28" for m in range(10, 0, -1)], "2025-12-31"]
PERIODS.append("2025-11-30")


def run(db: Path, key: str) -> tuple[float, float, float]:
    """Seconds to write build 1, build 2, and to delete build 1."""
    con = sqlite3.connect(db)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-200000"):
        con.execute(f"PRAGMA {pragma}")  # as store.engine sets them
    con.execute(
        "CREATE TABLE iv (build_id INTEGER NOT NULL, period DATE NOT NULL, level VARCHAR(10)"
        " NOT NULL, unit_id VARCHAR(40) NOT NULL, indicator VARCHAR(40) NOT NULL, numerator"
        " FLOAT, denominator FLOAT, value FLOAT, suppressed BOOLEAN NOT NULL,"
        f" suppression_reason VARCHAR(40), PRIMARY KEY ({key})) WITHOUT ROWID"
    )
    con.execute("CREATE INDEX ix ON iv (build_id, indicator, level, period)")
    rng = random.Random(1)
    indicators = [f"indicator_{i:02d}_rate" for i in range(15)]
    units = sorted(f"89{rng.getrandbits(52):013x}ff" for _ in range(36_000))
    times = []
    for build in (1, 2):
        spent = 0.0
        for period in PERIODS:
            rows = [
                (build, period, "h3:9", u, i, 1.0, 20.0, 0.05, False, None)
                for u in units
                for i in indicators
            ]
            t0 = time.perf_counter()
            with con:
                con.executemany("INSERT INTO iv VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            spent += time.perf_counter() - t0
        times.append(spent)
    t0 = time.perf_counter()
    with con:
        con.execute("DELETE FROM iv WHERE build_id = 1")
    times.append(time.perf_counter() - t0)
    con.close()
    return times[0], times[1], times[2]


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    print("| primary key | write build 1 s | write build 2 s | delete build 1 s |")
    print("|---|---:|---:|---:|")
    for name, key in KEYS.items():
        db = folder / f"key_order_{name.split()[0]}.db"
        for f in folder.glob(db.name + "*"):
            f.unlink()
        first, second, delete = run(db, key)
        print(f"| {name} | {first:.1f} | {second:.1f} | {delete:.1f} |", flush=True)


if __name__ == "__main__":
    main()
