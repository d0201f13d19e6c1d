// Compose and appointment modes: track on send / link a meeting, reply templates, cards.
import { api } from "./api.js";
import { renderCards } from "./cards.js";
import { el, section } from "./dom.js";
import { locale, t } from "./i18n.js";
import { TRACK_HEADER, insertText, meetingIds, readHeader, writeHeader } from "./item.js";
import { recordPicker, targetOf } from "./picker.js";

// Compose: the choice is stored as an intent and its token written into the draft's
// X-CRMSync-Track header (Mailbox 1.8), so the sent copy is tracked on any mail system;
// the conversation id still names it for Graph/EWS when the header cannot be set.
function trackOnSendSection(ctx, summary, item) {
  const status = el("div", { class: "form-status", role: "status", test: "intent-status" });
  let token = null;
  const pick = async (record) => {
    try {
      token = token || await readHeader(item, TRACK_HEADER);
      const intent = await api("/track-on-send", { method: "POST", body: {
        conversation_id: summary.conversation_id || null, send_token: token,
        target: targetOf(record) } });
      token = intent.send_token;
      const written = intent.header ? await writeHeader(item, intent.header, token) : false;
      if (!written && !summary.conversation_id) throw new Error(t("headerUnsupported"));
      status.textContent = t("willTrack", { name: record.name });
    } catch (error) {
      status.textContent = t("saveFailed", { reason: error.message });
    }
  };
  return section(t("trackOnSend"), recordPicker(ctx.suggestions, t("choose"), pick), status);
}

function linkedList(links) {
  return el("ul", { class: "records", test: "meeting-links" }, links.map((link) =>
    el("li", { class: "record", test: "link" },
      el("div", {}, el("span", { class: "kind" }, t(link.type)), " ",
        el("span", { class: "name", test: "link-name" }, link.name)),
      el("div", { class: "muted small", test: "link-reason" }, link.reason))));
}

// Appointment: linked now when crmsync holds the meeting, else when it is synced.
function meetingSection(ctx, item) {
  const status = el("div", { class: "form-status", role: "status", test: "intent-status" });
  let list = linkedList(ctx.tracking.links);
  const pick = async (record) => {
    try {
      const ids = await meetingIds(item);
      if (!ids.item_id) throw new Error(t("saveDraftFirst"));
      const answer = await api("/meetings/link", { method: "POST", body: {
        ...ids, target: targetOf(record) } });
      const key = answer.linked ? "meetingLinked" : "meetingPending";
      status.textContent = t(key, { name: answer.target.name });
      if (answer.linked) {
        const next = linkedList(answer.links);
        list.replaceWith(next);
        list = next;
      }
    } catch (error) {
      status.textContent = t("saveFailed", { reason: error.message });
    }
  };
  return section(t("linkMeeting"), list, recordPicker(ctx.suggestions, t("choose"), pick), status);
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
  pane.replaceChildren(trackOnSendSection(ctx, summary, item), templates,
    renderCards(ctx.participants, refresh));
  return ctx;
}

export async function renderAppointment(pane, item, summary, refresh) {
  const ctx = await api("/context", { method: "POST", body: summary });
  pane.replaceChildren(meetingSection(ctx, item),
    renderCards(ctx.participants, refresh));
  return ctx;
}
