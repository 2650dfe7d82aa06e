"""The data contract as data: every table's columns, types, aliases, enums, ranges and keys.

One declarative place (``shared/DATA_CONTRACT.md`` v1) that the reader (header aliases),
the validator (types, enums, ranges, foreign keys, keys) and the docs
(``docs/data-contract.md``) all follow. Nothing here touches data.

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

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from store.models import CONTRACT_TABLES, TABLES

# ----------------------------------------------------------------------------------------
# Enums (normalised input -> canonical code). Keys are NFKC + lower-case + stripped.
# ----------------------------------------------------------------------------------------
BOOL_TRUE = ("1", "1.0", "true", "t", "y", "yes", "是", "有", "√")
BOOL_FALSE = ("0", "0.0", "false", "f", "n", "no", "否", "无", "×")

SEX = {"1": 1, "1.0": 1, "男": 1, "m": 1, "male": 1, "2": 2, "2.0": 2, "女": 2, "f": 2, "female": 2}

LEVEL = {
    "county": "county",
    "县": "county",
    "县级": "county",
    "区": "county",
    "县/区": "county",
    "town": "town",
    "乡镇": "town",
    "镇": "town",
    "乡": "town",
    "街道": "town",
    "乡镇/街道": "town",
    "village": "village",
    "村": "village",
    "社区": "village",
    "村居": "village",
    "村/社区": "village",
    "居委会": "village",
    "村委会": "village",
}

FACILITY_TYPE = {
    "county_hospital": "county_hospital",
    "县医院": "county_hospital",
    "县人民医院": "county_hospital",
    "县级医院": "county_hospital",
    "综合医院": "county_hospital",
    "tcm_hospital": "tcm_hospital",
    "中医院": "tcm_hospital",
    "县中医院": "tcm_hospital",
    "mch_hospital": "mch_hospital",
    "妇幼保健院": "mch_hospital",
    "妇幼保健计划生育服务中心": "mch_hospital",
    "township_hc": "township_hc",
    "乡镇卫生院": "township_hc",
    "卫生院": "township_hc",
    "community_hc": "community_hc",
    "社区卫生服务中心": "community_hc",
    "village_clinic": "village_clinic",
    "村卫生室": "village_clinic",
    "卫生室": "village_clinic",
    "community_station": "community_station",
    "社区卫生服务站": "community_station",
    "other": "other",
    "其他": "other",
}

ROLE = {
    "gp": "gp",
    "全科医生": "gp",
    "医生": "gp",
    "nurse": "nurse",
    "护士": "nurse",
    "public_health": "public_health",
    "公卫人员": "public_health",
    "公共卫生": "public_health",
    "village_doctor": "village_doctor",
    "乡村医生": "village_doctor",
    "村医": "village_doctor",
    "specialist": "specialist",
    "专科医生": "specialist",
    "cdc": "cdc",
    "疾控": "cdc",
    "疾控人员": "cdc",
    "grid_worker": "grid_worker",
    "网格员": "grid_worker",
}

STATUS = {
    "active": "active",
    "在册": "active",
    "正常": "active",
    "在管": "active",
    "moved": "moved",
    "迁出": "moved",
    "已迁出": "moved",
    "deceased": "deceased",
    "死亡": "deceased",
    "已死亡": "deceased",
}

METHOD = {
    "clinic": "clinic",
    "门诊": "clinic",
    "门诊随访": "clinic",
    "home": "home",
    "家庭": "home",
    "入户": "home",
    "家庭随访": "home",
    "phone": "phone",
    "电话": "phone",
    "电话随访": "phone",
    "online": "online",
    "网络": "online",
    "线上": "online",
    "网络随访": "online",
}

ADHERENCE = {
    "regular": "regular",
    "规律": "regular",
    "规律服药": "regular",
    "intermittent": "intermittent",
    "间断": "intermittent",
    "间断服药": "intermittent",
    "none": "none",
    "不服药": "none",
    "无": "none",
}

CLASSIFICATION = {
    "satisfactory": "satisfactory",
    "控制满意": "satisfactory",
    "满意": "satisfactory",
    "unsatisfactory": "unsatisfactory",
    "控制不满意": "unsatisfactory",
    "不满意": "unsatisfactory",
    "adverse": "adverse",
    "不良反应": "adverse",
    "complication": "complication",
    "并发症": "complication",
}

VISIT_TYPE = {
    "outpatient": "outpatient",
    "门诊": "outpatient",
    "普通门诊": "outpatient",
    "inpatient": "inpatient",
    "住院": "inpatient",
    "chronic_outpatient": "chronic_outpatient",
    "门诊慢特病": "chronic_outpatient",
    "门诊慢性病": "chronic_outpatient",
    "慢特病门诊": "chronic_outpatient",
    "emergency": "emergency",
    "急诊": "emergency",
}

GLUCOSE_TYPE = {
    "fasting": "fasting",
    "空腹": "fasting",
    "random": "random",
    "随机": "random",
    "postprandial": "postprandial",
    "餐后": "postprandial",
    "餐后2小时": "postprandial",
}

CHRONIC_DISEASE = {
    "htn": "htn",
    "高血压": "htn",
    "原发性高血压": "htn",
    "hypertension": "htn",
    "t2dm": "t2dm",
    "2型糖尿病": "t2dm",
    "ii型糖尿病": "t2dm",
    "糖尿病": "t2dm",
}

INFECTIOUS_DISEASE = {
    "influenza": "influenza",
    "流感": "influenza",
    "流行性感冒": "influenza",
    "ili": "ili",
    "流感样病例": "ili",
    "influenza-like illness": "ili",
}

COORD_SYS = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "cgcs2000": "wgs84",
    "gps": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "amap": "gcj02",
    "高德": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "bd09ll": "bd09",
    "baidu": "bd09",
    "百度": "bd09",
}

AGE_BANDS = (*(f"{a}-{a + 4}" for a in range(0, 85, 5)), "85+")
AGE_BAND = {b: b for b in AGE_BANDS}

_ICD = re.compile(r"^([A-Z])(\d{2})(?:\.\w*)?$")


def _icd_category(value: str) -> tuple[str, int] | None:
    m = _ICD.match(value.strip().upper())
    return (m.group(1), int(m.group(2))) if m else None


def icd_chronic(value: str) -> str | None:
    """ICD-10 code of a managed chronic disease: I10–I15 → htn, E11 → t2dm."""
    cat = _icd_category(value)
    if cat is None:
        return None
    if cat[0] == "I" and 10 <= cat[1] <= 15:
        return "htn"
    if cat == ("E", 11):
        return "t2dm"
    return None


def icd_infectious(value: str) -> str | None:
    """ICD-10 code of a reportable influenza case: J09–J11 → influenza."""
    cat = _icd_category(value)
    if cat is not None and cat[0] == "J" and 9 <= cat[1] <= 11:
        return "influenza"
    return None


def norm_value(value: str) -> str:
    """Normal form of an enum value: NFKC (full-width → half-width), stripped, lower-case."""
    return unicodedata.normalize("NFKC", value).strip().lower()


def norm_header(value: str) -> str:
    """Normal form of a header: NFKC, lower-case, no whitespace, no ``_``/``-``, no BOM."""
    v = unicodedata.normalize("NFKC", str(value)).replace("\ufeff", "").lower()
    return re.sub(r"[\s_\-]+", "", v)


#: Vaccine codes (free text is accepted; these Chinese names are normalised).
VACCINE = {
    "流感": "influenza",
    "流感疫苗": "influenza",
    "流行性感冒疫苗": "influenza",
    "肺炎": "pneumococcal",
    "肺炎疫苗": "pneumococcal",
    "23价肺炎疫苗": "pneumococcal",
    "肺炎球菌疫苗": "pneumococcal",
    "新冠": "covid19",
    "新冠疫苗": "covid19",
    "新冠病毒疫苗": "covid19",
    "covid-19": "covid19",
}


def vaccine_code(value: str) -> str | None:
    """Any other vaccine name is kept, normalised (NFKC, lower-case, stripped)."""
    v = norm_value(value)
    return v or None


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
        return tuple(c.name for c in self.columns)

    def col(self, name: str) -> Col:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def C(name: str, kind: str = "str", *aliases: str, **kw: object) -> Col:
    return Col(name, kind, aliases=tuple(aliases), **kw)  # type: ignore[arg-type]


def R(name: str, kind: str = "str", *aliases: str, **kw: object) -> Col:
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
            C("road_id", "int", "id", "道路编号", lo=0),
            C("highway", "str", "道路等级"),
            C("speed_kmh", "float", "限速", "速度", lo=0),
            C("geometry_wkt", "wkt", "geometry", "wkt", store=False),
            COORD,
        ),
        key=("road_id",),
        doc="roads.geojson LineStrings (optional).",
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
