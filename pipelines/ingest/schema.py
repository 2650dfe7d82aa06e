"""The data contract as data: every table's columns, types, aliases, enums, ranges and keys.

One declarative place (``shared/DATA_CONTRACT.md`` v1) that the reader (header aliases),
the validator (types, enums, ranges, foreign keys, keys) and the docs
(``docs/data-contract.md``) all follow. Nothing here touches data. The enumerations and
normalisations the columns use are :mod:`pipelines.ingest.codes`.

Conventions
-----------
- ``Col.kind`` is the parsed type: ``str`` (code or text), ``int``, ``float``, ``date``,
  ``timestamp`` (ISO 8601, Asia/Shanghai when no offset), ``bool``, ``enum`` (``Col.enum``
  maps normalised input to the canonical code), ``id_number`` (GB 11643), ``h3``,
  ``wkt`` (a geometry), ``coord_sys``.
- ``Col.fk`` names what a value must exist in: a table (``residents``, ``facilities``,
  ``teams``, ``staff``) or area levels (``areas`` any level, ``areas:village``,
  ``areas:village,town``); ``Col.fk_list`` says the value is a ``;``-separated list.
- ``TableSpec.alternatives`` are "one of" requirements (``resident_id`` or ``id_number``).
- ``Col.store`` is False for delivered columns that are not stored as such (``id_number``
  is hashed; ``geometry_wkt`` becomes ``geom``; ``village_codes`` of grids is both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pipelines.ingest.codes import (
    ADHERENCE,
    AGE_BAND,
    AGE_BANDS,
    BOOL_FALSE,
    BOOL_TRUE,
    CHRONIC_DISEASE,
    CLASSIFICATION,
    COORD_SYS,
    FACILITY_TYPE,
    GLUCOSE_TYPE,
    INFECTIOUS_DISEASE,
    LEVEL,
    METHOD,
    ROLE,
    SEX,
    STATUS,
    VACCINE,
    VISIT_TYPE,
    icd_chronic,
    icd_infectious,
    norm_header,
    norm_value,
    vaccine_code,
)
from store.models import CONTRACT_TABLES, TABLES

# The contract's own names, and the codes it is written in (:mod:`pipelines.ingest.codes`).
__all__ = [
    "ADHERENCE",
    "AGE_BAND",
    "AGE_BANDS",
    "BOOL_FALSE",
    "BOOL_TRUE",
    "BP",
    "CHRONIC_DISEASE",
    "CLASSIFICATION",
    "COORD",
    "COORD_SYS",
    "FACILITY_TYPE",
    "GLUCOSE_TYPE",
    "INFECTIOUS_DISEASE",
    "LAT",
    "LEVEL",
    "LNG",
    "METHOD",
    "REASONS",
    "ROLE",
    "SEX",
    "SPECS",
    "STATUS",
    "VACCINE",
    "VISIT_TYPE",
    "ZH_TABLES",
    "C",
    "Col",
    "R",
    "TableSpec",
    "icd_chronic",
    "icd_infectious",
    "norm_header",
    "norm_value",
    "vaccine_code",
]


# ----------------------------------------------------------------------------------------
# Column and table specs
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Col:
    """One delivered column."""

    name: str
    kind: str = "str"
    required: bool = False
    aliases: tuple[str, ...] = ()
    enum: dict[str, object] | None = None
    enum_fallback: Callable[[str], object | None] | None = None
    lo: float | None = None
    hi: float | None = None
    fk: str | None = None
    fk_list: bool = False
    store: bool = True
    doc: str = ""

    def enum_lookup(self, value: str) -> object | None:
        """Canonical code of a raw enum value, or None when it is not one."""
        assert self.enum is not None
        key = norm_value(value)
        hit = self.enum.get(key)
        if hit is None and self.enum_fallback is not None:
            hit = self.enum_fallback(value)
        return hit


@dataclass(frozen=True)
class TableSpec:
    """One contract table."""

    name: str
    zh: str
    columns: tuple[Col, ...]
    key: tuple[str, ...]
    #: "one of" requirements: each is a tuple of alternatives, an alternative a tuple of
    #: columns that must all be present (header) and non-empty (row).
    alternatives: tuple[tuple[tuple[str, ...], ...], ...] = ()
    doc: str = ""
    #: Lengths of stored string columns (from the models), filled in below.
    lengths: dict[str, int] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """The contract's column names, in order."""
        return tuple(c.name for c in self.columns)

    def col(self, name: str) -> Col:
        """The column called ``name`` (KeyError when there is none)."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def required(self) -> tuple[str, ...]:
        """The names of the required columns."""
        return tuple(c.name for c in self.columns if c.required)


def C(name: str, kind: str = "str", *aliases: str, **kw: object) -> Col:
    """An optional column: ``C("sbp", "int", "收缩压", lo=40)``; aliases are header names."""
    return Col(name, kind, aliases=tuple(aliases), **kw)  # type: ignore[arg-type]


def R(name: str, kind: str = "str", *aliases: str, **kw: object) -> Col:
    """A required column (as :func:`C`, with ``required=True``)."""
    return Col(name, kind, required=True, aliases=tuple(aliases), **kw)  # type: ignore[arg-type]


LAT = C("lat", "float", "纬度", "latitude", lo=-90.0, hi=90.0)
LNG = C("lng", "float", "经度", "longitude", "lon", lo=-180.0, hi=180.0)
COORD = C("coord_sys", "coord_sys", "坐标系", enum=COORD_SYS)
BP = {
    "sbp": C("sbp", "float", "收缩压", lo=50, hi=300, doc="mmHg"),
    "dbp": C("dbp", "float", "舒张压", lo=30, hi=200, doc="mmHg"),
    "heart_rate": C("heart_rate", "float", "心率", lo=20, hi=250),
}

SPECS: dict[str, TableSpec] = {}


def _add(spec: TableSpec) -> None:
    lengths: dict[str, int] = {}
    table = TABLES[spec.name].__table__
    for c in spec.columns:
        if c.name in table.c:
            length = getattr(table.c[c.name].type, "length", None)
            if length:
                lengths[c.name] = int(length)
    spec.lengths.update(lengths)
    SPECS[spec.name] = spec


_add(
    TableSpec(
        "areas",
        "行政区划",
        (
            R("area_code", "str", "区划代码", "行政区划代码"),
            R("name", "str", "名称", "区划名称"),
            R("level", "enum", "级别", "层级", enum=LEVEL),
            C(
                "parent_code",
                "str",
                "上级代码",
                "上级区划代码",
                fk="areas",
                doc="required except for the county",
            ),
            LAT,
            LNG,
            COORD,
            C("geometry_wkt", "wkt", "geometry", "wkt", "边界", store=False, doc="polygon (WKT)"),
        ),
        key=("area_code",),
        doc="Administrative units of the county, top down.",
    )
)

_add(
    TableSpec(
        "facilities",
        "医疗机构",
        (
            R("facility_id", "str", "机构编码", "机构代码"),
            R("name", "str", "机构名称"),
            R("type", "enum", "机构类型", enum=FACILITY_TYPE),
            R("area_code", "str", "区划代码", "所在村居", "所属区划", fk="areas"),
            Col("lat", "float", True, LAT.aliases, lo=-90.0, hi=90.0),
            Col("lng", "float", True, LNG.aliases, lo=-180.0, hi=180.0),
            COORD,
            C("parent_facility_id", "str", "上级机构编码", "所属卫生院", fk="facilities"),
            C("beds", "int", "床位数", "床位", lo=0),
            C("open", "bool", "是否在用", "运营状态", "在用"),
        ),
        key=("facility_id",),
    )
)

_add(
    TableSpec(
        "teams",
        "家庭医生团队",
        (
            R("team_id", "str", "团队编码", "团队代码"),
            R("name", "str", "团队名称"),
            R("facility_id", "str", "机构编码", "所属机构", fk="facilities"),
            C("leader_staff_id", "str", "团队长工号", "队长工号"),
            C("max_daily_visits", "int", "每日最大随访数", lo=0),
        ),
        key=("team_id",),
    )
)

_add(
    TableSpec(
        "staff",
        "人员",
        (
            R("staff_id", "str", "工号", "人员编码"),
            R("name", "str", "姓名"),
            R("facility_id", "str", "机构编码", "所属机构", fk="facilities"),
            R("role", "enum", "岗位", "人员类别", enum=ROLE),
            C("licensed", "bool", "执业(助理)医师", "执业医师", "执业助理医师"),
            C("team_id", "str", "团队编码", "所属团队", fk="teams"),
        ),
        key=("staff_id",),
    )
)

_add(
    TableSpec(
        "grids",
        "健康管理网格",
        (
            R("grid_id", "str", "网格编码", "网格代码"),
            R("name", "str", "网格名称", "名称"),
            C("village_codes", "str", "包含村", "包含村居", fk="areas:village", fk_list=True),
            C("geometry_wkt", "wkt", "geometry", "wkt", "边界", store=False),
            COORD,
            C("clinic_id", "str", "村卫生室编码", "卫生室编码", fk="facilities"),
            C("team_id", "str", "团队编码", "责任团队", fk="teams"),
            C("grid_worker_ids", "str", "网格员工号", "网格员", fk="staff", fk_list=True),
        ),
        key=("grid_id",),
        alternatives=((("village_codes",), ("geometry_wkt",)),),
        doc="A grid is the service area of one village clinic.",
    )
)
_add(
    TableSpec(
        "residents",
        "居民健康档案",
        (
            R("resident_id", "str", "档案编号", "健康档案编号", "个人档案编号"),
            C("id_number", "id_number", "身份证号", "身份证号码", "公民身份号码", store=False),
            R("name", "str", "姓名"),
            R("sex", "enum", "性别", enum=SEX),
            R("birth_date", "date", "出生日期"),
            R("area_code", "str", "所属村居", "区划代码", "村居编码", fk="areas:village"),
            C("address", "str", "现住址", "住址", "家庭住址"),
            LAT,
            LNG,
            COORD,
            C("phone", "str", "联系电话", "电话", "手机号"),
            C("signed_team_id", "str", "签约团队", "签约团队编码", fk="teams"),
            C("signed_date", "date", "签约日期"),
            C("status", "enum", "档案状态", enum=STATUS),
        ),
        key=("resident_id",),
    )
)

_add(
    TableSpec(
        "chronic_registry",
        "慢病专案",
        (
            R("resident_id", "str", "档案编号", "健康档案编号", fk="residents"),
            R("disease", "enum", "病种", "疾病", enum=CHRONIC_DISEASE, enum_fallback=icd_chronic),
            R("enrolled_date", "date", "纳入管理日期", "建档日期", "管理日期"),
            C("diagnosed_date", "date", "确诊日期", "诊断日期"),
            C("team_id", "str", "团队编码", "管理团队", fk="teams"),
            C("closed_date", "date", "结案日期", "终止管理日期"),
            C("close_reason", "str", "结案原因", "终止管理原因"),
        ),
        key=("resident_id", "disease"),
        doc="Residents under chronic-disease management.",
    )
)

_add(
    TableSpec(
        "followups",
        "随访记录",
        (
            R("followup_id", "str", "随访编号", "随访记录编号"),
            R("resident_id", "str", "档案编号", "健康档案编号", fk="residents"),
            R("disease", "enum", "病种", "疾病", enum=CHRONIC_DISEASE, enum_fallback=icd_chronic),
            R("visit_date", "date", "随访日期"),
            C("method", "enum", "随访方式", enum=METHOD),
            BP["sbp"],
            BP["dbp"],
            C("fasting_glucose", "float", "空腹血糖", lo=1.0, hi=40.0, doc="mmol/L"),
            BP["heart_rate"],
            C("weight_kg", "float", "体重", "体重(kg)"),
            C("height_cm", "float", "身高", "身高(cm)"),
            C("adherence", "enum", "服药依从性", enum=ADHERENCE),
            C("adverse_reaction", "bool", "药物不良反应"),
            C("symptoms", "str", "症状"),
            C("classification", "enum", "此次随访分类", "随访分类", enum=CLASSIFICATION),
            C("referred", "bool", "转诊"),
            C("next_visit_date", "date", "下次随访日期"),
            C("staff_id", "str", "随访医生工号", "工号", fk="staff"),
        ),
        key=("followup_id",),
    )
)

_add(
    TableSpec(
        "measurements",
        "智能检测终端数据",
        (
            R("measurement_id", "str", "检测编号", "记录编号"),
            R("resident_id", "str", "档案编号", "健康档案编号", fk="residents"),
            R("measured_at", "timestamp", "检测时间", "测量时间"),
            C("device_id", "str", "设备编号", "终端编号"),
            C("facility_id", "str", "机构编码", fk="facilities"),
            BP["sbp"],
            BP["dbp"],
            BP["heart_rate"],
            C("glucose", "float", "血糖", lo=1.0, hi=40.0),
            C("glucose_type", "enum", "血糖类型", enum=GLUCOSE_TYPE),
        ),
        key=("measurement_id",),
    )
)

_add(
    TableSpec(
        "claims",
        "医保结算",
        (
            R("claim_id", "str", "结算编号", "结算单号", "结算ID"),
            C("resident_id", "str", "档案编号", "健康档案编号", fk="residents"),
            C("id_number", "id_number", "身份证号", "身份证号码", "公民身份号码", store=False),
            R("visit_date", "date", "就诊日期", "入院日期"),
            C("discharge_date", "date", "出院日期"),
            C("facility_id", "str", "机构编码", "定点医药机构编码", "医疗机构编码"),
            C("facility_name", "str", "机构名称", "定点医药机构名称", "医疗机构名称"),
            R("visit_type", "enum", "就诊类型", "医疗类别", enum=VISIT_TYPE),
            C("icd10", "str", "主诊断", "主诊断编码", "诊断编码"),
            C("total_cost", "float", "总费用", "医疗费总额", lo=0),
            C("fund_paid", "float", "基金支付", "统筹支付", lo=0),
            C("self_paid", "float", "个人支付", "个人自付", lo=0),
        ),
        key=("claim_id",),
        alternatives=(
            (("resident_id",), ("id_number",)),
            (("facility_id",), ("facility_name",)),
        ),
    )
)

_add(
    TableSpec(
        "population",
        "常住人口",
        (
            R("area_code", "str", "区划代码", "所属村居", fk="areas:village,town"),
            R("year", "int", "年份", "年度", lo=1900, hi=2200),
            R("sex", "enum", "性别", enum=SEX),
            R("age_band", "enum", "年龄组", "年龄段", enum=AGE_BAND),
            R("count", "int", "人数", "人口数", lo=0),
        ),
        key=("area_code", "year", "sex", "age_band"),
    )
)

_add(
    TableSpec(
        "population_grid",
        "网格人口",
        (
            C("h3", "h3", "h3编码", "网格"),
            LAT,
            LNG,
            COORD,
            R("count", "float", "人数", "人口数", lo=0),
        ),
        key=("h3",),
        alternatives=((("h3",), ("lat", "lng")),),
        doc="Gridded population: an H3 cell (any resolution) or a cell centre (→ resolution 8).",
    )
)

_add(
    TableSpec(
        "mobility",
        "人流热力",
        (
            C("h3", "h3", "h3编码", "网格"),
            LAT,
            LNG,
            COORD,
            R("hour", "timestamp", "时间", "小时"),
            R("count", "float", "人数", "人流量", lo=0),
            C("origin_h3", "h3", "来源h3", "来源网格"),
        ),
        key=("h3", "hour", "origin_h3"),
        alternatives=((("h3",), ("lat", "lng")),),
        doc="Hourly people counts from the telecom operators' heat product.",
    )
)

_add(
    TableSpec(
        "case_reports",
        "传染病报告卡",
        (
            R("report_id", "str", "报告卡编号", "卡片编号", "报告编号"),
            R(
                "disease",
                "enum",
                "病种",
                "疾病名称",
                enum=INFECTIOUS_DISEASE,
                enum_fallback=icd_infectious,
            ),
            R("onset_date", "date", "发病日期"),
            C("report_date", "date", "报告日期"),
            C("resident_id", "str", "档案编号", "健康档案编号", fk="residents"),
            C(
                "area_code",
                "str",
                "现住址区划代码",
                "区划代码",
                "所属村居",
                fk="areas:village,town",
            ),
            LAT,
            LNG,
            COORD,
            C("age", "int", "年龄"),
            C("sex", "enum", "性别", enum=SEX),
        ),
        key=("report_id",),
    )
)

_add(
    TableSpec(
        "vaccinations",
        "预防接种",
        (
            R("resident_id", "str", "档案编号", "健康档案编号", fk="residents"),
            R(
                "vaccine",
                "enum",
                "疫苗",
                "疫苗名称",
                "疫苗种类",
                enum=VACCINE,
                enum_fallback=vaccine_code,
            ),
            R("date", "date", "接种日期", "日期"),
        ),
        key=("resident_id", "vaccine", "date"),
    )
)

_add(
    TableSpec(
        "roads",
        "道路",
        (
            C("road_id", "int", "id", "道路编号", "osm_id", lo=0),
            C("name", "str", "道路名称", "名称"),
            C("highway", "str", "道路等级"),
            C("speed_kmh", "float", "限速", "速度", "maxspeed", lo=0),
            C("geometry_wkt", "wkt", "geometry", "wkt", store=False),
            COORD,
        ),
        key=("road_id",),
        doc="roads.geojson LineStrings, or an OpenStreetMap .osm.pbf extract (optional).",
    )
)

assert tuple(SPECS) == tuple(t for t in CONTRACT_TABLES if t in SPECS)
assert set(SPECS) == set(CONTRACT_TABLES)

#: Chinese table names accepted as file stems (``居民健康档案.xlsx``).
ZH_TABLES: dict[str, str] = {spec.zh: name for name, spec in SPECS.items()}

#: Reason codes, in the order the checks run (a row gets the first that fails).
REASONS: tuple[str, ...] = (
    "bad_encoding",
    "missing_required",
    "unparseable",
    "out_of_range",
    "id_checksum",
    "id_mismatch",
    "outside_county",
    "unknown_fk",
    "duplicate_key",
)
