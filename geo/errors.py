"""The product's errors, defined below HTTP so every layer raises the same ones.

The domain, the store and the pipelines raise these; the service maps each class to its
problem+json status in one table (``service.errors.STATUS_CODES``, after tipg's
``DEFAULT_STATUS_CODES``) and the command line prints their message. A subclass is
matched by its nearest mapped ancestor, so a new error needs no new handler.

Each error also subclasses the builtin it refines (``LookupError``, ``ValueError``), so
callers that only know Python's exceptions keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class HealthmapError(Exception):
    """Base of every error the product raises on purpose.

    Parameters
    ----------
    detail : str, optional
        What went wrong and, where possible, how to fix it, for the person who asked.
        Never personal data (it reaches clients and logs).
    extra : mapping, optional
        Machine-readable members (problem+json extension members over HTTP).
    """

    def __init__(self, detail: str | None = None, *, extra: Mapping[str, Any] | None = None):
        super().__init__(detail or self.__class__.__doc__ or self.__class__.__name__)
        self.detail = detail
        self.extra = dict(extra or {})


class NotFoundError(HealthmapError, LookupError):
    """Something asked for does not exist (or lies outside the caller's scope)."""


class NoBuildError(NotFoundError):
    """No build has been made current yet: run ``healthmap build`` first."""


class PeriodNotBuiltError(NotFoundError):
    """The period asked for is not one the current build computed."""


class UnknownTeamError(NotFoundError):
    """No family-doctor team has this id."""


class UnknownLayerError(NotFoundError):
    """No map layer has this name."""


class InvalidInputError(HealthmapError, ValueError):
    """A value that is well-formed but makes no sense (an unknown level, a bad range)."""


class BadParameterError(HealthmapError, ValueError):
    """A request that cannot be served as asked (a parameter the thing does not take)."""


class ConflictError(HealthmapError):
    """The request conflicts with what exists (a name already taken, a stale version)."""


class UnavailableError(HealthmapError):
    """The store cannot be reached, or its schema is behind the code; try again later."""
