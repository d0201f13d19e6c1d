// A stand-in for the parts of Office.js the pane uses (Mailbox requirement sets up to 1.8),
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

  // item.internetHeaders (Mailbox 1.8): the hosting page keeps the draft's headers, so a
  // test can "send" the draft with them.
  function internetHeaders(compose) {
    const headers = compose.headers || (compose.headers = {});
    const changed = () => { if (compose.onHeaders) compose.onHeaders({ ...headers }); };
    return {
      getAsync: (names, ...args) => later(args, Object.fromEntries(
        names.filter((n) => n in headers).map((n) => [n, headers[n]]))),
      setAsync: (values, ...args) => { Object.assign(headers, values); changed(); later(args, undefined); },
      removeAsync: (names, ...args) => { names.forEach((n) => delete headers[n]); changed(); later(args, undefined); },
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
      internetHeaders: isSetSupported("Mailbox", "1.8") ? internetHeaders(compose) : undefined,
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

  // Office's REST ids are its EWS ids made URL-safe ("/" → "-", "+" → "_").
  function convertToRestId(itemId) {
    return String(itemId).replace(/\//g, "-").replace(/\+/g, "_");
  }

  // Requirement sets this "Outlook" supports; the host may lower them (an older build) or
  // add NestedAppAuth. Versions compare as numbers ("1.10" is not expected here).
  function isSetSupported(name, version) {
    const have = { Mailbox: 1.8, ...((host && host.requirements) || {}) }[name];
    return have !== undefined && have >= Number(version || 0);
  }

  // Nested app authentication: Outlook hands the pane window.nestedAppAuthBridge, which
  // MSAL talks to in JSON envelopes (NestedAppAuthRequest / NestedAppAuthResponse). The
  // host answers token requests with host.naaToken(scopes) → { access_token, id_token,
  // username, tenantId, name }.
  function installNaaBridge(naaToken) {
    const listeners = [];
    const reply = (envelope) => listeners.forEach((cb) => cb(JSON.stringify(envelope)));
    const answer = async (request) => {
      if (request.method === "GetInitContext") {
        return { initContext: { sdkName: "crmsync stand-in", sdkVersion: "1.0" } };
      }
      const scopes = String((request.tokenParams || {}).scope || "").split(" ").filter(Boolean);
      const token = await naaToken(scopes);
      return {
        token: { access_token: token.access_token, id_token: token.id_token, expires_in: 3600,
          scope: scopes.join(" "), properties: null },
        account: { homeAccountId: `${token.oid}.${token.tenantId}`, environment: "login.microsoftonline.com",
          tenantId: token.tenantId, localAccountId: token.oid, username: token.username, name: token.name },
      };
    };
    window.nestedAppAuthBridge = {
      addEventListener: (name, cb) => { if (name === "message") listeners.push(cb); },
      removeEventListener: (name, cb) => { const i = listeners.indexOf(cb); if (i >= 0) listeners.splice(i, 1); },
      postMessage: (text) => {
        const request = JSON.parse(text);
        const base = { messageType: "NestedAppAuthResponse", requestId: request.requestId };
        answer(request).then((body) => reply({ ...base, success: true, ...body }),
          (error) => reply({ ...base, success: false, error: { status: "PERSISTENT_ERROR",
            code: "standin", description: String((error && error.message) || error) } }));
      },
    };
  }
  if (host && host.naaToken && isSetSupported("NestedAppAuth", "1.1")) installNaaBridge(host.naaToken);

  const mailbox = {
    convertToRestId,
    item: itemFor(),
    userProfile: host ? { displayName: host.user.name, emailAddress: host.user.email } : null,
    diagnostics: { hostName: "crmsync preview", hostVersion: "0" },
  };

  window.Office = {
    AsyncResultStatus: { Succeeded, Failed },
    CoercionType: { Text: "text", Html: "html" },
    HostType: { Outlook: "Outlook" },
    MailboxEnums: { ItemType: { Message: "message", Appointment: "appointment" },
      RestVersion: { v1_0: "v1.0", v2_0: "v2.0", Beta: "beta" } },
    context: { displayLanguage: host ? host.displayLanguage : "en-US", mailbox,
      requirements: { isSetSupported } },
    auth: {
      // Office SSO only when the host plays a tenant (host.sso: a token); otherwise the
      // answer Outlook gives an add-in without SSO, and the pane falls back to its key.
      getAccessToken: () => (host && host.sso
        ? Promise.resolve(host.sso)
        : Promise.reject({ code: 13012, message: "single sign-on is not available here" })),
    },
    onReady: (cb) => {
      const info = { host: "Outlook", platform: "OfficeOnline" };
      if (cb) setTimeout(() => cb(info), 0);
      return Promise.resolve(info);
    },
  };
})();
