// One patient's record on the phone page (GET /api/v1/residents/{id}: the read is audited
// and the resident sees it in "who read my record"): who they are, their readings — the
// terminals' and the clinic's apart from the ones the resident entered at home (自报, never
// a follow-up; docs/residents.md) — their latest follow-ups, and the resident's account
// (居民账号): its state, issue or reissue an activation (the printable slip: login id, code,
// expiry and the QR code of the /r/ address), revoke it.
//
// The QR code is the service's SVG, shown as an <img> from a data: URL: an image never runs
// a script, whatever the SVG held, and the CSP allows data: images. The slip is built from
// the answer's fields with textContent (slip_html, the server's standalone page, is not
// inserted). The code exists in clear only in this answer: it is kept in the page until
// the sheet closes, never stored.
import { ApiError, getJSON, postJSON, request } from "../common/api";
import { $, clear, h, show } from "../common/dom";
import { label } from "../common/i18n";
import { CLASSIFICATIONS, DISEASES } from "../common/vocabulary";
import { p } from "./text";

interface Reading {
  measurement_id: string;
  measured_at: string;
  measured_date: string;
  device_id: string | null;
  facility_id: string | null;
  sbp: number | null;
  dbp: number | null;
  heart_rate: number | null;
  glucose: number | null;
  glucose_type: string | null;
  source: string | null;
  self_reported: boolean;
}

interface Visit {
  followup_id: string;
  disease: string;
  visit_date: string;
  method: string | null;
  sbp: number | null;
  dbp: number | null;
  fasting_glucose: number | null;
  classification: string;
  next_visit_date: string | null;
}

interface PatientRecord {
  resident_id: string;
  name: string;
  id_masked: string | null;
  sex: number;
  age: number;
  phone: string | null;
  address: string | null;
  registry: { disease: string; closed_date: string | null }[];
  followups: Visit[];
  measurements: Reading[];
}

type AccountState = "issued" | "expired" | "active" | "locked" | "revoked";

interface Account {
  login_id: string;
  state: AccountState;
  issued_at: string;
  expires_at: string | null;
  activated_at: string | null;
  locked_at: string | null;
  revoked_at: string | null;
}

interface Slip {
  login_id: string;
  code: string;
  expires_at: string;
  url: string;
  qr_svg: string;
  name_masked: string;
  team_name: string | null;
  phone: string;
}

const rec = {
  rid: null as string | null,
  record: null as PatientRecord | null,
  /** null: no activation was ever issued (the API's 404); undefined: not known (an error). */
  account: undefined as Account | null | undefined,
  slip: null as Slip | null,
};

/** A moment (UTC from the API) as the county's local date and time. */
function local(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat("sv-SE", {
    timeZone: "Asia/Shanghai",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  }).format(d);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function values(sbp: number | null, dbp: number | null, glucose: number | null, hr: number | null = null): string {
  const parts: string[] = [];
  if (sbp !== null || dbp !== null) parts.push(`${p("bp")} ${sbp ?? "—"}/${dbp ?? "—"}`);
  if (hr !== null) parts.push(`${p("hr")} ${hr}`);
  if (glucose !== null) parts.push(`${p("glucose")} ${glucose}`);
  return parts.join(" · ");
}

// ---------------------------------------------------------------------------------------
// Open, close, render
// ---------------------------------------------------------------------------------------
/** Open the record sheet of ``rid`` (``name`` shown while it loads). */
export async function openRecord(rid: string, name: string | null): Promise<void> {
  rec.rid = rid;
  rec.record = null;
  rec.account = undefined;
  rec.slip = null;
  $("#record-who").textContent = name ?? rid;
  $("#record-error").textContent = "";
  clear($("#record-readings"));
  clear($("#record-followups"));
  renderAccount();
  show($("#record"), true);
  try {
    const [record] = await Promise.all([getJSON<PatientRecord>(`/api/v1/residents/${encodeURIComponent(rid)}`), loadAccount()]);
    if (rec.rid !== rid) return; // another record was opened meanwhile
    rec.record = record;
    renderRecord();
  } catch (err) {
    if (rec.rid === rid) $("#record-error").textContent = errorText(err);
  }
}

export function closeRecord(): void {
  show($("#record"), false);
  rec.rid = null;
  rec.slip = null; // the code in clear goes with the sheet
  clear($("#slip"));
  show($("#slip"), false);
}

function renderRecord(): void {
  const r = rec.record;
  if (!r) return;
  const sex = r.sex === 1 ? p("male") : r.sex === 2 ? p("female") : "";
  const diseases = r.registry.filter((x) => !x.closed_date).map((x) => label(DISEASES, x.disease));
  clear(
    $("#record-who"),
    h("strong", { class: "name" }, r.name),
    ` ${[sex, p("age", { n: r.age })].filter(Boolean).join(" ")}`,
    diseases.length ? ` · ${diseases.join("、")}` : "",
    r.phone || r.address ? h("br", {}) : null,
    [r.phone, r.address].filter(Boolean).join(" · "),
  );
  renderReadings(r.measurements);
  renderFollowups(r.followups);
}

function readingItem(m: Reading): HTMLElement {
  return h(
    "li",
    { class: `reading${m.self_reported ? " self" : ""}`, "data-measurement": m.measurement_id, "data-source": m.source ?? "" },
    h("span", { class: "when" }, local(m.measured_at)),
    m.self_reported ? h("span", { class: "badge self-badge", title: p("self_note") }, p("self_badge")) : null,
    h("span", { class: "vals" }, values(m.sbp, m.dbp, m.glucose, m.heart_rate)),
  );
}

/** Terminal and clinic readings first, the resident's own apart below, each newest first. */
function renderReadings(readings: Reading[]): void {
  const taken = readings.filter((m) => !m.self_reported);
  const own = readings.filter((m) => m.self_reported);
  clear(
    $("#record-readings"),
    h("h4", {}, p("readings_taken")),
    taken.length
      ? h("ul", { class: "readings taken" }, ...taken.map(readingItem))
      : h("p", { class: "muted small" }, p("none_yet")),
    h("h4", {}, p("readings_self"), " ", h("span", { class: "badge self-badge" }, p("self_badge"))),
    h("p", { class: "muted small" }, p("self_note")),
    own.length
      ? h("ul", { class: "readings self" }, ...own.map(readingItem))
      : h("p", { class: "muted small" }, p("none_yet")),
  );
}

function renderFollowups(visits: Visit[]): void {
  clear(
    $("#record-followups"),
    visits.length
      ? h(
          "ul",
          { class: "readings visits" },
          ...visits.map((v) =>
            h(
              "li",
              { class: "visit", "data-followup": v.followup_id },
              h("span", { class: "when" }, v.visit_date),
              h("span", { class: "tag" }, label(DISEASES, v.disease)),
              v.method ? ` ${p(`m_${v.method}`)}` : "",
              h("span", { class: "vals" }, values(v.sbp, v.dbp, v.fasting_glucose)),
              h("span", { class: "muted small" }, label(CLASSIFICATIONS, v.classification)),
              v.next_visit_date ? h("span", { class: "muted small" }, ` ${p("next_visit")} ${v.next_visit_date}`) : null,
            ),
          ),
        )
      : h("p", { class: "muted small" }, p("no_visit")),
  );
}

// ---------------------------------------------------------------------------------------
// The resident's account
// ---------------------------------------------------------------------------------------
function activationPath(): string {
  return `/api/v1/residents/${encodeURIComponent(rec.rid ?? "")}/activation`;
}

async function loadAccount(): Promise<void> {
  const rid = rec.rid;
  try {
    const account = await getJSON<Account>(activationPath());
    if (rec.rid === rid) rec.account = account;
  } catch (err) {
    if (rec.rid !== rid) return;
    // 404: no activation was ever issued, or the resident is not managed by this team
    // (then issuing answers 404 too, said below).
    if (err instanceof ApiError && err.status === 404) rec.account = null;
    else $("#account-error").textContent = errorText(err);
  }
  renderAccount();
}

function stateText(a: Account): string {
  switch (a.state) {
    case "issued":
      return p("acct_issued", { until: local(a.expires_at) });
    case "expired":
      return p("acct_expired", { at: local(a.expires_at) });
    case "active":
      return p("acct_active", { at: local(a.activated_at) });
    case "locked":
      return p("acct_locked", { at: local(a.locked_at) });
    case "revoked":
      return p("acct_revoked", { at: local(a.revoked_at) });
  }
}

export function renderAccount(): void {
  const a = rec.account;
  const box = $("#account");
  box.dataset.state = a === null ? "none" : (a?.state ?? "");
  const text =
    a === undefined ? p("loading") : a === null ? p("acct_none") : `${stateText(a)} · ${p("login_id")} ${a.login_id}`;
  $("#account-state").textContent = text;
  $("#account-issue").textContent = a ? p("acct_reissue") : p("acct_issue");
  ($("#account-issue") as HTMLButtonElement).disabled = a === undefined;
  show($("#account-revoke"), Boolean(a && a.state !== "revoked"));
  renderSlip();
}

async function issue(): Promise<void> {
  const a = rec.account;
  const who = rec.record?.name ?? rec.rid ?? "";
  // A reissue of a working account clears the resident's PIN: they activate again.
  if (a && a.state === "active" && !window.confirm(p("acct_reissue_confirm", { who }))) return;
  $("#account-error").textContent = "";
  const button = $("#account-issue") as HTMLButtonElement;
  button.disabled = true;
  try {
    rec.slip = await postJSON<Slip>(activationPath(), {});
    await loadAccount();
    $("#slip").scrollIntoView({ block: "nearest" });
  } catch (err) {
    $("#account-error").textContent =
      err instanceof ApiError && err.status === 404 ? p("acct_not_managing") : errorText(err);
  } finally {
    button.disabled = false;
  }
}

async function revoke(): Promise<void> {
  const who = rec.record?.name ?? rec.rid ?? "";
  if (!window.confirm(p("acct_revoke_confirm", { who }))) return;
  $("#account-error").textContent = "";
  try {
    await request(activationPath(), { method: "DELETE" });
    rec.slip = null;
    await loadAccount();
  } catch (err) {
    $("#account-error").textContent = errorText(err);
  }
}

/**
 * The service's SVG as a file of its own: it is drawn for inline use (no namespace), and an
 * SVG image without its namespace is not rendered at all.
 */
function standalone(svgText: string): string {
  return svgText.replace(/<svg(?![^>]*\sxmlns=)/, '<svg xmlns="http://www.w3.org/2000/svg"');
}

function renderSlip(): void {
  const s = rec.slip;
  const box = $("#slip");
  show(box, Boolean(s));
  if (!s) {
    clear(box);
    return;
  }
  const qr = h("img", {
    class: "slip-qr",
    alt: p("slip_qr"),
    width: 180,
    height: 180,
    src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(standalone(s.qr_svg))}`,
  });
  const row = (key: string, value: string, cls = "") =>
    h("div", { class: `slip-row ${cls}` }, h("span", { class: "muted" }, p(key)), h("b", {}, value));
  clear(
    box,
    h("h3", {}, p("slip_title")),
    row("slip_name", s.name_masked),
    row("login_id", s.login_id, "slip-login"),
    row("slip_code", s.code, "slip-code"),
    row("slip_expires", local(s.expires_at), "slip-expires"),
    row("slip_team", [s.team_name, s.phone].filter(Boolean).join(" · ")),
    qr,
    h("p", { class: "small" }, p("slip_how")),
    h(
      "div",
      { class: "actions no-print" },
      h("button", { type: "button", id: "slip-print", class: "btn primary", onclick: () => window.print() }, p("slip_print")),
    ),
  );
}

/** Wire the sheet's buttons (once). */
export function setUpRecord(): void {
  $("#record-close").addEventListener("click", closeRecord);
  $("#account-issue").addEventListener("click", () => void issue());
  $("#account-revoke").addEventListener("click", () => void revoke());
}

/** Re-render in the current language. */
export function rerenderRecord(): void {
  if (!rec.rid) return;
  renderRecord();
  renderAccount();
}
