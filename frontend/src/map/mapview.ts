// The map itself: the base style (no glyphs, no sprite; an optional configured basemap),
// TileJSON and tile URLs of the service, the token on our own requests, and the events.
import maplibregl, { type StyleSpecification } from "maplibre-gl";

import { absolute, accessToken, getJSON, refresh } from "../common/api";
import { $, show } from "../common/dom";
import { t } from "../common/i18n";
import { refreshChoropleth, updateBreaks, updateMobilityBreaks } from "./choropleth";
import { setStatus } from "./format";
import { addBoundaries, addEarlyWarning, addEducationReads, addFacilities, applyOverlays, hoverPopup, onHover } from "./overlays";
import { onMapClick } from "./panel";
import { map, setMap, state, syncUrl, type TileJSON } from "./state";
import { readView } from "./urlstate";

export function metaContent(name: string): string {
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

export async function tileJSON(layer: string): Promise<TileJSON> {
  let tj = state.tilejson.get(layer);
  if (!tj) {
    tj = await getJSON<TileJSON>(`/tiles/${layer}.json`);
    state.tilejson.set(layer, tj);
  }
  return tj;
}

export function tileUrl(layer: string, params: Record<string, string>): string {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "")).toString();
  return absolute(`/tiles/${layer}/{z}/{x}/{y}.mvt`) + (q ? `?${q}` : "");
}

export async function createMap(): Promise<void> {
  const sharedView = readView().view;
  let bounds: [number, number, number, number] | undefined;
  try {
    const tj = await tileJSON("boundaries");
    bounds = tj.bounds;
    state.approximate = Boolean(tj.approximate);
  } catch {
    bounds = undefined;
  }
  setMap(new maplibregl.Map({
    container: "map",
    style: baseStyle(),
    ...(sharedView
      ? { center: [sharedView.lng, sharedView.lat] as [number, number], zoom: sharedView.zoom }
      : { bounds: bounds ?? [118.5, 36.6, 119.1, 37.2], fitBoundsOptions: { padding: 20 } }),
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
  }));
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
  addEducationReads();
  await refreshChoropleth();
  applyOverlays();
  map.on("click", onMapClick);
  map.on("moveend", syncUrl);
  map.on("mousemove", onHover);
  map.on("mouseout", () => hoverPopup.remove());
  show($("#approximate-note"), state.approximate);
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
