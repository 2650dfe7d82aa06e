"""Planners' coverage: town table, standards, underserved cells, siting, what-if.

Roles: planner, bureau, admin (``geo.vocabulary.PLANNING_ROLES``). Aggregates only: cell
and unit populations below ``settings.rules.indicators.suppression_k`` are withheld (``null`` with
its reason, ``geo.suppression``). The :class:`pipelines.coverage.CoverageResult` is
computed once per store data version and kept in memory with the tiles'
(:func:`service.tiles.sources.coverage.coverage_result`; the what-if needs its matrix).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends
from sqlalchemy import Engine

from geo.coverage import what_if
from geo.errors import NotFoundError
from geo.suppression import observed_count_reason
from geo.vocabulary import PLANNING_ROLES
from pipelines.coverage import CoverageResult
from service.auth import Principal
from service.deps import EngineDep, SettingsDep, require_roles
from service.errors import problem_doc
from service.schemas.common import MAX_LIMIT, limit_query
from service.schemas.coverage import CoverageRows, SitingOut, WhatIfIn, WhatIfOut
from service.settings import Settings
from service.tiles.sources.coverage import coverage_result

PlanningUser = Annotated[Principal, Depends(require_roles(*PLANNING_ROLES))]

router = APIRouter(
    prefix="/api/v1/coverage",
    tags=["coverage"],
    responses={
        403: problem_doc("Coverage is for planners, the bureau and admin."),
        404: problem_doc("What-if: a facility to close that is not open or not a clinic/HC."),
    },
)


def _result(engine: Engine, settings: Settings) -> CoverageResult:
    """The cached CoverageResult of the current data version (shared with the tiles)."""
    return coverage_result(engine, settings.rules.coverage)


def _rows(frame: pd.DataFrame, k: int, pop_col: str = "population") -> list[dict[str, Any]]:
    """JSON rows; units with fewer than ``k`` people have their counts withheld."""
    out = []
    for row in frame.to_dict(orient="records"):
        clean: dict[str, Any] = {
            str(key): (None if isinstance(v, float) and not math.isfinite(v) else v)
            for key, v in row.items()
            if key != "geometry"
        }
        reason = observed_count_reason(clean.get(pop_col), k) if pop_col in clean else None
        if reason:
            for key in list(clean):
                if key == pop_col or key.startswith(("cov_", "covered_", "newly_")):
                    clean[key] = None
            clean["suppression_reason"] = reason
        out.append(clean)
    return out


@router.get(
    "/towns",
    summary="Coverage, supply and 2SFCA per town and the county",
    response_model=CoverageRows,
)
def towns(user: PlanningUser, engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    """The town table (RULES.md "Coverage and access") and the computation's meta."""
    r = _result(engine, settings)
    meta = {k: v for k, v in r.meta.items() if k != "store_version"}
    return {"items": _rows(r.towns, settings.rules.indicators.suppression_k), "meta": meta}


@router.get(
    "/standards",
    summary="Planning standards per town and county: met or gap",
    response_model=CoverageRows,
)
def standards(user: PlanningUser, engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    """One row per unit and standard (RULES.md "Planning standards")."""
    r = _result(engine, settings)
    return {"items": _rows(r.standards, settings.rules.indicators.suppression_k, pop_col="-")}


@router.get(
    "/underserved",
    summary="Cells beyond the 15-minute walk, most people first",
    response_model=CoverageRows,
)
def underserved(
    user: PlanningUser,
    engine: EngineDep,
    settings: SettingsDep,
    limit: Annotated[int, limit_query(MAX_LIMIT)] = 200,
) -> dict[str, Any]:
    """Underserved H3 cells (population withheld below the small-number threshold)."""
    r = _result(engine, settings)
    return {"items": _rows(r.underserved.head(limit), settings.rules.indicators.suppression_k)}


@router.get(
    "/siting",
    summary="MCLP new village clinics and the p-median sub-centre",
    response_model=SitingOut,
)
def siting(user: PlanningUser, engine: EngineDep, settings: SettingsDep) -> dict[str, Any]:
    """Chosen sites, the population newly covered and before/after coverage per town."""
    r = _result(engine, settings)
    k = settings.rules.indicators.suppression_k
    sites = r.siting["mclp_sites"]
    return {
        "sites": _rows(sites, k, pop_col="newly_covered"),
        "newly_covered": sites.attrs.get("newly_covered", 0.0),
        "towns": _rows(r.siting["mclp_towns"], k),
        "sub_centre": _rows(r.siting["pmedian"], k, pop_col="-"),
    }


@router.post(
    "/what-if",
    summary="Coverage and town table with facilities added or closed",
    response_model=WhatIfOut,
)
def post_what_if(
    body: WhatIfIn, user: PlanningUser, engine: EngineDep, settings: SettingsDep
) -> dict[str, Any]:
    """Recompute the service-circle coverage (one column per added facility)."""
    r = _result(engine, settings)
    unknown = sorted(set(body.close) - set(r.model.facilities["facility_id"]))
    if unknown:
        raise NotFoundError(f"no open facility of the coverage groups: {', '.join(unknown)}")
    base = pd.DataFrame(r.cells.drop(columns="geometry"))
    w = what_if(r.model, base, add=[a.model_dump() for a in body.add], close=body.close)
    k = settings.rules.indicators.suppression_k
    return {"county": w.county, "towns": _rows(w.towns, k)}
