"""The application factory.

``create_app(settings, engine)`` builds the FastAPI app: the store is opened (unless an
engine is handed in) and migrated when the app starts, and disposed of when it stops.
Errors of every kind leave as RFC 9457 problems (``service.errors``); the middlewares
(``service.middleware``) add the request id, the access log, the security headers, the
optional CORS and the body limit. Run it with ``uvicorn --factory service.app:create_app``
(and ``access_log=False``: uvicorn's own access log prints query strings).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio.to_thread
from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from starlette.middleware import Middleware

import store.accounts  # noqa: F401  (registers the account tables on Base)
from geo.errors import HealthmapError
from service.access_log import configure_access_log
from service.audit import AuditWriter
from service.caching import SharedAnswers
from service.client import HostCheckMiddleware, allowed_hosts
from service.counties import CountyDispatch, county_apps_factory
from service.errors import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_SCHEMA,
    install_error_handlers,
    problem_handler,
)
from service.interpreter import tuned
from service.jobs import JobRegistry
from service.live import LiveHub
from service.middleware import (
    BodyLimitMiddleware,
    CatchAllMiddleware,
    NulGuardMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
    basemap_origin,
    content_security_policy,
)
from service.outbox import OutboxWorker
from service.ratelimit import DEFAULT_BURST, DEFAULT_PER_MINUTE, TokenBucketLimiter
from service.reports import routes as report_routes
from service.routes import (
    admin,
    aggregates,
    auth,
    care,
    console,
    coverage,
    health,
    meta,
    operations,
    overview,
    pages,
    records,
    surveillance,
    tiles,
)
from service.routes import education as education_routes
from service.routes import live as live_routes
from service.routes import outbox as outbox_routes
from service.routes import province as province_routes
from service.routes import residents as resident_routes
from service.routes import terminals as terminal_routes
from service.scheduler import SchedulerLock, parse_daily_cron, run_as_leader, run_daily
from service.settings import AuthSettings, IngestSettings, Settings, load_settings
from service.splicer import Splicer
from service.tiles.cache import LRU
from service.worklists import WorklistCache
from store.counties import ensure_partition
from store.engine import MIGRATIONS, make_engine, migrate, normalise_url, reads_engine
from store.locks import StoreLock

logger = logging.getLogger("healthmap.service")

#: The shortest ``auth.secret`` production accepts (HS256 wants a 256-bit key).
MIN_SECRET_LENGTH = 32
#: Seconds to wait for PostgreSQL to accept a connection (so /readyz cannot hang).
PG_CONNECT_TIMEOUT = 10
#: Response bodies cached per worker (one unit's indicators is ~30 kB at county scale).
ANSWERS_CACHED = 4096
#: Derived lookups kept per app (a build, a township's units of a level: ~100 a data version).
LOOKUPS_CACHED = 1024
#: The tile routes' rate-limit budget, as a multiple of the API's (a map view fetches dozens).
TILE_BUDGET_FACTOR = 10

_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
#: Every operation documents its errors as problems (FastAPI's own 422 schema is not used).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "Client error (RFC 9457 problem)", "content": _PROBLEM_CONTENT},
    "5XX": {"description": "Server error (RFC 9457 problem)", "content": _PROBLEM_CONTENT},
}


class InsecureConfiguration(RuntimeError):
    """Production settings that must not be used (default or weak secrets)."""


def check_production(settings: Settings) -> None:
    """Raise :class:`InsecureConfiguration` if production mode uses demo secrets."""
    if settings.mode != "production":
        return
    problems = []
    if settings.auth.secret == AuthSettings.model_fields["secret"].default:
        problems.append("auth.secret is the demo default (set HEALTHMAP_AUTH__SECRET)")
    elif len(settings.auth.secret) < MIN_SECRET_LENGTH:
        problems.append(
            f"auth.secret has fewer than {MIN_SECRET_LENGTH} characters"
            " (set a long random HEALTHMAP_AUTH__SECRET)"
        )
    if settings.ingest.id_hash_key == IngestSettings.model_fields["id_hash_key"].default:
        problems.append(
            "ingest.id_hash_key is the demo default (set HEALTHMAP_INGEST__ID_HASH_KEY)"
        )
    key_secret = settings.terminals.key_secret
    if key_secret is not None and len(key_secret) < MIN_SECRET_LENGTH:
        problems.append(
            f"terminals.key_secret has fewer than {MIN_SECRET_LENGTH} characters"
            " (set a long random HEALTHMAP_TERMINALS__KEY_SECRET)"
        )
    if problems:
        raise InsecureConfiguration(
            "Refusing to start in production mode: " + "; ".join(problems) + "."
        )


@functools.cache
def schema_heads() -> frozenset[str]:
    """The head revision(s) of the store's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(ScriptDirectory.from_config(cfg).get_heads())


#: Store connections a worker keeps open, and how many more it may open at a peak.
POOL_SIZE, POOL_OVERFLOW = 25, 15


def _open_store(url: str) -> Engine:
    # Errors logged with their traceback must not carry statement parameters (names, ID
    # hashes, phones): SQLAlchemy puts them in exception messages unless told not to.
    kwargs: dict[str, Any] = {"hide_parameters": True}
    # Connections kept open: as many as requests a worker serves at once under load (its
    # thread pool runs up to 40). With SQLAlchemy's default of 5, every connection above
    # it was opened and closed per request (SQLite: connect and pragmas; PostgreSQL: a
    # backend start, several milliseconds).
    kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
    if make_url(normalise_url(url)).get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT}
    return make_engine(url, **kwargs)


def _app_version() -> str:
    try:
        return version("healthmap")
    except PackageNotFoundError:
        return "0.0.0"


class HealthmapAPI(FastAPI):
    """FastAPI with the problem schema in its OpenAPI components."""

    def openapi(self) -> dict[str, Any]:
        schema = super().openapi()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        return schema


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    settings
        Defaults to :func:`service.settings.load_settings` (the environment).
    engine
        An open store; by default one is created from ``settings.database_url`` at startup
        and disposed of at shutdown. Either way the schema is migrated at startup.

    Raises
    ------
    InsecureConfiguration
        In ``production`` mode with the default ``auth.secret`` or ``ingest.id_hash_key``.
    """
    settings = settings or load_settings()
    check_production(settings)
    start_counties = county_apps_factory(settings, create_app)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = engine if engine is not None else _open_store(settings.store_url)
        if engine is None and settings.county is not None:
            ensure_partition(settings.database_url, settings.county)  # its schema, on PostGIS
        scheduler: asyncio.Task[None] | None = None
        interpreter: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
        splicer: Splicer | None = None
        live: LiveHub | None = None
        outbox: OutboxWorker | None = None
        try:
            # Before any request: the service must never run on an older schema.
            migrate(store)
            app.state.engine = store
            # The same pool for reads that need no transaction (service.deps.get_read_session).
            app.state.reads = reads_engine(store)
            app.state.audit_writer = AuditWriter(store)
            app.state.jobs = JobRegistry(lock=StoreLock(store, "jobs"), engine=store)
            # Reports run beside ingests and builds (no jobs lock), recorded the same way.
            app.state.report_jobs = JobRegistry(engine=store)
            app.state.answers = SharedAnswers(ANSWERS_CACHED, store)
            # Small values a request derives from the store's data version (the current
            # build, a township's units): service.routes.aggregates.build_at, units_at.
            app.state.lookups = LRU(max_items=LOOKUPS_CACHED)
            # A splice's fresh entries in a child process (service.splicer).
            if Splicer.wanted(settings, store):
                splicer = Splicer(store, settings.rules, settings.risk_model_path)
            app.state.worklists = WorklistCache(
                store, settings.rules, settings.risk_model_path, fresh=splicer
            )
            if app.state.scheduler_enabled:
                scheduler = asyncio.create_task(_morning_lists(settings, store))
            # The live channel's dispatcher: one store query per process (service.live).
            live = app.state.live = LiveHub(store)
            live.start()
            # The webhook's deliveries: one thread per process (service.outbox).
            outbox = app.state.outbox = OutboxWorker(store, settings.outbox)
            outbox.start()
            # Everything imported so far lives as long as the process: keep it out of the
            # collector. Else every full collection walks its ~270,000 objects, a pause of
            # ~200 ms on the 2-core VM (the tail of tile and API latencies); after the
            # freeze a full collection sees only what requests made.
            gc.freeze()
            # A shorter switch interval, and full collections on a timer, not whenever
            # allocations add up: under the mixed load they came every ~15 s per worker,
            # each a 80-140 ms pause that found almost nothing (service.interpreter).
            interpreter = tuned(
                settings.service.switch_interval_ms, settings.service.full_gc_seconds
            )
            # The routes' blocking work runs in this many threads (anyio's default is 40).
            anyio.to_thread.current_default_thread_limiter().total_tokens = settings.service.threads
            # A province's root store: every registered county's own app beside this one
            # (service.counties); none for a single county.
            async with interpreter, start_counties(app, store) as county_apps:
                app.state.county_apps = county_apps
                yield
            app.state.county_apps = {}
        finally:
            if outbox is not None:
                await asyncio.to_thread(outbox.stop)  # may wait for a POST under way
            if live is not None:
                await live.stop()
            if scheduler is not None:
                scheduler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await scheduler
            app.state.jobs.shutdown()
            app.state.report_jobs.shutdown()
            app.state.audit_writer.close()
            if (worklists := getattr(app.state, "worklists", None)) is not None:
                worklists.close()  # the refreshes queued by the last writes
            if splicer is not None:
                splicer.close()
            if engine is None:
                store.dispose()

    origins = [o for o in (basemap_origin(settings.service.basemap_url),) if o]
    if settings.service.basemap_url and not origins:
        logger.warning("basemap_url cannot be expressed in the CSP; the basemap will be blocked")
    middleware = [
        # Outermost: a county's request is its county's app's, whole (service.counties).
        Middleware(
            CountyDispatch,
            audience=settings.auth.audience,
        ),
        Middleware(RequestContextMiddleware),
        Middleware(SecurityHeadersMiddleware, csp=content_security_policy(origins)),
        # Before anything reads the Host header to build a URL (service.client).
        Middleware(HostCheckMiddleware, allowed_hosts=allowed_hosts(settings.service)),
    ]
    if settings.service.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.service.cors_origins),
                # Tokens travel in the Authorization header, never in cookies.
                allow_credentials=False,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After"],
                max_age=600,
            )
        )
    middleware += [
        Middleware(CatchAllMiddleware),
        Middleware(BodyLimitMiddleware, max_bytes=settings.service.max_body_bytes),
        Middleware(NulGuardMiddleware),
    ]

    app = HealthmapAPI(
        title="healthmap",
        summary="Health map of a county: follow-up lists, indicators, hotspots, coverage.",
        version=_app_version(),
        lifespan=lifespan,
        docs_url=None,  # served by service.routes.meta with its own CSP
        redoc_url=None,
        openapi_url="/openapi.json",
        middleware=middleware,
        responses=PROBLEM_RESPONSES,
    )
    app.state.settings = settings
    configure_access_log(settings)  # in each worker: uvicorn's workers each create the app
    app.state.schema_heads = schema_heads()
    per_minute = getattr(settings.service, "rate_limit_per_minute", DEFAULT_PER_MINUTE)
    burst = getattr(settings.service, "rate_limit_burst", DEFAULT_BURST)
    app.state.rate_limiter = TokenBucketLimiter(per_minute=per_minute, burst=burst)
    app.state.tile_rate_limiter = TokenBucketLimiter(
        per_minute=per_minute * TILE_BUDGET_FACTOR, burst=burst * TILE_BUDGET_FACTOR
    )
    # Read once here so tests (and embedders) can switch them on the app before it starts.
    app.state.scheduler_enabled = bool(getattr(settings.service, "scheduler_enabled", True))
    app.state.emergency_webhook_url = getattr(settings.service, "emergency_webhook_url", None)
    if app.state.scheduler_enabled:
        parse_daily_cron(settings.service.pushlist_cron)  # refuse a bad expression at once
    # Every error the product raises on purpose: one handler, whose table
    # (service.errors.STATUS_CODES) gives the problem type of the error's class.
    app.add_exception_handler(HealthmapError, problem_handler)
    install_error_handlers(app)
    for module in (health, auth, admin, meta, overview, aggregates, care, records, operations):
        app.include_router(module.router)
    app.include_router(surveillance.router)
    app.include_router(console.router)
    app.include_router(coverage.router)
    app.include_router(report_routes.router)
    app.include_router(tiles.router)
    app.include_router(terminal_routes.router)
    app.include_router(live_routes.router)
    app.include_router(outbox_routes.router)
    app.include_router(education_routes.router)
    app.include_router(province_routes.router)
    app.include_router(resident_routes.router)
    # Last: the pages' catch-all routes must not shadow the API.
    app.include_router(pages.router)
    return app


async def _morning_lists(settings: Settings, store: Engine) -> None:
    """The scheduler task: every day at ``service.pushlist_cron``, the morning lists.

    In the one process of the service that holds the :class:`SchedulerLock` (with several
    uvicorn workers the others wait, and take over when it exits)."""
    from pipelines.pushlist import generate_push_lists

    def generate(day: dt.date) -> dict[str, Any]:
        return generate_push_lists(store, day, settings.rules, model_path=settings.risk_model_path)

    await run_as_leader(
        SchedulerLock(store),
        lambda: run_daily(settings.service.pushlist_cron, settings.rules.timezone, generate),
    )
