// Words and numbers of the page: indicator and level names in the current language,
// values (rates as per cent), counts, suppression reasons, and the status line.
import { ApiError } from "../common/api";
import { $ } from "../common/dom";
import { currentLang, isTerm, label, t } from "../common/i18n";
import { HOTSPOT_INDICATORS, INDICATORS, LEVELS, SUPPRESSION_REASONS, type Label } from "../common/vocabulary";
import { state } from "./state";

/** Every indicator's labels: the built ones and the hotspot ones. */
const INDICATOR_LABELS: Readonly<Record<string, Label>> = { ...INDICATORS, ...HOTSPOT_INDICATORS };

export function indicatorName(code: string): string {
  if (isTerm(INDICATOR_LABELS, code)) return label(INDICATOR_LABELS, code);
  // An indicator newer than this build: the service's own names.
  const def = state.meta?.indicators.find((d) => d.code === code);
  if (!def) return code;
  return (currentLang() === "zh" ? def.name_zh : def.name_en) || def.name_zh || def.name_en || code;
}

/** Rates and shares (scale 1) are fractions shown as per cent; per-1000 ones as they are. */
function isRate(code: string): boolean {
  const def = state.meta?.indicators.find((d) => d.code === code);
  if (def?.scale !== undefined) return def.scale === 1;
  return /_(rate|share)$/.test(code);
}

export function formatValue(code: string, v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  if (code === "health_index") return v.toFixed(1);
  return isRate(code) ? `${(v * 100).toFixed(1)}%` : v.toFixed(2);
}

/** Counts: whole numbers as they are, estimates (population × prevalence) to one decimal. */
export function formatCount(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  return Math.abs(v - Math.round(v)) < 1e-9 ? String(Math.round(v)) : v.toFixed(1);
}

export function levelName(level: string): string {
  return label(LEVELS, level);
}

/** Why a row shows no value, in words (the generic "suppressed" when the API says not). */
export function suppressionText(reason: string | null | undefined): string {
  return reason ? label(SUPPRESSION_REASONS, reason) : t("suppressed");
}

export function setStatus(message: string): void {
  $("#status").textContent = message;
}

export function reportError(err: unknown): void {
  if (err instanceof ApiError) setStatus(`${t("error")}: ${err.message}`);
  else if (err instanceof Error) setStatus(`${t("error")}: ${err.message}`);
}
