// The console's own words (zh/en). The language is the one common/i18n keeps (shared with
// the map and the phone page); codes' labels come from common/vocabulary.ts, not from here.
import { currentLang } from "../common/i18n";

const TEXT: Record<string, { zh: string; en: string }> = {
  title: { zh: "慢病管理中心工作台", en: "Chronic-disease centre console" },
  login_title: { zh: "慢病管理中心 · 登录", en: "Chronic-disease centre · log in" },
  username: { zh: "用户名", en: "Username" },
  password: { zh: "密码", en: "Password" },
  login: { zh: "登录", en: "Log in" },
  logging_in: { zh: "正在登录…", en: "Logging in…" },
  logout: { zh: "退出", en: "Log out" },
  forbidden: { zh: "此账号不能使用慢病管理中心工作台。", en: "This account cannot use the centre's console." },
  grids_map: { zh: "网格地图", en: "Grids on the map" },
  map_note: { zh: "颜色为网格健康指数（0–100），灰色为无数据；点击网格查看健康指数趋势。", en: "Colour: grid health index (0–100), grey: no data; click a grid for its trend." },
  map: { zh: "地图", en: "Map" },
  teams: { zh: "团队与今日清单", en: "Teams and today's lists" },
  grids_table: { zh: "网格指标与上月相比", en: "Grid indicators against last month" },
  grids_note: {
    zh: "{prev} 与 {d} 相比；双侧合并两比例 z 检验，全乡镇网格×指标按 Benjamini–Hochberg 控制错误发现率 {fdr}；两期分母均不少于 {k} 才检验。",
    en: "{prev} against {d}; two-sided pooled two-proportion z-test, Benjamini–Hochberg false discovery rate {fdr} over all grids × indicators of the township; tested only when both denominators are at least {k}.",
  },
  town: { zh: "全乡镇", en: "Township" },
  as_of: { zh: "数据截至", en: "Data as of" },
  list_day: { zh: "清单日期", en: "Lists of" },
  points: { zh: "个百分点", en: " pp" },
  not_tested: { zh: "未检验", en: "Not tested" },
  flagged: { zh: "显著变化", en: "Flagged" },
  health_index: { zh: "健康指数", en: "Health index" },
  health_index_trend: { zh: "网格健康指数及七项构成（各 0–100）", en: "Grid health index and its seven parts (each 0–100)" },
  month: { zh: "月份", en: "Month" },
  col_unit: { zh: "网格", en: "Grid" },
  col_indicator: { zh: "指标", en: "Indicator" },
  col_prev: { zh: "上月末", en: "Last month-end" },
  col_now: { zh: "本期", en: "Now" },
  col_change: { zh: "变化", en: "Change" },
  col_z: { zh: "z 值", en: "z" },
  col_q: { zh: "q 值", en: "q" },
  col_flag: { zh: "判定", en: "Flag" },
  col_team: { zh: "团队", en: "Team" },
  col_yesterday: { zh: "昨日工作", en: "Yesterday" },
  col_backlog: { zh: "积压（逾期天数）", en: "Backlog (days overdue)" },
  col_run: { zh: "06:00 推送", en: "06:00 run" },
  col_name: { zh: "姓名", en: "Name" },
  col_phone: { zh: "电话", en: "Phone" },
  col_age: { zh: "年龄", en: "Age" },
  col_disease: { zh: "病种", en: "Disease" },
  col_task: { zh: "任务", en: "Task" },
  col_overdue: { zh: "逾期天数", en: "Days overdue" },
  max_visits: { zh: "每日上限", en: "Daily visits" },
  visits: { zh: "随访", en: "visits" },
  closed: { zh: "完成任务", en: "tasks closed" },
  generated: { zh: "已生成", en: "Generated" },
  opened: { zh: "团队已查看", en: "opened" },
  not_opened: { zh: "团队未查看", en: "not opened yet" },
  not_generated: { zh: "今日清单未生成", en: "Not generated today" },
  open_list: { zh: "查看清单", en: "Open list" },
  list_of_day: { zh: "今日清单", en: "today's list" },
  unmask: { zh: "显示姓名电话（需说明理由）", en: "Show names and phones (give a reason)" },
  unmask_prompt: { zh: "请说明需要查看姓名和电话的理由（将记入审计日志）：", en: "Why do you need the names and phones? (kept in the audit log)" },
  reason_short: { zh: "理由至少 4 个字。", en: "The reason needs at least 4 characters." },
  masked_note: { zh: "姓名和电话已脱敏。", en: "Names and phones are masked." },
  unmasked_note: { zh: "已显示姓名和电话；本次查看连同理由已记入审计日志。", en: "Names and phones shown; this read and its reason are in the audit log." },
};

/** The console's text for ``key`` in the current language. */
export function c(key: string): string {
  const entry = TEXT[key];
  return entry ? entry[currentLang()] : key;
}

/** Elements with data-c="key" get their text; the page title too. */
export function applyConsoleI18n(root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>("[data-c]").forEach((el) => {
    el.textContent = c(el.dataset.c!);
  });
  document.documentElement.lang = currentLang() === "zh" ? "zh-CN" : "en";
  document.title = c("title");
}
