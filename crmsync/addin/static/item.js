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
      to: people(item.requiredAttendees), cc: people(item.optionalAttendees), item_id: item.itemId || null };
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
