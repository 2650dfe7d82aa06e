"""Resources of the sample county follow its people (issue 18, item 3).

``doctors_per_1000`` and ``beds_per_1000`` are computed from the generated files as
``geo.indicators`` computes them: licensed staff (beds) of open facilities located in the
unit (a facility's ``area_code`` is a village; its town is the village's parent) over the
unit's population of the latest ``population`` year up to the as-of date, × 1000.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines.sample.county import generate_county
from pipelines.sample.geography import TOWN_NAMES, URBAN_TOWNS

AS_OF = dt.date(2026, 11, 30)
COUNTY_DOCTORS = (2.0, 4.0)
COUNTY_BEDS = (4.0, 8.0)
# A town holding a county hospital has more (its patients come from the whole county), a
# town of villages fewer; outside these a town is implausible.
TOWN_DOCTORS = (0.5, 12.0)
TOWN_BEDS = (0.5, 30.0)


def _read(path: Path, **kw: Any) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, **kw)


def per_1000(root: Path) -> pd.DataFrame:
    """Population, doctors, beds and both rates per town, from the delivery's files."""
    fac = _read(root / "facilities.csv")
    staff = _read(root / "staff.csv", encoding="gb18030")
    pop = _read(root / "population.csv")
    year = pop.year.astype(int)
    pop = pop[year == year[year <= AS_OF.year].max()]
    town_pop = pop.assign(n=pop["count"].astype(int)).groupby(pop.area_code.str[:9] + "000").n.sum()
    fac = fac[fac.open.isin(["1", "true", "True"])].assign(town=fac.area_code.str[:9] + "000")
    beds = fac.assign(b=fac.beds.replace("", "0").astype(int)).groupby("town").b.sum()
    licensed = staff[staff["执业(助理)医师"] == "是"].merge(fac[["facility_id", "town"]])
    doctors = licensed.groupby("town").size()
    out = pd.DataFrame({"pop": town_pop, "beds": beds, "doctors": doctors}).fillna(0)
    out["beds_per_1000"] = out.beds / out["pop"] * 1000
    out["doctors_per_1000"] = out.doctors / out["pop"] * 1000
    return out


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("resources")
    manifest = generate_county(root, scale=0.05, seed=11, as_of=AS_OF)
    return root, manifest


def test_county_doctors_and_beds_per_1000(county: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = county
    towns = per_1000(root)
    assert len(towns) == 16
    total = towns[["pop", "beds", "doctors"]].sum()
    doctors = total.doctors / total["pop"] * 1000
    beds = total.beds / total["pop"] * 1000
    assert COUNTY_DOCTORS[0] <= doctors <= COUNTY_DOCTORS[1]
    assert COUNTY_BEDS[0] <= beds <= COUNTY_BEDS[1]
    # the manifest says what was aimed for and got (its population: the active residents)
    got = manifest["resources"]
    assert got["aimed_per_1000"] == {"beds": [4.0, 8.0], "doctors": [2.0, 4.0]}
    assert got["beds"] == total.beds and got["doctors"] == total.doctors
    assert abs(got["population"] - total["pop"]) < 0.03 * total["pop"]


def test_no_town_is_implausible(county: tuple[Path, dict[str, Any]]) -> None:
    towns = per_1000(county[0])
    bad_d = towns[~towns.doctors_per_1000.between(*TOWN_DOCTORS)]
    bad_b = towns[~towns.beds_per_1000.between(*TOWN_BEDS)]
    assert bad_d.empty, bad_d
    assert bad_b.empty, bad_b


def test_county_hospitals_are_where_people_live(county: tuple[Path, dict[str, Any]]) -> None:
    root, manifest = county
    towns = per_1000(root)
    urban = [f"370783{t + 1:03d}000" for t in sorted(URBAN_TOWNS)]
    by_pop = towns.loc[urban, "pop"].sort_values(ascending=False, kind="stable")
    expected = [TOWN_NAMES[int(code[6:9]) - 1] for code in by_pop.index[:3]]
    assert list(manifest["resources"]["hospital_towns"].values()) == expected
    fac = _read(root / "facilities.csv").set_index("facility_id")
    for fid, name in manifest["resources"]["hospital_towns"].items():
        assert TOWN_NAMES[int(fac.loc[fid, "area_code"][6:9]) - 1] == name
    # village clinics keep no inpatient beds
    clinics = fac[fac.type == "village_clinic"]
    assert (clinics.beds.astype(int) == 0).all()
