"""Derived columns of the good rows of each table, before they are loaded.

Placement (cells, town, geometry) comes from :mod:`geo.geocode`, visit classes and ages
from :mod:`geo.rules`; the store context supplies what is already loaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from geo import geocode
from geo.rules import age_on, classify_visit
from pipelines.ingest.read import FileRejected
from pipelines.ingest.store_context import StoreContext
from pipelines.ingest.validate import hash_ids, local_date, mask_ids


def _h3_columns(df: pd.DataFrame, lat: np.ndarray, lng: np.ndarray, res: tuple[int, ...]) -> None:
    """The ``h3_7`` … ``h3_10`` cells of the points (None at resolutions not kept)."""
    cells = geocode.h3_cells(lat, lng, res)
    for r in (7, 8, 9, 10):
        df[f"h3_{r}"] = cells.get(r)


def prepare(table: str, df: pd.DataFrame, ctx: StoreContext) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Derived columns of good rows; also side rows (``grid_villages``) to write."""
    side: dict[str, Any] = {}
    if len(df) == 0:
        return df, side
    df = df.copy()
    res = tuple(ctx.settings.h3_resolutions)
    if table == "areas":
        df["geom"] = df["geometry_wkt"]
    elif table == "facilities":
        geo = ctx.geo
        df["town_code"] = geo.town_of(df["area_code"]).to_numpy()
        lat, lng = df["lat"].to_numpy(float), df["lng"].to_numpy(float)
        _h3_columns(df, lat, lng, res)
        df["geom"] = geocode.point_geoms(lng, lat)
        df["open"] = df["open"].fillna(True)
    elif table == "teams":
        df["max_daily_visits"] = df["max_daily_visits"].fillna(12)
    elif table == "grids":
        geo = ctx.geo
        df["geom"] = df["geometry_wkt"]
        pairs: list[tuple[str, str]] = []
        codes = df["village_codes"].astype(object)
        norm: list[str | None] = []
        for gid, vc in zip(df["grid_id"], codes, strict=True):
            if isinstance(vc, str):
                vs = [v.strip() for v in vc.split(";") if v.strip()]
                norm.append(";".join(vs))
                pairs += [(gid, v) for v in dict.fromkeys(vs)]
            else:
                norm.append(None)
        df["village_codes"] = norm
        poly_only = df["village_codes"].isna() & df["geom"].notna()
        if poly_only.any():
            villages = geo.areas[geo.areas["level"] == "village"]
            pairs += geocode.grid_villages_from_polygons(
                list(df.loc[poly_only, "grid_id"]), list(df.loc[poly_only, "geom"]), villages
            )
        gv = pd.DataFrame(pairs, columns=["grid_id", "area_code"]).drop_duplicates()
        town = geo.town_of(gv["area_code"]) if len(gv) else pd.Series(dtype=object)
        first_town = pd.Series(town.to_numpy(), index=gv["grid_id"].to_numpy()).dropna()
        first_town = first_town[~first_town.index.duplicated(keep="first")]
        df["town_code"] = first_town.reindex(df["grid_id"].to_numpy()).to_numpy(dtype=object)
        side["grid_villages"] = gv
    elif table == "residents":
        geo = ctx.geo
        idn = df["id_number"]
        df["id_hash"] = hash_ids(idn, ctx.id_hash_key).to_numpy()
        df["id_masked"] = mask_ids(idn).to_numpy()
        lat, lng = df["lat"].to_numpy(float).copy(), df["lng"].to_numpy(float).copy()
        exact = ~np.isnan(lat) & ~np.isnan(lng)
        vlat, vlng = geo.seat_of(df["area_code"])
        lat = np.where(exact, lat, vlat)
        lng = np.where(exact, lng, vlng)
        df["lat"], df["lng"] = lat, lng
        df["loc_precision"] = np.where(exact, "exact", "village")
        df["town_code"] = geo.town_of(df["area_code"]).to_numpy()
        df["grid_id"] = geo.grid_of(df["area_code"], lng, lat, exact).to_numpy()
        _h3_columns(df, lat, lng, res)
        df["geom"] = geocode.point_geoms(lng, lat)
        df["status"] = df["status"].where(df["status"].notna(), "active")
    elif table == "followups":
        given = df["classification"]
        absent = given.isna()
        df["classification_source"] = np.where(absent, "computed", "source")
        if absent.any():
            sub = df[absent]
            birth = ctx.birth_dates(sub["resident_id"])
            age = age_on(birth, sub["visit_date"])
            cls = classify_visit(
                sub["disease"],
                age,
                sub["sbp"],
                sub["dbp"],
                sub["fasting_glucose"],
                sub["adverse_reaction"],
                targets=ctx.rules.targets,
            )
            df.loc[absent, "classification"] = cls.to_numpy(dtype=object)
    elif table == "measurements":
        df["measured_date"] = local_date(df["measured_at"], ctx.timezone)
    elif table == "claims":
        by_name = df["facility_id"].isna() & df["facility_name"].notna()
        if by_name.any():
            df.loc[by_name, "facility_id"] = ctx.facility_by_name(
                df.loc[by_name, "facility_name"]
            ).to_numpy(dtype=object)
        known = ctx.known("facilities")
        fid = df["facility_id"].astype(object)
        df["in_county"] = (
            (known.get_indexer(pd.Index(fid.where(fid.notna(), ""), dtype=object)) >= 0)
            if len(known)
            else False
        )
    elif table == "population_grid":
        pass
    elif table == "mobility":
        import h3

        df["origin_h3"] = df["origin_h3"].where(df["origin_h3"].notna(), "")
        cell_codes, cells = pd.factorize(df["h3"].astype(object))
        res_of = np.asarray([h3.get_resolution(c) for c in cells], dtype=np.int64)
        df["h3_res"] = res_of[cell_codes]
    elif table == "case_reports":
        geo = ctx.geo
        lat, lng = df["lat"].to_numpy(float).copy(), df["lng"].to_numpy(float).copy()
        prec = np.full(len(df), None, dtype=object)
        prec[~np.isnan(lat) & ~np.isnan(lng)] = "exact"
        need = np.asarray(pd.isna(prec) & df["resident_id"].notna().to_numpy(), dtype=bool)
        if need.any():
            ids = df.loc[need, "resident_id"].astype(str)
            places = ctx.resident_places(list(dict.fromkeys(ids)))
            idx = places.index.get_indexer(pd.Index(ids, dtype=object))
            ok = idx >= 0
            pos = np.flatnonzero(need)[ok]
            lat[pos] = places["lat"].to_numpy()[idx[ok]]
            lng[pos] = places["lng"].to_numpy()[idx[ok]]
            prec[pos] = places["loc_precision"].to_numpy(dtype=object)[idx[ok]]
            prec[pos[np.isnan(lat[pos])]] = None
        need = np.asarray(pd.isna(prec) & df["area_code"].notna().to_numpy(), dtype=bool)
        if need.any():
            alat, alng = geo.seat_of(df.loc[need, "area_code"])
            lvl = geo.level_of(df.loc[need, "area_code"])
            pos = np.flatnonzero(need)
            lat[pos], lng[pos] = alat, alng
            lvl[np.isnan(alat)] = None
            prec[pos] = lvl
        df["lat"], df["lng"], df["loc_precision"] = lat, lng, prec
        _h3_columns(df, lat, lng, res)
        df["geom"] = geocode.point_geoms(lng, lat)
    elif table == "roads":
        df["geom"] = df["geometry_wkt"]
        if df["road_id"].isna().any():
            raise FileRejected("roads: every road needs a road_id (or a GeoJSON feature id)")
    return df, side
