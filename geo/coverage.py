"""Travel time, service-circle coverage and the what-if (RULES.md "Coverage and access").

The unit of demand is the populated H3 cell (resolution ``config.h3_resolution``, 9 by
default): its population is the count of active residents whose household lies in it, at
their mean position (population-weighted), or — without residents — the population table
per village placed at the village seat. From every cell the travel time to every open
facility of the three groups (village clinic, township HC, county hospital) is computed
once per mode (:class:`CoverageModel`, a cells × facilities float32 matrix per mode);
nearest times, coverage and catchments are minima over its columns, which is also why the
what-if (add or close a facility) is cheap: one new column, or a minimum over the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import h3
import numpy as np
import numpy.typing as npt
import pandas as pd

from geo.coverage_config import CoverageConfig
from geo.travel import RoadNetworkModel
from geo.travel_network import travel_minutes

MODES: tuple[str, ...] = ("walk", "ebike", "drive")
#: Groups whose service circle is counted (RULES.md: village clinic and, separately, THC).
CIRCLE_GROUPS: tuple[str, ...] = ("village_clinic", "township_hc")


def population_cells(
    residents: pd.DataFrame | None,
    population: pd.DataFrame | None,
    areas: pd.DataFrame,
    config: CoverageConfig,
) -> pd.DataFrame:
    """Populated cells: ``h3``, ``lat``, ``lng``, ``population``, ``town_code``, ``grid_id``.

    Parameters
    ----------
    residents : DataFrame or None
        Canonical residents (``lat``, ``lng``, ``status``, ``town_code``, ``grid_id``,
        ``area_code``); only ``active`` (or unset) records with a position count.
    population : DataFrame or None
        The population table (``area_code``, ``year``, ``count``), used when there are
        no located residents: the latest year per area, at the area's seat.
    areas : DataFrame
        ``area_code``, ``level``, ``parent_code``, ``lat``, ``lng``.
    config : CoverageConfig

    Returns
    -------
    DataFrame
        One row per cell, ``population`` > 0; the cell's town and grid are those of most
        of its people.
    """
    res = config.h3_resolution
    cols = ["h3", "lat", "lng", "population", "town_code", "grid_id"]
    if residents is not None and len(residents):
        r = residents
        if "status" in r:
            r = r[r["status"].isna() | (r["status"] == "active")]
        r = r[r["lat"].notna() & r["lng"].notna()]
    else:
        r = pd.DataFrame()
    if len(r):
        hcol = f"h3_{res}"
        cells = (
            r[hcol].astype(str)
            if hcol in r and r[hcol].notna().all()
            else pd.Series(
                [h3.latlng_to_cell(a, b, res) for a, b in zip(r["lat"], r["lng"], strict=True)],
                index=r.index,
            )
        )
        frame = pd.DataFrame(
            {
                "h3": cells.to_numpy(),
                "lat": r["lat"].to_numpy(float),
                "lng": r["lng"].to_numpy(float),
                "town_code": r.get("town_code", pd.Series(pd.NA, index=r.index)).to_numpy(),
                "grid_id": r.get("grid_id", pd.Series(pd.NA, index=r.index)).to_numpy(),
                "w": 1.0,
            }
        )
    else:
        frame = _population_points(population, areas, res)
    if frame.empty:
        return pd.DataFrame(columns=cols)
    frame["wlat"], frame["wlng"] = frame["lat"] * frame["w"], frame["lng"] * frame["w"]
    g = frame.groupby("h3", sort=True)
    out = g[["w", "wlat", "wlng"]].sum()
    out["lat"] = out["wlat"] / out["w"]
    out["lng"] = out["wlng"] / out["w"]
    out["population"] = out["w"]
    out["town_code"] = _majority(frame, "town_code")
    out["grid_id"] = _majority(frame, "grid_id")
    out = out.reset_index()
    return out.loc[out["population"] > 0, cols].reset_index(drop=True)


def _majority(frame: pd.DataFrame, col: str) -> pd.Series:
    sub = frame[["h3", col, "w"]].dropna(subset=[col])
    if sub.empty:
        return pd.Series(dtype=object)
    top = sub.groupby(["h3", col], sort=False)["w"].sum().reset_index()
    top = top.sort_values(["h3", "w", col], ascending=[True, False, True])
    return top.drop_duplicates("h3").set_index("h3")[col].astype(object)


def _population_points(
    population: pd.DataFrame | None, areas: pd.DataFrame, res: int
) -> pd.DataFrame:
    if population is None or population.empty:
        return pd.DataFrame()
    latest = population[population["year"] == population["year"].max()]
    per = latest.groupby("area_code")["count"].sum()
    a = areas.set_index("area_code")
    a = a[a["lat"].notna() & a["lng"].notna()]
    per = per[per.index.isin(a.index)]
    seat = a.loc[per.index]
    town = [
        code if lvl == "town" else parent
        for code, lvl, parent in zip(seat.index, seat["level"], seat["parent_code"], strict=True)
    ]
    return pd.DataFrame(
        {
            "h3": [
                h3.latlng_to_cell(x, y, res) for x, y in zip(seat["lat"], seat["lng"], strict=True)
            ],
            "lat": seat["lat"].to_numpy(float),
            "lng": seat["lng"].to_numpy(float),
            "town_code": town,
            "grid_id": pd.NA,
            "w": per.to_numpy(float),
        }
    )


def facility_groups(facilities: pd.DataFrame, config: CoverageConfig) -> pd.DataFrame:
    """Open facilities of the configured groups, with their ``group`` (and positions)."""
    group_of = {t: g for g, types in config.groups.items() for t in types}
    f = facilities.copy()
    f["group"] = f["type"].map(group_of)
    is_open = f["open"].fillna(True).astype(bool) if "open" in f else True
    f = f[f["group"].notna() & is_open & f["lat"].notna() & f["lng"].notna()]
    keep = ["facility_id", "name", "type", "group", "lat", "lng", "area_code", "town_code"]
    return f[[c for c in keep if c in f]].reset_index(drop=True)


@dataclass
class CoverageModel:
    """Cells, facilities and the precomputed cell × facility minutes per mode.

    Attributes
    ----------
    cells : DataFrame
        From :func:`population_cells`.
    facilities : DataFrame
        From :func:`facility_groups` (the matrix's columns, in order).
    minutes : dict
        Mode → float32 array ``(len(cells), len(facilities))``; ``inf`` beyond
        ``config.matrix_limit_minutes`` (roads) or never (straight line: exact).
    config : CoverageConfig
    roads : dict or None
        Mode → road graph, when travel runs over the roads.
    """

    cells: pd.DataFrame
    facilities: pd.DataFrame
    minutes: dict[str, npt.NDArray[np.float32]]
    config: CoverageConfig
    roads: Mapping[str, RoadNetworkModel] | None = None
    _points: npt.NDArray[np.float64] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._points = self.cells[["lat", "lng"]].to_numpy(float)

    @property
    def travel_model(self) -> str:
        """``roads`` or ``straight_line``."""
        return "roads" if self.roads else "straight_line"

    def column(self, lat: float, lng: float, mode: str) -> npt.NDArray[np.float32]:
        """Minutes from every cell to a point (a new facility's column)."""
        return travel_minutes(
            self._points,
            np.array([[lat, lng]]),
            mode,
            self.config,
            self.roads,
            self.config.matrix_limit_minutes if self.roads else np.inf,
        )[:, 0]

    def nearest(
        self, group: str, mode: str, closed: Sequence[str] = ()
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.intp]]:
        """Minutes to the nearest open facility of ``group`` and its column (-1: none)."""
        cols = np.flatnonzero(
            (self.facilities["group"] == group).to_numpy()
            & ~self.facilities["facility_id"].isin(list(closed)).to_numpy()
        )
        n = len(self.cells)
        if len(cols) == 0 or n == 0:
            return np.full(n, np.inf, dtype=np.float32), np.full(n, -1, dtype=np.intp)
        sub = self.minutes[mode][:, cols]
        arg = sub.argmin(axis=1)
        best = sub[np.arange(n), arg]
        idx = np.where(np.isfinite(best), cols[arg], -1)
        return best, idx.astype(np.intp)


def build_model(
    cells: pd.DataFrame,
    facilities: pd.DataFrame,
    config: CoverageConfig,
    roads: Mapping[str, RoadNetworkModel] | None = None,
    modes: Sequence[str] = MODES,
) -> CoverageModel:
    """Compute the cell × facility minutes once per mode (the expensive step).

    Parameters
    ----------
    cells : DataFrame
        :func:`population_cells`.
    facilities : DataFrame
        :func:`facility_groups`.
    config : CoverageConfig
    roads : mapping, optional
        Mode → road graph (:func:`geo.travel_network.road_models`); straight line when
        None.
    modes : sequence of str

    Returns
    -------
    CoverageModel
    """
    pts = cells[["lat", "lng"]].to_numpy(float)
    fac = facilities[["lat", "lng"]].to_numpy(float)
    limit = config.matrix_limit_minutes if roads else np.inf
    minutes = {m: travel_minutes(pts, fac, m, config, roads, limit) for m in modes}
    return CoverageModel(cells.reset_index(drop=True), facilities, minutes, config, roads)


def cell_times(model: CoverageModel, closed: Sequence[str] = ()) -> pd.DataFrame:
    """Per cell ``t_{group}_{mode}`` (minutes to the nearest) and ``near_{group}`` (walking)."""
    out = model.cells.copy()
    ids = model.facilities["facility_id"].to_numpy()
    for group in model.config.groups:
        for mode in model.minutes:
            t, idx = model.nearest(group, mode, closed)
            out[f"t_{group}_{mode}"] = t.astype(float)
            if mode == "walk":
                out[f"near_{group}"] = np.where(idx >= 0, ids[np.maximum(idx, 0)], np.array(None))
    return out


def coverage_by(
    cells: pd.DataFrame, key: str, service_minutes: float, modes: Sequence[str] = MODES
) -> pd.DataFrame:
    """People within ``service_minutes`` of each circle group, per mode, per ``key``.

    ``cells`` needs ``population``, ``key`` and ``t_{group}_{mode}`` columns. Returns
    ``population``, ``cov_{g}_{m}`` and ``share_{g}_{m}`` (0–1; NaN without people),
    indexed by ``key``.
    """
    # numpy bincount rather than a pandas groupby: the what-if calls this on every click.
    codes, uniques = pd.factorize(cells[key], sort=True)
    ok = codes >= 0
    pop = cells["population"].to_numpy(float)
    size = len(uniques)
    data: dict[str, npt.NDArray[np.float64]] = {
        "population": np.bincount(codes[ok], pop[ok], minlength=size).astype(float)
    }
    shares: dict[str, npt.NDArray[np.float64]] = {}
    denominator = np.where(data["population"] > 0, data["population"], np.nan)
    for g in CIRCLE_GROUPS:
        for m in modes:
            col = f"t_{g}_{m}"
            if col in cells:
                inside = ok & (cells[col].to_numpy(float) <= service_minutes)
                data[f"cov_{g}_{m}"] = np.bincount(
                    codes[inside], pop[inside], minlength=size
                ).astype(float)
                shares[f"share_{g}_{m}"] = data[f"cov_{g}_{m}"] / denominator
    return pd.DataFrame({**data, **shares}, index=pd.Index(uniques, name=key))


def county_coverage(cells: pd.DataFrame, service_minutes: float) -> pd.Series:
    """The county row of :func:`coverage_by` (all cells)."""
    whole = cells.assign(_all="county")
    return coverage_by(whole, "_all", service_minutes).iloc[0]


def underserved_cells(cells: pd.DataFrame, service_minutes: float) -> pd.DataFrame:
    """Cells beyond the walking circle of a village clinic, most people first."""
    col = "t_village_clinic_walk"
    out = cells[cells[col] > service_minutes].sort_values(
        ["population", "h3"], ascending=[False, True]
    )
    keep = ["h3", "lat", "lng", "town_code", "grid_id", "population", col]
    keep += ["near_village_clinic"] if "near_village_clinic" in cells else []
    out = out[keep].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


@dataclass(frozen=True)
class WhatIf:
    """Coverage after adding and/or closing facilities.

    Attributes
    ----------
    cells : DataFrame
        Cells with the new ``t_*`` columns.
    towns : DataFrame
        :func:`coverage_by` per town, before (``*_before``) and after.
    county : dict
        County population, covered before / after per group and mode.
    """

    cells: pd.DataFrame
    towns: pd.DataFrame
    county: dict[str, Any]


def what_if(
    model: CoverageModel,
    base: pd.DataFrame,
    *,
    add: Sequence[Mapping[str, Any]] = (),
    close: Sequence[str] = (),
) -> WhatIf:
    """Recompute the service-circle coverage with facilities added or closed.

    Only the two circle groups change: an added facility contributes one new column
    per mode (one Dijkstra per mode on roads; a vectorised distance otherwise) and the
    new nearest time is the minimum of the old and the new; a closed one is taken out
    of the column minimum.

    Parameters
    ----------
    model : CoverageModel
    base : DataFrame
        :func:`cell_times` of ``model`` (the situation before).
    add : sequence of mapping
        Each ``{"lat", "lng", "group"}`` (group defaults to ``village_clinic``).
    close : sequence of str
        facility_ids to close.

    Returns
    -------
    WhatIf
    """
    cfg = model.config
    cells = base.copy()
    closed = [c for c in close if c in set(model.facilities["facility_id"])]
    for g in CIRCLE_GROUPS:
        closing = bool(
            model.facilities.loc[model.facilities["facility_id"].isin(closed), "group"].eq(g).any()
        )
        new = [a for a in add if a.get("group", "village_clinic") == g]
        for m in model.minutes:
            col = f"t_{g}_{m}"
            t = model.nearest(g, m, closed)[0] if closing else cells[col].to_numpy(np.float32)
            for a in new:
                t = np.minimum(t, model.column(float(a["lat"]), float(a["lng"]), m))
            cells[col] = t.astype(float)
    before = coverage_by(base, "town_code", cfg.service_minutes, tuple(model.minutes))
    after = coverage_by(cells, "town_code", cfg.service_minutes, tuple(model.minutes))
    towns = after.join(before.drop(columns="population").add_suffix("_before")).reset_index()
    cb = county_coverage(base, cfg.service_minutes)
    ca = county_coverage(cells, cfg.service_minutes)
    county = {"population": float(ca["population"])}
    for c in ca.index:
        if c.startswith("cov_"):
            county[c] = float(ca[c])
            county[c + "_before"] = float(cb[c])
    return WhatIf(cells, towns, county)
