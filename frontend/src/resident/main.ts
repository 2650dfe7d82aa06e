// A resident's own page (/r/): activate with the doctor's code and a new PIN, log in with
// the login id and PIN, then one long phone-first page in large type: the next follow-up,
// blood pressure and glucose over time with the target band, a home reading, the team and
// how to call it, vaccinations, the nearest clinics, who on the staff read the record, and
// health education when the service has any. Everything comes from /api/v1/me… with the
// resident's token; the service scopes every answer to that one resident.
import "./style.css";
import { ApiError, ROOT, adoptTokens, getJSON, logout, onLogout, postJSON, resume, type TokenPair } from "../common/api";
import { $, clear, h, show } from "../common/dom";
import { currentLang, onLangChange, setLang } from "../common/i18n";
import { drawChart, type ChartPoint } from "./chart";
import { applyText, r } from "./text";

interface Label { code: string; zh: string; en: string }
interface Followup { disease: Label; task: Label; due_date: string; overdue: boolean }
interface Me {
  resident_id: string;
  login_id: string;
  name: string;
  age: number;
  diseases: { disease: Label }[];
  team: { name: string; phone: string; phone_is_hotline: boolean; clinic: { name: string } | null } | null;
  next_followup: Followup | null;
  open_followups: Followup[];
}
interface TrendPoint {
  at: string;
  kind: "reading" | "self" | "visit";
  sbp: number | null;
  dbp: number | null;
  glucose: number | null;
  glucose_type: string | null;
}
interface Trends {
  points: TrendPoint[];
  targets: { sbp_below: number; dbp_below: number; fasting_glucose_below: number; glucose_low: number };
}
interface Vaccinations {
  items: { vaccine: Label; date: string }[];
  influenza_this_season: boolean;
  influenza_recommended: boolean;
  season_start: string;
}
interface Clinics { located: boolean; items: { name: string; distance_m: number; walk_minutes: number }[] }
interface Access { items: { at: string; username: string | null; role: Label | null; team_id: string | null }[] }
interface Education { items: { item_id: string; title: string; body_html: string }[] }

type Pair = TokenPair & { login_id: string };

const name = (l: Label | null | undefined): string => (l ? l[currentLang()] : "");
let lastMe: Me | null = null;

function status(text: string, error = false): void {
  const el = $("#status");
  el.textContent = text;
  el.classList.toggle("error", error);
  show(el, Boolean(text));
}

function gate(which: "activate" | "login" | "app"): void {
  show($("#activate"), which === "activate");
  show($("#login"), which === "login");
  show($("#app"), which === "app");
}

function problemText(err: unknown, wrong: string): string {
  if (err instanceof ApiError) {
    if (err.problem.type === "/problems/resident-locked") return r("locked");
    if (err.status === 401) return wrong;
    if (err.status === 429) return r("too_many");
    if (err.status === 422) return err.message;
  }
  return r("error", { m: err instanceof Error ? err.message : String(err) });
}

/** POST a public JSON body (no token yet); the token pair, or an ApiError. */
async function postPublic(path: string, body: unknown): Promise<Pair> {
  const res = await fetch(`${ROOT}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data);
  return data as Pair;
}

// ----------------------------------------------------------------------------------------
// Activation and login
// ----------------------------------------------------------------------------------------
async function onActivate(ev: Event): Promise<void> {
  ev.preventDefault();
  const form = ev.target as HTMLFormElement;
  const data = new FormData(form);
  const pin = String(data.get("pin") ?? "");
  const error = $("#activate-error");
  if (!/^[0-9]{6}$/.test(pin)) return void (error.textContent = r("pin_format"));
  if (pin !== String(data.get("pin2") ?? "")) return void (error.textContent = r("pin_mismatch"));
  error.textContent = r("working");
  try {
    const pair = await postPublic("/auth/resident/activate", { code: String(data.get("code") ?? ""), pin });
    adoptTokens(pair);
    form.reset();
    error.textContent = "";
    await start();
    status(r("activated", { id: pair.login_id }));
  } catch (err) {
    error.textContent = problemText(err, r("wrong_code"));
  }
}

async function onLogin(ev: Event): Promise<void> {
  ev.preventDefault();
  const form = ev.target as HTMLFormElement;
  const data = new FormData(form);
  const error = $("#login-error");
  error.textContent = r("working");
  try {
    const pair = await postPublic("/auth/resident/token", {
      login_id: String(data.get("login_id") ?? "").trim(),
      pin: String(data.get("pin") ?? ""),
    });
    adoptTokens(pair);
    form.reset();
    error.textContent = "";
    await start();
  } catch (err) {
    error.textContent = problemText(err, r("wrong_pin"));
  }
}

// ----------------------------------------------------------------------------------------
// The record
// ----------------------------------------------------------------------------------------
function renderMe(me: Me): void {
  $("#who").textContent = `${me.name} · ${r("age", { n: me.age })}`;
  $("#login-id").textContent = r("login_id_label", { id: me.login_id });
  const next = me.next_followup;
  const managed = me.diseases.map((d) => name(d.disease)).join("、");
  clear(
    $("#next"),
    next
      ? h(
          "div",
          { class: next.overdue ? "next overdue" : "next" },
          h("p", { class: "big" }, `${name(next.task)} · ${name(next.disease)}`),
          h("p", {}, r("due", { d: next.due_date })),
          next.overdue ? h("p", { class: "warn" }, r("overdue")) : null,
        )
      : h("p", { class: "muted" }, r("no_followup")),
    managed ? h("p", { class: "muted small" }, r("managed", { list: managed })) : null,
  );
  const team = me.team;
  clear(
    $("#team"),
    team
      ? h(
          "div",
          {},
          h("p", { class: "big" }, team.name),
          team.clinic ? h("p", {}, r("clinic", { n: team.clinic.name })) : null,
          h(
            "a",
            { class: "btn primary call", href: `tel:${team.phone.replace(/[^0-9+]/g, "")}` },
            r("call", { p: team.phone }),
          ),
          team.phone_is_hotline ? h("span", { class: "muted small" }, r("hotline")) : null,
        )
      : h("p", { class: "muted" }, r("no_team")),
  );
}

function renderTrends(tr: Trends): void {
  const pts = (pred: (p: TrendPoint) => boolean): ChartPoint[] =>
    tr.points.filter(pred).map((p) => ({ at: Date.parse(p.at), self: p.kind === "self", raw: p as unknown as Record<string, unknown> }));
  const bp = pts((p) => p.sbp !== null || p.dbp !== null);
  const t = tr.targets;
  if (bp.length) {
    drawChart($("#bp-chart"), bp, {
      series: [
        { value: (p) => (p.raw.sbp as number | null) ?? null, colour: "#d92d20", filled: true },
        { value: (p) => (p.raw.dbp as number | null) ?? null, colour: "#1d6fb8", filled: false },
      ],
      band: [60, t.sbp_below],
      lines: [t.dbp_below],
      yMin: 60,
      yMax: 180,
      unit: "mmHg",
    });
    $("#bp-legend").textContent = r("bp_band", { s: t.sbp_below, d: t.dbp_below });
  } else {
    clear($("#bp-chart"), h("p", { class: "muted" }, r("no_readings")));
    $("#bp-legend").textContent = "";
  }
  const glu = pts((p) => p.glucose !== null);
  if (glu.length) {
    drawChart($("#glucose-chart"), glu, {
      series: [{ value: (p) => (p.raw.glucose as number | null) ?? null, colour: "#8a5a00", filled: true }],
      band: [t.glucose_low, t.fasting_glucose_below],
      lines: [],
      yMin: 3,
      yMax: 12,
      unit: "mmol/L",
    });
    $("#glucose-legend").textContent = r("glucose_band", { lo: t.glucose_low, hi: t.fasting_glucose_below });
  } else {
    clear($("#glucose-chart"), h("p", { class: "muted" }, r("no_readings")));
    $("#glucose-legend").textContent = "";
  }
}

function renderVaccinations(v: Vaccinations): void {
  clear(
    $("#vaccinations"),
    v.items.length
      ? h("ul", { class: "rows" }, ...v.items.map((i) => h("li", {}, h("b", {}, i.date), " ", name(i.vaccine))))
      : h("p", { class: "muted" }, r("no_vaccinations")),
    v.influenza_this_season
      ? h("p", { class: "ok" }, r("flu_done"))
      : v.influenza_recommended
        ? h("p", { class: "warn" }, r("flu_due", { d: v.season_start }))
        : null,
  );
}

function renderClinics(c: Clinics): void {
  clear(
    $("#clinics"),
    !c.located
      ? h("p", { class: "muted" }, r("no_location"))
      : h(
          "ul",
          { class: "rows" },
          ...c.items.map((i) =>
            h(
              "li",
              {},
              h("b", {}, i.name),
              h("br", {}),
              h("span", { class: "muted" }, r("distance", { km: (i.distance_m / 1000).toFixed(1), min: Math.round(i.walk_minutes) })),
            ),
          ),
        ),
  );
}

function renderAccess(a: Access): void {
  const list = $("#access-log");
  if (!a.items.length) return clear(list, h("li", { class: "muted" }, r("no_access")));
  clear(
    list,
    ...a.items.map((e) =>
      h(
        "li",
        { class: "access" },
        h("b", {}, new Date(e.at).toLocaleString(currentLang() === "zh" ? "zh-CN" : "en-GB")),
        h("br", {}),
        `${name(e.role)} ${e.username ?? ""}`,
        e.team_id ? r("team_of", { t: e.team_id }) : "",
      ),
    ),
  );
}

function renderEducation(ed: Education | null): void {
  const box = $("#education-box");
  show(box, Boolean(ed && ed.items.length));
  if (!ed) return;
  clear(
    $("#education"),
    ...ed.items.map((item) => {
      const body = h("div", { class: "edu-body" });
      // The service renders the Markdown and sanitises the HTML (service/education*).
      const doc = new DOMParser().parseFromString(item.body_html, "text/html");
      body.append(...Array.from(doc.body.childNodes));
      const details = h("details", { class: "edu" }, h("summary", {}, item.title), body);
      details.addEventListener("toggle", () => {
        if ((details as HTMLDetailsElement).open) {
          void postJSON(`/api/v1/me/education/${encodeURIComponent(item.item_id)}/read`, {}).catch(() => undefined);
        }
      });
      return details;
    }),
  );
}

async function loadAll(): Promise<void> {
  const me = await getJSON<Me>("/api/v1/me");
  lastMe = me;
  renderMe(me);
  const [tr, vax, near, access] = await Promise.all([
    getJSON<Trends>("/api/v1/me/trends"),
    getJSON<Vaccinations>("/api/v1/me/vaccinations"),
    getJSON<Clinics>("/api/v1/me/clinics"),
    getJSON<Access>("/api/v1/me/access-log"),
  ]);
  renderTrends(tr);
  renderVaccinations(vax);
  renderClinics(near);
  renderAccess(access);
  // Health education is another part of the service; nothing is shown when it answers no.
  renderEducation(await getJSON<Education>("/api/v1/me/education").catch(() => null));
}

async function start(): Promise<void> {
  await loadAll();
  gate("app");
}

async function onReading(ev: Event): Promise<void> {
  ev.preventDefault();
  const form = ev.target as HTMLFormElement;
  const data = new FormData(form);
  const num = (k: string): number | null => {
    const v = String(data.get(k) ?? "").trim();
    return v === "" ? null : Number(v);
  };
  const body = { sbp: num("sbp"), dbp: num("dbp"), heart_rate: num("heart_rate"), glucose: num("glucose") };
  const error = $("#reading-error");
  if (Object.values(body).every((v) => v === null)) return void (error.textContent = r("need_value"));
  const glucoseType = body.glucose === null ? null : String(data.get("glucose_type"));
  error.textContent = r("working");
  try {
    const out = await postJSON<{ emergency: boolean }>("/api/v1/me/readings", { ...body, glucose_type: glucoseType });
    form.reset();
    error.textContent = "";
    status(out.emergency ? r("emergency") : r("saved"), out.emergency);
    renderTrends(await getJSON<Trends>("/api/v1/me/trends"));
  } catch (err) {
    error.textContent = problemText(err, r("wrong_pin"));
  }
}

// ----------------------------------------------------------------------------------------
// Wiring
// ----------------------------------------------------------------------------------------
function langButton(): void {
  $("#lang").textContent = currentLang() === "zh" ? "English" : "中文";
}

async function main(): Promise<void> {
  applyText();
  langButton();
  $("#lang").addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
  onLangChange(() => {
    applyText();
    langButton();
    if (lastMe) void loadAll();
  });
  $("#activate-form").addEventListener("submit", (ev) => void onActivate(ev));
  $("#login-form").addEventListener("submit", (ev) => void onLogin(ev));
  $("#reading-form").addEventListener("submit", (ev) => void onReading(ev));
  $("#to-login").addEventListener("click", () => gate("login"));
  $("#to-activate").addEventListener("click", () => gate("activate"));
  $("#logout").addEventListener("click", () => logout());
  onLogout(() => location.replace(`${ROOT}/r/`));

  // The door plate's QR code carries the code in the fragment: take it, then drop it from
  // the address bar and the history.
  const code = new URLSearchParams(location.hash.slice(1)).get("code");
  if (code) {
    history.replaceState(null, "", location.pathname + location.search);
    ($("#activate-form").querySelector("[name=code]") as HTMLInputElement).value = code;
    return gate("activate");
  }
  if (await resume()) {
    try {
      return await start();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) status(problemText(err, r("wrong_pin")), true);
    }
  }
  gate("login");
}

void main();
