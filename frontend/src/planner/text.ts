// The planner page's own words (zh/en). The language is the one common/i18n keeps (shared
// with the map, the phone page and the console); codes' labels come from
// common/vocabulary.ts, not from here.
import { currentLang } from "../common/i18n";

const TEXT: Record<string, { zh: string; en: string }> = {
  title: { zh: "医疗服务覆盖与规划评估", en: "Coverage and planning" },
  login_title: { zh: "规划评估 · 登录", en: "Planning · log in" },
  username: { zh: "用户名", en: "Username" },
  password: { zh: "密码", en: "Password" },
  login: { zh: "登录", en: "Log in" },
  logging_in: { zh: "正在登录…", en: "Logging in…" },
  logout: { zh: "退出", en: "Log out" },
  forbidden: { zh: "此账号不能使用规划评估页面。", en: "This account cannot use the planning page." },
  whatif: { zh: "情景模拟", en: "What-if" },
  tool_add: { zh: "点击地图新增村卫生室", en: "Click the map to add a village clinic" },
  tool_close: { zh: "点击村卫生室关闭", en: "Click a clinic to close it" },
  reset: { zh: "重置", en: "Reset" },
  map_note: {
    zh: "底色：步行至最近村卫生室时间（绿 ≤5、≤10、≤15 分钟，橙 ≤30，红 >30 或不可达）；红点：15分钟步行圈外的人口单元；深红：建议新增村卫生室；蓝点：模拟新增；灰点：模拟关闭；绿点：现有村卫生室。",
    en: "Fill: walking minutes to the nearest village clinic (greens ≤5, ≤10, ≤15, orange ≤30, red beyond or unreachable); red dots: cells beyond the 15-minute walk; dark red: suggested new clinics; blue: added here; grey: closed here; green: existing clinics.",
  },
  covered_label: { zh: "人在村卫生室15分钟步行圈内", en: "people within a 15-minute walk of a village clinic" },
  towns: { zh: "乡镇覆盖与规划标准", en: "Towns: coverage and planning standards" },
  siting: { zh: "选址建议", en: "Suggested sites" },
  reports: { zh: "报告下载", en: "Reports" },
  make_report: { zh: "生成", en: "Make" },
  county: { zh: "全县", en: "County" },
  col_town: { zh: "乡镇", en: "Town" },
  col_population: { zh: "人口", en: "Population" },
  col_walk: { zh: "步行15分钟覆盖率", en: "15-min walk" },
  col_ebike: { zh: "电动车15分钟覆盖率", en: "15-min e-bike" },
  col_doctors: { zh: "每千人医师", en: "Doctors /1000" },
  col_standards: { zh: "规划标准", en: "Standards" },
  met_of: { zh: "{m}/{n} 达标", en: "{m} of {n} met" },
  missed: { zh: "未达标：", en: "Missed: " },
  new_sites: { zh: "新增 {k} 处村卫生室可新覆盖 {n} 人", en: "{k} new village clinics would newly cover {n} people" },
  sub_centre: { zh: "县域医疗服务次中心：", en: "County sub-centre: " },
  withheld: { zh: "<{k}", en: "<{k}" },
  added: { zh: "模拟新增 {a} 处、关闭 {c} 处", en: "{a} added, {c} closed" },
  computing: { zh: "正在计算…", en: "Computing…" },
  report_queued: { zh: "排队中…", en: "Queued…" },
  report_running: { zh: "正在生成：{p}%", en: "Writing: {p}%" },
  report_done: { zh: "已生成，正在下载。", en: "Done; downloading." },
  report_failed: { zh: "生成失败：", en: "Failed: " },
  loading: { zh: "加载中…", en: "Loading…" },
  error: { zh: "出错了", en: "Error" },
  as_of: { zh: "数据截至", en: "Data as of" },
  model_roads: { zh: "路网模型", en: "road network" },
  model_straight_line: { zh: "直线距离模型", en: "straight-line model" },
};

/** The page's text for ``key`` in the current language, ``{name}`` filled from ``vars``. */
export function p(key: string, vars: Record<string, string | number> = {}): string {
  const entry = TEXT[key];
  let s = entry ? entry[currentLang()] : key;
  for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
  return s;
}

export function applyPlannerI18n(root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>("[data-p]").forEach((el) => {
    el.textContent = p(el.dataset.p!);
  });
  document.title = p("title");
}
