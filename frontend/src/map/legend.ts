// The legend: the choropleth's classes, then one section per visible overlay. The same
// sections go into the exported PNG (exportpng.ts).
import { $, clear, h } from "../common/dom";
import { label, t } from "../common/i18n";
import { FACILITY_TYPES, HOTSPOT_CLASSES } from "../common/vocabulary";
import { colours, HEAT } from "./classify";
import type { LegendSection } from "./exportpng";
import { formatValue, indicatorName, levelName } from "./format";
import { ALERT_LINE, FACILITY_COLOURS, FACILITY_OTHER, HOTSPOT_FILL, NODATA, RISK_RAMP, SUPPRESSED } from "./palette";
import { EDUCATION_READS_BREAKS } from "./overlays";
import { currentLevel, state } from "./state";

/** The choropleth's legend and one per visible overlay (the page's and the PNG's). */
export function legendSections(): LegendSection[] {
  const sections: LegendSection[] = [];
  const range = (fmt: (v: number) => string, br: number[], ramp: string[]) =>
    ramp.map((colour, i) => ({
      colour,
      label:
        br.length === 0
          ? t("value")
          : i === 0
            ? `< ${fmt(br[0])}`
            : i === ramp.length - 1
              ? `≥ ${fmt(br[i - 1])}`
              : `${fmt(br[i - 1])} – ${fmt(br[i])}`,
    }));
  if (state.choro === "hotspots") {
    sections.push({
      title: `${t("layer_hotspots")} · ${indicatorName(state.hotspotIndicator)} · ${levelName(state.hotspotLevel)}`,
      items: (Object.keys(HOTSPOT_FILL) as (keyof typeof HOTSPOT_FILL)[]).map((c) => ({
        colour: HOTSPOT_FILL[c],
        label: label(HOTSPOT_CLASSES, c),
      })),
      note: hotspotSentence(),
    });
  } else if (state.choro === "mobility") {
    const ramp = HEAT.slice(0, state.breaks.length + 1);
    sections.push({
      title: `${t("layer_mobility")} (${t("people_per_hour")})`,
      items: state.breaks.length === 0 ? [] : range((v) => v.toFixed(0), state.breaks, ramp),
      note: state.breaks.length === 0 ? t("loading") : undefined,
    });
  } else {
    const code = state.indicator;
    const ramp = state.breaks.length === 0 ? [colours(3)[1]] : colours(state.breaks.length + 1);
    sections.push({
      title: `${indicatorName(code)} · ${levelName(currentLevel())} · ${state.period.slice(0, 7)}`,
      items: [
        ...range((v) => formatValue(code, v), state.breaks, ramp),
        { colour: SUPPRESSED, label: t("suppressed") },
        { colour: NODATA, label: t("no_data") },
      ],
    });
  }
  const on = (name: string) => state.overlays.has(name) && state.layers.has(name);
  if (on("facilities")) {
    const seen = new Map<string, string>();
    for (const code of Object.keys(FACILITY_TYPES)) {
      const colour = FACILITY_COLOURS[code] ?? FACILITY_OTHER;
      // Types drawn alike share a row (township and community centres, clinics and stations).
      const prev = seen.get(colour);
      seen.set(colour, prev ? `${prev} / ${label(FACILITY_TYPES, code)}` : label(FACILITY_TYPES, code));
    }
    sections.push({ title: t("legend_facilities"), items: [...seen].map(([colour, text]) => ({ colour, label: text })) });
  }
  if (on("alerts")) {
    sections.push({ title: t("legend_alerts"), items: [{ colour: ALERT_LINE, label: t("legend_alert_outline"), outline: true }] });
  }
  if (on("risk")) {
    sections.push({
      title: t("legend_risk"),
      items: [
        { colour: RISK_RAMP[0], label: t("legend_risk_low") },
        { colour: RISK_RAMP[1], label: t("legend_risk_high") },
      ],
    });
  }
  if (on("education_reads")) {
    const ramp = colours(EDUCATION_READS_BREAKS.length + 1);
    const br = EDUCATION_READS_BREAKS;
    const pc = (v: number) => `${Math.round(v * 100)}%`;
    sections.push({
      title: t("layer_education_reads"),
      items: [
        ...ramp.map((colour, i) => ({
          colour,
          label: i === 0 ? `< ${pc(br[0])}` : i === ramp.length - 1 ? `≥ ${pc(br[i - 1])}` : `${pc(br[i - 1])} – ${pc(br[i])}`,
        })),
        { colour: SUPPRESSED, label: t("suppressed") },
      ],
    });
  }
  if (on("boundaries")) {
    sections.push({
      title: t("legend_boundaries"),
      items: [
        { colour: "#333333", label: t("boundary_county"), outline: true },
        { colour: "#555555", label: t("boundary_town"), outline: true },
        { colour: "#888888", label: t("boundary_detail"), outline: true },
      ],
      note: state.approximate ? t("approximate_note") : undefined,
    });
  }
  return sections;
}

/** What the hotspot layer found, in a sentence with the test's settings (or "" loading). */
function hotspotSentence(): string {
  const s = state.hotspotSummary;
  if (!s) return t("hotspot_method");
  const unit = levelName(state.hotspotLevel);
  if (s.hot + s.cold === 0) return t("hotspot_none_found", { unit });
  return t("hotspot_found", { hot: s.hot, cold: s.cold, unit });
}

export function renderLegend(): void {
  const legend = $("#legend");
  clear(legend);
  for (const [i, section] of legendSections().entries()) {
    const box = h("div", { class: i === 0 ? "legend-section main" : "legend-section overlay" });
    box.append(h("div", { class: "legend-title" }, section.title));
    for (const item of section.items) {
      const sw = h("span", { class: item.outline ? "swatch outline" : "swatch" });
      // CSSOM, allowed by the CSP (no style attribute)
      if (item.outline) sw.style.borderColor = item.colour;
      else sw.style.background = item.colour;
      box.append(h("div", { class: "legend-row" }, sw, h("span", {}, item.label)));
    }
    if (section.note) {
      const none = state.choro === "hotspots" && i === 0 && state.hotspotSummary && state.hotspotSummary.hot + state.hotspotSummary.cold === 0;
      box.append(h("p", { class: none ? "legend-note hotspot-none" : "legend-note", id: i === 0 ? "hotspot-note" : undefined }, section.note));
    }
    legend.append(box);
  }
}
