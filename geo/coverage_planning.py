"""Town tables, planning standards, catchments, 2SFCA and siting for planners.

Builds on :mod:`geo.coverage` (cells and nearest times) and :mod:`geo.coverage_siting`
(the spopt and access calls). RULES.md "Planning standards": each town and the county is
checked against every configured standard; ``gap`` is how much is missing to the target.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
from shapely.geometry import shape

from geo.coverage import CoverageModel, county_coverage, coverage_by
from geo.coverage_config import CoverageConfig
from geo.coverage_siting import mclp, p_median, two_sfca
from geo.travel_network import travel_minutes


def supply_by_town(
    facilities: pd.DataFrame, staff: pd.DataFrame, config: CoverageConfig
) -> pd.DataFrame:
    """Per town: open village clinics, township HCs, licensed doctors, GPs and beds.

    Staff count at open facilities only (all types); ``licensed`` true is a licensed
    (assistant) physician, role ``gp`` a general practitioner.
    """
    f = facilities.copy()
    f = f[f["open"].fillna(True).astype(bool)] if "open" in f else f
    group_of = {t: g for g, types in config.groups.items() for t in types}
    f["group"] = f["type"].map(group_of)
    s = staff.merge(f[["facility_id", "town_code", "group"]], on="facility_id", how="inner")
    lic = s["licensed"].fillna(False).astype(bool)
    out = pd.DataFrame(
        {
            "village_clinics": f[f["group"] == "village_clinic"].groupby("town_code").size(),
            "township_hcs": f[f["group"] == "township_hc"].groupby("town_code").size(),
            "beds": f.groupby("town_code")["beds"].sum(min_count=1),
            "doctors": s[lic].groupby("town_code").size(),
            "gps": s[s["role"] == "gp"].groupby("town_code").size(),
            "village_clinic_doctors": s[lic & (s["group"] == "village_clinic")]
            .groupby("town_code")
            .size(),
        }
    )
    return out.fillna(0.0)


def town_table(
    cells: pd.DataFrame,
    supply: pd.DataFrame,
    areas: pd.DataFrame,
    config: CoverageConfig,
    visit_shares: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per town plus the county: coverage, supply per 1000, 2SFCA, visit shares.

    Parameters
    ----------
    cells : DataFrame
        Cells with ``t_*`` columns and ``two_sfca`` (per person).
    supply : DataFrame
        :func:`supply_by_town`.
    areas : DataFrame
        Names and levels.
    config : CoverageConfig
    visit_shares : DataFrame, optional
        ``area_code``, ``primary_care_visit_share``, ``in_county_visit_share`` (%).

    Returns
    -------
    DataFrame
    """
    towns = areas[areas["level"] == "town"][["area_code", "name"]]
    county = areas[areas["level"] == "county"][["area_code", "name"]]
    cov = coverage_by(cells, "town_code", config.service_minutes)
    rows = towns.set_index("area_code").join(cov, how="left").join(supply, how="left")
    rows["level"] = "town"
    crow = county_coverage(cells, config.service_minutes)
    ccode = county["area_code"].iloc[0] if len(county) else "county"
    cname = county["name"].iloc[0] if len(county) else "county"
    c = pd.DataFrame([crow], index=[ccode])
    for col in supply.columns:
        c[col] = float(supply[col].sum())
    c["name"], c["level"] = cname, "county"
    out = pd.concat([rows, c])
    out.index.name = "area_code"
    out["population"] = out["population"].fillna(0.0)
    for col in [c for c in out.columns if c.startswith("cov_")] + list(supply.columns):
        out[col] = out[col].fillna(0.0)
    pop = out["population"].where(out["population"] > 0)
    out["pop_per_village_clinic"] = out["population"] / out["village_clinics"].where(
        out["village_clinics"] > 0
    )
    out["doctors_per_1000"] = out["doctors"] / pop * 1000
    out["gps_per_10000"] = out["gps"] / pop * 10000
    out["beds_per_1000"] = out["beds"] / pop * 1000
    out["doctors_per_village_clinic"] = out["village_clinic_doctors"] / out[
        "village_clinics"
    ].where(out["village_clinics"] > 0)
    if "two_sfca" in cells:
        w = cells.assign(_w=cells["two_sfca"] * cells["population"])
        by = w.groupby("town_code")[["_w", "population"]].sum()
        out["two_sfca_per_1000"] = (by["_w"] / by["population"] * 1000).reindex(out.index)
        tot = w["population"].sum()
        out.loc[ccode, "two_sfca_per_1000"] = w["_w"].sum() / tot * 1000 if tot else np.nan
    if visit_shares is not None and len(visit_shares):
        vs = visit_shares.set_index("area_code")
        for col in ("primary_care_visit_share", "in_county_visit_share"):
            if col in vs:
                out[col] = vs[col].reindex(out.index)
    return out.reset_index()


def standards_table(towns: pd.DataFrame, config: CoverageConfig) -> pd.DataFrame:
    """Long table: each town / county against each standard, met or by how much missed.

    ``township_hcs`` is checked per town only (a county-wide count says nothing about
    each town); a value that cannot be measured (no people, no visit data) has ``met``
    and ``gap`` null. ``walk_village_clinic_share`` is report-only.
    """
    measures: dict[str, pd.Series] = {}
    if "share_village_clinic_walk" in towns:
        measures["walk_village_clinic_share"] = towns["share_village_clinic_walk"] * 100
    rows: list[dict[str, Any]] = []
    for std in config.standards:
        values: pd.Series | None = measures.get(std.code)
        if values is None and std.code in towns:
            values = towns[std.code]
        for pos, (_, unit) in enumerate(towns.iterrows()):
            value = np.nan if values is None else values.iloc[int(pos)]
            value = float(value) if pd.notna(value) else np.nan
            if std.code == "township_hcs" and unit["level"] == "county":
                value = np.nan
            met: bool | None = None
            gap = np.nan
            if std.op == ">=" and std.target is not None and np.isfinite(value):
                met = bool(value >= std.target - 1e-9)
                gap = 0.0 if met else float(std.target - value)
            rows.append(
                {
                    "area_code": unit["area_code"],
                    "name": unit["name"],
                    "level": unit["level"],
                    "standard": std.code,
                    "label_zh": std.label_zh,
                    "label_en": std.label_en,
                    "op": std.op,
                    "target": std.target,
                    "value": value,
                    "met": met,
                    "gap": gap,
                    "unit": std.unit,
                    "source": std.source,
                }
            )
    return pd.DataFrame(rows)


def catchment_polygons(
    cells: pd.DataFrame, facilities: pd.DataFrame, groups: tuple[str, ...]
) -> gpd.GeoDataFrame:
    """Each facility's catchment: the union of the cells it is nearest to (walking)."""
    rows: list[dict[str, Any]] = []
    info = facilities.set_index("facility_id")
    for g in groups:
        col = f"near_{g}"
        if col not in cells:
            continue
        for fid, part in cells[cells[col].notna()].groupby(col, sort=True):
            geom = shape(h3.cells_to_geo(list(part["h3"])))
            rows.append(
                {
                    "facility_id": fid,
                    "name": info.at[fid, "name"],
                    "type": info.at[fid, "type"],
                    "group": g,
                    "population": float(part["population"].sum()),
                    "cells": len(part),
                    "geometry": geom,
                }
            )
    cols = ["facility_id", "name", "type", "group", "population", "cells", "geometry"]
    return gpd.GeoDataFrame(rows, columns=cols, geometry="geometry", crs="EPSG:4326")


def cell_hexagons(cells: pd.DataFrame) -> gpd.GeoDataFrame:
    """``cells`` as a GeoDataFrame of their hexagons (EPSG:4326)."""
    geoms = [shape(h3.cells_to_geo([c])) for c in cells["h3"]]
    return gpd.GeoDataFrame(cells.copy(), geometry=geoms, crs="EPSG:4326")


def two_sfca_cells(
    model: CoverageModel, staff: pd.DataFrame, config: CoverageConfig
) -> tuple[pd.Series, pd.DataFrame]:
    """2SFCA licensed doctors per person per cell within ``catchment_minutes``.

    Supply: licensed staff of each facility of the groups (the matrix's columns);
    travel by ``config.two_sfca_mode``.

    Returns
    -------
    access : Series
        Per cell (positional index), doctors per person (×1000 for per 1000).
    supply : DataFrame
        ``facility_id``, ``doctors``.
    """
    lic = staff[staff["licensed"].fillna(False).astype(bool)]
    docs = lic.groupby("facility_id").size()
    fac = model.facilities
    doctors = fac["facility_id"].map(docs).fillna(0.0).to_numpy(float)
    supply = pd.DataFrame({"facility_id": fac["facility_id"], "doctors": doctors})
    cols = np.flatnonzero(doctors > 0)
    n = len(model.cells)
    if len(cols) == 0 or n == 0:
        return pd.Series(0.0, index=range(n)), supply
    mins = model.minutes[config.two_sfca_mode][:, cols]
    r, c = np.nonzero(mins <= config.catchment_minutes)
    costs = pd.DataFrame({"origin": r, "dest": cols[c], "cost": mins[r, c].astype(float)})
    demand = pd.Series(model.cells["population"].to_numpy(float), index=np.arange(n))
    sup = pd.Series(doctors[cols], index=cols)
    return two_sfca(demand, sup, costs, config.catchment_minutes), supply


def default_candidates(areas: pd.DataFrame, facilities: pd.DataFrame) -> pd.DataFrame:
    """Village seats without an open village clinic (RULES.md's default candidates)."""
    open_ = (
        facilities[facilities["open"].fillna(True).astype(bool)]
        if "open" in facilities
        else facilities
    )
    have = set(open_.loc[open_["type"] == "village_clinic", "area_code"])
    v = areas[(areas["level"] == "village") & ~areas["area_code"].isin(have)]
    v = v[v["lat"].notna() & v["lng"].notna()]
    return pd.DataFrame(
        {
            "candidate_id": v["area_code"].to_numpy(),
            "name": v["name"].to_numpy(),
            "area_code": v["area_code"].to_numpy(),
            "town_code": v["parent_code"].to_numpy(),
            "lat": v["lat"].to_numpy(float),
            "lng": v["lng"].to_numpy(float),
        }
    )


def site_new_clinics(
    model: CoverageModel,
    cells: pd.DataFrame,
    candidates: pd.DataFrame,
    config: CoverageConfig,
    k: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MCLP: k new village clinics maximising the newly covered population.

    Existing clinics are kept: cells they already cover (within ``service_minutes`` by
    ``siting_mode``) get weight 0 and are left out of the model, so the objective is the
    population newly covered. Each newly covered cell is credited to its nearest chosen
    site.

    Returns
    -------
    sites : DataFrame
        The chosen candidates with ``newly_covered`` and ``order`` (most first);
        ``attrs["newly_covered"]`` is the total.
    candidates : DataFrame
        Every candidate with ``chosen``.
    """
    k = config.siting_k if k is None else k
    mode, limit = config.siting_mode, config.service_minutes
    col = f"t_village_clinic_{mode}"
    out = candidates.assign(chosen=False)
    uncovered = np.flatnonzero(cells[col].to_numpy() > limit)
    if len(candidates) == 0 or len(uncovered) == 0 or k < 1:
        sites = out.iloc[0:0].assign(newly_covered=0.0, order=0)
        sites.attrs["newly_covered"] = 0.0
        return sites.drop(columns="chosen"), out
    pts = cells[["lat", "lng"]].to_numpy(float)[uncovered]
    cand = candidates[["lat", "lng"]].to_numpy(float)
    cost = travel_minutes(pts, cand, mode, config, model.roads, limit * 2)
    reach = (cost <= limit).any(axis=1)
    cost, weights = cost[reach], cells["population"].to_numpy(float)[uncovered][reach]
    if len(weights) == 0:
        sites = out.iloc[0:0].assign(newly_covered=0.0, order=0)
        sites.attrs["newly_covered"] = 0.0
        return sites.drop(columns="chosen"), out
    useful = np.flatnonzero((cost <= limit).any(axis=0))
    # Cells covered by the same set of candidates are interchangeable in the MCLP, so
    # they merge into one demand row with their summed population: the optimum and its
    # objective are unchanged and CBC sees hundreds of rows instead of a county's cells.
    covers, row_of = np.unique(cost[:, useful] <= limit, axis=0, return_inverse=True)
    merged = np.bincount(row_of.ravel(), weights, minlength=len(covers))
    choice = mclp(np.where(covers, 0.0, limit * 2), merged, limit, k)
    chosen = useful[choice.sites]
    sub = np.where(cost[:, chosen] <= limit, cost[:, chosen], np.inf)
    covered = np.isfinite(sub).any(axis=1)
    credit = np.where(covered, sub.argmin(axis=1), -1)
    newly = np.array([weights[credit == i].sum() for i in range(len(chosen))])
    sites = candidates.iloc[chosen].assign(newly_covered=newly)
    sites = sites.sort_values("newly_covered", ascending=False)
    sites["order"] = np.arange(1, len(sites) + 1)
    sites.attrs["newly_covered"] = float(weights[covered].sum())
    out.loc[out.index[chosen], "chosen"] = True
    return sites.reset_index(drop=True), out


def siting_towns(before: pd.DataFrame, after: pd.DataFrame, config: CoverageConfig) -> pd.DataFrame:
    """Per town and county: walking village-clinic coverage before and after siting."""
    col = f"t_village_clinic_{config.siting_mode}"
    rows = []
    for name, frame in (("before", before), ("after", after)):
        cov = frame["population"].where(frame[col] <= config.service_minutes, 0.0)
        rows.append(cov.groupby(frame["town_code"]).sum().rename(f"covered_{name}"))
    pop = before.groupby("town_code")["population"].sum()
    out = pd.concat([pop, *rows], axis=1)
    out.loc["county"] = out.sum()
    out["share_before"] = out["covered_before"] / out["population"]
    out["share_after"] = out["covered_after"] / out["population"]
    out.index.name = "town_code"
    return out.reset_index()


def sub_centre(model: CoverageModel) -> pd.DataFrame:
    """p-median (p = 1) on driving time among open township HCs: the county sub-centre."""
    fac = model.facilities
    cols = np.flatnonzero((fac["group"] == "township_hc").to_numpy())
    cols_out = ["facility_id", "name", "town_code", "lat", "lng", "mean_minutes"]
    if len(cols) == 0 or len(model.cells) == 0 or "drive" not in model.minutes:
        return pd.DataFrame(columns=cols_out)
    cost = model.minutes["drive"][:, cols].astype(float)
    weights = model.cells["population"].to_numpy(float)
    # For p = 1 every person goes to the one site, so the objective sum(w_i * c_ij) is
    # linear in the rows: one demand row at the population-weighted mean cost gives the
    # same optimum and objective, and spopt's model shrinks from n x m assignment
    # variables (minutes of CBC for a county's cells) to m.
    finite = np.isfinite(cost).all(axis=0)
    cols, cost = cols[finite], cost[:, finite]
    if len(cols) == 0:
        return pd.DataFrame(columns=cols_out)
    mean_row = (weights[:, None] * cost).sum(axis=0, keepdims=True) / weights.sum()
    choice = p_median(mean_row, np.array([1.0]), 1)
    if not choice.sites:
        return pd.DataFrame(columns=cols_out)
    row = fac.iloc[cols[choice.sites]].assign(mean_minutes=choice.objective)
    return row[[c for c in cols_out if c in row]].reset_index(drop=True)
