"""Ingesting a delivery folder into the store (the orchestrator).

``ingest_delivery(folder, engine, settings, rules)`` finds the delivered files
(:mod:`pipelines.ingest.read`), loads them table by table in ``models.CONTRACT_TABLES`` order,
each file in one transaction: read in chunks → validate (:mod:`pipelines.ingest.validate`) →
derive placement and other derived columns (:mod:`geo.geocode`) → upsert
(:mod:`pipelines.load`) + quarantine rows + the file's ``ingest_files`` record. A file
whose sha256 is already recorded as loaded is skipped, so ingesting the same folder twice
changes nothing. Foreign keys are checked against the store, which after each committed
file holds everything this delivery has loaded so far.
"""

from __future__ import annotations

import datetime as dt
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sqlalchemy import Engine, func, insert, inspect, select, text, update
from sqlalchemy.engine import Connection

from geo import geocode
from geo.rules import RulesConfig, age_on, classify_visit
from pipelines import load
from pipelines.ingest.read import (
    Aliases,
    DeliveryFile,
    FileRejected,
    estimate_rows,
    find_files,
    read_chunks,
)
from pipelines.ingest.read import inspect as inspect_file
from pipelines.ingest.schema import REASONS, SPECS
from pipelines.ingest.settings import IngestSettings
from pipelines.ingest.validate import KeySet, hash_ids, local_date, mask_ids, validate_chunk
from store.engine import analyze
from store.models import IngestBatch, IngestFile, Quarantine

Progress = Callable[[str, str, int, int | None], None]


# ----------------------------------------------------------------------------------------
# Summary models
# ----------------------------------------------------------------------------------------
class FileReport(BaseModel):
    """What happened to one delivered file."""

    file: str
    table: str
    sha256: str | None = None
    status: Literal["loaded", "already_loaded", "rejected", "failed"] = "loaded"
    encoding: str | None = None
    read: int = 0
    loaded: int = Field(0, description="Rows inserted (keys new to the store).")
    updated: int = Field(0, description="Existing rows whose content changed.")
    unchanged: int = Field(0, description="Good rows identical to the stored ones.")
    quarantined: int = 0
    quarantine_by_reason: dict[str, int] = Field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


class RejectedFile(BaseModel):
    file: str
    status: Literal["rejected", "failed"]
    reason: str


class TableSummary(BaseModel):
    files: int = 0
    read: int = 0
    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    quarantine_by_reason: dict[str, int] = Field(default_factory=dict)
    already_loaded_files: int = 0
    rejected_files: list[RejectedFile] = Field(default_factory=list)
    seconds: float = 0.0


class SkippedReport(BaseModel):
    file: str
    reason: str


class IngestSummary(BaseModel):
    """The result of one ingest (JSON-able: ``summary.model_dump(mode='json')``)."""

    batch_id: int
    folder: str
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    seconds: float = 0.0
    tables: dict[str, TableSummary] = Field(default_factory=dict)
    files: list[FileReport] = Field(default_factory=list)
    skipped: list[SkippedReport] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @property
    def read(self) -> int:
        return sum(t.read for t in self.tables.values())

    @property
    def loaded(self) -> int:
        return sum(t.loaded for t in self.tables.values())

    @property
    def updated(self) -> int:
        return sum(t.updated for t in self.tables.values())

    @property
    def quarantined(self) -> int:
        return sum(t.quarantined for t in self.tables.values())

    @property
    def rejected(self) -> list[RejectedFile]:
        return [r for t in self.tables.values() for r in t.rejected_files]


# ----------------------------------------------------------------------------------------
# The store as validation context
# ----------------------------------------------------------------------------------------
def _query(engine: Engine, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params or {}).all())


class StoreContext:
    """Known keys, the county's geometry and resident lookups, cached from the store."""

    def __init__(self, engine: Engine, settings: IngestSettings, rules: RulesConfig) -> None:
        self.engine = engine
        self.settings = settings
        self.rules = rules
        self.timezone = rules.timezone
        self.id_hash_key = settings.id_hash_key.encode("utf-8")
        self._keys: dict[str, KeySet] = {}
        self._geo: geocode.GeoContext | None = None
        self._hash: pd.Series | None = None
        self._birth: pd.Series | None = None
        self._facility_names: pd.Series | None = None
        self.warnings: list[str] = []

    # -- keys -------------------------------------------------------------------------
    _KEY_SQL: ClassVar[dict[str, str]] = {
        "residents": "SELECT resident_id FROM residents",
        "facilities": "SELECT facility_id FROM facilities",
        "teams": "SELECT team_id FROM teams",
        "staff": "SELECT staff_id FROM staff",
        "areas": "SELECT area_code FROM areas",
        "areas:village": "SELECT area_code FROM areas WHERE level = 'village'",
        "areas:village,town": "SELECT area_code FROM areas WHERE level IN ('village', 'town')",
    }

    def known(self, ref: str) -> pd.Index:
        if ref not in self._keys:
            rows = _query(self.engine, self._KEY_SQL[ref])
            self._keys[ref] = KeySet(np.asarray([r[0] for r in rows], dtype=object))
        return self._keys[ref].index

    def after_load(self, table: str, keys: np.ndarray | None) -> None:
        """A file of ``table`` was committed: refresh what depends on it."""
        if table == "areas":
            for k in [k for k in self._keys if k.startswith("areas")]:
                del self._keys[k]
            self._geo = None
        elif table in ("grids",):
            self._geo = None
        elif table in self._keys and keys is not None:
            self._keys[table].add(keys)
        if table == "residents":
            self._hash = None
            self._birth = None
        if table == "facilities":
            self._facility_names = None

    # -- geometry ---------------------------------------------------------------------
    @property
    def geo(self) -> geocode.GeoContext:
        if self._geo is None:
            self._geo = self._build_geo()
        return self._geo

    def _build_geo(self) -> geocode.GeoContext:
        from store.models import Area, Grid, GridVillage

        with self.engine.connect() as conn:
            rows = conn.execute(
                select(Area.area_code, Area.level, Area.parent_code, Area.lat, Area.lng, Area.geom)
            ).all()
            gv = conn.execute(
                select(GridVillage.area_code, GridVillage.grid_id).order_by(
                    GridVillage.area_code, GridVillage.grid_id
                )
            ).all()
            grids = conn.execute(
                select(Grid.grid_id, Grid.geom).where(Grid.geom.is_not(None))
            ).all()
        areas = pd.DataFrame(
            {
                "level": [r[1] for r in rows],
                "parent_code": [r[2] for r in rows],
                "lat": np.asarray([np.nan if r[3] is None else r[3] for r in rows], dtype=float),
                "lng": np.asarray([np.nan if r[4] is None else r[4] for r in rows], dtype=float),
            },
            index=pd.Index([r[0] for r in rows], dtype=object),
        )
        geoms = pd.Series([r[5] for r in rows], index=areas.index, dtype=object)
        areas = geocode.village_seats_from_polygons(areas, geoms)
        region, kind = geocode.build_region(areas, geoms)
        vg = pd.Series(
            [r[1] for r in gv], index=pd.Index([r[0] for r in gv], dtype=object), dtype=object
        )
        vg = vg[~vg.index.duplicated(keep="first")]
        return geocode.GeoContext(
            areas=areas,
            region=region,
            region_kind=kind,
            outside_km=self.settings.outside_county_km,
            village_grid=vg,
            grid_ids=np.asarray([g[0] for g in grids], dtype=object),
            grid_geoms=np.asarray([g[1] for g in grids], dtype=object),
        )

    def outside(self, lng: np.ndarray, lat: np.ndarray) -> np.ndarray | None:
        return self.geo.outside(lng, lat)

    # -- residents ----------------------------------------------------------------------
    def resident_for_hash(self, hashes: pd.Series) -> pd.Series:
        if self._hash is None:
            rows = _query(
                self.engine,
                "SELECT id_hash, resident_id FROM residents "
                "WHERE id_hash IS NOT NULL ORDER BY resident_id",
            )
            s = pd.Series(
                [r[1] for r in rows],
                index=pd.Index([r[0] for r in rows], dtype=object),
                dtype=object,
            )
            self._hash = s[~s.index.duplicated(keep="first")]
        idx = self._hash.index.get_indexer(pd.Index(hashes.astype(object), dtype=object))
        vals = self._hash.to_numpy(dtype=object)
        return pd.Series(geocode.take(vals, idx), index=hashes.index, dtype=object)

    def birth_dates(self, resident_ids: pd.Series) -> pd.Series:
        if self._birth is None:
            rows = _query(self.engine, "SELECT resident_id, birth_date FROM residents")
            self._birth = pd.Series(
                pd.to_datetime(
                    pd.Series([r[1] for r in rows], dtype=object), errors="coerce"
                ).to_numpy(),
                index=pd.Index([r[0] for r in rows], dtype=object),
            )
        idx = self._birth.index.get_indexer(pd.Index(resident_ids.astype(object), dtype=object))
        vals = self._birth.to_numpy()
        out = np.full(len(idx), np.datetime64("NaT"), dtype="datetime64[ns]")
        ok = idx >= 0
        out[ok] = vals[idx[ok]]
        return pd.Series(out, index=resident_ids.index)

    def resident_places(self, resident_ids: list[str]) -> pd.DataFrame:
        """lat, lng, loc_precision of residents (a few thousand at a time)."""
        out: list[Any] = []
        with self.engine.connect() as conn:
            for i in range(0, len(resident_ids), 500):
                part = resident_ids[i : i + 500]
                marks = ", ".join(f":p{j}" for j in range(len(part)))
                rows = conn.execute(
                    text(
                        f"SELECT resident_id, lat, lng, loc_precision FROM residents "
                        f"WHERE resident_id IN ({marks})"
                    ),
                    {f"p{j}": v for j, v in enumerate(part)},
                ).all()
                out += rows
        return pd.DataFrame(
            {
                "lat": [np.nan if r[1] is None else r[1] for r in out],
                "lng": [np.nan if r[2] is None else r[2] for r in out],
                "loc_precision": [r[3] for r in out],
            },
            index=pd.Index([r[0] for r in out], dtype=object),
        )

    def facility_by_name(self, names: pd.Series) -> pd.Series:
        if self._facility_names is None:
            rows = _query(
                self.engine, "SELECT name, facility_id FROM facilities ORDER BY facility_id"
            )
            s = pd.Series(
                [r[1] for r in rows],
                index=pd.Index([r[0] for r in rows], dtype=object),
                dtype=object,
            )
            self._facility_names = s[~s.index.duplicated(keep=False)]  # unique names only
        idx = self._facility_names.index.get_indexer(pd.Index(names.astype(object), dtype=object))
        vals = self._facility_names.to_numpy(dtype=object)
        return pd.Series(geocode.take(vals, idx), index=names.index, dtype=object)


# ----------------------------------------------------------------------------------------
# Derived columns, per table
# ----------------------------------------------------------------------------------------
def _h3_columns(df: pd.DataFrame, lat: np.ndarray, lng: np.ndarray, res: tuple[int, ...]) -> None:
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


# ----------------------------------------------------------------------------------------
# Orchestration
# ----------------------------------------------------------------------------------------
def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _loaded_hashes(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {
            r[0]
            for r in conn.execute(
                select(IngestFile.sha256).where(IngestFile.status == "loaded")
            ).all()
        }


def _record_file(conn: Connection, rep: FileReport, batch_id: int, detail: dict[str, Any]) -> None:
    values = dict(
        table_name=rep.table,
        file_name=rep.file,
        batch_id=batch_id,
        status=rep.status if rep.status in ("loaded", "rejected", "failed") else "loaded",
        rows_read=rep.read,
        rows_loaded=rep.loaded,
        rows_updated=rep.updated,
        rows_quarantined=rep.quarantined,
        detail=detail,
        loaded_at=_now(),
    )
    exists = conn.execute(select(IngestFile.sha256).where(IngestFile.sha256 == rep.sha256)).first()
    if exists:
        conn.execute(update(IngestFile).where(IngestFile.sha256 == rep.sha256).values(**values))
    else:
        conn.execute(insert(IngestFile).values(sha256=rep.sha256, **values))


def _load_file(
    f: DeliveryFile,
    engine: Engine,
    ctx: StoreContext,
    aliases: Aliases,
    batch_id: int,
    loaded: set[str],
    progress: Progress | None,
) -> FileReport:
    t0 = time.perf_counter()
    rep = FileReport(file=f.name, table=f.table)
    try:
        info = inspect_file(f)
    except OSError as exc:
        rep.status, rep.error = "rejected", f"{f.name}: unreadable: {exc}"
        return rep
    rep.sha256, rep.encoding = info.sha256, info.encoding
    if info.sha256 in loaded:
        rep.status = "already_loaded"
        return rep
    spec = SPECS[f.table]
    total = estimate_rows(f, info)
    reasons: Counter[str] = Counter()
    if progress:
        progress(f.table, f.name, 0, total)
    try:
        with engine.begin() as conn:
            seen = KeySet()
            file_keys = KeySet()
            loaded_keys: list[np.ndarray] = []
            for chunk in read_chunks(f, aliases, ctx.settings.chunk_rows, info):
                out = validate_chunk(spec, chunk, ctx, seen, file_keys)
                good, side = prepare(f.table, out.good, ctx)
                if "grid_villages" in side:
                    gv = side["grid_villages"]
                    load.delete_where_in(
                        conn, "grid_villages", "grid_id", [str(g) for g in good["grid_id"]]
                    )
                    load.upsert(conn, "grid_villages", gv)
                ins, upd = load.upsert(conn, f.table, good)
                rep.read += len(chunk.data)
                rep.loaded += ins
                rep.updated += upd
                rep.unchanged += len(good) - ins - upd
                if len(out.quarantine):
                    q = out.quarantine.assign(
                        batch_id=batch_id,
                        file_sha256=info.sha256,
                        table_name=f.table,
                        file_name=f.name,
                    )
                    load.insert(conn, "quarantine", q)
                    rep.quarantined += len(q)
                    reasons.update(q["reason"].tolist())
                if len(spec.key) == 1 and len(good):
                    loaded_keys.append(good[spec.key[0]].to_numpy(dtype=object))
                if progress:
                    progress(f.table, f.name, rep.read, total)
            rep.quarantine_by_reason = {r: reasons[r] for r in REASONS if reasons[r]}
            rep.status = "loaded"
            rep.seconds = round(time.perf_counter() - t0, 3)
            _record_file(
                conn,
                rep,
                batch_id,
                {
                    "encoding": info.encoding,
                    "unchanged": rep.unchanged,
                    "quarantine_by_reason": rep.quarantine_by_reason,
                    "seconds": rep.seconds,
                },
            )
    except FileRejected as exc:
        rep = FileReport(
            file=f.name,
            table=f.table,
            sha256=info.sha256,
            encoding=info.encoding,
            status="rejected",
            error=str(exc),
        )
    except Exception as exc:
        rep = FileReport(
            file=f.name,
            table=f.table,
            sha256=info.sha256,
            encoding=info.encoding,
            status="failed",
            error=f"{f.name}: {type(exc).__name__}: {exc}",
        )
        rep_detail = traceback.format_exc(limit=5)
        _safe_record(engine, rep, batch_id, {"traceback": rep_detail})
        rep.seconds = round(time.perf_counter() - t0, 3)
        return rep
    else:
        ctx.after_load(f.table, np.concatenate(loaded_keys) if loaded_keys else None)
        return rep
    _safe_record(engine, rep, batch_id, {"error": rep.error})
    rep.seconds = round(time.perf_counter() - t0, 3)
    return rep


def _safe_record(engine: Engine, rep: FileReport, batch_id: int, detail: dict[str, Any]) -> None:
    try:
        with engine.begin() as conn:
            _record_file(conn, rep, batch_id, detail)
    except Exception:
        pass


def ingest_delivery(
    folder: Path | str,
    engine: Engine,
    settings: IngestSettings | None = None,
    rules: RulesConfig | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Load a delivery folder into the store.

    Parameters
    ----------
    folder : path
        The delivery (one file per table, see ``docs/data-contract.md``).
    engine : sqlalchemy.Engine
        The store (migrated to head).
    settings : IngestSettings, optional
        Alias file, outside-county distance, ID hash key, chunk size, H3 resolutions.
    rules : RulesConfig, optional
        Time zone and targets (follow-up classification when the source has none).
    progress : callable, optional
        ``progress(table, file_name, rows_done, rows_total_or_None)``.

    Returns
    -------
    IngestSummary
    """
    settings = settings or IngestSettings()
    rules = rules or RulesConfig()
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"delivery folder not found: {folder}")
    aliases = Aliases(settings.alias_file)
    started = _now()
    t0 = time.perf_counter()
    with engine.begin() as conn:
        batch_id = conn.execute(
            insert(IngestBatch)
            .values(source=str(folder.resolve()), started_at=started)
            .returning(IngestBatch.batch_id)
        ).scalar_one()
    summary = IngestSummary(batch_id=batch_id, folder=str(folder), started_at=started)
    files, skipped = find_files(folder)
    summary.skipped = [SkippedReport(file=s.path.name, reason=s.reason) for s in skipped]
    ctx = StoreContext(engine, settings, rules)
    loaded = _loaded_hashes(engine)
    for f in files:
        rep = _load_file(f, engine, ctx, aliases, batch_id, loaded, progress)
        if rep.sha256 and rep.status == "loaded":
            loaded.add(rep.sha256)
        summary.files.append(rep)
        ts = summary.tables.setdefault(f.table, TableSummary())
        ts.files += 1
        ts.read += rep.read
        ts.loaded += rep.loaded
        ts.updated += rep.updated
        ts.unchanged += rep.unchanged
        ts.quarantined += rep.quarantined
        ts.seconds = round(ts.seconds + rep.seconds, 3)
        for r, k in rep.quarantine_by_reason.items():
            ts.quarantine_by_reason[r] = ts.quarantine_by_reason.get(r, 0) + k
        if rep.status == "already_loaded":
            ts.already_loaded_files += 1
        if rep.status in ("rejected", "failed"):
            ts.rejected_files.append(
                RejectedFile(file=rep.file, status=rep.status, reason=rep.error or "")
            )
    if ctx._geo is not None and ctx._geo.region is None:
        summary.warnings.append("no county polygon or village seats: outside-county check skipped")
    present = set(inspect(engine).get_table_names())
    changed = [t for t, ts in summary.tables.items() if (ts.loaded or ts.updated) and t in present]
    if changed:
        analyze(engine, changed)  # the planner's statistics of what was just loaded
    summary.finished_at = _now()
    summary.seconds = round(time.perf_counter() - t0, 3)
    with engine.begin() as conn:
        conn.execute(
            update(IngestBatch)
            .where(IngestBatch.batch_id == batch_id)
            .values(finished_at=summary.finished_at, summary=summary.model_dump(mode="json"))
        )
    return summary


def list_quarantine(engine: Engine, table: str | None = None) -> pd.DataFrame:
    """Quarantined rows (optionally of one table), in the order they were written.

    Columns: id, batch_id, file_sha256, table_name, file_name, row_number, column_name,
    value, reason, detail, raw (the delivered row as a dict of strings).
    """
    cols = [c.name for c in Quarantine.__table__.columns]
    stmt = select(*[getattr(Quarantine, c) for c in cols]).order_by(Quarantine.id)
    if table is not None:
        stmt = stmt.where(Quarantine.table_name == table)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=cols)


def quarantine_counts(engine: Engine) -> dict[tuple[str, str], int]:
    """Quarantined rows per (table, reason)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Quarantine.table_name, Quarantine.reason, func.count()).group_by(
                Quarantine.table_name, Quarantine.reason
            )
        ).all()
    return {(r[0], r[1]): int(r[2]) for r in rows}
