"""The store's tables: every table of the data contract, plus ingestion bookkeeping.

Column names are the contract's (``shared/DATA_CONTRACT.md``); derived columns are marked.
Personal identifiers: the ID number (身份证号) is never stored in clear — ``id_hash`` is a
keyed HMAC for linkage and ``id_masked`` the display form (``3707**********1234``).
H3 cells are lowercase hex strings at resolutions 7–10 (one canonical form inside).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from store.types import GeometryType

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _h3() -> Mapped[str | None]:
    return mapped_column(String(16), nullable=True)


class H3Mixin:
    """H3 cells of a point at resolutions 7–10 (derived at ingestion)."""

    h3_7: Mapped[str | None] = _h3()
    h3_8: Mapped[str | None] = _h3()
    h3_9: Mapped[str | None] = _h3()
    h3_10: Mapped[str | None] = _h3()


class Area(Base):
    __tablename__ = "areas"
    area_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(10), index=True)
    parent_code: Mapped[str | None] = mapped_column(String(12), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    geom = mapped_column(GeometryType("GEOMETRY"), nullable=True)


class Facility(H3Mixin, Base):
    __tablename__ = "facilities"
    facility_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(30), index=True)
    area_code: Mapped[str] = mapped_column(String(12), index=True)
    town_code: Mapped[str | None] = mapped_column(String(12))  # derived
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    coord_sys: Mapped[str | None] = mapped_column(String(8))  # as delivered; lat/lng are WGS84
    parent_facility_id: Mapped[str | None] = mapped_column(String(40))
    beds: Mapped[int | None] = mapped_column(Integer)
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    geom = mapped_column(GeometryType("POINT"), nullable=True)


class Team(Base):
    __tablename__ = "teams"
    team_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    facility_id: Mapped[str] = mapped_column(String(40), index=True)
    leader_staff_id: Mapped[str | None] = mapped_column(String(40))
    max_daily_visits: Mapped[int] = mapped_column(Integer, default=12)


class Staff(Base):
    __tablename__ = "staff"
    staff_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    facility_id: Mapped[str] = mapped_column(String(40), index=True)
    role: Mapped[str] = mapped_column(String(20))
    licensed: Mapped[bool | None] = mapped_column(Boolean)
    team_id: Mapped[str | None] = mapped_column(String(40), index=True)


class Grid(Base):
    __tablename__ = "grids"
    grid_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    village_codes: Mapped[str | None] = mapped_column(Text)  # ;-separated, as delivered
    clinic_id: Mapped[str | None] = mapped_column(String(40))
    team_id: Mapped[str | None] = mapped_column(String(40), index=True)
    grid_worker_ids: Mapped[str | None] = mapped_column(Text)
    town_code: Mapped[str | None] = mapped_column(String(12), index=True)  # derived
    geom = mapped_column(GeometryType("GEOMETRY"), nullable=True)


class GridVillage(Base):
    """Which villages make up a grid (derived from ``village_codes`` or the polygon)."""

    __tablename__ = "grid_villages"
    grid_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    area_code: Mapped[str] = mapped_column(String(12), primary_key=True, index=True)


class Resident(H3Mixin, Base):
    __tablename__ = "residents"
    resident_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    id_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    id_masked: Mapped[str | None] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(100))
    sex: Mapped[int] = mapped_column(Integer)
    birth_date: Mapped[dt.date] = mapped_column(Date)
    area_code: Mapped[str] = mapped_column(String(12), index=True)
    town_code: Mapped[str | None] = mapped_column(String(12))  # derived
    grid_id: Mapped[str | None] = mapped_column(String(40), index=True)  # derived
    address: Mapped[str | None] = mapped_column(Text)
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    coord_sys: Mapped[str | None] = mapped_column(String(8))
    loc_precision: Mapped[str] = mapped_column(String(10), default="exact")  # exact | village
    phone: Mapped[str | None] = mapped_column(String(20))
    signed_team_id: Mapped[str | None] = mapped_column(String(40), index=True)
    signed_date: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="active")
    geom = mapped_column(GeometryType("POINT"), nullable=True)


class ChronicRegistry(Base):
    """One management file (专案) per resident and disease."""

    __tablename__ = "chronic_registry"
    resident_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    disease: Mapped[str] = mapped_column(String(8), primary_key=True)
    enrolled_date: Mapped[dt.date] = mapped_column(Date)
    diagnosed_date: Mapped[dt.date | None] = mapped_column(Date)
    team_id: Mapped[str | None] = mapped_column(String(40), index=True)
    closed_date: Mapped[dt.date | None] = mapped_column(Date)
    close_reason: Mapped[str | None] = mapped_column(String(100))


class Followup(Base):
    __tablename__ = "followups"
    followup_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(40))
    disease: Mapped[str] = mapped_column(String(8))
    visit_date: Mapped[dt.date] = mapped_column(Date)
    method: Mapped[str | None] = mapped_column(String(10))
    sbp: Mapped[float | None] = mapped_column(Float)
    dbp: Mapped[float | None] = mapped_column(Float)
    fasting_glucose: Mapped[float | None] = mapped_column(Float)
    heart_rate: Mapped[float | None] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    height_cm: Mapped[float | None] = mapped_column(Float)
    adherence: Mapped[str | None] = mapped_column(String(15))
    adverse_reaction: Mapped[bool | None] = mapped_column(Boolean)
    symptoms: Mapped[str | None] = mapped_column(Text)
    classification: Mapped[str] = mapped_column(String(15))
    classification_source: Mapped[str] = mapped_column(String(10))  # source | computed
    referred: Mapped[bool | None] = mapped_column(Boolean)
    next_visit_date: Mapped[dt.date | None] = mapped_column(Date)
    staff_id: Mapped[str | None] = mapped_column(String(40))
    __table_args__ = (
        Index("ix_followups_resident_disease_date", "resident_id", "disease", "visit_date"),
    )


class Measurement(Base):
    __tablename__ = "measurements"
    measurement_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(40), index=True)
    measured_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))  # UTC
    measured_date: Mapped[dt.date] = mapped_column(Date, index=True)  # derived: local date
    device_id: Mapped[str | None] = mapped_column(String(60))
    facility_id: Mapped[str | None] = mapped_column(String(40))
    sbp: Mapped[float | None] = mapped_column(Float)
    dbp: Mapped[float | None] = mapped_column(Float)
    heart_rate: Mapped[float | None] = mapped_column(Float)
    glucose: Mapped[float | None] = mapped_column(Float)
    glucose_type: Mapped[str | None] = mapped_column(String(15))
    #: ``self``: entered by the resident at home (``store.resident_accounts.SELF_REPORTED``,
    #: migration ``0018``); NULL: taken by staff or a device.
    source: Mapped[str | None] = mapped_column(String(12))


class Claim(Base):
    __tablename__ = "claims"
    claim_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    resident_id: Mapped[str] = mapped_column(String(40), index=True)
    visit_date: Mapped[dt.date] = mapped_column(Date, index=True)
    discharge_date: Mapped[dt.date | None] = mapped_column(Date)
    facility_id: Mapped[str | None] = mapped_column(String(40))
    facility_name: Mapped[str | None] = mapped_column(String(200))
    in_county: Mapped[bool] = mapped_column(Boolean)  # derived: facility known to the county
    visit_type: Mapped[str] = mapped_column(String(20))
    icd10: Mapped[str | None] = mapped_column(String(10))
    total_cost: Mapped[float | None] = mapped_column(Float)
    fund_paid: Mapped[float | None] = mapped_column(Float)
    self_paid: Mapped[float | None] = mapped_column(Float)


class Population(Base):
    __tablename__ = "population"
    area_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    sex: Mapped[int] = mapped_column(Integer, primary_key=True)
    age_band: Mapped[str] = mapped_column(String(8), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class PopulationGrid(Base):
    """The gridded alternative: people counts at an H3 cell (resolution of the delivery)."""

    __tablename__ = "population_grid"
    h3: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[float] = mapped_column(Float)


class Mobility(Base):
    __tablename__ = "mobility"
    h3: Mapped[str] = mapped_column(String(16), primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    # "" when the row is plain heat; a cell when it is an origin–destination row.
    origin_h3: Mapped[str] = mapped_column(String(16), primary_key=True, default="")
    h3_res: Mapped[int] = mapped_column(Integer)  # derived
    count: Mapped[float] = mapped_column(Float)


class CaseReport(H3Mixin, Base):
    __tablename__ = "case_reports"
    report_id: Mapped[str] = mapped_column(String(60), primary_key=True)
    disease: Mapped[str] = mapped_column(String(12))
    onset_date: Mapped[dt.date] = mapped_column(Date, index=True)
    report_date: Mapped[dt.date | None] = mapped_column(Date)
    resident_id: Mapped[str | None] = mapped_column(String(40))
    area_code: Mapped[str | None] = mapped_column(String(12))
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    loc_precision: Mapped[str | None] = mapped_column(String(10))
    age: Mapped[int | None] = mapped_column(Integer)
    sex: Mapped[int | None] = mapped_column(Integer)
    geom = mapped_column(GeometryType("POINT"), nullable=True)


class Vaccination(Base):
    __tablename__ = "vaccinations"
    resident_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    vaccine: Mapped[str] = mapped_column(String(20), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)


class Road(Base):
    """A road line of ``roads.geojson`` or of an OpenStreetMap extract (``road_id`` = way id)."""

    __tablename__ = "roads"
    # BIGINT on PostgreSQL (OSM way ids pass 2**31); SQLite's INTEGER is 64-bit already.
    road_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    name: Mapped[str | None] = mapped_column(String(200))
    highway: Mapped[str | None] = mapped_column(String(30))
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    geom = mapped_column(GeometryType("LINESTRING"), nullable=True)


# ----------------------------------------------------------------------------------------
# Ingestion bookkeeping
# ----------------------------------------------------------------------------------------
class IngestBatch(Base):
    __tablename__ = "ingest_batches"
    batch_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    summary: Mapped[dict | None] = mapped_column(JSON)


class IngestFile(Base):
    """One delivered file, by content hash: a file already loaded is not loaded again."""

    __tablename__ = "ingest_files"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(30))
    file_name: Mapped[str] = mapped_column(Text)
    batch_id: Mapped[int] = mapped_column(Integer, ForeignKey("ingest_batches.batch_id"))
    status: Mapped[str] = mapped_column(String(10))  # loaded | rejected
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_loaded: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[dict | None] = mapped_column(JSON)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Quarantine(Base):
    """A row that could not be loaded, with where it came from and why."""

    __tablename__ = "quarantine"
    # BIGINT on PostgreSQL; INTEGER on SQLite, where only INTEGER PRIMARY KEY autoincrements.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    batch_id: Mapped[int] = mapped_column(Integer, index=True)
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    table_name: Mapped[str] = mapped_column(String(30), index=True)
    file_name: Mapped[str] = mapped_column(Text)
    row_number: Mapped[int] = mapped_column(Integer)  # 1-based data row (header is row 0)
    column_name: Mapped[str | None] = mapped_column(String(60))
    value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(30), index=True)
    detail: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict | None] = mapped_column(JSON)


#: Contract tables in load order (a table's foreign keys point only to earlier tables).
CONTRACT_TABLES: tuple[str, ...] = (
    "areas",
    "facilities",
    "teams",
    "staff",
    "grids",
    "residents",
    "chronic_registry",
    "followups",
    "measurements",
    "claims",
    "population",
    "population_grid",
    "mobility",
    "case_reports",
    "vaccinations",
    "roads",
)


class _Tables(dict[str, type[Base]]):
    """Mapped class of every table by name, including modules mapped after this one."""

    def __missing__(self, key: str) -> type[Base]:
        self.update({m.class_.__tablename__: m.class_ for m in Base.registry.mappers})
        if key not in self:
            raise KeyError(key)
        return dict.__getitem__(self, key)


#: Mapped class of every table, by table name.
TABLES: dict[str, type[Base]] = _Tables(
    {m.class_.__tablename__: m.class_ for m in Base.registry.mappers}
)
