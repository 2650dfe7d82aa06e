"""Settings of the planners' coverage (RULES.md "Coverage and access", "Planning standards").

:class:`CoverageConfig` is the travel model (detour factor, mode speeds, the 15-minute
circle and the 30-minute 2SFCA catchment, shared with routing) and what the planners'
computation needs besides: the facility groups, the H3 resolution of the cells, road
speeds, siting, and the planning standards, each with its source. It is the settings'
``rules.coverage``. Every default is exactly RULES.md's.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: Facility groups: the "nearest open facility of a type" of RULES.md, by facilities.type.
DEFAULT_GROUPS: dict[str, tuple[str, ...]] = {
    "village_clinic": ("village_clinic", "community_station"),
    "township_hc": ("township_hc", "community_hc"),
    "county_hospital": ("county_hospital", "tcm_hospital", "mch_hospital"),
}

#: Default road speeds (km/h) by OpenStreetMap ``highway`` class, used when a line has no
#: ``speed_kmh``. Rural Chinese roads rarely reach their posted limits, so these are
#: typical travel speeds rather than limits; an unknown class gets the mode's own speed.
DEFAULT_ROAD_SPEEDS_KMH: dict[str, float] = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 80.0,
    "trunk_link": 50.0,
    "primary": 60.0,
    "primary_link": 40.0,
    "secondary": 50.0,
    "secondary_link": 30.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "living_street": 10.0,
    "service": 15.0,
    "track": 15.0,
    "cycleway": 15.0,
    "path": 5.0,
    "footway": 5.0,
    "pedestrian": 5.0,
    "steps": 2.0,
}


class PlanningStandard(BaseModel):
    """One planning standard a town (and the county) is checked against."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(description="Standard code (the measure it checks).")
    label_zh: str = Field(description="Chinese label.")
    label_en: str = Field(description="English label.")
    op: str = Field(">=", description="`>=` (met when value >= target) or `reported`.")
    target: float | None = Field(None, description="Target value; None for report-only.")
    unit: str = Field("", description="Unit of value and target.")
    source: str = Field("", description="Where the figure comes from.")


DEFAULT_STANDARDS: tuple[PlanningStandard, ...] = (
    PlanningStandard(
        code="doctors_per_1000",
        label_zh="每千常住人口执业(助理)医师数",
        label_en="Licensed (assistant) physicians per 1000 residents",
        target=3.2,
        unit="per 1000",
        source="National 2025 target (seed 003: 2.9 in 2020 -> 3.2)",
    ),
    PlanningStandard(
        code="gps_per_10000",
        label_zh="每万常住人口全科医生数",
        label_en="General practitioners per 10,000 residents",
        target=3.93,
        unit="per 10000",
        source="National 2025 target (seed 003: 2.9 -> 3.93)",
    ),
    PlanningStandard(
        code="beds_per_1000",
        label_zh="每千常住人口床位数",
        label_en="Beds per 1000 residents",
        target=7.5,
        unit="per 1000",
        source="Guideline for the setting of medical institutions 2021-2025 (seed 003: 6.0 -> 7.5)",
    ),
    PlanningStandard(
        code="doctors_per_village_clinic",
        label_zh="村卫生室平均执业(助理)医师数",
        label_en="Licensed physicians per open village clinic (mean)",
        target=1.0,
        unit="per clinic",
        source="Changle plan for 2025 (seed 002)",
    ),
    PlanningStandard(
        code="township_hcs",
        label_zh="乡镇卫生院(社区卫生服务中心)数",
        label_en="Open township or community health centres",
        target=1.0,
        unit="count",
        source="Changle plan (seed 002)",
    ),
    PlanningStandard(
        code="primary_care_visit_share",
        label_zh="基层医疗卫生机构诊疗量占比",
        label_en="Primary-care share of visits",
        target=65.0,
        unit="%",
        source="Changle plan (seed 002)",
    ),
    PlanningStandard(
        code="in_county_visit_share",
        label_zh="县域内就诊率",
        label_en="In-county share of visits",
        target=90.0,
        unit="%",
        source="Changle plan (seed 002)",
    ),
    PlanningStandard(
        code="walk_village_clinic_share",
        label_zh="村卫生室15分钟步行圈覆盖人口占比",
        label_en="Population within the 15-minute walk of a village clinic",
        op="reported",
        target=None,
        unit="%",
        source='RULES.md "Coverage and access" (no national figure)',
    ),
)


class CoverageConfig(BaseModel):
    """Planners' coverage: travel model, circles, siting and planning standards.

    The one coverage section of the settings (``rules.coverage``): routing reads its
    travel model too.
    """

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    detour_factor: float = 1.3
    """Straight-line distance is multiplied by this without a road network."""
    speeds_kmh: dict[str, float] = {"walk": 4.5, "ebike": 15.0, "drive": 30.0}
    """Travel speeds by mode (km/h)."""
    service_minutes: float = 15.0
    """Service circle: travel time limit (minutes)."""
    catchment_minutes: float = 30.0
    """2SFCA catchment (minutes)."""

    h3_resolution: int = 9
    """H3 resolution of the populated cells travel is measured from."""
    groups: dict[str, tuple[str, ...]] = DEFAULT_GROUPS
    """Facility groups: facilities.type values that count as each kind of facility."""
    road_speeds_kmh: dict[str, float] = DEFAULT_ROAD_SPEEDS_KMH
    """Road speed (km/h) by highway class when a road has no speed_kmh (walk/e-bike capped)."""
    two_sfca_mode: str = "drive"
    """Travel mode of the 2SFCA catchment."""
    matrix_limit_minutes: float = 60.0
    """Cell x facility times beyond this are stored as infinite (what-if, 2SFCA)."""
    siting_k: int = 5
    """MCLP: number of new village clinics to site."""
    siting_mode: str = "walk"
    """MCLP: mode of the service circle new clinics are sited for."""
    standards: tuple[PlanningStandard, ...] = DEFAULT_STANDARDS
    """Planning standards checked per town and county (code, target, unit, source)."""


DEFAULT_COVERAGE = CoverageConfig()
