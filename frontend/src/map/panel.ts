// Clicks and the side panel: a facility's name, type and beds; a unit's indicators for the
// month (values, numerators, denominators, suppression reasons), health index, hotspot
// statistics and the 12-month trend of the chosen indicator.
import type maplibregl from "maplibre-gl";
import type { MapGeoJSONFeature } from "maplibre-gl";

import { getJSON } from "../common/api";
import { $, clear, h, show } from "../common/dom";
import { label, t } from "../common/i18n";
import { FACILITY_TYPES, HOTSPOT_CLASSES } from "../common/vocabulary";
import { formatCount, formatValue, indicatorName, levelName, suppressionText } from "./format";
import { placesName } from "./overlays";
import { currentLevel, map, state, type IndicatorRow } from "./state";
import { trendChart, type TrendPoint } from "./trend";

export function onMapClick(ev: maplibregl.MapMouseEvent): void {
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
      h("tr", {}, h("th", {}, t("type")), h("td", {}, label(FACILITY_TYPES, String(p.type ?? "")))),
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

export async function openUnit(level: string, unitId: string, extra?: Record<string, unknown>): Promise<void> {
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
    h("h2", {}, d.name ? `${d.name}` : level.startsWith("h3:") ? unitId : placesName(level, unitId)),
    // Named places show their name; only H3 cells (which have none) show their id.
    h("p", { class: "muted" }, [levelName(level), level.startsWith("h3:") ? unitId : "", state.period.slice(0, 7)].filter(Boolean).join(" · ")),
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
          h("tr", {}, h("th", {}, t(`stat_${k}`)), h("td", {}, k === "class" ? label(HOTSPOT_CLASSES, String(extra.class)) : fmt(extra[k]))),
        ),
      ),
      h("p", { class: "muted" }, t("hotspot_method")),
    );
  }
  parts.push(table, trendBox);
  clear(body, ...parts);
  const code = d.rows.some((r) => r.indicator === state.indicator) ? state.indicator : d.rows[0]?.indicator;
  if (code) showTrend(code);
}
