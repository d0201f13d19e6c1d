// A card per external participant: contact, account, deals, cases and history, or "not in CRM".
import { api } from "./api.js";
import { el, section } from "./dom.js";
import { formatAmount, formatDate, t } from "./i18n.js";
import { meetingsBlock } from "./meetings.js";

function contactLines(contact) {
  return el("div", { class: "lines" },
    contact.title ? el("div", { test: "contact-title" }, contact.title) : null,
    contact.phone ? el("div", { class: "muted" }, contact.phone) : null);
}

function opportunities(list) {
  if (!list.length) return null;
  return el("div", { class: "sub", test: "opportunities" }, el("h3", {}, t("openOpportunities")),
    el("ul", {}, list.map((o) => el("li", { test: "opportunity" },
      el("span", { class: "name" }, o.name),
      el("span", { class: "muted" }, ` · ${o.stage} · `),
      el("span", { test: "amount" }, formatAmount(o.amount)),
      o.close_date ? el("span", { class: "muted" }, ` · ${formatDate(o.close_date)}`) : null))));
}

// An agent's answer to a case, sent by crmsync from the support mailbox (the API decides
// who may answer). One key per form: a second click on Send is the same reply.
function replyForm(number) {
  const key = `pane-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const text = el("textarea", { name: "body", rows: "5", maxlength: "20000", required: true,
    "aria-label": t("replyBody", { number }), test: "reply-body" });
  const status = el("div", { class: "form-status", role: "alert", test: "reply-status" });
  const send = el("button", { type: "submit", class: "primary", test: "send-reply" }, t("sendReply"));
  const form = el("form", { class: "form", test: "reply-form" }, text, send, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    send.disabled = true;
    try {
      await api(`/cases/${encodeURIComponent(number)}/reply`, { method: "POST",
        body: { body: text.value, client_key: key } });
      text.disabled = true;
      status.textContent = t("replyQueued", { number });
    } catch (error) {
      send.disabled = false;
      status.textContent = t("replyFailed", { reason: error.message });
    }
  });
  return form;
}

function caseItem(c) {
  const reply = el("button", { type: "button", test: "case-reply" }, t("reply"));
  const item = el("li", { test: "case" }, el("span", { class: "mono" }, c.number), ` ${c.subject} `,
    el("span", { class: "badge" }, c.status), " ", reply);
  reply.addEventListener("click", () => {
    reply.replaceWith(replyForm(c.number));
    item.querySelector("textarea").focus();
  });
  return item;
}

function cases(list) {
  if (!list.length) return null;
  return el("div", { class: "sub", test: "cases" }, el("h3", {}, t("openCases")),
    el("ul", {}, list.map(caseItem)));
}

function timeline(list) {
  if (!list.length) return null;
  return el("div", { class: "sub", test: "timeline" }, el("h3", {}, t("recentActivity")),
    el("ul", {}, list.map((a) => el("li", { test: "timeline-item" },
      el("span", { class: "muted" }, `${formatDate(a.occurred_at)} · ${t(a.kind)} · `),
      el("span", {}, a.subject)))));
}

// Relationship signals of the card's account (what the rep may see): recency, frequency, quiet.
function signals(s) {
  if (!s) return null;
  const recency = s.days_since === null ? t("noExchange")
    : s.days_since === 0 ? t("lastExchangeToday") : t("lastExchange", { days: s.days_since });
  return el("div", { class: "muted small", test: "signals" },
    el("span", { test: "recency" }, recency), " · ",
    el("span", { test: "frequency" }, t("exchangeCounts", { mails: s.mails_90d, meetings: s.meetings_90d })),
    s.going_quiet ? el("span", { class: "badge overdue", test: "going-quiet" }, t("goingQuiet")) : null);
}

function contactForm(card, onCreated) {
  const p = card.prefill;
  const field = (name, label, value) => el("label", {}, label,
    el("input", { name, value: value || "", test: `new-${name}` }));
  const status = el("div", { class: "form-status", role: "alert" });
  const form = el("form", { class: "form", test: "contact-form" },
    field("first_name", t("firstName"), p.first_name), field("last_name", t("lastName"), p.last_name),
    field("email", t("emailAddress"), p.email), field("title", t("jobTitle"), ""),
    p.account ? el("div", { class: "muted" }, t("accountGuess", { account: p.account.name })) : null,
    el("button", { type: "submit", class: "primary", test: "save-contact" }, t("save")), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    try {
      await api("/contacts", { method: "POST", body: {
        ...data, account_external_id: p.account ? p.account.external_id : null } });
      onCreated();
    } catch (error) {
      status.textContent = t("saveFailed", { reason: error.message });
    }
  });
  return form;
}

export function renderCard(card, onChange) {
  const body = el("div", { class: "card-body" });
  const header = el("div", { class: "card-head" },
    el("div", { class: "avatar", "aria-hidden": "true" }, (card.name || card.address).slice(0, 1).toUpperCase()),
    el("div", {}, el("div", { class: "name", test: "card-name" }, card.name || card.address),
      el("div", { class: "muted small" }, card.address)));
  if (card.contact) {
    body.append(contactLines(card.contact));
  } else {
    const create = el("button", { type: "button", test: "create-contact" }, t("createContact"));
    create.addEventListener("click", () => create.replaceWith(contactForm(card, onChange)));
    body.append(el("div", { class: "not-in-crm", test: "not-in-crm" }, t("notInCrm")), create);
  }
  if (card.account) body.append(el("div", { test: "account" }, el("strong", {}, card.account.name)),
    signals(card.signals) || "");
  body.append(...[opportunities(card.opportunities), cases(card.cases), meetingsBlock(card),
    timeline(card.recent_activities)].filter(Boolean));
  return el("article", { class: "card", test: "card" }, header, body);
}

export function renderCards(cards, onChange) {
  if (!cards.length) return section(t("people"), el("p", { class: "muted" }, t("noExternal")));
  return section(t("people"), cards.map((c) => renderCard(c, onChange)));
}
