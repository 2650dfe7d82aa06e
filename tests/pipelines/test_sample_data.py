"""``sample_data/``: the committed small delivery is the generator's, and it loads clean."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from geo.rules import RulesConfig
from pipelines.ingest.delivery import ingest_delivery
from pipelines.ingest.settings import IngestSettings
from pipelines.sample.county import CONTRACT_TABLES, generate_county

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
NOT_GENERATED = {"README.md"}


def _manifest() -> dict:
    return json.loads((SAMPLE / "manifest.json").read_text(encoding="utf-8"))


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name not in NOT_GENERATED
    }


def test_sample_data_is_small_and_has_every_delivery_form() -> None:
    m = _manifest()
    assert (m["seed"], m["scale"], m["as_of"], m["dirty"]) == (20261130, 0.002, "2026-11-30", None)
    assert set(m["files"].values()) == set(CONTRACT_TABLES)
    assert 1800 <= m["counts"]["residents"] <= 2200
    size = sum(p.stat().st_size for p in SAMPLE.iterdir())
    assert size < 4_000_000  # "a few MB at most" (issue 18); mobility is Parquet
    assert (SAMPLE / "mobility.parquet").read_bytes()[:4] == b"PAR1"
    staff = (SAMPLE / "staff.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        staff.decode("utf-8")
    assert staff.decode("gb18030").startswith("工号,姓名")
    assert (SAMPLE / "teams.xlsx").read_bytes()[:2] == b"PK"
    assert (SAMPLE / "vaccinations.parquet").read_bytes()[:4] == b"PAR1"
    assert {f["coord_sys"] for f in m["converted_facilities"]} >= {"gcj02"}
    assert len([f for f in m["files"] if f.startswith("claims_")]) == 12
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    assert all(name in readme for name in ("staff.csv", "teams.xlsx", "roads.geojson"))


@pytest.mark.slow
def test_generator_reproduces_sample_data(tmp_path: Path) -> None:
    m = _manifest()
    generate_county(
        tmp_path, scale=m["scale"], seed=m["seed"], as_of=dt.date.fromisoformat(m["as_of"])
    )
    want, got = _hashes(SAMPLE), _hashes(tmp_path)
    assert sorted(got) == sorted(want)
    differ = [name for name in want if want[name] != got[name]]
    assert not differ, (
        f"{differ} differ: regenerate with `healthmap sample --out sample_data "
        f"--scale {m['scale']} --seed {m['seed']} --as-of {m['as_of']}`"
    )


@pytest.mark.slow
def test_sample_data_ingests_clean(engine: Engine) -> None:
    s = ingest_delivery(SAMPLE, engine, IngestSettings(id_hash_key="test-key"), RulesConfig())
    assert {f.status for f in s.files} == {"loaded"}, [(f.file, f.error) for f in s.files]
    assert s.quarantined == 0
    assert {k.file for k in s.skipped} == {"README.md", "manifest.json"}
    counts = _manifest()["counts"]
    for table, n in counts.items():
        assert s.tables[table].loaded == n, table
