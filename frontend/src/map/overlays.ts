// Overlays over the choropleth: the county's boundaries (also the base, and the place
// names under the pointer), health facilities, and the early warning (risk cells, alerts).
import maplibregl, { type ExpressionSpecification } from "maplibre-gl";

import { getJSON } from "../common/api";
import { h } from "../common/dom";
import { colours } from "./classify";
import { levelName, reportError } from "./format";
import { metaContent, tileUrl } from "./mapview";
import { ALERT_LINE, FACILITY_COLOURS, FACILITY_OTHER, NODATA, RISK_RAMP, SUPPRESSED } from "./palette";
import { map, state } from "./state";

export function addBoundaries(): void {
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
  // Invisible: the places under the pointer, for their names (the map draws no text).
  map.addLayer({
    id: "places-hit",
    type: "fill",
    source: "boundaries",
    "source-layer": "boundaries",
    filter: ["in", ["get", "kind"], ["literal", ["town", "village", "grid"]]],
    paint: { "fill-color": "#000000", "fill-opacity": 0 },
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

export function addFacilities(): void {
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
        ...Object.entries(FACILITY_COLOURS).flat(),
        FACILITY_OTHER,
      ] as unknown as ExpressionSpecification,
      "circle-stroke-color": "#ffffff",
      "circle-stroke-width": 1,
    },
  });
}

/** Early warning (RULES.md): cells at risk of spread by score, and alert cells / towns. */
export function addEarlyWarning(): void {
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
        "fill-color": ["interpolate", ["linear"], ["get", "score"], 0.5, RISK_RAMP[0], 1, RISK_RAMP[1]],
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
      paint: { "line-color": ALERT_LINE, "line-width": 2.5 },
    });
  }
}

/** Share of residents who read health education, per grid (suppressed grids grey). */
export const EDUCATION_READS_BREAKS = [0.2, 0.4, 0.6, 0.8];
let educationReadsLoaded = false;

export function addEducationReads(): void {
  if (!state.layers.has("education_reads")) return;
  map.addSource("education_reads", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
  const ramp = colours(EDUCATION_READS_BREAKS.length + 1);
  const step: unknown[] = ["step", ["to-number", ["get", "value"]], ramp[0]];
  EDUCATION_READS_BREAKS.forEach((b, i) => step.push(b, ramp[i + 1]));
  map.addLayer({
    id: "education-reads-fill",
    type: "fill",
    source: "education_reads",
    layout: { visibility: state.overlays.has("education_reads") ? "visible" : "none" },
    paint: {
      "fill-color": [
        "case",
        ["to-boolean", ["get", "suppressed"]],
        SUPPRESSED,
        ["==", ["get", "value"], null],
        NODATA,
        step,
      ] as unknown as ExpressionSpecification,
      "fill-opacity": 0.7,
      "fill-outline-color": "#ffffff",
    },
  });
  if (state.overlays.has("education_reads")) void loadEducationReads();
}

/** Fetch the layer's grids (once; the first time the overlay is shown). */
async function loadEducationReads(): Promise<void> {
  if (educationReadsLoaded) return;
  educationReadsLoaded = true;
  try {
    const data = await getJSON<GeoJSON.FeatureCollection>("/api/v1/education/reads", { level: "grid" });
    (map.getSource("education_reads") as maplibregl.GeoJSONSource | undefined)?.setData(data);
  } catch (err) {
    educationReadsLoaded = false;
    reportError(err);
  }
}

export function applyOverlays(): void {
  if (map.getLayer("education-reads-fill")) {
    const on = state.overlays.has("education_reads");
    map.setLayoutProperty("education-reads-fill", "visibility", on ? "visible" : "none");
    if (on) void loadEducationReads();
  }
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

// Place names under the pointer and by code (the map draws no text).
export const hoverPopup = new maplibregl.Popup({ closeButton: false, closeOnClick: false, className: "place-popup", offset: 12 });

/** The names of the town, village and grid under the pointer (boundaries tiles). */
function placesAt(point: maplibregl.PointLike): Record<string, string> {
  if (!map.getLayer("places-hit")) return {};
  const names: Record<string, string> = {};
  for (const f of map.queryRenderedFeatures(point, { layers: ["places-hit"] })) {
    const kind = String(f.properties?.kind ?? "");
    if (kind && f.properties?.name && !names[kind]) names[kind] = String(f.properties.name);
  }
  return names;
}

export function onHover(ev: maplibregl.MapMouseEvent): void {
  const names = placesAt(ev.point);
  const parts = ["town", "village", "grid"].filter((k) => names[k]).map((k) => `${levelName(k)} ${names[k]}`);
  if (parts.length === 0) {
    hoverPopup.remove();
    return;
  }
  const box = h("div", { class: "place-names" }, ...parts.map((p) => h("div", {}, p)));
  hoverPopup.setLngLat(ev.lngLat).setDOMContent(box);
  if (!hoverPopup.isOpen()) hoverPopup.addTo(map);
}

/** A town, village or grid's name from the boundaries tiles on screen ("" when none). */
export function placesName(level: string, code: string): string {
  if (!map.getSource("boundaries")) return "";
  const hit = map
    .querySourceFeatures("boundaries", { sourceLayer: "boundaries", filter: ["==", ["get", "code"], code] })
    .find((f) => f.properties?.kind === level && f.properties?.name);
  return hit ? String(hit.properties.name) : "";
}
