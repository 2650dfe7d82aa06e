"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 02:41:22.542480
"""

import sqlalchemy as sa
from alembic import op

from store.types import GeometryType

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


#: Spatial indexes (PostGIS only: the SQLite store keeps WKB and filters by lat/lng and H3).
SPATIAL_INDEXES = ("areas", "case_reports", "facilities", "grids", "residents", "roads")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "areas",
        sa.Column("area_code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("parent_code", sa.String(length=12), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("geom", GeometryType("GEOMETRY"), nullable=True),
        sa.PrimaryKeyConstraint("area_code", name=op.f("pk_areas")),
    )
    with op.batch_alter_table("areas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_areas_level"), ["level"], unique=False)
        batch_op.create_index(batch_op.f("ix_areas_parent_code"), ["parent_code"], unique=False)

    op.create_table(
        "case_reports",
        sa.Column("report_id", sa.String(length=60), nullable=False),
        sa.Column("disease", sa.String(length=12), nullable=False),
        sa.Column("onset_date", sa.Date(), nullable=False),
        sa.Column("report_date", sa.Date(), nullable=True),
        sa.Column("resident_id", sa.String(length=40), nullable=True),
        sa.Column("area_code", sa.String(length=12), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("loc_precision", sa.String(length=10), nullable=True),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("sex", sa.Integer(), nullable=True),
        sa.Column("geom", GeometryType("POINT"), nullable=True),
        sa.Column("h3_7", sa.String(length=16), nullable=True),
        sa.Column("h3_8", sa.String(length=16), nullable=True),
        sa.Column("h3_9", sa.String(length=16), nullable=True),
        sa.Column("h3_10", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_case_reports")),
    )
    with op.batch_alter_table("case_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_case_reports_onset_date"), ["onset_date"], unique=False
        )

    op.create_table(
        "chronic_registry",
        sa.Column("resident_id", sa.String(length=40), nullable=False),
        sa.Column("disease", sa.String(length=8), nullable=False),
        sa.Column("enrolled_date", sa.Date(), nullable=False),
        sa.Column("diagnosed_date", sa.Date(), nullable=True),
        sa.Column("team_id", sa.String(length=40), nullable=True),
        sa.Column("closed_date", sa.Date(), nullable=True),
        sa.Column("close_reason", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("resident_id", "disease", name=op.f("pk_chronic_registry")),
    )
    with op.batch_alter_table("chronic_registry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chronic_registry_team_id"), ["team_id"], unique=False)

    op.create_table(
        "claims",
        sa.Column("claim_id", sa.String(length=60), nullable=False),
        sa.Column("resident_id", sa.String(length=40), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("discharge_date", sa.Date(), nullable=True),
        sa.Column("facility_id", sa.String(length=40), nullable=True),
        sa.Column("facility_name", sa.String(length=200), nullable=True),
        sa.Column("in_county", sa.Boolean(), nullable=False),
        sa.Column("visit_type", sa.String(length=20), nullable=False),
        sa.Column("icd10", sa.String(length=10), nullable=True),
        sa.Column("total_cost", sa.Float(), nullable=True),
        sa.Column("fund_paid", sa.Float(), nullable=True),
        sa.Column("self_paid", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("pk_claims")),
    )
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claims_resident_id"), ["resident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_claims_visit_date"), ["visit_date"], unique=False)

    op.create_table(
        "facilities",
        sa.Column("facility_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("area_code", sa.String(length=12), nullable=False),
        sa.Column("town_code", sa.String(length=12), nullable=True),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("coord_sys", sa.String(length=8), nullable=True),
        sa.Column("parent_facility_id", sa.String(length=40), nullable=True),
        sa.Column("beds", sa.Integer(), nullable=True),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("geom", GeometryType("POINT"), nullable=True),
        sa.Column("h3_7", sa.String(length=16), nullable=True),
        sa.Column("h3_8", sa.String(length=16), nullable=True),
        sa.Column("h3_9", sa.String(length=16), nullable=True),
        sa.Column("h3_10", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("facility_id", name=op.f("pk_facilities")),
    )
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_facilities_area_code"), ["area_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_facilities_type"), ["type"], unique=False)

    op.create_table(
        "followups",
        sa.Column("followup_id", sa.String(length=40), nullable=False),
        sa.Column("resident_id", sa.String(length=40), nullable=False),
        sa.Column("disease", sa.String(length=8), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=True),
        sa.Column("sbp", sa.Float(), nullable=True),
        sa.Column("dbp", sa.Float(), nullable=True),
        sa.Column("fasting_glucose", sa.Float(), nullable=True),
        sa.Column("heart_rate", sa.Float(), nullable=True),
        sa.Column("weight_kg", sa.Float(), nullable=True),
        sa.Column("height_cm", sa.Float(), nullable=True),
        sa.Column("adherence", sa.String(length=15), nullable=True),
        sa.Column("adverse_reaction", sa.Boolean(), nullable=True),
        sa.Column("symptoms", sa.Text(), nullable=True),
        sa.Column("classification", sa.String(length=15), nullable=False),
        sa.Column("classification_source", sa.String(length=10), nullable=False),
        sa.Column("referred", sa.Boolean(), nullable=True),
        sa.Column("next_visit_date", sa.Date(), nullable=True),
        sa.Column("staff_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("followup_id", name=op.f("pk_followups")),
    )
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_followups_resident_disease_date",
            ["resident_id", "disease", "visit_date"],
            unique=False,
        )

    op.create_table(
        "grid_villages",
        sa.Column("grid_id", sa.String(length=40), nullable=False),
        sa.Column("area_code", sa.String(length=12), nullable=False),
        sa.PrimaryKeyConstraint("grid_id", "area_code", name=op.f("pk_grid_villages")),
    )
    with op.batch_alter_table("grid_villages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grid_villages_area_code"), ["area_code"], unique=False)

    op.create_table(
        "grids",
        sa.Column("grid_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("village_codes", sa.Text(), nullable=True),
        sa.Column("clinic_id", sa.String(length=40), nullable=True),
        sa.Column("team_id", sa.String(length=40), nullable=True),
        sa.Column("grid_worker_ids", sa.Text(), nullable=True),
        sa.Column("town_code", sa.String(length=12), nullable=True),
        sa.Column("geom", GeometryType("GEOMETRY"), nullable=True),
        sa.PrimaryKeyConstraint("grid_id", name=op.f("pk_grids")),
    )
    with op.batch_alter_table("grids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grids_team_id"), ["team_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grids_town_code"), ["town_code"], unique=False)

    op.create_table(
        "ingest_batches",
        sa.Column("batch_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_ingest_batches")),
    )
    op.create_table(
        "measurements",
        sa.Column("measurement_id", sa.String(length=60), nullable=False),
        sa.Column("resident_id", sa.String(length=40), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("measured_date", sa.Date(), nullable=False),
        sa.Column("device_id", sa.String(length=60), nullable=True),
        sa.Column("facility_id", sa.String(length=40), nullable=True),
        sa.Column("sbp", sa.Float(), nullable=True),
        sa.Column("dbp", sa.Float(), nullable=True),
        sa.Column("heart_rate", sa.Float(), nullable=True),
        sa.Column("glucose", sa.Float(), nullable=True),
        sa.Column("glucose_type", sa.String(length=15), nullable=True),
        sa.PrimaryKeyConstraint("measurement_id", name=op.f("pk_measurements")),
    )
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_measurements_measured_date"), ["measured_date"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_measurements_resident_id"), ["resident_id"], unique=False
        )

    op.create_table(
        "mobility",
        sa.Column("h3", sa.String(length=16), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin_h3", sa.String(length=16), nullable=False),
        sa.Column("h3_res", sa.Integer(), nullable=False),
        sa.Column("count", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("h3", "hour", "origin_h3", name=op.f("pk_mobility")),
    )
    op.create_table(
        "population",
        sa.Column("area_code", sa.String(length=12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sex", sa.Integer(), nullable=False),
        sa.Column("age_band", sa.String(length=8), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("area_code", "year", "sex", "age_band", name=op.f("pk_population")),
    )
    op.create_table(
        "population_grid",
        sa.Column("h3", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("h3", name=op.f("pk_population_grid")),
    )
    op.create_table(
        "quarantine",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("table_name", sa.String(length=30), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("column_name", sa.String(length=60), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quarantine_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_quarantine_file_sha256"), ["file_sha256"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_quarantine_reason"), ["reason"], unique=False)
        batch_op.create_index(batch_op.f("ix_quarantine_table_name"), ["table_name"], unique=False)

    op.create_table(
        "residents",
        sa.Column("resident_id", sa.String(length=40), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=True),
        sa.Column("id_masked", sa.String(length=18), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("sex", sa.Integer(), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("area_code", sa.String(length=12), nullable=False),
        sa.Column("town_code", sa.String(length=12), nullable=True),
        sa.Column("grid_id", sa.String(length=40), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("coord_sys", sa.String(length=8), nullable=True),
        sa.Column("loc_precision", sa.String(length=10), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("signed_team_id", sa.String(length=40), nullable=True),
        sa.Column("signed_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("geom", GeometryType("POINT"), nullable=True),
        sa.Column("h3_7", sa.String(length=16), nullable=True),
        sa.Column("h3_8", sa.String(length=16), nullable=True),
        sa.Column("h3_9", sa.String(length=16), nullable=True),
        sa.Column("h3_10", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("resident_id", name=op.f("pk_residents")),
    )
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_residents_area_code"), ["area_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_residents_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_residents_id_hash"), ["id_hash"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_residents_signed_team_id"), ["signed_team_id"], unique=False
        )

    op.create_table(
        "roads",
        sa.Column("road_id", sa.Integer(), nullable=False),
        sa.Column("highway", sa.String(length=30), nullable=True),
        sa.Column("speed_kmh", sa.Float(), nullable=True),
        sa.Column("geom", GeometryType("LINESTRING"), nullable=True),
        sa.PrimaryKeyConstraint("road_id", name=op.f("pk_roads")),
    )
    op.create_table(
        "staff",
        sa.Column("staff_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("facility_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("licensed", sa.Boolean(), nullable=True),
        sa.Column("team_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_staff")),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_facility_id"), ["facility_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_team_id"), ["team_id"], unique=False)

    op.create_table(
        "teams",
        sa.Column("team_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("facility_id", sa.String(length=40), nullable=False),
        sa.Column("leader_staff_id", sa.String(length=40), nullable=True),
        sa.Column("max_daily_visits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_teams")),
    )
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teams_facility_id"), ["facility_id"], unique=False)

    op.create_table(
        "vaccinations",
        sa.Column("resident_id", sa.String(length=40), nullable=False),
        sa.Column("vaccine", sa.String(length=20), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("resident_id", "vaccine", "date", name=op.f("pk_vaccinations")),
    )
    op.create_table(
        "ingest_files",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("table_name", sa.String(length=30), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_loaded", sa.Integer(), nullable=False),
        sa.Column("rows_updated", sa.Integer(), nullable=False),
        sa.Column("rows_quarantined", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingest_batches.batch_id"],
            name=op.f("fk_ingest_files_batch_id_ingest_batches"),
        ),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_ingest_files")),
    )
    if postgres:
        for table in SPATIAL_INDEXES:
            op.create_index(f"ix_{table}_geom", table, ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("ingest_files")
    op.drop_table("vaccinations")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teams_facility_id"))

    op.drop_table("teams")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_team_id"))
        batch_op.drop_index(batch_op.f("ix_staff_facility_id"))

    op.drop_table("staff")
    op.drop_table("roads")
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_residents_signed_team_id"))
        batch_op.drop_index(batch_op.f("ix_residents_id_hash"))
        batch_op.drop_index(batch_op.f("ix_residents_grid_id"))
        batch_op.drop_index(batch_op.f("ix_residents_area_code"))

    op.drop_table("residents")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantine_table_name"))
        batch_op.drop_index(batch_op.f("ix_quarantine_reason"))
        batch_op.drop_index(batch_op.f("ix_quarantine_file_sha256"))
        batch_op.drop_index(batch_op.f("ix_quarantine_batch_id"))

    op.drop_table("quarantine")
    op.drop_table("population_grid")
    op.drop_table("population")
    op.drop_table("mobility")
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_measurements_resident_id"))
        batch_op.drop_index(batch_op.f("ix_measurements_measured_date"))

    op.drop_table("measurements")
    op.drop_table("ingest_batches")
    with op.batch_alter_table("grids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grids_town_code"))
        batch_op.drop_index(batch_op.f("ix_grids_team_id"))

    op.drop_table("grids")
    with op.batch_alter_table("grid_villages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_villages_area_code"))

    op.drop_table("grid_villages")
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.drop_index("ix_followups_resident_disease_date")

    op.drop_table("followups")
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_facilities_type"))
        batch_op.drop_index(batch_op.f("ix_facilities_area_code"))

    op.drop_table("facilities")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claims_visit_date"))
        batch_op.drop_index(batch_op.f("ix_claims_resident_id"))

    op.drop_table("claims")
    with op.batch_alter_table("chronic_registry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chronic_registry_team_id"))

    op.drop_table("chronic_registry")
    with op.batch_alter_table("case_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_reports_onset_date"))

    op.drop_table("case_reports")
    with op.batch_alter_table("areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_areas_parent_code"))
        batch_op.drop_index(batch_op.f("ix_areas_level"))

    op.drop_table("areas")
