// Dictionary i18n: Chinese by default, English on request (kept in localStorage; the
// choice of language is not personal data). Static text carries data-i18n="key"
// (textContent), data-i18n-placeholder or data-i18n-title; code calls t("key").
//
// The labels of the product's codes (tasks, colours, diseases, levels, roles, hotspot
// classes, indicators, suppression reasons) are not in this dictionary: they come from the
// generated ./vocabulary.ts (one home: geo/vocabulary.py); code calls label(TERMS, code).

import type { Label } from "./vocabulary";

export type Lang = "zh" | "en";

const DICT: Record<string, { zh: string; en: string }> = {
  app_title: { zh: "智慧健康地图", en: "Health map" },
  login_title: { zh: "登录", en: "Log in" },
  username: { zh: "用户名", en: "Username" },
  password: { zh: "密码", en: "Password" },
  login: { zh: "登录", en: "Log in" },
  logout: { zh: "退出", en: "Log out" },
  logging_in: { zh: "正在登录…", en: "Logging in…" },
  lang_toggle: { zh: "English", en: "中文" },
  search_placeholder: { zh: "搜索村庄、网格或乡镇", en: "Search village, grid or town" },
  no_results: { zh: "无结果", en: "No results" },
  layers: { zh: "图层", en: "Layers" },
  overlays: { zh: "叠加", en: "Overlays" },
  layer_indicators: { zh: "指标（六边形）", en: "Indicators (hexagons)" },
  layer_grid_indicators: { zh: "指标（网格）", en: "Indicators (grids)" },
  layer_village_indicators: { zh: "指标（村）", en: "Indicators (villages)" },
  layer_town_indicators: { zh: "指标（乡镇）", en: "Indicators (towns)" },
  layer_hotspots: { zh: "热点分析", en: "Hotspots" },
  layer_mobility: { zh: "人口流动热力", en: "Mobility" },
  layer_facilities: { zh: "医疗机构", en: "Facilities" },
  layer_boundaries: { zh: "行政边界", en: "Boundaries" },
  layer_risk: { zh: "传播风险网格", en: "Cells at risk of spread" },
  layer_alerts: { zh: "传染病预警", en: "Outbreak alerts" },
  layer_education_reads: { zh: "健康教育阅读（网格）", en: "Education reads (grids)" },
  indicator: { zh: "指标", en: "Indicator" },
  classification: { zh: "分级方法", en: "Classification" },
  quantile: { zh: "分位数", en: "Quantiles" },
  jenks: { zh: "自然断点", en: "Natural breaks (Jenks)" },
  equal: { zh: "等间距", en: "Equal interval" },
  classes: { zh: "分级数", en: "Classes" },
  month: { zh: "月份", en: "Month" },
  legend: { zh: "图例", en: "Legend" },
  no_data: { zh: "无数据", en: "No data" },
  suppressed: { zh: "数量过小已隐藏", en: "Suppressed (small numbers)" },
  people_per_hour: { zh: "人/小时", en: "people/hour" },
  export: { zh: "导出", en: "Export" },
  export_png: { zh: "地图图片 PNG", en: "Map image (PNG)" },
  export_csv: { zh: "数据 CSV", en: "Data (CSV)" },
  export_geojson: { zh: "数据 GeoJSON", en: "Data (GeoJSON)" },
  close: { zh: "关闭", en: "Close" },
  value: { zh: "值", en: "Value" },
  numerator: { zh: "分子", en: "Numerator" },
  denominator: { zh: "分母", en: "Denominator" },
  trend: { zh: "近12个月趋势", en: "12-month trend" },
  health_index: { zh: "网格健康指数", en: "Grid health index" },
  hotspot_stats: { zh: "热点统计", en: "Hotspot statistics" },
  facility: { zh: "医疗机构", en: "Facility" },
  beds: { zh: "床位", en: "Beds" },
  type: { zh: "类型", en: "Type" },
  loading: { zh: "加载中…", en: "Loading…" },
  error: { zh: "出错了", en: "Error" },
  not_available: { zh: "该图层需要指定热点指标", en: "Pick a hotspot indicator" },
  as_of: { zh: "数据截至", en: "Data as of" },
  role_forbidden: { zh: "此账号没有地图权限，请使用手机端。", en: "This account has no map access; use the phone page." },
  mobile_link: { zh: "打开手机端", en: "Open the phone page" },
  hotspot_level: { zh: "热点单元", en: "Hotspot units" },
  stat_class: { zh: "分类", en: "Class" },
  stat_z: { zh: "Gi* z 值", en: "Gi* z-score" },
  stat_p: { zh: "p 值（正态近似）", en: "p-value (normal approximation)" },
  stat_q: { zh: "q 值（FDR 校正后）", en: "q-value (FDR-adjusted)" },
  stat_p_sim: { zh: "p 值（置换检验）", en: "p-value (permutations)" },
  stat_rate: { zh: "粗率", en: "Crude rate" },
  stat_smoothed_rate: { zh: "经验贝叶斯平滑率", en: "Empirical-Bayes smoothed rate" },
  hotspot_none_found: {
    zh: "本图层未发现显著的热点或冷点：{unit}上的经验贝叶斯平滑 Getis-Ord Gi*，Benjamini-Hochberg 错误发现率 0.05，无单元达到显著。",
    en: "No significant hot or cold spots: empirical-Bayes smoothed Getis-Ord Gi* over {unit}, Benjamini-Hochberg false discovery rate 0.05; no unit reaches significance.",
  },
  hotspot_found: { zh: "热点 {hot} 个，冷点 {cold} 个（{unit}，FDR 0.05）", en: "{hot} hot and {cold} cold units ({unit}, FDR 0.05)" },
  hotspot_method: {
    zh: "方法：经验贝叶斯平滑 Getis-Ord Gi*，Benjamini-Hochberg FDR 0.05",
    en: "Method: empirical-Bayes smoothed Getis-Ord Gi*, Benjamini-Hochberg FDR 0.05",
  },
  approximate_note: {
    zh: "网格、村和镇街边界为近似边界（由村委会驻地的泰森多边形推算），非官方边界。",
    en: "Grid, village and town outlines are approximate (Voronoi cells of the village seats), not official boundaries.",
  },
  legend_facilities: { zh: "医疗机构（按类型）", en: "Facilities (by type)" },
  legend_alerts: { zh: "预警范围（轮廓）", en: "Alert areas (outline)" },
  legend_alert_outline: { zh: "发出预警的乡镇或网格", en: "Town or cell with an alert" },
  legend_risk: { zh: "传播风险网格（评分）", en: "Cells at risk of spread (score)" },
  legend_risk_low: { zh: "评分 0.5（较低）", en: "Score 0.5 (lower)" },
  legend_risk_high: { zh: "评分 1.0（最高）", en: "Score 1.0 (highest)" },
  legend_boundaries: { zh: "行政边界", en: "Boundaries" },
  boundary_county: { zh: "县界", en: "County" },
  boundary_town: { zh: "镇街界", en: "Town" },
  boundary_detail: { zh: "村界 / 网格界（虚线）", en: "Village / grid (dashed)" },
  data_source: { zh: "数据来源：县卫生健康局健康地图（本系统）", en: "Source: county health bureau's health map (this service)" },
  exported: { zh: "导出于", en: "Exported" },
  share_link: { zh: "复制链接", en: "Copy link" },
  link_copied: { zh: "链接已复制", en: "Link copied" },
  town_label: { zh: "镇街", en: "Town" },
  gcj02_warning: {
    zh: "底图为 GCJ-02（火星坐标），与本系统的 WGS84 数据相差数百米；请改用 WGS84 底图（如天地图）。",
    en: "The basemap is GCJ-02: it is off from our WGS84 data by several hundred metres. Use a WGS84 basemap such as Tianditu.",
  },
};

let lang: Lang = (localStorage.getItem("healthmap.lang") as Lang) === "en" ? "en" : "zh";
const listeners: (() => void)[] = [];

export function t(key: string, vars?: Record<string, string | number>): string {
  const entry = DICT[key];
  let text = entry ? entry[lang] : key;
  for (const [k, v] of Object.entries(vars ?? {})) text = text.split(`{${k}}`).join(String(v));
  return text;
}

/**
 * The label of ``code`` in a term set of ./vocabulary.ts, in the current language; the
 * code itself when the set does not know it (a code newer than this build), "" for none.
 */
export function label(terms: Readonly<Record<string, Label>>, code: string | null | undefined): string {
  if (code === null || code === undefined) return "";
  return Object.prototype.hasOwnProperty.call(terms, code) ? terms[code][lang] : code;
}

/** Whether ``code`` is one of ``terms``' codes. */
export function isTerm(terms: Readonly<Record<string, Label>>, code: string): boolean {
  return Object.prototype.hasOwnProperty.call(terms, code);
}

export function currentLang(): Lang {
  return lang;
}

export function setLang(next: Lang): void {
  lang = next;
  localStorage.setItem("healthmap.lang", next);
  document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
  applyI18n();
  for (const fn of listeners) fn();
}

export function onLangChange(fn: () => void): void {
  listeners.push(fn);
}

export function applyI18n(root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>("[data-i18n]").forEach((el) => {
    el.textContent = t(el.dataset.i18n!);
  });
  root.querySelectorAll<HTMLInputElement>("[data-i18n-placeholder]").forEach((el) => {
    el.placeholder = t(el.dataset.i18nPlaceholder!);
  });
  root.querySelectorAll<HTMLElement>("[data-i18n-title]").forEach((el) => {
    el.title = t(el.dataset.i18nTitle!);
  });
  document.title = t("app_title");
}
