// Sign-in, best first: nested app authentication (MSAL in Outlook that supports NAA 1.1),
// then Office SSO (Office.auth.getAccessToken), then a per-user API key (development, and
// the preview page, which puts its key in sessionStorage for the pane).
export const KEY_STORAGE = "crmsync.apiKey";

function paneConfig() {
  const node = document.querySelector('meta[name="crmsync-config"]');
  try {
    return node ? JSON.parse(node.content) : {};
  } catch {
    return {};
  }
}

function supportsNaa() {
  const requirements = Office.context && Office.context.requirements;
  return Boolean(requirements && typeof requirements.isSetSupported === "function"
    && requirements.isSetSupported("NestedAppAuth", "1.1"));
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(script);
  });
}

let msalApp = null;

// Microsoft's NAA pattern: silent first, a popup (consent, MFA) only when that fails.
async function naaToken(naa) {
  if (!msalApp) {
    if (!window.msal) await loadScript(naa.script);
    msalApp = await window.msal.createNestablePublicClientApplication({
      auth: { clientId: naa.client_id, authority: naa.authority } });
  }
  const request = { scopes: naa.scopes };
  try {
    return (await msalApp.acquireTokenSilent(request)).accessToken;
  } catch {
    return (await msalApp.acquireTokenPopup(request)).accessToken;
  }
}

function ssoToken() {
  if (!Office.auth || typeof Office.auth.getAccessToken !== "function") {
    return Promise.reject(new Error("this Outlook has no single sign-on"));
  }
  return Office.auth.getAccessToken({ allowSignInPrompt: true, allowConsentPrompt: true });
}

export function storedKey() {
  try {
    return window.sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null; // storage refused (privacy settings): no key
  }
}

export function storeKey(key) {
  try {
    window.sessionStorage.setItem(KEY_STORAGE, key);
  } catch {
    // storage refused: the key lasts until the pane reloads
  }
  fallbackKey = key;
}

let fallbackKey = null;

// Returns { token, method } with method "naa" | "sso" | "apikey"; throws the last
// failure's message when no way worked.
export async function signIn() {
  const naa = paneConfig().naa;
  const reasons = [];
  if (naa && supportsNaa()) {
    try {
      return { token: await naaToken(naa), method: "naa" };
    } catch (error) {
      reasons.push((error && error.message) || String(error));
    }
  }
  try {
    return { token: await ssoToken(), method: "sso" };
  } catch (error) {
    reasons.push((error && error.message) || String(error));
  }
  const key = storedKey() || fallbackKey;
  if (key) return { token: key, method: "apikey" };
  throw new Error(reasons.join("; ") || "sign-in failed");
}
