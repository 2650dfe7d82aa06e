// The live channel (GET /api/v1/live, Server-Sent Events) as the pages use it.
//
// Why fetch() and not EventSource: EventSource cannot send the Authorization header, and
// the token lives in sessionStorage (common/api.ts). A token in the URL would end up in
// proxies' logs and the history, so the stream is read with fetch() and the same Bearer
// header as every other call (request() also refreshes an expired token). What
// EventSource does by itself is done here: parse the events, reconnect after a pause
// with Last-Event-ID (the service replays what was missed), notice a silent connection
// (no heartbeat for 45 s). While the stream is down the page polls instead (every 20 s).
import { ApiError, request } from "./api";
import "./live.css";

export type LiveState = "connecting" | "live" | "polling" | "off";

export interface LiveEvent {
  id: string | null;
  event: string;
  data: Record<string, unknown>;
}

export interface LiveOptions {
  /** An event of the caller's scope (e.g. `emergency_reading`). */
  onEvent: (ev: LiveEvent) => void;
  /** The channel's state changed (for the page's indicator). */
  onState?: (state: LiveState) => void;
  /** What the page does while the stream is down (refetch its list). */
  poll: () => unknown;
  pollMs?: number;
}

/** Heartbeats come every 15 s; three missed ones mean a dead connection. */
const SILENCE_MS = 45_000;
const MAX_RETRY_MS = 30_000;

/** Parse SSE blocks from a growing text buffer; returns what is left unparsed. */
export function parseEvents(buffer: string, emit: (fields: Record<string, string>) => void): string {
  const text = buffer.replace(/\r\n?/g, "\n");
  let start = 0;
  for (;;) {
    const end = text.indexOf("\n\n", start);
    if (end < 0) break;
    const fields: Record<string, string> = {};
    for (const line of text.slice(start, end).split("\n")) {
      if (!line || line.startsWith(":")) continue; // a comment: the heartbeat
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      fields[name] = name === "data" && fields.data !== undefined ? `${fields.data}\n${value}` : value;
    }
    emit(fields);
    start = end + 2;
  }
  return text.slice(start);
}

/** Open the live channel; returns a function that closes it for good. */
export function startLive(opts: LiveOptions): () => void {
  const pollMs = opts.pollMs ?? 20_000;
  let lastId: string | null = null;
  let retryMs = 3000;
  let failures = 0;
  let stopped = false;
  let controller: AbortController | null = null;
  let pollTimer: number | undefined;
  let retryTimer: number | undefined;
  let state: LiveState = "off";

  const setState = (s: LiveState): void => {
    if (s === state) return;
    state = s;
    opts.onState?.(s);
    window.clearInterval(pollTimer);
    if (s === "polling") pollTimer = window.setInterval(() => void opts.poll(), pollMs);
  };

  async function connect(): Promise<void> {
    if (stopped) return;
    if (state === "off") setState("connecting"); // "live" and "polling" stay until we know
    controller = new AbortController();
    const abort = controller;
    let silence: number | undefined;
    const alive = (): void => {
      window.clearTimeout(silence);
      silence = window.setTimeout(() => abort.abort(), SILENCE_MS);
    };
    let wasLive = false;
    let endedCleanly = false;
    try {
      const headers: Record<string, string> = { Accept: "text/event-stream" };
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      const res = await request("/api/v1/live", { headers, signal: abort.signal, cache: "no-store" });
      if (!res.body) throw new Error("no stream");
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      alive();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          endedCleanly = true;
          break;
        }
        alive();
        buffer = parseEvents(buffer + decoder.decode(value, { stream: true }), (f) => {
          if (f.id !== undefined) lastId = f.id;
          if (f.retry && /^\d+$/.test(f.retry)) retryMs = Number(f.retry);
          if (f.event === "ready") {
            if (state === "polling") void opts.poll(); // catch up on what polling missed
            wasLive = true;
            setState("live");
            return;
          }
          if (f.data === undefined) return;
          let data: Record<string, unknown> = {};
          try {
            data = JSON.parse(f.data) as Record<string, unknown>;
          } catch {
            return;
          }
          opts.onEvent({ id: f.id ?? null, event: f.event ?? "message", data });
        });
      }
    } catch (err) {
      // 401 after a failed refresh: logged out (api.ts); 403: this account has no channel.
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        stopped = err.status === 401;
        if (err.status === 403) {
          setState("polling");
          return;
        }
      }
    } finally {
      window.clearTimeout(silence);
    }
    if (stopped) return;
    if (endedCleanly && wasLive) {
      // The service ended a stream that worked (its token's lifetime, a full queue): come
      // back at once with the current token; Last-Event-ID resumes where it stopped.
      retryTimer = window.setTimeout(() => void connect(), 250);
      return;
    }
    setState("polling");
    // Back off while the service is away; after a stream that worked, the server's retry.
    failures = wasLive ? 0 : failures + 1;
    retryTimer = window.setTimeout(() => void connect(), Math.min(retryMs * 2 ** failures, MAX_RETRY_MS));
  }

  void connect();
  return () => {
    stopped = true;
    window.clearTimeout(retryTimer);
    controller?.abort();
    setState("off");
  };
}

/** A small "live" indicator for a page's header bar; its text comes from the page. */
export function liveBadge(text: (state: LiveState) => string): { el: HTMLElement; set: (s: LiveState) => void } {
  const el = document.createElement("span");
  el.id = "live";
  el.className = "live-badge off";
  el.setAttribute("role", "status");
  let current: LiveState = "off";
  const set = (s: LiveState): void => {
    current = s;
    el.className = `live-badge ${s}`;
    el.dataset.state = s;
    el.textContent = text(s);
  };
  set(current);
  return { el, set };
}
