"""The scale ladder and several counties on Dask (issue 16 items 3 and 5).

``ladder``: the sample county at 0.1, 0.3 and the run's scale (1.0 by default), each
generated, ingested and built on both stores, with each step's growth factor from one
rung to the next: (seconds ratio) ÷ (rows ratio). A step whose factor is well above 1
grows faster than its rows. The rung at the run's scale reuses this invocation's
``ingest`` and ``build`` figures when they ran (``--only sample ingest build … ladder``).

``counties``: Shouguang and Changle (the generator's two county profiles) at the run's
scale in one store, each ingested into its own partition, then both built and published
with ``healthmap build --engine dask --counties all`` on a 2-worker LocalCluster.

Run by ``benchmarks/run.py``, which hands in its own module (the stores, ``record``,
``run_measured``, the report).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

#: The rungs below the run's scale.
RUNGS = (0.1, 0.3)
#: The counties of the ``counties`` step: code and name (pipelines.sample.profiles).
COUNTIES = (("370783", "寿光市"), ("370725", "昌乐县"))


def _stores(bench: Any, tag: str) -> list[tuple[str, str]]:
    """A fresh SQLite file and PostGIS database of their own for ``tag``."""
    sqlite = bench.WORK / f"{tag}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite}{suffix}").unlink(missing_ok=True)
    for extra in sqlite.parent.glob(f"{tag}.county_*"):
        extra.unlink()
    db = f"hm_{tag}".replace(".", "_")
    for sql in (f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)', f'CREATE DATABASE "{db}"'):
        subprocess.run(["psql", bench.PG_ADMIN, "-qc", sql], check=True)
    return [
        ("SQLite", f"sqlite:///{sqlite}"),
        ("PostGIS", bench.PG_ADMIN.rsplit("/", 1)[0] + f"/{db}"),
    ]


def _sample(bench: Any, scale: float, county: str = "370783") -> tuple[Path, int]:
    out = bench.WORK / (f"county_{scale}" if county == "370783" else f"county_{county}_{scale}")
    if not (out / "manifest.json").exists():
        shutil.rmtree(out, ignore_errors=True)
        cmd = [bench.HEALTHMAP, "sample", "--out", str(out), "--scale", str(scale)]
        bench.run_measured([*cmd, "--as-of", bench.BENCH_AS_OF, "--county", county])
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    return out, int(sum(counts.values()))


def _rung(bench: Any, scale: float, run_scale: float) -> dict[str, Any]:
    """Ingest and build at ``scale`` on both stores (this run's figures at its own scale,
    ``run_scale``, when its ``ingest`` and ``build`` steps ran)."""
    delivery, rows = _sample(bench, scale)
    reuse = bench.RESULTS.get("ingest"), bench.RESULTS.get("build")
    figures: dict[str, Any] = {"rows": rows}
    if all(reuse) and scale == run_scale:
        for name, _ in bench.stores():
            figures[name] = {"ingest": reuse[0][name], "build": reuse[1][name]}
        figures["reused"] = True
        return figures
    for name, url in _stores(bench, f"ladder_{scale}"):
        ingest_s, ingest_mb, _ = bench.run_measured(
            [bench.HEALTHMAP, "--db", url, "ingest", str(delivery), "--json"],
            env={"COLUMNS": "200"},
        )
        build_s, build_mb, _ = bench.run_measured(
            [bench.HEALTHMAP, "--db", url, "build", "--as-of", bench.BENCH_AS_OF],
            env={"COLUMNS": "200"},
        )
        figures[name] = {
            "ingest": {"seconds": ingest_s, "peak_mb": ingest_mb},
            "build": {"seconds": build_s, "peak_mb": build_mb},
        }
    return figures


def growth(a: dict[str, Any], b: dict[str, Any], store: str, step: str) -> float:
    """(seconds ratio) ÷ (rows ratio) of ``step`` from rung ``a`` to the larger ``b``.

    Examples
    --------
    >>> growth({"rows": 100, "S": {"x": {"seconds": 2.0}}},
    ...        {"rows": 300, "S": {"x": {"seconds": 9.0}}}, "S", "x")
    1.5
    """
    secs = float(b[store][step]["seconds"]) / float(a[store][step]["seconds"])
    return secs / (float(b["rows"]) / float(a["rows"]))


def bench_ladder(scale: float, bench: Any) -> None:
    """The ``ladder`` step (module docstring)."""
    # HEALTHMAP_BENCH_RUNGS=0.01,0.02: a trial's smaller rungs (the report says which ran).
    given = os.environ.get("HEALTHMAP_BENCH_RUNGS")
    below = tuple(float(r) for r in given.split(",")) if given else RUNGS
    rungs = sorted({*below, scale})
    done = {r: _rung(bench, r, scale) for r in rungs}
    lines = [
        bench.header(f"Scale ladder: ingest and build at {', '.join(map(str, rungs))}", scale),
        "Each rung is the sample county generated at that scale, ingested into a fresh "
        "store and built (13 periods). Growth = (seconds ratio) ÷ (rows ratio) from the rung "
        "before: 1 is linear, above 1 grows faster than the rows. Issue 16's targets at "
        "1.0: ingest under 90 s, build under 60 s, peak under 4 GB per process.",
        "",
        "| scale | rows | store | ingest s | GB | growth | build s | GB | growth |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(rungs):
        f = done[r]
        for name, _ in bench.stores():
            cells = []
            for step in ("ingest", "build"):
                e = f[name][step]
                g = f"{growth(done[rungs[i - 1]], f, name, step):.2f}" if i else "–"
                cells += [f"{e['seconds']:.1f}", f"{e['peak_mb'] / 1024:.2f}", g]
            lines.append(f"| {r} | {f['rows']:,} | {name} | " + " | ".join(cells) + " |")
    if any(f.get("reused") for f in done.values()):
        lines += ["", f"The rung at {scale} is this run's `ingest` and `build` steps."]
    bench.write_section("ladder", "\n".join(lines))
    bench.record("ladder", {str(r): done[r] for r in rungs}, scale)


def bench_counties(scale: float, bench: Any) -> None:
    """The ``counties`` step (module docstring)."""
    deliveries = {code: _sample(bench, scale, code) for code, _ in COUNTIES}
    lines = [
        bench.header("Two counties in one store, built on Dask (LocalCluster, 2 workers)", scale),
        "Shouguang and Changle, each ingested into its own partition (a schema on PostGIS, "
        "a file on SQLite), then `healthmap build --engine dask --counties all --workers 2`: "
        "both counties' builds on one cluster, each published for the province. Peak memory "
        "is the command's own process.",
        "",
        "| store | county | rows delivered | ingest s | ingest GB |",
        "|---|---|---:|---:|---:|",
    ]
    result: dict[str, Any] = {}
    for name, url in _stores(bench, "counties"):
        entry: dict[str, Any] = {}
        env = {"COLUMNS": "200", "HEALTHMAP_DATABASE_URL": url}
        for code, county in COUNTIES:
            bench.run_measured(
                [
                    bench.HEALTHMAP,
                    "counties",
                    "add",
                    code,
                    "--name",
                    county,
                    "--city-name",
                    "潍坊市",
                ],
                env=env,
            )
            delivery, rows = deliveries[code]
            secs, mb, _ = bench.run_measured(
                [bench.HEALTHMAP, "--county", code, "ingest", str(delivery), "--json"], env=env
            )
            entry[code] = {"rows": rows, "ingest": {"seconds": secs, "peak_mb": mb}}
            lines.append(f"| {name} | {county} {code} | {rows:,} | {secs:.0f} | {mb / 1024:.2f} |")
        cmd = [bench.HEALTHMAP, "build", "--as-of", bench.BENCH_AS_OF, "--engine", "dask"]
        secs, mb, _ = bench.run_measured([*cmd, "--counties", "all", "--workers", "2"], env=env)
        entry["build_dask"] = {"seconds": secs, "peak_mb": mb}
        result[name] = entry
    lines += [""]
    for name, entry in result.items():
        b = entry["build_dask"]
        lines.append(
            f"- {name}: both counties built on Dask in **{b['seconds']:.0f} s** "
            f"({b['peak_mb'] / 1024:.2f} GB in the client)"
        )
    bench.write_section("counties", "\n".join(lines))
    bench.record("counties", result, scale)
