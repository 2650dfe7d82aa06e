"""Column types that work on both stores.

PostGIS gets real ``geometry`` columns (GeoAlchemy2); the embedded SQLite store, which must
work with no system library (so no SpatiaLite), keeps the same geometry as WKB bytes. The
Python side always sees shapely geometries, so code above the store is backend-agnostic.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import shapely
from geoalchemy2 import Geometry
from geoalchemy2.elements import WKBElement, WKTElement
from geoalchemy2.shape import to_shape
from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

SRID = 4326


def as_utc(value: dt.datetime) -> dt.datetime:
    """A stored instant as aware UTC on both stores (SQLite hands back naive UTC)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class GeometryType(TypeDecorator[Any]):
    """A WGS84 geometry: PostGIS ``geometry(<kind>, 4326)``, WKB bytes on SQLite."""

    impl = LargeBinary
    cache_ok = True
    # Read by GeoAlchemy2's DDL hooks; the migrations create the GiST indexes themselves.
    spatial_index = False
    use_N_D_index = False

    def __init__(self, geometry_type: str = "GEOMETRY") -> None:
        super().__init__()
        self.geometry_type = geometry_type

    def load_dialect_impl(self, dialect: Dialect | None) -> TypeEngine[Any]:
        # GeoAlchemy2's DDL hooks probe the type with no dialect on PostgreSQL; answering
        # with the Geometry type lets them treat the column as the spatial column it is.
        if dialect is None:
            return Geometry(self.geometry_type, srid=SRID, spatial_index=False)
        if dialect.name == "postgresql":
            # Spatial indexes are created explicitly by the migrations, where queries need them.
            return dialect.type_descriptor(
                Geometry(self.geometry_type, srid=SRID, spatial_index=False)
            )
        return dialect.type_descriptor(LargeBinary())

    def bind_expression(self, bindvalue: Any) -> Any:
        return bindvalue

    def column_expression(self, col: Any) -> Any:
        return col

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, str | bytes):
            value = (
                shapely.from_wkb(value) if not _looks_like_wkt(value) else shapely.from_wkt(value)
            )
        if dialect.name == "postgresql":
            # Hex EWKB travels as text and PostGIS parses it into geometry.
            return shapely.to_wkb(shapely.set_srid(value, SRID), hex=True, include_srid=True)
        return shapely.to_wkb(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, WKBElement | WKTElement):
            return to_shape(value)  # PostGIS: GeoAlchemy2's own processor ran first
        if isinstance(value, memoryview):
            value = bytes(value)
        return shapely.from_wkb(value)


def _looks_like_wkt(value: str | bytes) -> bool:
    return isinstance(value, str) and value.lstrip()[:1].isalpha()
