// The controls of the side bar: the layers the role may see, the overlays, the indicator
// and hotspot-unit pickers, the month slider; each shown only where it applies.
import { $, clear, h, show } from "../common/dom";
import { applyI18n } from "../common/i18n";
import { HOTSPOT_LEVELS } from "../common/vocabulary";
import { refreshChoropleth } from "./choropleth";
import { indicatorName, levelName } from "./format";
import { renderLegend } from "./legend";
import { applyOverlays } from "./overlays";
import { openUnit } from "./panel";
import { CHORO_LAYERS, OVERLAYS, state, syncUrl } from "./state";

/** The hotspot unit picker: the levels the service offers, named in the current language. */
export function fillHotspotLevelSelect(): void {
  const select = $("#hotspot-level") as HTMLSelectElement;
  const levels = state.meta?.hotspot_levels?.length ? state.meta.hotspot_levels : [...HOTSPOT_LEVELS];
  if (!levels.includes(state.hotspotLevel)) state.hotspotLevel = levels[0] ?? state.hotspotLevel;
  clear(select, ...levels.map((l) => h("option", { value: l, selected: l === state.hotspotLevel }, levelName(l))));
}

export function buildControls(): void {
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
        renderLegend();
        syncUrl();
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

export function fillIndicatorSelect(): void {
  const meta = state.meta!;
  const select = $("#indicator") as HTMLSelectElement;
  // The hotspot layer has its own indicators: its choice is kept apart from the others'.
  const hot = state.choro === "hotspots";
  const codes = hot ? meta.hotspot_indicators : meta.indicators.map((d) => d.code);
  let chosen = hot ? state.hotspotIndicator : state.indicator;
  if (!codes.includes(chosen)) chosen = codes[0] ?? "";
  if (hot) state.hotspotIndicator = chosen;
  else state.indicator = chosen;
  clear(select, ...codes.map((c) => h("option", { value: c, selected: c === chosen }, indicatorName(c))));
  // Controls only where they apply: classes for the indicator choropleths, months for
  // built periods, hotspot units for hotspots.
  show($("#indicator-box"), state.choro !== "mobility");
  show($("#hotspot-level-box"), hot);
  show($("#month-box"), !hot && state.choro !== "mobility");
  show($("#class-box"), !hot && state.choro !== "mobility");
}
