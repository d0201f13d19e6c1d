// Meetings booked in the CRM from a contact's card: "Book a meeting" (the contact attends,
// the record is linked, nobody is invited unless the box is ticked) and the record's
// upcoming booked meetings, each with "Cancel". The next sync of the rep's mailbox writes
// them to the calendar (crmsync/sync_service/engine/calendar_writeback.py).
import { api } from "./api.js";
import { el } from "./dom.js";
import { locale, t } from "./i18n.js";

function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(date);
}

// The record the card stands for: its contact, else its account.
function recordOf(card) {
  if (card.contact) return { type: "contact", external_id: card.contact.external_id };
  if (card.account) return { type: "account", external_id: card.account.external_id };
  return null;
}

function linksOf(card) {
  return [card.contact && { type: "contact", external_id: card.contact.external_id },
    card.account && { type: "account", external_id: card.account.external_id }].filter(Boolean);
}

// A datetime-local value (the rep's wall-clock time) as ISO 8601 with its zone.
function isoOf(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}

// An ISO time as a datetime-local value in the rep's zone.
function localValue(iso) {
  const date = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// Move: new start and end for the whole meeting (PATCH; the calendar follows at the next sync).
function moveForm(meeting, onMoved) {
  const start = el("input", { type: "datetime-local", name: "start", required: true,
    value: localValue(meeting.start), test: "move-start" });
  const end = el("input", { type: "datetime-local", name: "end", required: true,
    value: localValue(meeting.end), test: "move-end" });
  const status = el("div", { class: "form-status", role: "alert", test: "move-status" });
  const save = el("button", { type: "submit", class: "primary", test: "move-save" }, t("moveMeetingSave"));
  const form = el("form", { class: "form", test: "move-form" },
    el("label", {}, t("meetingStart"), start), el("label", {}, t("meetingEnd"), end), save, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    try {
      await api(`/meetings/${encodeURIComponent(meeting.id)}`, { method: "PATCH",
        body: { start: isoOf(start.value), end: isoOf(end.value) } });
      onMoved();
    } catch (error) {
      save.disabled = false;
      status.textContent = t("saveFailed", { reason: error.message });
    }
  });
  return form;
}

function entry(meeting, list, reload) {
  const move = el("button", { type: "button", class: "small", test: "move-meeting" }, t("moveMeeting"));
  const cancel = el("button", { type: "button", class: "small", test: "cancel-meeting" }, t("cancelMeeting"));
  const item = el("li", { class: "record", test: "booked-meeting", "data-id": meeting.id },
    el("div", { class: "name", test: "booked-subject" }, meeting.subject),
    el("div", { class: "muted small", test: "booked-when" }, when(meeting.start)), move, " ", cancel);
  move.addEventListener("click", () => {
    move.hidden = true;
    item.append(moveForm(meeting, reload));
  });
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await api(`/meetings/${encodeURIComponent(meeting.id)}`, { method: "DELETE" });
      item.remove();
      list.dispatchEvent(new Event("changed"));
    } catch (error) {
      cancel.disabled = false;
      item.append(el("div", { class: "error", role: "alert", test: "cancel-error" },
        t("saveFailed", { reason: error.message })));
    }
  });
  return item;
}

function bookingForm(card, onBooked) {
  const field = (name, label, type, extra = {}) => el("label", {}, label,
    el("input", { name, type, required: true, test: `meeting-${name}`, ...extra }));
  const invite = el("input", { type: "checkbox", name: "invite", test: "meeting-invite" });
  const status = el("div", { class: "form-status", role: "alert", test: "meeting-status" });
  const book = el("button", { type: "submit", class: "primary", test: "book-meeting-save" }, t("bookMeetingSave"));
  const form = el("form", { class: "form", test: "meeting-form" },
    field("subject", t("subject"), "text", { maxlength: "500" }),
    field("start", t("meetingStart"), "datetime-local"),
    field("end", t("meetingEnd"), "datetime-local"),
    el("div", { class: "muted small" }, t("meetingWith", { address: card.address })),
    el("label", { class: "check" }, invite, " ", t("meetingInvite")), book, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    book.disabled = true;
    try {
      await api("/meetings", { method: "POST", body: {
        subject: data.subject, start: isoOf(data.start), end: isoOf(data.end),
        attendees: [card.address], links: linksOf(card), invite: invite.checked } });
      form.remove();
      onBooked();
    } catch (error) {
      book.disabled = false;
      status.textContent = t("saveFailed", { reason: error.message });
    }
  });
  return form;
}

// The card's meetings block: filled once the list arrives (the card shows at once).
export function meetingsBlock(card) {
  const record = recordOf(card);
  if (!record) return null;
  const list = el("ul", { class: "records", test: "booked-meetings" });
  const open = el("button", { type: "button", test: "book-meeting" }, t("bookMeeting"));
  const block = el("div", { class: "sub", test: "meetings" }, el("h3", {}, t("bookedMeetings")), list, open);
  const load = async () => {
    try {
      const { meetings } = await api("/meetings", { query: record });
      list.replaceChildren(...meetings.map((m) => entry(m, list, load)));
    } catch (error) {
      list.replaceChildren(el("li", { class: "error", role: "alert" }, t("saveFailed", { reason: error.message })));
    }
    block.dataset.loaded = "1";
  };
  open.addEventListener("click", () => {
    const form = bookingForm(card, () => { open.hidden = false; load(); });
    open.hidden = true;
    open.after(form);
    form.querySelector("input").focus();
  });
  load();
  return block;
}
