// The map page's state: the API's shapes, the layers on offer, what is chosen (layer,
// indicators, month, classes, overlays, selection), the MapLibre map itself, the level on
// screen, and the view mirrored into the URL's hash (urlstate.ts).
import type maplibregl from "maplibre-gl";

import type { Me } from "../common/api";
import type { Scheme } from "./classify";
import { writeView } from "./urlstate";

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

export interface Meta {
  as_of: string;
  periods: string[];
  levels: string[];
  indicators: IndicatorDef[];
  hotspot_indicators: string[];
  hotspot_levels?: string[];
  user?: { role: string; scope: string };
  layers: (string | { name: string; minzoom?: number; maxzoom?: number })[];
}

export interface IndicatorRow {
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

export interface SearchHit {
  code: string;
  name: string;
  level: "town" | "village" | "grid";
  town_code?: string | null;
  centroid?: [number, number] | null;
  bbox?: [number, number, number, number] | null;
}

export interface TileJSON {
  minzoom: number;
  maxzoom: number;
  bounds?: [number, number, number, number];
  /** Grid, village and town polygons derived from village seats (no delivered ones). */
  approximate?: boolean;
}

// Choropleth ("base") layers: one at a time. Overlays: any number.
export const CHORO_LAYERS = [
  "indicators",
  "grid_indicators",
  "village_indicators",
  "town_indicators",
  "hotspots",
  "mobility",
] as const;
export type Choro = (typeof CHORO_LAYERS)[number];
// education_reads: readers of health education per grid (docs/health-education.md).
export const OVERLAYS = ["boundaries", "facilities", "risk", "alerts", "education_reads"] as const;

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

export const state = {
  me: null as Me | null,
  meta: null as Meta | null,
  layers: new Set<string>(),
  choro: "indicators" as Choro,
  overlays: new Set<string>(["boundaries"]),
  indicator: "",
  /** The hotspot layer's indicator, kept apart so the other layers' one is not lost. */
  hotspotIndicator: "",
  period: "",
  scheme: "quantile" as Scheme,
  k: 5,
  hotspotLevel: "h3:8",
  breaks: [] as number[],
  breaksKey: "",
  selected: null as { level: string; unit_id: string; extra?: Record<string, unknown> } | null,
  tilejson: new Map<string, TileJSON>(),
  approximate: false,
  /** Hot and cold units of the hotspot layer shown (null while loading or elsewhere). */
  hotspotSummary: null as { hot: number; cold: number; total: number } | null,
  townName: "",
};

export let map: maplibregl.Map;

/** The map, once created (mapview.ts); the other modules read ``map`` (a live binding). */
export function setMap(m: maplibregl.Map): void {
  map = m;
}

// Exposed for the browser tests and for debugging from the console (no secrets in it).
declare global {
  interface Window {
    healthmap?: { map: maplibregl.Map; state: typeof state; ready: boolean };
  }
}

/** The indicator level the current view shows (for breaks, exports and the panel). */
export function currentLevel(): string {
  if (state.choro === "indicators") {
    const z = Math.floor(map.getZoom());
    return (H3_LEVEL_BY_ZOOM.find(([top]) => z <= top) ?? H3_LEVEL_BY_ZOOM[2])[1];
  }
  if (state.choro === "hotspots") return state.hotspotLevel;
  return LEVEL_OF[state.choro] ?? "";
}

/** The view in the URL's hash (urlstate.ts): layer, indicators, month, classes, overlays, map. */
export function syncUrl(): void {
  if (!state.meta) return;
  const c = map?.getCenter();
  writeView({
    layer: state.choro,
    indicator: state.indicator,
    hotspotIndicator: state.hotspotIndicator,
    hotspotLevel: state.hotspotLevel,
    period: state.period,
    scheme: state.scheme,
    k: state.k,
    overlays: [...state.overlays],
    view: c ? { zoom: map.getZoom(), lat: c.lat, lng: c.lng } : undefined,
  });
}
