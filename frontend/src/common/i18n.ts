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
  gcj02_warning: {
    zh: "底图为 GCJ-02（火星坐标），与本系统的 WGS84 数据相差数百米；请改用 WGS84 底图（如天地图）。",
    en: "The basemap is GCJ-02: it is off from our WGS84 data by several hundred metres. Use a WGS84 basemap such as Tianditu.",
  },
};

let lang: Lang = (localStorage.getItem("healthmap.lang") as Lang) === "en" ? "en" : "zh";
const listeners: (() => void)[] = [];

export function t(key: string): string {
  const entry = DICT[key];
  return entry ? entry[lang] : key;
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
