// The province page (served at /province/): the province's or a city's bureau (role
// province, 省市卫健委) sees every county of the deployment ranked on one indicator at one
// period - with each city's and the province's value under them - and a choropleth of the
// counties beside the table. Clicking a county (on the map or in the table) drills down to
// its towns; a town withheld by the small-number rule is hatched, its reason on hover or
// click. Aggregates only: GET /api/v1/province/{meta,ranking,map} (docs/province.md).
// Chinese by default, English by the shared toggle; no basemap, nothing from a CDN.
import maplibregl from "maplibre-gl";
import type { ExpressionSpecification, MapMouseEvent, StyleSpecification } from "maplibre-gl";
import "maplibre-gl/dist/maplibre-gl.css";
import "./style.css";

import { ApiError, getJSON, logout, me, ROOT, type Me } from "../common/api";
import { $, clear, h, show } from "../common/dom";
import { currentLang, isTerm, label, onLangChange, setLang } from "../common/i18n";
import { setUpLogin } from "../common/login";
import { ROLES, SUPPRESSION_REASONS } from "../common/vocabulary";
import { breaks, colours } from "../map/classify";
import { applyProvinceI18n, v } from "./text";

/** Roles the province routes admit (service/routes/province.py). */
const PAGE_ROLES = new Set(["province", "admin"]);
const NODATA = "#d9d9d9";
const HATCH_LINE: [number, number, number] = [150, 150, 150];
const HATCH_BACK: [number, number, number] = [236, 236, 236];
/** Most classes of the choropleth (fewer when there are fewer values). */
const MAX_CLASSES = 5;

interface CountyInfo { county_code: string; name: string; city_code: string; city_name: string | null }
interface IndicatorInfo { code: string; name_zh: string; name_en: string; scale: number }
interface Publication { county_code: string; build_id: number; as_of: string; published_at: string; rows: number }
interface ProvinceMeta {
  counties: CountyInfo[];
  publications: Publication[];
  periods: string[];
  indicators: IndicatorInfo[];
  levels: { code: string; name_zh: string; name_en: string }[];
}
interface RankedCounty {
  rank: number | null;
  county_code: string;
  name: string | null;
  city_code: string | null;
  city_name: string | null;
  numerator: number | null;
  denominator: number | null;
  value: number | null;
}
interface AboveRow {
  level: string;
  unit_id: string;
  name: string | null;
  counties: number;
  numerator: number | null;
  denominator: number | null;
  value: number | null;
  suppressed: boolean;
  suppression_reason: string | null;
}
interface Ranking {
  indicator: string;
  name_zh: string;
  name_en: string;
  unit: string;
  period: string;
  counties: RankedCounty[];
  above: AboveRow[];
}
interface UnitProps {
  unit_id: string;
  county_code: string;
  name: string | null;
  level: "county" | "town" | string;
  value: number | null;
  numerator: number | null;
  denominator: number | null;
  suppressed: boolean;
  suppression_reason: string | null;
}
type Units = GeoJSON.FeatureCollection<GeoJSON.Polygon | GeoJSON.MultiPolygon, UnitProps>;

const state = {
  me: null as Me | null,
  meta: null as ProvinceMeta | null,
  indicator: "",
  period: "",
  /** The county drilled into (12 digits), or null for all counties. */
  county: null as string | null,
  ranking: null as Ranking | null,
  units: null as Units | null,
  breaks: [] as number[],
};
let map: maplibregl.Map;
let seq = 0;
const popup = new maplibregl.Popup({ closeButton: false, closeOnClick: false, className: "unit-popup", offset: 10 });

declare global {
  interface Window {
    province?: { map: maplibregl.Map; state: typeof state; ready: boolean; busy: boolean };
  }
}

// ---------------------------------------------------------------------------------------
// Words and numbers
// ---------------------------------------------------------------------------------------
function setStatus(text: string, error = false): void {
  const el = $("#status");
  el.textContent = text;
  el.classList.toggle("error", error);
  show(el, Boolean(text));
}

function indicatorName(code: string): string {
  const def = state.meta?.indicators.find((d) => d.code === code);
  if (!def) return code;
  return (currentLang() === "zh" ? def.name_zh : def.name_en) || def.name_zh || code;
}

/** The unit of the indicator shown: the ranking's, else from its scale. */
function unit(): string {
  if (state.ranking) return state.ranking.unit;
  const def = state.meta?.indicators.find((d) => d.code === state.indicator);
  return def && def.scale !== 1 ? "per_1000" : "fraction";
}

function fmtValue(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return unit() === "fraction" ? `${(value * 100).toFixed(1)}%` : `${value.toFixed(2)}‰`;
}

function fmtCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  const whole = Math.abs(n - Math.round(n)) < 1e-9;
  return n.toLocaleString(currentLang() === "zh" ? "zh-CN" : "en", { maximumFractionDigits: whole ? 0 : 1 });
}

function numDen(n: number | null, d: number | null): string {
  return n === null && d === null ? "—" : `${fmtCount(n)} / ${fmtCount(d)}`;
}

function reasonText(reason: string | null): string {
  return reason ? label(SUPPRESSION_REASONS, reason) : v("suppressed");
}

function countyName(code: string | null): string {
  if (!code) return "";
  const info = state.meta?.counties.find((c) => c.county_code === code);
  return info?.name ?? code;
}

// ---------------------------------------------------------------------------------------
// The ranking table and the towns table
// ---------------------------------------------------------------------------------------
function renderRanking(): void {
  const r = state.ranking;
  const table = $("#ranking");
  if (!r) {
    clear(table);
    return;
  }
  $("#ranking-title").textContent = `${v("ranking")} · ${indicatorName(r.indicator)} · ${r.period}`;
  const head = h(
    "tr",
    {},
    h("th", { class: "num" }, v("col_rank")),
    h("th", {}, v("col_county")),
    h("th", {}, v("col_city")),
    h("th", { class: "num" }, v("col_value")),
    h("th", { class: "num" }, v("col_num_den")),
  );
  const rows = r.counties.map((c) =>
    h(
      "tr",
      {
        class: `county-row${state.county === c.county_code ? " selected" : ""}`,
        "data-county": c.county_code,
        tabindex: 0,
        title: v("click_towns"),
        onclick: () => void drill(c.county_code),
        onkeydown: ((ev: KeyboardEvent) => {
          if (ev.key === "Enter" || ev.key === " ") {
            ev.preventDefault();
            void drill(c.county_code);
          }
        }) as EventListener,
      },
      h("td", { class: "num rank" }, c.rank === null ? "—" : String(c.rank)),
      h("td", {}, c.name ?? c.county_code),
      h("td", {}, c.city_name ?? c.city_code ?? ""),
      h("td", { class: "num value" }, fmtValue(c.value)),
      h("td", { class: "num" }, numDen(c.numerator, c.denominator)),
    ),
  );
  // Cities first, then the province: the rows a reader adds the counties up to.
  const above = [...r.above].sort((a, b) => (a.level === "province" ? 1 : 0) - (b.level === "province" ? 1 : 0));
  const totals = above.map((a) => {
    const name = a.level === "province" ? (a.name ? `${a.name}${v("province_total")}` : v("province_total")) : `${a.name ?? a.unit_id} ${v("city_total")}`;
    const value = a.suppressed
      ? h("span", { class: "muted", title: reasonText(a.suppression_reason) }, reasonText(a.suppression_reason))
      : fmtValue(a.value);
    return h(
      "tr",
      { class: `total ${a.level}`, "data-level": a.level, "data-unit": a.unit_id },
      h("td", { class: "num" }, ""),
      h("td", {}, name),
      h("td", { class: "muted" }, v("counties_in", { n: a.counties })),
      h("td", { class: "num value" }, value),
      h("td", { class: "num" }, a.suppressed ? "—" : numDen(a.numerator, a.denominator)),
    );
  });
  clear(table, h("thead", {}, head), h("tbody", {}, ...rows), h("tfoot", {}, ...totals));
  $("#unit-note").textContent = v(unit() === "fraction" ? "unit_fraction" : "unit_per_1000");
}

function renderTowns(): void {
  const towns = state.county && state.units ? state.units.features.map((f) => f.properties).filter((p) => p.level === "town") : [];
  show($("#towns-wrap"), towns.length > 0);
  if (!towns.length) {
    clear($("#towns"));
    return;
  }
  $("#towns-title").textContent = v("towns_of", { county: countyName(state.county) });
  const sorted = [...towns].sort((a, b) => (b.value ?? -Infinity) - (a.value ?? -Infinity));
  const head = h("tr", {}, h("th", {}, v("col_town")), h("th", { class: "num" }, v("col_value")), h("th", { class: "num" }, v("col_num_den")));
  const rows = sorted.map((t) =>
    h(
      "tr",
      { "data-unit": t.unit_id, class: t.suppressed ? "suppressed" : "" },
      h("td", {}, t.name ?? t.unit_id),
      h("td", { class: "num" }, t.suppressed ? h("span", { class: "muted" }, reasonText(t.suppression_reason)) : fmtValue(t.value)),
      h("td", { class: "num" }, t.suppressed ? "—" : numDen(t.numerator, t.denominator)),
    ),
  );
  clear($("#towns"), h("thead", {}, head), h("tbody", {}, ...rows));
}

function renderHeader(): void {
  const meta = state.meta;
  if (!meta) return;
  const published = new Set(meta.publications.map((p) => p.county_code)).size;
  const asOf = meta.publications.map((p) => p.as_of).sort().pop();
  $("#subtitle").textContent = [
    v("counties_n", { n: meta.counties.length }),
    v("published", { n: published }),
    asOf ? `${v("as_of")} ${asOf}` : "",
  ]
    .filter(Boolean)
    .join(" · ");
  const u = state.me;
  // "province" is newer than some builds of common/vocabulary.ts: its label is here too.
  const role = u && (isTerm(ROLES, u.role) ? label(ROLES, u.role) : u.role === "province" ? v("role_province") : u.role);
  if (u) $("#user").textContent = `${u.username} · ${role}`;
}

function renderMapTitle(): void {
  const where = state.county ? v("map_towns", { county: countyName(state.county) }) : v("map_counties");
  $("#map-title").textContent = `${where} · ${indicatorName(state.indicator)}`;
  show($("#back"), state.county !== null);
}

function renderLegend(): void {
  const br = state.breaks;
  const ramp = br.length === 0 ? [colours(3)[1]] : colours(br.length + 1);
  const items: [string, string, string][] = ramp.map((colour, i) => [
    colour,
    br.length === 0 ? v("col_value") : i === 0 ? `< ${fmtValue(br[0])}` : i === ramp.length - 1 ? `≥ ${fmtValue(br[i - 1])}` : `${fmtValue(br[i - 1])} – ${fmtValue(br[i])}`,
    "",
  ]);
  items.push(["", v("suppressed"), "hatch"], [NODATA, v("no_value"), ""]);
  clear(
    $("#legend"),
    ...items.map(([colour, text, kind]) => {
      const swatch = h("span", { class: `swatch ${kind}` });
      if (colour) swatch.style.background = colour; // CSSOM: allowed by the CSP
      return h("span", { class: "legend-item" }, swatch, text);
    }),
  );
}

function renderAll(): void {
  renderHeader();
  renderRanking();
  renderMapTitle();
  renderLegend();
  renderTowns();
}

// ---------------------------------------------------------------------------------------
// The map: GeoJSON from the API on a plain background (no basemap, no glyphs, no sprite)
// ---------------------------------------------------------------------------------------
function style(): StyleSpecification {
  return { version: 8, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#eef0f2" } }] };
}

/** Diagonal grey lines: the fill of a withheld unit (made here: no sprite to load). */
function hatchImage(): { width: number; height: number; data: Uint8Array } {
  const size = 8;
  const data = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const line = (x + y) % size < 2;
      const [r, g, b] = line ? HATCH_LINE : HATCH_BACK;
      data.set([r, g, b, 235], (y * size + x) * 4);
    }
  }
  return { width: size, height: size, data };
}

function emptyUnits(): Units {
  return { type: "FeatureCollection", features: [] };
}

function fillColour(): ExpressionSpecification {
  const br = state.breaks;
  const ramp = br.length === 0 ? [colours(3)[1]] : colours(br.length + 1);
  const steps: (number | string)[] = [ramp[0]];
  br.forEach((b, i) => steps.push(b, ramp[i + 1]));
  const value: ExpressionSpecification = ["to-number", ["get", "value"], 0];
  const step = (br.length ? ["step", value, ...steps] : ramp[0]) as ExpressionSpecification;
  return ["case", ["==", ["typeof", ["get", "value"]], "number"], step, NODATA];
}

async function createMap(): Promise<void> {
  map = new maplibregl.Map({
    container: "map",
    style: style(),
    center: [118.8, 36.6],
    zoom: 8,
    attributionControl: false,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  await new Promise<void>((resolve) => map.once("load", () => resolve()));
  map.addImage("hatch", hatchImage());
  addUnitLayers(emptyUnits());
  map.on("mousemove", onHover);
  map.on("mouseout", () => {
    popup.remove();
    map.setFilter("units-hover", ["==", ["get", "unit_id"], ""]);
  });
  map.on("click", onClick);
}

const UNIT_LAYERS = ["units-hover", "units-line", "units-hatch", "units-fill"];

/**
 * A new "units" source with its layers. A new source rather than setData: MapLibre 5.24
 * loses a GeoJSON tile's query index when setData and a change of zoom (the drill-down's
 * fitBounds) reload the same tiles at once, and then neither hover nor click finds a unit.
 */
function addUnitLayers(units: Units): void {
  for (const id of UNIT_LAYERS) if (map.getLayer(id)) map.removeLayer(id);
  if (map.getSource("units")) map.removeSource("units");
  map.addSource("units", { type: "geojson", data: units });
  const withheld: ExpressionSpecification = ["==", ["get", "suppressed"], true];
  map.addLayer({ id: "units-fill", type: "fill", source: "units", filter: ["!", withheld], paint: { "fill-color": fillColour(), "fill-opacity": 0.85 } });
  map.addLayer({ id: "units-hatch", type: "fill", source: "units", filter: withheld, paint: { "fill-pattern": "hatch" } });
  map.addLayer({ id: "units-line", type: "line", source: "units", paint: { "line-color": "#4a5561", "line-width": 1.2 } });
  map.addLayer({ id: "units-hover", type: "line", source: "units", filter: ["==", ["get", "unit_id"], ""], paint: { "line-color": "#d92d20", "line-width": 2.5 } });
}

function unitAt(ev: MapMouseEvent): UnitProps | null {
  const hit = map.queryRenderedFeatures(ev.point, { layers: ["units-fill", "units-hatch"] })[0];
  return hit ? (hit.properties as unknown as UnitProps) : null;
}

function popupContent(p: UnitProps): HTMLElement {
  const withheld = p.suppressed === true || String(p.suppressed) === "true";
  return h(
    "div",
    { class: "unit-box" },
    h("strong", {}, p.name ?? p.unit_id),
    h("div", {}, indicatorName(state.indicator), "：", withheld ? reasonText(p.suppression_reason ?? null) : fmtValue(p.value ?? null)),
    withheld ? null : h("div", { class: "muted" }, `${v("col_num_den")}：${numDen(p.numerator ?? null, p.denominator ?? null)}`),
    p.level === "county" ? h("div", { class: "muted" }, v("click_county")) : null,
  );
}

function onHover(ev: MapMouseEvent): void {
  const p = unitAt(ev);
  map.getCanvas().style.cursor = p && p.level === "county" ? "pointer" : "";
  map.setFilter("units-hover", ["==", ["get", "unit_id"], p?.unit_id ?? ""]);
  if (!p) {
    popup.remove();
    return;
  }
  popup.setLngLat(ev.lngLat).setDOMContent(popupContent(p));
  if (!popup.isOpen()) popup.addTo(map);
}

function onClick(ev: MapMouseEvent): void {
  const p = unitAt(ev);
  if (!p) return;
  if (p.level === "county") {
    popup.remove();
    void drill(p.county_code);
    return;
  }
  // A town: its value or why it is withheld (also for touch screens, which do not hover).
  popup.setLngLat(ev.lngLat).setDOMContent(popupContent(p));
  if (!popup.isOpen()) popup.addTo(map);
}

function boundsOf(units: Units): [number, number, number, number] | null {
  let [w, s, e, n] = [Infinity, Infinity, -Infinity, -Infinity];
  const visit = (coords: unknown): void => {
    if (Array.isArray(coords) && typeof coords[0] === "number") {
      const [x, y] = coords as number[];
      w = Math.min(w, x);
      e = Math.max(e, x);
      s = Math.min(s, y);
      n = Math.max(n, y);
    } else if (Array.isArray(coords)) {
      for (const c of coords) visit(c);
    }
  };
  for (const f of units.features) if (f.geometry) visit(f.geometry.coordinates);
  return Number.isFinite(w) ? [w, s, e, n] : null;
}

/** The area-weighted centre of a unit's largest outer ring: where its name goes. */
function labelPoint(geometry: GeoJSON.Polygon | GeoJSON.MultiPolygon): [number, number] | null {
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  let best: [number, number] | null = null;
  let bestArea = 0;
  for (const poly of polygons) {
    const ring = poly[0] ?? [];
    let a = 0;
    let cx = 0;
    let cy = 0;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const cross = ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
      a += cross;
      cx += (ring[j][0] + ring[i][0]) * cross;
      cy += (ring[j][1] + ring[i][1]) * cross;
    }
    if (Math.abs(a) > bestArea) {
      bestArea = Math.abs(a);
      best = [cx / (3 * a), cy / (3 * a)];
    }
  }
  return best;
}

/** Names on the map as HTML (the style has no glyphs to load: nothing outside the server). */
let labels: maplibregl.Marker[] = [];
function drawLabels(units: Units): void {
  for (const m of labels) m.remove();
  labels = units.features.flatMap((f) => {
    const at = f.geometry ? labelPoint(f.geometry) : null;
    if (!at) return [];
    const el = h("span", { class: `unit-label ${f.properties.level}` }, f.properties.name ?? "");
    return [new maplibregl.Marker({ element: el }).setLngLat(at).addTo(map)];
  });
}

function drawUnits(): void {
  const units = state.units ?? emptyUnits();
  const values = units.features.map((f) => f.properties.value).filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  state.breaks = breaks(values, Math.min(MAX_CLASSES, Math.max(2, values.length)), "quantile");
  // The camera first, then the data: its tiles are loaded once, at the new zoom.
  const box = boundsOf(units);
  if (box) map.fitBounds(box, { padding: 24, duration: 0 });
  addUnitLayers(units);
  drawLabels(units);
}

// ---------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------
function busy(on: boolean): void {
  if (window.province) window.province.busy = on;
}

/** Wait for the map to have drawn what it was just given. */
function drawn(): Promise<void> {
  return new Promise((resolve) => {
    map.once("idle", () => resolve());
    map.triggerRepaint();
  });
}

/** Ranking and map for the chosen indicator and period (and county, when drilled down). */
async function load(withRanking: boolean): Promise<void> {
  const mine = ++seq;
  busy(true);
  setStatus(v("loading"));
  try {
    const params = { indicator: state.indicator, period: state.period };
    const [ranking, units] = await Promise.all([
      withRanking || !state.ranking ? getJSON<Ranking>("/api/v1/province/ranking", params) : Promise.resolve(state.ranking),
      getJSON<Units>("/api/v1/province/map", { ...params, county: state.county ? state.county.slice(0, 6) : undefined }),
    ]);
    if (mine !== seq) return; // a newer choice answered first
    state.ranking = ranking;
    state.units = units;
    popup.remove();
    drawUnits();
    renderAll();
    setStatus("");
    await drawn();
  } catch (err) {
    if (mine === seq) setStatus(`${v("error")}: ${err instanceof Error ? err.message : String(err)}`, true);
  }
  if (mine === seq) {
    busy(false);
    if (window.province) window.province.ready = true;
  }
}

function drill(county: string | null): Promise<void> {
  state.county = county;
  renderRanking(); // the selected row at once
  renderMapTitle();
  return load(false);
}

function fillSelects(): void {
  const meta = state.meta;
  if (!meta) return;
  clear(
    $("#indicator"),
    ...meta.indicators.map((d) => h("option", { value: d.code, selected: d.code === state.indicator }, indicatorName(d.code))),
  );
  clear($("#period"), ...meta.periods.map((p) => h("option", { value: p, selected: p === state.period }, p)));
}

async function start(): Promise<void> {
  state.me = await me();
  show($("#login"), false);
  show($("#app"), true);
  renderHeader();
  if (!PAGE_ROLES.has(state.me.role)) {
    setStatus(v("forbidden"), true);
    $("#status").append(" ", h("a", { href: `${ROOT}/` }, v("open_map")));
    return;
  }
  setStatus(v("loading"));
  try {
    state.meta = await getJSON<ProvinceMeta>("/api/v1/province/meta");
  } catch (err) {
    setStatus(err instanceof ApiError && err.status === 403 ? v("forbidden") : `${v("error")}: ${(err as Error).message}`, true);
    return;
  }
  const meta = state.meta;
  if (!meta.periods.length || !meta.indicators.length) {
    renderHeader();
    setStatus(v("no_data"), true);
    return;
  }
  state.indicator = meta.indicators[0].code;
  state.period = meta.periods[0]; // the API lists the latest first
  renderHeader();
  fillSelects();
  show($("#controls"), true);
  show($("#main"), true);
  await createMap();
  window.province = { map, state, ready: false, busy: true };
  await load(true);
}

function showLogin(): void {
  show($("#app"), false);
  show($("#login"), true);
  ($("#login-form").querySelector("input[name=username]") as HTMLInputElement).focus();
}

function rerender(): void {
  applyProvinceI18n();
  $("#lang").textContent = currentLang() === "zh" ? "English" : "中文";
  fillSelects();
  if (state.ranking) renderAll();
  popup.remove();
}

function init(): void {
  applyProvinceI18n();
  $("#lang").textContent = currentLang() === "zh" ? "English" : "中文";
  $("#lang").addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh"));
  onLangChange(rerender);
  $("#logout").addEventListener("click", () => logout());
  $("#back").addEventListener("click", () => void drill(null));
  $("#indicator").addEventListener("change", (ev) => {
    state.indicator = (ev.target as HTMLSelectElement).value;
    void load(true);
  });
  $("#period").addEventListener("change", (ev) => {
    state.period = (ev.target as HTMLSelectElement).value;
    void load(true);
  });
  $("#controls").addEventListener("submit", (ev) => ev.preventDefault());
  // The province logs in to the deployment itself: no county picker.
  void setUpLogin({ loggingIn: () => v("logging_in"), start, showLogin, onError: (err) => setStatus(String(err), true), countyPicker: false });
}

init();
