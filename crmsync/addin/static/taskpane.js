// The task pane: waits for Office, signs in, and shows the mode's view with clear states.
import { ApiError, getToken } from "./api.js";
import { renderFollowups } from "./followups.js";
import { storeKey } from "./auth.js";
import { renderAppointment, renderCompose } from "./compose.js";
import { loadStrings, t } from "./i18n.js";
import { detectMode, summarize } from "./item.js";
import { renderRead } from "./read.js";

const $ = (id) => document.getElementById(id);
const VIEWS = { read: renderRead, compose: renderCompose, appointment: renderAppointment };

function setState(state, text, canRetry = false) {
  const box = $("state");
  box.dataset.state = state;
  box.hidden = state === "ready";
  $("state-text").textContent = text;
  $("retry").hidden = !canRetry;
  $("key-form").hidden = state !== "signed-out"; // without SSO: a per-user API key
  $("pane").hidden = state !== "ready";
}

function describe(error) {
  if (error instanceof ApiError && error.kind === "offline") return ["offline", t("offline")];
  if (error instanceof ApiError && error.kind === "auth") return ["signed-out", t("signedOut")];
  return ["error", t("error", { reason: error.message || String(error) })];
}

async function show() {
  const mailbox = Office.context.mailbox;
  const item = mailbox && mailbox.item;
  const requested = new URLSearchParams(location.search).get("mode");
  delete document.body.dataset.ready;
  if (!item) return setState("empty", t("noItem"));
  setState("loading", t("loading"));
  try {
    await getToken();
    const mode = detectMode(item, requested);
    const summary = await summarize(item, mode);
    // the rep's unanswered customer mail, asked for beside the item's view and shown
    // first; its failure never hides the view
    const followups = renderFollowups().catch(() => null);
    const ctx = await VIEWS[mode]($("pane"), item, summary, show);
    const waiting = await followups;
    if (waiting) $("pane").prepend(waiting);
    $("who").textContent = ctx.user.name;
    setState("ready", "");
    document.body.dataset.ready = "1";
  } catch (error) {
    const [state, text] = describe(error);
    setState(state, text, true);
  }
}

window.addEventListener("online", () => { if ($("state").dataset.state === "offline") show(); });

if (typeof Office === "undefined") {
  // Office.js did not load: no network, or the page was opened outside Outlook.
  setState("offline", "Office.js could not be loaded: open crmsync from Outlook, or check the connection.");
} else Office.onReady(async () => {
  await loadStrings(Office.context.displayLanguage);
  $("retry").textContent = t("retry");
  $("retry").addEventListener("click", show);
  $("key-label").textContent = t("apiKey");
  $("key-save").textContent = t("useKey");
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    $("key-input").value = "";
    if (key) storeKey(key);
    show();
  });
  show();
});
