// The one place the console talks to the control plane. Every call names its route by the
// exact template of gateway/control/access.py (a test checks each one is in ACCESS) and
// carries the bearer token; a 401 ends the session and sends the user back to sign-in.

const TOKEN_KEY = "zonegate.console.token";

export class ApiError extends Error {
  constructor(status, code, detail, problem = {}) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || "";
    this.problem = problem; // the whole problem document (e.g. a rejected upload's failures)
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// fill(template, params): each {name} of the template replaced by its encoded value
export function fill(template, params = {}) {
  return template.replace(/\{([a-z_]+)\}/g, (_, name) => {
    if (!(name in params)) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(String(params[name]));
  });
}

function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) q.append(key, String(v));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

async function call(method, template, { path = {}, params = {}, body, raw, rawType } = {}) {
  const headers = { Accept: "application/json" };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let payload;
  if (raw !== undefined) {
    payload = raw;
    headers["Content-Type"] = rawType || "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(fill(template, path) + query(params), {
    method, headers, body: payload, credentials: "omit", cache: "no-store",
  });
  if (response.status === 401) {
    clearToken();
    window.dispatchEvent(new CustomEvent("zonegate:signed-out",
      { detail: "Your session has ended or the token was refused: sign in again." }));
  }
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null)
    : await response.text();
  if (!response.ok) {
    const problem = data && typeof data === "object" ? data : {};
    throw new ApiError(response.status, problem.code, problem.detail || problem.title, problem);
  }
  return data;
}

export const api = {
  get: (template, options) => call("GET", template, options),
  post: (template, options) => call("POST", template, options),
  put: (template, options) => call("PUT", template, options),
};

// Sign in with the dev IdP's password grant (RFC 6749 §4.3). The IdP must allow this
// origin (CORS) and the client is a public development client named in config.json.
export async function passwordGrant(tokenEndpoint, clientId, clientSecret, username, password) {
  const form = new URLSearchParams({ grant_type: "password", username, password,
    client_id: clientId, client_secret: clientSecret });
  let response;
  try {
    response = await fetch(tokenEndpoint, {
      method: "POST", body: form, credentials: "omit", cache: "no-store",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
  } catch {
    throw new ApiError(0, "idp-unreachable",
      `cannot reach ${tokenEndpoint} (is the IdP running, and does it allow this origin?)`);
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok || typeof data.access_token !== "string") {
    throw new ApiError(response.status, data.error || "token-refused",
      data.error_description || "the IdP refused the sign-in");
  }
  return data.access_token;
}
