"""The checks of a row against the county, the store and the rest of its file.

Stages 7 to 9 of :func:`pipelines.ingest.validate.validate_chunk`, and the steps between:
coordinates to WGS84 and the cells of gridded tables (:func:`place_rows`), then
``outside_county``, ``unknown_fk`` and ``duplicate_key``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geo import coordinates as cc
from pipelines.ingest.flags import Flags
from pipelines.ingest.ids import hash_ids, mask_ids
from pipelines.ingest.keys import KeySet, key_strings, member
from pipelines.ingest.schema import TableSpec

if TYPE_CHECKING:
    from pipelines.ingest.validate import Context, RowsContext


def place_rows(spec: TableSpec, raw: pd.DataFrame, df: pd.DataFrame) -> None:
    """Coordinates and geometries to WGS84; gridded tables' cells from their centres.

    ``mobility`` and ``population_grid`` may deliver a cell as its centre (lat, lng): its
    resolution-8 H3 cell is filled in where ``h3`` is empty. ``df`` is changed in place.
    """
    cols = set(raw.columns)
    if "lat" in df.columns and ("lat" in cols):
        _to_wgs84(df)
    if "geometry_wkt" in cols and "coord_sys" in df.columns:
        _geoms_to_wgs84(df)
    if spec.name in ("mobility", "population_grid") and "lat" in cols and "lng" in cols:
        need = (df["h3"].isna() & df["lat"].notna() & df["lng"].notna()).to_numpy()
        if need.any():
            from geo.geocode import h3_of_latlng

            cells = h3_of_latlng(df["lat"].to_numpy()[need], df["lng"].to_numpy()[need], 8)
            h3col = df["h3"].to_numpy(dtype=object).copy()
            h3col[need] = cells
            df["h3"] = pd.Series(h3col, index=df.index, dtype=object)


def flag_outside_county(
    raw: pd.DataFrame, df: pd.DataFrame, flags: Flags, ctx: RowsContext
) -> None:
    """7. ``outside_county``: points farther outside the county than allowed."""
    cols = set(raw.columns)
    if "lat" not in cols or "lng" not in cols:
        return
    have = df["lat"].notna().to_numpy() & df["lng"].notna().to_numpy() & flags.ok
    if not have.any():
        return
    res = ctx.outside(df["lng"].to_numpy()[have], df["lat"].to_numpy()[have])
    if res is None:
        return
    bad = np.zeros(flags.n, dtype=bool)
    bad[np.flatnonzero(have)] = res
    val = (raw["lat"].astype(str) + "," + raw["lng"].astype(str)).to_numpy(dtype=object)
    flags.flag(
        bad,
        "outside_county",
        "lat",
        val,
        "more than the allowed distance outside the county",
    )


def flag_unknown_references(
    spec: TableSpec,
    raw: pd.DataFrame,
    df: pd.DataFrame,
    flags: Flags,
    ctx: Context,
    file_keys: KeySet | None,
) -> None:
    """8. ``unknown_fk``: references to rows neither in the store nor in the delivery.

    Parameters
    ----------
    spec : TableSpec
        The table's contract: which columns refer to which table (``fk``, ``fk_list``).
    raw, df : pandas.DataFrame
        The chunk's text cells and its parsed columns; a claim linked by ID number gets
        its ``resident_id`` filled in ``df``.
    flags : Flags
        Flags the rows with an unknown reference.
    ctx : Context
        The keys known so far and the resident of an ID-number hash.
    file_keys : KeySet, optional
        Keys of this file so far; in a table that refers to itself, the keys of the rows
        still ok are added first, so a row may refer to itself or to an earlier row of its
        file (``areas.parent_code``). Other tables leave it empty.
    """
    n = flags.n
    cols = set(raw.columns)
    ok_before_fk = flags.ok
    # Only a self-reference looks into the file's own keys: for any other table, keeping
    # them cost a key string per row and a set as big as the file.
    self_refs = any(c.fk == spec.name and c.name in cols for c in spec.columns)
    if file_keys is not None and self_refs and ok_before_fk.any():
        file_keys.add(key_strings(df[ok_before_fk], spec.key))
    if spec.name == "claims":
        _resolve_claim_residents(df, cols, flags, ctx)
    for c in spec.columns:
        if c.fk is None or c.name not in cols:
            continue
        vals = df[c.name]
        have = vals.notna().to_numpy() & flags.ok
        if not have.any():
            continue
        known = ctx.known(c.fk)
        self_ref = c.fk == spec.name
        if c.fk_list:
            sub = vals[have].astype(str).str.split(";")
            ex = sub.explode().str.strip()
            ex = ex[ex != ""]
            hit = member(ex.to_numpy(dtype=object), known, file_keys if self_ref else None)
            miss = pd.Series(~hit, index=ex.index)
            bad_rows = miss.groupby(level=0).any()
            first_bad = ex[~hit].groupby(level=0).first()
            bad = np.zeros(n, dtype=bool)
            pos = raw.index.get_indexer(bad_rows.index[bad_rows.to_numpy()])
            bad[pos] = True
            value = np.full(n, None, dtype=object)
            value[raw.index.get_indexer(first_bad.index)] = first_bad.to_numpy(dtype=object)
            flags.flag(bad, "unknown_fk", c.name, value, f"not a known {_fk_name(c.fk)}")
        else:
            hit = member(vals[have].to_numpy(dtype=object), known, file_keys if self_ref else None)
            bad = np.zeros(n, dtype=bool)
            bad[np.flatnonzero(have)] = ~hit
            flags.flag(bad, "unknown_fk", c.name, vals, f"not a known {_fk_name(c.fk)}")


def flag_duplicate_keys(
    spec: TableSpec, raw: pd.DataFrame, df: pd.DataFrame, flags: Flags, seen_keys: KeySet
) -> np.ndarray:
    """9. ``duplicate_key``: a key seen before in the chunk or the file's earlier chunks.

    The first occurrence is kept; the keys of the rows kept are added to ``seen_keys``.

    Returns
    -------
    numpy.ndarray
        The key string of every row still ok (None elsewhere), as :func:`key_strings`.
    """
    n = flags.n
    cols = set(raw.columns)
    ok = flags.ok
    keys = np.full(n, None, dtype=object)
    if not ok.any():
        return keys
    kdf = df[ok]
    if spec.name == "mobility":
        kdf = kdf.assign(origin_h3=kdf["origin_h3"].where(kdf["origin_h3"].notna(), ""))
    k = key_strings(kdf, spec.key)
    keys[ok] = k
    # object dtype: the keys are already Python strings; inferring pandas' str dtype
    # would copy every one of them into Arrow first.
    dup_in = pd.Series(k, dtype=object).duplicated(keep="first").to_numpy()
    dup_prev = seen_keys.contains(k) if len(seen_keys) else np.zeros(len(k), dtype=bool)
    dup = np.zeros(n, dtype=bool)
    dup[np.flatnonzero(ok)] = dup_in | dup_prev
    kv = np.full(n, None, dtype=object)
    for i in np.flatnonzero(dup):
        kv[i] = "|".join(str(raw[c].iloc[i]) if c in cols else "" for c in spec.key)
    flags.flag(
        dup,
        "duplicate_key",
        spec.key[0] if len(spec.key) == 1 else ",".join(spec.key),
        kv,
        "second occurrence of this key in the file; the first was kept",
    )
    seen_keys.add(k[~(dup_in | dup_prev)])
    return keys


def _fk_name(ref: str) -> str:
    if ref.startswith("areas:"):
        return " or ".join(ref.split(":", 1)[1].split(",")) + " area code"
    return {
        "residents": "resident_id",
        "facilities": "facility_id",
        "teams": "team_id",
        "staff": "staff_id",
        "areas": "area_code",
    }.get(ref, ref)


def _resolve_claim_residents(df: pd.DataFrame, cols: set[str], flags: Flags, ctx: Context) -> None:
    """Claims linked by ID number get their resident_id through the residents' id_hash."""
    if "id_number" not in cols:
        return
    need = df["resident_id"].isna().to_numpy() & df["id_number"].notna().to_numpy() & flags.ok
    if not need.any():
        return
    hashes = hash_ids(df.loc[need, "id_number"], ctx.id_hash_key)
    rid = ctx.resident_for_hash(hashes)
    found = rid.notna().to_numpy()
    idx = df.index[need]
    df.loc[idx[found], "resident_id"] = rid[found].to_numpy(dtype=object)
    bad = np.zeros(len(df), dtype=bool)
    bad[np.flatnonzero(need)[~found]] = True
    flags.flag(
        bad,
        "unknown_fk",
        "id_number",
        mask_ids(df["id_number"]).to_numpy(dtype=object),
        "no resident with this ID number",
    )


def _to_wgs84(df: pd.DataFrame) -> None:
    lat = df["lat"].to_numpy(dtype="float64", na_value=np.nan).copy()
    lng = df["lng"].to_numpy(dtype="float64", na_value=np.nan).copy()
    sys_ = df["coord_sys"].to_numpy(dtype=object) if "coord_sys" in df.columns else None
    if sys_ is None:
        return
    for name in ("gcj02", "bd09"):
        m = (sys_ == name) & ~np.isnan(lat) & ~np.isnan(lng)
        if m.any():
            x, y = cc.convert(lng[m], lat[m], name, "wgs84")
            lng[m], lat[m] = x, y
    df["lat"] = lat
    df["lng"] = lng


def _geoms_to_wgs84(df: pd.DataFrame) -> None:
    import shapely

    sys_ = df["coord_sys"].to_numpy(dtype=object)
    geoms = df["geometry_wkt"].to_numpy(dtype=object).copy()
    for name in ("gcj02", "bd09"):
        m = (sys_ == name) & pd.notna(geoms)
        for i in np.flatnonzero(m):

            def fn(xy: np.ndarray, _n: str = name) -> np.ndarray:
                x, y = cc.convert(xy[:, 0], xy[:, 1], _n, "wgs84")
                return np.column_stack([x, y])

            geoms[i] = shapely.transform(geoms[i], fn)
    df["geometry_wkt"] = pd.Series(geoms, index=df.index, dtype=object)
