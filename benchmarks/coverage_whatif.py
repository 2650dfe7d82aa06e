"""Median time of the planners' what-if on a store (run by ``benchmarks/run.py``).

    python benchmarks/coverage_whatif.py URL [N]

Computes the coverage once (not timed here: the ``coverage`` step times it with the PDF),
then N what-ifs — alternately one village clinic added at a populated cell's centre and
one open village clinic closed, as a planner clicks — and prints the median and the
slowest in milliseconds as JSON.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import h3
import pandas as pd


def main() -> None:
    """Time N what-ifs on the store at ``sys.argv[1]``."""
    from geo.coverage import what_if
    from pipelines.coverage import compute_coverage
    from service.settings import load_settings
    from store.engine import make_engine

    url = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 21
    engine = make_engine(url)
    result = compute_coverage(engine, load_settings(database_url=url).rules.coverage)
    base = pd.DataFrame(result.cells.drop(columns="geometry"))
    cells = base.sort_values("population", ascending=False)["h3"].tolist()
    clinics = result.model.facilities
    clinic_ids = clinics.loc[clinics["group"] == "village_clinic", "facility_id"].tolist()
    times = []
    for i in range(n):
        if i % 2 == 0:
            lat, lng = h3.cell_to_latlng(cells[(i * 37) % len(cells)])
            change = {"add": [{"lat": lat, "lng": lng, "group": "village_clinic"}]}
        else:
            change = {"close": [clinic_ids[(i * 13) % len(clinic_ids)]]}
        t0 = time.perf_counter()
        what_if(result.model, base, **change)
        times.append((time.perf_counter() - t0) * 1000.0)
    print(json.dumps({"n": n, "median_ms": statistics.median(times), "max_ms": max(times)}))


if __name__ == "__main__":
    main()
