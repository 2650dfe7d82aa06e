// The log-in flow every page shares: the #login-form (username, password, #login-error),
// a session kept in this tab resumed on load, and a reload on log-out (which forgets the
// tokens: common/api.ts keeps them in sessionStorage). What happens once logged in - who
// the user is, where their role belongs, the page itself - is the page's own `start`.
import { ApiError, login, onLogout, resume } from "./api";
import { $, show } from "./dom";

export interface LoginPage {
  /** The "logging in…" text in the page's current language (read at each submit). */
  loggingIn: () => string;
  /** After a log-in or a resumed session: who am I, then the page (or a redirect). */
  start: () => Promise<void>;
  /** Show the log-in form (default: un-hide #login). */
  showLogin?: () => void;
  /** An error from `start` on a resumed session, other than a 401. */
  onError: (err: unknown) => void;
}

/** Submit of #login-form: get the tokens, clear the form, start the page. */
async function onLoginSubmit(ev: SubmitEvent, page: LoginPage): Promise<void> {
  ev.preventDefault();
  const form = ev.target as HTMLFormElement;
  const data = new FormData(form);
  const error = $("#login-error");
  error.textContent = page.loggingIn();
  try {
    await login(String(data.get("username") ?? "").trim(), String(data.get("password") ?? ""));
    error.textContent = "";
    form.reset();
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
  $("#login-form").addEventListener("submit", (ev) => void onLoginSubmit(ev as SubmitEvent, page));
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
  (page.showLogin ?? (() => show($("#login"), true)))();
}
