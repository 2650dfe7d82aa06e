"""How deliveries are read and validated: the ingestion's section of the settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class IngestSettings(BaseModel):
    """How deliveries are read and validated."""

    model_config = ConfigDict(frozen=True)

    alias_file: Path | None = Field(
        None, description="Extra header aliases (JSON: {table: {alias: column}}), no code change."
    )
    outside_county_km: float = Field(
        5.0, description="Coordinates farther than this outside the county are quarantined."
    )
    id_hash_key: str = Field(
        "healthmap-demo-id-key",
        description="Key of the HMAC that replaces ID numbers (身份证号) in the store.",
    )
    chunk_rows: int = Field(200_000, description="Rows read and validated at a time.")
    h3_resolutions: tuple[int, ...] = Field(
        (7, 8, 9, 10), description="H3 resolutions stored for every point."
    )
