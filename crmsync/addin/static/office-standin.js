// A stand-in for the parts of Office.js the pane uses (Mailbox requirement set 1.5-ish),
// driven by the hosting page's window.crmsyncHost (the preview page and browser tests).
// It is loaded instead of Microsoft's office.js only on /addin/taskpane.html?office=standin
// with CRMSYNC_DEMO=1.
(function () {
  "use strict";
  const host = (window.parent !== window && window.parent.crmsyncHost) || window.crmsyncHost || null;
  const Succeeded = "succeeded";
  const Failed = "failed";

  function result(value) {
    return { status: Succeeded, value, error: null, asyncContext: undefined };
  }
  function callbackOf(args) {
    return args.find((a) => typeof a === "function");
  }
  function later(args, value) {
    const cb = callbackOf(args);
    if (cb) setTimeout(() => cb(result(value)), 0);
  }
  function details(p) {
    return { emailAddress: p.address, displayName: p.name || p.address, recipientType: "externalUser" };
  }
  function asyncValue(get) {
    return { getAsync: (...args) => later(args, get()) };
  }

  function readItem(m) {
    return {
      itemType: "message",
      itemId: "standin-" + (m.internet_message_id || ""),
      internetMessageId: m.internet_message_id,
      conversationId: m.conversation,
      subject: m.subject,
      dateTimeCreated: new Date(m.occurred_at),
      from: m.from ? details(m.from) : null,
      sender: m.from ? details(m.from) : null,
      to: m.to.map(details),
      cc: m.cc.map(details),
      body: { getAsync: (...args) => later(args, m.body_excerpt || "") },
    };
  }

  function composeItem(m, compose) {
    return {
      itemType: "message",
      conversationId: m ? m.conversation : null,
      subject: asyncValue(() => compose.subject()),
      to: asyncValue(() => compose.to().map(details)),
      cc: asyncValue(() => []),
      body: {
        getAsync: (...args) => later(args, compose.body()),
        setSelectedDataAsync: (text, ...args) => { compose.insert(String(text)); later(args, undefined); },
      },
      saveAsync: (...args) => later(args, "standin-draft"),
    };
  }

  function appointmentItem(m) {
    return {
      itemType: "appointment",
      itemId: "standin-meeting-" + (m.internet_message_id || ""),
      subject: m.subject,
      organizer: m.from ? details(m.from) : null,
      requiredAttendees: m.to.map(details),
      optionalAttendees: m.cc.map(details),
      start: new Date(m.occurred_at),
      end: new Date(new Date(m.occurred_at).getTime() + 3600e3),
    };
  }

  function itemFor() {
    if (!host) return null;
    const m = host.item;
    if (host.mode === "compose") return composeItem(m, host.compose);
    if (!m) return null;
    return host.mode === "appointment" ? appointmentItem(m) : readItem(m);
  }

  const mailbox = {
    item: itemFor(),
    userProfile: host ? { displayName: host.user.name, emailAddress: host.user.email } : null,
    diagnostics: { hostName: "crmsync preview", hostVersion: "0" },
  };

  window.Office = {
    AsyncResultStatus: { Succeeded, Failed },
    CoercionType: { Text: "text", Html: "html" },
    HostType: { Outlook: "Outlook" },
    MailboxEnums: { ItemType: { Message: "message", Appointment: "appointment" } },
    context: { displayLanguage: host ? host.displayLanguage : "en-US", mailbox },
    auth: {
      getAccessToken: () => (host && host.token
        ? Promise.resolve(host.token)
        : Promise.reject({ code: 13001, message: "not signed in" })),
    },
    onReady: (cb) => {
      const info = { host: "Outlook", platform: "OfficeOnline" };
      if (cb) setTimeout(() => cb(info), 0);
      return Promise.resolve(info);
    },
  };
})();
