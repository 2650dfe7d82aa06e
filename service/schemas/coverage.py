"""Shapes of the planners' coverage endpoints (``service/routes/coverage.py``).

Rows keep the column names of :class:`pipelines.coverage.CoverageResult` (``docs/coverage.md``):
``cov_{group}_{mode}``, ``share_{group}_{mode}`` and so on, so their keys are listed
there rather than as fixed fields here. Populations below the small-number threshold are
``null`` with a ``suppression_reason``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CoverageRows(BaseModel):
    """Rows of one coverage table, and for the town table the computation's meta."""

    items: list[dict[str, Any]]
    meta: dict[str, Any] | None = Field(
        None, description="Data date, travel model, thresholds, standards' sources."
    )


class SitingOut(BaseModel):
    """MCLP new village clinics and the p-median county sub-centre."""

    sites: list[dict[str, Any]] = Field(description="Chosen sites, most newly covered first.")
    newly_covered: float = Field(description="People newly within the walking circle.")
    towns: list[dict[str, Any]] = Field(description="Covered before / after per town.")
    sub_centre: list[dict[str, Any]] = Field(description="The chosen township HC.")


class AddFacility(BaseModel):
    """A facility placed on the map."""

    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    group: str = Field("village_clinic", pattern="^(village_clinic|township_hc)$")


class WhatIfIn(BaseModel):
    """Facilities to add and facility_ids to close (relative to the data)."""

    add: list[AddFacility] = Field(default_factory=list, max_length=50)
    close: list[str] = Field(default_factory=list, max_length=50)


class WhatIfOut(BaseModel):
    """Coverage after the change: the county's totals and the town table."""

    county: dict[str, float] = Field(
        description="population, cov_{group}_{mode} and cov_{group}_{mode}_before."
    )
    towns: list[dict[str, Any]]
