"""The codes of the data contract: the spellings a delivery may use for each, normalised.

Every enumeration maps a normalised input value (NFKC, lower-case, stripped:
:func:`norm_value`) to its canonical code; ICD-10 codes map to the managed chronic
diseases and reportable infections; :func:`norm_header` normalises column headers.
:mod:`pipelines.ingest.schema` attaches them to the contract's columns.
"""

from __future__ import annotations

import re
import unicodedata

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
