"""Vector tiles on both stores: content, suppression, parity, ETags, TileJSON, static PNG.

A small hand-made county sits on the corner of four zoom-10 tiles, so every layer is
clipped by tile edges; the parity test renders the same tiles from SQLite (Python
encoder) and PostGIS (ST_AsMVT) and compares them feature by feature.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import h3
import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, delete, insert, update
from tests_support import StoreBackend, fresh_store

from service import tiles
from service.tiles.tilemath import mercator_to_lnglat, tile_bounds_mercator
from store.engine import make_engine, migrate
from store.models import (
    Area,
    Facility,
    Grid,
    GridVillage,
    IngestBatch,
    IngestFile,
    Mobility,
    Resident,
)
from store.results import (
    Build,
    BuildCurrent,
    HotspotResult,
    IndicatorValue,
    RiskCell,
    SurveillanceAlert,
)

AS_OF = dt.date(2026, 11, 15)
MONTH_END = dt.date(2026, 10, 31)
# The fixture county is centred on the shared corner of four z10 tiles.
Z, X0, Y0 = 10, 850, 399
CORNER = mercator_to_lnglat(*tile_bounds_mercator(Z, X0, Y0)[::3])  # west, north
CORNER_TILES = [(Z, X0 - 1, Y0 - 1), (Z, X0, Y0 - 1), (Z, X0 - 1, Y0), (Z, X0, Y0)]
DW, DH = 0.06, 0.05  # village size in degrees
INDICATORS = ("htn_control_rate", "signing_rate")
SECRET = "张三丰"  # a resident's name that must never reach a tile


# ----------------------------------------------------------------------------------------
# Fixture data
# ----------------------------------------------------------------------------------------
def _box(col: int, row: int) -> shapely.Polygon:
    """Village (col 0/1 west/east, row 0/1 north/south) around the corner."""
    lng0, lat0 = CORNER
    west = lng0 - DW + col * DW
    north = lat0 + DH - row * DH
    return shapely.box(west, north - DH, west + DW, north)


VILLAGES = {
    "370783001001": (_box(0, 0), "370783001000"),
    "370783001002": (_box(0, 1), "370783001000"),
    "370783002001": (_box(1, 0), "370783002000"),
    "370783002002": (_box(1, 1), "370783002000"),
}
TOWNS = {
    "370783001000": shapely.union_all([VILLAGES["370783001001"][0], VILLAGES["370783001002"][0]]),
    "370783002000": shapely.union_all([VILLAGES["370783002001"][0], VILLAGES["370783002002"][0]]),
}
COUNTY = shapely.union_all(list(TOWNS.values()))
WEST_TOWN, EAST_TOWN = sorted(TOWNS)


def cells(res: int) -> list[str]:
    """Cells of ``res`` whose centres fall in the county."""
    return sorted(h3.geo_to_cells(COUNTY, res))


def _is_suppressed(i: int) -> bool:
    return i % 5 == 0


def populate(engine: Engine, *, value_shift: float = 0.0, build_id: int = 1) -> None:
    """Write the fixture county and a current build ``build_id``."""
    with engine.begin() as conn:
        if build_id == 1:
            conn.execute(
                insert(Area),
                [
                    {
                        "area_code": "370783000000",
                        "name": "County",
                        "level": "county",
                        "parent_code": None,
                        "geom": COUNTY,
                    }
                ]
                + [
                    {
                        "area_code": c,
                        "name": f"Town {c[-4:]}",
                        "level": "town",
                        "parent_code": "370783000000",
                        "geom": g,
                    }
                    for c, g in TOWNS.items()
                ]
                + [
                    {
                        "area_code": c,
                        "name": f"Village {c[-3:]}",
                        "level": "village",
                        "parent_code": t,
                        "geom": g,
                    }
                    for c, (g, t) in VILLAGES.items()
                ],
            )
            # G1 and G3 have their own polygons; G2 is the union of two villages.
            conn.execute(
                insert(Grid),
                [
                    {"grid_id": "G1", "name": "Grid one", "geom": VILLAGES["370783001001"][0]},
                    {"grid_id": "G2", "name": "Grid two", "geom": None},
                    {"grid_id": "G3", "name": None, "geom": VILLAGES["370783001002"][0]},
                ],
            )
            conn.execute(
                insert(GridVillage),
                [
                    {"grid_id": "G2", "area_code": "370783002001"},
                    {"grid_id": "G2", "area_code": "370783002002"},
                ],
            )
            lng, lat = CORNER
            conn.execute(
                insert(Facility),
                [
                    {
                        "facility_id": "F1",
                        "name": "Township HC",
                        "type": "township_hc",
                        "area_code": "370783001001",
                        "lng": lng - 0.02,
                        "lat": lat + 0.02,
                        "beds": 40,
                        "open": True,
                        "geom": shapely.Point(lng - 0.02, lat + 0.02),
                    },
                    {
                        "facility_id": "F2",
                        "name": "Clinic",
                        "type": "village_clinic",
                        "area_code": "370783002002",
                        "lng": lng + 0.03,
                        "lat": lat - 0.01,
                        "beds": None,
                        "open": True,
                        "geom": None,
                    },
                    {
                        "facility_id": "F3",
                        "name": "Old clinic",
                        "type": "village_clinic",
                        "area_code": "370783002001",
                        "lng": lng + 0.01,
                        "lat": lat + 0.03,
                        "beds": 0,
                        "open": False,
                        "geom": shapely.Point(lng + 0.01, lat + 0.03),
                    },
                ],
            )
            conn.execute(
                insert(Resident),
                [
                    {
                        "resident_id": "R1",
                        "name": SECRET,
                        "sex": 1,
                        "birth_date": dt.date(1950, 1, 1),
                        "area_code": "370783001001",
                        "lat": lat + 0.01,
                        "lng": lng - 0.01,
                        "phone": "13800000000",
                        "h3_8": h3.latlng_to_cell(lat + 0.01, lng - 0.01, 8),
                        "geom": shapely.Point(lng - 0.01, lat + 0.01),
                    }
                ],
            )
            res8 = cells(8)
            start = dt.datetime(2026, 11, 1, 16, tzinfo=dt.UTC)  # 2026-11-02 00:00 local
            conn.execute(
                insert(Mobility),
                [
                    {
                        "h3": c,
                        "hour": start + dt.timedelta(hours=h),
                        "origin_h3": "",
                        "h3_res": 8,
                        "count": float((i * 7 + h) % 50),
                    }
                    for i, c in enumerate(res8[:40])
                    for h in range(14 * 24)
                ],
            )
        conn.execute(
            insert(Build).values(
                build_id=build_id,
                as_of=AS_OF,
                status="ready",
                started_at=dt.datetime(2026, 11, 16, 1, tzinfo=dt.UTC),
                finished_at=dt.datetime(2026, 11, 16, 1, build_id, tzinfo=dt.UTC),
                summary={"periods": [AS_OF.isoformat(), MONTH_END.isoformat()]},
            )
        )
        rows = []
        units = {
            "h3:7": cells(7),
            "h3:8": cells(8),
            "h3:9": cells(9)[:30],
            "grid": ["G1", "G2", "G3"],
            "village": list(VILLAGES),
            "town": list(TOWNS),
        }
        for level, ids in units.items():
            for i, unit in enumerate(ids):
                for ind in INDICATORS:
                    hidden = ind == "htn_control_rate" and _is_suppressed(i)
                    den = 5.0 if hidden else 100.0 + i
                    num = None if hidden else 10.0 + i
                    rows.append(
                        {
                            "build_id": build_id,
                            "period": AS_OF,
                            "level": level,
                            "unit_id": unit,
                            "indicator": ind,
                            "numerator": num,
                            "denominator": den,
                            "value": None if hidden else round(num / den + value_shift, 6),
                            "suppressed": hidden,
                            "suppression_reason": "denominator_below_k" if hidden else None,
                        }
                    )
                    if level == "grid":
                        rows.append(
                            {
                                **rows[-1],
                                "period": MONTH_END,
                                "value": 0.5,
                                "suppressed": False,
                                "suppression_reason": None,
                                "numerator": 50.0,
                                "denominator": 100.0,
                            }
                        )
        conn.execute(insert(IndicatorValue), rows)
        hot = []
        for level, ids in (("h3:8", cells(8)), ("grid", ["G1", "G2", "G3"])):
            for i, unit in enumerate(ids):
                hidden = i % 4 == 0
                hot.append(
                    {
                        "build_id": build_id,
                        "indicator": "htn_prevalence",
                        "level": level,
                        "unit_id": unit,
                        "rate": None if hidden else 0.2 + i / 1000,
                        "smoothed_rate": 0.25 + i / 1000,
                        "numerator": None if hidden else 20.0,
                        "denominator": 100.0,
                        "neighbours": 6,
                        "z": 3.0 - i / 10,
                        "p": 0.01,
                        "q": 0.04,
                        "p_sim": 0.02,
                        "hotspot_class": "hot" if i % 7 == 0 else "cold" if i % 7 == 1 else "none",
                        "suppressed": hidden,
                        "suppression_reason": "count_below_k" if hidden else None,
                    }
                )
        conn.execute(insert(HotspotResult), hot)
        conn.execute(insert(SurveillanceAlert), alert_rows(build_id))
        conn.execute(insert(RiskCell), risk_rows(build_id))
        conn.execute(delete(BuildCurrent))
        conn.execute(insert(BuildCurrent).values(name="current", build_id=build_id))


def town_cells(town: str) -> list[str]:
    """Res-8 fixture cells whose centres lie in ``town``."""
    out = []
    for c in cells(8):
        lat, lng = h3.cell_to_latlng(c)
        if TOWNS[town].contains(shapely.Point(lng, lat)):
            out.append(c)
    return out


def alert_rows(build_id: int) -> list[dict[str, Any]]:
    """Early-warning alerts: a large and a small scan cluster, town and county EARS alerts."""
    west, east = town_cells(WEST_TOWN), town_cells(EAST_TOWN)
    base = {"build_id": build_id, "day": AS_OF, "start_day": AS_OF, "statistic": 4.0}
    scan = {**base, "kind": "scan", "method": "space_time_permutation", "area_level": "h3:8"}
    ears = {**base, "kind": "ears", "relative_risk": None, "p_value": None, "cells": None}
    return [
        # Crosses the township border: two cells in each town.
        {
            **scan,
            "alert_id": 1,
            "area_id": west[0],
            "cells": west[:2] + east[:2],
            "observed": 25.0,
            "expected": 8.0,
            "relative_risk": 3.4,
            "p_value": 0.01,
        },
        # Observed below k: its relative risk is withheld.
        {
            **scan,
            "alert_id": 2,
            "area_id": east[5],
            "cells": [east[5]],
            "observed": 4.0,
            "expected": 0.5,
            "relative_risk": 8.5,
            "p_value": 0.03,
        },
        {
            **ears,
            "alert_id": 3,
            "method": "C1",
            "area_level": "town",
            "area_id": WEST_TOWN,
            "observed": 12.0,
            "expected": 3.0,
        },
        {
            **ears,
            "alert_id": 4,
            "method": "C2",
            "area_level": "town",
            "area_id": EAST_TOWN,
            "observed": 5.0,
            "expected": 1.0,
        },
        {
            **ears,
            "alert_id": 5,
            "method": "C3",
            "area_level": "county",
            "area_id": "370783000000",
            "observed": 17.0,
            "expected": 4.0,
        },
    ]


def risk_rows(build_id: int) -> list[dict[str, Any]]:
    """Risk cells: every fourth has few residents, some 1..k-1 recent cases, some none."""
    alert = set(alert_rows(build_id)[0]["cells"])
    rows = []
    for i, c in enumerate(cells(8)):
        residents = 5 if i % 4 == 0 else 200 + i
        recent = (0, 3, 12, 25)[i % 4 if i % 4 else 2]
        rows.append(
            {
                "build_id": build_id,
                "h3": c,
                "residents": residents,
                "recent_cases": recent,
                "rate_per_1000": 1000 * recent / residents,
                "rate_score": 0.5,
                "mobility_share": 0.25,
                "mobility_source": "heat" if i % 2 else "od",
                "alert_cell": c in alert,
                "score": 0.1 + (i % 10) / 10,
                "at_risk": c in alert or i % 10 >= 4,
            }
        )
    return rows


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Engine]]:
    """Populated fixture stores by backend, made on first use and shared (read-only).

    The same stores as the ``store`` fixture (``fresh_database_url`` + ``migrate``), but
    module-scoped: populating a store costs seconds and most tests only read.
    """
    made: dict[str, Engine] = {}
    with ExitStack() as stack:

        def get(backend: str) -> Engine:
            if backend not in made:
                url = stack.enter_context(fresh_store(backend, tmp_path_factory.mktemp(backend)))
                engine = make_engine(url)
                migrate(engine)
                populate(engine)
                made[backend] = engine
            return made[backend]

        yield get
        for engine in made.values():
            engine.dispose()


@pytest.fixture
def county(store_backend: StoreBackend, stores: Callable[[str], Engine]) -> Engine:
    """The populated fixture county on each backend."""
    return stores(store_backend.name)


def decode(data: bytes, layer: str) -> list[dict[str, Any]]:
    """The features of ``layer`` in a tile (empty for ``b""``)."""
    if not data:
        return []
    decoded = mapbox_vector_tile.decode(data)
    assert set(decoded) == {layer}
    assert decoded[layer]["extent"] == 4096
    features: list[dict[str, Any]] = decoded[layer]["features"]
    return features


def by_unit(features: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["properties"]["unit_id"]: f for f in features}


def cells_in_tiles(res: int) -> set[str]:
    """Every fixture cell (all lie within the four corner tiles)."""
    return set(cells(res))


# ----------------------------------------------------------------------------------------
# Content
# ----------------------------------------------------------------------------------------
def test_indicator_tile_holds_the_cells_with_their_values(county: Engine) -> None:
    seen: dict[str, dict[str, Any]] = {}
    for z, x, y in CORNER_TILES:
        features = decode(tiles.tile(county, "indicators", z, x, y, level="h3:8"), "indicators")
        for f in features:
            assert f["id"] == int(f["properties"]["unit_id"], 16)  # the H3 index
            assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
        seen.update(by_unit(features))
    assert set(seen) == cells_in_tiles(8)
    ordered = cells(8)
    first = seen[ordered[1]]["properties"]
    assert first["level"] == "h3:8" and first["period"] == AS_OF.isoformat()
    assert first["htn_control_rate"] == pytest.approx(11 / 101)
    assert first["htn_control_rate__suppressed"] is False
    assert "htn_control_rate__reason" not in first
    assert first["signing_rate"] == pytest.approx(11 / 101)
    # Without level=, the resolution follows the zoom: cells of ~15-30 pixels.
    assert [tiles.h3_level_for_zoom(z) for z in (9, 10, 11, 12, 13, 16)] == [
        "h3:7",
        "h3:7",
        "h3:8",
        "h3:8",
        "h3:9",
        "h3:9",
    ]
    z10 = decode(tiles.tile(county, "indicators", Z, X0, Y0), "indicators")
    assert {f["properties"]["level"] for f in z10} == {"h3:7"}


def test_suppressed_units_have_no_value_and_no_counts(county: Engine) -> None:
    ordered = cells(8)
    hidden, shown = ordered[0], ordered[1]
    wide: dict[str, Any] = {}
    long: dict[str, Any] = {}
    for z, x, y in CORNER_TILES:
        data = tiles.tile(county, "indicators", z, x, y, level="h3:8")
        wide.update(by_unit(decode(data, "indicators")))
        data = tiles.tile(county, "indicators", z, x, y, indicator="htn_control_rate", level="h3:8")
        long.update(by_unit(decode(data, "indicators")))
    w = wide[hidden]["properties"]
    assert "htn_control_rate" not in w
    assert w["htn_control_rate__suppressed"] is True
    assert w["htn_control_rate__reason"] == "denominator_below_k"
    assert w["signing_rate__suppressed"] is False  # other indicators unaffected
    p = long[hidden]["properties"]
    assert p["suppressed"] is True and p["suppression_reason"] == "denominator_below_k"
    assert not {"value", "numerator", "denominator"} & set(p)
    q = long[shown]["properties"]
    assert q["indicator"] == "htn_control_rate" and q["suppressed"] is False
    assert (q["value"], q["numerator"], q["denominator"]) == (pytest.approx(11 / 101), 11.0, 101.0)
    assert "suppression_reason" not in q


def test_polygon_point_and_mobility_layers(county: Engine) -> None:
    def collect(layer: str, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for z, x, y in CORNER_TILES:
            out += decode(tiles.tile(county, layer, z, x, y, **params), layer)
        return out

    grids = by_unit(collect("grid_indicators"))
    assert set(grids) == {"G1", "G2", "G3"}  # G2 drawn from its villages
    assert grids["G2"]["properties"]["level"] == "grid"
    month = by_unit(collect("grid_indicators", period=MONTH_END, indicator="signing_rate"))
    assert month["G1"]["properties"]["value"] == 0.5
    assert set(by_unit(collect("village_indicators"))) == set(VILLAGES)
    assert set(by_unit(collect("town_indicators"))) == set(TOWNS)

    hot = collect("hotspots")
    assert {f["properties"]["unit_id"] for f in hot} == cells_in_tiles(8)
    first = next(f["properties"] for f in hot if f["properties"]["unit_id"] == cells(8)[0])
    assert first["class"] == "hot" and first["indicator"] == "htn_prevalence"
    assert "rate" not in first and first["smoothed_rate"] == pytest.approx(0.25)
    assert first["suppression_reason"] == "count_below_k"
    grid_hot = by_unit(collect("hotspots", level="grid"))
    assert set(grid_hot) == {"G1", "G2", "G3"}

    facilities = {f["properties"]["facility_id"]: f["properties"] for f in collect("facilities")}
    assert facilities["F1"] == {
        "facility_id": "F1",
        "name": "Township HC",
        "type": "township_hc",
        "beds": 40,
        "open": True,
    }
    assert facilities["F3"]["open"] is False and "beds" not in facilities["F2"]

    kinds = {(f["properties"]["kind"], f["properties"]["code"]) for f in collect("boundaries")}
    assert ("grid", "G2") in kinds and ("village", "370783001001") in kinds
    assert ("county", "370783000000") in kinds
    low = decode(tiles.tile(county, "boundaries", 8, X0 // 4, Y0 // 4), "boundaries")
    assert {f["properties"]["kind"] for f in low} == {"county", "town"}

    mob = by_unit(collect("mobility"))
    assert set(mob) == set(cells(8)[:40])
    m = mob[cells(8)[0]]["properties"]
    assert m["hours"] == 7 * 24 and m["window_end"] == AS_OF.isoformat()
    assert m["window_start"] == (AS_OF - dt.timedelta(days=6)).isoformat()
    # Cell 0 counts (h % 50) over hours 0..335; the window is the last 168 of them.
    expected = sum(h % 50 for h in range(14 * 24 - 168, 14 * 24)) / 168
    assert m["mean_count"] == pytest.approx(round(expected, 2))
    at_noon = by_unit(collect("mobility", hour=12))[cells(8)[0]]["properties"]
    assert at_noon["hours"] == 7 and at_noon["hour"] == 12


def test_alert_and_risk_layers_withhold_small_numbers(county: Engine) -> None:
    alerts: dict[tuple[str, int], dict[str, Any]] = {}
    risk: dict[str, dict[str, Any]] = {}
    for z, x, y in CORNER_TILES:
        for f in decode(tiles.tile(county, "alerts", z, x, y), "alerts"):
            alerts[(f["properties"]["unit_id"], f["properties"]["alert_id"])] = f["properties"]
        risk.update(by_unit(decode(tiles.tile(county, "risk", z, x, y), "risk")))
    rows = alert_rows(1)
    # Every cell of each scan cluster, the two town alerts; no county alert.
    expected = {(c, 1) for c in rows[0]["cells"]} | {(rows[1]["cells"][0], 2)}
    expected |= {(WEST_TOWN, 3), (EAST_TOWN, 4)}
    assert set(alerts) == expected
    big = alerts[(rows[0]["cells"][0], 1)]
    assert big["relative_risk"] == pytest.approx(3.4) and big["suppressed"] is False
    assert big["observed"] == 25.0 and big["expected"] == 8.0 and big["p_value"] == 0.01
    assert big["day"] == big["start_day"] == AS_OF.isoformat()
    assert big["method"] == "space_time_permutation" and big["kind"] == "scan"
    assert "suppression_reason" not in big
    small = alerts[(rows[1]["cells"][0], 2)]
    assert "relative_risk" not in small and small["suppressed"] is True
    assert small["suppression_reason"] == "count_below_k"
    assert small["observed"] == 4.0 and small["expected"] == 0.5  # counts stay
    town = alerts[(WEST_TOWN, 3)]
    assert town["method"] == "C1" and town["observed"] == 12.0 and town["expected"] == 3.0
    assert town["kind"] == "ears" and "relative_risk" not in town
    # Risk: the rate only with k residents or more and 0 or k+ recent cases; never counts.
    assert set(risk) == set(cells(8))
    for i, row in enumerate(risk_rows(1)):
        p = risk[row["h3"]]["properties"]
        assert risk[row["h3"]]["id"] == int(row["h3"], 16)
        assert "residents" not in p and "recent_cases" not in p
        assert p["score"] == pytest.approx(row["score"]) and p["at_risk"] is row["at_risk"]
        assert p["alert_cell"] is row["alert_cell"]
        if row["residents"] < 10:
            assert p["suppression_reason"] == "denominator_below_k" and "rate_per_1000" not in p
        elif 0 < row["recent_cases"] < 10:
            assert p["suppression_reason"] == "count_below_k" and "rate_per_1000" not in p
        else:
            assert p["suppressed"] is False, i
            assert p["rate_per_1000"] == pytest.approx(row["rate_per_1000"])


def test_no_personal_data_in_any_tile(county: Engine) -> None:
    for name, spec in tiles.LAYERS.items():
        allowed = set(spec.fields)
        if spec.per_indicator_fields:
            allowed |= {f"{i}{s}" for i in INDICATORS for s in ("", "__suppressed", "__reason")}
        for z, x, y in CORNER_TILES:
            data = tiles.tile(county, name, z, x, y)
            assert SECRET.encode() not in data and b"13800000000" not in data
            for f in decode(data, name):
                assert set(f["properties"]) <= allowed, name


def test_outside_the_county_and_outside_zooms_are_empty(county: Engine) -> None:
    for layer in tiles.LAYERS:
        assert tiles.tile(county, layer, 10, 100, 100) == b""  # far from the county
    assert tiles.tile(county, "indicators", 3, 6, 3) == b""  # below minzoom
    with pytest.raises(tiles.TileParamError):
        tiles.tile(county, "indicators", 10, 5000, 1)
    with pytest.raises(tiles.TileParamError):
        tiles.tile(county, "facilities", Z, X0, Y0, indicator="htn_control_rate")
    with pytest.raises(tiles.UnknownLayerError):
        tiles.tile(county, "no_such_layer", Z, X0, Y0)
    with pytest.raises(LookupError):
        tiles.tile(county, "indicators", Z, X0, Y0, period=dt.date(2020, 1, 31))
    with pytest.raises(LookupError):
        tiles.tile(county, "indicators", Z, X0, Y0, indicator="no_such_rate")


def test_built_indicators_are_the_distinct_indicators_of_a_level_and_period(
    county: Engine,
) -> None:
    # The loose index scan with its per-indicator probe (a plan PostgreSQL cannot turn
    # into a scan of the whole level) must find what a plain SELECT DISTINCT finds.
    from sqlalchemy import text

    from service.tiles.cache import data_version
    from service.tiles.sources import TileContext, built_indicators

    ctx = TileContext(county, tiles.get_layer("indicators"), Z, X0, Y0, {}, data_version(county))
    with county.connect() as conn:
        combos = conn.execute(
            text("SELECT DISTINCT level, period FROM indicator_values WHERE build_id = 1")
        ).all()
        assert combos
        for level, period in combos:
            day = period if isinstance(period, dt.date) else dt.date.fromisoformat(str(period))
            expected = sorted(
                conn.execute(
                    text(
                        "SELECT DISTINCT indicator FROM indicator_values"
                        " WHERE build_id = 1 AND level = :level AND period = :period"
                    ),
                    {"level": level, "period": period},
                ).scalars()
            )
            assert built_indicators(ctx, "indicator_values", level, day) == expected
        everywhere = conn.execute(
            text("SELECT DISTINCT indicator FROM indicator_values WHERE build_id = 1")
        ).scalars()
        assert set(built_indicators(ctx, "indicator_values", combos[0][0])) <= set(everywhere)
    assert built_indicators(ctx, "indicator_values", "no_such_level") == []


# ----------------------------------------------------------------------------------------
# SQLite (Python encoder) and PostGIS (ST_AsMVT) give the same tiles
# ----------------------------------------------------------------------------------------
PARITY_CASES: list[tuple[str, int, int, int, dict[str, Any]]] = [
    *[("indicators", z, x, y, {}) for z, x, y in CORNER_TILES],
    ("indicators", Z, X0, Y0, {"indicator": "htn_control_rate"}),
    ("indicators", 9, X0 // 2, Y0 // 2, {}),
    ("indicators", 12, X0 * 4, Y0 * 4, {}),
    ("grid_indicators", Z, X0, Y0, {}),
    ("grid_indicators", Z, X0 - 1, Y0 - 1, {"period": MONTH_END, "indicator": "signing_rate"}),
    ("village_indicators", Z, X0 - 1, Y0, {}),
    ("town_indicators", Z, X0, Y0 - 1, {}),
    ("hotspots", Z, X0, Y0, {}),
    ("hotspots", Z, X0 - 1, Y0, {"level": "grid"}),
    ("facilities", Z, X0 - 1, Y0 - 1, {}),
    ("facilities", Z, X0, Y0, {}),
    ("boundaries", Z, X0, Y0, {}),
    ("boundaries", 8, X0 // 4, Y0 // 4, {}),
    ("mobility", Z, X0 - 1, Y0 - 1, {}),
    ("mobility", Z, X0, Y0, {"hour": 8}),
    # Cut to one township (a chronic_center account's tiles).
    ("indicators", Z, X0 - 1, Y0, {"town": WEST_TOWN}),
    ("indicators", 12, X0 * 4, Y0 * 4, {"town": EAST_TOWN}),
    ("village_indicators", Z, X0, Y0, {"town": EAST_TOWN}),
    ("hotspots", Z, X0, Y0 - 1, {"town": EAST_TOWN}),
    # Early warning.
    *[("alerts", z, x, y, {}) for z, x, y in CORNER_TILES],
    ("alerts", 8, X0 // 4, Y0 // 4, {}),
    ("alerts", Z, X0, Y0, {"town": EAST_TOWN}),
    ("risk", Z, X0 - 1, Y0 - 1, {}),
    ("risk", Z, X0, Y0, {}),
    ("risk", 12, X0 * 4, Y0 * 4, {}),
    ("risk", Z, X0 - 1, Y0, {"town": WEST_TOWN}),
]


@pytest.mark.parametrize(
    "layer", ["indicators", "village_indicators", "hotspots", "alerts", "risk"]
)
def test_a_township_tile_holds_its_units_only(county: Engine, layer: str) -> None:
    for z, x, y in CORNER_TILES:
        everything = by_unit(decode(tiles.tile(county, layer, z, x, y), layer))
        cut = {
            town: by_unit(decode(tiles.tile(county, layer, z, x, y, town=town), layer))
            for town in TOWNS
        }
        # Every unit of the tile goes to exactly one township.
        assert set(everything) == set(cut[WEST_TOWN]) | set(cut[EAST_TOWN])
        assert not set(cut[WEST_TOWN]) & set(cut[EAST_TOWN])
        for town, features in cut.items():
            for unit in features:
                if unit in TOWNS:  # an EARS alert of a town
                    assert unit == town
                elif unit.startswith("3707"):
                    assert VILLAGES[unit][1] == town
                else:  # an H3 cell: its centre lies in the township
                    lat, lng = h3.cell_to_latlng(unit)
                    assert TOWNS[town].contains(shapely.Point(lng, lat)), (unit, town)
    # Layers without township units ignore the scope.
    z, x, y = CORNER_TILES[0]
    assert tiles.tile(county, "boundaries", z, x, y, town=WEST_TOWN) == tiles.tile(
        county, "boundaries", z, x, y
    )


def _feature_key(f: dict[str, Any]) -> tuple[Any, ...]:
    p = f["properties"]
    return (
        p.get("unit_id") or p.get("facility_id") or p.get("code"),
        p.get("indicator") or p.get("alert_id"),
    )


@pytest.mark.postgis
def test_sqlite_and_postgis_tiles_agree(stores: Callable[[str], Engine]) -> None:
    produced = {backend: stores(backend) for backend in ("sqlite", "postgis")}
    for layer, z, x, y, params in PARITY_CASES:
        decoded = {
            backend: {
                _feature_key(f): f
                for f in decode(tiles.tile(engine, layer, z, x, y, **params), layer)
            }
            for backend, engine in produced.items()
        }
        lite, pg = decoded["sqlite"], decoded["postgis"]
        case = f"{layer} {z}/{x}/{y} {params}"
        assert lite, case  # every case was chosen to hold features
        assert set(lite) == set(pg), case
        for key in lite:
            a, b = lite[key], pg[key]
            assert a.get("id") == b.get("id"), (case, key)
            assert set(a["properties"]) == set(b["properties"]), (case, key)
            for name, value in a["properties"].items():
                other = b["properties"][name]
                assert type(value) is type(other), (case, key, name)
                assert value == (pytest.approx(other) if isinstance(value, float) else other)
            ga, gb = shapely.geometry.shape(a["geometry"]), shapely.geometry.shape(b["geometry"])
            assert ga.geom_type.removeprefix("Multi") == gb.geom_type.removeprefix("Multi")
            assert ga.hausdorff_distance(gb) <= 2.0, (case, key)  # tile pixels
            # A 1-px shift of every edge changes the area by at most the perimeter.
            assert abs(ga.area - gb.area) <= max(ga.length, gb.length), (case, key)


def test_encoder_keeps_value_types_and_drops_collapsed_polygons() -> None:
    from service.tiles.mvt import Column, FeatureBatch, encode_layer, to_mercator

    lng, lat = CORNER
    geoms = to_mercator(
        np.array(
            [
                shapely.box(lng - 0.05, lat - 0.05, lng - 0.01, lat - 0.01),
                shapely.Point(lng - 0.02, lat - 0.02),
                shapely.box(lng - 1.0, lat - 1.0, lng - 0.9, lat - 0.9),  # far outside
            ],
            dtype=object,
        )
    )
    batch = FeatureBatch(
        geoms,
        [
            Column.of("n", "int", [1, 1, 1]),
            Column.of("x", "float", [1.0, None, 2.0]),
            Column.of("b", "bool", [True, False, True]),
            Column.of("s", "str", ["1", "1", None]),
        ],
        np.array([7, 8, 9], dtype=np.uint64),
    )
    features = decode(encode_layer("t", batch, Z, X0 - 1, Y0), "t")
    assert [f["id"] for f in features] == [7, 8]
    first, second = (f["properties"] for f in features)
    assert first == {"n": 1, "x": 1.0, "b": True, "s": "1"}
    assert [type(first[k]) for k in ("n", "x", "b")] == [int, float, bool]
    assert second == {"n": 1, "b": False, "s": "1"}  # None is absent
    assert features[0]["geometry"]["type"] == "Polygon"
    assert features[1]["geometry"]["type"] == "Point"


# ----------------------------------------------------------------------------------------
# ETags, caching, TileJSON
# ----------------------------------------------------------------------------------------
def test_etag_and_cache_follow_builds_and_ingests(store: Engine) -> None:
    populate(store)
    z, x, y = CORNER_TILES[3]
    shown = cells(8)[1]
    etag = tiles.tile_etag(store, "indicators", z, x, y, level="h3:8")
    assert etag.startswith('"') and etag == tiles.tile_etag(
        store, "indicators", z, x, y, level="h3:8"
    )
    assert etag != tiles.tile_etag(store, "indicators", z, x, y, indicator="signing_rate")
    before = by_unit(decode(tiles.tile(store, "indicators", z, x, y, level="h3:8"), "indicators"))
    assert before[shown]["properties"]["signing_rate"] == pytest.approx(11 / 101)

    populate(store, value_shift=0.25, build_id=2)  # a rebuild becomes current
    rebuilt = tiles.tile_etag(store, "indicators", z, x, y, level="h3:8")
    assert rebuilt != etag
    after = by_unit(decode(tiles.tile(store, "indicators", z, x, y, level="h3:8"), "indicators"))
    assert after[shown]["properties"]["signing_rate"] == pytest.approx(11 / 101 + 0.25)

    with store.begin() as conn:  # an ingest loads a file
        conn.execute(
            insert(IngestBatch).values(
                batch_id=1, source="delivery", started_at=dt.datetime(2026, 11, 17, tzinfo=dt.UTC)
            )
        )
        conn.execute(
            insert(IngestFile).values(
                sha256="0" * 64,
                table_name="facilities",
                file_name="facilities.csv",
                batch_id=1,
                status="loaded",
                loaded_at=dt.datetime(2026, 11, 17, tzinfo=dt.UTC),
            )
        )
        conn.execute(update(Facility).where(Facility.facility_id == "F1").values(beds=55))
    assert tiles.tile_etag(store, "indicators", z, x, y, level="h3:8") != rebuilt
    f1 = [
        f["properties"]
        for f in decode(tiles.tile(store, "facilities", *CORNER_TILES[0]), "facilities")
        if f["properties"]["facility_id"] == "F1"
    ]
    assert f1 == [{**f1[0], "beds": 55}]


def test_tilejson(county: Engine) -> None:
    doc = tiles.layer_tilejson(county, "indicators", "https://map.example/api/")
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["https://map.example/api/tiles/indicators/{z}/{x}/{y}.mvt"]
    assert (doc["minzoom"], doc["maxzoom"]) == (7, 14)
    lng, lat = CORNER
    assert doc["bounds"] == pytest.approx([lng - DW, lat - DH, lng + DW, lat + DH])
    assert doc["center"][:2] == [
        pytest.approx(CORNER[0], abs=1e-5),
        pytest.approx(CORNER[1], abs=1e-5),
    ]
    (layer,) = doc["vector_layers"]
    assert layer["id"] == "indicators"
    assert {
        "unit_id",
        "htn_control_rate",
        "signing_rate__suppressed",
        "signing_rate__reason",
    } <= set(layer["fields"])
    one = tiles.tilejson("hotspots", "/api", bounds=(1.0, 2.0, 3.0, 4.0), query={"level": "grid"})
    assert one["tiles"] == ["/api/tiles/hotspots/{z}/{x}/{y}.mvt?level=grid"]
    assert one["bounds"] == [1.0, 2.0, 3.0, 4.0] and one["center"][:2] == [2.0, 3.0]
    assert set(one["vector_layers"][0]["fields"]) >= {"class", "z", "q", "smoothed_rate"}
    long = tiles.tilejson("indicators", "/api", bounds=None, query={"indicator": "signing_rate"})
    assert {"value", "numerator", "suppression_reason"} <= set(long["vector_layers"][0]["fields"])
    for spec in tiles.LAYERS.values():
        assert spec.roles <= {"doctor", "bureau", "planner", "chronic_center", "admin"}


# ----------------------------------------------------------------------------------------
# Static map
# ----------------------------------------------------------------------------------------
def test_static_png_renders(stores: Callable[[str], Engine]) -> None:
    from PIL import Image

    engine = stores("sqlite")
    for layer, kwargs in (
        ("grid_indicators", {"indicator": "signing_rate", "classification": "natural_breaks"}),
        ("indicators", {"indicator": "htn_control_rate", "k": 4}),
        ("hotspots", {"indicator": "htn_prevalence"}),
        ("mobility", {"classification": "equal_interval"}),
    ):
        png = tiles.render_png(engine, layer, width=600, height=450, **kwargs)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        image = Image.open(io.BytesIO(png)).convert("RGB")
        assert image.size == (600, 450)
        colours = image.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 20, layer  # classes, lines, text
        white = max(colours)[0] if max(colours)[1] == (255, 255, 255) else 0
        assert white < 0.95 * 600 * 450, layer  # not blank
    with pytest.raises(ValueError):
        tiles.render_png(
            engine, "grid_indicators", indicator="signing_rate", classification="jenks"
        )  # type: ignore[arg-type]
