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
    min_password_length: int = Field(10, description="Shortest accepted password.")


class ServiceSettings(BaseModel):
    """The HTTP service."""

    model_config = ConfigDict(frozen=True)

    host: str = Field("127.0.0.1", description="Address `healthmap serve` binds to.")
    port: int = Field(8000, description="Port `healthmap serve` binds to.")
    workers: int = Field(
        2,
        ge=1,
        description="Processes `healthmap serve` runs (uvicorn workers); 1 = one process.",
    )
    cors_origins: tuple[str, ...] = Field((), description="Allowed CORS origins; empty = CORS off.")
    basemap_url: str | None = Field(
        None, description="Optional XYZ basemap URL template; none = county boundaries only."
    )
    basemap_crs: Literal["wgs84", "gcj02"] = Field(
        "wgs84", description="Datum of the basemap tiles (Tianditu: wgs84; Amap: gcj02)."
    )
    max_body_bytes: int = Field(20 * 1024 * 1024, description="Largest accepted request body.")
    pushlist_cron: str = Field("0 6 * * *", description="When the morning lists are generated.")
    scheduler_enabled: bool = Field(
        True, description="Generate the morning lists in-process at pushlist_cron."
    )
    emergency_webhook_url: str | None = Field(
        None,
        description="POST new emergency readings here (JSON, ids and values only, 2 s timeout).",
    )
    rate_limit_per_minute: int = Field(
        300,
        description="Requests a user may make per minute (token-bucket refill); 0 = off.",
    )
    rate_limit_burst: int = Field(
        60, description="Requests a user may make at once after a pause (bucket size)."
    )


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


def _walk(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, object, str]]:
    rows: list[tuple[str, str, object, str]] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        dotted = f"{prefix}{name}"
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows += _walk(ann, f"{dotted}.")
            continue
        env = "HEALTHMAP_" + dotted.upper().replace(".", "__")
        default = field.default.value if hasattr(field.default, "value") else field.default
        rows.append((dotted, env, default, field.description or ""))
    return rows


def settings_reference() -> str:
    """Markdown reference of every setting (``docs/settings.md`` is this, checked by a test)."""
    lines = [
        "# Settings",
        "",
        "Every setting of healthmap, its environment variable, default and meaning. Nested",
        "settings use `__` between levels (`HEALTHMAP_RULES__TARGETS__HTN_SBP_BELOW=135`);",
        "lists, tuples and dicts take JSON. The domain defaults are exactly those of",
        "`shared/RULES.md`. Generated by `healthmap settings --markdown`; a test keeps",
        "this page and the code in step.",
        "",
        "| setting | environment variable | default | meaning |",
        "|---|---|---|---|",
    ]
    for dotted, env, default, description in _walk(Settings):
        shown = "—" if default is None else f"`{default}`"
        lines.append(f"| `{dotted}` | `{env}` | {shown} | {description} |")
    return "\n".join(lines) + "\n"
