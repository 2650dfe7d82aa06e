// Starting once logged in (the log-in form and the resumed session are common/login.ts):
// who am I, what may I see (/api/v1/meta), the state from a shared link, then the controls
// and the map. A doctor goes to /m/.
import { ApiError, getJSON, me, ROOT } from "../common/api";
import { $, show } from "../common/dom";
import { label, t } from "../common/i18n";
import { ANALYST_ROLES, ROLES, TEAM_SCOPED_ROLE } from "../common/vocabulary";
import { buildControls } from "./controls";
import { createMap } from "./mapview";
import { CHORO_LAYERS, state, type Choro, type Meta, type SearchHit } from "./state";
import { readView } from "./urlstate";

export function showUser(): void {
  const u = state.me;
  if (u) $("#user").textContent = `${u.username} · ${label(ROLES, u.role)}${u.town_code ? ` · ${state.townName || t("town_label")}` : ""}`;
}


export function showLogin(): void {
  show($("#app"), false);
  show($("#login"), true);
  ($("#login-form").querySelector("input[name=username]") as HTMLInputElement).focus();
}

// ---------------------------------------------------------------------------------------
// Start: who am I, what may I see, the map
// ---------------------------------------------------------------------------------------
export async function start(): Promise<void> {
  state.me = await me();
  show($("#login"), false);
  show($("#app"), true);
  showUser();
  if (state.me.role === TEAM_SCOPED_ROLE) {
    // A family doctor's page is the phone page (same tab: the session carries over).
    location.replace(`${ROOT}/m/`);
    return;
  }
  try {
    state.meta = await getJSON<Meta>("/api/v1/meta");
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      show($("#no-access"), true);
      return;
    }
    throw err;
  }
  const meta = state.meta;
  meta.periods = [...meta.periods].map(String).sort(); // the API lists newest first
  state.layers = new Set(meta.layers.map((l) => (typeof l === "string" ? l : l.name)));
  // The health-education reads layer (GeoJSON from /api/v1/education/reads): analyst roles.
  if ((ANALYST_ROLES as readonly string[]).includes(state.me.role)) state.layers.add("education_reads");
  state.period = meta.periods.includes(meta.as_of) ? meta.as_of : (meta.periods[meta.periods.length - 1] ?? "");
  state.indicator = meta.indicators[0]?.code ?? "";
  state.hotspotIndicator = meta.hotspot_indicators[0] ?? "";
  const firstChoro = CHORO_LAYERS.find((l) => state.layers.has(l));
  if (firstChoro) state.choro = firstChoro;
  // A shared link (#layer=…&indicator=…): what it names and this role may see.
  const shared = readView();
  if (shared.layer && state.layers.has(shared.layer)) state.choro = shared.layer as Choro;
  if (shared.indicator && meta.indicators.some((d) => d.code === shared.indicator)) state.indicator = shared.indicator;
  if (shared.hotspotIndicator && meta.hotspot_indicators.includes(shared.hotspotIndicator)) {
    state.hotspotIndicator = shared.hotspotIndicator;
  }
  if (shared.hotspotLevel) state.hotspotLevel = shared.hotspotLevel;
  if (shared.period && meta.periods.includes(shared.period)) state.period = shared.period;
  if (shared.scheme === "quantile" || shared.scheme === "jenks" || shared.scheme === "equal") state.scheme = shared.scheme;
  if (shared.k) state.k = shared.k;
  if (shared.overlays) state.overlays = new Set(shared.overlays);
  ($("#scheme") as HTMLSelectElement).value = state.scheme;
  ($("#k") as HTMLSelectElement).value = String(state.k);
  for (const o of [...state.overlays]) if (!state.layers.has(o)) state.overlays.delete(o);
  if (state.me.town_code) void lookUpTownName(state.me.town_code);
  $("#as-of").textContent = `${t("as_of")} ${meta.as_of}`;
  buildControls();
  await createMap();
}

/** The name of the user's township (the search endpoint knows codes too). */
async function lookUpTownName(code: string): Promise<void> {
  try {
    const { items } = await getJSON<{ items: SearchHit[] }>("/api/v1/search", { q: code });
    state.townName = items.find((i) => i.code === code)?.name ?? "";
  } catch {
    state.townName = "";
  }
  showUser();
}

