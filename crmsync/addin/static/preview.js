// The preview page plays Outlook: it picks a stored message and hosts the pane in an
// iframe; the pane's Office.js stand-in (office-standin.js) reads window.crmsyncHost.
const data = JSON.parse(document.getElementById("preview-data").textContent);
const $ = (id) => document.getElementById(id);
let messages = [];

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

function loadPane() {
  const mode = $("mode-picker").value;
  $("reading").hidden = mode === "compose";
  $("composing").hidden = mode !== "compose";
  window.crmsyncHost = {
    token: data.token,
    user: data.user,
    mode,
    displayLanguage: $("lang-picker").value,
    item: current(),
    compose: {
      to: () => parseRecipients($("compose-to").value),
      subject: () => $("compose-subject").value,
      body: () => $("compose-body").value,
      insert: insertIntoBody,
    },
  };
  const modeParam = mode === "appointment" ? "appointment" : mode;
  $("pane").src = `/addin/taskpane.html?office=standin&mode=${modeParam}`;
}

async function start() {
  $("signed-in").textContent = `${data.user.name} <${data.user.email}>`;
  $("lang-picker").value = data.lang === "zh-CN" ? "zh-CN" : "en-US";
  $("mode-picker").value = ["read", "compose", "appointment"].includes(data.mode) ? data.mode : "read";
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
  for (const id of ["message-picker", "mode-picker", "lang-picker"]) {
    $(id).addEventListener("change", () => { showMessage(current()); loadPane(); });
  }
  showMessage(current());
  loadPane();
}

start();
