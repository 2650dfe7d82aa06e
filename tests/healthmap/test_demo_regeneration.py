"""The demo keeps the county on disk only when it was made for today, this scale and seed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from healthmap.cli.admin import demo_regeneration_reason

TODAY = dt.date(2026, 11, 30)


def _made(folder: Path, **manifest: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    body = {"as_of": "2026-11-30", "scale": 0.05, "seed": 0, "dirty": None, **manifest}
    (folder / "manifest.json").write_text(json.dumps(body), encoding="utf-8")
    return folder


def test_keeps_the_county_made_for_the_same_day_scale_and_seed(tmp_path: Path) -> None:
    data = _made(tmp_path / "c")
    assert demo_regeneration_reason(data, scale=0.05, seed=0, as_of=TODAY) is None
    # a scale written as an integer is the same scale
    data = _made(tmp_path / "i", scale=1)
    assert demo_regeneration_reason(data, scale=1.0, seed=0, as_of=TODAY) is None


def test_regenerates_when_anything_differs(tmp_path: Path) -> None:
    data = _made(tmp_path / "c")
    assert demo_regeneration_reason(data, scale=1.0, seed=0, as_of=TODAY) == (
        "scale 0.05 on disk, 1.0 asked"
    )
    assert demo_regeneration_reason(data, scale=0.05, seed=7, as_of=TODAY) == (
        "seed 0 on disk, 7 asked"
    )
    tomorrow = TODAY + dt.timedelta(days=1)
    assert demo_regeneration_reason(data, scale=0.05, seed=0, as_of=tomorrow) == (
        "as_of 2026-11-30 on disk, 2026-12-01 asked"
    )
    dirty = _made(tmp_path / "d", dirty={"rows": []})
    assert "dirty" in str(demo_regeneration_reason(dirty, scale=0.05, seed=0, as_of=TODAY))
    old = _made(tmp_path / "o", seed=None)  # a manifest from before seeds were recorded
    assert demo_regeneration_reason(old, scale=0.05, seed=0, as_of=TODAY) is not None


def test_regenerates_without_a_readable_manifest(tmp_path: Path) -> None:
    assert demo_regeneration_reason(tmp_path, scale=0.05, seed=0, as_of=TODAY) == (
        "no sample county yet"
    )
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    assert demo_regeneration_reason(tmp_path, scale=0.05, seed=0, as_of=TODAY) == (
        "its manifest.json is unreadable"
    )
