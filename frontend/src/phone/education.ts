// The phone page's "健康教育" screen for a family doctor (docs/health-education.md): the
// doctor's own items (`GET …/items?mine=true`, by state), a form to write one (title,
// Markdown body with the server's preview, target diseases, age band, validity dates),
// edit an own draft, submit it for review. Review and publishing are the centre's (its
// console). The item, the calls and the safe rebuilding of the service's HTML are shared
// with the console (common/education.ts).
import { ApiError, getJSON } from "../common/api";
import { $, clear, h, show } from "../common/dom";
import { EDU_ITEMS, renderBody, safeFragment, sendItem, type EduItem, type EduPage } from "../common/education";
import { label } from "../common/i18n";
import { DISEASES, EDUCATION_STATES } from "../common/vocabulary";
import { p } from "./text";

const edu = {
  started: false,
  items: [] as EduItem[],
  filter: "",
  editing: null as EduItem | null,
};

function say(message: string, kind: "ok" | "error" = "ok"): void {
  const el = $("#edu-message");
  el.textContent = message;
  el.classList.toggle("error", kind === "error");
}

function errorText(err: unknown): string {
  return err instanceof ApiError ? err.message : String(err instanceof Error ? err.message : err);
}

function localToday(): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
}

async function loadItems(): Promise<void> {
  const page = await getJSON<EduPage>(EDU_ITEMS, { mine: true, state: edu.filter, limit: 200 });
  edu.items = page.items;
  renderItems();
}

function band(item: EduItem): string {
  if (item.min_age === null && item.max_age === null) return p("edu_all_ages");
  return p("edu_ages", { from: item.min_age ?? 0, to: item.max_age ?? "" });
}

function itemCard(item: EduItem): HTMLElement {
  const act = (key: string, run: () => Promise<unknown>) =>
    h(
      "button",
      {
        type: "button",
        class: "btn",
        "data-action": key,
        onclick: () => {
          void run().catch((err) => say(errorText(err), "error"));
        },
      },
      p(`edu_${key}`),
    );
  const actions = h("div", { class: "actions" });
  if (item.state === "draft") {
    actions.append(
      act("edit", async () => openForm(await getJSON<EduItem>(`${EDU_ITEMS}/${item.item_id}`))),
      act("submit", async () => {
        const done = await sendItem("POST", `${EDU_ITEMS}/${item.item_id}/submit`);
        await loadItems();
        say(p("edu_submitted", { title: done.title }));
      }),
    );
  }
  actions.append(
    act("view", async () => {
      const full = await getJSON<EduItem>(`${EDU_ITEMS}/${item.item_id}`);
      const box = document.querySelector(`article.edu-item[data-item="${CSS.escape(item.item_id)}"] .edu-body`);
      if (box) clear(box, safeFragment(full.body_html ?? ""));
    }),
  );
  return h(
    "article",
    { class: `edu-item ${item.state}`, "data-item": item.item_id, "data-state": item.state },
    h(
      "header",
      {},
      h("strong", { class: "name" }, item.title),
      h("span", { class: "tag" }, label(EDUCATION_STATES, item.state)),
    ),
    h(
      "p",
      { class: "muted small" },
      [
        item.diseases.length ? item.diseases.map((d) => label(DISEASES, d)).join("、") : p("edu_everyone"),
        band(item),
        `${item.valid_from} – ${item.valid_to ?? ""}`,
      ].join(" · "),
    ),
    item.review_note ? h("p", { class: "note small" }, `${p("edu_note")}: ${item.review_note}`) : null,
    h("div", { class: "edu-body" }),
    actions,
  );
}

function renderItems(): void {
  const list = document.querySelector("#edu-list");
  if (!list) return;
  clear(list, ...(edu.items.length ? edu.items.map(itemCard) : [h("p", { class: "empty" }, p("edu_none"))]));
}

function renderFilter(): void {
  const filter = document.querySelector<HTMLSelectElement>("#edu-filter");
  if (!filter) return;
  clear(
    filter,
    h("option", { value: "", selected: edu.filter === "" }, p("edu_all_states")),
    ...Object.keys(EDUCATION_STATES).map((s) => h("option", { value: s, selected: edu.filter === s }, label(EDUCATION_STATES, s))),
  );
}

// ---------------------------------------------------------------------------------------
// The form
// ---------------------------------------------------------------------------------------
function field(name: string): HTMLInputElement {
  return $(`#edu-form [name=${name}]`) as HTMLInputElement;
}

function bodyField(): HTMLTextAreaElement {
  return $("#edu-form textarea[name=body]") as HTMLTextAreaElement;
}

function renderDiseases(chosen: string[]): void {
  clear(
    $("#edu-diseases"),
    ...Object.keys(DISEASES).map((d) =>
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", name: "disease", value: d, checked: chosen.includes(d) }),
        label(DISEASES, d),
      ),
    ),
  );
}

function openForm(item: EduItem | null): void {
  edu.editing = item;
  const form = $("#edu-form") as HTMLFormElement;
  form.reset();
  renderDiseases(item?.diseases ?? []);
  field("title").value = item?.title ?? "";
  bodyField().value = item?.body_markdown ?? "";
  field("min_age").value = item?.min_age?.toString() ?? "";
  field("max_age").value = item?.max_age?.toString() ?? "";
  field("valid_from").value = item?.valid_from ?? localToday();
  field("valid_to").value = item?.valid_to ?? "";
  $("#edu-form-title").textContent = item ? `${p("edu_edit")} · ${item.title}` : p("edu_new");
  clear($("#edu-preview"));
  say("");
  show(form, true);
  show($("#edu-new"), false);
  form.scrollIntoView({ block: "start" });
}

function closeForm(): void {
  show($("#edu-form"), false);
  show($("#edu-new"), true);
  edu.editing = null;
}

function formBody(): Record<string, unknown> {
  const age = (name: string) => (field(name).value === "" ? null : Number(field(name).value));
  return {
    title: field("title").value,
    body_markdown: bodyField().value,
    diseases: [...document.querySelectorAll<HTMLInputElement>("#edu-form input[name=disease]:checked")].map((i) => i.value),
    min_age: age("min_age"),
    max_age: age("max_age"),
    // No grids: a doctor's item reaches every grid of the team's township (the centre may
    // narrow it in its console before publishing).
    grids: edu.editing?.grids ?? [],
    valid_from: field("valid_from").value,
    valid_to: field("valid_to").value || null,
  };
}

async function preview(): Promise<void> {
  const body = bodyField().value;
  if (!body.trim()) return;
  const out = await renderBody(body);
  clear($("#edu-preview"), ...out.problems.map((x) => h("p", { class: "error" }, x)), safeFragment(out.html));
}

async function save(ev: Event): Promise<void> {
  ev.preventDefault();
  const button = $("#edu-form button[type=submit]") as HTMLButtonElement;
  button.disabled = true;
  try {
    const body = formBody();
    const saved = edu.editing
      ? await sendItem("PUT", `${EDU_ITEMS}/${edu.editing.item_id}`, body)
      : await sendItem("POST", EDU_ITEMS, body);
    closeForm();
    await loadItems();
    say(p("edu_saved", { title: saved.title }));
  } catch (err) {
    say(errorText(err), "error");
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------
/** Wire the screen (once) and load the doctor's items; later calls reload them. */
export async function showEducation(): Promise<void> {
  if (!edu.started) {
    edu.started = true;
    $("#edu-new").addEventListener("click", () => openForm(null));
    $("#edu-cancel").addEventListener("click", closeForm);
    $("#edu-preview-btn").addEventListener("click", () => void preview().catch((err) => say(errorText(err), "error")));
    $("#edu-form").addEventListener("submit", (ev) => void save(ev));
    const filter = $("#edu-filter") as HTMLSelectElement;
    filter.addEventListener("change", () => {
      edu.filter = filter.value;
      void loadItems().catch((err) => say(errorText(err), "error"));
    });
    renderFilter();
  }
  try {
    await loadItems();
  } catch (err) {
    say(errorText(err), "error");
  }
}

/** Re-render in the current language. */
export function rerenderEducation(): void {
  if (!edu.started) return;
  renderFilter();
  renderItems();
  if (!$("#edu-form").classList.contains("hidden")) {
    const chosen = [...document.querySelectorAll<HTMLInputElement>("#edu-form input[name=disease]:checked")].map((i) => i.value);
    renderDiseases(chosen);
    $("#edu-form-title").textContent = edu.editing ? `${p("edu_edit")} · ${edu.editing.title}` : p("edu_new");
  }
}
