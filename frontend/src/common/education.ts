// Health education's pieces shared by the centre's console (console/education.ts) and the
// family doctor's phone page (phone/education.ts): the item as the API answers it, the
// API's calls, and the safe rebuilding of the service's rendered HTML
// (docs/health-education.md).
//
// The preview and an item's body are HTML rendered and sanitised by the service. They are
// still not put in with innerHTML: parsed into an inert document and rebuilt from an
// allow-list of tags, with only in-app links kept (belt and braces).
import { postJSON, request } from "./api";

export interface EduItem {
  item_id: string;
  title: string;
  state: string;
  diseases: string[];
  min_age: number | null;
  max_age: number | null;
  grids: string[];
  town_code: string | null;
  valid_from: string;
  valid_to: string | null;
  author_username: string;
  reviewer_username: string | null;
  review_note: string | null;
  body_markdown?: string;
  body_html?: string;
}

export interface EduPage {
  total: number;
  items: EduItem[];
}

/** The items' collection (`…/{item_id}`, `…/{item_id}/submit`, …). */
export const EDU_ITEMS = "/api/v1/education/items";

const TAGS = new Set([
  "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code", "pre",
  "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
]);

/** Safe DOM from the service's sanitised HTML (only allowed tags, only in-app links). */
export function safeFragment(html: string): DocumentFragment {
  const doc = new DOMParser().parseFromString(`<div>${html}</div>`, "text/html");
  const out = document.createDocumentFragment();
  const copy = (from: Node, to: Node): void => {
    from.childNodes.forEach((n) => {
      if (n.nodeType === Node.TEXT_NODE) {
        to.appendChild(document.createTextNode(n.textContent ?? ""));
      } else if (n.nodeType === Node.ELEMENT_NODE) {
        const tag = (n as Element).tagName.toLowerCase();
        if (!TAGS.has(tag)) {
          copy(n, to); // unknown tag: keep its text only
          return;
        }
        const el = document.createElement(tag);
        const href = (n as Element).getAttribute("href");
        if (tag === "a" && href && /^(\/(?!\/)|#)/.test(href)) el.setAttribute("href", href);
        to.appendChild(el);
        copy(n, el);
      }
    });
  };
  copy(doc.body.firstChild ?? doc.body, out);
  return out;
}

/** A write of an item (create, edit, a workflow step): the item as it is now. */
export async function sendItem(method: string, path: string, body?: unknown): Promise<EduItem> {
  const res = await request(path, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await res.json()) as EduItem;
}

/** The server's preview of a Markdown body: its safe HTML and what saving would refuse. */
export function renderBody(markdown: string): Promise<{ html: string; problems: string[] }> {
  return postJSON<{ html: string; problems: string[] }>("/api/v1/education/render", { body_markdown: markdown });
}
