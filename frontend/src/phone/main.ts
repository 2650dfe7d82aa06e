// The family doctor's phone page (served at /m/): today's plan on top — the households of
// the list that fit the team's max_daily_visits, in the order the route visits them (the
// same numbers on the cards and on the map; docs/routing.md) — then the backlog grouped
// by colour; call and navigate links, the route on a small map (coinciding markers spread
// apart), and the follow-up form. Chinese by default, English by the toggle (shared with
// the map and the console); codes' labels come from common/vocabulary.ts. Usable at 390 px
// and with large text. Nothing leaves this service: the navigate link is a geo: URI handed
// to whatever map app the phone has, never a map website. A centre account is sent to its
// console (/c/). A card's "档案" opens the patient's record with the resident's account
// (record.ts); the "健康教育" tab holds the doctor's health-education items (education.ts).
import maplibregl from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
import "./style.css";

import {
  ROOT,
  absolute,
  accessToken,
  ApiError,
  getJSON,
  logout,
  me,
  postJSON,
  type Me,
} from "../common/api";
import { $, clear, h, show } from "../common/dom";
import { currentLang, isTerm, label, onLangChange, setLang } from "../common/i18n";
import { liveBadge, startLive, type LiveEvent } from "../common/live";
import { setUpLogin } from "../common/login";
import { CLASSIFICATIONS, COLOURS, DISEASES, TASKS, TOWN_SCOPED_ROLE, type Colour, type TaskCode } from "../common/vocabulary";
import { rerenderEducation, showEducation } from "./education";
import { openRecord, rerenderRecord, setUpRecord } from "./record";
import { spreadOffsets } from "./spread";
import { applyPhoneI18n, p } from "./text";

interface Entry {
  resident_id: string;
  name: string | null;
  phone: string | null;
  age: number | null;
  sex: number | string | null;
  disease: string;
  task_code: string;
  colour: Colour | string;
  due_date: string | null;
  days_overdue: number | null;
  last_visit_date: string | null;
  last_sbp: number | null;
  last_dbp: number | null;
  last_glucose: number | null;
  last_classification: string | null;
  risk_score: number | null;
  lat: number | null;
  lng: number | null;
  grid_id: string | null;
  team_id: string | null;
  reason_zh: string | null;
  /** Put on the list from a live event, until the refetched list replaces it. */
  provisional?: boolean;
}

interface PushList {
  team_id: string;
  date: string;
  masked: boolean;
  total: number;
  entries: Entry[];
}

interface RouteStop {
  resident_id: string;
  order: number;
  lat: number;
  lng: number;
  colour?: string;
}

interface RouteAnswer {
  stops?: RouteStop[];
  legs?: { from: string; to: string; distance_m: number; seconds: number }[];
  skipped?: string[];
  total_distance_m?: number;
  total_seconds?: number;
  geometry?: GeoJSON.FeatureCollection;
}

/** Case finding: no managed patient yet, so no follow-up form (checked and dismissed). */
const CASE_FINDING: TaskCode = "suspected_unmanaged";
const SEX: Record<string, string> = { M: "male", F: "female", male: "male", female: "female", "1": "male", "2": "female" };

const state = {
  me: null as Me | null,
  // ?date=YYYY-MM-DD shows another day's list (default: the service's today).
  date: /^\d{4}-\d{2}-\d{2}$/.test(new URLSearchParams(location.search).get("date") ?? "")
    ? (new URLSearchParams(location.search).get("date") as string)
    : "",
  entries: [] as Entry[],
  order: new Map<string, number>(),
  route: null as RouteAnswer | null,
  /** Residents whose first leg from the base is 0 m (placed at the base's village seat). */
  atBase: new Set<string>(),
  current: null as Entry | null,
};

let map: maplibregl.Map | null = null;
let markers: maplibregl.Marker[] = [];

declare global {
  interface Window {
    healthmapPhone?: { state: typeof state; map: maplibregl.Map | null };
  }
}

// ---------------------------------------------------------------------------------------
function status(message: string, kind: "ok" | "error" = "ok"): void {
  const el = $("#status");
  el.textContent = message;
  el.classList.toggle("error", kind === "error");
  show(el, Boolean(message));
}

function addDays(iso: string, days: number): string {
  const d = new Date(`${iso}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function localToday(): string {
  // The county's dates are Asia/Shanghai dates (RULES.md).
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
}

function teamPath(suffix: string): string {
  return `/api/v1/teams/${encodeURIComponent(state.me?.team_id ?? "")}/${suffix}`;
}

// ---------------------------------------------------------------------------------------
// Login and start
// ---------------------------------------------------------------------------------------
async function start(): Promise<void> {
  state.me = await me();
  show($("#login"), false);
  show($("#app"), true);
  if (state.me.role === TOWN_SCOPED_ROLE) {
    // The centre works in its console; this page is a team's.
    location.replace(`${ROOT}/c/`);
    return;
  }
  if (!state.me.team_id) {
    $("#subtitle").textContent = state.me.username;
    status(p("no_team"), "error");
    $("#status").append(" ", h("a", { href: `${ROOT}/` }, p("to_map")));
    return;
  }
  await loadList();
  startLiveList();
}

// ---------------------------------------------------------------------------------------
// The live channel: an emergency reading of the team's patients is a red task at once
// ---------------------------------------------------------------------------------------
/** Emergency tasks on the list as last fetched (resident/disease). */
let knownRed: Set<string> | null = null;
let refetching: Promise<void> | null = null;
let refetchAgain = false;
/** Residents whose red task just arrived: marked on their cards for a while. */
const fresh = new Set<string>();
const FRESH_MS = 120_000;
const badge = liveBadge((s) => p(`live_${s}`));

function emergencyKeys(): Set<string> {
  return new Set(state.entries.filter((e) => e.task_code === "emergency_reading").map((e) => `${e.resident_id}/${e.disease}`));
}

/** Refetch the list (one at a time; events arriving meanwhile make one more refetch). */
async function refetch(): Promise<void> {
  if (refetching) {
    refetchAgain = true;
    return refetching;
  }
  refetching = (async () => {
    do {
      refetchAgain = false;
      try {
        await loadList();
      } catch (err) {
        status(err instanceof Error ? err.message : String(err), "error");
      }
    } while (refetchAgain);
  })();
  try {
    await refetching;
  } finally {
    refetching = null;
  }
}

/** Mark the new red tasks (from an event, or found by polling) and say whose they are. */
function highlightNew(residents: Set<string>): void {
  const names: string[] = [];
  for (const rid of residents) {
    fresh.add(rid);
    window.setTimeout(() => fresh.delete(rid), FRESH_MS);
    const cards = document.querySelectorAll<HTMLElement>(`article.task[data-task="emergency_reading"][data-resident="${CSS.escape(rid)}"]`);
    cards.forEach((el) => el.classList.add("live-new"));
    if (cards.length) names.push(state.entries.find((e) => e.resident_id === rid)?.name ?? rid);
  }
  if (!names.length) return;
  status(p("live_new", { who: names.join("、") }), "error");
  document.querySelector(".live-new")?.scrollIntoView({ block: "center" });
}

async function refetchAndMark(residents: Set<string>): Promise<void> {
  const before = knownRed ?? emergencyKeys();
  await refetch();
  const now = emergencyKeys();
  for (const key of now) if (!before.has(key)) residents.add(key.split("/")[0]);
  knownRed = now;
  highlightNew(residents);
}

/**
 * Put the event's red task on the list at once, before the refetch (which recomputes the
 * team's list: a second or more on a busy server) replaces it with the service's entry.
 * Name and phone come from the resident's other tasks on the list, if any; the event
 * itself carries ids and values only.
 */
function insertProvisional(data: Record<string, unknown>): void {
  const rid = typeof data.resident_id === "string" ? data.resident_id : null;
  const diseases = Array.isArray(data.diseases) ? data.diseases.filter((d): d is string => typeof d === "string") : [];
  if (!rid || !diseases.length) return;
  const known = state.entries.find((e) => e.resident_id === rid);
  const value = (k: string): number | null => (typeof data[k] === "number" ? (data[k] as number) : null);
  let added = false;
  for (const disease of diseases) {
    if (state.entries.some((e) => e.resident_id === rid && e.disease === disease && e.task_code === "emergency_reading")) continue;
    state.entries.unshift({
      ...(known ?? {
        name: null,
        phone: null,
        age: null,
        sex: null,
        lat: null,
        lng: null,
        grid_id: null,
        team_id: state.me?.team_id ?? null,
        last_visit_date: null,
        last_classification: null,
        risk_score: null,
      }),
      resident_id: rid,
      disease,
      task_code: "emergency_reading",
      colour: "red",
      due_date: typeof data.measured_date === "string" ? data.measured_date : null,
      days_overdue: 0,
      last_sbp: value("sbp"),
      last_dbp: value("dbp"),
      last_glucose: value("glucose"),
      reason_zh: null,
      provisional: true,
    });
    added = true;
  }
  if (!added) return;
  fresh.add(rid);
  renderSubtitle();
  renderList();
  highlightNew(new Set([rid]));
}

function startLiveList(): void {
  knownRed = emergencyKeys();
  $(".bar-actions").prepend(badge.el);
  startLive({
    onState: badge.set,
    onEvent: (ev: LiveEvent) => {
      if (ev.event !== "emergency_reading") return;
      const rid = typeof ev.data.resident_id === "string" ? ev.data.resident_id : null;
      insertProvisional(ev.data);
      void refetchAndMark(new Set(rid ? [rid] : []));
    },
    poll: () => refetchAndMark(new Set()),
  });
}

// ---------------------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------------------
async function loadList(): Promise<void> {
  const params = state.date ? { date: state.date } : undefined;
  const list = await getJSON<PushList>(teamPath("pushlist"), params);
  state.entries = list.entries ?? [];
  state.date = String(list.date ?? state.date ?? localToday());
  renderSubtitle();
  renderList();
  void loadRoute();
}

function renderSubtitle(): void {
  $("#subtitle").textContent = `${state.date} · ${p("team")} ${state.me?.team_id ?? ""} · ${state.entries.length} ${p("items")}`;
}

function lastValues(e: Entry): string {
  const parts: string[] = [];
  if (e.last_visit_date) parts.push(`${p("last")} ${e.last_visit_date}`);
  if (e.last_sbp !== null && e.last_sbp !== undefined) parts.push(`${p("bp")} ${e.last_sbp}/${e.last_dbp ?? "—"}`);
  if (e.last_glucose !== null && e.last_glucose !== undefined) parts.push(`${p("glucose")} ${e.last_glucose}`);
  if (e.last_classification) parts.push(label(CLASSIFICATIONS, e.last_classification));
  return parts.length ? parts.join(" · ") : p("no_visit");
}

function card(e: Entry): HTMLElement {
  const stop = state.order.get(e.resident_id);
  const sex = SEX[String(e.sex)];
  const who = [sex ? p(sex) : "", e.age !== null && e.age !== undefined ? p("age", { n: e.age }) : ""]
    .filter(Boolean)
    .join(" ");
  const actions = h("div", { class: "actions" });
  if (e.phone) {
    actions.append(h("a", { class: "btn", href: `tel:${e.phone.replace(/[^0-9+]/g, "")}` }, p("call")));
  }
  if (e.lat !== null && e.lng !== null && e.lat !== undefined && e.lng !== undefined) {
    // RFC 5870 geo: URI (WGS84): the phone's own map app opens it; no website involved.
    const ll = `${e.lat.toFixed(6)},${e.lng.toFixed(6)}`;
    actions.append(h("a", { class: "btn", href: `geo:${ll}?q=${ll}` }, p("navigate")));
  }
  // Case finding has no managed patient yet: no record to open.
  if (e.task_code !== CASE_FINDING) {
    actions.append(
      h("button", { type: "button", class: "btn open-record", onclick: () => void openRecord(e.resident_id, e.name) }, p("open_record")),
    );
  }
  if (e.task_code === CASE_FINDING) {
    actions.append(h("button", { type: "button", class: "btn dismiss", onclick: () => void dismiss(e) }, p("dismiss")));
  } else {
    actions.append(
      h("button", { type: "button", class: "btn primary record", onclick: () => openVisit(e) }, p("record")),
    );
  }
  return h(
    "article",
    {
      class: `task ${e.colour}${fresh.has(e.resident_id) && e.task_code === "emergency_reading" ? " live-new" : ""}`,
      "data-resident": e.resident_id,
      "data-disease": e.disease,
      "data-task": e.task_code,
      "data-provisional": e.provisional ? "1" : null,
    },
    h(
      "header",
      {},
      stop ? h("span", { class: "stop-no" }, String(stop)) : null,
      h("strong", { class: "name" }, e.name ?? e.resident_id),
      h("span", { class: "muted" }, who),
      h("span", { class: "tag" }, label(DISEASES, e.disease)),
    ),
    h(
      "p",
      { class: "reason" },
      h("b", {}, label(TASKS, e.task_code)),
      e.days_overdue ? h("span", { class: "overdue" }, ` ${p("overdue", { n: e.days_overdue })}`) : null,
      // The rules' one-line reason is written in Chinese only (RULES.md).
      e.reason_zh && currentLang() === "zh" ? ` · ${e.reason_zh}` : "",
    ),
    h("p", { class: "last muted small" }, lastValues(e)),
    state.atBase.has(e.resident_id) ? h("p", { class: "note small" }, p("same_place")) : null,
    state.route && (state.route.skipped ?? []).includes(e.resident_id)
      ? h("p", { class: "note small" }, p("no_location"))
      : null,
    actions,
  );
}

/**
 * Today's plan: one block per route stop, in stop order (the route's numbers), holding the
 * stop's tasks (a resident with a task for each disease is one visit). What the route does
 * not hold is the backlog, grouped by colour below.
 */
function renderPlan(): Set<Entry> {
  const plan = $("#plan");
  clear(plan);
  const planned = new Set<Entry>();
  const stops = [...(state.route?.stops ?? [])].sort((a, b) => a.order - b.order);
  for (const stop of stops) {
    const tasks = state.entries.filter((e) => e.resident_id === stop.resident_id);
    if (!tasks.length) continue;
    tasks.forEach((e) => planned.add(e));
    plan.append(h("section", { class: "stop", "data-stop": stop.order, "data-resident": stop.resident_id }, ...tasks.map(card)));
  }
  $("#plan-note").textContent = stops.length ? p("plan_note", { n: stops.length }) : p("plan_empty");
  return planned;
}

function renderList(): void {
  const list = $("#list");
  const counts = $("#counts");
  clear(list);
  clear(counts);
  const planned = renderPlan();
  if (state.entries.length === 0) {
    list.append(h("p", { class: "empty" }, p("empty")));
    return;
  }
  const backlog = state.entries.filter((e) => !planned.has(e));
  for (const key of Object.keys(COLOURS) as Colour[]) {
    const name = label(COLOURS, key);
    const group = backlog.filter((e) => e.colour === key);
    counts.append(h("a", { class: `count ${key}`, href: `#group-${key}` }, `${name.split(" ")[0]} ${group.length}`));
    if (group.length === 0) continue;
    list.append(
      h(
        "section",
        { class: `group ${key}`, id: `group-${key}` },
        h("h2", {}, `${name}（${group.length}）`),
        ...group.map(card),
      ),
    );
  }
  const other = backlog.filter((e) => !isTerm(COLOURS, e.colour));
  if (other.length) list.append(h("section", { class: "group" }, h("h2", {}, p("other")), ...other.map(card)));
}

// ---------------------------------------------------------------------------------------
// The route map
// ---------------------------------------------------------------------------------------
function ensureMap(): maplibregl.Map {
  if (map) return map;
  map = new maplibregl.Map({
    container: "route-map",
    // No glyphs, no sprite: stop numbers are HTML markers, so no font is ever fetched.
    style: {
      version: 8,
      sources: {
        boundaries: {
          type: "vector",
          tiles: [absolute("/tiles/boundaries/{z}/{x}/{y}.mvt")],
          minzoom: 6,
          maxzoom: 14,
        },
      },
      layers: [
        { id: "bg", type: "background", paint: { "background-color": "#eef0f2" } },
        {
          id: "county",
          type: "fill",
          source: "boundaries",
          "source-layer": "boundaries",
          filter: ["==", ["get", "kind"], "county"],
          paint: { "fill-color": "#ffffff" },
        },
        {
          id: "lines",
          type: "line",
          source: "boundaries",
          "source-layer": "boundaries",
          paint: {
            "line-color": "#999999",
            "line-width": ["match", ["get", "kind"], "county", 2, "town", 1.2, 0.5],
          },
        },
      ],
    },
    center: [118.8, 36.88],
    zoom: 10,
    attributionControl: false,
    transformRequest: (url) =>
      url.startsWith(location.origin) && accessToken()
        ? { url, headers: { Authorization: `Bearer ${accessToken()}` } }
        : { url },
  });
  map.on("error", (ev) => {
    const st = (ev.error as { status?: number } | undefined)?.status;
    if (st !== 204 && st !== 404) status(`${p("map")}: ${ev.error?.message ?? ""}`, "error");
  });
  map.on("zoomend", () => map && declutter(map));
  window.healthmapPhone = { state, map };
  return map;
}

async function loadRoute(): Promise<void> {
  let route: RouteAnswer;
  try {
    route = await getJSON<RouteAnswer>(teamPath("route"), state.date ? { date: state.date } : undefined);
  } catch (err) {
    $("#route-summary").textContent = err instanceof ApiError ? `${p("route_unavailable")}: ${err.message}` : p("route_unavailable");
    return;
  }
  state.route = route;
  state.order = new Map((route.stops ?? []).map((s) => [s.resident_id, s.order]));
  // A first leg of 0 m: the household is known to its village only and placed at the
  // village's seat, where the base (the township health centre) stands too. Said on the
  // card, and the two markers are spread apart on the map.
  state.atBase = new Set((route.legs ?? []).filter((l) => l.from === "base" && l.distance_m < 1).map((l) => l.to));
  renderList(); // the plan in stop order
  renderSummary();
  const m = ensureMap();
  const draw = () => drawRoute(m, route);
  if (m.loaded()) draw();
  else m.once("load", draw);
}

function renderSummary(): void {
  const route = state.route;
  if (!route) return;
  const km = ((route.total_distance_m ?? 0) / 1000).toFixed(1);
  const min = Math.round((route.total_seconds ?? 0) / 60);
  $("#route-summary").textContent = p("route_summary", { n: state.order.size, km, min });
}

let placed: { marker: maplibregl.Marker; lngLat: [number, number]; base: boolean }[] = [];

function declutter(m: maplibregl.Map): void {
  const pts = placed.map((p0) => {
    const xy = m.project(p0.lngLat);
    return { x: xy.x, y: xy.y, base: p0.base };
  });
  spreadOffsets(pts).forEach((off, i) => placed[i].marker.setOffset(off));
}

function drawRoute(m: maplibregl.Map, route: RouteAnswer): void {
  const fc: GeoJSON.FeatureCollection = route.geometry ?? { type: "FeatureCollection", features: [] };
  const line: GeoJSON.FeatureCollection = {
    type: "FeatureCollection",
    features: fc.features.filter((f) => f.geometry?.type === "LineString"),
  };
  const src = m.getSource("route") as maplibregl.GeoJSONSource | undefined;
  if (src) src.setData(line);
  else {
    m.addSource("route", { type: "geojson", data: line });
    m.addLayer({
      id: "route-line",
      type: "line",
      source: "route",
      paint: { "line-color": "#1d6fb8", "line-width": 3, "line-opacity": 0.85 },
    });
  }
  for (const mk of markers) mk.remove();
  markers = [];
  const bounds = new maplibregl.LngLatBounds();
  placed = [];
  for (const f of fc.features) {
    if (f.geometry?.type !== "Point") continue;
    const [lng, lat] = f.geometry.coordinates as [number, number];
    const props = f.properties ?? {};
    const el = document.createElement("div");
    if (props.kind === "base") {
      el.className = "marker base";
      el.textContent = p("base_mark");
      el.title = p("base");
    } else {
      el.className = `marker stop ${props.colour ?? ""}`;
      el.textContent = String(props.order ?? "");
      el.dataset.order = String(props.order ?? "");
      el.dataset.resident = String(props.resident_id ?? "");
    }
    const marker = new maplibregl.Marker({ element: el }).setLngLat([lng, lat]).addTo(m);
    markers.push(marker);
    placed.push({ marker, lngLat: [lng, lat], base: props.kind === "base" });
    bounds.extend([lng, lat]);
  }
  if (!bounds.isEmpty()) m.fitBounds(bounds, { padding: 28, maxZoom: 15, duration: 0 });
  declutter(m);
}

// ---------------------------------------------------------------------------------------
// The follow-up form
// ---------------------------------------------------------------------------------------
function field(name: string): HTMLInputElement | HTMLSelectElement {
  return $("#visit-form").querySelector(`[name="${name}"]`) as HTMLInputElement;
}

function openVisit(e: Entry): void {
  state.current = e;
  const form = $("#visit-form") as HTMLFormElement;
  form.reset();
  $("#visit-error").textContent = "";
  $("#visit-who").textContent = `${e.name ?? e.resident_id} · ${label(DISEASES, e.disease)} · ${label(TASKS, e.task_code)}`;
  field("resident_id").value = e.resident_id;
  field("disease").value = e.disease;
  const visitDate = state.date || localToday();
  field("visit_date").value = visitDate;
  const recheck = e.colour !== "green";
  field("next_visit_date").value = addDays(visitDate, recheck ? 14 : 90);
  const t2dm = e.disease === "t2dm";
  show($("#glucose-box"), t2dm);
  (field("fasting_glucose") as HTMLInputElement).required = t2dm;
  (field("sbp") as HTMLInputElement).required = !t2dm;
  (field("dbp") as HTMLInputElement).required = !t2dm;
  show($("#visit"), true);
  (field("sbp") as HTMLInputElement).focus();
}

function closeVisit(): void {
  show($("#visit"), false);
  state.current = null;
}

function num(name: string): number | null {
  const v = (field(name) as HTMLInputElement).value.trim();
  return v === "" ? null : Number(v);
}

async function onVisitSubmit(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const e = state.current;
  if (!e) return;
  const sbp = num("sbp");
  const dbp = num("dbp");
  if (sbp !== null && dbp !== null && sbp <= dbp) {
    $("#visit-error").textContent = p("sbp_gt_dbp");
    return;
  }
  const body = {
    resident_id: e.resident_id,
    disease: e.disease,
    visit_date: field("visit_date").value,
    method: field("method").value,
    sbp,
    dbp,
    fasting_glucose: num("fasting_glucose"),
    heart_rate: num("heart_rate"),
    adherence: field("adherence").value,
    adverse_reaction: (field("adverse_reaction") as HTMLInputElement).checked,
    referred: (field("referred") as HTMLInputElement).checked,
    next_visit_date: field("next_visit_date").value || null,
  };
  const button = (ev.target as HTMLFormElement).querySelector("button[type=submit]") as HTMLButtonElement;
  button.disabled = true;
  $("#visit-error").textContent = p("saving");
  try {
    await postJSON("/api/v1/followups", body);
    closeVisit();
    status(p("saved", { who: e.name ?? e.resident_id }));
    await loadList();
  } catch (err) {
    $("#visit-error").textContent = err instanceof Error ? err.message : String(err);
  } finally {
    button.disabled = false;
  }
}

async function dismiss(e: Entry): Promise<void> {
  const reason = window.prompt(p("dismiss_prompt", { who: e.name ?? e.resident_id, task: label(TASKS, e.task_code) }));
  if (!reason || !reason.trim()) return;
  try {
    await postJSON("/api/v1/tasks/dismiss", {
      resident_id: e.resident_id,
      disease: e.disease,
      task_code: e.task_code,
      due_date: e.due_date,
      reason: reason.trim(),
    });
    status(p("dismissed"));
    await loadList();
  } catch (err) {
    status(err instanceof Error ? err.message : String(err), "error");
  }
}

// ---------------------------------------------------------------------------------------
// The screens: today's visits, health education
// ---------------------------------------------------------------------------------------
function showScreen(which: "visits" | "edu"): void {
  show($("#visits-view"), which === "visits");
  show($("#edu-view"), which === "edu");
  for (const [id, on] of [["#tab-visits", which === "visits"], ["#tab-edu", which === "edu"]] as const) {
    $(id).classList.toggle("active", on);
    if (on) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
  if (which === "edu") void showEducation();
  else map?.resize(); // it was laid out while hidden
}

// ---------------------------------------------------------------------------------------
function rerender(): void {
  applyPhoneI18n();
  rerenderRecord();
  rerenderEducation();
  badge.set((badge.el.dataset.state as Parameters<typeof badge.set>[0]) ?? "off");
  $("#lang").textContent = currentLang() === "zh" ? "English" : "中文";
  if (!state.me?.team_id) return;
  renderSubtitle();
  renderList();
  renderSummary();
  if (state.route && map) drawRoute(map, state.route);
}

async function main(): Promise<void> {
  applyPhoneI18n();
  $("#lang").textContent = currentLang() === "zh" ? "English" : "中文";
  $("#lang").addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
  onLangChange(rerender);
  $("#visit-form").addEventListener("submit", (ev) => void onVisitSubmit(ev as SubmitEvent));
  $("#visit-cancel").addEventListener("click", closeVisit);
  setUpRecord();
  $("#tab-visits").addEventListener("click", () => showScreen("visits"));
  $("#tab-edu").addEventListener("click", () => showScreen("edu"));
  $("#logout").addEventListener("click", () => logout());
  await setUpLogin({ loggingIn: () => p("logging_in"), start, onError: (err) => status(String(err), "error") });
}

void main();
