"""One settings object, sections per concern, read from the environment only when asked.

Every field is documented (``docs/settings.md`` is checked against this module by a test).
Environment variables are ``HEALTHMAP_<FIELD>`` for top-level fields and
``HEALTHMAP_<SECTION>__<FIELD>`` for nested ones (e.g. ``HEALTHMAP_AUTH__SECRET``);
``HEALTHMAP_DATABASE_URL`` chooses the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.rules import RulesConfig

DEFAULT_DATABASE_URL = "sqlite:///var/healthmap.db"


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


class AuthSettings(BaseModel):
    """Authentication of the service."""

    model_config = ConfigDict(frozen=True)

    secret: str = Field("change-me-demo-secret", description="JWT signing secret.")
    access_minutes: int = Field(15, description="Lifetime of an access token.")
    refresh_minutes: int = Field(60 * 12, description="Lifetime of a refresh token.")
    max_failed_logins: int = Field(5, description="Failed logins before the back-off starts.")
    lockout_minutes: int = Field(15, description="How long a locked account waits.")


class ServiceSettings(BaseModel):
    """The HTTP service."""

    model_config = ConfigDict(frozen=True)

    host: str = Field("127.0.0.1", description="Address `healthmap serve` binds to.")
    port: int = Field(8000, description="Port `healthmap serve` binds to.")
    cors_origins: tuple[str, ...] = Field((), description="Allowed CORS origins; empty = CORS off.")
    basemap_url: str | None = Field(
        None, description="Optional XYZ basemap URL template; none = county boundaries only."
    )
    basemap_crs: Literal["wgs84", "gcj02"] = Field(
        "wgs84", description="Datum of the basemap tiles (Tianditu: wgs84; Amap: gcj02)."
    )
    max_body_bytes: int = Field(20 * 1024 * 1024, description="Largest accepted request body.")
    pushlist_cron: str = Field("0 6 * * *", description="When the morning lists are generated.")


class Settings(BaseSettings):
    """Everything configurable in healthmap."""

    model_config = SettingsConfigDict(
        env_prefix="HEALTHMAP_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    database_url: str = Field(DEFAULT_DATABASE_URL, description="SQLAlchemy URL of the store.")
    mode: Literal["demo", "production"] = Field(
        "demo", description="`production` refuses to start with default secrets."
    )
    data_dir: Path = Field(Path("var"), description="Where the demo keeps files (store, caches).")
    ingest: IngestSettings = IngestSettings()
    auth: AuthSettings = AuthSettings()
    service: ServiceSettings = ServiceSettings()
    rules: RulesConfig = RulesConfig()


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and ``.env``), with explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
