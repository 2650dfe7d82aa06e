"""The sample generator's second county: Changle 昌乐县 (370725) beside Shouguang (370783).

Small deliveries (scale 0.003: 1,800 Changle residents, 3,000 Shouguang ones) checked by
hand-countable facts: 8 towns 370725001000 … 370725008000 under 370725000000, every code
and ID-card number of the county's own, outlines apart from Shouguang's, and a clean
ingest.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import shapely
from sqlalchemy import Engine, text
from typer.testing import CliRunner

import healthmap.cli as cli
from pipelines.ingest.delivery import ingest_delivery
from pipelines.sample import geography as sg
from pipelines.sample.county import generate_county
from pipelines.sample.profiles import CHANGLE, COUNTY_PROFILES, SHOUGUANG, county_profile

AS_OF = dt.date(2026, 6, 30)
SCALE = 0.003
CHANGLE_TOWNS = [
    "宝城街道",
    "朱刘街道",
    "五图街道",
    "宝都街道",
    "乔官镇",
    "营丘镇",
    "红河镇",
    "鄌郚镇",
]


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Changle clean and dirty, Shouguang clean, all at seed 0 and scale 0.003."""
    base = tmp_path_factory.mktemp("counties")
    runs: dict[str, Any] = {}
    for name, county, dirty in (
        ("changle", "370725", False),
        ("changle_dirty", "370725", True),
        ("shouguang", "370783", False),
    ):
        runs[f"{name}_manifest"] = generate_county(
            base / name, scale=SCALE, seed=0, as_of=AS_OF, dirty=dirty, county=county
        )
        runs[name] = base / name
    return runs


def test_two_profiles_and_shouguang_keeps_its_values() -> None:
    assert list(COUNTY_PROFILES) == ["370783", "370725"]
    assert county_profile("370783") is SHOUGUANG and county_profile("370725") is CHANGLE
    # Shouguang's profile is what the generator always used.
    assert SHOUGUANG.county_code == sg.COUNTY_CODE == "370783000000"
    assert (SHOUGUANG.name, SHOUGUANG.area_km2) == ("寿光市", 2070.0)
    assert (SHOUGUANG.centre_lat, SHOUGUANG.centre_lng) == (36.86, 118.79)
    assert len(SHOUGUANG.town_names) == 16 and SHOUGUANG.town_names[0] == "圣城街道"
    assert SHOUGUANG.urban_towns == {0, 1, 2, 3, 4, 15}
    assert list(CHANGLE.town_names) == CHANGLE_TOWNS
    assert CHANGLE.urban_towns == {0, 1, 2, 3}
    assert (CHANGLE.name, CHANGLE.area_km2, CHANGLE.size) == ("昌乐县", 1101.0, 0.6)
    for p in (SHOUGUANG, CHANGLE):
        assert (p.city_code6, p.city_name) == ("370700", "潍坊市")
    with pytest.raises(ValueError, match=r"370783.*370725"):
        county_profile("370000")


def test_changle_has_its_eight_towns_under_370725(out: dict[str, Any]) -> None:
    areas = _read(out["changle"] / "areas.csv")
    county = areas[areas["level"] == "county"]
    assert county[["area_code", "name", "parent_code"]].values.tolist() == [
        ["370725000000", "昌乐县", ""]
    ]
    towns = areas[areas["level"] == "town"]
    assert towns["area_code"].tolist() == [f"370725{t:03d}000" for t in range(1, 9)]
    assert towns["name"].tolist() == CHANGLE_TOWNS
    assert set(towns["parent_code"]) == {"370725000000"}
    villages = areas[areas["level"] == "village"]
    assert len(villages) == 16  # at least 2 per town at this scale
    assert (villages["area_code"].str[:9] + "000" == villages["parent_code"]).all()
    assert set(villages["parent_code"]) == set(towns["area_code"])
    assert out["changle_manifest"]["county_code"] == "370725000000"


def test_every_changle_code_and_id_card_is_the_countys(out: dict[str, Any]) -> None:
    root = out["changle"]
    villages = set(_read(root / "areas.csv").query("level == 'village'")["area_code"])
    residents = _read(root / "residents.csv")
    # 1,000,000 x scale x size 0.6 residents; ID numbers are written raw to the delivery.
    assert len(residents) == round(1_000_000 * SCALE * 0.6) == 1800
    assert (residents["id_number"].str[:6] == "370725").all()
    assert set(residents["area_code"]) <= villages
    assert residents["address"].str.startswith(tuple(CHANGLE_TOWNS)).all()
    facilities = _read(root / "facilities.csv")
    assert set(facilities["area_code"]) <= villages
    hospitals = facilities[facilities["facility_id"].isin(["H001", "H002", "H003", "CDC001"])]
    assert hospitals["name"].str.startswith("昌乐县").all()
    grids = _read(root / "grids.csv")
    assert {c for codes in grids["village_codes"] for c in codes.split(";")} <= villages
    population = _read(root / "population.csv")
    assert population["area_code"].str.startswith("370725").all()


def test_changle_dirty_rows_use_the_countys_codes(out: dict[str, Any]) -> None:
    root = out["changle_dirty"]
    dirty = out["changle_dirty_manifest"]["dirty"]
    keys = {
        r["key"] for r in dirty["rows"] if r["table"] == "residents" and r["reason"] == "unknown_fk"
    }
    assert len(keys) == 3
    # The dirty file holds rows in a broken encoding: read them replaced.
    residents = pd.read_csv(
        root / "residents.csv", dtype=str, keep_default_na=False, encoding_errors="replace"
    )
    bad = residents[residents["resident_id"].isin(keys)]
    # Village codes of Changle that do not exist (towns 096-098).
    assert sorted(bad["area_code"]) == ["370725096992", "370725097991", "370725098990"]
    # The injected ID numbers (bad check characters, a birth date or sex that disagrees)
    # are Changle's too.
    assert (residents["id_number"].str[:6] == "370725").all()


def test_shouguang_is_still_shouguang(out: dict[str, Any]) -> None:
    root = out["shouguang"]
    towns = _read(root / "areas.csv").query("level == 'town'")
    assert towns["area_code"].tolist() == [f"370783{t:03d}000" for t in range(1, 17)]
    assert towns["name"].tolist() == list(SHOUGUANG.town_names)
    residents = _read(root / "residents.csv")
    assert len(residents) == 3000
    assert (residents["id_number"].str[:6] == "370783").all()


def _outline(root: Path) -> shapely.Geometry:
    areas = _read(root / "areas.csv")
    return shapely.from_wkt(areas.loc[areas["level"] == "county", "geometry_wkt"].iloc[0])


def test_the_two_outlines_are_disjoint(out: dict[str, Any]) -> None:
    shouguang, changle = _outline(out["shouguang"]), _outline(out["changle"])
    assert shouguang.disjoint(changle)
    # Changle is the smaller (1,101 against 2,070 km²) and lies to the south.
    assert changle.bounds[3] < shouguang.bounds[1]
    # Whatever the seed: each outline's shape is drawn from the seed.
    for seed in range(1, 6):
        a = sg.build_geography(seed, 0.001, SHOUGUANG)
        b = sg.build_geography(seed, 0.001, CHANGLE)
        assert a.proj.geom_to_wgs(a.county).disjoint(b.proj.geom_to_wgs(b.county)), seed


def test_cli_county_option(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(cli.app, ["sample", "--out", str(tmp_path / "x"), "--county", "370000"])
    assert bad.exit_code == 2
    assert "370783" in bad.output and "370725" in bad.output
    assert not (tmp_path / "x").exists()
    ok = runner.invoke(
        cli.app,
        ["sample", "--out", str(tmp_path / "c"), "--scale", "0.001", "--county", "370725"],
        catch_exceptions=False,
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["county_code"] == (
        "370725000000"
    )


@pytest.mark.slow
def test_changle_ingests_clean(out: dict[str, Any], store: Engine) -> None:
    summary = ingest_delivery(out["changle"], store)
    assert {n: t.quarantined for n, t in summary.tables.items() if t.quarantined} == {}
    assert summary.tables["areas"].loaded == 1 + 8 + 16
    assert summary.tables["residents"].loaded == 1800
    with store.connect() as conn:
        towns = conn.execute(
            text("SELECT area_code, parent_code FROM areas WHERE level = 'town' ORDER BY 1")
        ).all()
        codes = conn.execute(text("SELECT DISTINCT substr(area_code, 1, 6) FROM residents"))
        resident_counties = {c for (c,) in codes}
    assert [tuple(r) for r in towns] == [(f"370725{t:03d}000", "370725000000") for t in range(1, 9)]
    assert resident_counties == {"370725"}
