// The client side of the service's API: tokens (OAuth2 password flow, refresh), a fetch
// wrapper that adds the Bearer token and turns RFC 9457 problems into ApiError, and
// the path prefix the service runs under. Same origin only: nothing here talks to any
// other host.

/** Path prefix of the service (behind a reverse proxy); pages.py fills in the meta tag. */
export const ROOT: string = (
  document.querySelector<HTMLMetaElement>('meta[name="healthmap-root"]')?.content ?? ""
).replace(/\/+$/, "");

/** Absolute URL of a service path (MapLibre's worker needs absolute tile URLs). */
export function absolute(path: string): string {
  return `${location.origin}${ROOT}${path}`;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  errors?: { loc: string; msg: string; type: string }[];
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(status: number, problem: Problem) {
    const fields = (problem.errors ?? []).map((e) => `${e.loc}: ${e.msg}`).join("; ");
    super([problem.detail || problem.title || `HTTP ${status}`, fields].filter(Boolean).join(" — "));
    this.status = status;
    this.problem = problem;
  }
}

export interface Me {
  id: number;
  username: string;
  role: "doctor" | "chronic_center" | "bureau" | "planner" | "admin" | string;
  team_id: string | null;
  town_code: string | null;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in?: number;
  refresh_expires_in?: number;
}

interface StoredTokens extends TokenPair {
  /** ms since epoch when the access token stops working (a minute early). */
  access_until: number;
  /** The county logged in to (6 digits) in a province deployment; its refreshes go there too. */
  county?: string;
}

/** A county of a province deployment (GET /api/v1/counties; empty for a single county). */
export interface County {
  county_code: string;
  name: string;
  city_code: string;
  city_name: string | null;
}

// sessionStorage: the tokens die with the tab. Clinic computers are shared, and "log
// out" on a device means forgetting the tokens (docs/security.md).
const STORE_KEY = "healthmap.tokens";
let tokens: StoredTokens | null = load();
let refreshTimer: number | undefined;
let refreshing: Promise<boolean> | null = null;
const logoutListeners: (() => void)[] = [];

function load(): StoredTokens | null {
  try {
    const raw = sessionStorage.getItem(STORE_KEY);
    return raw ? (JSON.parse(raw) as StoredTokens) : null;
  } catch {
    return null;
  }
}

function keep(pair: TokenPair, county?: string): void {
  const seconds = pair.expires_in ?? 900;
  tokens = { ...pair, access_until: Date.now() + Math.max(seconds - 60, 10) * 1000, county };
  sessionStorage.setItem(STORE_KEY, JSON.stringify(tokens));
  schedule();
}

function schedule(): void {
  window.clearTimeout(refreshTimer);
  if (!tokens) return;
  const wait = Math.max(tokens.access_until - Date.now(), 1000);
  refreshTimer = window.setTimeout(() => void refresh(), wait);
}

/** The current access token (for MapLibre's transformRequest), or null. */
export function accessToken(): string | null {
  return tokens?.access_token ?? null;
}

export function loggedIn(): boolean {
  return tokens !== null;
}

export function onLogout(fn: () => void): void {
  logoutListeners.push(fn);
}

export function logout(): void {
  tokens = null;
  window.clearTimeout(refreshTimer);
  sessionStorage.removeItem(STORE_KEY);
  for (const fn of logoutListeners) fn();
}

async function problemOf(res: Response): Promise<Problem> {
  try {
    return (await res.json()) as Problem;
  } catch {
    return { status: res.status, title: res.statusText };
  }
}

/**
 * POST /auth/token (form). Throws ApiError (401 wrong credentials, 429 locked). In a
 * province deployment `county` (6 digits) names the county's store to log in to
 * (`?county=370725`); without it the log-in is the deployment's own (the province's).
 * The tokens then route themselves: their audience names the county.
 */
export async function login(username: string, password: string, county?: string): Promise<void> {
  const body = new URLSearchParams({ username, password });
  const res = await fetch(`${ROOT}/auth/token${query({ county })}`, { method: "POST", body });
  if (!res.ok) throw new ApiError(res.status, await problemOf(res));
  keep((await res.json()) as TokenPair, county || undefined);
}

/** GET /api/v1/counties (public): the counties to log in to; [] for a single county. */
export async function counties(): Promise<County[]> {
  try {
    const res = await fetch(`${ROOT}/api/v1/counties`);
    if (!res.ok) return []; // an older service without the route: a single county
    const list = (await res.json()) as unknown;
    return Array.isArray(list) ? (list as County[]) : [];
  } catch {
    return [];
  }
}

/** Keep a token pair obtained elsewhere (a resident's PIN login, ../resident/main.ts). */
export function adoptTokens(pair: TokenPair): void {
  keep(pair);
}

/** POST /auth/refresh; false (and logged out) when the refresh token is no longer good. */
export function refresh(): Promise<boolean> {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    if (!tokens) return false;
    try {
      // A refresh carries no bearer token: the county is named for the service to route it.
      const res = await fetch(`${ROOT}/auth/refresh${query({ county: tokens.county })}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: tokens.refresh_token }),
      });
      if (!res.ok) {
        if (res.status === 401) logout();
        return false;
      }
      keep((await res.json()) as TokenPair, tokens?.county);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** Resume a session kept in this tab: refresh early if the access token has run out. */
export async function resume(): Promise<boolean> {
  if (!tokens) return false;
  if (Date.now() < tokens.access_until) {
    schedule();
    return true;
  }
  return refresh();
}

async function send(path: string, init: RequestInit): Promise<Response> {
  const headers = new Headers(init.headers);
  if (tokens) headers.set("Authorization", `Bearer ${tokens.access_token}`);
  return fetch(`${ROOT}${path}`, { ...init, headers });
}

/** A request to the service with the Bearer token; one refresh-and-retry on 401. */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  let res = await send(path, init);
  if (res.status === 401 && tokens && (await refresh())) res = await send(path, init);
  if (res.status === 401) logout();
  if (!res.ok) throw new ApiError(res.status, await problemOf(res));
  return res;
}

export async function getJSON<T>(path: string, params?: Record<string, unknown>): Promise<T> {
  const res = await request(path + query(params));
  return (await res.json()) as T;
}

export async function postJSON<T>(path: string, body: unknown): Promise<T> {
  const res = await request(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return (text ? JSON.parse(text) : {}) as T;
}

/** `?a=1&b=2` from the given, non-empty parameters ("" when none). */
export function query(params?: Record<string, unknown>): string {
  if (!params) return "";
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export function me(): Promise<Me> {
  return getJSON<Me>("/auth/me");
}

/** Save a response body as a file (exports need the token, so no plain link). */
export async function download(path: string, filename: string): Promise<void> {
  const res = await request(path);
  saveBlob(await res.blob(), filename);
}

export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
