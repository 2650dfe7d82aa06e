"""Request and response bodies of the ``/api/v1`` endpoints (pydantic, with examples).

The models are the API's contract: ``/openapi.json`` is generated from them, and the
schemathesis test checks every response against it. One module per concern:

* :mod:`~service.schemas.common`: base models, identifiers, the enums (the domain's
  vocabulary), the page envelope :class:`Page` and :func:`fill_page`;
* :mod:`~service.schemas.meta`: ``/meta`` and search;
* :mod:`~service.schemas.aggregates`: indicators, health index, hotspots, burden;
* :mod:`~service.schemas.care`: push lists, routes, runs, dismissals;
* :mod:`~service.schemas.records`: follow-ups, readings, a patient's record;
* :mod:`~service.schemas.surveillance`: alerts, risk cells, vaccination targets;
* :mod:`~service.schemas.admin`: jobs and accounts.

The OpenAPI examples are package data: ``examples/<Model>.json``.
"""

from __future__ import annotations

from service.schemas.admin import (
    JobKind,
    JobList,
    JobOut,
    JobStatus,
    RoleIn,
    UserIn,
    UserList,
    UserOut,
)
from service.schemas.aggregates import (
    BurdenList,
    BurdenRowOut,
    FeatureCollection,
    HealthIndexPage,
    HealthIndexRow,
    HotspotList,
    HotspotRow,
    IndicatorPage,
    IndicatorRow,
    TrendPoint,
    UnitDetail,
    UnitIndicator,
)
from service.schemas.care import (
    DismissalOut,
    DismissIn,
    PushList,
    PushListEntryOut,
    PushListRunOut,
    PushListRuns,
    RouteLeg,
    RouteOut,
    RouteStop,
)
from service.schemas.common import (
    Colour,
    Disease,
    HotspotLevel,
    Id40,
    Id60,
    Level,
    Page,
    Role,
    TaskCode,
    fill_page,
)
from service.schemas.meta import (
    CallerScope,
    IndicatorInfo,
    LayerInfo,
    Meta,
    SearchHit,
    SearchResult,
)
from service.schemas.records import (
    MAX_MEASUREMENTS,
    Adherence,
    Classification,
    FollowupIn,
    FollowupOut,
    GlucoseType,
    MeasurementBody,
    MeasurementIn,
    MeasurementOut,
    MeasurementResult,
    MeasurementsOut,
    Method,
    RecordWarning,
    RegistryOut,
    ResidentOut,
)
from service.schemas.surveillance import (
    AlertPage,
    AlertRow,
    RiskCellPage,
    RiskCellRow,
    TargetCounts,
    TargetSummary,
    VaccinationTargetPage,
    VaccinationTargetRow,
)

__all__ = [
    "MAX_MEASUREMENTS",
    "Adherence",
    "AlertPage",
    "AlertRow",
    "BurdenList",
    "BurdenRowOut",
    "CallerScope",
    "Classification",
    "Colour",
    "Disease",
    "DismissIn",
    "DismissalOut",
    "FeatureCollection",
    "FollowupIn",
    "FollowupOut",
    "GlucoseType",
    "HealthIndexPage",
    "HealthIndexRow",
    "HotspotLevel",
    "HotspotList",
    "HotspotRow",
    "Id40",
    "Id60",
    "IndicatorInfo",
    "IndicatorPage",
    "IndicatorRow",
    "JobKind",
    "JobList",
    "JobOut",
    "JobStatus",
    "LayerInfo",
    "Level",
    "MeasurementBody",
    "MeasurementIn",
    "MeasurementOut",
    "MeasurementResult",
    "MeasurementsOut",
    "Meta",
    "Method",
    "Page",
    "PushList",
    "PushListEntryOut",
    "PushListRunOut",
    "PushListRuns",
    "RecordWarning",
    "RegistryOut",
    "ResidentOut",
    "RiskCellPage",
    "RiskCellRow",
    "Role",
    "RoleIn",
    "RouteLeg",
    "RouteOut",
    "RouteStop",
    "SearchHit",
    "SearchResult",
    "TargetCounts",
    "TargetSummary",
    "TaskCode",
    "TrendPoint",
    "UnitDetail",
    "UnitIndicator",
    "UserIn",
    "UserList",
    "UserOut",
    "VaccinationTargetPage",
    "VaccinationTargetRow",
    "fill_page",
]
