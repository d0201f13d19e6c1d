// Read mode: where the mail is tracked (or track it), create a case, and the people's cards.
import { api } from "./api.js";
import { renderCards } from "./cards.js";
import { el, section } from "./dom.js";
import { t } from "./i18n.js";
import { bodyText } from "./item.js";
import { recordPicker, targetOf } from "./picker.js";

function trackedTo(ctx, summary, refresh) {
  const links = ctx.tracking.links;
  if (!links.length) return null;
  return el("div", { class: "tracked", test: "tracked" },
    el("h3", {}, t("trackedTo")),
    el("ul", { class: "records" }, links.map((link) => {
      const untrack = el("button", { type: "button", class: "small", test: "untrack" }, t("untrack"));
      untrack.addEventListener("click", async () => {
        untrack.disabled = true;
        await api("/untrack", { method: "POST", body: {
          internet_message_id: summary.internet_message_id, target: targetOf(link) } });
        refresh();
      });
      const by = link.source === "user"
        ? t("trackedBy", { name: link.created_by || "" }) : t("trackedAuto");
      return el("li", { class: "record", test: "link" },
        el("div", {}, el("span", { class: "kind" }, t(link.type)), " ",
          el("span", { class: "name", test: "link-name" }, link.name)),
        el("div", { class: "muted small", test: "link-reason" }, `${link.reason} · ${by}`), untrack);
    })));
}

function trackSection(ctx, summary, refresh) {
  if (!summary.internet_message_id) return null;
  const track = async (record) => {
    await api("/track", { method: "POST", body: {
      internet_message_id: summary.internet_message_id, target: targetOf(record),
      item: { ...summary, mode: "read", internet_message_id: summary.internet_message_id } } });
    refresh();
  };
  return section(ctx.tracking.links.length ? t("tracking") : t("track"),
    trackedTo(ctx, summary, refresh), recordPicker(ctx.suggestions, t("trackAction"), track));
}

function caseForm(ctx, summary, item) {
  const sender = ctx.participants.find((c) => c.role === "from") || ctx.participants[0];
  const status = el("div", { class: "form-status", role: "status", test: "case-status" });
  const subject = el("input", { name: "subject", value: summary.subject, test: "case-subject" });
  const description = el("textarea", { name: "description", rows: "5", test: "case-description" });
  bodyText(item).then((text) => { description.value = text.slice(0, 2000); });
  const form = el("form", { class: "form", test: "case-form" },
    el("label", {}, t("subject"), subject), el("label", {}, t("description"), description),
    sender && sender.contact ? el("div", { class: "muted" }, t("caseContact", { name: sender.contact.name })) : null,
    sender && sender.account ? el("div", { class: "muted" }, t("caseAccount", { name: sender.account.name })) : null,
    el("button", { type: "submit", class: "primary", test: "save-case" }, t("createCase")), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const created = await api("/cases", { method: "POST", body: {
        subject: subject.value, description: description.value,
        contact_external_id: sender && sender.contact ? sender.contact.external_id : null,
        account_external_id: sender && sender.account ? sender.account.external_id : null,
        internet_message_id: summary.internet_message_id,
        item: summary.internet_message_id ? { ...summary, mode: "read" } : null } });
      status.textContent = t("caseCreated", { number: created.number });
    } catch (error) {
      status.textContent = t("saveFailed", { reason: error.message });
    }
  });
  return form;
}

function caseSection(ctx, summary, item) {
  const open = el("button", { type: "button", test: "create-case" }, t("createCase"));
  const holder = section(t("case"), open);
  open.addEventListener("click", () => open.replaceWith(caseForm(ctx, summary, item)));
  return holder;
}

export async function renderRead(pane, item, summary, refresh) {
  const ctx = await api("/context", { method: "POST", body: summary });
  pane.replaceChildren(renderCards(ctx.participants, refresh),
    ...[trackSection(ctx, summary, refresh), caseSection(ctx, summary, item)].filter(Boolean));
  return ctx;
}
