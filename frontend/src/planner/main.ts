// The planner's page (served at /planner/): the coverage map - cells beyond the 15-minute
// walk of a village clinic, suggested new clinics (MCLP) and the county sub-centre, over the
// boundary and facility tiles - the town table with the planning standards, and the
// what-if: click the map to place a village clinic (or click one to close it) and the
// covered population and the town table are recomputed by POST /api/v1/coverage/what-if.
// Reports are written by a job (POST /api/v1/coverage/reports) whose progress is shown,
// then downloaded. Chinese by default, English by the shared toggle; nothing from a CDN.
import maplibregl from "maplibre-gl";
import type { GeoJSONSource, MapMouseEvent, StyleSpecification } from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
import "./style.css";

import { absolute, accessToken, download, getJSON, logout, me, postJSON } from "../common/api";
import { $, clear, h, show } from "../common/dom";
import { currentLang, label, onLangChange, setLang } from "../common/i18n";
import { setUpLogin } from "../common/login";
import { FACILITY_TYPES, SUPPRESSION_REASONS } from "../common/vocabulary";
import { applyPlannerI18n, p } from "./text";

const ROLES = new Set(["planner", "bureau", "admin"]);
const KEY_COV = "cov_village_clinic_walk";

interface TownRow {
  area_code?: string;
  town_code?: string;
  name?: string;
  level?: string;
  population: number | null;
  suppression_reason?: string | null;
  [key: string]: unknown;
}
interface StandardRow {
  area_code: string;
  label_zh: string;
  label_en: string;
  op: string;
  met: boolean | null;
}
interface Cell { h3: string; lat: number; lng: number; population: number | null; t_village_clinic_walk: number | null }
interface Site { name: string; lat: number; lng: number; newly_covered: number | null; town_code: string }
interface Siting { sites: Site[]; newly_covered: number; sub_centre: { name: string; lat: number; lng: number; mean_minutes: number }[] }
interface WhatIfOut { county: Record<string, number>; towns: TownRow[] }
interface ReportJob { job_id: string; status: string; progress: number; step: string; error: string | null; file: string | null; format: string; town: string | null }

const state = {
  towns: [] as TownRow[],
  standards: [] as StandardRow[],
  meta: {} as Record<string, unknown>,
  added: [] as { lat: number; lng: number }[],
  closed: [] as string[],
  county: null as Record<string, number> | null,
  whatIfTowns: null as TownRow[] | null,
  underserved: [] as Cell[],
  k: 10,
};
let map: maplibregl.Map;
let seq = 0;

declare global {
  interface Window { planner?: { map: maplibregl.Map; state: typeof state; ready: boolean; busy: boolean } }
}

function setStatus(text: string, error = false): void {
  const el = $("#status");
  el.textContent = text;
  el.classList.toggle("error", error);
  show(el, Boolean(text));
}

function fmt(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  return n.toLocaleString(currentLang() === "zh" ? "zh-CN" : "en", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function pct(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? "—" : `${(100 * n).toFixed(1)}%`;
}

// ---------------------------------------------------------------------------------------
// Headline and tables
// ---------------------------------------------------------------------------------------
function renderHeadline(): void {
  const county = state.towns.find((t) => t.level === "county");
  const after = state.county?.[KEY_COV] ?? (county?.[KEY_COV] as number | null | undefined) ?? null;
  const before = state.county?.[`${KEY_COV}_before`] ?? after;
  const population = state.county?.population ?? county?.population ?? null;
  $("#covered").textContent = fmt(after);
  $("#covered").dataset.value = after === null ? "" : String(after);
  $("#covered-share").textContent = population ? pct((after ?? 0) / population) : "—";
  const delta = (after ?? 0) - (before ?? 0);
  const el = $("#covered-delta");
  el.textContent = delta ? `${delta > 0 ? "+" : ""}${fmt(delta)}` : "";
  el.className = `delta ${delta > 0 ? "up" : delta < 0 ? "down" : ""}`;
  const n = state.added.length + state.closed.length;
  $("#subtitle").textContent = [
    `${p("as_of")} ${String(state.meta.data_date ?? "—")}`,
    p(`model_${String(state.meta.travel_model ?? "")}`),
    n ? p("added", { a: state.added.length, c: state.closed.length }) : "",
  ].filter(Boolean).join(" · ");
}

function withheld(row: TownRow): string | null {
  return row.suppression_reason ? label(SUPPRESSION_REASONS, row.suppression_reason) : null;
}

function renderTowns(): void {
  const after = new Map((state.whatIfTowns ?? []).map((t) => [String(t.town_code), t]));
  const standardsOf = (code: string) => state.standards.filter((s) => s.area_code === code && s.op !== "reported");
  const rows = [...state.towns].sort((a, b) => (a.level === "county" ? 1 : 0) - (b.level === "county" ? 1 : 0));
  const head = h("tr", {}, ...["col_town", "col_population", "col_walk", "col_ebike", "col_doctors", "col_standards"].map((k, i) => h("th", { class: i && i < 5 ? "num" : "" }, p(k))));
  const body = rows.map((t) => {
    const code = String(t.area_code);
    const w = after.get(code);
    const share = (w?.share_village_clinic_walk ?? t.share_village_clinic_walk) as number | null;
    const std = standardsOf(code);
    const missed = std.filter((s) => s.met === false).map((s) => (currentLang() === "zh" ? s.label_zh : s.label_en));
    const met = std.filter((s) => s.met === true).length;
    const why = withheld(t);
    return h(
      "tr",
      { class: t.level === "county" ? "county" : "", "data-town": code },
      h("td", {}, t.level === "county" ? `${t.name ?? ""}（${p("county")}）` : String(t.name ?? code)),
      h("td", { class: "num", title: why }, why ? p("withheld", { k: state.k }) : fmt(t.population)),
      h("td", { class: "num town-walk" }, pct(share)),
      h("td", { class: "num" }, pct(t.share_village_clinic_ebike as number | null)),
      h("td", { class: "num" }, fmt(t.doctors_per_1000 as number | null, 2)),
      h("td", { class: missed.length ? "missed" : "", title: missed.length ? p("missed") + missed.join("；") : "" }, p("met_of", { m: met, n: std.length })),
    );
  });
  clear($("#towns"), h("thead", {}, head), h("tbody", {}, ...body));
  $("#towns").className = "table";
  const select = $("#report-town") as HTMLSelectElement;
  const chosen = select.value;
  clear(select, h("option", { value: "" }, p("county")), ...state.towns.filter((t) => t.level === "town").map((t) => h("option", { value: String(t.area_code), selected: String(t.area_code) === chosen }, String(t.name ?? t.area_code))));
}

function renderSiting(siting: Siting): void {
  const sites = siting.sites.map((s) => h("li", {}, `${s.name} · +${s.newly_covered === null ? p("withheld", { k: state.k }) : fmt(s.newly_covered)}`));
  const sub = siting.sub_centre[0];
  clear(
    $("#siting"),
    h("p", {}, p("new_sites", { k: siting.sites.length, n: fmt(siting.newly_covered) })),
    h("ol", {}, ...sites),
    sub ? h("p", {}, p("sub_centre") + `${sub.name}（${label(FACILITY_TYPES, "township_hc")}）`) : null,
  );
  (map.getSource("sites") as GeoJSONSource | undefined)?.setData(points(siting.sites));
}

// ---------------------------------------------------------------------------------------
// The map
// ---------------------------------------------------------------------------------------
function points(list: { lat: number; lng: number }[], props: (i: number) => Record<string, unknown> = () => ({})): GeoJSON.FeatureCollection {
  return {
    type: "FeatureCollection",
    features: list.map((pt, i) => ({ type: "Feature", properties: props(i), geometry: { type: "Point", coordinates: [pt.lng, pt.lat] } })),
  };
}

function style(): StyleSpecification {
  // No glyphs, no sprite, no basemap: nothing outside the server (labels are in the panel).
  return { version: 8, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#eef0f2" } }] };
}

async function createMap(): Promise<void> {
  let bounds: [number, number, number, number] = [118.5, 36.6, 119.1, 37.2];
  try {
    bounds = (await getJSON<{ bounds: [number, number, number, number] }>("/tiles/boundaries.json")).bounds ?? bounds;
  } catch {
    /* keep the default view */
  }
  map = new maplibregl.Map({
    container: "map",
    style: style(),
    bounds,
    fitBoundsOptions: { padding: 20 },
    attributionControl: false,
    transformRequest: (url) =>
      url.startsWith(location.origin) && accessToken() ? { url, headers: { Authorization: `Bearer ${accessToken()}` } } : { url },
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  map.on("error", () => undefined); // empty tiles (204) are not errors worth showing
  await new Promise<void>((resolve) => map.once("load", () => resolve()));
  const tiles = (layer: string) => [absolute(`/tiles/${layer}/{z}/{x}/{y}.mvt`)];
  map.addSource("boundaries", { type: "vector", tiles: tiles("boundaries"), minzoom: 6, maxzoom: 14 });
  map.addLayer({ id: "county-fill", type: "fill", source: "boundaries", "source-layer": "boundaries", filter: ["==", ["get", "kind"], "county"], paint: { "fill-color": "#ffffff", "fill-opacity": 0.9 } });
  map.addLayer({ id: "boundaries-line", type: "line", source: "boundaries", "source-layer": "boundaries", filter: ["in", ["get", "kind"], ["literal", ["county", "town"]]], paint: { "line-color": "#555555", "line-width": ["match", ["get", "kind"], "county", 2.2, 1.2] } });
  // Travel time to the nearest village clinic on foot (the planners' tile layer), in the
  // report's classes: 5, 10, 15 (the service circle), 30 minutes, beyond or unreachable.
  map.addSource("travel_time", { type: "vector", tiles: tiles("travel_time"), minzoom: 8, maxzoom: 16 });
  map.addLayer({
    id: "travel-time",
    type: "fill",
    source: "travel_time",
    "source-layer": "travel_time",
    paint: {
      "fill-color": ["step", ["coalesce", ["get", "t_village_clinic_walk"], 1e9], "#1a9850", 5, "#91cf60", 10, "#d9ef8b", 15, "#fc8d59", 30, "#d73027"],
      "fill-opacity": 0.75,
    },
  });
  map.addSource("facilities", { type: "vector", tiles: tiles("facilities"), minzoom: 6, maxzoom: 16 });
  map.addLayer({ id: "clinics", type: "circle", source: "facilities", "source-layer": "facilities", filter: ["in", ["get", "type"], ["literal", ["village_clinic", "community_station"]]], paint: { "circle-radius": 3.5, "circle-color": "#2e8540", "circle-stroke-color": "#fff", "circle-stroke-width": 1 } });
  for (const [id, colour, radius] of [["underserved", "#d92d20", 3], ["sites", "#b2182b", 7], ["added", "#1d6fb8", 7], ["closed", "#6b7785", 6]] as const) {
    map.addSource(id, { type: "geojson", data: points([]) });
    map.addLayer({ id, type: "circle", source: id, paint: { "circle-radius": radius, "circle-color": colour, "circle-opacity": id === "underserved" ? 0.6 : 1, "circle-stroke-color": "#fff", "circle-stroke-width": id === "underserved" ? 0 : 1.5 } });
  }
  map.on("click", onMapClick);
  map.on("mouseenter", "clinics", () => (map.getCanvas().style.cursor = "pointer"));
  map.on("mouseleave", "clinics", () => (map.getCanvas().style.cursor = ""));
}

function tool(): string {
  return (document.querySelector<HTMLInputElement>('input[name="tool"]:checked')?.value ?? "add");
}

function onMapClick(ev: MapMouseEvent): void {
  if (tool() === "close") {
    const hit = map.queryRenderedFeatures(ev.point, { layers: ["clinics"] })[0];
    const id = hit?.properties?.facility_id as string | undefined;
    if (!id || state.closed.includes(id)) return;
    state.closed.push(id);
    const [lng, lat] = (hit.geometry as GeoJSON.Point).coordinates;
    (map.getSource("closed") as GeoJSONSource).setData(points([...closedPoints, { lat, lng }]));
    closedPoints.push({ lat, lng });
  } else {
    state.added.push({ lat: ev.lngLat.lat, lng: ev.lngLat.lng });
    (map.getSource("added") as GeoJSONSource).setData(points(state.added));
  }
  void runWhatIf();
}
const closedPoints: { lat: number; lng: number }[] = [];

async function runWhatIf(): Promise<void> {
  const mine = ++seq;
  if (window.planner) window.planner.busy = true;
  if (!state.added.length && !state.closed.length) {
    state.county = null;
    state.whatIfTowns = null;
  } else {
    setStatus(p("computing"));
    try {
      const out = await postJSON<WhatIfOut>("/api/v1/coverage/what-if", {
        add: state.added.map((a) => ({ ...a, group: "village_clinic" })),
        close: state.closed,
      });
      if (mine !== seq) return; // a newer click answered first
      state.county = out.county;
      state.whatIfTowns = out.towns;
      setStatus("");
    } catch (err) {
      setStatus(`${p("error")}: ${(err as Error).message}`, true);
    }
  }
  renderHeadline();
  renderTowns();
  if (window.planner && mine === seq) window.planner.busy = false;
}

function resetWhatIf(): void {
  state.added = [];
  state.closed = [];
  closedPoints.length = 0;
  (map.getSource("added") as GeoJSONSource).setData(points([]));
  (map.getSource("closed") as GeoJSONSource).setData(points([]));
  void runWhatIf();
}

// ---------------------------------------------------------------------------------------
// Reports: a job, its progress, the download
// ---------------------------------------------------------------------------------------
async function makeReport(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const form = new FormData(ev.target as HTMLFormElement);
  const format = String(form.get("format"));
  const town = String(form.get("town") || "") || null;
  const bar = $("#report-progress") as HTMLProgressElement;
  const status = $("#report-status");
  show(bar, true);
  bar.value = 0;
  try {
    let job = await postJSON<ReportJob>("/api/v1/coverage/reports", { format, town });
    while (job.status === "queued" || job.status === "running") {
      status.textContent = job.status === "queued" ? p("report_queued") : p("report_running", { p: Math.round(job.progress * 100) });
      bar.value = job.progress;
      await new Promise((r) => window.setTimeout(r, 700));
      job = await getJSON<ReportJob>(`/api/v1/coverage/reports/${job.job_id}`);
    }
    if (job.status !== "succeeded" || !job.file) throw new Error(job.error ?? job.status);
    bar.value = 1;
    status.textContent = p("report_done");
    await download(job.file, `coverage${town ? "-" + town : ""}.${format}`);
  } catch (err) {
    status.textContent = p("report_failed") + (err as Error).message;
  }
}

// ---------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------
async function loadData(): Promise<void> {
  const [towns, standards, siting, underserved] = await Promise.all([
    getJSON<{ items: TownRow[]; meta: Record<string, unknown> }>("/api/v1/coverage/towns"),
    getJSON<{ items: StandardRow[] }>("/api/v1/coverage/standards"),
    getJSON<Siting>("/api/v1/coverage/siting"),
    // 1000: the service's largest page (MAX_LIMIT, service/schemas/common.py); 2000 was a 422.
    getJSON<{ items: Cell[] }>("/api/v1/coverage/underserved", { limit: 1000 }),
  ]);
  state.towns = towns.items;
  state.meta = towns.meta;
  const thresholds = (towns.meta.thresholds ?? {}) as Record<string, unknown>;
  state.k = Number(thresholds.min_count ?? 10);
  state.standards = standards.items;
  state.underserved = underserved.items;
  (map.getSource("underserved") as GeoJSONSource).setData(points(underserved.items));
  renderSiting(siting);
  renderHeadline();
  renderTowns();
}

async function start(): Promise<void> {
  const user = await me();
  if (!ROLES.has(user.role)) {
    setStatus(p("forbidden"), true);
    show($("#app"), true);
    return;
  }
  show($("#login"), false);
  show($("#app"), true);
  setStatus(p("loading"));
  await createMap();
  window.planner = { map, state, ready: false, busy: false };
  await loadData();
  setStatus("");
  map.once("idle", () => {
    if (window.planner) window.planner.ready = true;
  });
}

function showLogin(): void {
  show($("#app"), false);
  show($("#login"), true);
}

function init(): void {
  applyPlannerI18n();
  $("#lang").textContent = currentLang() === "zh" ? "English" : "中文";
  $("#lang").addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
  onLangChange(() => {
    applyPlannerI18n();
    $("#lang").textContent = currentLang() === "zh" ? "English" : "中文";
    renderHeadline();
    renderTowns();
  });
  $("#logout").addEventListener("click", () => logout());
  $("#reset").addEventListener("click", resetWhatIf);
  $("#report-form").addEventListener("submit", (ev) => void makeReport(ev as SubmitEvent));
  void setUpLogin({ loggingIn: () => p("logging_in"), start, showLogin, onError: (err) => setStatus(String(err), true) });
}

init();
