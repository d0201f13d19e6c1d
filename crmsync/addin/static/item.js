// Read what Outlook tells about the open item (Office.context.mailbox.item) into the API's shape.
function person(details) {
  return details && details.emailAddress
    ? { address: details.emailAddress, name: details.displayName || "" }
    : null;
}

function people(list) {
  return (list || []).map(person).filter(Boolean);
}

function getAsync(field, ...args) {
  return new Promise((resolve) => {
    if (!field || typeof field.getAsync !== "function") return resolve(field ?? null);
    field.getAsync(...args, (result) => resolve(result.status === "succeeded" ? result.value : null));
  });
}

// The REST/Graph form of an Office.js (EWS) item id, when it differs (Mailbox 1.3).
function restId(itemId) {
  const mailbox = Office.context.mailbox;
  if (!itemId || typeof mailbox.convertToRestId !== "function") return null;
  const enums = Office.MailboxEnums || {};
  const rest = mailbox.convertToRestId(itemId, enums.RestVersion ? enums.RestVersion.v2_0 : "v2.0");
  return rest && rest !== itemId ? rest : null;
}

export function detectMode(item, requested) {
  if (["read", "compose", "appointment"].includes(requested)) return requested;
  if (!item) return "read";
  if (item.itemType === "appointment") return "appointment";
  return item.subject && typeof item.subject.getAsync === "function" ? "compose" : "read";
}

export async function summarize(item, mode) {
  if (mode === "compose") {
    const [subject, to, cc] = await Promise.all([getAsync(item.subject), getAsync(item.to), getAsync(item.cc)]);
    return { mode, subject: subject || "", to: people(to), cc: people(cc),
      conversation_id: item.conversationId || null };
  }
  if (mode === "appointment") {
    return { mode, subject: item.subject || "", from: person(item.organizer),
      to: people(item.requiredAttendees), cc: people(item.optionalAttendees),
      item_id: item.itemId || null, rest_item_id: restId(item.itemId) };
  }
  return {
    mode, subject: item.subject || "", from: person(item.from), to: people(item.to), cc: people(item.cc),
    internet_message_id: item.internetMessageId || null, conversation_id: item.conversationId || null,
    item_id: item.itemId || null,
    occurred_at: item.dateTimeCreated ? new Date(item.dateTimeCreated).toISOString() : null,
  };
}

export function bodyText(item) {
  return getAsync(item.body, "text").then((text) => String(text || ""));
}

export function insertText(item, text) {
  return new Promise((resolve, reject) => {
    item.body.setSelectedDataAsync(text, { coercionType: "text" }, (result) =>
      result.status === "succeeded" ? resolve() : reject(new Error(result.error && result.error.message)));
  });
}

// The draft header naming a track-on-send intent (its value is an opaque token)
export const TRACK_HEADER = "X-CRMSync-Track";

function callAsync(fn, ...args) {
  return new Promise((resolve) => fn(...args, (result) =>
    resolve(result.status === "succeeded" ? { value: result.value } : null)));
}

// Mailbox 1.8 item.internetHeaders: absent in older Outlook builds (resolve null/false).
export async function readHeader(item, name) {
  const headers = item.internetHeaders;
  if (!headers || typeof headers.getAsync !== "function") return null;
  const found = await callAsync(headers.getAsync.bind(headers), [name]);
  return (found && found.value && found.value[name]) || null;
}

export async function writeHeader(item, name, value) {
  const headers = item.internetHeaders;
  if (!headers || typeof headers.setAsync !== "function") return false;
  return Boolean(await callAsync(headers.setAsync.bind(headers), { [name]: value }));
}

// A meeting's ids as Office.js gives them (EWS form) and in REST/Graph form. A new
// meeting the organizer has not saved has no id yet: saving the draft gives it one.
export async function meetingIds(item) {
  let itemId = item.itemId || null;
  if (!itemId && typeof item.saveAsync === "function") {
    const saved = await callAsync(item.saveAsync.bind(item));
    itemId = (saved && saved.value) || null;
  }
  return { item_id: itemId, rest_item_id: restId(itemId) };
}
