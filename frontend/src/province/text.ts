// The province page's own words (zh/en). The language is the one common/i18n keeps (shared
// with every page); codes' labels (suppression reasons, roles) come from
// common/vocabulary.ts, indicator names from GET /api/v1/province/meta.
import { currentLang } from "../common/i18n";

const TEXT: Record<string, { zh: string; en: string }> = {
  title: { zh: "全省县域健康指标", en: "Counties of the province" },
  login_title: { zh: "省市卫健委 · 登录", en: "Province and city bureaus · log in" },
  username: { zh: "用户名", en: "Username" },
  password: { zh: "密码", en: "Password" },
  login: { zh: "登录", en: "Log in" },
  logging_in: { zh: "正在登录…", en: "Logging in…" },
  logout: { zh: "退出", en: "Log out" },
  loading: { zh: "加载中…", en: "Loading…" },
  error: { zh: "出错了", en: "Error" },
  forbidden: {
    zh: "此账号不能使用全省页面（需省市卫健委账号）。县级账号请打开本县的地图。",
    en: "This account cannot use the province page (a province or city bureau account can). A county's account opens its county's map.",
  },
  open_map: { zh: "打开地图", en: "Open the map" },
  no_data: { zh: "尚无县发布数据：请先在各县运行 healthmap build。", en: "No county has published yet: run healthmap build in each county." },
  indicator: { zh: "指标", en: "Indicator" },
  period: { zh: "统计期", en: "Period" },
  as_of: { zh: "数据截至", en: "Data as of" },
  counties_n: { zh: "{n} 个县（市、区）", en: "{n} counties" },
  published: { zh: "已发布 {n} 个", en: "{n} published" },
  ranking: { zh: "县（市、区）排名", en: "Counties ranked" },
  ranking_note: { zh: "点击一行查看该县各乡镇。", en: "Click a row to see the county's towns." },
  col_rank: { zh: "排名", en: "Rank" },
  col_county: { zh: "县（市、区）", en: "County" },
  col_city: { zh: "所属地市", en: "City" },
  col_value: { zh: "数值", en: "Value" },
  col_num_den: { zh: "分子 / 分母", en: "Numerator / denominator" },
  col_town: { zh: "乡镇（街道）", en: "Town" },
  city_total: { zh: "地市合计", en: "city total" },
  province_total: { zh: "全省合计", en: "Province total" },
  counties_in: { zh: "{n} 个县", en: "{n} counties" },
  unit_fraction: { zh: "数值为百分比（分子 ÷ 分母）", en: "Values are per cent (numerator ÷ denominator)" },
  unit_per_1000: { zh: "数值为每千人（‰）", en: "Values are per 1,000 people (‰)" },
  map_counties: { zh: "全部县（市、区）", en: "All counties" },
  map_towns: { zh: "{county} · 各乡镇（街道）", en: "{county} · towns" },
  back: { zh: "← 返回全部县（市、区）", en: "← Back to all counties" },
  map_note: {
    zh: "颜色越深数值越高；斜线为数量过小不予显示（悬停查看原因）；灰色为无数据。点击县查看其乡镇。",
    en: "Darker is higher; hatched: withheld, numbers too small (hover for why); grey: no data. Click a county to see its towns.",
  },
  suppressed: { zh: "数量过小不予显示", en: "Withheld (small numbers)" },
  no_value: { zh: "无数据", en: "No data" },
  towns_of: { zh: "{county}各乡镇（街道）", en: "Towns of {county}" },
  click_towns: { zh: "点击查看该县各乡镇", en: "Click for the county's towns" },
  click_county: { zh: "点击查看各乡镇", en: "Click for its towns" },
  role_province: { zh: "省市卫健委", en: "Province or city bureau" },
};

/** The province page's text for `key` in the current language, with {placeholders}. */
export function v(key: string, vars: Record<string, string | number> = {}): string {
  const entry = TEXT[key];
  let text = entry ? entry[currentLang()] : key;
  for (const [name, value] of Object.entries(vars)) text = text.split(`{${name}}`).join(String(value));
  return text;
}

/** Elements with data-v="key" get their text; the page title too. */
export function applyProvinceI18n(root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>("[data-v]").forEach((el) => {
    el.textContent = v(el.dataset.v!);
  });
  document.documentElement.lang = currentLang() === "zh" ? "zh-CN" : "en";
  document.title = v("title");
}
