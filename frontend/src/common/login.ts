// The log-in flow every page shares: the #login-form (username, password, #login-error),
// a session kept in this tab resumed on load, and a reload on log-out (which forgets the
// tokens: common/api.ts keeps them in sessionStorage). What happens once logged in - who
// the user is, where their role belongs, the page itself - is the page's own `start`.
//
// A province deployment (docs/province.md) holds several counties: when GET
// /api/v1/counties lists more than one, the form gets a county picker and the log-in goes
// to that county (POST /auth/token?county=370725). A single county's form is unchanged.
import { ApiError, counties, login, onLogout, resume, type County } from "./api";
import { $, h, show } from "./dom";
import { currentLang, onLangChange } from "./i18n";
import "./login.css";

export interface LoginPage {
  /** The "logging in…" text in the page's current language (read at each submit). */
  loggingIn: () => string;
  /** After a log-in or a resumed session: who am I, then the page (or a redirect). */
  start: () => Promise<void>;
  /** Show the log-in form (default: un-hide #login). */
  showLogin?: () => void;
  /** An error from `start` on a resumed session, other than a 401. */
  onError: (err: unknown) => void;
  /**
   * Offer the county picker when the deployment has several counties (default true).
   * The province page logs in to the deployment itself and says false.
   */
  countyPicker?: boolean;
}

const PICKER_TEXT = {
  county: { zh: "所属县（市、区）", en: "County" },
  choose: { zh: "请选择", en: "Choose…" },
};
/** The county chosen last on this browser (not personal: a county code). */
const LAST_COUNTY_KEY = "healthmap.county";

function pickerText(key: keyof typeof PICKER_TEXT): string {
  return PICKER_TEXT[key][currentLang()];
}

/** The county picker, before #login-error, when there are several counties (else null). */
function addCountyPicker(list: County[]): HTMLSelectElement | null {
  if (list.length <= 1) return null;
  let last = "";
  try {
    last = localStorage.getItem(LAST_COUNTY_KEY) ?? "";
  } catch {
    /* storage blocked: no default */
  }
  const code6 = (c: County) => c.county_code.slice(0, 6);
  const placeholder = h("option", { value: "", disabled: true, selected: !list.some((c) => code6(c) === last) }, pickerText("choose"));
  const select = h(
    "select",
    { name: "county", required: true, id: "login-county" },
    placeholder,
    ...list.map((c) =>
      h("option", { value: code6(c), selected: code6(c) === last }, c.city_name ? `${c.name}（${c.city_name}）` : c.name),
    ),
  );
  const caption = h("span", {}, pickerText("county"));
  const field = h("label", { class: "login-county" }, caption, " ", select);
  onLangChange(() => {
    caption.textContent = pickerText("county");
    placeholder.textContent = pickerText("choose");
  });
  $("#login-form").insertBefore(field, $("#login-error"));
  return select;
}

/** Submit of #login-form: get the tokens, clear the form, start the page. */
async function onLoginSubmit(ev: SubmitEvent, page: LoginPage, picker: HTMLSelectElement | null): Promise<void> {
  ev.preventDefault();
  const form = ev.target as HTMLFormElement;
  const data = new FormData(form);
  const error = $("#login-error");
  const county = picker ? picker.value : "";
  error.textContent = page.loggingIn();
  try {
    await login(String(data.get("username") ?? "").trim(), String(data.get("password") ?? ""), county || undefined);
    error.textContent = "";
    form.reset();
    if (picker && county) {
      picker.value = county; // reset() empties it; the next log-in on this tab is likely the same
      try {
        localStorage.setItem(LAST_COUNTY_KEY, county);
      } catch {
        /* storage blocked */
      }
    }
    await page.start();
  } catch (err) {
    // The service's problem detail (wrong password, locked account) as it says it.
    error.textContent = err instanceof Error ? err.message : String(err);
  }
}

/**
 * Wire the log-in form and log-out, then start the page on a session kept in this tab,
 * or show the log-in form. Call once, after the page's own wiring.
 */
export async function setUpLogin(page: LoginPage): Promise<void> {
  // Asked at once, beside the resumed session's start; the form is shown only once its
  // picker is in place (it must not change under the user's hands).
  const pickerReady = page.countyPicker === false ? Promise.resolve(null) : counties().then(addCountyPicker);
  let picker: HTMLSelectElement | null = null;
  $("#login-form").addEventListener("submit", (ev) => void onLoginSubmit(ev as SubmitEvent, page, picker));
  onLogout(() => location.reload());
  if (await resume()) {
    try {
      await page.start();
      return;
    } catch (err) {
      // A 401 has already logged out, and the log-out reloads the page.
      if (!(err instanceof ApiError && err.status === 401)) page.onError(err);
    }
  }
  picker = await pickerReady;
  (page.showLogin ?? (() => show($("#login"), true)))();
}
