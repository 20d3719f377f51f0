// keygate console: a single ES module, no dependencies, no build step.
//
// Security model (README "Console"):
// * The session is the token in the `session` variable below and nowhere else: never
//   localStorage, sessionStorage, a cookie or the URL. Reloading the page signs out.
// * Every API call sends `Authorization: Bearer <token>` explicitly from that variable. The
//   browser attaches no ambient credential (no cookie, no HTTP auth), so another site cannot make
//   the browser send an authenticated request: CSRF does not apply.
// * The page's CSP allows only this origin's script and style; nothing here uses inline script,
//   inline style, eval or innerHTML: every piece of API data reaches the page via textContent.
// * A new secret is shown once in a dialog and dropped from the page and memory on dismissal.

const ADMIN = "/admin/v1";
const PAGE_SIZE = 10;
const ENV_CHOICES = ["test", "live"];

/** @type {{token: string, role: "operator"|"customer", accountId: string|null} | null} */
let session = null;
/** Product ids of gateway.json, learnt from /openapi.json when it is there (else a fallback). */
let productIds = ["bank_data", "payments", "insurance"];

// ---------------------------------------------------------------------------------------------
// DOM helpers (no innerHTML anywhere)

/** Creates an element: h("td", {class: "x", "data-testid": "y"}, "text", child, …). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "value") el.value = value;
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const $ = (sel, root = document) => root.querySelector(sel);
const view = () => $("#view");

function clear(el) {
  el.replaceChildren();
  return el;
}

function time(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function list(values) {
  return Array.isArray(values) && values.length ? values.join(", ") : "—";
}

/** Splits a text field on commas, spaces and newlines. */
function splitList(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

function banner(message) {
  const b = $('[data-testid="banner"]');
  b.textContent = message || "";
  b.hidden = !message;
}

// ---------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
  get errors() {
    return Array.isArray(this.body.errors) ? this.body.errors : [];
  }
}

/** Calls the admin API with the session's token; answers the JSON body or throws ApiError. */
async function api(method, path, body, token = session && session.token) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(ADMIN + path, {
      method,
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

function describe(err) {
  if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
  const details = err.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
  return `${err.status}: ${err.message}${details ? ` (${details})` : ""}`;
}

/** Shows a field's errors from a 400/403 `errors` array next to the inputs (field "scopes[1]" → "scopes"). */
function showFieldErrors(form, err) {
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

// ---------------------------------------------------------------------------------------------
// Dialogs

const secretDialog = () => $("#secret-dialog");

/** Shows a new secret once. The only copy in memory is the dialog's text, cleared on close. */
function showSecret(secret, title, note) {
  $("#secret-title").textContent = title;
  $("#secret-value").textContent = secret;
  $("#secret-note").textContent = note || "";
  $("#secret-copied").textContent = "";
  secretDialog().showModal();
}

function clearSecret() {
  $("#secret-value").textContent = "";
  $("#secret-copied").textContent = "";
}

function setupSecretDialog() {
  $("#secret-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("#secret-value").textContent);
      $("#secret-copied").textContent = "Copied to the clipboard.";
    } catch {
      $("#secret-copied").textContent = "Copy failed: select the key and copy it by hand.";
    }
  });
  $("#secret-dismiss").addEventListener("click", () => secretDialog().close());
  // Escape also closes the dialog: the secret goes in every case.
  secretDialog().addEventListener("close", clearSecret);
}

/** Asks for confirmation; resolves true or false. */
function confirmDialog(title, text, okLabel) {
  const dialog = $("#confirm-dialog");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    const done = (answer) => {
      $("#confirm-ok").removeEventListener("click", ok);
      $("#confirm-cancel").removeEventListener("click", cancel);
      dialog.removeEventListener("close", cancel);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const ok = () => done(true);
    const cancel = () => done(false);
    $("#confirm-ok").addEventListener("click", ok);
    $("#confirm-cancel").addEventListener("click", cancel);
    dialog.addEventListener("close", cancel);
    dialog.showModal();
  });
}

/**
 * A small form in a dialog. `build(body)` adds inputs; `submit()` returns a promise: resolved
 * closes the dialog, rejected with an ApiError shows its messages inline and keeps it open.
 */
function formDialog(title, submitLabel, build, submit) {
  const dialog = $("#form-dialog");
  const form = $("#form-dialog-form");
  const body = clear($("#form-dialog-body"));
  $("#form-dialog-title").textContent = title;
  $("#form-dialog-submit").textContent = submitLabel;
  $("#form-dialog-error").textContent = "";
  build(body);
  const onSubmit = async (event) => {
    event.preventDefault();
    $("#form-dialog-submit").disabled = true;
    try {
      await submit();
      dialog.close();
    } catch (err) {
      for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
      const messages = err instanceof ApiError && err.errors.length
        ? err.errors.map((e) => `${e.field}: ${e.message}`).join(" ")
        : describe(err);
      $("#form-dialog-error").textContent = messages;
    } finally {
      $("#form-dialog-submit").disabled = false;
    }
  };
  const onCancel = () => dialog.close();
  const cleanup = () => {
    form.removeEventListener("submit", onSubmit);
    $("#form-dialog-cancel").removeEventListener("click", onCancel);
    dialog.removeEventListener("close", cleanup);
    clear(body);
  };
  form.addEventListener("submit", onSubmit);
  $("#form-dialog-cancel").addEventListener("click", onCancel);
  dialog.addEventListener("close", cleanup);
  dialog.showModal();
  const first = body.querySelector("input, textarea, select");
  if (first) first.focus();
}

// ---------------------------------------------------------------------------------------------
// Sign in / out

function renderSignIn(message) {
  session = null;
  $('[data-testid="nav"]').hidden = true;
  $('[data-testid="sign-out"]').hidden = true;
  $('[data-testid="who"]').textContent = "";
  banner("");
  const error = h("p", { class: "field-error", "data-testid": "signin-error", role: "alert" }, message || "");
  const token = h("input", {
    type: "password", id: "signin-token", "data-testid": "signin-token", autocomplete: "off",
    spellcheck: "false", required: true, placeholder: "admin token, or sk_test_… / sk_live_…",
  });
  const form = h("form", { class: "card narrow", "data-testid": "signin-form", novalidate: true },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" },
      "Operators sign in with the admin token. Customers sign in with a secret key that has the ",
      h("code", {}, "keys:manage"), " scope: the key knows its account."),
    h("label", { for: "signin-token" }, "Token or secret key"), token,
    error,
    h("div", { class: "row" }, h("button", { type: "submit", "data-testid": "signin-submit" }, "Sign in")),
    h("p", { class: "muted small" },
      "Nothing is stored in the browser: the token lives in this page's memory only, and reloading signs you out."));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const t = token.value.trim();
    if (!t) {
      error.textContent = "Enter a token.";
      return;
    }
    try {
      if (/^sk_(test|live)_/.test(t)) {
        // A keys:manage key's account list is its own account, and only that.
        const own = await api("GET", "/accounts?limit=1", undefined, t);
        const acct = own.data && own.data[0] && own.data[0].id;
        if (!acct) {
          error.textContent = "This key's account could not be found.";
          return;
        }
        session = { token: t, role: "customer", accountId: acct };
      } else {
        await api("GET", "/accounts?limit=1", undefined, t);
        session = { token: t, role: "operator", accountId: null };
      }
    } catch (err) {
      error.textContent = err instanceof ApiError && (err.status === 401 || err.status === 404 || err.status === 403)
        ? `Sign-in refused (${err.status}): ${err.message}`
        : describe(err);
      return;
    }
    token.value = "";
    startSession();
  });
  clear(view()).append(form);
  token.focus();
}

function startSession() {
  $('[data-testid="nav"]').hidden = false;
  $('[data-testid="sign-out"]').hidden = false;
  $('[data-testid="nav-accounts"]').hidden = session.role !== "operator";
  $('[data-testid="nav-account"]').hidden = session.role !== "customer";
  $('[data-testid="who"]').textContent = session.role === "operator"
    ? "Operator"
    : `Customer · ${session.accountId}`;
  if (session.role === "operator") renderAccounts();
  else renderAccount(session.accountId);
}

function signOut() {
  session = null;
  if (secretDialog().open) secretDialog().close();
  renderSignIn("Signed out.");
}

// ---------------------------------------------------------------------------------------------
// Pagination: a cursor stack over `starting_after`

function pager(testid, load) {
  const cursors = [null];
  const prev = h("button", { type: "button", class: "secondary", "data-testid": `${testid}-prev` }, "← Previous");
  const next = h("button", { type: "button", class: "secondary", "data-testid": `${testid}-next` }, "Next →");
  const info = h("span", { class: "muted small", "data-testid": `${testid}-page` });
  const bar = h("div", { class: "row pager" }, prev, next, info);
  let hasMore = false;
  let lastId = null;
  const refresh = async () => {
    const result = await load(cursors[cursors.length - 1]);
    hasMore = !!(result && result.has_more);
    const data = (result && result.data) || [];
    lastId = data.length ? data[data.length - 1].id : null;
    prev.disabled = cursors.length <= 1;
    next.disabled = !hasMore || !lastId;
    info.textContent = `Page ${cursors.length}`;
  };
  prev.addEventListener("click", () => {
    if (cursors.length > 1) cursors.pop();
    refresh().catch((e) => banner(describe(e)));
  });
  next.addEventListener("click", () => {
    if (hasMore && lastId) cursors.push(lastId);
    refresh().catch((e) => banner(describe(e)));
  });
  return { bar, refresh };
}

function pageQuery(cursor, extra = "") {
  return `?limit=${PAGE_SIZE}${cursor ? `&starting_after=${encodeURIComponent(cursor)}` : ""}${extra}`;
}

function table(testid, headings) {
  const tbody = h("tbody", { "data-testid": `${testid}-rows` });
  const el = h("table", { class: "table", "data-testid": testid },
    h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))), tbody);
  return { el, tbody };
}

function emptyRow(tbody, columns, text) {
  tbody.append(h("tr", {}, h("td", { colspan: columns, class: "muted" }, text)));
}

// ---------------------------------------------------------------------------------------------
// Accounts (operator)

function renderAccounts() {
  banner("");
  const root = clear(view());
  const { el, tbody } = table("accounts-table", ["Name", "Id", "Agreement", "Status", "Products", "Allowed IPs", "Created"]);
  const { bar, refresh } = pager("accounts", async (cursor) => {
    const result = await api("GET", `/accounts${pageQuery(cursor)}`);
    clear(tbody);
    for (const a of result.data) {
      const open = h("button", { type: "button", class: "link", "data-testid": "account-open", "data-account-id": a.id,
        onclick: () => renderAccount(a.id) }, a.name);
      tbody.append(h("tr", { "data-testid": "account-row", "data-account-id": a.id },
        h("td", {}, open), h("td", {}, h("code", {}, a.id)), h("td", {}, a.agreement),
        h("td", {}, h("span", { class: `badge ${a.status}` }, a.status)), h("td", {}, list(a.products)),
        h("td", {}, list(a.allowed_ips)), h("td", {}, time(a.created_at))));
    }
    if (!result.data.length) emptyRow(tbody, 7, "No accounts yet.");
    return result;
  });

  // Creating an account is a convenience for the operator.
  const name = h("input", { type: "text", id: "new-account-name", "data-testid": "new-account-name", required: true });
  const agreement = h("select", { id: "new-account-agreement", "data-testid": "new-account-agreement" },
    h("option", { value: "test" }, "test"), h("option", { value: "production" }, "production"));
  const form = h("form", { class: "inline-form", "data-testid": "new-account-form", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "new-account-name" }, "Name"), name,
      h("span", { class: "field-error", "data-error-for": "name" })),
    h("div", { class: "field" }, h("label", { for: "new-account-agreement" }, "Agreement"), agreement,
      h("span", { class: "field-error", "data-error-for": "agreement" })),
    h("div", { class: "field" }, h("span", { class: "label-spacer" }, "\u00a0"),
      h("button", { type: "submit", "data-testid": "new-account-submit" }, "Create account")),
    h("p", { class: "field-error wide", "data-error-for": "_" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showFieldErrors(form, null);
    try {
      const account = await api("POST", "/accounts", { name: name.value.trim(), agreement: agreement.value });
      name.value = "";
      renderAccount(account.id);
    } catch (err) {
      showFieldErrors(form, err);
    }
  });

  root.append(
    h("section", { class: "card" }, h("h1", {}, "Accounts"), el, bar),
    h("section", { class: "card" }, h("h2", {}, "New account"), form));
  refresh().catch((e) => banner(describe(e)));
}

// ---------------------------------------------------------------------------------------------
// One account: keys, create key, product keys, events

async function renderAccount(accountId) {
  banner("");
  const root = clear(view());
  const title = h("h1", { "data-testid": "account-title" }, accountId);
  const meta = h("p", { class: "muted", "data-testid": "account-meta" });
  const back = session.role === "operator"
    ? h("button", { type: "button", class: "link", "data-testid": "back-to-accounts", onclick: renderAccounts }, "← All accounts")
    : null;
  root.append(h("section", { class: "card" }, back, title, meta));

  let account = null;
  try {
    account = await api("GET", `/accounts/${encodeURIComponent(accountId)}`);
    title.textContent = account.name;
    meta.textContent = `${account.id} · ${account.agreement} agreement · ${account.status}` +
      ` · allowed IPs: ${list(account.allowed_ips)} · products: ${list(account.products)}`;
    if (session.role === "customer") {
      meta.textContent += " · keys you create stay within the limits of the key you signed in with.";
    }
  } catch (err) {
    banner(describe(err));
  }

  const keys = keysSection(accountId);
  root.append(keys.section, createKeySection(accountId, account, keys.refresh),
    productKeysSection(accountId, account), eventsSection(accountId));
  keys.refresh().catch((e) => banner(describe(e)));
}

function keysSection(accountId) {
  const { el, tbody } = table("keys-table",
    ["Name", "Id", "Env", "Status", "Scopes", "Products", "Allowed IPs", "Created", "Last used", "Actions"]);
  const wrap = h("div", { class: "table-wrap" }, el);
  let pagerRefresh = async () => {};
  const { bar, refresh } = pager("keys", async (cursor) => {
    const result = await api("GET", `/accounts/${encodeURIComponent(accountId)}/keys${pageQuery(cursor)}`);
    clear(tbody);
    for (const key of result.data) tbody.append(keyRow(key, () => pagerRefresh()));
    if (!result.data.length) emptyRow(tbody, 10, "No keys yet.");
    return result;
  });
  pagerRefresh = refresh;
  const section = h("section", { class: "card" }, h("h2", {}, "API keys"), wrap, bar);
  return { section, refresh };
}

function keyStatus(key) {
  const badges = [h("span", { class: `badge ${key.status}`, "data-testid": "key-status" }, key.status)];
  if (key.leaked_at) badges.push(h("span", { class: "badge leaked", "data-testid": "key-leaked" }, "leaked"));
  if (key.revoke_at) badges.push(h("span", { class: "small muted", title: "revoked at" }, ` revokes ${time(key.revoke_at)}`));
  if (key.rolled_to) badges.push(h("span", { class: "small muted" }, ` rolled to ${key.rolled_to}`));
  return badges;
}

function keyRow(key, reload) {
  const act = async (fn) => {
    banner("");
    try {
      await fn();
      await reload();
    } catch (err) {
      banner(describe(err));
    }
  };
  const path = `/keys/${encodeURIComponent(key.id)}`;
  const enabled = key.status === "active";
  const toggle = h("button", { type: "button", class: "secondary small-btn", "data-testid": enabled ? "key-disable" : "key-enable",
    onclick: () => act(() => api("PATCH", path, { status: enabled ? "disabled" : "active" })) },
  enabled ? "Disable" : "Enable");
  const roll = h("button", { type: "button", class: "secondary small-btn", "data-testid": "key-roll",
    onclick: () => rollDialog(key, reload) }, "Roll…");
  const ips = h("button", { type: "button", class: "secondary small-btn", "data-testid": "key-edit-ips",
    onclick: () => allowlistDialog(key, reload) }, "Allowlist…");
  const leaked = h("button", { type: "button", class: "secondary small-btn", "data-testid": "key-leak",
    disabled: !!key.leaked_at,
    onclick: () => leakDialog(key, reload) }, "Report leaked…");
  const del = h("button", { type: "button", class: "danger small-btn", "data-testid": "key-delete",
    onclick: async () => {
      const ok = await confirmDialog("Delete this key?",
        `“${key.name}” (${key.id}) is revoked at once and removed: requests with it are refused from now on. This cannot be undone.`,
        "Delete key");
      if (ok) act(() => api("DELETE", path));
    } }, "Delete…");
  const lastUsed = key.last_used_at
    ? [time(key.last_used_at), h("br"), h("span", { class: "small muted" }, key.last_used_ip || "")]
    : "never";
  return h("tr", { "data-testid": "key-row", "data-key-id": key.id, "data-key-name": key.name },
    h("td", { "data-testid": "key-name" }, key.name),
    h("td", {}, h("code", { "data-testid": "key-id" }, key.id), h("br"),
      h("span", { class: "small muted" }, `${key.start}…${key.end}`)),
    h("td", {}, key.environment),
    h("td", {}, keyStatus(key)),
    h("td", { "data-testid": "key-scopes" }, list(key.scopes)),
    h("td", {}, key.products && key.products.length ? key.products.join(", ") : "all entitled"),
    h("td", { "data-testid": "key-allowed-ips" }, list(key.allowed_ips),
      key.ip_mode === "report" ? h("span", { class: "small muted" }, " (report only)") : null),
    h("td", {}, time(key.created_at)),
    h("td", { "data-testid": "key-last-used" }, lastUsed),
    h("td", { class: "actions" }, toggle, roll, ips, leaked, del));
}

function numberField(id, label, value, hint) {
  const input = h("input", { type: "number", id, "data-testid": id, min: 0, max: 604800, step: 1, value: String(value) });
  return { input, el: h("div", { class: "field" }, h("label", { for: id }, label), input, h("span", { class: "small muted" }, hint)) };
}

function rollDialog(key, reload) {
  let grace;
  formDialog(`Roll “${key.name}”`, "Roll key", (body) => {
    grace = numberField("roll-grace", "Grace period (seconds)", 86400,
      "The old key keeps working this long (0–604800; 86400 = one day), then is revoked.");
    body.append(h("p", {}, "A new key with the same settings replaces this one. Its secret is shown once."), grace.el);
  }, async () => {
    const result = await api("POST", `/keys/${encodeURIComponent(key.id)}/roll`, { grace_seconds: Number(grace.input.value) });
    await reload();
    showSecret(result.secret, `New secret for “${result.key.name}”`,
      `New key ${result.key.id}. The previous key ${key.id} stops working at ${time(result.previous && result.previous.revoke_at)}.`);
  });
}

function leakDialog(key, reload) {
  let grace;
  formDialog(`Report “${key.name}” leaked`, "Report leaked", (body) => {
    grace = numberField("leak-grace", "Revoke after (seconds)", 259200,
      "0 revokes it now; the default gives three days to roll it.");
    body.append(h("p", {}, "Mark this key as leaked: it will be revoked when the grace period ends. Roll it to get a replacement."), grace.el);
  }, async () => {
    await api("POST", `/keys/${encodeURIComponent(key.id)}/leaked`, { grace_seconds: Number(grace.input.value) });
    await reload();
  });
}

function allowlistDialog(key, reload) {
  let ips;
  formDialog(`Allowed IPs of “${key.name}”`, "Save allowlist", (body) => {
    ips = h("textarea", { id: "edit-ips", "data-testid": "edit-ips", rows: 4, spellcheck: "false" });
    ips.value = (key.allowed_ips || []).join("\n");
    body.append(h("label", { for: "edit-ips" }, "Addresses or CIDR ranges, one per line (empty: any address)"), ips);
  }, async () => {
    await api("PATCH", `/keys/${encodeURIComponent(key.id)}`, { allowed_ips: splitList(ips.value) });
    await reload();
  });
}

function createKeySection(accountId, account, reloadKeys) {
  const field = (id, label, input, hint, errorFor) => h("div", { class: "field" },
    h("label", { for: id }, label), input,
    hint ? h("span", { class: "small muted" }, hint) : null,
    h("span", { class: "field-error", "data-error-for": errorFor, "data-testid": `error-${errorFor}` }));
  const name = h("input", { type: "text", id: "key-name", "data-testid": "new-key-name", required: true });
  const environment = h("select", { id: "key-environment", "data-testid": "new-key-environment" },
    ENV_CHOICES.map((e) => h("option", { value: e }, e)));
  const scopes = h("input", { type: "text", id: "key-scopes", "data-testid": "new-key-scopes", spellcheck: "false",
    placeholder: "* or e.g. accounts:read transactions:read" });
  const ips = h("input", { type: "text", id: "key-ips", "data-testid": "new-key-ips", spellcheck: "false",
    placeholder: "e.g. 203.0.113.0/24, 2001:db8::/32" });
  const offered = account && Array.isArray(account.products) ? account.products : productIds;
  const products = h("div", { class: "checks", "data-testid": "new-key-products" },
    offered.map((p) => h("label", { class: "check" },
      h("input", { type: "checkbox", value: p, "data-testid": `new-key-product-${p}` }), ` ${p}`)));
  const form = h("form", { class: "grid-form", "data-testid": "new-key-form", novalidate: true },
    field("key-name", "Name", name, null, "name"),
    field("key-environment", "Environment", environment, "test keys reach only the sandbox", "environment"),
    field("key-scopes", "Scopes", scopes, "space- or comma-separated; empty means * (everything)", "scopes"),
    field("key-ips", "Allowed IPs", ips, "empty: any address (within the account's allowlist)", "allowed_ips"),
    h("div", { class: "field" }, h("span", { class: "label" }, "Products"), products,
      h("span", { class: "small muted" }, "none ticked: every product the account is entitled to"),
      h("span", { class: "field-error", "data-error-for": "products", "data-testid": "error-products" })),
    h("p", { class: "field-error wide", "data-error-for": "_", "data-testid": "new-key-error" }),
    h("div", { class: "row wide" }, h("button", { type: "submit", "data-testid": "new-key-submit" }, "Create key")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showFieldErrors(form, null);
    const body = { name: name.value.trim(), environment: environment.value };
    const s = splitList(scopes.value);
    if (s.length) body.scopes = s;
    const i = splitList(ips.value);
    if (i.length) body.allowed_ips = i;
    const p = [...products.querySelectorAll("input:checked")].map((c) => c.value);
    if (p.length) body.products = p;
    try {
      const result = await api("POST", `/accounts/${encodeURIComponent(accountId)}/keys`, body);
      form.reset();
      await reloadKeys();
      showSecret(result.secret, `Secret for “${result.key.name}”`, `Key ${result.key.id} (${result.key.environment}).`);
    } catch (err) {
      showFieldErrors(form, err);
    }
  });
  return h("section", { class: "card" }, h("h2", {}, "Create a key"), form);
}

function productKeysSection(accountId, account) {
  const section = h("section", { class: "card", "data-testid": "product-keys" }, h("h2", {}, "Product keys"),
    h("p", { class: "muted small" },
      "Send the product key in X-Product-Key with each request to that product's API; it is an identifier, not a secret."));
  const { el, tbody } = table("product-keys-table", ["Product", "Test product key", "Live product key", "Since"]);
  section.append(el);
  const products = account && Array.isArray(account.products) ? account.products : [];
  if (!products.length) emptyRow(tbody, 4, "The account is not entitled to any product.");
  for (const product of products) {
    const row = h("tr", { "data-testid": "product-key-row", "data-product": product }, h("td", {}, product),
      h("td", { colspan: 3, class: "muted" }, "loading…"));
    tbody.append(row);
    api("GET", `/accounts/${encodeURIComponent(accountId)}/products/${encodeURIComponent(product)}`)
      .then((e) => {
        row.replaceChildren(h("td", {}, product),
          h("td", {}, h("code", { "data-testid": "product-key-test" }, e.product_keys.test || "—")),
          h("td", {}, h("code", { "data-testid": "product-key-live" }, e.product_keys.live || "—")),
          h("td", {}, time(e.created_at)));
      })
      .catch((err) => row.replaceChildren(h("td", {}, product), h("td", { colspan: 3, class: "field-error" }, describe(err))));
  }
  return section;
}

function eventsSection(accountId) {
  const { el, tbody } = table("events-table", ["When", "Type", "Key", "Actor", "Request", "Changes"]);
  const type = h("input", { type: "text", id: "events-type", "data-testid": "events-type", placeholder: "e.g. key.created" });
  const { bar, refresh } = pager("events", async (cursor) => {
    const filter = type.value.trim() ? `&type=${encodeURIComponent(type.value.trim())}` : "";
    const result = await api("GET", `/accounts/${encodeURIComponent(accountId)}/events${pageQuery(cursor, filter)}`);
    clear(tbody);
    for (const e of result.data) {
      const actor = e.actor ? (e.actor.type === "key" ? `key ${e.actor.key_id}` : e.actor.type) : "—";
      tbody.append(h("tr", { "data-testid": "event-row", "data-event-type": e.type },
        h("td", {}, time(e.created_at)), h("td", {}, h("code", {}, e.type)), h("td", {}, e.key_id || "—"),
        h("td", {}, actor), h("td", { class: "small" }, e.request_id || "—"),
        h("td", {}, h("details", {}, h("summary", {}, "data"), h("pre", { class: "json" }, JSON.stringify(e.data, null, 2))))));
    }
    if (!result.data.length) emptyRow(tbody, 6, "No events.");
    return result;
  });
  const filter = h("form", { class: "row", novalidate: true }, h("label", { for: "events-type" }, "Type"), type,
    h("button", { type: "submit", class: "secondary", "data-testid": "events-refresh" }, "Refresh"));
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    refresh().catch((e) => banner(describe(e)));
  });
  const section = h("section", { class: "card", "data-testid": "events" }, h("h2", {}, "Events"), filter,
    h("div", { class: "table-wrap" }, el), bar);
  refresh().catch((e) => banner(describe(e)));
  return section;
}

// ---------------------------------------------------------------------------------------------
// Sandbox explorer: one request to the gateway with a test key

function renderSandbox() {
  banner("");
  const root = clear(view());
  const method = h("select", { id: "sb-method", "data-testid": "sandbox-method" },
    ["GET", "POST"].map((m) => h("option", { value: m }, m)));
  const path = h("input", { type: "text", id: "sb-path", "data-testid": "sandbox-path", value: "/v1/accounts?limit=2", spellcheck: "false" });
  const key = h("input", { type: "password", id: "sb-key", "data-testid": "sandbox-key", autocomplete: "off",
    placeholder: "sk_test_…", spellcheck: "false" });
  const productKey = h("input", { type: "text", id: "sb-product-key", "data-testid": "sandbox-product-key",
    placeholder: "pk_test_… (for a product's routes)", spellcheck: "false" });
  const body = h("textarea", { id: "sb-body", "data-testid": "sandbox-body", rows: 4, spellcheck: "false",
    placeholder: '{"…": "…"} (POST only)' });
  const error = h("p", { class: "field-error", "data-testid": "sandbox-error", role: "alert" });
  const status = h("p", { class: "status-line", "data-testid": "sandbox-status" });
  const headers = h("pre", { class: "json", "data-testid": "sandbox-headers" });
  const out = h("pre", { class: "json", "data-testid": "sandbox-response" });
  const form = h("form", { class: "grid-form", "data-testid": "sandbox-form", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "sb-method" }, "Method"), method),
    h("div", { class: "field" }, h("label", { for: "sb-path" }, "Path"), path),
    h("div", { class: "field" }, h("label", { for: "sb-key" }, "Test secret key"), key),
    h("div", { class: "field" }, h("label", { for: "sb-product-key" }, "Product key"), productKey),
    h("div", { class: "field wide" }, h("label", { for: "sb-body" }, "JSON body"), body),
    error,
    h("div", { class: "row wide" }, h("button", { type: "submit", "data-testid": "sandbox-send" }, "Send")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const p = path.value.trim();
    if (!p.startsWith("/v1/")) {
      error.textContent = "The path must start with /v1/.";
      return;
    }
    if (!/^sk_test_/.test(key.value.trim())) {
      error.textContent = "Use a test secret key (sk_test_…): the explorer only talks to the sandbox.";
      return;
    }
    const h2 = { Authorization: `Bearer ${key.value.trim()}` };
    if (productKey.value.trim()) h2["X-Product-Key"] = productKey.value.trim();
    const init = { method: method.value, headers: h2, credentials: "omit", cache: "no-store" };
    if (method.value === "POST" && body.value.trim()) {
      h2["Content-Type"] = "application/json";
      init.body = body.value;
    }
    status.textContent = "Sending…";
    headers.textContent = "";
    out.textContent = "";
    const started = performance.now();
    try {
      const response = await fetch(p, init);
      const text = await response.text();
      status.textContent = `${response.status} ${response.statusText} · ${Math.round(performance.now() - started)} ms`;
      status.className = `status-line ${response.ok ? "ok" : "bad"}`;
      headers.textContent = [...response.headers].map(([n, v]) => `${n}: ${v}`).join("\n");
      try {
        out.textContent = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        out.textContent = text;
      }
    } catch (e) {
      status.textContent = `Network error: ${e.message}`;
      status.className = "status-line bad";
    }
  });
  root.append(
    h("section", { class: "card" }, h("h1", {}, "Sandbox explorer"),
      h("p", { class: "muted" }, "Send one request to this gateway with a test key; test keys only ever reach the sandbox."),
      form),
    h("section", { class: "card" }, h("h2", {}, "Response"), status,
      h("h3", {}, "Headers"), headers, h("h3", {}, "Body"), out));
}

// ---------------------------------------------------------------------------------------------
// Start

async function learnProducts() {
  try {
    const response = await fetch("/openapi.json", { credentials: "omit" });
    if (!response.ok) return;
    const doc = await response.json();
    const ids = doc && doc["x-keygate-products"];
    if (Array.isArray(ids) && ids.length) productIds = ids.map((p) => (typeof p === "string" ? p : p.id)).filter(Boolean);
  } catch {
    // The fallback list stays.
  }
}

function init() {
  setupSecretDialog();
  $('[data-testid="sign-out"]').addEventListener("click", signOut);
  for (const button of document.querySelectorAll("[data-nav]")) {
    button.addEventListener("click", () => {
      if (!session) return;
      const target = button.getAttribute("data-nav");
      if (target === "accounts") renderAccounts();
      else if (target === "account") renderAccount(session.accountId);
      else renderSandbox();
    });
  }
  learnProducts();
  renderSignIn();
}

init();
