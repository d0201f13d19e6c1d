// Strings in the mailbox's display language (Office.context.displayLanguage), English fallback.
const SUPPORTED = ["en", "zh-CN"];
let strings = {};
let fallback = {};
export let locale = "en";

export function pickLanguage(displayLanguage) {
  const tag = String(displayLanguage || "en").toLowerCase();
  if (tag.startsWith("zh")) return "zh-CN";
  return SUPPORTED.includes(tag) ? tag : "en";
}

async function load(lang) {
  const response = await fetch(`/addin/static/i18n/${lang}.json`);
  return response.ok ? response.json() : {};
}

export async function loadStrings(displayLanguage) {
  locale = pickLanguage(displayLanguage);
  fallback = await load("en");
  strings = locale === "en" ? fallback : await load(locale);
  document.documentElement.lang = locale;
}

export function t(key, vars = {}) {
  const text = strings[key] ?? fallback[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

export function formatDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : new Intl.DateTimeFormat(locale, { dateStyle: "medium" }).format(date);
}

export function formatAmount(amount) {
  if (amount === null || amount === undefined) return t("hidden");
  const value = Number(amount);
  return Number.isNaN(value) ? String(amount) : new Intl.NumberFormat(locale).format(value);
}
