// The phone page's own words (zh/en); the language is common/i18n's (one toggle for the
// map, the console and this page). Codes' labels come from common/vocabulary.ts.
import { currentLang } from "../common/i18n";

const TEXT: Record<string, { zh: string; en: string }> = {
  title: { zh: "今日随访", en: "Today's visits" },
  login_title: { zh: "家庭医生 · 今日随访", en: "Family doctor · today's visits" },
  username: { zh: "用户名", en: "Username" },
  password: { zh: "密码", en: "Password" },
  login: { zh: "登录", en: "Log in" },
  logging_in: { zh: "正在登录…", en: "Logging in…" },
  logout: { zh: "退出", en: "Log out" },
  no_team: { zh: "此页面供家庭医生团队使用；本账号没有团队。", en: "This page is for family-doctor teams; this account has no team." },
  to_console: { zh: "打开慢病管理中心工作台", en: "Open the centre's console" },
  to_map: { zh: "打开健康地图", en: "Open the health map" },
  team: { zh: "团队", en: "Team" },
  items: { zh: "项", en: "tasks" },
  plan: { zh: "今日计划", en: "Today's plan" },
  plan_note: {
    zh: "按规则选出团队每日上限内的 {n} 户（红色优先），按路线顺序编号；地图上的编号相同。",
    en: "The {n} households that fit the team's daily limit (red first), numbered in route order; the map shows the same numbers.",
  },
  plan_empty: { zh: "今日计划为空。", en: "Nothing planned today." },
  backlog: { zh: "待办积压（未排入今日计划）", en: "Backlog (not in today's plan)" },
  no_location: { zh: "无位置，未排入路线", en: "No location: not routed" },
  same_place: { zh: "与出发地位置相同（住址仅到村，位置为村庄中心）", en: "Same place as the base (address known to the village only)" },
  empty: { zh: "今天没有待随访任务。", en: "No follow-up due today." },
  other: { zh: "其他", en: "Other" },
  call: { zh: "拨打电话", en: "Call" },
  navigate: { zh: "导航", en: "Navigate" },
  record: { zh: "记录随访", en: "Record visit" },
  dismiss: { zh: "核实后忽略", en: "Checked: dismiss" },
  overdue: { zh: "逾期{n}天", en: "{n} days overdue" },
  last: { zh: "上次", en: "Last" },
  bp: { zh: "血压", en: "BP" },
  glucose: { zh: "血糖", en: "Glucose" },
  no_visit: { zh: "无随访记录", en: "No visit yet" },
  age: { zh: "{n}岁", en: "{n} y" },
  male: { zh: "男", en: "M" },
  female: { zh: "女", en: "F" },
  route: { zh: "今日路线", en: "Today's route" },
  route_summary: {
    zh: "今日路线 {n} 站 · {km} 公里 · 约 {min} 分钟（不含随访时间），从出发地开始",
    en: "Today's route: {n} stops · {km} km · about {min} min of travel (visits not included), from the base",
  },
  route_unavailable: { zh: "路线不可用", en: "Route unavailable" },
  base: { zh: "出发地", en: "Base" },
  base_mark: { zh: "站", en: "B" },
  map: { zh: "地图", en: "Map" },
  saved: { zh: "已保存 {who} 的随访记录。", en: "Visit of {who} saved." },
  saving: { zh: "正在保存…", en: "Saving…" },
  dismissed: { zh: "已忽略该任务。", en: "Task dismissed." },
  dismiss_prompt: { zh: "忽略 {who} 的任务「{task}」的原因：", en: "Why dismiss the task “{task}” of {who}?" },
  sbp_gt_dbp: { zh: "收缩压应高于舒张压。", en: "Systolic must be higher than diastolic." },
  visit_title: { zh: "记录随访", en: "Record a visit" },
  cancel: { zh: "取消", en: "Cancel" },
  visit_date: { zh: "随访日期", en: "Visit date" },
  method: { zh: "随访方式", en: "Method" },
  m_home: { zh: "入户", en: "Home" },
  m_clinic: { zh: "门诊", en: "Clinic" },
  m_phone: { zh: "电话", en: "Phone" },
  m_online: { zh: "网络", en: "Online" },
  bp_legend: { zh: "血压 (mmHg)", en: "Blood pressure (mmHg)" },
  sbp: { zh: "收缩压", en: "Systolic" },
  dbp: { zh: "舒张压", en: "Diastolic" },
  hr: { zh: "心率", en: "Heart rate" },
  fpg: { zh: "空腹血糖 (mmol/L)", en: "Fasting glucose (mmol/L)" },
  adherence: { zh: "服药依从性", en: "Medication adherence" },
  a_regular: { zh: "规律", en: "Regular" },
  a_intermittent: { zh: "间断", en: "Intermittent" },
  a_none: { zh: "不服药", en: "None" },
  adverse: { zh: "药物不良反应", en: "Adverse drug reaction" },
  referred: { zh: "已转诊", en: "Referred" },
  next_visit: { zh: "下次随访日期", en: "Next visit" },
  save: { zh: "保存", en: "Save" },
};

/** The page's text for ``key`` in the current language, ``{name}`` filled from ``vars``. */
export function p(key: string, vars: Record<string, string | number> = {}): string {
  const entry = TEXT[key];
  let s = entry ? entry[currentLang()] : key;
  for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, String(v));
  return s;
}

/** Elements with data-p="key" get their text (the first text node, so inputs stay). */
export function applyPhoneI18n(root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>("[data-p]").forEach((el) => {
    const text = p(el.dataset.p!);
    const node = [...el.childNodes].find((n) => n.nodeType === Node.TEXT_NODE && n.textContent?.trim());
    if (node && el.children.length) node.textContent = `${text} `;
    else el.textContent = text;
  });
  document.documentElement.lang = currentLang() === "zh" ? "zh-CN" : "en";
  document.title = p("title");
}
