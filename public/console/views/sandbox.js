// The sandbox explorer: one request to the gateway's sandbox with a test key. It sends the
// user's own test key (not the session's token) to a /v1/ path the user types, and shows the
// raw answer, so it uses fetch directly rather than the admin operations of api.js.
import { banner, clear, h, view } from "../dom.js";

export function renderSandbox() {
  banner("");
  const root = clear(view());
  const method = h("select", { id: "sb-method", "data-testid": "sandbox-method" },
    ["GET", "POST", "DELETE"].map((m) => h("option", { value: m }, m)));
  const path = h("input", { type: "text", id: "sb-path", "data-testid": "sandbox-path", value: "/v1/accounts?limit=2", spellcheck: "false" });
  const key = h("input", { type: "password", id: "sb-key", "data-testid": "sandbox-key", autocomplete: "off",
    placeholder: "sk_test_…", spellcheck: "false" });
  const productKey = h("input", { type: "text", id: "sb-product-key", "data-testid": "sandbox-product-key",
    placeholder: "pk_test_… (for a product's routes)", spellcheck: "false" });
  // A named sandbox (Keygate-Sandbox): empty is the account's default sandbox.
  const sandboxName = h("input", { type: "text", id: "sb-name", "data-testid": "sandbox-name", list: "sb-names",
    placeholder: "default (or a name: ci-run-4711)", spellcheck: "false", maxlength: "64" });
  const names = h("datalist", { id: "sb-names", "data-testid": "sandbox-names" });
  const listNames = h("button", { type: "button", "data-testid": "sandbox-list-names" }, "List sandboxes");
  const showEvents = h("button", { type: "button", "data-testid": "sandbox-events" }, "Show events");
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
    h("div", { class: "field" }, h("label", { for: "sb-name" }, "Sandbox"), sandboxName, names),
    h("div", { class: "field wide" }, h("label", { for: "sb-body" }, "JSON body"), body),
    error,
    h("div", { class: "row wide" }, h("button", { type: "submit", "data-testid": "sandbox-send" }, "Send")));
  const clock = h("p", { class: "status-line", "data-testid": "sandbox-clock" },
    "Sandbox clock: send a request to see it.");
  const days = h("input", { type: "number", id: "sb-days", "data-testid": "sandbox-advance-days", min: "1", max: "400",
    step: "1", value: "1" });
  const advance = h("button", { type: "button", "data-testid": "sandbox-advance" }, "Advance clock");
  // Webhooks of the selected sandbox: register, list, read an endpoint's delivery log, and send
  // an event of a type now (the test tool), each one request whose answer is shown below.
  const hookUrl = h("input", { type: "url", id: "sb-hook-url", "data-testid": "sandbox-hook-url",
    placeholder: "https://example.com/webhooks", spellcheck: "false" });
  const hookEvents = h("input", { type: "text", id: "sb-hook-events", "data-testid": "sandbox-hook-events",
    value: "*", spellcheck: "false" });
  const register = h("button", { type: "button", "data-testid": "sandbox-hook-register" }, "Register endpoint");
  const listHooks = h("button", { type: "button", "data-testid": "sandbox-hook-list" }, "List endpoints");
  const endpointId = h("input", { type: "text", id: "sb-hook-id", "data-testid": "sandbox-hook-id", list: "sb-hook-ids",
    placeholder: "we_…", spellcheck: "false" });
  const endpointIds = h("datalist", { id: "sb-hook-ids", "data-testid": "sandbox-hook-ids" });
  const deliveries = h("button", { type: "button", "data-testid": "sandbox-hook-deliveries" }, "Delivery log");
  const eventType = h("input", { type: "text", id: "sb-event-type", "data-testid": "sandbox-event-type",
    placeholder: "payment_order.executed", spellcheck: "false" });
  const trigger = h("button", { type: "button", "data-testid": "sandbox-event-send" }, "Send event");

  // Sends one request with the test key, and shows its answer and the clock it carries.
  async function send(methodName, target, json) {
    error.textContent = "";
    if (!target.startsWith("/v1/")) {
      error.textContent = "The path must start with /v1/.";
      return;
    }
    if (!/^sk_test_/.test(key.value.trim())) {
      error.textContent = "Use a test secret key (sk_test_…): the explorer only talks to the sandbox.";
      return;
    }
    const named = sandboxName.value.trim();
    if (named && !/^[A-Za-z0-9_-]{1,64}$/.test(named)) {
      error.textContent = "A sandbox name is 1 to 64 of A-Z, a-z, 0-9, _ and -.";
      return;
    }
    const h2 = { Authorization: `Bearer ${key.value.trim()}` };
    if (productKey.value.trim()) h2["X-Product-Key"] = productKey.value.trim();
    if (named) h2["Keygate-Sandbox"] = named;
    const init = { method: methodName, headers: h2, credentials: "omit", cache: "no-store" };
    if (methodName === "POST" && json) {
      h2["Content-Type"] = "application/json";
      init.body = json;
    }
    status.textContent = "Sending…";
    headers.textContent = "";
    out.textContent = "";
    const started = performance.now();
    try {
      const response = await fetch(target, init);
      const text = await response.text();
      status.textContent = `${response.status} ${response.statusText} · ${Math.round(performance.now() - started)} ms`;
      status.className = `status-line ${response.ok ? "ok" : "bad"}`;
      headers.textContent = [...response.headers].map(([n, v]) => `${n}: ${v}`).join("\n");
      const now = response.headers.get("X-Sandbox-Clock");
      if (now) clock.textContent = `Sandbox clock: ${now} (${named || "default sandbox"})`;
      try {
        const parsed = JSON.parse(text);
        out.textContent = JSON.stringify(parsed, null, 2);
        if (target === "/v1/sandbox/sandboxes" && response.ok) {
          names.replaceChildren(...parsed.data.map((s) => h("option", { value: s.name })));
        }
        if (target === "/v1/webhook_endpoints" && response.ok && methodName === "GET") {
          endpointIds.replaceChildren(...parsed.data.map((e) => h("option", { value: e.id })));
        }
      } catch {
        out.textContent = text;
      }
    } catch (e) {
      status.textContent = `Network error: ${e.message}`;
      status.className = "status-line bad";
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(method.value, path.value.trim(), body.value.trim());
  });
  // Moves this test account's clock forward (never back: POST /v1/sandbox/reset returns it to
  // real time); what it answers is shown like any other answer.
  advance.addEventListener("click", () => {
    const n = Number(days.value);
    if (!Number.isInteger(n) || n < 1 || n > 400) {
      error.textContent = "Advance by 1 to 400 days.";
      return;
    }
    send("POST", "/v1/sandbox/clock", JSON.stringify({ advance: { days: n } }));
  });
  // Lists the account's named sandboxes, and offers them in the Sandbox field.
  listNames.addEventListener("click", () => send("GET", "/v1/sandbox/sandboxes"));
  // The sandbox's events, oldest first: what its writes and its clock moves did.
  showEvents.addEventListener("click", () => send("GET", "/v1/events?limit=20"));
  register.addEventListener("click", () => {
    const url = hookUrl.value.trim();
    const types = hookEvents.value.split(",").map((t) => t.trim()).filter(Boolean);
    if (!/^https?:\/\//.test(url)) {
      error.textContent = "The endpoint URL must start with https:// (http:// only in local development).";
      return;
    }
    if (types.length === 0) {
      error.textContent = "Name the event types, separated by commas, or * for all.";
      return;
    }
    send("POST", "/v1/webhook_endpoints", JSON.stringify({ url, enabled_events: types }));
  });
  listHooks.addEventListener("click", () => send("GET", "/v1/webhook_endpoints"));
  deliveries.addEventListener("click", () => {
    const id = endpointId.value.trim();
    if (!/^we_[A-Za-z0-9]+$/.test(id)) {
      error.textContent = "Pick an endpoint id (we_…): List endpoints offers them.";
      return;
    }
    send("GET", `/v1/webhook_endpoints/${encodeURIComponent(id)}/deliveries`);
  });
  trigger.addEventListener("click", () => {
    const type = eventType.value.trim();
    if (!/^[a-z_]+\.[a-z_]+$/.test(type)) {
      error.textContent = "An event type is object.state, such as payment_order.executed.";
      return;
    }
    send("POST", "/v1/sandbox/events", JSON.stringify({ type }));
  });
  const clockRow = h("div", { class: "row" },
    h("label", { for: "sb-days" }, "Days"), days, advance);
  root.append(
    h("section", { class: "card" }, h("h1", {}, "Sandbox explorer"),
      h("p", { class: "muted" }, "Send one request to this gateway with a test key; test keys only ever reach the sandbox."),
      form),
    h("section", { class: "card" }, h("h2", {}, "Time"),
      h("p", { class: "muted" }, "Each sandbox has its own clock: quotes expire, policies start and end, payment orders run as it passes. Move it forward to see what happens later. Name a sandbox above to use one of the account's named sandboxes (each with its own objects and clock) instead of its default one."),
      clock, clockRow, h("div", { class: "row" }, listNames, showEvents)),
    h("section", { class: "card" }, h("h2", {}, "Webhooks"),
      h("p", { class: "muted" }, "Register an endpoint for this sandbox's events (its signing secret is shown once, in the answer), read its delivery log, or send an event of any type now."),
      h("div", { class: "grid-form" },
        h("div", { class: "field" }, h("label", { for: "sb-hook-url" }, "Endpoint URL"), hookUrl),
        h("div", { class: "field" }, h("label", { for: "sb-hook-events" }, "Event types"), hookEvents),
        h("div", { class: "field" }, h("label", { for: "sb-hook-id" }, "Endpoint"), endpointId, endpointIds),
        h("div", { class: "field" }, h("label", { for: "sb-event-type" }, "Event type"), eventType)),
      h("div", { class: "row" }, register, listHooks, deliveries, trigger)),
    h("section", { class: "card" }, h("h2", {}, "Response"), status,
      h("h3", {}, "Headers"), headers, h("h3", {}, "Body"), out));
}
