"""Snapshot what the product computes on a fixed sample county, to prove a refactor kept it.

``python benchmarks/behaviour_snapshot.py OUT`` generates the sample county (fixed seed,
scale and as-of date), ingests and builds it in a scratch SQLite store, and writes to
``OUT``: the sorted outputs of ``healthmap pushlist --format json``, ``indicators --level
town|grid|h3:8 --format csv``, ``hotspots`` (every indicator, both levels), ``alerts`` and
three tiles (indicators, hotspots, grid), plus ``SHA256SUMS``. Everything goes through the
``healthmap`` command (subprocess) except the tiles, which are asked of the running
code's tile function, so the same script runs on the code before and after a move.

``python benchmarks/behaviour_snapshot.py OUT --compare REF`` then exits non-zero and
names each file whose bytes differ from ``REF``'s.

It is a script, not a test: the county takes a few minutes to generate and build. The
refactor's note records both runs.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SEED = 11
SCALE = "0.02"
AS_OF = "2026-11-30"
HOTSPOT_INDICATORS = (
    "htn_prevalence",
    "t2dm_prevalence",
    "htn_uncontrolled_share",
    "t2dm_uncontrolled_share",
)
# (layer, zoom, params): one indicator tile, one hotspot tile, one grid tile, each the tile
# at the centre of the county.
TILES = (
    ("indicators", 11, {"indicator": "htn_management_rate"}),
    ("hotspots", 10, {"indicator": "htn_prevalence"}),
    ("grid_indicators", 11, {"indicator": "htn_control_rate"}),
)


def _healthmap() -> str:
    return str(Path(sys.executable).with_name("healthmap"))


def _run(args: list[str], env: dict[str, str]) -> bytes:
    done = subprocess.run([_healthmap(), *args], env=env, capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"healthmap {' '.join(args)} failed:\n{done.stderr.decode()}")
    return done.stdout


def _sorted_lines(data: bytes, *, header: bool) -> bytes:
    lines = data.decode("utf-8").splitlines()
    head, body = (lines[:1], lines[1:]) if header else ([], lines)
    return ("\n".join(head + sorted(body)) + "\n").encode("utf-8")


def _sorted_json(data: bytes) -> bytes:
    rows = json.loads(data)
    rows = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, ensure_ascii=False))
    return json.dumps(rows, sort_keys=True, ensure_ascii=False, indent=0).encode("utf-8")


def _tiles_module() -> Any:
    # The tile renderer moved in the layered redesign; find it where the code has it.
    for name in ("service.tiles.api", "healthmap.tiles.api"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise SystemExit("no tile renderer found")


def _centre_tile(bounds: tuple[float, float, float, float], z: int) -> tuple[int, int]:
    lon = (bounds[0] + bounds[2]) / 2
    lat = math.radians((bounds[1] + bounds[3]) / 2)
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(lat)) / math.pi) / 2.0 * n)
    return x, y


def _make_engine(url: str) -> Any:
    for name in ("store.engine", "healthmap.store.engine"):
        try:
            return importlib.import_module(name).make_engine(url)
        except ModuleNotFoundError:
            continue
    raise SystemExit("no store engine found")


def snapshot(out: Path) -> None:
    """Generate, ingest and build the fixed county, then write its outputs to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work / 'store.db'}"
        env = {**os.environ, "HEALTHMAP_DATABASE_URL": url, "HEALTHMAP_DATA_DIR": str(work)}
        county = work / "county"
        _run(
            [
                "sample",
                "--out",
                str(county),
                "--scale",
                SCALE,
                "--seed",
                str(SEED),
                "--as-of",
                AS_OF,
            ],
            env,
        )
        _run(["ingest", str(county)], env)
        _run(["build", "--as-of", AS_OF], env)
        files: dict[str, bytes] = {}
        files["pushlist.json"] = _sorted_json(
            _run(["pushlist", "--date", AS_OF, "--format", "json"], env)
        )
        for level in ("town", "grid", "h3:8"):
            data = _run(["indicators", "--level", level, "--format", "csv"], env)
            files[f"indicators_{level.replace(':', '')}.csv"] = _sorted_lines(data, header=True)
        for ind in HOTSPOT_INDICATORS:
            for level in ("h3:8", "grid"):
                data = _run(["hotspots", "--indicator", ind, "--level", level], env)
                name = f"hotspots_{ind}_{level.replace(':', '')}.csv"
                files[name] = _sorted_lines(data, header=True)
        files["alerts.csv"] = _sorted_lines(_run(["alerts", "--format", "csv"], env), header=True)
        os.environ["HEALTHMAP_DATABASE_URL"] = url
        tiles = _tiles_module()
        engine = _make_engine(url)
        bounds = tiles.county_bounds(engine)
        for layer, z, params in TILES:
            x, y = _centre_tile(bounds, z)
            files[f"tile_{layer}_{z}_{x}_{y}.mvt"] = tiles.tile(engine, layer, z, x, y, **params)
    sums = []
    for name, data in sorted(files.items()):
        (out / name).write_bytes(data)
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}  ({len(data)} bytes)")
    (out / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    print("\n".join(sums))


def compare(out: Path, ref: Path) -> int:
    """Name every file of ``ref`` whose bytes differ in ``out``; 1 when any does."""
    bad = [
        p.name
        for p in sorted(ref.iterdir())
        if p.name != "SHA256SUMS"
        and (not (out / p.name).exists() or (out / p.name).read_bytes() != p.read_bytes())
    ]
    for name in bad:
        print(f"DIFFERS: {name}")
    print(f"{len(bad)} of {len(list(ref.iterdir())) - 1} outputs differ")
    return 1 if bad else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--compare", type=Path, default=None)
    ns = parser.parse_args()
    snapshot(ns.out)
    if ns.compare is not None:
        raise SystemExit(compare(ns.out, ns.compare))
