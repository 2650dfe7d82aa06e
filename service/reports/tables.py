"""The coverage report's content, once for every format: a suppressed, town-filtered view.

:func:`prepare` turns a :class:`pipelines.coverage.CoverageResult` into a
:class:`ReportData`: the tables of the report with Chinese headings (the PDF and the XLSX
show the same ones), the methods note, and the map layers (the GeoPackage, GeoJSON and
HTML formats and the PDF's maps draw them).

A report leaves the service, so small numbers are withheld here (RULES.md "Small
numbers", ``geo.suppression``): a cell's population below ``k`` is blanked (its travel
time stays: it is not about people), and a town's covered count of 1 to ``k`` − 1 people,
or any figure of a town of fewer than ``k`` residents, is blanked with the reason. The
county row is always shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from geo.errors import NotFoundError
from geo.rules import DEFAULT_RULES
from geo.suppression import suppression_reasons

if TYPE_CHECKING:
    import geopandas as gpd

    from pipelines.coverage import CoverageResult

#: Facility groups and travel modes as the report names them (the order of its columns).
GROUPS: dict[str, str] = {
    "village_clinic": "村卫生室",
    "township_hc": "乡镇卫生院",
    "county_hospital": "县级医院",
}
MODES: dict[str, str] = {"walk": "步行", "ebike": "电动车", "drive": "驾车"}
TRAVEL_MODELS: dict[str, str] = {
    "roads": "路网最短路径（按道路等级与出行方式限速）",
    "straight_line": "直线距离 × 绕行系数",
}
#: Rows of the underserved table (the largest first); the layers hold all of them.
UNDERSERVED_ROWS = 30
WITHHELD = "<{k}"


@dataclass
class ReportData:
    """What every format of the report is made of."""

    title: str
    scope_name: str
    town_code: str | None
    k: int
    #: Sheet/section name → table with Chinese column headings.
    tables: dict[str, pd.DataFrame]
    #: (item, text) rows of the methods note.
    methods: list[tuple[str, str]]
    #: Layer name → GeoDataFrame in EPSG:4326.
    layers: dict[str, gpd.GeoDataFrame]
    #: Town code → name (towns of the scope).
    town_names: dict[str, str]
    #: Headline figures (covered shares of the scope) for the PDF's first page.
    headline: list[tuple[str, str]] = field(default_factory=list)
    service_minutes: float = 15.0


def _k(k: int | None) -> int:
    # The one small-number threshold is the rules' (RULES.md "Small numbers").
    return DEFAULT_RULES.indicators.suppression_k if k is None else k


def _pct(value: Any) -> str:
    return "—" if value is None or pd.isna(value) else f"{100 * float(value):.1f}%"


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value):
        return "—"
    number = float(value)
    if np.isinf(number):
        return "∞"
    return f"{number:,.0f}" if digits == 0 else f"{number:,.{digits}f}"


def _withheld_people(values: pd.Series, k: int) -> pd.Series:
    """People counts as report text: 1 to k − 1 withheld (0 is shown)."""
    return values.map(lambda v: WITHHELD.format(k=k) if 0 < float(v) < k else _num(v, 0))


def _county(result: CoverageResult) -> tuple[str, str]:
    county = result.towns[result.towns["level"] == "county"]
    if county.empty:
        return "", "全县"
    return str(county["area_code"].iloc[0]), str(county["name"].iloc[0])


def _scope(result: CoverageResult, town: str | None) -> tuple[pd.DataFrame, str]:
    towns = result.towns
    county = towns[towns["level"] == "county"]
    county_name = str(county["name"].iloc[0]) if len(county) else "全县"
    if town is None:
        return towns, county_name
    rows = towns[(towns["level"] == "town") & (towns["area_code"].astype(str) == town)]
    if rows.empty:
        raise NotFoundError(f"no town {town!r} in the coverage result")
    # The town and, for comparison, the county.
    return pd.concat([rows, county]), str(rows["name"].iloc[0])


def _in_town(frame: pd.DataFrame, town: str | None, column: str = "town_code") -> pd.DataFrame:
    if town is None or column not in frame.columns:
        return frame
    return frame[frame[column].astype(str) == town]


def _towns_table(towns: pd.DataFrame, k: int, minutes: float) -> pd.DataFrame:
    m = f"{minutes:g}"
    small = (towns["population"] < k) & (towns["level"] != "county")
    out = pd.DataFrame(
        {
            "乡镇": towns["name"].astype(str),
            "代码": towns["area_code"].astype(str),
            "常住人口": _withheld_people(towns["population"], k),
        }
    )
    for group in ("village_clinic", "township_hc"):
        for mode in MODES:
            cov, share = f"cov_{group}_{mode}", f"share_{group}_{mode}"
            if share not in towns.columns:
                continue
            reason = suppression_reasons(towns[cov], towns["population"], k)
            reason[(towns["level"] == "county").to_numpy()] = None
            shown = [None if r else v for r, v in zip(reason, towns[share], strict=True)]
            out[f"{GROUPS[group]}{m}分钟{MODES[mode]}覆盖率"] = [_pct(v) for v in shown]
    columns = {
        "village_clinics": ("村卫生室数", 0),
        "pop_per_village_clinic": ("每村卫生室服务人口", 0),
        "township_hcs": ("乡镇卫生院数", 0),
        "doctors_per_1000": ("每千人执业(助理)医师", 2),
        "gps_per_10000": ("每万人全科医生", 2),
        "beds_per_1000": ("每千人床位", 2),
        "two_sfca_per_1000": ("2SFCA每千人医师", 2),
    }
    for column, (heading, digits) in columns.items():
        if column in towns.columns:
            out[heading] = [
                "—" if hide else _num(v, digits)
                for hide, v in zip(small, towns[column], strict=True)
            ]
    return out.reset_index(drop=True)


def _standards_table(standards: pd.DataFrame) -> pd.DataFrame:
    def met(row: Any) -> str:
        if row["op"] == "reported":
            return "仅报告"
        if row["met"] is None or pd.isna(row["met"]):
            return "无法计算"
        return "达标" if bool(row["met"]) else "未达标"

    def gap(row: Any) -> str:
        if row["op"] == "reported" or row["met"] is None or pd.isna(row["met"]):
            return "—"
        return "0" if bool(row["met"]) else _num(row["gap"])

    return pd.DataFrame(
        {
            "地区": standards["name"].astype(str),
            "标准": standards["label_zh"].astype(str),
            "目标": [
                "—" if op == "reported" else f"≥ {_num(t)}"
                for op, t in zip(standards["op"], standards["target"], strict=True)
            ],
            "现状": [_num(v) for v in standards["value"]],
            "单位": standards["unit"].astype(str),
            "结论": [met(r) for _, r in standards.iterrows()],
            "差距": [gap(r) for _, r in standards.iterrows()],
        }
    ).reset_index(drop=True)


def _underserved_table(
    underserved: pd.DataFrame, names: dict[str, str], k: int, rows: int
) -> pd.DataFrame:
    top = underserved.sort_values("rank").head(rows)
    return pd.DataFrame(
        {
            "排名": top["rank"].astype(int),
            "乡镇": [names.get(str(c), str(c)) for c in top["town_code"]],
            "网格": top["grid_id"].fillna("—").astype(str),
            "H3 单元": top["h3"].astype(str),
            "人口": _withheld_people(top["population"], k),
            "步行至最近村卫生室(分钟)": [_num(v, 1) for v in top["t_village_clinic_walk"]],
        }
    ).reset_index(drop=True)


def _siting_tables(
    siting: dict[str, pd.DataFrame],
    town: str | None,
    names: dict[str, str],
    k: int,
    county: tuple[str, str],
) -> dict[str, pd.DataFrame]:
    county_code, county_name = county
    out: dict[str, pd.DataFrame] = {}
    sites = siting.get("mclp_sites")
    if sites is not None:
        sites = _in_town(sites, town).sort_values("order")
        out["新增村卫生室选址"] = pd.DataFrame(
            {
                "顺序": sites["order"].astype(int),
                "候选点": sites["name"].astype(str),
                "乡镇": [names.get(str(c), str(c)) for c in sites["town_code"]],
                "经度": sites["lng"].round(5),
                "纬度": sites["lat"].round(5),
                "新增覆盖人口": _withheld_people(sites["newly_covered"], k),
            }
        ).reset_index(drop=True)
    before_after = siting.get("mclp_towns")
    if before_after is not None:
        rows = before_after
        codes = rows["town_code"].astype(str)
        if town is not None:
            rows = rows[(codes == town) | (codes == county_code)]
            codes = rows["town_code"].astype(str)
        out["选址前后覆盖"] = pd.DataFrame(
            {
                "地区": [names.get(c, county_name if c == county_code else c) for c in codes],
                "常住人口": _withheld_people(rows["population"], k),
                "选址前覆盖": _withheld_people(rows["covered_before"], k),
                "选址后覆盖": _withheld_people(rows["covered_after"], k),
                "选址前覆盖率": [_pct(v) for v in rows["share_before"]],
                "选址后覆盖率": [_pct(v) for v in rows["share_after"]],
            }
        ).reset_index(drop=True)
    pmedian = siting.get("pmedian")
    if pmedian is not None and len(pmedian):
        out["县域医疗服务次中心"] = pd.DataFrame(
            {
                "乡镇卫生院": pmedian["name"].astype(str),
                "乡镇": [names.get(str(c), str(c)) for c in pmedian["town_code"]],
                "人口加权平均驾车时间(分钟)": [_num(v, 1) for v in pmedian["mean_minutes"]],
            }
        ).reset_index(drop=True)
    return out


def _methods(result: CoverageResult, k: int) -> list[tuple[str, str]]:
    meta = result.meta
    thresholds = meta.get("thresholds") or {}
    speeds = thresholds.get("speeds_kmh") or {}
    speed_text = "，".join(f"{MODES.get(m, m)} {v:g} km/h" for m, v in speeds.items())
    model = str(meta.get("travel_model", ""))
    model_text = TRAVEL_MODELS.get(model, model)
    if model == "straight_line" and "detour_factor" in thresholds:
        model_text = f"直线距离 × {thresholds['detour_factor']:g}（无路网数据）"
    sources = meta.get("standards_sources") or {}
    # Sources are keyed by standard code: name each by its label where the result has it.
    label_of = {
        str(c): str(lbl)
        for c, lbl in zip(
            result.standards.get("standard", []), result.standards.get("label_zh", []), strict=True
        )
    }
    if isinstance(sources, dict):
        source_text = "；".join(f"{label_of.get(c, c)}：{v}" for c, v in sources.items())
    else:
        source_text = "；".join(str(s) for s in sources)
    population = {"residents": "居民健康档案（常住居民）", "population": "人口统计"}
    return [
        ("数据截至", str(meta.get("data_date") or "—")),
        ("报告生成", dt.datetime.now().strftime("%Y-%m-%d %H:%M")),
        ("出行模型", model_text),
        ("出行速度", speed_text or "—"),
        ("服务圈", f"{thresholds.get('service_minutes', 15):g} 分钟"),
        (
            "2SFCA",
            f"{thresholds.get('catchment_minutes', 30):g} 分钟"
            f"{MODES.get(str(thresholds.get('two_sfca_mode', 'drive')), '')}服务范围，"
            "两步移动搜索法（PySAL access）",
        ),
        (
            "选址方法",
            f"最大覆盖选址 MCLP（PySAL spopt），新增 {thresholds.get('siting_k', '')} 处；"
            "县域医疗服务次中心：p-median（驾车时间）",
        ),
        ("人口来源", population.get(str(meta.get("population_source")), "—")),
        ("空间单元", f"H3 第 {meta.get('h3_resolution', thresholds.get('h3_resolution', 9))} 级"),
        ("小数保护", f"少于 {k} 人的数字不显示"),
        ("规划标准来源", source_text or "—"),
    ]


def _layers(result: CoverageResult, town: str | None, k: int) -> dict[str, gpd.GeoDataFrame]:
    import geopandas as gpd

    cells = _in_town(result.cells, town).copy()
    small = (cells["population"] > 0) & (cells["population"] < k)
    cells["population"] = cells["population"].where(~small)
    cells["population_withheld"] = small
    # Infinite times (no facility of a group) are not valid in GeoPackage or JSON.
    time_cols = [c for c in cells.columns if c.startswith("t_")]
    cells[time_cols] = cells[time_cols].replace([np.inf, -np.inf], np.nan)
    catchments = result.catchments
    if town is not None:
        # The town's cells' nearest facilities (a catchment may cross the town's edge).
        nearest = {str(v) for c in cells.columns if c.startswith("near_") for v in cells[c]}
        catchments = catchments[catchments["facility_id"].astype(str).isin(nearest)]
    catchments = catchments.copy()
    small_c = (catchments["population"] > 0) & (catchments["population"] < k)
    catchments["population"] = catchments["population"].where(~small_c)
    layers: dict[str, gpd.GeoDataFrame] = {
        "travel_time_cells": gpd.GeoDataFrame(cells, geometry="geometry", crs="EPSG:4326"),
        "catchments": gpd.GeoDataFrame(catchments, geometry="geometry", crs="EPSG:4326"),
    }
    for name, key in (("candidate_sites", "candidates"), ("chosen_sites", "mclp_sites")):
        frame = result.siting.get(key)
        if frame is None:
            continue
        frame = _in_town(frame, town).copy()
        if "newly_covered" in frame.columns:
            small_s = (frame["newly_covered"] > 0) & (frame["newly_covered"] < k)
            frame["newly_covered"] = frame["newly_covered"].where(~small_s)
        layers[name] = gpd.GeoDataFrame(
            frame, geometry=gpd.points_from_xy(frame["lng"], frame["lat"]), crs="EPSG:4326"
        )
    pmedian = result.siting.get("pmedian")
    if pmedian is not None and len(pmedian):
        pm = _in_town(pmedian, town).copy()
        layers["sub_centre"] = gpd.GeoDataFrame(
            pm, geometry=gpd.points_from_xy(pm["lng"], pm["lat"]), crs="EPSG:4326"
        )
    return layers


def prepare(result: CoverageResult, *, town: str | None = None, k: int | None = None) -> ReportData:
    """The report's tables, methods note and layers, for the county or one town.

    Parameters
    ----------
    result : pipelines.coverage.CoverageResult
        One coverage computation.
    town : str, optional
        A town's area code: the report of that town (the county row kept for comparison).
    k : int, optional
        Small-number threshold (default: the rules' ``indicators.suppression_k``).

    Returns
    -------
    ReportData
        Suppressed tables with Chinese headings, the methods note and the layers.

    Raises
    ------
    geo.errors.NotFoundError
        When ``town`` is not a town of the result.
    """
    k = _k(k)
    towns, scope_name = _scope(result, town)
    names = {
        str(c): str(n)
        for c, n, lv in zip(
            result.towns["area_code"], result.towns["name"], result.towns["level"], strict=True
        )
        if lv == "town"
    }
    thresholds = result.meta.get("thresholds") or {}
    minutes = float(thresholds.get("service_minutes", 15.0))
    standards = result.standards
    if town is not None:
        standards = standards[
            (standards["area_code"].astype(str) == town) | (standards["level"] == "county")
        ]
    underserved = _in_town(result.underserved, town)
    tables = {
        "乡镇覆盖与资源": _towns_table(towns, k, minutes),
        "规划标准": _standards_table(standards),
        "服务薄弱区域": _underserved_table(underserved, names, k, UNDERSERVED_ROWS),
        **_siting_tables(result.siting, town, names, k, _county(result)),
    }
    scope_row = towns.iloc[0]
    headline = []
    for group in ("village_clinic", "township_hc"):
        share = f"share_{group}_walk"
        if share in towns.columns:
            headline.append((f"{GROUPS[group]}{minutes:g}分钟步行圈覆盖率", _pct(scope_row[share])))
    headline.append(("服务薄弱单元（步行圈外）", f"{len(underserved):,}"))
    scope_names = {c: n for c, n in names.items() if town is None or c == town}
    return ReportData(
        title=f"{scope_name}医疗服务覆盖与规划评估报告",
        scope_name=scope_name,
        town_code=town,
        k=k,
        tables=tables,
        methods=_methods(result, k),
        layers=_layers(result, town, k),
        town_names=scope_names,
        headline=headline,
        service_minutes=minutes,
    )
