// The county health bureau's web map (served at /): login, layer switcher, indicator
// picker, class breaks and legend, month slider, side panel with a unit's indicators and
// trend, search, exports. Everything comes from this service: vector tiles with the
// Bearer token (transformRequest), no glyphs (no text on the map), no CDN.
import maplibregl, {
  type ExpressionSpecification,
  type LayerSpecification,
  type MapGeoJSONFeature,
  type StyleSpecification,
} from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
import "./style.css";

import {
  absolute,
  accessToken,
  ApiError,
  download,
  getJSON,
  login,
  logout,
  me,
  onLogout,
  refresh,
  resume,
  ROOT,
  saveBlob,
  type Me,
} from "../common/api";
import { $, clear, h, show } from "../common/dom";
import { applyI18n, currentLang, isTerm, label, onLangChange, setLang, t } from "../common/i18n";
import {
  HOTSPOT_CLASSES,
  HOTSPOT_INDICATORS,
  HOTSPOT_LEVELS,
  INDICATORS,
  LEVELS,
  ROLES,
  SUPPRESSION_REASONS,
  TEAM_SCOPED_ROLE,
  type Label,
} from "../common/vocabulary";
import { breaks, colours, HEAT, type Scheme } from "./classify";
import { trendChart, type TrendPoint } from "./trend";

// ---------------------------------------------------------------------------------------
// API shapes (docs/api.md); parsed defensively, the API is young.
// ---------------------------------------------------------------------------------------
interface IndicatorDef {
  code: string;
  name_zh?: string;
  name_en?: string;
  /** 1 for rates and shares (shown as per cent), 1000 for per-1000 indicators. */
  scale?: number;
}

interface Meta {
  as_of: string;
  periods: string[];
  levels: string[];
  indicators: IndicatorDef[];
  hotspot_indicators: string[];
  hotspot_levels?: string[];
  user?: { role: string; scope: string };
  layers: (string | { name: string; minzoom?: number; maxzoom?: number })[];
}

interface IndicatorRow {
  level?: string;
  unit_id?: string;
  period?: string;
  indicator: string;
  numerator: number | null;
  denominator: number | null;
  value: number | null;
  suppressed?: boolean;
  suppression_reason?: string | null;
}

interface SearchHit {
  code: string;
  name: string;
  level: "town" | "village" | "grid";
  town_code?: string | null;
  centroid?: [number, number] | null;
  bbox?: [number, number, number, number] | null;
}

interface TileJSON {
  minzoom: number;
  maxzoom: number;
  bounds?: [number, number, number, number];
}

// Choropleth ("base") layers: one at a time. Overlays: any number.
const CHORO_LAYERS = [
  "indicators",
  "grid_indicators",
  "village_indicators",
  "town_indicators",
  "hotspots",
  "mobility",
] as const;
type Choro = (typeof CHORO_LAYERS)[number];
const OVERLAYS = ["boundaries", "facilities", "risk", "alerts"] as const;

/** H3 level the ``indicators`` tiles draw at each zoom (service.tiles.layers). */
const H3_LEVEL_BY_ZOOM: [number, string][] = [
  [10, "h3:7"],
  [12, "h3:8"],
  [99, "h3:9"],
];
const LEVEL_OF: Record<string, string> = {
  grid_indicators: "grid",
  village_indicators: "village",
  town_indicators: "town",
};
const NODATA = "#d9d9d9";
const SUPPRESSED = "#bdbdbd";
/** Fill of each hotspot class (common/vocabulary.ts HOTSPOT_CLASSES), in legend order. */
const HOTSPOT_FILL: Record<keyof typeof HOTSPOT_CLASSES, string> = {
  hot: "#d7301f",
  cold: "#2b8cbe",
  none: "#e0e0e0",
};
/** Every indicator's labels: the built ones and the hotspot ones. */
const INDICATOR_LABELS: Readonly<Record<string, Label>> = { ...INDICATORS, ...HOTSPOT_INDICATORS };

const state = {
  me: null as Me | null,
  meta: null as Meta | null,
  layers: new Set<string>(),
  choro: "indicators" as Choro,
  overlays: new Set<string>(["boundaries"]),
  indicator: "",
  period: "",
  scheme: "quantile" as Scheme,
  k: 5,
  hotspotLevel: "h3:8",
  breaks: [] as number[],
  breaksKey: "",
  selected: null as { level: string; unit_id: string; extra?: Record<string, unknown> } | null,
  tilejson: new Map<string, TileJSON>(),
};

let map: maplibregl.Map;

// Exposed for the browser tests and for debugging from the console (no secrets in it).
declare global {
  interface Window {
    healthmap?: { map: maplibregl.Map; state: typeof state; ready: boolean };
  }
}

// ---------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------
function indicatorName(code: string): string {
  if (isTerm(INDICATOR_LABELS, code)) return label(INDICATOR_LABELS, code);
  // An indicator newer than this build: the service's own names.
  const def = state.meta?.indicators.find((d) => d.code === code);
  if (!def) return code;
  return (currentLang() === "zh" ? def.name_zh : def.name_en) || def.name_zh || def.name_en || code;
}

/** Rates and shares (scale 1) are fractions shown as per cent; per-1000 ones as they are. */
function isRate(code: string): boolean {
  const def = state.meta?.indicators.find((d) => d.code === code);
  if (def?.scale !== undefined) return def.scale === 1;
  return /_(rate|share)$/.test(code);
}

function formatValue(code: string, v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  if (code === "health_index") return v.toFixed(1);
  return isRate(code) ? `${(v * 100).toFixed(1)}%` : v.toFixed(2);
}

/** Counts: whole numbers as they are, estimates (population × prevalence) to one decimal. */
function formatCount(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  return Math.abs(v - Math.round(v)) < 1e-9 ? String(Math.round(v)) : v.toFixed(1);
}

function levelName(level: string): string {
  return label(LEVELS, level);
}

/** Why a row shows no value, in words (the generic "suppressed" when the API says not). */
function suppressionText(reason: string | null | undefined): string {
  return reason ? label(SUPPRESSION_REASONS, reason) : t("suppressed");
}

function showUser(): void {
  const u = state.me;
  if (u) $("#user").textContent = `${u.username} · ${label(ROLES, u.role)}${u.town_code ? ` · ${u.town_code}` : ""}`;
}

/** The hotspot unit picker: the levels the service offers, named in the current language. */
function fillHotspotLevelSelect(): void {
  const select = $("#hotspot-level") as HTMLSelectElement;
  const levels = state.meta?.hotspot_levels?.length ? state.meta.hotspot_levels : [...HOTSPOT_LEVELS];
  if (!levels.includes(state.hotspotLevel)) state.hotspotLevel = levels[0] ?? state.hotspotLevel;
  clear(select, ...levels.map((l) => h("option", { value: l, selected: l === state.hotspotLevel }, levelName(l))));
}

function setStatus(message: string): void {
  $("#status").textContent = message;
}

function reportError(err: unknown): void {
  if (err instanceof ApiError) setStatus(`${t("error")}: ${err.message}`);
  else if (err instanceof Error) setStatus(`${t("error")}: ${err.message}`);
}

// ---------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------
function showLogin(): void {
  show($("#app"), false);
  show($("#login"), true);
  ($("#login-form").querySelector("input[name=username]") as HTMLInputElement).focus();
}

async function onLoginSubmit(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const form = ev.target as HTMLFormElement;
  const data = new FormData(form);
  const error = $("#login-error");
  error.textContent = t("logging_in");
  try {
    await login(String(data.get("username") ?? "").trim(), String(data.get("password") ?? ""));
    error.textContent = "";
    form.reset();
    await start();
  } catch (err) {
    error.textContent = err instanceof Error ? err.message : String(err);
  }
}

// ---------------------------------------------------------------------------------------
// Start: who am I, what may I see, the map
// ---------------------------------------------------------------------------------------
async function start(): Promise<void> {
  state.me = await me();
  show($("#login"), false);
  show($("#app"), true);
  showUser();
  if (state.me.role === TEAM_SCOPED_ROLE) {
    // A family doctor's page is the phone page (same tab: the session carries over).
    location.replace(`${ROOT}/m/`);
    return;
  }
  try {
    state.meta = await getJSON<Meta>("/api/v1/meta");
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      show($("#no-access"), true);
      return;
    }
    throw err;
  }
  const meta = state.meta;
  meta.periods = [...meta.periods].map(String).sort(); // the API lists newest first
  state.layers = new Set(meta.layers.map((l) => (typeof l === "string" ? l : l.name)));
  state.period = meta.periods.includes(meta.as_of) ? meta.as_of : (meta.periods[meta.periods.length - 1] ?? "");
  state.indicator = meta.indicators[0]?.code ?? "";
  const firstChoro = CHORO_LAYERS.find((l) => state.layers.has(l));
  if (firstChoro) state.choro = firstChoro;
  for (const o of [...state.overlays]) if (!state.layers.has(o)) state.overlays.delete(o);
  $("#as-of").textContent = `${t("as_of")} ${meta.as_of}`;
  buildControls();
  await createMap();
}

function buildControls(): void {
  const meta = state.meta!;
  // Layers the role may see (meta.layers); nothing else is offered.
  const base = $("#base-layers");
  clear(base);
  for (const name of CHORO_LAYERS) {
    if (!state.layers.has(name)) continue;
    const input = h("input", {
      type: "radio",
      name: "choro",
      value: name,
      checked: name === state.choro,
      onchange: () => {
        state.choro = name;
        void refreshChoropleth();
      },
    });
    base.append(h("label", { class: "opt" }, input, h("span", { "data-i18n": `layer_${name}` })));
  }
  const over = $("#overlay-layers");
  clear(over);
  for (const name of OVERLAYS) {
    if (!state.layers.has(name)) continue;
    const input = h("input", {
      type: "checkbox",
      value: name,
      checked: state.overlays.has(name),
      onchange: (ev: Event) => {
        if ((ev.target as HTMLInputElement).checked) state.overlays.add(name);
        else state.overlays.delete(name);
        applyOverlays();
      },
    });
    over.append(h("label", { class: "opt" }, input, h("span", { "data-i18n": `layer_${name}` })));
  }
  fillIndicatorSelect();
  fillHotspotLevelSelect();
  const slider = $("#month") as HTMLInputElement;
  slider.max = String(Math.max(meta.periods.length - 1, 0));
  slider.value = String(Math.max(meta.periods.indexOf(state.period), 0));
  $("#month-label").textContent = state.period.slice(0, 7);
  slider.oninput = () => {
    $("#month-label").textContent = (meta.periods[Number(slider.value)] ?? "").slice(0, 7);
  };
  slider.onchange = () => {
    state.period = meta.periods[Number(slider.value)] ?? state.period;
    void refreshChoropleth();
    if (state.selected) void openUnit(state.selected.level, state.selected.unit_id, state.selected.extra);
  };
  applyI18n();
}

function fillIndicatorSelect(): void {
  const meta = state.meta!;
  const select = $("#indicator") as HTMLSelectElement;
  const codes =
    state.choro === "hotspots"
      ? meta.hotspot_indicators
      : meta.indicators.map((d) => d.code);
  if (!codes.includes(state.indicator)) state.indicator = codes[0] ?? "";
  clear(select, ...codes.map((c) => h("option", { value: c, selected: c === state.indicator }, indicatorName(c))));
  show($("#indicator-box"), state.choro !== "mobility");
  show($("#hotspot-level-box"), state.choro === "hotspots");
  show($("#month-box"), state.choro !== "hotspots" && state.choro !== "mobility");
}

// ---------------------------------------------------------------------------------------
// The map
// ---------------------------------------------------------------------------------------
function metaContent(name: string): string {
  return document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? "";
}

function baseStyle(): StyleSpecification {
  const style: StyleSpecification = {
    version: 8,
    // No glyphs and no sprite: the map draws no text (labels live in the side panel),
    // so MapLibre never asks for a font.
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#eef0f2" } }],
  };
  // Optional basemap (settings.service.basemap_url, put in the page by pages.py). Our data
  // are WGS84: a GCJ-02 basemap (Amap, Tencent) is off by several hundred metres, and
  // tiles are not shifted - choose a WGS84 basemap such as Tianditu (docs/frontend.md).
  const url = metaContent("healthmap-basemap");
  if (url) {
    const tiles = url.includes("{s}")
      ? ["0", "1", "2", "3"].map((s) => url.replace("{s}", s))
      : [url];
    style.sources.basemap = { type: "raster", tiles, tileSize: 256 };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
    show($("#basemap-warning"), metaContent("healthmap-basemap-crs") === "gcj02");
  }
  return style;
}

async function tileJSON(layer: string): Promise<TileJSON> {
  let tj = state.tilejson.get(layer);
  if (!tj) {
    tj = await getJSON<TileJSON>(`/tiles/${layer}.json`);
    state.tilejson.set(layer, tj);
  }
  return tj;
}

function tileUrl(layer: string, params: Record<string, string>): string {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "")).toString();
  return absolute(`/tiles/${layer}/{z}/{x}/{y}.mvt`) + (q ? `?${q}` : "");
}

async function createMap(): Promise<void> {
  let bounds: [number, number, number, number] | undefined;
  try {
    bounds = (await tileJSON("boundaries")).bounds;
  } catch {
    bounds = undefined;
  }
  map = new maplibregl.Map({
    container: "map",
    style: baseStyle(),
    bounds: bounds ?? [118.5, 36.6, 119.1, 37.2],
    fitBoundsOptions: { padding: 20 },
    attributionControl: false,
    // Needed for "export as PNG": the canvas keeps its pixels after drawing.
    canvasContextAttributes: { preserveDrawingBuffer: true },
    transformRequest: (url) => {
      // Tiles and TileJSON need the Bearer token; only our own origin ever gets it.
      if (url.startsWith(location.origin) && accessToken()) {
        return { url, headers: { Authorization: `Bearer ${accessToken()}` } };
      }
      return { url };
    },
  });
  window.healthmap = { map, state, ready: false };
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  map.on("error", (ev) => {
    // Handled here instead of MapLibre's console.error: show it, and refresh the token
    // when a tile was refused because it had just run out.
    const status = (ev.error as { status?: number } | undefined)?.status;
    if (status === 401) {
      void refresh().then((ok) => {
        if (ok) void refreshChoropleth();
      });
      return;
    }
    if (status === 204 || status === 404) return; // empty or outside the layer
    setStatus(`${t("error")}: ${ev.error?.message ?? "map"}`);
  });
  await new Promise<void>((resolve) => map.once("load", () => resolve()));
  addBoundaries();
  addFacilities();
  addEarlyWarning();
  await refreshChoropleth();
  applyOverlays();
  map.on("click", onMapClick);
  map.on("zoomend", () => {
    if (state.choro === "indicators") void updateBreaks();
  });
  map.on("idle", () => {
    if (state.choro === "mobility") updateMobilityBreaks();
  });
  for (const id of ["choro-fill", "facilities-circle"]) {
    map.on("mouseenter", id, () => (map.getCanvas().style.cursor = "pointer"));
    map.on("mouseleave", id, () => (map.getCanvas().style.cursor = ""));
  }
  map.once("idle", () => {
    if (window.healthmap) window.healthmap.ready = true;
  });
}

function addBoundaries(): void {
  if (!state.layers.has("boundaries")) return;
  map.addSource("boundaries", {
    type: "vector",
    tiles: [tileUrl("boundaries", {})],
    minzoom: 6,
    maxzoom: 14,
  });
  // The county itself is the base: a pale fill under everything else.
  map.addLayer({
    id: "county-fill",
    type: "fill",
    source: "boundaries",
    "source-layer": "boundaries",
    filter: ["==", ["get", "kind"], "county"],
    // Over a basemap only a light veil, so its streets and villages show through.
    paint: { "fill-color": "#ffffff", "fill-opacity": metaContent("healthmap-basemap") ? 0.15 : 0.9 },
  });
  map.addLayer({
    id: "boundaries-line",
    type: "line",
    source: "boundaries",
    "source-layer": "boundaries",
    paint: {
      "line-color": ["match", ["get", "kind"], "county", "#333333", "town", "#555555", "#888888"],
      "line-width": ["match", ["get", "kind"], "county", 2.2, "town", 1.4, "village", 0.6, 0.4],
      "line-dasharray": ["match", ["get", "kind"], "grid", ["literal", [2, 2]], ["literal", [1, 0]]],
    },
  });
}

function addFacilities(): void {
  if (!state.layers.has("facilities")) return;
  map.addSource("facilities", {
    type: "vector",
    tiles: [tileUrl("facilities", {})],
    minzoom: 6,
    maxzoom: 16,
  });
  map.addLayer({
    id: "facilities-circle",
    type: "circle",
    source: "facilities",
    "source-layer": "facilities",
    layout: { visibility: state.overlays.has("facilities") ? "visible" : "none" },
    paint: {
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 8, 2.5, 13, 6],
      "circle-color": [
        "match",
        ["get", "type"],
        "county_hospital",
        "#6a3d9a",
        "township_hc",
        "#e31a1c",
        "community_hc",
        "#e31a1c",
        "village_clinic",
        "#33a02c",
        "community_station",
        "#33a02c",
        "#ff7f00",
      ],
      "circle-stroke-color": "#ffffff",
      "circle-stroke-width": 1,
    },
  });
}

/** Early warning (RULES.md): cells at risk of spread by score, and alert cells / towns. */
function addEarlyWarning(): void {
  const visible = (name: string) => (state.overlays.has(name) ? "visible" : "none");
  if (state.layers.has("risk")) {
    map.addSource("risk", { type: "vector", tiles: [tileUrl("risk", {})], minzoom: 7, maxzoom: 14 });
    map.addLayer({
      id: "risk-fill",
      type: "fill",
      source: "risk",
      "source-layer": "risk",
      filter: ["==", ["get", "at_risk"], true],
      layout: { visibility: visible("risk") },
      paint: {
        "fill-color": ["interpolate", ["linear"], ["get", "score"], 0.5, "#fdae61", 1, "#d7191c"],
        "fill-opacity": 0.45,
      },
    });
  }
  if (state.layers.has("alerts")) {
    map.addSource("alerts", { type: "vector", tiles: [tileUrl("alerts", {})], minzoom: 6, maxzoom: 14 });
    map.addLayer({
      id: "alerts-line",
      type: "line",
      source: "alerts",
      "source-layer": "alerts",
      layout: { visibility: visible("alerts") },
      paint: { "line-color": "#b2182b", "line-width": 2.5 },
    });
  }
}

function applyOverlays(): void {
  const vis = (on: boolean) => (on ? "visible" : "none");
  for (const [id, name] of [
    ["risk-fill", "risk"],
    ["alerts-line", "alerts"],
  ]) {
    if (map.getLayer(id)) map.setLayoutProperty(id, "visibility", vis(state.overlays.has(name)));
  }
  for (const id of ["boundaries-line"]) {
    if (map.getLayer(id)) map.setLayoutProperty(id, "visibility", vis(state.overlays.has("boundaries")));
  }
  if (map.getLayer("facilities-circle")) {
    map.setLayoutProperty("facilities-circle", "visibility", vis(state.overlays.has("facilities")));
  }
}

/** The indicator level the current view shows (for breaks, exports and the panel). */
function currentLevel(): string {
  if (state.choro === "indicators") {
    const z = Math.floor(map.getZoom());
    return (H3_LEVEL_BY_ZOOM.find(([top]) => z <= top) ?? H3_LEVEL_BY_ZOOM[2])[1];
  }
  if (state.choro === "hotspots") return state.hotspotLevel;
  return LEVEL_OF[state.choro] ?? "";
}

function choroSourceSpec(): { layer: string; params: Record<string, string> } {
  switch (state.choro) {
    case "hotspots":
      return { layer: "hotspots", params: { indicator: state.indicator, level: state.hotspotLevel } };
    case "mobility":
      return { layer: "mobility", params: {} };
    default:
      return { layer: state.choro, params: { indicator: state.indicator, period: state.period } };
  }
}

/** Replace the choropleth source and layers with the current layer/indicator/month. */
async function refreshChoropleth(): Promise<void> {
  fillIndicatorSelect();
  setStatus("");
  for (const id of ["choro-selected", "choro-line", "choro-fill"]) if (map.getLayer(id)) map.removeLayer(id);
  if (map.getSource("choro")) map.removeSource("choro");
  if (!state.layers.has(state.choro)) return;
  if (state.choro === "hotspots" && !state.indicator) {
    setStatus(t("not_available"));
    return;
  }
  const { layer, params } = choroSourceSpec();
  let tj: TileJSON = { minzoom: 0, maxzoom: 14 };
  try {
    tj = await tileJSON(layer);
  } catch (err) {
    reportError(err);
  }
  map.addSource("choro", {
    type: "vector",
    tiles: [tileUrl(layer, params)],
    minzoom: tj.minzoom,
    maxzoom: tj.maxzoom,
  });
  const before = map.getLayer("boundaries-line") ? "boundaries-line" : undefined;
  const fill: LayerSpecification = {
    id: "choro-fill",
    type: "fill",
    source: "choro",
    "source-layer": layer,
    paint: { "fill-color": NODATA, "fill-opacity": 0.78 },
  };
  if (state.choro === "hotspots") {
    fill.paint = {
      "fill-color": ["match", ["get", "class"], "hot", HOTSPOT_FILL.hot, "cold", HOTSPOT_FILL.cold, HOTSPOT_FILL.none],
      "fill-opacity": 0.8,
    };
  }
  map.addLayer(fill, before);
  map.addLayer(
    {
      id: "choro-line",
      type: "line",
      source: "choro",
      "source-layer": layer,
      paint: { "line-color": "#ffffff", "line-width": 0.4, "line-opacity": 0.7 },
    },
    before,
  );
  map.addLayer(
    {
      id: "choro-selected",
      type: "line",
      source: "choro",
      "source-layer": layer,
      filter: ["==", ["get", "unit_id"], state.selected?.unit_id ?? ""],
      paint: { "line-color": "#000000", "line-width": 2.5 },
    },
    before,
  );
  state.breaksKey = "";
  if (state.choro === "mobility") {
    state.breaks = [];
    renderLegend();
  } else if (state.choro === "hotspots") {
    renderLegend();
  } else {
    await updateBreaks();
  }
}

/** Every row of /api/v1/indicators for one level, period and indicator (all pages). */
async function indicatorRows(level: string, period: string, indicator: string): Promise<IndicatorRow[]> {
  const rows: IndicatorRow[] = [];
  const limit = 5000;
  for (let offset = 0; ; offset += limit) {
    const page = await getJSON<{ items: IndicatorRow[]; total?: number }>("/api/v1/indicators", {
      level,
      period,
      indicator,
      limit,
      offset,
    });
    rows.push(...page.items);
    if (page.items.length < limit || page.total === undefined || rows.length >= page.total) break;
  }
  return rows;
}

async function updateBreaks(): Promise<void> {
  if (state.choro === "hotspots" || state.choro === "mobility") return;
  const level = currentLevel();
  const key = [level, state.period, state.indicator, state.scheme, state.k].join("|");
  if (key === state.breaksKey) return;
  state.breaksKey = key;
  let values: number[] = [];
  try {
    const rows = await indicatorRows(level, state.period, state.indicator);
    values = rows
      .filter((r) => !r.suppressed && r.value !== null && Number.isFinite(r.value))
      .map((r) => r.value as number);
  } catch (err) {
    reportError(err);
  }
  if (key !== state.breaksKey) return; // a newer request won
  state.breaks = breaks(values, state.k, state.scheme);
  applyChoroplethPaint();
  renderLegend();
}

function stepExpression(prop: ExpressionSpecification, ramp: string[], br: number[]): ExpressionSpecification {
  if (br.length === 0) return ramp[Math.floor(ramp.length / 2)] as unknown as ExpressionSpecification;
  const expr: unknown[] = ["step", prop, ramp[0]];
  br.forEach((b, i) => expr.push(b, ramp[i + 1]));
  return expr as ExpressionSpecification;
}

function applyChoroplethPaint(): void {
  if (!map.getLayer("choro-fill")) return;
  const ramp = colours(state.breaks.length + 1);
  const color: ExpressionSpecification = [
    "case",
    ["to-boolean", ["get", "suppressed"]],
    SUPPRESSED,
    ["!", ["has", "value"]],
    NODATA,
    stepExpression(["to-number", ["get", "value"]], ramp, state.breaks),
  ];
  map.setPaintProperty("choro-fill", "fill-color", color);
}

function updateMobilityBreaks(): void {
  if (!map.getSource("choro")) return;
  const values = map
    .querySourceFeatures("choro", { sourceLayer: "mobility" })
    .map((f) => Number(f.properties?.mean_count))
    .filter(Number.isFinite);
  const br = breaks(values, HEAT.length, "quantile");
  const key = br.join(",");
  if (key === state.breaksKey) return;
  state.breaksKey = key;
  state.breaks = br;
  const ramp = HEAT.slice(0, br.length + 1);
  if (map.getLayer("choro-fill")) {
    map.setPaintProperty("choro-fill", "fill-color", stepExpression(["to-number", ["get", "mean_count"]], ramp, br));
  }
  renderLegend();
}

function swatch(color: string, label: string): HTMLElement {
  const box = h("span", { class: "swatch" });
  box.style.background = color; // CSSOM, allowed by the CSP (no style attribute)
  return h("div", { class: "legend-row" }, box, h("span", {}, label));
}

function renderLegend(): void {
  const legend = $("#legend");
  clear(legend);
  if (state.choro === "hotspots") {
    legend.append(
      h("div", { class: "legend-title" }, `${t("layer_hotspots")} · ${indicatorName(state.indicator)}`),
      ...(Object.keys(HOTSPOT_FILL) as (keyof typeof HOTSPOT_FILL)[]).map((c) =>
        swatch(HOTSPOT_FILL[c], label(HOTSPOT_CLASSES, c)),
      ),
    );
    return;
  }
  if (state.choro === "mobility") {
    legend.append(h("div", { class: "legend-title" }, `${t("layer_mobility")} (${t("people_per_hour")})`));
    if (state.breaks.length === 0) {
      legend.append(h("p", { class: "muted" }, t("loading")));
      return;
    }
    const ramp = HEAT.slice(0, state.breaks.length + 1);
    const e = state.breaks.map((b) => b.toFixed(0));
    ramp.forEach((c, i) => {
      const label = i === 0 ? `< ${e[0]}` : i === ramp.length - 1 ? `≥ ${e[i - 1]}` : `${e[i - 1]} – ${e[i]}`;
      legend.append(swatch(c, label));
    });
    return;
  }
  const code = state.indicator;
  legend.append(
    h("div", { class: "legend-title" }, `${indicatorName(code)} · ${levelName(currentLevel())} · ${state.period.slice(0, 7)}`),
  );
  const ramp = colours(state.breaks.length + 1);
  const fmt = (v: number) => formatValue(code, v);
  if (state.breaks.length === 0) {
    legend.append(swatch(ramp[Math.floor(ramp.length / 2)], t("value")));
  } else {
    ramp.forEach((c, i) => {
      const label =
        i === 0
          ? `< ${fmt(state.breaks[0])}`
          : i === ramp.length - 1
            ? `≥ ${fmt(state.breaks[i - 1])}`
            : `${fmt(state.breaks[i - 1])} – ${fmt(state.breaks[i])}`;
      legend.append(swatch(c, label));
    });
  }
  legend.append(swatch(SUPPRESSED, t("suppressed")), swatch(NODATA, t("no_data")));
}

// ---------------------------------------------------------------------------------------
// Clicks and the side panel
// ---------------------------------------------------------------------------------------
function onMapClick(ev: maplibregl.MapMouseEvent): void {
  const layers = ["facilities-circle", "choro-fill"].filter(
    (id) => map.getLayer(id) && map.getLayoutProperty(id, "visibility") !== "none",
  );
  const hits: MapGeoJSONFeature[] = map.queryRenderedFeatures(ev.point, { layers });
  const hit = hits[0];
  if (!hit) return;
  const p = hit.properties ?? {};
  if (hit.layer.id === "facilities-circle") {
    openFacility(p);
    return;
  }
  if (state.choro === "mobility") return;
  const level = String(p.level ?? currentLevel());
  const unit = String(p.unit_id ?? "");
  if (!unit) return;
  void openUnit(level, unit, state.choro === "hotspots" ? p : undefined);
}

function openFacility(p: Record<string, unknown>): void {
  const body = $("#panel-body");
  clear(
    body,
    h("h2", {}, String(p.name ?? p.facility_id ?? "")),
    h("p", { class: "muted" }, t("facility")),
    h(
      "table",
      { class: "kv" },
      h("tr", {}, h("th", {}, t("type")), h("td", {}, String(p.type ?? ""))),
      h("tr", {}, h("th", {}, t("beds")), h("td", {}, formatCount(p.beds as number))),
    ),
  );
  show($("#panel"), true);
}

interface UnitDetail {
  name?: string;
  rows: IndicatorRow[];
  trend: Map<string, TrendPoint[]>;
  healthIndex: number | null;
}

/** The unit endpoint's answer (service.schemas.UnitDetail) for the panel. */
function parseUnit(raw: Record<string, unknown>): UnitDetail {
  const items = (raw.indicators ?? []) as (IndicatorRow & { trend?: (IndicatorRow & { period: string })[] })[];
  const trend = new Map<string, TrendPoint[]>();
  for (const r of items) {
    const pts = (r.trend ?? []).map((p) => ({
      period: String(p.period),
      value: p.suppressed ? null : p.value,
    }));
    trend.set(r.indicator, pts.sort((a, b) => a.period.localeCompare(b.period)));
  }
  const hi = raw.health_index as { value?: number | null } | number | null | undefined;
  const healthIndex = typeof hi === "number" ? hi : (hi?.value ?? null);
  return { name: (raw.name as string | null) ?? undefined, rows: items, trend, healthIndex };
}

async function openUnit(level: string, unitId: string, extra?: Record<string, unknown>): Promise<void> {
  state.selected = { level, unit_id: unitId, extra };
  if (map.getLayer("choro-selected")) map.setFilter("choro-selected", ["==", ["get", "unit_id"], unitId]);
  const panel = $("#panel");
  const body = $("#panel-body");
  panel.dataset.level = level;
  panel.dataset.unit = unitId;
  panel.dataset.loaded = "false";
  clear(body, h("p", { class: "muted" }, t("loading")));
  show(panel, true);
  let detail: UnitDetail;
  try {
    const raw = await getJSON<Record<string, unknown>>(
      `/api/v1/indicators/${encodeURIComponent(level)}/${encodeURIComponent(unitId)}`,
      { period: state.period },
    );
    detail = parseUnit(raw);
  } catch (err) {
    clear(body, h("p", { class: "error" }, err instanceof Error ? err.message : String(err)));
    return;
  }
  if (state.selected?.unit_id !== unitId) return;
  renderUnit(level, unitId, detail, extra);
  panel.dataset.loaded = "true";
}

function renderUnit(level: string, unitId: string, d: UnitDetail, extra?: Record<string, unknown>): void {
  const body = $("#panel-body");
  const trendBox = h("div", { class: "trend-box" });
  const showTrend = (code: string) => {
    clear(
      trendBox,
      h("h3", {}, `${t("trend")} · ${indicatorName(code)}`),
      trendChart(d.trend.get(code) ?? [], (v) => formatValue(code, v)),
    );
    body.querySelectorAll("tr.ind").forEach((tr) => tr.classList.toggle("current", (tr as HTMLElement).dataset.indicator === code));
  };
  const table = h(
    "table",
    { class: "indicators" },
    h(
      "thead",
      {},
      h("tr", {}, h("th", {}, t("indicator")), h("th", {}, t("value")), h("th", {}, `${t("numerator")} / ${t("denominator")}`)),
    ),
  );
  const tbody = h("tbody");
  // In RULES.md order (the order of /api/v1/meta), not the API's alphabetical one.
  const order = (code: string) => {
    const i = state.meta?.indicators.findIndex((x) => x.code === code) ?? -1;
    return i < 0 ? 999 : i;
  };
  const rows = [...d.rows].sort((a, b) => order(a.indicator) - order(b.indicator));
  for (const r of rows) {
    const suppressed = Boolean(r.suppressed);
    const tr = h(
      "tr",
      {
        class: "ind",
        "data-indicator": r.indicator,
        "data-value": r.value ?? "",
        "data-numerator": r.numerator ?? "",
        "data-denominator": r.denominator ?? "",
        "data-suppressed": String(suppressed),
        title: suppressed ? suppressionText(r.suppression_reason) : "",
        "data-suppression-reason": r.suppression_reason ?? "",
        onclick: () => showTrend(r.indicator),
      },
      h("td", { class: "name" }, indicatorName(r.indicator)),
      h("td", { class: "value" }, suppressed ? "—" : formatValue(r.indicator, r.value)),
      h(
        "td",
        { class: "counts" },
        suppressed ? suppressionText(r.suppression_reason) : `${formatCount(r.numerator)} / ${formatCount(r.denominator)}`,
      ),
    );
    tbody.append(tr);
  }
  table.append(tbody);
  const parts: (Node | null)[] = [
    h("h2", {}, d.name ? `${d.name}` : unitId),
    h("p", { class: "muted" }, `${levelName(level)} · ${unitId} · ${state.period.slice(0, 7)}`),
  ];
  if (d.healthIndex !== null) {
    parts.push(
      h("div", { class: "health-index", "data-value": d.healthIndex }, h("span", {}, t("health_index")), h("strong", {}, d.healthIndex.toFixed(1))),
    );
  }
  if (extra && extra.class !== undefined) {
    const fmt = (v: unknown) => (typeof v === "number" ? v.toPrecision(3) : String(v ?? "—"));
    parts.push(
      h("h3", {}, t("hotspot_stats")),
      h(
        "table",
        { class: "kv" },
        ...["class", "z", "p", "q", "p_sim", "rate", "smoothed_rate"].map((k) =>
          h("tr", {}, h("th", {}, k), h("td", {}, k === "class" ? label(HOTSPOT_CLASSES, String(extra.class)) : fmt(extra[k]))),
        ),
      ),
    );
  }
  parts.push(table, trendBox);
  clear(body, ...parts);
  const code = d.rows.some((r) => r.indicator === state.indicator) ? state.indicator : d.rows[0]?.indicator;
  if (code) showTrend(code);
}

// ---------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------
let searchTimer: number | undefined;

async function runSearch(q: string): Promise<void> {
  const list = $("#search-results");
  if (q.trim().length === 0) {
    show(list, false);
    return;
  }
  try {
    const { items } = await getJSON<{ items: SearchHit[] }>("/api/v1/search", { q: q.trim() });
    clear(
      list,
      ...(items.length === 0
        ? [h("li", { class: "muted" }, t("no_results"))]
        : items.slice(0, 20).map((hit) =>
            h(
              "li",
              {},
              h(
                "button",
                { type: "button", onclick: () => goTo(hit) },
                h("strong", {}, hit.name),
                " ",
                h("span", { class: "muted" }, `${levelName(hit.level)} ${hit.code}`),
              ),
            ),
          )),
    );
    show(list, true);
  } catch (err) {
    reportError(err);
  }
}

function goTo(hit: SearchHit): void {
  show($("#search-results"), false);
  if (hit.bbox && hit.bbox.length === 4) {
    map.fitBounds(hit.bbox, { padding: 60, maxZoom: 14 });
  } else if (hit.centroid) {
    map.flyTo({ center: [hit.centroid[0], hit.centroid[1]], zoom: 13 });
  }
  void openUnit(hit.level, hit.code);
}

// ---------------------------------------------------------------------------------------
// Exports
// ---------------------------------------------------------------------------------------
function exportPng(): void {
  map.once("render", () => {
    map.getCanvas().toBlob((blob) => {
      if (blob) saveBlob(blob, `healthmap-${state.choro}-${state.indicator}-${state.period}.png`);
    }, "image/png");
  });
  map.triggerRepaint();
}

function toCsv(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return "";
  const cols = Object.keys(rows[0]);
  const cell = (v: unknown) => {
    const text = v === null || v === undefined ? "" : String(v);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [cols.join(","), ...rows.map((r) => cols.map((c) => cell(r[c])).join(","))].join("\r\n") + "\r\n";
}

async function exportData(format: "csv" | "geojson"): Promise<void> {
  setStatus("");
  try {
    if (state.choro === "hotspots") {
      const name = `hotspots-${state.hotspotLevel.replace(":", "")}-${state.indicator}`;
      const params = { indicator: state.indicator, level: state.hotspotLevel };
      if (format === "geojson") {
        await download(`/api/v1/hotspots?${new URLSearchParams({ ...params, format })}`, `${name}.geojson`);
      } else {
        // The hotspot endpoint answers JSON or GeoJSON; the CSV is made here from the JSON.
        const { items } = await getJSON<{ items: Record<string, unknown>[] }>("/api/v1/hotspots", params);
        saveBlob(new Blob(["\ufeff", toCsv(items)], { type: "text/csv;charset=utf-8" }), `${name}.csv`);
      }
      return;
    }
    const level = currentLevel();
    const q = new URLSearchParams({ level, period: state.period, indicator: state.indicator });
    await download(
      `/api/v1/export/indicators.${format}?${q}`,
      `indicators-${level.replace(":", "")}-${state.indicator}-${state.period}.${format}`,
    );
  } catch (err) {
    reportError(err);
  }
}

// ---------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------
function wire(): void {
  $("#login-form").addEventListener("submit", (ev) => void onLoginSubmit(ev as SubmitEvent));
  document.querySelectorAll(".lang-toggle").forEach((b) =>
    b.addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh")),
  );
  $("#logout").addEventListener("click", () => logout());
  onLogout(() => location.reload());
  onLangChange(() => {
    if (!state.meta) return;
    $("#as-of").textContent = `${t("as_of")} ${state.meta.as_of}`;
    showUser();
    fillIndicatorSelect();
    fillHotspotLevelSelect();
    renderLegend();
    if (state.selected) void openUnit(state.selected.level, state.selected.unit_id, state.selected.extra);
  });
  $("#indicator").addEventListener("change", (ev) => {
    state.indicator = (ev.target as HTMLSelectElement).value;
    void refreshChoropleth();
  });
  $("#hotspot-level").addEventListener("change", (ev) => {
    state.hotspotLevel = (ev.target as HTMLSelectElement).value;
    void refreshChoropleth();
  });
  $("#scheme").addEventListener("change", (ev) => {
    state.scheme = (ev.target as HTMLSelectElement).value as Scheme;
    void updateBreaks();
  });
  $("#k").addEventListener("change", (ev) => {
    state.k = Number((ev.target as HTMLSelectElement).value);
    void updateBreaks();
  });
  $("#panel-close").addEventListener("click", () => {
    show($("#panel"), false);
    state.selected = null;
    if (map?.getLayer("choro-selected")) map.setFilter("choro-selected", ["==", ["get", "unit_id"], ""]);
  });
  const input = $("#search") as HTMLInputElement;
  input.addEventListener("input", () => {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(() => void runSearch(input.value), 250);
  });
  document.addEventListener("click", (ev) => {
    if (!$("#search-form").contains(ev.target as Node)) show($("#search-results"), false);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") show($("#search-results"), false);
  });
  $("#search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    void runSearch(input.value);
  });
  $("#export-png").addEventListener("click", exportPng);
  $("#export-csv").addEventListener("click", () => void exportData("csv"));
  $("#export-geojson").addEventListener("click", () => void exportData("geojson"));
}

async function main(): Promise<void> {
  document.documentElement.lang = currentLang() === "zh" ? "zh-CN" : "en";
  applyI18n();
  wire();
  if (await resume()) {
    try {
      await start();
      return;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) reportError(err);
    }
  }
  showLogin();
}

void main();
