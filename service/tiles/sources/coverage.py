"""Planners' tile layers: ``travel_time`` (cells), ``catchments``, ``coverage``, ``sites``.

Their features come from :func:`pipelines.coverage.compute_coverage`, which is computed
in Python and not stored, so both backends encode these tiles in Python (``render``
never takes the ``ST_AsMVT`` path). The result is computed once per store data version
and shared with the ``/api/v1/coverage`` routes (:func:`coverage_result`).

Privacy: populations below the small-number threshold (``rules.indicators.suppression_k``)
are absent from a feature (travel times of a cell are not personal and stay).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine

from geo.coverage_config import DEFAULT_COVERAGE, CoverageConfig
from geo.vocabulary import PLANNING_ROLES
from pipelines.coverage import CoverageResult, compute_coverage
from service.tiles.layers import LayerSpec, register_layer
from service.tiles.mvt import Column, FeatureBatch, encode_layer
from service.tiles.sources.base import (
    AttrTable,
    LayerSource,
    TileContext,
    UnitIndex,
    h3_fids,
    h3_index,
)
from service.tiles.sources.reads import polygon_index
from store.version import store_version

_lock = threading.Lock()
#: id(engine) -> (data version, config, result). One county per engine; a what-if never
#: changes it (it is computed on a copy).
_results: dict[int, tuple[tuple[str, ...], CoverageConfig, CoverageResult]] = {}


def coverage_result(engine: Engine, config: CoverageConfig | None = None) -> CoverageResult:
    """The coverage of the store's current data version, computed at most once per version.

    Parameters
    ----------
    engine : Engine
        The store.
    config : CoverageConfig, optional
        The settings' ``rules.coverage``; None reuses the configuration of the cached
        result, else the defaults.
    """
    version = store_version(engine)
    with _lock:
        hit = _results.get(id(engine))
        if hit is not None and hit[0] == version and (config is None or hit[1] == config):
            return hit[2]
        cfg = config or (hit[1] if hit is not None else DEFAULT_COVERAGE)
        result = compute_coverage(engine, cfg)
        _results[id(engine)] = (version, cfg, result)
        return result


def _people(name: str, values: pd.Series, k: int) -> Column:
    """A population column, absent below the small-number threshold ``k``."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    present = np.isfinite(v) & (v >= k)
    return Column(name, "float", np.where(present, v, 0.0), present)


def _minutes(name: str, values: pd.Series) -> Column:
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    present = np.isfinite(v)
    return Column(name, "float", np.where(present, np.round(v, 2), 0.0), present)


class _CoverageSource(LayerSource):
    """Common part: Python encoding on both backends, cached per data version."""

    def render(self, ctx: TileContext) -> bytes:
        return encode_layer(ctx.spec.name, self.batch(ctx), ctx.z, ctx.x, ctx.y)

    def postgis_tile(self, ctx: TileContext) -> bytes:
        return self.render(ctx)

    def data(self, ctx: TileContext) -> tuple[UnitIndex, AttrTable]:
        """Index and attributes of the layer (``make`` of the subclass, cached)."""
        made: tuple[UnitIndex, AttrTable] = ctx.cached(
            f"coverage_{ctx.spec.name}", ctx.params.get("level"), make=lambda: self.make(ctx)
        )
        return made

    def make(self, ctx: TileContext) -> tuple[UnitIndex, AttrTable]:
        raise NotImplementedError

    def batch(self, ctx: TileContext) -> FeatureBatch:
        index, table = self.data(ctx)
        return table.batch(index, ctx.z, ctx.x, ctx.y)


TIME_FIELDS = tuple(
    f"t_{g}_{m}"
    for g in ("village_clinic", "township_hc", "county_hospital")
    for m in ("walk", "ebike", "drive")
)


class TravelTimeSource(_CoverageSource):
    """Populated H3 cells: minutes to the nearest facility of each group and mode, 2SFCA."""

    def make(self, ctx: TileContext) -> tuple[UnitIndex, AttrTable]:
        r = coverage_result(ctx.engine, ctx.rules.coverage)
        k = ctx.rules.indicators.suppression_k
        cells = pd.DataFrame(r.cells.drop(columns="geometry")).sort_values("h3")
        ids = cells["h3"].tolist()
        index = h3_index(ids)
        cols = [Column.of("unit_id", "str", ids), _people("population", cells["population"], k)]
        cols += [_minutes(c, cells[c]) for c in TIME_FIELDS if c in cells]
        cols.append(_minutes("two_sfca", cells["two_sfca"]))
        return index, AttrTable(index.positions(ids), cols, h3_fids(ids))


class CatchmentSource(_CoverageSource):
    """Each open facility's catchment (cells it is nearest to by walking)."""

    def make(self, ctx: TileContext) -> tuple[UnitIndex, AttrTable]:
        r = coverage_result(ctx.engine, ctx.rules.coverage)
        k = ctx.rules.indicators.suppression_k
        c = r.catchments.reset_index(drop=True)
        keys = [f"{g}:{f}" for g, f in zip(c["group"], c["facility_id"], strict=True)]
        index = UnitIndex.build(keys, np.array(list(c.geometry), dtype=object))
        cols = [
            Column.of("facility_id", "str", c["facility_id"].tolist()),
            Column.of("name", "str", c["name"].tolist()),
            Column.of("type", "str", c["type"].tolist()),
            Column.of("group", "str", c["group"].tolist()),
            _people("population", c["population"], k),
        ]
        return index, AttrTable(np.arange(len(c), dtype=np.int64), cols)


SHARE_FIELDS = tuple(
    f"share_{g}_{m}" for g in ("village_clinic", "township_hc") for m in ("walk", "ebike", "drive")
)


class CoverageUnitSource(_CoverageSource):
    """Share of people within the 15-minute circle per town (default) or grid."""

    levels = ("town", "grid")

    def make(self, ctx: TileContext) -> tuple[UnitIndex, AttrTable]:
        r = coverage_result(ctx.engine, ctx.rules.coverage)
        k = ctx.rules.indicators.suppression_k
        level = ctx.params.get("level") or "town"
        frame = (
            r.grids.rename(columns={"grid_id": "unit_id"})
            if level == "grid"
            else (r.towns[r.towns["level"] == "town"].rename(columns={"area_code": "unit_id"}))
        )
        index = polygon_index(ctx, level)
        ids = frame["unit_id"].astype(str).tolist()
        small = pd.to_numeric(frame["population"], errors="coerce").fillna(0) < k
        cols = [
            Column.of("unit_id", "str", ids),
            Column.constant("level", "str", level, len(ids)),
            _people("population", frame["population"], k),
        ]
        for c in SHARE_FIELDS:
            if c in frame:
                v = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                present = np.isfinite(v) & ~small.to_numpy()
                cols.append(Column(c, "float", np.where(present, np.round(v, 4), 0.0), present))
        return index, AttrTable(index.positions(ids), cols)


class SitesSource(_CoverageSource):
    """Candidate sites, the MCLP's chosen new clinics and the p-median sub-centre."""

    def make(self, ctx: TileContext) -> tuple[UnitIndex, AttrTable]:
        r = coverage_result(ctx.engine, ctx.rules.coverage)
        k = ctx.rules.indicators.suppression_k
        rows: list[dict[str, Any]] = []
        chosen = r.siting["mclp_sites"].set_index("candidate_id")
        for c in r.siting["candidates"].itertuples():
            is_chosen = c.candidate_id in chosen.index
            rows.append(
                {
                    "site_id": str(c.candidate_id),
                    "name": c.name,
                    "kind": "mclp_site" if is_chosen else "candidate",
                    "newly_covered": chosen.at[c.candidate_id, "newly_covered"]
                    if is_chosen
                    else None,
                    "order": int(str(chosen.at[c.candidate_id, "order"])) if is_chosen else None,
                    "lat": c.lat,
                    "lng": c.lng,
                }
            )
        for s in r.siting["pmedian"].itertuples():
            rows.append(
                {
                    "site_id": str(s.facility_id),
                    "name": s.name,
                    "kind": "sub_centre",
                    "newly_covered": None,
                    "order": None,
                    "lat": s.lat,
                    "lng": s.lng,
                }
            )
        frame = pd.DataFrame(
            rows, columns=["site_id", "name", "kind", "newly_covered", "order", "lat", "lng"]
        )
        keys = [f"{kind}:{i}" for kind, i in zip(frame["kind"], frame["site_id"], strict=True)]
        points = shapely.points(frame["lng"].to_numpy(float), frame["lat"].to_numpy(float))
        index = UnitIndex.build(keys, np.asarray(points, dtype=object))
        cols = [
            Column.of("site_id", "str", frame["site_id"].tolist()),
            Column.of("name", "str", frame["name"].tolist()),
            Column.of("kind", "str", frame["kind"].tolist()),
            _people("newly_covered", frame["newly_covered"], k),
            Column.of("order", "int", frame["order"].tolist()),
        ]
        return index, AttrTable(np.arange(len(frame), dtype=np.int64), cols)


def register() -> None:
    """Register the four planners' layers (called once by ``registry``)."""
    roles = PLANNING_ROLES
    times = dict.fromkeys(TIME_FIELDS, "Number")
    register_layer(
        LayerSpec(
            name="travel_time",
            description="Minutes to the nearest village clinic / township HC / county "
            "hospital by walking, e-bike, driving per populated H3 cell; 2SFCA per 1000",
            geometry="polygon",
            fields={"unit_id": "String", "population": "Number", **times, "two_sfca": "Number"},
            minzoom=8,
            maxzoom=16,
            roles=roles,
            source=TravelTimeSource(),
        )
    )
    register_layer(
        LayerSpec(
            name="catchments",
            description="Each open facility's catchment (people nearest to it by walking)",
            geometry="polygon",
            fields={
                "facility_id": "String",
                "name": "String",
                "type": "String",
                "group": "String",
                "population": "Number",
            },
            minzoom=6,
            maxzoom=16,
            roles=roles,
            source=CatchmentSource(),
        )
    )
    register_layer(
        LayerSpec(
            name="coverage",
            description="Share of people within the 15-minute circle, per town or grid",
            geometry="polygon",
            fields={
                "unit_id": "String",
                "level": "String",
                "population": "Number",
                **dict.fromkeys(SHARE_FIELDS, "Number"),
            },
            minzoom=6,
            maxzoom=14,
            roles=roles,
            params=frozenset({"level"}),
            source=CoverageUnitSource(),
        )
    )
    register_layer(
        LayerSpec(
            name="sites",
            description="Siting: candidate sites, chosen new village clinics, the sub-centre",
            geometry="point",
            fields={
                "site_id": "String",
                "name": "String",
                "kind": "String",
                "newly_covered": "Number",
                "order": "Number",
            },
            minzoom=6,
            maxzoom=16,
            roles=roles,
            source=SitesSource(),
        )
    )
