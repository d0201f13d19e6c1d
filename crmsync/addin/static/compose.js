// Compose and appointment modes: track on send / link a meeting, reply templates, cards.
import { api } from "./api.js";
import { renderCards } from "./cards.js";
import { el, section } from "./dom.js";
import { locale, t } from "./i18n.js";
import { insertText } from "./item.js";
import { recordPicker, targetOf } from "./picker.js";

function intentSection(ctx, summary, title, doneKey) {
  const status = el("div", { class: "form-status", role: "status", test: "intent-status" });
  const pick = async (record) => {
    try {
      await api("/track-on-send", { method: "POST", body: {
        conversation_id: summary.conversation_id || null, item_id: summary.item_id || null,
        target: targetOf(record) } });
      status.textContent = t(doneKey, { name: record.name });
    } catch (error) {
      status.textContent = t("saveFailed", { reason: error.message });
    }
  };
  if (!summary.conversation_id && !summary.item_id) {
    return section(title, el("p", { class: "muted" }, t("saveDraftFirst")));
  }
  return section(title, recordPicker(ctx.suggestions, t("choose"), pick), status);
}

function templateRow(template, item) {
  const status = el("span", { class: "muted small", role: "status" });
  const insert = el("button", { type: "button", class: "small", test: "insert-template" }, t("insert"));
  insert.addEventListener("click", async () => {
    await insertText(item, template.body);
    status.textContent = t("inserted");
  });
  return el("li", { class: "record", test: "template" },
    el("div", { class: "name", test: "template-name" }, template.name),
    template.matched.length
      ? el("div", { class: "small fits", test: "template-fits" }, t("fits", { words: template.matched.join(", ") }))
      : null,
    el("div", { class: "muted small excerpt" }, template.body.slice(0, 140)), insert, status);
}

async function templateSection(summary, item) {
  const recipient = summary.to[0] || summary.from || null;
  const data = await api("/templates", { query: Object.fromEntries(Object.entries({
    subject: summary.subject, address: recipient ? recipient.address : "",
    internet_message_id: summary.internet_message_id || "", language: locale,
  }).filter(([, v]) => v)) });
  return section(t("templates"), data.templates.length
    ? el("ul", { class: "records", test: "templates" }, data.templates.map((x) => templateRow(x, item)))
    : el("p", { class: "muted" }, t("noTemplates")));
}

export async function renderCompose(pane, item, summary, refresh) {
  const [ctx, templates] = await Promise.all([
    api("/context", { method: "POST", body: summary }), templateSection(summary, item)]);
  pane.replaceChildren(intentSection(ctx, summary, t("trackOnSend"), "willTrack"), templates,
    renderCards(ctx.participants, refresh));
  return ctx;
}

export async function renderAppointment(pane, item, summary, refresh) {
  const ctx = await api("/context", { method: "POST", body: summary });
  pane.replaceChildren(intentSection(ctx, summary, t("linkMeeting"), "meetingLinked"),
    renderCards(ctx.participants, refresh));
  return ctx;
}
