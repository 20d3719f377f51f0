// The admin API as the console calls it: the session, the operations read from /openapi.json,
// the fetch wrapper and the rendering of the API's JSON errors.
//
// Security model (README "Console", docs/console/README.md):
// * The session is the token in the `session` variable below and nowhere else: never
//   localStorage, sessionStorage, a cookie or the URL. Reloading the page signs out. No other
//   module sees the token: they call operations through `call()`.
// * Every API call sends `Authorization: Bearer <token>` explicitly from that variable. The
//   browser attaches no ambient credential (no cookie, no HTTP auth), so another site cannot make
//   the browser send an authenticated request: CSRF does not apply.
// * The page's CSP allows only this origin's script and style; nothing in the console uses
//   inline script, inline style, eval or innerHTML: every piece of API data reaches the page via
//   textContent.
// * A new secret is shown once in a dialog and dropped from the page and memory on dismissal
//   (dialogs.js).
//
// One source for the operations: the console holds no method or path of the admin API.
// `loadDescription()` reads the API description once at start and maps each operationId to its
// method and path template; `call("getAccount", { params: { account_id } })` fills the path
// parameters in. An operation the document lacks is an error, never a guess.

const DESCRIPTION = "/openapi.json";
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/** @type {{token: string, role: "operator"|"customer", accountId: string|null} | null} */
let session = null;
/** @type {Map<string, {method: string, path: string}> | null} operationId → method and path template. */
let operations = null;
/** Product ids of the gateway configuration: the values the description allows for `product_id`. */
let products = [];

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
  get errors() {
    return Array.isArray(this.body.errors) ? this.body.errors : [];
  }
}

// ---------------------------------------------------------------------------------------------
// The API description

/** Follows local `$ref`s ("#/components/…") to the object they name. */
function resolve(doc, value) {
  for (let depth = 0; value && typeof value.$ref === "string" && depth < 10; depth++) {
    if (!value.$ref.startsWith("#/")) return undefined;
    value = value.$ref.slice(2).split("/")
      .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
      .reduce((node, part) => (node === undefined || node === null ? undefined : node[part]), doc);
  }
  return value;
}

/** operationId → {method, path, parameters} of every operation in the document. */
function operationsOf(doc) {
  const found = new Map();
  const base = serverPath(doc);
  for (const [path, item] of Object.entries((doc && doc.paths) || {})) {
    const shared = Array.isArray(item.parameters) ? item.parameters : [];
    for (const method of METHODS) {
      const op = item[method];
      if (!op || typeof op.operationId !== "string") continue;
      const parameters = [...shared, ...(Array.isArray(op.parameters) ? op.parameters : [])]
        .map((p) => resolve(doc, p)).filter(Boolean);
      found.set(op.operationId, { method: method.toUpperCase(), path: base + path, parameters });
    }
  }
  return found;
}

/** The path of the document's first server (relative to this origin); "" for "/". */
function serverPath(doc) {
  const url = new URL((doc.servers && doc.servers[0] && doc.servers[0].url) || "/", location.origin);
  if (url.origin !== location.origin) throw new Error(`its server ${url.origin} is not this origin`);
  return url.pathname.replace(/\/$/, "");
}

/** The values an operation's path parameter may take (its schema's enum), or []. */
function parameterEnum(doc, operation, name) {
  const param = operation && operation.parameters.find((p) => p.name === name && p.in === "path");
  const schema = param && resolve(doc, param.schema);
  return schema && Array.isArray(schema.enum) ? schema.enum.filter((v) => typeof v === "string") : [];
}

/**
 * Reads the API description once: the operations the console calls and the product ids.
 * Rejects with an Error that says what failed; the console then shows it and makes no call.
 */
export async function loadDescription() {
  const failed = (why) =>
    new Error(`The console could not load the API description ${DESCRIPTION}: ${why}. ` +
      "It takes every admin operation from that document and calls none without it. Reload the page to try again.");
  let doc;
  try {
    const response = await fetch(DESCRIPTION, { credentials: "omit", cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    doc = await response.json();
  } catch (e) {
    throw failed(e.message);
  }
  let found;
  try {
    found = operationsOf(doc);
  } catch (e) {
    throw failed(e.message);
  }
  if (!found.size) throw failed("it describes no operation");
  operations = found;
  products = parameterEnum(doc, found.get("getEntitlement"), "product_id");
}

/** The product ids the API description allows (empty until it is loaded). */
export function productIds() {
  return products;
}

/** The operation's path with each `{name}` replaced by `params[name]`, URI-encoded. */
function fillPath(operationId, template, params) {
  return template.replace(/\{([^}]+)\}/g, (_, name) => {
    const value = params[name] === undefined || params[name] === null ? "" : String(params[name]);
    // "." and ".." would be removed by URL resolution even when escaped: never a path segment.
    if (value === "" || value === "." || value === "..") {
      throw new Error(`${operationId}: no valid value for the path parameter ${name}`);
    }
    return encodeURIComponent(value);
  });
}

// ---------------------------------------------------------------------------------------------
// Calls

/** Calls an operation of the description as `token`; answers the JSON body or throws ApiError. */
async function request(operationId, { params = {}, query = {}, body } = {}, token) {
  if (!operations) throw new Error(`The API description is not loaded: ${operationId} cannot be called.`);
  const op = operations.get(operationId);
  if (!op) throw new Error(`The API description ${DESCRIPTION} has no operation ${operationId}.`);
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") search.append(name, String(value));
  }
  const qs = search.toString();
  const url = fillPath(operationId, op.path, params) + (qs ? `?${qs}` : "");
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method: op.method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, { message: `Network error: ${e.message}` });
  }
  const text = await response.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = { message: text };
    }
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

/**
 * Calls an operation with the session's token:
 * `call("listKeys", { params: { account_id }, query: { limit: 10 } })`, or with a `body`.
 */
export function call(operationId, options) {
  if (!session) return Promise.reject(new Error("Not signed in."));
  return request(operationId, options, session.token);
}

// ---------------------------------------------------------------------------------------------
// The session

/**
 * Signs in with an admin token (operator) or a `keys:manage` secret key (customer: the key's
 * account list is its own account, and only that). Answers who signed in; throws ApiError when
 * the API refuses the token.
 */
export async function signIn(token) {
  const own = await request("listAccounts", { query: { limit: 1 } }, token);
  if (/^sk_(test|live)_/.test(token)) {
    const accountId = own && Array.isArray(own.data) && own.data[0] && own.data[0].id;
    if (!accountId) throw new Error("This key's account could not be found.");
    session = { token, role: "customer", accountId };
  } else {
    session = { token, role: "operator", accountId: null };
  }
  return whoami();
}

export function signOut() {
  session = null;
}

/** The session without its token: {role, accountId}, or null when signed out. */
export function whoami() {
  return session && { role: session.role, accountId: session.accountId };
}

// ---------------------------------------------------------------------------------------------
// The API's JSON errors

/** One line for an error: "400: message (field: message; …)". */
export function describe(err) {
  if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
  const details = err.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
  return `${err.status}: ${err.message}${details ? ` (${details})` : ""}`;
}

/** Shows a field's errors from a 400/403 `errors` array next to the inputs (field "scopes[1]" → "scopes"). */
export function showFieldErrors(form, err) {
  for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
  if (!err) return;
  const general = form.querySelector("[data-error-for='_']");
  const unmatched = [];
  for (const e of err instanceof ApiError ? err.errors : []) {
    const base = String(e.field).replace(/\[.*$/, "").replace(/\..*$/, "");
    const slot = form.querySelector(`[data-error-for="${CSS.escape(base)}"]`);
    const line = base === e.field ? e.message : `${e.field}: ${e.message}`;
    if (slot) slot.textContent = slot.textContent ? `${slot.textContent} ${line}` : line;
    else unmatched.push(`${e.field}: ${e.message}`);
  }
  if (general) {
    const hasFieldErrors = err instanceof ApiError && err.errors.length > unmatched.length;
    general.textContent = unmatched.length
      ? `${err.message} ${unmatched.join("; ")}`
      : hasFieldErrors
        ? ""
        : describe(err);
  }
}
