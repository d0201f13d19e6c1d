// Choose a record: the suggested ones first (each with its reason), or search for any.
import { api } from "./api.js";
import { el } from "./dom.js";
import { t } from "./i18n.js";

function recordRow(record, actionLabel, onPick) {
  const button = el("button", { type: "button", class: "small", test: "pick" }, actionLabel);
  button.addEventListener("click", () => { button.disabled = true; onPick(record); });
  return el("li", { class: "record", test: "record" },
    el("div", {}, el("span", { class: "kind" }, t(record.type)), " ",
      el("span", { class: "name", test: "record-name" }, record.name)),
    record.reason ? el("div", { class: "muted small", test: "reason" }, record.reason) : null,
    button);
}

export function recordPicker(suggestions, actionLabel, onPick) {
  const results = el("ul", { class: "records", test: "search-results" });
  const input = el("input", { type: "search", placeholder: t("searchPlaceholder"), test: "search",
    "aria-label": t("searchPlaceholder") });
  const form = el("form", { class: "search", role: "search" }, input,
    el("button", { type: "submit", class: "small" }, t("search")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    results.replaceChildren(el("li", { class: "muted" }, t("loading")));
    try {
      const data = await api("/search", { query: { q } });
      results.replaceChildren(...(data.results.length
        ? data.results.map((r) => recordRow(r, actionLabel, onPick))
        : [el("li", { class: "muted" }, t("noResults"))]));
    } catch (error) {
      results.replaceChildren(el("li", { class: "error" }, error.message));
    }
  });
  return el("div", { class: "picker" },
    suggestions.length ? el("h3", {}, t("suggested")) : null,
    el("ul", { class: "records", test: "suggestions" }, suggestions.map((s) => recordRow(s, actionLabel, onPick))),
    form, results);
}

export function targetOf(record) {
  return { type: record.type, external_id: record.external_id };
}
