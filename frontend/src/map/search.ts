// Search (/api/v1/search): towns, villages and grids by name or code; choosing one fits
// the map to it and opens its panel.
import { getJSON } from "../common/api";
import { $, clear, h, show } from "../common/dom";
import { t } from "../common/i18n";
import { levelName, reportError } from "./format";
import { openUnit } from "./panel";
import { map, type SearchHit } from "./state";

let searchTimer: number | undefined;

async function runSearch(q: string): Promise<void> {
  const list = $("#search-results");
  if (q.trim().length === 0) {
    show(list, false);
    return;
  }
  try {
    const { items } = await getJSON<{ items: SearchHit[] }>("/api/v1/search", { q: q.trim() });
    clear(
      list,
      ...(items.length === 0
        ? [h("li", { class: "muted" }, t("no_results"))]
        : items.slice(0, 20).map((hit) =>
            h(
              "li",
              {},
              h(
                "button",
                { type: "button", onclick: () => goTo(hit) },
                h("strong", {}, hit.name),
                " ",
                h("span", { class: "muted" }, `${levelName(hit.level)} ${hit.code}`),
              ),
            ),
          )),
    );
    show(list, true);
  } catch (err) {
    reportError(err);
  }
}

function goTo(hit: SearchHit): void {
  show($("#search-results"), false);
  if (hit.bbox && hit.bbox.length === 4) {
    map.fitBounds(hit.bbox, { padding: 60, maxZoom: 14 });
  } else if (hit.centroid) {
    map.flyTo({ center: [hit.centroid[0], hit.centroid[1]], zoom: 13 });
  }
  void openUnit(hit.level, hit.code);
}

/** The search box: typing searches after a pause; Escape or a click elsewhere closes the list. */
export function wireSearch(): void {
  const input = $("#search") as HTMLInputElement;
  input.addEventListener("input", () => {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(() => void runSearch(input.value), 250);
  });
  document.addEventListener("click", (ev) => {
    if (!$("#search-form").contains(ev.target as Node)) show($("#search-results"), false);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") show($("#search-results"), false);
  });
  $("#search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    void runSearch(input.value);
  });
}
