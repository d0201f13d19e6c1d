// The preview page plays Outlook: it picks a stored message and hosts the pane in an
// iframe; the pane's Office.js stand-in (office-standin.js) reads window.crmsyncHost.
const data = JSON.parse(document.getElementById("preview-data").textContent);
const $ = (id) => document.getElementById(id);
let messages = [];
// What each "Outlook" of the picker supports (Office.context.requirements.isSetSupported).
const OUTLOOKS = {
  current: { Mailbox: 1.8 },
  older: { Mailbox: 1.7 },
};

function person(p) {
  return p ? (p.name ? `${p.name} <${p.address}>` : p.address) : "";
}

function current() {
  return messages[Number($("message-picker").value) || 0] || null;
}

function showMessage(message) {
  $("mail-subject").textContent = message ? message.subject : "(no stored mail)";
  $("mail-from").textContent = message ? person(message.from) : "";
  $("mail-to").textContent = message ? message.to.map(person).join(", ") : "";
  $("mail-body").textContent = message ? message.body_excerpt : "";
  if (message) {
    const reply = message.from || { address: "", name: "" };
    $("compose-to").value = reply.address;
    $("compose-subject").value = message.subject.startsWith("RE:") ? message.subject : `RE: ${message.subject}`;
    $("compose-body").value = "";
  }
}

function parseRecipients(text) {
  return text.split(/[;,]/).map((s) => s.trim()).filter(Boolean)
    .map((address) => ({ address, name: "" }));
}

function insertIntoBody(text) {
  const area = $("compose-body");
  const start = area.selectionStart ?? area.value.length;
  const end = area.selectionEnd ?? start;
  area.value = area.value.slice(0, start) + text + area.value.slice(end);
  area.selectionStart = area.selectionEnd = start + text.length;
}

function showHeaders(headers) {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  $("compose-headers").textContent = lines.join("\n") || "(none)";
}

function loadPane() {
  const mode = $("mode-picker").value;
  $("reading").hidden = mode === "compose";
  $("composing").hidden = mode !== "compose";
  showHeaders({});
  // The pane signs in with this user's API key (no SSO outside Outlook), from the
  // same-origin sessionStorage the pane reads (auth.js).
  sessionStorage.setItem("crmsync.apiKey", data.token);
  window.crmsyncHost = {
    user: data.user,
    mode,
    displayLanguage: $("lang-picker").value,
    requirements: OUTLOOKS[$("outlook-picker").value] || OUTLOOKS.current,
    item: current(),
    compose: {
      to: () => parseRecipients($("compose-to").value),
      subject: () => $("compose-subject").value,
      body: () => $("compose-body").value,
      insert: insertIntoBody,
      // the draft's internet headers (item.internetHeaders), shown as Outlook would send them
      headers: {},
      onHeaders: showHeaders,
    },
  };
  const modeParam = mode === "appointment" ? "appointment" : mode;
  $("pane").src = `/addin/taskpane.html?office=standin&mode=${modeParam}`;
}

async function start() {
  $("signed-in").textContent = `${data.user.name} <${data.user.email}>`;
  $("lang-picker").value = data.lang === "zh-CN" ? "zh-CN" : "en-US";
  $("mode-picker").value = ["read", "compose", "appointment"].includes(data.mode) ? data.mode : "read";
  $("outlook-picker").value = data.outlook in OUTLOOKS ? data.outlook : "current";
  const query = new URLSearchParams({ limit: "50" });
  if (data.message) query.set("internet_message_id", data.message);
  const response = await fetch(`/api/v1/messages?${query}`, {
    headers: { Authorization: `Bearer ${data.token}` },
  });
  messages = response.ok ? (await response.json()).messages : [];
  const picker = $("message-picker");
  messages.forEach((m, i) => {
    const option = document.createElement("option");
    option.value = String(i);
    option.textContent = `${m.occurred_at.slice(0, 10)} · ${m.subject}`.slice(0, 90);
    picker.append(option);
  });
  for (const id of ["message-picker", "mode-picker", "lang-picker", "outlook-picker"]) {
    $(id).addEventListener("change", () => { showMessage(current()); loadPane(); });
  }
  showMessage(current());
  loadPane();
}

start();
