"""The product's vocabulary: every code a user meets, defined once, with its labels.

Task codes and colours, diseases, visit classifications, aggregation levels, hotspot
indicators, levels and classes, roles and the role sets, and the area-code hierarchy.
Everything else derives from here: the rules engine (``geo.followup``), the API's enums
(``service.schemas``), the vocabulary endpoint and the front end's generated
``frontend/src/common/vocabulary.ts``; ``tests/geo/test_vocabulary.py`` ties them.

Indicator definitions (code, labels, unit, how each is computed) live in
``geo.indicator_defs``; small-number suppression and its reasons in ``geo.suppression``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """One code with its Chinese and English labels.

    Attributes
    ----------
    code : str
        What the data, the API and the URLs carry.
    zh, en : str
        What a user reads, in Chinese and in English.
    """

    code: str
    zh: str
    en: str


def codes(terms: tuple[Term, ...]) -> tuple[str, ...]:
    """The codes of ``terms``, in their order."""
    return tuple(t.code for t in terms)


def labels(terms: tuple[Term, ...], lang: str = "zh") -> dict[str, str]:
    """Code → label of ``terms`` in ``lang`` (``zh`` or ``en``)."""
    if lang not in ("zh", "en"):
        raise ValueError(f"unknown language {lang!r}; use 'zh' or 'en'")
    return {t.code: getattr(t, lang) for t in terms}


# ----------------------------------------------------------------------------------------
# Care: diseases, visit classifications, follow-up tasks and their colours (RULES.md)
# ----------------------------------------------------------------------------------------
DISEASE_TERMS: tuple[Term, ...] = (
    Term("htn", "高血压", "Hypertension"),
    Term("t2dm", "2型糖尿病", "Type 2 diabetes"),
)

CLASSIFICATION_TERMS: tuple[Term, ...] = (
    Term("satisfactory", "控制满意", "Satisfactory"),
    Term("unsatisfactory", "控制不满意", "Unsatisfactory"),
    Term("adverse", "不良反应", "Adverse reaction"),
    Term("complication", "并发症", "Complication"),
)

#: Colours in list order (RULES.md: red, yellow, green).
COLOUR_TERMS: tuple[Term, ...] = (
    Term("red", "红色 · 紧急", "Red · urgent"),
    Term("yellow", "黄色 · 重点", "Yellow · priority"),
    Term("green", "绿色 · 常规", "Green · routine"),
)
COLOURS: tuple[str, ...] = codes(COLOUR_TERMS)
COLOUR_RANK: dict[str, int] = {c: i for i, c in enumerate(COLOURS)}


@dataclass(frozen=True)
class TaskTerm(Term):
    """A follow-up task code with its base colour (before the routine overdue turn)."""

    colour: str = "green"


#: The RULES.md task table in precedence order (the first that applies opens the task),
#: then case finding, which is not part of the precedence.
TASK_TERMS: tuple[TaskTerm, ...] = (
    TaskTerm("emergency_reading", "危急读数", "Emergency reading", "red"),
    TaskTerm("referral_suggested", "建议转诊", "Referral suggested", "red"),
    TaskTerm("post_discharge", "出院后随访", "Follow-up after discharge", "red"),
    TaskTerm("uncontrolled_recheck", "未控制复查", "Recheck of uncontrolled patient", "yellow"),
    TaskTerm("first_followup", "首次随访", "First follow-up", "yellow"),
    TaskTerm("routine_followup", "常规随访", "Routine follow-up", "green"),
    TaskTerm("suspected_unmanaged", "疑似未管理", "Suspected, not managed", "yellow"),
)
SUSPECTED_UNMANAGED = "suspected_unmanaged"
#: The task an emergency reading opens (also the kind of its webhook call and live event).
EMERGENCY_READING = TASK_TERMS[0].code
#: Codes of the precedence table (without case finding), in order.
TASK_ORDER: tuple[str, ...] = tuple(t.code for t in TASK_TERMS if t.code != SUSPECTED_UNMANAGED)
#: Every task code a list can hold.
TASK_CODES: tuple[str, ...] = codes(TASK_TERMS)
#: Base colour of each task.
TASK_COLOUR: dict[str, str] = {t.code: t.colour for t in TASK_TERMS}

# ----------------------------------------------------------------------------------------
# Aggregation levels and hotspots
# ----------------------------------------------------------------------------------------
LEVEL_TERMS: tuple[Term, ...] = (
    Term("h3:7", "H3 7级六边形", "H3 cells, resolution 7"),
    Term("h3:8", "H3 8级六边形", "H3 cells, resolution 8"),
    Term("h3:9", "H3 9级六边形", "H3 cells, resolution 9"),
    Term("grid", "健康网格", "Health-management grid"),
    Term("village", "村", "Village"),
    Term("town", "镇街", "Town"),
    Term("county", "县", "County"),
    Term("team", "家庭医生团队", "Family-doctor team"),
)
#: Every level indicators are built at, finest first.
LEVELS: tuple[str, ...] = codes(LEVEL_TERMS)
#: The levels a county publishes for the province (store.province).
PUBLISHED_LEVELS: tuple[str, ...] = ("county", "town")
#: Levels above the county, made from the counties' published numerators and denominators.
ABOVE_COUNTY_LEVEL_TERMS: tuple[Term, ...] = (
    Term("city", "地市", "City"),
    Term("province", "省", "Province"),
)
ABOVE_COUNTY_LEVELS: tuple[str, ...] = codes(ABOVE_COUNTY_LEVEL_TERMS)

HOTSPOT_INDICATOR_TERMS: tuple[Term, ...] = (
    Term("htn_prevalence", "高血压患病率", "Hypertension prevalence"),
    Term("t2dm_prevalence", "2型糖尿病患病率", "Type 2 diabetes prevalence"),
    Term("htn_uncontrolled_share", "高血压未控制比例", "Share of hypertension uncontrolled"),
    Term("t2dm_uncontrolled_share", "糖尿病未控制比例", "Share of diabetes uncontrolled"),
)
HOTSPOT_INDICATORS: tuple[str, ...] = codes(HOTSPOT_INDICATOR_TERMS)
#: Units hotspots are computed over (RULES.md: H3 resolution 8 by default, or grids).
HOTSPOT_LEVELS: tuple[str, ...] = ("h3:8", "grid")
HOTSPOT_CLASS_TERMS: tuple[Term, ...] = (
    Term("hot", "热点", "Hot spot"),
    Term("cold", "冷点", "Cold spot"),
    Term("none", "不显著", "Not significant"),
)

#: Change monitoring's flags (RULES.md "Change monitoring"; geo.change_monitoring).
CHANGE_FLAG_TERMS: tuple[Term, ...] = (
    Term("up", "显著上升", "Significant rise"),
    Term("down", "显著下降", "Significant fall"),
    Term("none", "无显著变化", "No significant change"),
)

#: Facility types of the data contract (``facilities.type``), as the map's legend names them.
FACILITY_TYPE_TERMS: tuple[Term, ...] = (
    Term("county_hospital", "县级医院", "County hospital"),
    Term("tcm_hospital", "中医医院", "Traditional Chinese medicine hospital"),
    Term("mch_hospital", "妇幼保健院", "Maternal and child health hospital"),
    Term("township_hc", "乡镇卫生院", "Township health centre"),
    Term("community_hc", "社区卫生服务中心", "Community health centre"),
    Term("village_clinic", "村卫生室", "Village clinic"),
    Term("community_station", "社区卫生服务站", "Community health station"),
    Term("other", "其他机构", "Other facility"),
)
FACILITY_TYPES: tuple[str, ...] = codes(FACILITY_TYPE_TERMS)

#: Vaccines of the data contract (``vaccinations.vaccine``) a resident's page names; an
#: unlisted code is shown as delivered.
VACCINE_TERMS: tuple[Term, ...] = (
    Term("influenza", "流感疫苗", "Influenza vaccine"),
    Term("pneumococcal", "肺炎球菌疫苗", "Pneumococcal vaccine"),
    Term("covid19", "新冠疫苗", "COVID-19 vaccine"),
)

#: Units of the indicators (``geo.indicator_defs.IndicatorDef.unit``).
UNIT_TERMS: tuple[Term, ...] = (
    Term("fraction", "比例（以百分数显示）", "Fraction (shown as a percentage)"),
    Term("per_1000", "每千人口", "Per 1000 population"),
)

# ----------------------------------------------------------------------------------------
# Health education (docs/health-education.md)
# ----------------------------------------------------------------------------------------
#: The states of a health-education item, in workflow order.
EDUCATION_STATE_TERMS: tuple[Term, ...] = (
    Term("draft", "草稿", "Draft"),
    Term("in_review", "待审核", "In review"),
    Term("published", "已发布", "Published"),
    Term("withdrawn", "已撤回", "Withdrawn"),
)
EDUCATION_STATES: tuple[str, ...] = codes(EDUCATION_STATE_TERMS)
#: Who writes items (a doctor for its team's township, a centre for its own, the bureau
#: and admin county-wide) and who reviews, publishes and withdraws them.
EDUCATION_AUTHOR_ROLES: frozenset[str] = frozenset({"doctor", "chronic_center", "bureau", "admin"})
EDUCATION_REVIEW_ROLES: frozenset[str] = frozenset({"chronic_center", "bureau", "admin"})

# ----------------------------------------------------------------------------------------
# Roles
# ----------------------------------------------------------------------------------------
ROLE_TERMS: tuple[Term, ...] = (
    Term("resident", "居民", "Resident"),
    Term("doctor", "家庭医生", "Family doctor"),
    Term("chronic_center", "慢病管理中心", "Chronic-disease centre"),
    Term("bureau", "卫健局", "Health bureau"),
    Term("planner", "规划人员", "Planner"),
    Term("admin", "系统管理员", "Administrator"),
    Term("province", "省市卫健委", "Province or city bureau"),
)
ROLES: tuple[str, ...] = codes(ROLE_TERMS)
#: Roles that read aggregates (indicators, hotspots, burden, exports, analyst tiles).
ANALYST_ROLES: frozenset[str] = frozenset({"chronic_center", "bureau", "planner", "admin"})
#: Who may read the planners' coverage, standards and siting (aggregates only).
PLANNING_ROLES: frozenset[str] = frozenset({"planner", "bureau", "admin"})
#: Roles that work patient lists (a doctor its team's, a centre its township's teams').
CARE_ROLES: frozenset[str] = frozenset({"doctor", "chronic_center"})
#: The role scoped to one township (its ``town_code``).
TOWN_SCOPED_ROLE = "chronic_center"
#: The role scoped to one team (its ``team_id``).
TEAM_SCOPED_ROLE = "doctor"
#: The role scoped to exactly one resident (its ``resident_id``): a resident's own page
#: (``/r/``). In none of the sets above; only endpoints under ``/api/v1/me`` admit it.
RESIDENT_ROLE = "resident"
#: The province's or a city's bureau: every county's published aggregates, nothing of a
#: county's own (it logs in to the deployment's root store, which holds no person).
PROVINCE_ROLE = "province"
#: Roles of the health system's staff (every role but the resident's).
STAFF_ROLES: frozenset[str] = frozenset(codes(ROLE_TERMS)) - {RESIDENT_ROLE}

# ----------------------------------------------------------------------------------------
# Area codes (统计用区划代码, 12 digits: county 6 + town 3 + village 3)
# ----------------------------------------------------------------------------------------
AREA_CODE_LENGTH = 12
_PROVINCE_DIGITS = 2
_CITY_DIGITS = 4
_COUNTY_DIGITS = 6
_TOWN_DIGITS = 9


def town_code_of(area_code: str) -> str:
    """The 12-digit code of the township an area code lies in (``370783101203`` → ``…101000``)."""
    return area_code[:_TOWN_DIGITS] + "0" * (AREA_CODE_LENGTH - _TOWN_DIGITS)


def county_code_of(area_code: str) -> str:
    """The 12-digit code of the county an area code lies in.

    ``370783101203`` → ``370783000000``.
    """
    return area_code[:_COUNTY_DIGITS] + "0" * (AREA_CODE_LENGTH - _COUNTY_DIGITS)


def city_code_of(area_code: str) -> str:
    """The 12-digit code of the city (地市) of an area code (``370783…`` → ``370700000000``)."""
    return area_code[:_CITY_DIGITS] + "0" * (AREA_CODE_LENGTH - _CITY_DIGITS)


def province_code_of(area_code: str) -> str:
    """The 12-digit code of the province an area code lies in (``370783…`` → ``370000000000``)."""
    return area_code[:_PROVINCE_DIGITS] + "0" * (AREA_CODE_LENGTH - _PROVINCE_DIGITS)


def town_of_code(area_code: str | None) -> str | None:
    """The township of a 12-digit village or town code, or None when it names none.

    None for anything that is not 12 digits, and for a county (or higher) code, whose
    township digits are ``000``.
    """
    if not area_code or len(area_code) != AREA_CODE_LENGTH or not area_code.isdigit():
        return None
    if area_code[_COUNTY_DIGITS:_TOWN_DIGITS] == "000":
        return None
    return town_code_of(area_code)


def town_prefix(town_code: str) -> str:
    """The prefix every area code inside ``town_code`` starts with (its first 9 digits)."""
    return town_code[:_TOWN_DIGITS]
