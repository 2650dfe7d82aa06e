// Exports: the view as a composed PNG (exportpng.ts), the layer as CSV or GeoJSON from the
// API (hotspots' CSV made here from the JSON list). Downloads carry the token.
import { download, getJSON, saveBlob } from "../common/api";
import { t } from "../common/i18n";
import { composePng } from "./exportpng";
import { indicatorName, levelName, reportError, setStatus } from "./format";
import { legendSections } from "./legend";
import { currentLevel, map, state } from "./state";

export function exportPng(): void {
  map.once("render", () => {
    const canvas = map.getCanvas();
    const c = map.getCenter();
    // Web Mercator: metres per CSS pixel at the centre's latitude (512-px world tiles).
    const metresPerPixel = (40075016.686 * Math.cos((c.lat * Math.PI) / 180)) / (512 * 2 ** map.getZoom());
    const hot = state.choro === "hotspots";
    const png = composePng(canvas, {
      title: `${t("app_title")} · ${hot ? indicatorName(state.hotspotIndicator) : state.choro === "mobility" ? t("layer_mobility") : indicatorName(state.indicator)}`,
      subtitle: `${t(`layer_${state.choro}`)} · ${hot ? levelName(state.hotspotLevel) : state.choro === "mobility" ? "" : `${levelName(currentLevel())} · ${state.period.slice(0, 7)}`}`,
      sections: legendSections(),
      footer: [
        `${t("as_of")} ${state.meta?.as_of ?? ""} · ${t("exported")} ${new Date().toISOString().slice(0, 10)}`,
        t("data_source") + (state.approximate ? ` · ${t("approximate_note")}` : ""),
      ],
      metresPerPixel,
    });
    png.toBlob((blob) => {
      const code = hot ? state.hotspotIndicator : state.indicator;
      if (blob) saveBlob(blob, `healthmap-${state.choro}-${code}-${state.period}.png`);
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

export async function exportData(format: "csv" | "geojson"): Promise<void> {
  setStatus("");
  try {
    if (state.choro === "hotspots") {
      const name = `hotspots-${state.hotspotLevel.replace(":", "")}-${state.hotspotIndicator}`;
      const params = { indicator: state.hotspotIndicator, level: state.hotspotLevel };
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
