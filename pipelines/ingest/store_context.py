"""The store as validation context: known keys, the county's geometry, resident lookups."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select, text

from geo import geocode
from geo.rules import RulesConfig
from pipelines.ingest.keys import KeySet
from pipelines.ingest.settings import IngestSettings


def _query(engine: Engine, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    """The rows of one SQL query."""
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
        """The keys of ``ref`` in the store (a table, or ``areas:<levels>``), cached."""
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
        """The county's areas, region and grids for geocoding, built on first use."""
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
        """Which points lie farther outside the county than ``outside_county_km``."""
        return self.geo.outside(lng, lat)

    # -- residents ----------------------------------------------------------------------
    def resident_for_hash(self, hashes: pd.Series) -> pd.Series:
        """The resident_id of each ID-number hash (None where no resident has it)."""
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
        """The stored birth date of each resident (NaT where unknown)."""
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
        """The facility_id of each facility name (None where unknown or not unique)."""
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
