"""Two counties built on one Dask cluster store each county's local rows, on both stores.

Shouguang (370783) and Changle (370725) from the sample generator (scale 0.003) are
ingested into their own partitions of one fresh store (a schema each on PostGIS, a file
each on SQLite) and registered. Each county is built locally first
(:func:`pipelines.build.run_build`); then :func:`pipelines.build_dask.run_counties_dask`
builds both on one ``LocalCluster`` of two worker processes, partitioned by county and,
inside each county, by the H3 res-5 parent. Per county, every indicator, health-index,
burden and hotspot row of the Dask build must equal the local build's and the push lists
generated after it must be the same (the comparison of ``test_build_dask.py``, with its
caveat on ``p_sim`` in worker processes). Each county's rows name only its own towns and
county, and the root store's publications list both counties with their Dask builds.
That test is slow; the command line's refusals of ``build --counties`` are quick.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from sqlalchemy import select
from test_build_dask import AS_OF, _assert_same, _push_lists, _rows
from tests_support import StoreBackend
from typer.testing import CliRunner

import healthmap.cli as cli
from geo.rules import DEFAULT_RULES
from geo.vocabulary import city_code_of
from pipelines.build import run_build
from pipelines.build_dask import run_counties_dask
from pipelines.ingest.delivery import ingest_delivery
from pipelines.province import county_of_store
from pipelines.sample.county import generate_county
from store.counties import open_partition
from store.engine import make_engine, migrate
from store.province import ProvinceValue, publications, register_county
from store.results import BurdenRow, HotspotResult, IndicatorValue, current_build_id

COUNTIES = ("370783", "370725")
MONTHS = 1  # D and one month-end: two periods per county, fast enough for make test
#: Levels whose unit ids are administrative codes, each starting with its county's code
#: (grids and teams are numbered per county, G0001…, T0001…; cells are H3 ids).
CODED_LEVELS = ("county", "town", "village")


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dask-counties")
    for code in COUNTIES:
        generate_county(out / code, scale=0.003, seed=0, as_of=AS_OF, county=code)
    return {code: out / code for code in COUNTIES}


@pytest.fixture(scope="module")
def province(
    store_backend: StoreBackend,
    deliveries: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The root store's URL, each county ingested into its partition and registered."""
    urls = store_backend.fresh_urls(tmp_path_factory)
    url = next(urls)
    root = make_engine(url)
    migrate(root)
    for code in COUNTIES:
        part = open_partition(url, code)
        try:
            ingest_delivery(deliveries[code], part)
            code12, name = county_of_store(part)
        finally:
            part.dispose()
        assert code12 == f"{code}000000"
        register_county(root, code12, name, city_code_of(code12), "潍坊市")
    root.dispose()
    yield url
    urls.close()


def _assert_own(code: str, rows: dict[Any, pd.DataFrame]) -> None:
    """Every county, town and village a build's rows name is one of county ``code``'s."""
    values = rows[IndicatorValue]
    coded = values[values["level"].isin(CODED_LEVELS)]
    assert set(coded["level"]) == set(CODED_LEVELS)
    stray = coded[~coded["unit_id"].astype(str).str.startswith(code)]
    assert stray.empty, f"indicator_values of {code}: {stray.head()}"
    towns = rows[BurdenRow]["town_code"].dropna().astype(str)
    assert len(towns) > 0 and towns.str.startswith(code).all()


def _hot_cells(rows: dict[Any, pd.DataFrame]) -> set[str]:
    hot = rows[HotspotResult]
    return set(hot.loc[hot["level"].str.startswith("h3:"), "unit_id"])


@pytest.mark.slow
def test_counties_on_one_cluster_store_each_countys_local_rows(
    province: str, tmp_path: Path
) -> None:
    url = province
    expected: dict[str, dict[Any, pd.DataFrame]] = {}
    lists: dict[str, pd.DataFrame] = {}
    local_rows: dict[str, dict[str, int]] = {}
    for code in COUNTIES:
        part = open_partition(url, code)
        try:
            local = run_build(part, AS_OF, DEFAULT_RULES, months=MONTHS, workers=1)
            expected[code] = _rows(part, local["build_id"])
            lists[code] = _push_lists(part)
        finally:
            part.dispose()
        local_rows[code] = local["rows"]
        assert len(lists[code]) > 0
        _assert_own(code, expected[code])
    # The two counties are different data, so equal rows below are not a coincidence.
    towns = [set(expected[c][BurdenRow]["town_code"]) for c in COUNTIES]
    assert towns[0] and towns[1] and towns[0].isdisjoint(towns[1])
    cells = [_hot_cells(expected[c]) for c in COUNTIES]
    assert cells[0] and cells[1] and cells[0].isdisjoint(cells[1])

    summaries = run_counties_dask(
        url,
        COUNTIES,
        AS_OF,
        DEFAULT_RULES,
        months=MONTHS,
        scheduler="local",
        workers=2,
        processes=True,
        parquet=tmp_path / "parquet",
    )
    assert list(summaries) == list(COUNTIES)
    for code in COUNTIES:
        summary = summaries[code]
        assert summary["county_code"] == f"{code}000000"
        assert summary["workers"] == 2
        assert summary["partitions"] >= 2  # the H3 parents inside the county are merged
        assert summary["rows"] == local_rows[code]
        assert summary["published"]["build_id"] == summary["build_id"]
        part = open_partition(url, code, migrated=False)
        try:
            with part.connect() as conn:
                assert conn.execute(select(current_build_id())).scalar() == summary["build_id"]
            got = _rows(part, summary["build_id"])
            # KNOWN GAP (docs/scale.md, as in test_build_dask.py): in worker processes the
            # permutation p-values are not always reproduced; only where p_sim is missing
            # is compared for it, every other column exactly (counts) or to 1e-12.
            _assert_same(expected[code], got, p_sim_atol=1.0)
            _assert_own(code, got)
            assert _hot_cells(got) == _hot_cells(expected[code])
            pd.testing.assert_frame_equal(_push_lists(part), lists[code])
        finally:
            part.dispose()
        _assert_geoparquet(tmp_path / "parquet" / f"county={code}", code, got)

    root = make_engine(url)
    try:
        published = publications(root)
        with root.connect() as conn:
            values = pd.read_sql(select(ProvinceValue.county_code, ProvinceValue.unit_id), conn)
    finally:
        root.dispose()
    assert dict(zip(published["county_code"], published["build_id"], strict=True)) == {
        f"{code}000000": summaries[code]["build_id"] for code in COUNTIES
    }
    assert set(values["county_code"]) == {f"{code}000000" for code in COUNTIES}
    assert (values["unit_id"].str[:6] == values["county_code"].str[:6]).all()


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["build", "--counties", "all"], "--counties needs --engine dask"),
        (
            ["--county", "370783", "build", "--engine", "dask", "--counties", "all"],
            "leave out the global --county",
        ),
        (["build", "--engine", "dask", "--counties", "370784"], "not registered: 370784"),
        (["build", "--engine", "dask", "--counties", "all"], "no county is registered"),
    ],
)
def test_build_counties_refusals(
    args: list[str], why: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "state", cli.State())  # the command's own settings and engine
    monkeypatch.delenv("HEALTHMAP_COUNTY", raising=False)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(cli.app, ["--db", db, *args, "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 2, result.output
    assert why in " ".join(result.output.replace("│", " ").split())
    assert not list(tmp_path.glob("store.county_*.db"))  # no partition was made


def _assert_geoparquet(folder: Path, code: str, got: dict[Any, pd.DataFrame]) -> None:
    """The county's GeoParquet: its towns at D with their outlines, as the store has them."""
    towns = folder / "indicator_values" / f"period={AS_OF.isoformat()}" / "level=town"
    frame = pd.concat(gpd.read_parquet(f) for f in sorted(towns.glob("*.parquet")))
    assert frame.crs.to_epsg() == 4326
    assert frame.geometry.notna().all() and frame.geometry.is_valid.all()
    assert set(frame["unit_id"]) == {
        u for u in got[IndicatorValue].query("level == 'town'")["unit_id"]
    }
    assert all(u.startswith(code) for u in frame["unit_id"])
    cells = folder / "indicator_values" / f"period={AS_OF.isoformat()}" / "level=h3%3A8"
    hexes = pd.concat(gpd.read_parquet(f) for f in cells.glob("*.parquet"))
    assert (hexes.geometry.geom_type == "Polygon").all()
    hot = pd.concat(gpd.read_parquet(f) for f in (folder / "hotspot_results").rglob("*.parquet"))
    assert len(hot) == len(got[HotspotResult]) and hot.geometry.notna().all()
