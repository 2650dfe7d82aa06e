// The choropleth ("base") layer: one of the indicator layers, hotspots or mobility, as a
// vector source with the chosen indicator and month; class breaks computed here from the
// API's values of the level on screen (classify.ts), and the fill colours from them.
import type { ExpressionSpecification, LayerSpecification } from "maplibre-gl";

import { getJSON } from "../common/api";
import { t } from "../common/i18n";
import { breaks, colours, HEAT } from "./classify";
import { fillIndicatorSelect } from "./controls";
import { reportError, setStatus } from "./format";
import { renderLegend } from "./legend";
import { tileJSON, tileUrl } from "./mapview";
import { HOTSPOT_FILL, NODATA, SUPPRESSED } from "./palette";
import { currentLevel, map, state, syncUrl, type IndicatorRow, type TileJSON } from "./state";

function choroSourceSpec(): { layer: string; params: Record<string, string> } {
  switch (state.choro) {
    case "hotspots":
      return { layer: "hotspots", params: { indicator: state.hotspotIndicator, level: state.hotspotLevel } };
    case "mobility":
      return { layer: "mobility", params: {} };
    default:
      return { layer: state.choro, params: { indicator: state.indicator, period: state.period } };
  }
}

/** Replace the choropleth source and layers with the current layer/indicator/month. */
export async function refreshChoropleth(): Promise<void> {
  fillIndicatorSelect();
  setStatus("");
  syncUrl();
  state.hotspotSummary = null;
  for (const id of ["choro-selected", "choro-line", "choro-fill"]) if (map.getLayer(id)) map.removeLayer(id);
  if (map.getSource("choro")) map.removeSource("choro");
  if (!state.layers.has(state.choro)) return;
  if (state.choro === "hotspots" && !state.hotspotIndicator) {
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
    await updateHotspotSummary();
  } else {
    await updateBreaks();
  }
}

/** How many hot and cold units the hotspot layer has (for the legend's sentence). */
async function updateHotspotSummary(): Promise<void> {
  const key = `${state.hotspotIndicator}|${state.hotspotLevel}`;
  try {
    const { items } = await getJSON<{ items: { hotspot_class: string }[] }>("/api/v1/hotspots", {
      indicator: state.hotspotIndicator,
      level: state.hotspotLevel,
    });
    if (state.choro !== "hotspots" || key !== `${state.hotspotIndicator}|${state.hotspotLevel}`) return;
    state.hotspotSummary = {
      hot: items.filter((r) => r.hotspot_class === "hot").length,
      cold: items.filter((r) => r.hotspot_class === "cold").length,
      total: items.length,
    };
  } catch (err) {
    reportError(err);
  }
  renderLegend();
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

export async function updateBreaks(): Promise<void> {
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

export function updateMobilityBreaks(): void {
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
