"""Probes: ``/healthz`` (the process answers) and ``/readyz`` (the store is usable)."""

from __future__ import annotations

import logging
from typing import Any

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Request
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from service.deps import EngineDep
from service.errors import ServiceUnavailable

router = APIRouter(tags=["health"])
logger = logging.getLogger("healthmap.service")


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests; touches nothing else."""
    return {"status": "ok"}


@router.get("/readyz", summary="The store is reachable and migrated")
def readyz(request: Request, engine: EngineDep) -> dict[str, Any]:
    """200 when the store answers and its schema is at the migrations' head, else 503."""
    heads: frozenset[str] = request.app.state.schema_heads
    current = store_revisions(engine)
    if current != heads:
        raise ServiceUnavailable(
            f"The store's schema is at {sorted(current) or 'nothing'}, the service needs"
            f" {sorted(heads)}: run the migrations."
        )
    return {"status": "ready", "schema": sorted(current)}


def store_revisions(engine: Engine) -> frozenset[str]:
    """The store's Alembic revision(s); :class:`ServiceUnavailable` when unreachable."""
    try:
        with engine.connect() as conn:
            return frozenset(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:
        # The reason goes to the log only: it may name hosts and users.
        logger.warning("readiness: store unreachable: %s", type(exc).__name__)
        raise ServiceUnavailable("The store is unreachable.") from None
