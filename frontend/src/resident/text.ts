// The resident page's own words (zh/en); the language is common/i18n's. Codes' labels
// (diseases, tasks, vaccines, roles) come with the API's answers, from geo/vocabulary.py.
import { currentLang } from "../common/i18n";

const TEXT: Record<string, { zh: string; en: string }> = {
  title: { zh: "我的健康", en: "My health" },
  activate_title: { zh: "开通我的健康档案", en: "Activate my health record" },
  activate_help: {
    zh: "请输入家庭医生给您的开通码，并设置6位数字密码。",
    en: "Type the activation code your family doctor gave you and choose a 6-digit PIN.",
  },
  code: { zh: "开通码", en: "Activation code" },
  new_pin: { zh: "设置密码（6位数字）", en: "New PIN (6 digits)" },
  new_pin_again: { zh: "再次输入密码", en: "PIN again" },
  activate: { zh: "开通", en: "Activate" },
  have_account: { zh: "已开通？直接登录", en: "Activated already? Log in" },
  first_time: { zh: "第一次使用？输入开通码", en: "First time? Enter your activation code" },
  login_title: { zh: "登录我的健康档案", en: "Log in to my health record" },
  login_id: { zh: "登录号", en: "Login id" },
  pin: { zh: "密码（6位数字）", en: "PIN (6 digits)" },
  login: { zh: "登录", en: "Log in" },
  logout: { zh: "退出", en: "Log out" },
  working: { zh: "请稍候…", en: "Please wait…" },
  pin_format: { zh: "密码必须是6位数字。", en: "The PIN must be 6 digits." },
  pin_mismatch: { zh: "两次输入的密码不一致。", en: "The two PINs differ." },
  activated: {
    zh: "开通成功！您的登录号是 {id}，请记住它和您的密码。",
    en: "Activated! Your login id is {id}; remember it and your PIN.",
  },
  locked: {
    zh: "密码错误次数太多，账号已锁定。请联系您的家庭医生重新开通。",
    en: "Too many wrong PINs: the account is locked. Ask your family doctor to reissue your code.",
  },
  wrong_pin: { zh: "登录号或密码不正确。", en: "Wrong login id or PIN." },
  wrong_code: {
    zh: "开通码不正确、已使用或已过期，请联系家庭医生。",
    en: "The code is wrong, used or expired; ask your family doctor.",
  },
  too_many: { zh: "尝试次数过多，请稍后再试。", en: "Too many tries; wait a while." },
  login_id_label: { zh: "登录号 {id}", en: "Login id {id}" },
  age: { zh: "{n}岁", en: "{n} years" },
  next_followup: { zh: "下次随访", en: "Next follow-up" },
  no_followup: { zh: "目前没有待安排的随访。", en: "No follow-up is planned now." },
  due: { zh: "日期：{d}", en: "Date: {d}" },
  overdue: { zh: "已到期，请联系您的家庭医生", en: "Due: please contact your family doctor" },
  managed: { zh: "管理病种：{list}", en: "Managed: {list}" },
  bp_trend: { zh: "我的血压", en: "My blood pressure" },
  glucose_trend: { zh: "我的血糖", en: "My blood glucose" },
  no_readings: { zh: "还没有测量记录。", en: "No readings yet." },
  bp_band: {
    zh: "绿色区域：控制目标（高压 < {s}，低压 < {d} mmHg）。● 高压 ○ 低压；◆ 在家自测",
    en: "Green: target (systolic < {s}, diastolic < {d} mmHg). ● systolic ○ diastolic; ◆ home reading",
  },
  glucose_band: {
    zh: "绿色区域：空腹血糖目标（{lo}–{hi} mmol/L）。◆ 在家自测",
    en: "Green: fasting glucose target ({lo}–{hi} mmol/L). ◆ home reading",
  },
  add_reading: { zh: "记录在家测量的结果", en: "Add a home reading" },
  sbp: { zh: "高压（收缩压）", en: "Systolic" },
  dbp: { zh: "低压（舒张压）", en: "Diastolic" },
  heart_rate: { zh: "心率", en: "Heart rate" },
  glucose: { zh: "血糖 (mmol/L)", en: "Glucose (mmol/L)" },
  glucose_type: { zh: "血糖类型", en: "Glucose type" },
  g_fasting: { zh: "空腹", en: "Fasting" },
  g_postprandial: { zh: "餐后", en: "After a meal" },
  g_random: { zh: "随机", en: "Random" },
  save: { zh: "保存", en: "Save" },
  saved: { zh: "已保存。医生可以看到这条自测记录。", en: "Saved. Your doctor can see this home reading." },
  emergency: {
    zh: "这个结果很危险！请马上拨打家庭医生电话或 120。",
    en: "This value is dangerous! Call your family doctor or 120 now.",
  },
  need_value: { zh: "请至少填写一项。", en: "Fill in at least one value." },
  my_team: { zh: "我的家庭医生团队", en: "My family-doctor team" },
  no_team: { zh: "尚未签约家庭医生团队。", en: "No family-doctor team yet." },
  call: { zh: "拨打 {p}", en: "Call {p}" },
  hotline: { zh: "（卫生健康服务热线）", en: "(health hotline)" },
  clinic: { zh: "所在机构：{n}", en: "Clinic: {n}" },
  vaccinations: { zh: "预防接种", en: "Vaccinations" },
  no_vaccinations: { zh: "没有接种记录。", en: "No vaccinations recorded." },
  flu_due: {
    zh: "建议您接种本季流感疫苗（{d}起的流感季尚无记录）。",
    en: "This season's flu shot is recommended (none recorded since {d}).",
  },
  flu_done: { zh: "本季流感疫苗已接种。", en: "This season's flu shot is done." },
  clinics: { zh: "离我最近的医疗机构", en: "Nearest clinics" },
  no_location: { zh: "没有您家的位置，无法计算距离。", en: "Your home has no location; no distances." },
  distance: { zh: "约{km}公里，步行约{min}分钟", en: "About {km} km, about {min} min on foot" },
  access_log: { zh: "谁查看了我的档案", en: "Who read my record" },
  access_log_help: {
    zh: "医护人员每次打开您的健康档案都会被记录。",
    en: "Every time a health worker opens your record it is recorded.",
  },
  no_access: { zh: "还没有医护人员查看过您的档案。", en: "No health worker has opened your record yet." },
  team_of: { zh: "（{t}）", en: " ({t})" },
  education: { zh: "健康知识", en: "Health education" },
  error: { zh: "出错了：{m}", en: "Error: {m}" },
};

export function r(key: string, vars?: Record<string, string | number>): string {
  const entry = TEXT[key];
  let text = entry ? entry[currentLang()] : key;
  for (const [k, v] of Object.entries(vars ?? {})) text = text.split(`{${k}}`).join(String(v));
  return text;
}

/** Fill every [data-r] element's text in the current language. */
export function applyText(root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>("[data-r]").forEach((el) => {
    el.textContent = r(el.dataset.r!);
  });
  document.title = r("title");
}
