// The chronic-disease centre's console (served at /c/): its township's grids on a map and
// as a table of indicators with their change since last month (flagged as RULES.md
// "Change monitoring" defines), its teams with today's list by colour, yesterday's work,
// backlog by age and the 06:00 run's status, a team's list (masked; unmasked with a
// reason, audited by the service), and a grid's health index with its seven parts over
// the built months. Chinese by default, English by the toggle (shared with the map and the
// phone page). Codes are never shown: labels come from common/vocabulary.ts.
import maplibregl from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
import "./style.css";

import { absolute, accessToken, ApiError, getJSON, logout, me, ROOT, type Me } from "../common/api";
import { $, clear, h, show } from "../common/dom";
import { currentLang, label, onLangChange, setLang } from "../common/i18n";
import { liveBadge, startLive, type LiveEvent } from "../common/live";
import { setUpLogin } from "../common/login";
import { CHANGE_FLAGS, COLOURS, DISEASES, INDICATORS, SUPPRESSION_REASONS, TASKS, TOWN_SCOPED_ROLE } from "../common/vocabulary";
import { rerenderEducation, startEducation } from "./education";
import { c, applyConsoleI18n } from "./text";

interface ChangeRow {
  indicator: string;
  prev_rate: number | null;
  rate: number | null;
  difference: number | null;
  z: number | null;
  p: number | null;
  q: number | null;
  tested: boolean;
  flag: string;
  suppression_reason: string | null;
}
interface ConsoleGrid {
  grid_id: string;
  name: string | null;
  team_id: string | null;
  health_index: number | null;
  health_index_prev: number | null;
  changes: ChangeRow[];
  flagged: number;
}
interface ConsoleGrids {
  town_code: string;
  town_name: string | null;
  center: [number, number] | null;
  as_of: string;
  previous: string | null;
  suppression_k: number;
  fdr: number;
  town: ChangeRow[];
  grids: ConsoleGrid[];
}
interface ConsoleTeam {
  team_id: string;
  name: string;
  max_daily_visits: number;
  source: string;
  red: number;
  yellow: number;
  green: number;
  total: number;
  visits_yesterday: number;
  closed_yesterday: number | null;
  backlog: { d0_7: number; d8_30: number; d31_90: number; d91_plus: number };
  run: { generated: boolean; generated_at: string | null; entries: number; opened: boolean; opened_at: string | null };
}
interface ConsoleTeams {
  town_code: string;
  date: string;
  teams: ConsoleTeam[];
}
interface Trend {
  grid_id: string;
  name: string | null;
  components: string[];
  points: { period: string; value: number | null; components: Record<string, number | null> }[];
}
interface Entry {
  resident_id: string;
  name: string | null;
  phone: string | null;
  age: number | null;
  disease: string;
  task_code: string;
  colour: string;
  days_overdue: number | null;
  grid_id: string | null;
}
interface PushList {
  team_id: string;
  masked: boolean;
  total: number;
  entries: Entry[];
}

const params = new URLSearchParams(location.search);
const state = {
  me: null as Me | null,
  // ?date= picks the day of the team lists (default: the service's today); ?town= is for
  // bureau and admin accounts (a centre always sees its own township).
  date: /^\d{4}-\d{2}-\d{2}$/.test(params.get("date") ?? "") ? (params.get("date") as string) : "",
  town: params.get("town") ?? "",
  grids: null as ConsoleGrids | null,
  teams: null as ConsoleTeams | null,
  team: "" as string,
  list: null as PushList | null,
  trend: null as Trend | null,
};
let map: maplibregl.Map | null = null;

declare global {
  interface Window {
    healthmapConsole?: { state: typeof state; map: maplibregl.Map | null };
  }
}

function status(message: string, kind: "ok" | "error" = "ok"): void {
  const el = $("#status");
  el.textContent = message;
  el.classList.toggle("error", kind === "error");
  show(el, Boolean(message));
}

function pct(v: number | null | undefined): string {
  return v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`;
}
function pp(v: number | null | undefined): string {
  if (v === null || v === undefined) return "—";
  const s = (v * 100).toFixed(1);
  return `${v > 0 ? "+" : ""}${s}${c("points")}`;
}
function num(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined ? "—" : v.toFixed(digits);
}
function componentName(code: string): string {
  return code.startsWith("1-") ? `1 − ${label(INDICATORS, code.slice(2))}` : label(INDICATORS, code);
}
function scope(): Record<string, string> {
  return state.town ? { town: state.town } : {};
}

// ---------------------------------------------------------------------------------------
async function start(): Promise<void> {
  state.me = await me();
  if (state.me.role === "doctor") {
    location.replace(`${ROOT}/m/`);
    return;
  }
  show($("#login"), false);
  show($("#app"), true);
  try {
    await Promise.all([loadGrids(), loadTeams()]);
  } catch (err) {
    status(err instanceof ApiError && err.status === 403 ? c("forbidden") : String(err instanceof Error ? err.message : err), "error");
  }
  // Health education (education.ts): the centre writes and reviews, bureau and admin too.
  if (["chronic_center", "bureau", "admin"].includes(state.me.role)) {
    void startEducation(state.me, () => state.grids?.grids ?? []);
  }
  // The live channel is the centre's own township's (bureau and admin accounts poll).
  if (state.me.role === TOWN_SCOPED_ROLE) startLiveConsole();
}

// ---------------------------------------------------------------------------------------
// The live channel: a team's new emergency reading updates its red count at once
// ---------------------------------------------------------------------------------------
const badge = liveBadge((s) => c(`live_${s}`));
/** Teams with a new emergency reading: their row is marked for a while. */
const freshTeams = new Set<string>();
let pendingTeams = new Set<string>();
let refreshing: Promise<void> | null = null;

async function refreshTeams(): Promise<void> {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    // Events that arrive during a refetch wait for the next one (coalesced).
    await new Promise((r) => window.setTimeout(r, 50));
    const teams = pendingTeams;
    pendingTeams = new Set();
    try {
      await loadTeams();
      if (state.list && teams.has(state.list.team_id) && state.list.masked) await openList(state.list.team_id, null);
    } catch (err) {
      status(err instanceof Error ? err.message : String(err), "error");
    }
    for (const t of teams) {
      freshTeams.add(t);
      window.setTimeout(() => {
        freshTeams.delete(t);
        markTeams();
      }, 120_000);
    }
    markTeams();
    if (teams.size) status(c("live_new").replace("{teams}", [...teams].join("、")), "error");
  })();
  try {
    await refreshing;
  } finally {
    refreshing = null;
    if (pendingTeams.size) void refreshTeams();
  }
}

function markTeams(): void {
  document.querySelectorAll<HTMLElement>("#teams tr[data-team]").forEach((tr) => {
    tr.classList.toggle("live-new", freshTeams.has(tr.dataset.team ?? ""));
  });
}

function startLiveConsole(): void {
  $(".bar-actions").prepend(badge.el);
  startLive({
    onState: badge.set,
    onEvent: (ev: LiveEvent) => {
      if (ev.event !== "emergency_reading" || typeof ev.data.team_id !== "string") return;
      pendingTeams.add(ev.data.team_id);
      void refreshTeams();
    },
    poll: () => refreshTeams(),
  });
}

async function loadGrids(): Promise<void> {
  state.grids = await getJSON<ConsoleGrids>("/api/v1/console/grids", scope());
  renderGrids();
  drawMap();
}

async function loadTeams(): Promise<void> {
  state.teams = await getJSON<ConsoleTeams>("/api/v1/console/teams", { ...scope(), date: state.date });
  renderTeams();
}

function renderHeader(): void {
  const g = state.grids;
  const parts = [g?.town_name ?? "", g ? `${c("as_of")} ${g.as_of}` : "", state.teams ? `${c("list_day")} ${state.teams.date}` : ""];
  $("#subtitle").textContent = parts.filter(Boolean).join(" · ");
}

// ---------------------------------------------------------------------------------------
// Grids: the table of changes, the map
// ---------------------------------------------------------------------------------------
function flagCell(row: ChangeRow): HTMLElement {
  const text = row.tested ? label(CHANGE_FLAGS, row.flag) : c("not_tested");
  return h("span", { class: `flag ${row.tested ? row.flag : "untested"}` }, text);
}

function changeRow(unit: string, row: ChangeRow, extra?: HTMLElement): HTMLTableRowElement {
  const withheld = row.suppression_reason ? label(SUPPRESSION_REASONS, row.suppression_reason) : "";
  return h(
    "tr",
    { class: row.flag !== "none" ? `flagged ${row.flag}` : "" },
    h("td", {}, unit, extra ?? null),
    h("td", {}, label(INDICATORS, row.indicator)),
    h("td", { class: "num" }, pct(row.prev_rate)),
    h("td", { class: "num" }, withheld ? h("span", { class: "muted" }, withheld) : pct(row.rate)),
    h("td", { class: "num" }, pp(row.difference)),
    h("td", { class: "num" }, num(row.z, 2)),
    h("td", { class: "num" }, row.q === null ? "—" : row.q.toFixed(3)),
    h("td", {}, flagCell(row)),
  );
}

function renderGrids(): void {
  const g = state.grids;
  renderHeader();
  if (!g) return;
  $("#grids-note").textContent = c("grids_note")
    .replace("{prev}", g.previous ?? "—")
    .replace("{d}", g.as_of)
    .replace("{k}", String(g.suppression_k))
    .replace("{fdr}", String(g.fdr));
  const onlyFlagged = g.grids.some((x) => x.flagged > 0);
  const head = h(
    "tr",
    {},
    ...["unit", "indicator", "prev", "now", "change", "z", "q", "flag"].map((k) => h("th", {}, c(`col_${k}`))),
  );
  const body: HTMLElement[] = [];
  for (const row of g.town) body.push(changeRow(g.town_name ?? c("town"), row));
  for (const grid of g.grids) {
    const name = grid.name ?? grid.grid_id;
    const link = h(
      "button",
      { type: "button", class: "link small", "data-grid": grid.grid_id, onclick: () => void openTrend(grid.grid_id) },
      `${c("health_index")} ${num(grid.health_index)}`,
    );
    body.push(
      h(
        "tr",
        { class: "grid-head", "data-grid": grid.grid_id },
        h("th", { colspan: 8 }, name, " · ", link, " ", h("span", { class: "muted small" }, grid.flagged ? `${c("flagged")} ${grid.flagged}` : "")),
      ),
    );
    // Every indicator of every grid, flagged ones marked; the table stays readable by
    // showing the flagged ones first.
    const rows = [...grid.changes].sort((a, b) => Number(b.flag !== "none") - Number(a.flag !== "none"));
    for (const row of rows) body.push(changeRow(name, row));
  }
  clear($("#grids"), h("thead", {}, head), h("tbody", {}, ...body));
  $("#grids").dataset.flagged = String(onlyFlagged);
}

function indexColour(v: number | null): string {
  if (v === null || v === undefined) return "#c9ced4";
  if (v >= 70) return "#2e8540";
  if (v >= 55) return "#8cbf4f";
  if (v >= 40) return "#f1c40f";
  return "#d9822b";
}

function drawMap(): void {
  const g = state.grids;
  if (!g) return;
  const first = INDICATORS ? Object.keys(INDICATORS)[0] : "";
  const match: unknown[] = ["match", ["to-string", ["get", "unit_id"]]];
  for (const grid of g.grids) match.push(grid.grid_id, indexColour(grid.health_index));
  match.push("#e5e8eb");
  const fill = g.grids.length ? match : "#e5e8eb";
  if (!map) {
    map = new maplibregl.Map({
      container: "map",
      style: {
        version: 8,
        sources: {
          boundaries: { type: "vector", tiles: [absolute("/tiles/boundaries/{z}/{x}/{y}.mvt")], minzoom: 6, maxzoom: 14 },
          grids: {
            type: "vector",
            tiles: [absolute(`/tiles/grid_indicators/{z}/{x}/{y}.mvt?indicator=${encodeURIComponent(first)}`)],
            minzoom: 8,
            maxzoom: 14,
          },
        },
        layers: [
          { id: "bg", type: "background", paint: { "background-color": "#eef0f2" } },
          {
            id: "grid-fill",
            type: "fill",
            source: "grids",
            "source-layer": "grid_indicators",
            paint: { "fill-color": fill as maplibregl.ExpressionSpecification, "fill-opacity": 0.75 },
          },
          { id: "grid-line", type: "line", source: "grids", "source-layer": "grid_indicators", paint: { "line-color": "#ffffff", "line-width": 1 } },
          {
            id: "lines",
            type: "line",
            source: "boundaries",
            "source-layer": "boundaries",
            paint: { "line-color": "#666666", "line-width": ["match", ["get", "kind"], "county", 2, "town", 1.5, 0.4] },
          },
        ],
      },
      center: g.center ?? [118.8, 36.88],
      zoom: 11,
      attributionControl: false,
      transformRequest: (url) =>
        url.startsWith(location.origin) && accessToken() ? { url, headers: { Authorization: `Bearer ${accessToken()}` } } : { url },
    });
    map.on("error", (ev) => {
      const st = (ev.error as { status?: number } | undefined)?.status;
      if (st !== 204 && st !== 404) status(`${c("map")}: ${ev.error?.message ?? ""}`, "error");
    });
    map.on("click", "grid-fill", (ev) => {
      const id = ev.features?.[0]?.properties?.unit_id;
      if (id) void openTrend(String(id));
    });
    window.healthmapConsole = { state, map };
  } else if (map.getLayer("grid-fill")) {
    map.setPaintProperty("grid-fill", "fill-color", fill);
  }
}

// ---------------------------------------------------------------------------------------
// A grid's health index and its parts
// ---------------------------------------------------------------------------------------
async function openTrend(gridId: string): Promise<void> {
  state.trend = await getJSON<Trend>(`/api/v1/console/grids/${encodeURIComponent(gridId)}/health-index`, scope());
  renderTrend();
  $("#trend-panel").scrollIntoView({ block: "nearest" });
}

function renderTrend(): void {
  const t = state.trend;
  if (!t) return;
  show($("#trend-panel"), true);
  $("#trend-title").textContent = `${t.name ?? t.grid_id} · ${c("health_index_trend")}`;
  const head = h("tr", {}, h("th", {}, c("month")), h("th", {}, c("health_index")), ...t.components.map((k) => h("th", {}, componentName(k))));
  const rows = t.points.map((p) =>
    h(
      "tr",
      {},
      h("td", {}, p.period.slice(0, 7)),
      h("td", { class: "num" }, bar(p.value)),
      ...t.components.map((k) => h("td", { class: "num" }, num(p.components[k]))),
    ),
  );
  clear($("#trend"), h("thead", {}, head), h("tbody", {}, ...rows));
}

function bar(v: number | null): HTMLElement {
  const el = h("span", { class: "bar-cell" }, h("span", { class: "bar-fill" }), h("span", {}, num(v)));
  (el.firstChild as HTMLElement).style.width = `${Math.max(0, Math.min(100, v ?? 0))}%`;
  return el;
}

// ---------------------------------------------------------------------------------------
// Teams and a team's list
// ---------------------------------------------------------------------------------------
function timeOf(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  return new Intl.DateTimeFormat(currentLang() === "zh" ? "zh-CN" : "en-GB", {
    timeZone: "Asia/Shanghai",
    hour: "2-digit",
    minute: "2-digit",
  }).format(d);
}

function renderTeams(): void {
  const t = state.teams;
  renderHeader();
  if (!t) return;
  const head = h(
    "tr",
    {},
    ...["team", "red", "yellow", "green", "yesterday", "backlog", "run", ""].map((k) =>
      h("th", {}, k === "red" || k === "yellow" || k === "green" ? label(COLOURS, k).split(" ")[0] : k ? c(`col_${k}`) : ""),
    ),
  );
  const rows = t.teams.map((team) => {
    const b = team.backlog;
    const run = team.run.generated
      ? `${c("generated")} ${timeOf(team.run.generated_at)} · ${team.run.opened ? `${c("opened")} ${timeOf(team.run.opened_at)}` : c("not_opened")}`
      : c("not_generated");
    return h(
      "tr",
      { "data-team": team.team_id },
      h("td", {}, h("strong", {}, team.name), h("div", { class: "muted small" }, `${c("max_visits")} ${team.max_daily_visits}`)),
      h("td", { class: "num red" }, String(team.red)),
      h("td", { class: "num yellow" }, String(team.yellow)),
      h("td", { class: "num green" }, String(team.green)),
      h(
        "td",
        { class: "small" },
        `${c("visits")} ${team.visits_yesterday} · ${c("closed")} ${team.closed_yesterday ?? "—"}`,
      ),
      h("td", { class: "small" }, `0–7: ${b.d0_7} · 8–30: ${b.d8_30} · 31–90: ${b.d31_90} · >90: ${b.d91_plus}`),
      h("td", { class: "small" }, run),
      h("td", {}, h("button", { type: "button", class: "btn open-list", onclick: () => void openList(team.team_id, null) }, c("open_list"))),
    );
  });
  clear($("#teams"), h("thead", {}, head), h("tbody", {}, ...rows));
  markTeams();
}

async function openList(teamId: string, reason: string | null): Promise<void> {
  const q: Record<string, string> = { date: state.teams?.date ?? state.date };
  if (reason) {
    q.unmask = "true";
    q.reason = reason;
  }
  try {
    state.list = await getJSON<PushList>(`/api/v1/teams/${encodeURIComponent(teamId)}/pushlist`, q);
  } catch (err) {
    status(err instanceof Error ? err.message : String(err), "error");
    return;
  }
  state.team = teamId;
  renderList();
  $("#list-panel").scrollIntoView({ block: "nearest" });
}

function renderList(): void {
  const l = state.list;
  if (!l) return;
  show($("#list-panel"), true);
  const team = state.teams?.teams.find((x) => x.team_id === l.team_id);
  $("#list-title").textContent = `${team?.name ?? l.team_id} · ${c("list_of_day")} (${l.total})`;
  $("#list-note").textContent = l.masked ? c("masked_note") : c("unmasked_note");
  show($("#unmask"), l.masked);
  const head = h("tr", {}, ...["name", "phone", "age", "disease", "task", "overdue"].map((k) => h("th", {}, c(`col_${k}`))));
  const rows = l.entries.map((e) =>
    h(
      "tr",
      { class: `task ${e.colour}` },
      h("td", {}, e.name ?? ""),
      h("td", {}, e.phone ?? ""),
      h("td", { class: "num" }, e.age === null ? "" : String(e.age)),
      h("td", {}, label(DISEASES, e.disease)),
      h("td", {}, h("span", { class: `dot ${e.colour}` }), label(TASKS, e.task_code)),
      h("td", { class: "num" }, String(e.days_overdue ?? 0)),
    ),
  );
  clear($("#list"), h("thead", {}, head), h("tbody", {}, ...rows));
}

function askUnmask(): void {
  if (!state.team) return;
  const reason = window.prompt(c("unmask_prompt"));
  if (!reason || reason.trim().length < 4) {
    if (reason !== null) status(c("reason_short"), "error");
    return;
  }
  void openList(state.team, reason.trim());
}

// ---------------------------------------------------------------------------------------
function rerender(): void {
  applyConsoleI18n();
  badge.set((badge.el.dataset.state as Parameters<typeof badge.set>[0]) ?? "off");
  $("#lang").textContent = currentLang() === "zh" ? "English" : "中文";
  renderGrids();
  renderTeams();
  renderTrend();
  renderList();
  rerenderEducation();
}

async function main(): Promise<void> {
  applyConsoleI18n();
  $("#lang").textContent = currentLang() === "zh" ? "English" : "中文";
  $("#lang").addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
  onLangChange(rerender);
  $("#logout").addEventListener("click", () => logout());
  $("#unmask").addEventListener("click", askUnmask);
  await setUpLogin({ loggingIn: () => c("logging_in"), start, onError: (err) => status(String(err), "error") });
}

void main();
