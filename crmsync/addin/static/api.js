// The pane's only way to the CRM: /api/v1 with the user's bearer token.
import { signIn } from "./auth.js";

export class ApiError extends Error {
  constructor(kind, status, message) {
    super(message);
    this.kind = kind; // "offline" | "auth" | "http"
    this.status = status;
  }
}

let tokenPromise = null;

export function getToken() {
  if (!tokenPromise) {
    tokenPromise = signIn()
      .then(({ token, method }) => {
        document.body.dataset.auth = method;
        return token;
      })
      .catch((error) => {
        tokenPromise = null;
        throw new ApiError("auth", 401, (error && error.message) || "sign-in failed");
      });
  }
  return tokenPromise;
}

export async function api(path, { method = "GET", body, query } = {}) {
  const token = await getToken();
  const url = `/api/v1${path}${query ? `?${new URLSearchParams(query)}` : ""}`;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError("offline", 0, String(error));
  }
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) {
    tokenPromise = null;
    throw new ApiError("auth", 401, data.error || "not signed in");
  }
  if (!response.ok) throw new ApiError("http", response.status, data.error || response.statusText);
  return data;
}
