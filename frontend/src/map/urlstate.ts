// The map's view in the URL's hash, so a view can be shared and survives a reload:
// #layer=hotspots&indicator=htn_control_rate&hs=htn_prevalence&hslevel=grid&month=2026-06-30
//   &scheme=jenks&k=5&overlays=boundaries,facilities&map=11.2/36.88/118.73
// The hash (not the query) keeps it out of server logs and needs no server route.

export interface ViewState {
  layer?: string;
  indicator?: string;
  hotspotIndicator?: string;
  hotspotLevel?: string;
  period?: string;
  scheme?: string;
  k?: number;
  overlays?: string[];
  view?: { zoom: number; lat: number; lng: number };
}

export function readView(hash: string = location.hash): ViewState {
  const q = new URLSearchParams(hash.replace(/^#/, ""));
  const out: ViewState = {};
  const str = (key: string) => q.get(key) || undefined;
  out.layer = str("layer");
  out.indicator = str("indicator");
  out.hotspotIndicator = str("hs");
  out.hotspotLevel = str("hslevel");
  out.period = str("month");
  out.scheme = str("scheme");
  const k = Number(q.get("k"));
  if (Number.isInteger(k) && k >= 2 && k <= 7) out.k = k;
  if (q.has("overlays")) out.overlays = (q.get("overlays") ?? "").split(",").filter(Boolean);
  const m = (q.get("map") ?? "").split("/").map(Number);
  if (m.length === 3 && m.every(Number.isFinite)) out.view = { zoom: m[0], lat: m[1], lng: m[2] };
  return out;
}

export function writeView(v: ViewState): void {
  const q = new URLSearchParams();
  if (v.layer) q.set("layer", v.layer);
  if (v.indicator) q.set("indicator", v.indicator);
  if (v.hotspotIndicator) q.set("hs", v.hotspotIndicator);
  if (v.hotspotLevel) q.set("hslevel", v.hotspotLevel);
  if (v.period) q.set("month", v.period);
  if (v.scheme) q.set("scheme", v.scheme);
  if (v.k) q.set("k", String(v.k));
  if (v.overlays) q.set("overlays", v.overlays.join(","));
  if (v.view) q.set("map", `${v.view.zoom.toFixed(2)}/${v.view.lat.toFixed(5)}/${v.view.lng.toFixed(5)}`);
  const hash = `#${q.toString().replace(/%2C/g, ",").replace(/%2F/g, "/").replace(/%3A/g, ":")}`;
  if (hash !== location.hash) history.replaceState(null, "", hash);
}
