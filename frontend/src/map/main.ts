// The county health bureau's web map (served at /), its entry: login, layer switcher, indicator
// picker, class breaks and legend, month slider, side panel with a unit's indicators and
// trend, search, exports. Everything comes from this service: vector tiles with the
// Bearer token (transformRequest), no glyphs (no text on the map), no CDN.
// The parts are modules by concern (docs/frontend.md): state.ts, session.ts, controls.ts,
// mapview.ts, overlays.ts, choropleth.ts, legend.ts, panel.ts, search.ts, exports.ts.
import "maplibre-gl/dist/maplibre-gl.css";
import "./style.css";

import { logout } from "../common/api";
import { $, show } from "../common/dom";
import { applyI18n, currentLang, onLangChange, setLang, t } from "../common/i18n";
import { setUpLogin } from "../common/login";
import type { Scheme } from "./classify";
import { refreshChoropleth, updateBreaks } from "./choropleth";
import { fillHotspotLevelSelect, fillIndicatorSelect } from "./controls";
import { exportData, exportPng } from "./exports";
import { reportError } from "./format";
import { renderLegend } from "./legend";
import { openUnit } from "./panel";
import { wireSearch } from "./search";
import { showLogin, showUser, start } from "./session";
import { map, state, syncUrl } from "./state";

// ---------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------
function wire(): void {
  document.querySelectorAll(".lang-toggle").forEach((b) =>
    b.addEventListener("click", () => setLang(currentLang() === "zh" ? "en" : "zh")),
  );
  $("#logout").addEventListener("click", () => logout());
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
    const value = (ev.target as HTMLSelectElement).value;
    if (state.choro === "hotspots") state.hotspotIndicator = value;
    else state.indicator = value;
    void refreshChoropleth();
  });
  $("#hotspot-level").addEventListener("change", (ev) => {
    state.hotspotLevel = (ev.target as HTMLSelectElement).value;
    void refreshChoropleth();
  });
  $("#scheme").addEventListener("change", (ev) => {
    state.scheme = (ev.target as HTMLSelectElement).value as Scheme;
    syncUrl();
    void updateBreaks();
  });
  $("#k").addEventListener("change", (ev) => {
    state.k = Number((ev.target as HTMLSelectElement).value);
    syncUrl();
    void updateBreaks();
  });
  $("#panel-close").addEventListener("click", () => {
    show($("#panel"), false);
    state.selected = null;
    if (map?.getLayer("choro-selected")) map.setFilter("choro-selected", ["==", ["get", "unit_id"], ""]);
  });
  wireSearch();
  $("#export-png").addEventListener("click", exportPng);
  $("#export-csv").addEventListener("click", () => void exportData("csv"));
  $("#export-geojson").addEventListener("click", () => void exportData("geojson"));
}

async function main(): Promise<void> {
  document.documentElement.lang = currentLang() === "zh" ? "zh-CN" : "en";
  applyI18n();
  wire();
  await setUpLogin({ loggingIn: () => t("logging_in"), start, showLogin, onError: reportError });
}

void main();
