// Follow-ups: the rep's customer mail waiting for an answer, at the top of the pane.
import { api } from "./api.js";
import { el, section } from "./dom.js";
import { locale, t } from "./i18n.js";

function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(date);
}

function entry(followup, list) {
  const dismiss = el("button", { type: "button", class: "small", test: "no-reply-needed" },
    t("noReplyNeeded"));
  const item = el("li", { class: "record", test: "followup", "data-id": followup.id },
    el("div", { class: "name", test: "followup-subject" }, followup.mail.subject),
    el("div", { class: "muted small" },
      el("span", { test: "followup-contact" }, followup.contact.name || followup.contact.email),
      followup.account ? ` · ${followup.account.name}` : "",
      followup.opportunity ? ` · ${followup.opportunity.name}` : ""),
    el("div", { class: "small overdue", test: "followup-due" }, t("replyWasDue", { when: when(followup.due) })),
    dismiss);
  dismiss.addEventListener("click", async () => {
    dismiss.disabled = true;
    try {
      await api(`/followups/${encodeURIComponent(followup.id)}/dismiss`, { method: "POST" });
      item.remove();
      if (!list.children.length) list.closest("section").remove();
    } catch (error) {
      dismiss.disabled = false;
      item.append(el("div", { class: "error", role: "alert" }, t("saveFailed", { reason: error.message })));
    }
  });
  return item;
}

// The section, or null when nothing waits (the pane then starts with the item's view).
export async function renderFollowups() {
  const { followups } = await api("/followups");
  if (!followups.length) return null;
  const list = el("ul", { class: "records" });
  list.append(...followups.map((f) => entry(f, list)));
  const box = section(t("followups", { count: followups.length }), list);
  box.dataset.test = "followups";
  return box;
}
