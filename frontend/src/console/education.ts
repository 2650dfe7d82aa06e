// The console's "健康教育" section (docs/health-education.md): the items in the caller's
// view, a form to write one (title, Markdown with the server's preview, diseases, age band,
// grids, validity), submit, and the reviewer's publish / send back / withdraw. The service
// decides who may do what; buttons are only offered where a step can apply.
//
// The item, the API's calls and the safe rebuilding of the service's HTML are shared with
// the phone page (common/education.ts).
import { ApiError, getJSON, type Me } from "../common/api";
import { $, clear, h, show } from "../common/dom";
import {
  EDU_ITEMS as ITEMS,
  renderBody,
  safeFragment,
  sendItem as send,
  type EduItem as Item,
  type EduPage as Page,
} from "../common/education";
import { label } from "../common/i18n";
import { DISEASES, EDUCATION_STATES } from "../common/vocabulary";
import { c } from "./text";

export interface GridChoice {
  grid_id: string;
  name: string | null;
}

const REVIEWERS = new Set(["chronic_center", "bureau", "admin"]);

const edu = {
  me: null as Me | null,
  grids: (() => []) as () => GridChoice[],
  items: [] as Item[],
  total: 0,
  filter: "",
  editing: null as Item | null,
  message: "",
};

function say(message: string): void {
  edu.message = message;
  $("#edu-message").textContent = message;
}

function errorText(err: unknown): string {
  return err instanceof ApiError ? err.message : String(err instanceof Error ? err.message : err);
}

export async function loadEducation(): Promise<void> {
  const page = await getJSON<Page>(ITEMS, { state: edu.filter, limit: 200 });
  edu.items = page.items;
  edu.total = page.total;
  renderEducationList();
}

function band(item: Item): string {
  if (item.min_age === null && item.max_age === null) return c("edu_all_ages");
  return `${item.min_age ?? 0}–${item.max_age ?? ""}`;
}

function actions(item: Item): HTMLElement {
  const me = edu.me;
  const cell = h("td", { class: "edu-actions" });
  if (!me) return cell;
  const mine = item.author_username === me.username;
  const button = (key: string, run: () => Promise<unknown>) =>
    h(
      "button",
      {
        type: "button",
        class: "btn",
        "data-action": key,
        onclick: () => {
          void run()
            .then(() => loadEducation())
            .then(() => say(c("edu_done")))
            .catch((err) => say(errorText(err)));
        },
      },
      c(`edu_${key}`),
    );
  if (mine && item.state === "draft") {
    cell.append(
      button("edit", async () => openForm(await getJSON<Item>(`${ITEMS}/${item.item_id}`))),
      button("submit", () => send("POST", `${ITEMS}/${item.item_id}/submit`)),
    );
  }
  if (REVIEWERS.has(me.role) && item.state === "in_review") {
    if (!mine) cell.append(button("publish", () => send("POST", `${ITEMS}/${item.item_id}/publish`, {})));
    cell.append(
      button("send_back", async () => {
        const note = window.prompt(c("edu_note_prompt"))?.trim();
        if (!note) throw new Error(c("edu_note_needed"));
        return send("POST", `${ITEMS}/${item.item_id}/send-back`, { note });
      }),
    );
  }
  if (REVIEWERS.has(me.role) && (item.state === "published" || item.state === "in_review")) {
    cell.append(button("withdraw", () => send("POST", `${ITEMS}/${item.item_id}/withdraw`, {})));
  }
  cell.append(
    button("view", async () => {
      const full = await getJSON<Item>(`${ITEMS}/${item.item_id}`);
      clear($("#edu-preview"), h("h3", {}, full.title), safeFragment(full.body_html ?? ""));
    }),
  );
  return cell;
}

export function renderEducationList(): void {
  const table = document.querySelector("#edu-items");
  if (!table) return;
  const head = h(
    "tr",
    {},
    ...["edu_col_title", "edu_col_state", "edu_col_diseases", "edu_col_ages", "edu_col_grids", "edu_col_valid", "edu_col_author", ""].map(
      (k) => h("th", {}, k ? c(k) : ""),
    ),
  );
  const rows = edu.items.map((item) =>
    h(
      "tr",
      { "data-item": item.item_id, "data-state": item.state },
      h("td", {}, item.title, item.review_note ? h("div", { class: "muted small" }, `${c("edu_note")}: ${item.review_note}`) : null),
      h("td", {}, label(EDUCATION_STATES, item.state)),
      h("td", {}, item.diseases.length ? item.diseases.map((d) => label(DISEASES, d)).join("、") : c("edu_everyone")),
      h("td", {}, band(item)),
      h("td", {}, item.grids.length ? item.grids.join("、") : item.town_code ? c("edu_whole_town") : c("edu_whole_county")),
      h("td", {}, `${item.valid_from} – ${item.valid_to ?? ""}`),
      h("td", {}, item.author_username),
      actions(item),
    ),
  );
  clear(table, h("thead", {}, head), h("tbody", {}, ...rows));
  if (!rows.length) table.append(h("tbody", {}, h("tr", {}, h("td", { colspan: 8, class: "muted" }, c("edu_none")))));
}

function field(name: string): HTMLInputElement {
  return $(`#edu-form [name=${name}]`) as HTMLInputElement;
}

function openForm(item: Item | null): void {
  edu.editing = item;
  const form = $("#edu-form") as HTMLFormElement;
  form.reset();
  renderFormChoices(item);
  field("title").value = item?.title ?? "";
  ($("#edu-form textarea[name=body]") as HTMLTextAreaElement).value = item?.body_markdown ?? "";
  field("min_age").value = item?.min_age?.toString() ?? "";
  field("max_age").value = item?.max_age?.toString() ?? "";
  field("valid_from").value = item?.valid_from ?? new Date().toISOString().slice(0, 10);
  field("valid_to").value = item?.valid_to ?? "";
  $("#edu-form-title").textContent = item ? `${c("edu_edit")} · ${item.title}` : c("edu_new");
  show(form, true);
  clear($("#edu-preview"));
  field("title").focus();
}

function renderFormChoices(item: Item | null): void {
  clear(
    $("#edu-diseases"),
    ...Object.keys(DISEASES).map((d) =>
      h("label", { class: "opt" }, h("input", { type: "checkbox", name: "disease", value: d, checked: Boolean(item?.diseases.includes(d)) }), label(DISEASES, d)),
    ),
  );
  const grids = edu.grids();
  clear(
    $("#edu-grids"),
    ...(grids.length ? [] : [h("span", { class: "muted small" }, c("edu_no_grids"))]),
    ...grids.map((g) =>
      h(
        "label",
        { class: "opt" },
        h("input", { type: "checkbox", name: "grid", value: g.grid_id, checked: Boolean(item?.grids.includes(g.grid_id)) }),
        g.name ? `${g.name}（${g.grid_id}）` : g.grid_id,
      ),
    ),
  );
}

function formBody(): Record<string, unknown> {
  const checked = (name: string) =>
    [...document.querySelectorAll<HTMLInputElement>(`#edu-form input[name=${name}]:checked`)].map((i) => i.value);
  const age = (name: string) => (field(name).value === "" ? null : Number(field(name).value));
  return {
    title: field("title").value,
    body_markdown: ($("#edu-form textarea[name=body]") as HTMLTextAreaElement).value,
    diseases: checked("disease"),
    min_age: age("min_age"),
    max_age: age("max_age"),
    grids: checked("grid"),
    valid_from: field("valid_from").value,
    valid_to: field("valid_to").value || null,
  };
}

async function preview(): Promise<void> {
  const body = ($("#edu-form textarea[name=body]") as HTMLTextAreaElement).value;
  if (!body.trim()) return;
  const out = await renderBody(body);
  clear(
    $("#edu-preview"),
    ...out.problems.map((p) => h("p", { class: "error" }, p)),
    safeFragment(out.html),
  );
}

async function save(ev: Event): Promise<void> {
  ev.preventDefault();
  try {
    const body = formBody();
    const saved = edu.editing
      ? await send("PUT", `${ITEMS}/${edu.editing.item_id}`, body)
      : await send("POST", ITEMS, body);
    show($("#edu-form"), false);
    edu.editing = null;
    await loadEducation();
    say(`${c("edu_saved")}: ${saved.title}`);
  } catch (err) {
    say(errorText(err));
  }
}

/** Wire the section (once, after login): ``grids`` gives the township's grids for the form. */
export async function startEducation(me: Me, grids: () => GridChoice[]): Promise<void> {
  edu.me = me;
  edu.grids = grids;
  show($("#edu-panel"), true);
  show($("#edu-new"), me.role !== "planner");
  $("#edu-new").addEventListener("click", () => openForm(null));
  $("#edu-cancel").addEventListener("click", () => {
    show($("#edu-form"), false);
    edu.editing = null;
  });
  $("#edu-preview-btn").addEventListener("click", () => void preview().catch((err) => say(errorText(err))));
  $("#edu-form").addEventListener("submit", (ev) => void save(ev));
  const filter = $("#edu-filter") as HTMLSelectElement;
  filter.addEventListener("change", () => {
    edu.filter = filter.value;
    void loadEducation().catch((err) => say(errorText(err)));
  });
  renderEducationFilter();
  try {
    await loadEducation();
  } catch (err) {
    say(errorText(err));
  }
}

export function renderEducationFilter(): void {
  const filter = document.querySelector<HTMLSelectElement>("#edu-filter");
  if (!filter) return;
  clear(
    filter,
    h("option", { value: "", selected: edu.filter === "" }, c("edu_all_states")),
    ...Object.keys(EDUCATION_STATES).map((s) => h("option", { value: s, selected: edu.filter === s }, label(EDUCATION_STATES, s))),
  );
}

/** Re-render in the current language. */
export function rerenderEducation(): void {
  renderEducationFilter();
  renderEducationList();
}
