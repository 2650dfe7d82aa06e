"""Coverage and access for planners (RULES.md "Coverage and access", "Planning standards").

``compute_coverage(engine, config)`` reads the store once (areas, facilities, staff,
residents or population, grids, and ``roads`` when the store has them), hands the frames
to ``geo.coverage*`` and returns a :class:`CoverageResult`: every table the planner's
API, tiles and report show. Nothing is written back; the service caches the result per
store data version.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine

from geo import coverage as cov
from geo import coverage_planning as plan
from geo.coverage_config import DEFAULT_COVERAGE, CoverageConfig
from geo.errors import NoBuildError
from geo.travel_network import road_models
from store.engine import table_names
from store.frames import read_frame, read_frames
from store.queries import current_build, indicator_values
from store.roads import read_roads
from store.version import store_version


@dataclass
class CoverageResult:
    """Everything the planners' API, tiles and report read (one computation).

    All travel times are minutes; populations are people (floats: cells carry
    population-weighted shares). Geometry columns are WGS-84 (EPSG:4326). Frames are
    never suppressed here: suppression is applied where an aggregate leaves the service.

    Attributes
    ----------
    cells : geopandas.GeoDataFrame
        One row per populated H3 cell (resolution ``config.h3_resolution``, default 9):
        ``h3``, ``lat``, ``lng``, ``population``, ``town_code``, ``grid_id`` (may be
        null), and for each facility group ``g`` in ``village_clinic``, ``township_hc``,
        ``county_hospital`` and each mode ``m`` in ``walk``, ``ebike``, ``drive``:
        ``t_{g}_{m}`` (minutes to the nearest open facility of the group; inf when the
        county has none) and ``near_{g}`` (facility_id of the nearest one by walking
        time, which is also the nearest by every mode under the straight-line model);
        ``two_sfca`` (doctors per 1000 within the catchment). ``geometry``: the hexagon.
    towns : pandas.DataFrame
        One row per town plus one county row (``level`` = ``town`` / ``county``):
        ``area_code``, ``name``, ``level``, ``population``, ``cov_{g}_{m}`` (people
        within ``service_minutes`` of group ``g`` by mode ``m``, for g in
        ``village_clinic``, ``township_hc``) and ``share_{g}_{m}`` (0–1),
        ``village_clinics`` (open), ``pop_per_village_clinic``, ``township_hcs`` (open
        township or community HCs), ``doctors`` (licensed), ``gps``, ``beds``,
        ``doctors_per_1000``, ``gps_per_10000``, ``beds_per_1000``,
        ``doctors_per_village_clinic``, ``two_sfca_per_1000`` (population-weighted mean
        of the cells' 2SFCA).
    grids : pandas.DataFrame
        Same coverage columns as ``towns`` per health-management grid: ``grid_id``,
        ``name``, ``town_code``, ``population``, ``cov_*``, ``share_*``.
    standards : pandas.DataFrame
        Long table, one row per (unit, standard): ``area_code``, ``name``, ``level``,
        ``standard`` (code), ``label_zh``, ``label_en``, ``op`` (``>=`` or
        ``reported``), ``target``, ``value``, ``met`` (bool; null when not measurable
        or report-only), ``gap`` (how much is missing, in the standard's unit; 0 when
        met), ``unit``, ``source``.
    catchments : geopandas.GeoDataFrame
        One polygon per open facility of the groups above (dissolved cells for which
        it is the nearest by walking): ``facility_id``, ``name``, ``type``, ``group``,
        ``population``, ``cells``, ``geometry``.
    two_sfca : pandas.DataFrame
        Per cell: ``h3``, ``population``, ``two_sfca`` (licensed doctors per 1000
        residents reachable within ``catchment_minutes`` by ``two_sfca_mode``), plus
        each facility's supply in ``attrs["supply"]`` (``facility_id``, ``doctors``:
        licensed staff).
    underserved : pandas.DataFrame
        Populated cells outside the 15-minute walking circle of a village clinic,
        ranked by population (largest first): ``rank``, ``h3``, ``lat``, ``lng``,
        ``town_code``, ``grid_id``, ``population``, ``t_village_clinic_walk``,
        ``near_village_clinic``.
    siting : dict[str, pandas.DataFrame]
        ``"mclp_sites"``: the k chosen new village clinics (``candidate_id``, ``name``,
        ``area_code``, ``town_code``, ``lat``, ``lng``, ``newly_covered`` people,
        ``order``); ``"mclp_towns"``: per town and county ``population``,
        ``covered_before``, ``covered_after``, ``share_before``, ``share_after``;
        ``"pmedian"``: the chosen county sub-centre among township HCs
        (``facility_id``, ``name``, ``town_code``, ``lat``, ``lng``,
        ``mean_minutes``, the population-weighted mean driving time);
        ``"candidates"``: every candidate site considered (``candidate_id``, ``name``,
        ``lat``, ``lng``, ``chosen``). Also ``attrs["newly_covered"]`` on
        ``mclp_sites`` (total people newly covered).
    meta : dict[str, Any]
        ``data_date`` (ISO date of the newest delivery the store holds, or None),
        ``travel_model`` (``"roads"`` or ``"straight_line"``), ``population_source``
        (``"residents"`` or ``"population"``), ``thresholds`` (the
        :class:`geo.coverage_config.CoverageConfig` as a dict), ``standards_sources``,
        ``h3_resolution``, ``store_version``, ``seconds`` (computation time).
    """

    cells: gpd.GeoDataFrame
    towns: pd.DataFrame
    grids: pd.DataFrame
    standards: pd.DataFrame
    catchments: gpd.GeoDataFrame
    two_sfca: pd.DataFrame
    underserved: pd.DataFrame
    siting: dict[str, pd.DataFrame]
    meta: dict[str, Any] = field(default_factory=dict)
    model: Any = None
    """The :class:`geo.coverage.CoverageModel` (cell x facility minutes) for the what-if."""


#: Resident columns the coverage needs (position, status, town, grid, cell).
RESIDENT_COLUMNS = (
    "resident_id",
    "status",
    "area_code",
    "town_code",
    "grid_id",
    "lat",
    "lng",
    "h3_9",
)


def _visit_shares(engine: Engine) -> pd.DataFrame | None:
    """Town and county primary-care and in-county visit shares (%) of the current build."""
    frames = []
    try:
        for level in ("town", "county"):
            frames.append(indicator_values(engine, level))
    except NoBuildError:
        return None
    rows = pd.concat(frames)
    wanted = ["primary_care_visit_share", "in_county_visit_share"]
    rows = rows[rows["indicator"].isin(wanted)]
    if rows.empty:
        return None
    share = rows.pivot_table(index="unit_id", columns="indicator", values="value")
    share = share.where(share > 1.0, share * 100.0)  # fractions become percent
    return share.rename_axis("area_code").reset_index()


def _roads(engine: Engine) -> gpd.GeoDataFrame | None:
    """The delivered roads (``store.roads``), or None: the straight-line model."""
    if "roads" not in table_names(engine):
        return None
    roads = read_roads(engine)
    return roads if len(roads) else None


def compute_coverage(
    engine: Engine,
    config: CoverageConfig = DEFAULT_COVERAGE,
    *,
    roads: Mapping[str, Any] | gpd.GeoDataFrame | None = None,
    candidates: pd.DataFrame | None = None,
) -> CoverageResult:
    """Compute everything planners see from the store (nothing is written).

    Parameters
    ----------
    engine : Engine
        The store.
    config : CoverageConfig
        Thresholds (``Settings.coverage``).
    roads : mapping or GeoDataFrame, optional
        A roads FeatureCollection or frame; default: the store's ``roads`` table when
        present (``store.roads.read_roads``).
    candidates : DataFrame, optional
        Candidate sites (``candidate_id``, ``name``, ``lat``, ``lng``, ``area_code``,
        ``town_code``); default village seats without an open clinic.

    Returns
    -------
    CoverageResult
    """
    started = time.perf_counter()
    frames = read_frames(engine, ["areas", "facilities", "staff", "grids"])
    areas, facilities = frames["areas"], frames["facilities"]
    # Only where people live: no names, phones or ids beyond the key leave the store.
    residents = read_frame(engine, "residents", RESIDENT_COLUMNS)
    population = read_frame(engine, "population") if residents.empty else None
    roads = roads if roads is not None else _roads(engine)

    cells = cov.population_cells(residents, population, areas, config)
    groups = cov.facility_groups(facilities, config)
    road_graphs = road_models(roads, config, cov.MODES) if roads is not None else None
    model = cov.build_model(cells, groups, config, road_graphs)
    access, supply = plan.two_sfca_cells(model, frames["staff"], config)
    times = cov.cell_times(model)
    times["two_sfca"] = access.to_numpy() * 1000.0

    supply_towns = plan.supply_by_town(facilities, frames["staff"], config)
    towns = plan.town_table(
        times.assign(two_sfca=access.to_numpy()),
        supply_towns,
        areas,
        config,
        _visit_shares(engine),
    )
    grids = _grid_table(times, frames["grids"], config)
    standards = plan.standards_table(towns, config)
    catchments = plan.catchment_polygons(times, groups, tuple(config.groups))
    two = times[["h3", "population", "two_sfca"]].copy()
    two.attrs["supply"] = supply
    underserved = cov.underserved_cells(times, config.service_minutes)

    cand = candidates if candidates is not None else plan.default_candidates(areas, facilities)
    sites, cand_out = plan.site_new_clinics(model, times, cand, config)
    after = times
    if len(sites):
        after = cov.what_if(
            model,
            times,
            add=[
                {"lat": r.lat, "lng": r.lng, "group": "village_clinic"} for r in sites.itertuples()
            ],
        ).cells
    siting = {
        "mclp_sites": sites,
        "mclp_towns": plan.siting_towns(times, after, config),
        "pmedian": plan.sub_centre(model),
        "candidates": cand_out,
    }
    cells_gdf = plan.cell_hexagons(times)
    meta = {
        "data_date": _data_date(engine),
        "travel_model": model.travel_model,
        "population_source": "residents" if population is None else "population",
        "thresholds": config.model_dump(mode="json"),
        "standards_sources": {s.code: s.source for s in config.standards},
        "h3_resolution": config.h3_resolution,
        "store_version": list(store_version(engine)),
        "seconds": time.perf_counter() - started,
    }
    return CoverageResult(
        cells=cells_gdf,
        towns=towns,
        grids=grids,
        standards=standards,
        catchments=catchments,
        two_sfca=two,
        underserved=underserved,
        siting=siting,
        meta=meta,
        model=model,
    )


def _grid_table(times: pd.DataFrame, grids: pd.DataFrame, config: CoverageConfig) -> pd.DataFrame:
    """Service-circle coverage per health-management grid."""
    if times["grid_id"].notna().sum() == 0:
        return pd.DataFrame(columns=["grid_id", "name", "town_code", "population"])
    by = cov.coverage_by(times[times["grid_id"].notna()], "grid_id", config.service_minutes)
    info = grids.set_index("grid_id")[["name", "town_code"]]
    return info.join(by, how="right").rename_axis("grid_id").reset_index()


def _data_date(engine: Engine) -> str | None:
    """As-of date of the current build (the data date the report states), or None."""
    try:
        return str(current_build(engine)["as_of"])
    except NoBuildError:
        return None
