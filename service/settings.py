"""One settings object, sections per concern, read from the environment only when asked.

Every field is documented (``docs/settings.md`` is checked against this module by a test).
Environment variables are ``HEALTHMAP_<FIELD>`` for top-level fields and
``HEALTHMAP_<SECTION>__<FIELD>`` for nested ones (e.g. ``HEALTHMAP_AUTH__SECRET``);
``HEALTHMAP_DATABASE_URL`` chooses the store.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.rules import RulesConfig
from pipelines.ingest.settings import IngestSettings
from store.counties import county_code12, county_url

#: The store's file name inside ``data_dir`` (the default ``database_url``).
STORE_FILE = "healthmap.db"
#: A source checkout: this module's repository (``make demo`` keeps its files in ``var/``).
_CHECKOUT = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    """Where healthmap keeps its files when ``HEALTHMAP_DATA_DIR`` is not set.

    Never the current folder: a command run from anywhere finds the same store. In a
    source checkout (``pyproject.toml`` beside the packages: ``make demo``, the tests) it
    is the checkout's ``var/``; an installed package uses ``$XDG_DATA_HOME/healthmap``
    (``~/.local/share/healthmap``). Called when the settings are made, not at import.
    """
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "service").is_dir():
        return _CHECKOUT / "var"
    import os

    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "healthmap"


def sqlite_url(data_dir: Path) -> str:
    """The default store URL: ``sqlite:///<data_dir>/healthmap.db`` (an absolute path)."""
    return f"sqlite:///{Path(data_dir).expanduser().resolve() / STORE_FILE}"


#: For documentation only: the default store URL is made from ``data_dir`` (sqlite_url).
DEFAULT_DATABASE_URL = "sqlite:///<data_dir>/healthmap.db"


class AuthSettings(BaseModel):
    """Authentication of the service."""

    model_config = ConfigDict(frozen=True)

    secret: str = Field("change-me-demo-secret", description="JWT signing secret.")
    audience: str = Field(
        "healthmap",
        description="The tokens' audience (`aud`). A county partition's service uses"
        " `healthmap:<county code>` and a key derived from `secret` and the county"
        " (Settings.token_auth), so one county's tokens are refused by another's.",
    )
    access_minutes: int = Field(15, description="Lifetime of an access token.")
    refresh_minutes: int = Field(60 * 12, description="Lifetime of a refresh token.")
    max_failed_logins: int = Field(5, description="Failed logins before the back-off starts.")
    lockout_minutes: int = Field(15, description="How long a locked account waits.")
    min_password_length: int = Field(10, description="Shortest accepted password.")
    address_free_failures: int = Field(
        10, ge=1, description="Failed logins from one address (per window) before its back-off."
    )
    address_backoff_seconds: float = Field(
        1.0, gt=0, description="First back-off of an address; doubles with each failure."
    )
    address_backoff_max_seconds: float = Field(
        900.0, gt=0, description="Longest back-off of an address after one failure."
    )
    address_window_minutes: int = Field(
        60, ge=1, description="An address's failure count starts again this long after its first."
    )


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
    threads: int = Field(
        8,
        ge=1,
        description="Threads per worker process that run the routes' blocking work (anyio's"
        " default is 40); past them a request waits its turn instead of contending for the"
        " interpreter lock.",
    )
    splice_process: bool = Field(
        True,
        description="Compute the entries a list splice needs after a visit in a child"
        " process of each worker (its own interpreter lock); false = in the worker (as a"
        " province's county apps always do).",
    )
    switch_interval_ms: float = Field(
        0.5,
        ge=0,
        description="Milliseconds a worker's thread may hold the interpreter lock while"
        " another waits for it (Python's default is 5); 0 = Python's own.",
    )
    full_gc_seconds: float = Field(
        600.0,
        ge=0,
        description="Seconds between a worker's full garbage collections, run on a timer"
        " instead of by Python's allocation counts (a full collection pauses the worker"
        " ~0.1 s); 0 = Python's own schedule.",
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
        description="POST new emergency readings here (JSON, ids and values only) through the"
        " outbox: retried with back-off, kept across restarts, once per reading (outbox.*).",
    )
    rate_limit_per_minute: int = Field(
        300,
        description="Requests a user may make per minute (token-bucket refill); 0 = off.",
    )
    rate_limit_burst: int = Field(
        60, description="Requests a user may make at once after a pause (bucket size)."
    )
    access_log: bool = Field(
        True, description="Write the JSON access log (stderr and access_log_file)."
    )
    access_log_file: str = Field(
        "access.log",
        description="Access-log file; relative paths are under data_dir; empty = stderr only.",
    )
    access_log_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Size at which the access-log file is rotated."
    )
    access_log_backups: int = Field(
        10, ge=0, description="Rotated access-log files kept (access.log.1 … .N)."
    )
    allowed_hosts: tuple[str, ...] = Field(
        (),
        description="Host names the service answers to (`Host` header; `*.example.org`"
        " matches subdomains, `*` turns the check off); empty = the bind host, localhost and"
        " 127.0.0.1. Any other Host gets a 400.",
    )
    public_url: str | None = Field(
        None,
        description="Public base URL (e.g. `https://map.example.org/healthmap`) of the"
        " absolute URLs the service writes (TileJSON tile URLs); none = the request's own,"
        " with its checked Host.",
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="Reverse proxies (IP addresses or networks) whose `X-Forwarded-For` is"
        " believed; empty = none: the TCP peer is the client (docs/security.md).",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            ipaddress.ip_network(entry.strip(), strict=False)  # ValueError names the entry
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            wild = "*" in pattern[1:] or (pattern.startswith("*") and not pattern.startswith("*."))
            if wild and pattern != "*":
                raise ValueError(f"{pattern!r}: a wildcard is `*.example.org` or `*`")
        return value


class TerminalSettings(BaseModel):
    """The smart measuring terminals (docs/terminals.md)."""

    model_config = ConfigDict(frozen=True)

    key_secret: str | None = Field(
        None,
        description="Master secret of the terminals' device keys and the residents' card"
        " tokens (HMAC-SHA256; no key is stored); none = derived from auth.secret (then a new"
        " auth.secret changes every key and card: set this in production).",
    )
    signature_window_seconds: int = Field(
        300,
        ge=1,
        description="A signed request's X-Terminal-Timestamp may be this far from the server"
        " clock (else 401); nonces are remembered this long (a replay is 401).",
    )
    max_future_seconds: int = Field(
        600,
        ge=0,
        description="A reading dated more than this ahead of the server clock is quarantined"
        " (`future_timestamp`).",
    )
    max_age_days: int = Field(
        30,
        ge=1,
        description="A reading older than this is quarantined (`too_old`); older readings of"
        " a device long offline come in through a delivery (docs/data-contract.md).",
    )


class OutboxSettings(BaseModel):
    """Delivery of the outbox: the emergency webhook's calls (docs/api.md, "The outbox")."""

    model_config = ConfigDict(frozen=True)

    poll_seconds: float = Field(
        0.5,
        gt=0,
        le=60,
        description="How often each worker process looks for due outbox messages (a reading"
        " recorded by the same process wakes it at once).",
    )
    timeout_seconds: float = Field(
        2.0, gt=0, le=60, description="Connect and read timeout of one webhook POST."
    )
    max_attempts: int = Field(
        20,
        ge=1,
        description="Attempts before a message is `failed` (an admin can re-queue it); the"
        " default back-off spends about an hour on them.",
    )
    backoff_base_seconds: float = Field(
        1.0,
        gt=0,
        description="Wait after the first failed attempt; doubles with each further failure"
        " (±20 % jitter).",
    )
    backoff_cap_seconds: float = Field(
        300.0, gt=0, description="Longest wait between two attempts."
    )
    lease_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a claimed message is reserved for the worker delivering it; a"
        " worker killed mid-delivery leaves it to the others after this. More than"
        " 3 × timeout_seconds.",
    )

    @model_validator(mode="after")
    def _lease_outlives_a_post(self) -> OutboxSettings:
        # A POST may take up to ~3 timeouts (connect, write, read): the lease must cover it,
        # or a second worker could deliver the same message while the first still waits.
        if self.lease_seconds <= 3 * self.timeout_seconds:
            raise ValueError(
                f"outbox.lease_seconds ({self.lease_seconds}) must exceed 3 ×"
                f" outbox.timeout_seconds ({self.timeout_seconds}); raise the lease"
            )
        return self


class ResidentSettings(BaseModel):
    """Residents' own page ``/r/``: activation, PIN lock-out, what it shows (docs/residents.md)."""

    model_config = ConfigDict(frozen=True)

    activation_days: int = Field(
        14,
        ge=1,
        le=365,
        description="An activation code a doctor issues expires after this many days (then"
        " the doctor issues a new one).",
    )
    max_failed_pins: int = Field(
        5,
        ge=1,
        le=20,
        description="Wrong PINs in a row before a resident's account locks; only the family"
        " doctor's reissue (a new activation code) unlocks it.",
    )
    nearest_clinics: int = Field(
        3, ge=1, le=20, description="How many of the nearest open facilities a resident sees."
    )
    trend_days: int = Field(
        365,
        ge=7,
        le=3650,
        description="Default window (days up to today) of a resident's blood-pressure and"
        " glucose trend.",
    )
    access_log_days: int = Field(
        365,
        ge=1,
        le=3650,
        description='How far back a resident\'s "who read my record" list goes.',
    )
    team_phones: dict[str, str] = Field(
        {},
        description="Phone number of each family-doctor team, by team_id (the data contract"
        " has none); a team without one shows the hotline.",
    )
    hotline: str = Field(
        "12320",
        description="Number a resident sees when their team has no phone in team_phones"
        " (default: the national health hotline).",
    )


class Settings(BaseSettings):
    """Everything configurable in healthmap."""

    model_config = SettingsConfigDict(
        env_prefix="HEALTHMAP_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL of the store; unset = the SQLite file `healthmap.db` in"
        " data_dir (absolute: the same store from any folder).",
    )
    county: str | None = Field(
        None,
        description="The county partition of the store this command or service works in"
        " (a province deployment, docs/province.md), by its 6-digit code; unset = the"
        " root store: a single county's store, or the province's registry and published"
        " aggregates.",
    )
    mode: Literal["demo", "production"] = Field(
        "demo", description="`production` refuses to start with default secrets."
    )
    data_dir: Path = Field(
        Path("<checkout>/var or ~/.local/share/healthmap"),
        description="Where healthmap keeps its files (the default store, the risk model,"
        " uploads, logs): a source checkout's `var/`, else `$XDG_DATA_HOME/healthmap`;"
        " never the current folder. `healthmap settings` prints it.",
    )
    ingest: IngestSettings = IngestSettings()
    auth: AuthSettings = AuthSettings()
    service: ServiceSettings = ServiceSettings()
    rules: RulesConfig = RulesConfig()
    terminals: TerminalSettings = TerminalSettings()
    outbox: OutboxSettings = OutboxSettings()
    residents: ResidentSettings = ResidentSettings()

    @model_validator(mode="before")
    @classmethod
    def _locate_store(cls, data: object) -> object:
        # The data directory is resolved once, here; the default store lives in it.
        if not isinstance(data, dict):
            return data
        data = dict(data)
        given = data.get("data_dir")
        if given in (None, "", cls.model_fields["data_dir"].default):
            data["data_dir"] = default_data_dir()
        data["data_dir"] = Path(data["data_dir"]).expanduser()
        if data.get("database_url") in (None, "", DEFAULT_DATABASE_URL):
            data["database_url"] = sqlite_url(data["data_dir"])
        return data

    @field_validator("county")
    @classmethod
    def _county_code(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        return county_code12(str(value))[:6]

    @property
    def store_url(self) -> str:
        """The URL of the store this process works in: the county's partition of
        ``database_url`` when ``county`` is set (store.counties), else ``database_url``."""
        if self.county is None:
            return self.database_url
        return county_url(self.database_url, self.county)

    @property
    def risk_model_path(self) -> Path:
        """The risk model of this store's county (each county trains its own)."""
        name = "risk_model.joblib" if self.county is None else f"risk_model.{self.county}.joblib"
        return self.data_dir / name

    @property
    def token_auth(self) -> AuthSettings:
        """``auth`` as this store's tokens are signed and checked: in a county partition
        with a key derived from ``auth.secret`` and the county, and the audience
        ``healthmap:<county>``; the root store's tokens as configured."""
        if self.county is None:
            return self.auth
        return county_auth(self.auth, self.county)

    def for_county(self, county: str | None) -> Settings:
        """These settings for county ``county``'s partition (None: the root store)."""
        return self.model_copy(update={"county": self._county_code(county)})


@functools.lru_cache(maxsize=256)
def county_auth(auth: AuthSettings, county: str) -> AuthSettings:
    """``auth`` for county ``county``'s tokens (:attr:`Settings.token_auth`), made once per
    county: every request of a county's app checks its token with it."""
    key = hmac.new(auth.secret.encode(), f"county:{county}".encode(), hashlib.sha256)
    return auth.model_copy(
        update={"secret": key.hexdigest(), "audience": f"{auth.audience}:{county}"}
    )


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
