// The console against a real gateway (wrangler dev, see playwright.config.mjs). Test data is
// created through the admin API; everything a user does goes through the UI.
import { expect, test } from "@playwright/test";
import { ADMIN_TOKEN, BASE, adminOk } from "./helpers.mjs";

// Screenshots for docs/console/ only when asked (KEYGATE_SCREENSHOTS=1): a test run leaves the tree clean.
const SHOTS = process.env.KEYGATE_SCREENSHOTS === "1" ? "docs/console" : "target/playwright/screenshots";

/** @type {{acme: any, other: any, productKey: string, manager: {key: any, secret: string}, tester: {key: any, secret: string}}} */
const data = {};

test.beforeAll(async () => {
  data.acme = await adminOk("POST", "/accounts", { name: "Acme Payments", agreement: "test" });
  data.other = await adminOk("POST", "/accounts", { name: "Other Tenant Ltd", agreement: "test" });
  const entitlement = await adminOk("PUT", `/accounts/${data.acme.id}/products/bank_data`);
  data.productKey = entitlement.product_keys.test;
  await adminOk("PUT", `/accounts/${data.acme.id}/products/insurance`);
  data.manager = await adminOk("POST", `/accounts/${data.acme.id}/keys`,
    { name: "customer console", environment: "test", scopes: ["keys:manage", "*"] });
  data.tester = await adminOk("POST", `/accounts/${data.acme.id}/keys`,
    { name: "sandbox tester", environment: "test", scopes: ["accounts:read"], products: ["bank_data"] });
  await adminOk("POST", `/accounts/${data.other.id}/keys`, { name: "other tenant key", environment: "test" });
});

async function signInAsOperator(page) {
  await page.goto("/console/");
  await page.getByTestId("signin-token").fill(ADMIN_TOKEN);
  await page.getByTestId("signin-submit").click();
  await expect(page.getByTestId("accounts-table")).toBeVisible();
}

async function openAccount(page, account) {
  await page.locator(`[data-testid="account-open"][data-account-id="${account.id}"]`).click();
  await expect(page.getByTestId("account-title")).toHaveText(account.name);
}

const row = (page, name) => page.locator(`[data-testid="key-row"][data-key-name="${name}"]`);

/** Creates a key through the form; answers the secret from the dialog, which is left open. */
async function createKeyInUi(page, name, { scopes = "", ips = "" } = {}) {
  await page.getByTestId("new-key-name").fill(name);
  await page.getByTestId("new-key-scopes").fill(scopes);
  await page.getByTestId("new-key-ips").fill(ips);
  await page.getByTestId("new-key-submit").click();
  await expect(page.getByTestId("secret-dialog")).toBeVisible();
  return page.getByTestId("secret-value").textContent();
}

async function dismissSecret(page) {
  await page.getByTestId("secret-dismiss").click();
  await expect(page.getByTestId("secret-dialog")).toBeHidden();
  await expect(page.getByTestId("secret-value")).toHaveText("");
}

test("the console is served with a strict CSP and nothing persists in the browser", async ({ page }) => {
  const violations = [];
  page.on("console", (msg) => { if (/Content Security Policy/i.test(msg.text())) violations.push(msg.text()); });
  const response = await page.goto("/console/");
  expect(response.status()).toBe(200);
  expect(response.headers()["content-security-policy"]).toContain("script-src 'self'");
  await expect(page.getByTestId("signin-form")).toBeVisible();
  await page.screenshot({ path: `${SHOTS}/sign-in.png` });

  await page.getByTestId("signin-token").fill("not-the-token");
  await page.getByTestId("signin-submit").click();
  await expect(page.getByTestId("signin-error")).toContainText("401");

  await page.getByTestId("signin-token").fill(ADMIN_TOKEN);
  await page.getByTestId("signin-submit").click();
  await expect(page.getByTestId("accounts-table")).toBeVisible();
  const stored = await page.evaluate(() => ({
    local: localStorage.length, session: sessionStorage.length, cookie: document.cookie, url: location.href,
  }));
  expect(stored).toEqual({ local: 0, session: 0, cookie: "", url: `${BASE}/console/` });

  // Reloading signs out: the token lived in memory only.
  await page.reload();
  await expect(page.getByTestId("signin-form")).toBeVisible();
  expect(violations).toEqual([]);
});

test("operator: accounts list, account page, product keys and events", async ({ page }) => {
  await signInAsOperator(page);
  await expect(page.locator(`[data-testid="account-row"][data-account-id="${data.acme.id}"]`)).toBeVisible();
  await expect(page.locator(`[data-testid="account-row"][data-account-id="${data.other.id}"]`)).toBeVisible();
  await page.screenshot({ path: `${SHOTS}/accounts.png` });

  await openAccount(page, data.acme);
  await expect(row(page, "customer console")).toBeVisible();
  await expect(row(page, "other tenant key")).toHaveCount(0);
  await expect(page.locator('[data-testid="product-key-row"][data-product="bank_data"] [data-testid="product-key-test"]'))
    .toHaveText(data.productKey);
  await expect(page.locator('[data-testid="event-row"][data-event-type="key.created"]').first()).toBeVisible();
  await page.screenshot({ path: `${SHOTS}/account.png`, fullPage: true });
});

test("operator: create a key, copy its secret once, then disable, enable, edit allowlist, roll, leak, delete",
  async ({ page, context }) => {
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: BASE });
    await signInAsOperator(page);
    await openAccount(page, data.acme);

    // A field error from the API's 400 is shown next to its field.
    await page.getByTestId("new-key-name").fill("bad");
    await page.getByTestId("new-key-scopes").fill("not-a-scope");
    await page.getByTestId("new-key-submit").click();
    await expect(page.getByTestId("error-scopes")).toContainText("resource:action");
    await expect(page.getByTestId("secret-dialog")).toBeHidden();

    // Create: the secret is shown once, copied, and gone after dismissal.
    const secret = await createKeyInUi(page, "billing job", { scopes: "accounts:read transactions:read" });
    expect(secret).toMatch(/^sk_test_[0-9A-Za-z]{38}$/);
    await expect(page.getByTestId("secret-dialog")).toContainText("shown exactly once");
    await page.screenshot({ path: `${SHOTS}/secret-once.png` });
    await page.getByTestId("secret-copy").click();
    await expect(page.getByTestId("secret-copied")).toHaveText("Copied to the clipboard.");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await dismissSecret(page);
    expect(await page.content()).not.toContain(secret);
    await expect(row(page, "billing job").getByTestId("key-scopes")).toHaveText("accounts:read, transactions:read");
    await expect(row(page, "billing job").getByTestId("key-last-used")).toHaveText("never");

    // Disable and enable.
    await row(page, "billing job").getByTestId("key-disable").click();
    await expect(row(page, "billing job").getByTestId("key-status")).toHaveText("disabled");
    await row(page, "billing job").getByTestId("key-enable").click();
    await expect(row(page, "billing job").getByTestId("key-status")).toHaveText("active");

    // Allowlist: a bad CIDR is refused inline, a good one is saved.
    await row(page, "billing job").getByTestId("key-edit-ips").click();
    await page.getByTestId("edit-ips").fill("10.0.0.0/99");
    await page.getByTestId("form-dialog-submit").click();
    await expect(page.getByTestId("form-dialog-error")).toContainText("not a CIDR range");
    await expect(page.getByTestId("form-dialog")).toBeVisible();
    await page.screenshot({ path: `${SHOTS}/allowlist-error.png` });
    await page.getByTestId("edit-ips").fill("203.0.113.0/24\n2001:db8::/32");
    await page.getByTestId("form-dialog-submit").click();
    await expect(page.getByTestId("form-dialog")).toBeHidden();
    await expect(row(page, "billing job").getByTestId("key-allowed-ips")).toHaveText("203.0.113.0/24, 2001:db8::/32");

    // Roll with a grace period: a new secret, shown once; the old key is marked rolled.
    const oldId = await row(page, "billing job").getByTestId("key-id").textContent();
    await row(page, "billing job").getByTestId("key-roll").click();
    await page.getByTestId("roll-grace").fill("60");
    await page.getByTestId("form-dialog-submit").click();
    await expect(page.getByTestId("secret-dialog")).toBeVisible();
    const rolled = await page.getByTestId("secret-value").textContent();
    expect(rolled).toMatch(/^sk_test_/);
    expect(rolled).not.toBe(secret);
    await dismissSecret(page);
    await expect(row(page, "billing job")).toHaveCount(2);
    await expect(page.locator(`[data-testid="key-row"][data-key-id="${oldId}"]`)).toContainText("rolled to");

    // Report the new key leaked.
    const newRow = row(page, "billing job").filter({ hasNotText: "rolled to" });
    await newRow.getByTestId("key-leak").click();
    await page.getByTestId("form-dialog-submit").click();
    await expect(page.getByTestId("form-dialog")).toBeHidden();
    await expect(newRow.getByTestId("key-leaked")).toBeVisible();

    // Delete, after confirming (cancel first: nothing happens).
    const doomed = page.locator(`[data-testid="key-row"][data-key-id="${oldId}"]`);
    await doomed.getByTestId("key-delete").click();
    await page.getByTestId("confirm-cancel").click();
    await expect(doomed).toHaveCount(1);
    await doomed.getByTestId("key-delete").click();
    await expect(page.getByTestId("confirm-dialog")).toContainText("cannot be undone");
    await page.getByTestId("confirm-ok").click();
    await expect(doomed).toHaveCount(0);
    await expect(row(page, "billing job")).toHaveCount(1);
  });

test("customer: a keys:manage key sees its own account only", async ({ page }) => {
  await page.goto("/console/");
  // A key that cannot manage keys is refused at sign-in.
  await page.getByTestId("signin-token").fill(data.tester.secret);
  await page.getByTestId("signin-submit").click();
  await expect(page.getByTestId("signin-error")).toContainText("403");

  // The key alone signs in: its account is found, not typed.
  await page.getByTestId("signin-token").fill(data.manager.secret);
  await page.getByTestId("signin-submit").click();
  await expect(row(page, "customer console")).toBeVisible();
  await expect(page.getByTestId("nav-accounts")).toBeHidden();
  await expect(page.getByTestId("who")).toContainText(data.acme.id);
  await expect(page.getByTestId("account-title")).toHaveText(data.acme.name);
  // The customer sees the product keys its callers must send.
  await expect(page.locator('[data-testid="product-key-row"][data-product="bank_data"] [data-testid="product-key-test"]'))
    .toHaveText(data.productKey);
  await expect(page.getByText("other tenant key")).toHaveCount(0);
  await expect(page.getByText(data.other.id)).toHaveCount(0);

  // A key the customer creates is within its own limits; the secret is shown once.
  const secret = await createKeyInUi(page, "customer-made");
  expect(secret).toMatch(/^sk_test_/);
  await dismissSecret(page);
  await expect(row(page, "customer-made")).toBeVisible();
  await expect(page.locator('[data-testid="event-row"]').first()).toBeVisible();
  await page.screenshot({ path: `${SHOTS}/customer.png`, fullPage: true });
});

test("usage: a metered key's counter and the 30-day chart, for the operator and the account's manager", async ({ page }) => {
  const violations = [];
  page.on("console", (msg) => { if (/Content Security Policy/i.test(msg.text())) violations.push(msg.text()); });
  const account = await adminOk("POST", "/accounts", { name: "Metered Ltd", agreement: "test" });
  const productKey = (await adminOk("PUT", `/accounts/${account.id}/products/bank_data`)).product_keys.test;
  const { key, secret } = await adminOk("POST", `/accounts/${account.id}/keys`, { name: "metered job",
    environment: "test", scopes: ["accounts:read"], products: ["bank_data"], quota: { requests: 3, period: "day" } });
  const now = Date.now();
  const today = new Date(now).toISOString().slice(0, 10);
  const tomorrow = new Date(now + 86_400_000).toISOString().slice(0, 10);
  const statuses = [];
  for (let i = 0; i < 5; i++) {
    const response = await fetch(`${BASE}/v1/accounts`,
      { headers: { Authorization: `Bearer ${secret}`, "X-Product-Key": productKey } });
    await response.arrayBuffer();
    statuses.push(response.status);
  }
  expect(statuses).toEqual([200, 200, 200, 429, 429]);
  // Grants are settled about a second after they are made.
  await page.waitForTimeout(2000);

  const expectUsage = async () => {
    const card = page.getByTestId("usage");
    const counter = card.locator(`[data-testid="usage-counter-row"][data-counter="quota"][data-key-id="${key.id}"]`);
    // On a busy machine settling may take longer: Refresh reads the counters again.
    await expect(async () => {
      await card.getByTestId("usage-refresh").click();
      await expect(counter.getByTestId("usage-counter-used")).toHaveText("3 / 3", { timeout: 1000 });
    }).toPass({ timeout: 15_000 });
    await expect(counter.getByTestId("usage-counter-whose")).toContainText("metered job");
    await expect(counter.getByTestId("usage-counter-remaining")).toHaveText("0");
    await expect(counter.getByTestId("usage-counter-resets")).toHaveText(`${tomorrow} 00:00:00 UTC`);
    // The chart: 30 days up to today, and a text alternative with the totals.
    const chart = card.getByRole("img", { name: /^Requests per UTC day/ });
    await expect(chart).toBeVisible();
    expect(await chart.evaluate((el) => el.namespaceURI)).toBe("http://www.w3.org/2000/svg");
    await expect(chart).toHaveAccessibleName(new RegExp(`today \\(${today}\\) 3 granted and 2 refused\\.$`));
    await expect(chart.getByTestId("usage-chart-day")).toHaveCount(30);
    await expect(chart.getByTestId("usage-chart-last")).toHaveText(today);
    await expect(chart.getByTestId("usage-chart-max")).toHaveText("5");
    const day = chart.locator(`[data-testid="usage-chart-day"][data-date="${today}"]`);
    await expect(day.locator(".usage-bar-granted")).toHaveCount(1);
    await expect(day.locator(".usage-bar-refused")).toHaveCount(1);
  };

  await signInAsOperator(page);
  await openAccount(page, account);
  await expectUsage();
  await page.screenshot({ path: `${SHOTS}/usage.png`, fullPage: true });

  // The account's manager sees the same card for its own account.
  const manager = await adminOk("POST", `/accounts/${account.id}/keys`,
    { name: "metered manager", environment: "test", scopes: ["keys:manage", "*"] });
  await page.getByTestId("sign-out").click();
  await page.getByTestId("signin-token").fill(manager.secret);
  await page.getByTestId("signin-submit").click();
  await expect(page.getByTestId("account-title")).toHaveText(account.name);
  await expectUsage();
  expect(violations).toEqual([]);
});

test("sandbox explorer: GET /v1/accounts with a test key answers 200", async ({ page }) => {
  await signInAsOperator(page);
  await page.getByTestId("nav-sandbox").click();
  await page.getByTestId("sandbox-method").selectOption("GET");
  await page.getByTestId("sandbox-path").fill("/v1/accounts?limit=2");
  await page.getByTestId("sandbox-key").fill(data.tester.secret);
  await page.getByTestId("sandbox-product-key").fill(data.productKey);
  await page.getByTestId("sandbox-send").click();
  await expect(page.getByTestId("sandbox-status")).toContainText("200");
  await expect(page.getByTestId("sandbox-headers")).toContainText("x-sandbox: true");
  await expect(page.getByTestId("sandbox-response")).toContainText('"object": "list"');
  await expect(page.getByTestId("sandbox-clock")).toContainText(/Sandbox clock: \d{4}-\d{2}-\d{2}T/);
  await page.screenshot({ path: `${SHOTS}/sandbox.png`, fullPage: true });
});

test("sandbox explorer: the clock moves forward for this test account only", async ({ page }) => {
  const keyOf = async (account) => (await adminOk("POST", `/accounts/${account.id}/keys`,
    { name: `clock ${account.name}`, environment: "test", scopes: ["sandbox:read", "sandbox:write"] })).secret;
  const [mine, theirs] = [await keyOf(data.acme), await keyOf(data.other)];
  await signInAsOperator(page);
  await page.getByTestId("nav-sandbox").click();
  await page.getByTestId("sandbox-key").fill(mine);
  await page.getByTestId("sandbox-advance-days").fill("400");
  await page.getByTestId("sandbox-advance").click();
  await expect(page.getByTestId("sandbox-status")).toContainText("200");
  const moved = JSON.parse(await page.getByTestId("sandbox-response").textContent());
  expect(moved.object).toBe("sandbox_clock");
  expect(moved.ahead_seconds).toBeGreaterThanOrEqual(400 * 86400);
  await expect(page.getByTestId("sandbox-clock")).toHaveText(`Sandbox clock: ${moved.now} (default sandbox)`);
  await page.getByTestId("sandbox-advance-days").fill("0");
  await page.getByTestId("sandbox-advance").click();
  await expect(page.getByTestId("sandbox-error")).toHaveText("Advance by 1 to 400 days.");
  // The other tenant's clock reads real time.
  await page.getByTestId("sandbox-key").fill(theirs);
  await page.getByTestId("sandbox-method").selectOption("GET");
  await page.getByTestId("sandbox-path").fill("/v1/sandbox/clock");
  await page.getByTestId("sandbox-send").click();
  await expect(page.getByTestId("sandbox-status")).toContainText("200");
  const other = JSON.parse(await page.getByTestId("sandbox-response").textContent());
  expect(other.real_time).toBe(true);
});

test("sandbox explorer: a named sandbox has its own clock, and is listed", async ({ page }) => {
  const payments = (await adminOk("PUT", `/accounts/${data.other.id}/products/payments`)).product_keys.test;
  const secret = (await adminOk("POST", `/accounts/${data.other.id}/keys`,
    { name: "named sandbox", environment: "test",
      scopes: ["sandbox:read", "sandbox:write", "payment_orders:*", "events:read"] })).secret;
  await signInAsOperator(page);
  await page.getByTestId("nav-sandbox").click();
  await page.getByTestId("sandbox-key").fill(secret);
  await page.getByTestId("sandbox-name").fill("bad/name");
  await page.getByTestId("sandbox-advance").click();
  await expect(page.getByTestId("sandbox-error")).toHaveText("A sandbox name is 1 to 64 of A-Z, a-z, 0-9, _ and -.");
  await page.getByTestId("sandbox-name").fill("console-run");
  await page.getByTestId("sandbox-advance-days").fill("2");
  await page.getByTestId("sandbox-advance").click();
  await expect(page.getByTestId("sandbox-status")).toContainText("200");
  await expect(page.getByTestId("sandbox-headers")).toContainText("keygate-sandbox: console-run");
  const moved = JSON.parse(await page.getByTestId("sandbox-response").textContent());
  expect(moved.ahead_seconds).toBeGreaterThanOrEqual(2 * 86400);
  await expect(page.getByTestId("sandbox-clock")).toHaveText(`Sandbox clock: ${moved.now} (console-run)`);
  // The account's default sandbox did not move.
  await page.getByTestId("sandbox-name").fill("");
  await page.getByTestId("sandbox-method").selectOption("GET");
  await page.getByTestId("sandbox-path").fill("/v1/sandbox/clock");
  await page.getByTestId("sandbox-send").click();
  await expect(page.getByTestId("sandbox-status")).toContainText("200");
  expect(JSON.parse(await page.getByTestId("sandbox-response").textContent()).real_time).toBe(true);
  await page.getByTestId("sandbox-list-names").click();
  await expect(page.getByTestId("sandbox-response")).toContainText('"name": "console-run"');
  await expect(page.locator('[data-testid="sandbox-names"] option[value="console-run"]')).toHaveCount(1);
  // The named sandbox's events: the clock move brought none yet; an order brings its event.
  await page.getByTestId("sandbox-name").fill("console-run");
  await page.getByTestId("sandbox-method").selectOption("POST");
  await page.getByTestId("sandbox-path").fill("/v1/payment_orders");
  await page.getByTestId("sandbox-product-key").fill(payments);
  await page.getByTestId("sandbox-body").fill(JSON.stringify({ debtor_account_id: "ba_xoJ5mZGQHTD4sa",
    creditor_name: "Console GmbH", creditor_iban: "DE89370400440532013000", amount: 1000 }));
  await page.getByTestId("sandbox-send").click();
  await expect(page.getByTestId("sandbox-status")).toContainText("201");
  await page.getByTestId("sandbox-events").click();
  await expect(page.getByTestId("sandbox-status")).toContainText("200");
  await expect(page.getByTestId("sandbox-response")).toContainText('"type": "payment_order.created"');
});

test("sandbox explorer: register a webhook endpoint, send an event, read the delivery log", async ({ page }) => {
  // Events are about objects the key may read: payment orders, of the payments product.
  await adminOk("PUT", `/accounts/${data.other.id}/products/payments`);
  const secret = (await adminOk("POST", `/accounts/${data.other.id}/keys`,
    { name: "webhooks", environment: "test",
      scopes: ["sandbox:write", "webhook_endpoints:*", "events:read", "payment_orders:read"] })).secret;
  await signInAsOperator(page);
  await page.getByTestId("nav-sandbox").click();
  await page.getByTestId("sandbox-key").fill(secret);
  await page.getByTestId("sandbox-name").fill("console-hooks");
  await page.getByTestId("sandbox-hook-url").fill("ftp://example.com/");
  await page.getByTestId("sandbox-hook-register").click();
  await expect(page.getByTestId("sandbox-error")).toContainText("must start with https://");
  // The console's gateway runs locally (REQUIRE_HTTPS=false): a local receiver is allowed.
  await page.getByTestId("sandbox-hook-url").fill("http://127.0.0.1:9/hooks");
  await page.getByTestId("sandbox-hook-events").fill("payment_order.rejected");
  await page.getByTestId("sandbox-hook-register").click();
  await expect(page.getByTestId("sandbox-status")).toContainText("201");
  const created = JSON.parse(await page.getByTestId("sandbox-response").textContent());
  expect(created.secret).toMatch(/^whsec_/);
  await page.getByTestId("sandbox-hook-list").click();
  await expect(page.getByTestId("sandbox-status")).toContainText("200");
  await expect(page.getByTestId("sandbox-response")).not.toContainText("whsec_");
  await expect(page.locator(`[data-testid="sandbox-hook-ids"] option[value="${created.id}"]`)).toHaveCount(1);
  await page.getByTestId("sandbox-event-type").fill("payment_order.rejected");
  await page.getByTestId("sandbox-event-send").click();
  await expect(page.getByTestId("sandbox-status")).toContainText("201");
  await expect(page.getByTestId("sandbox-response")).toContainText('"type": "payment_order.rejected"');
  // Nothing listens on port 9: the log shows the failed attempt.
  await page.getByTestId("sandbox-hook-id").fill(created.id);
  await expect(async () => {
    await page.getByTestId("sandbox-hook-deliveries").click();
    await expect(page.getByTestId("sandbox-response")).toContainText('"delivered": false', { timeout: 1000 });
  }).toPass({ timeout: 20000 });
});

// The console writes no admin method or path of its own: it calls operations by operationId,
// as /openapi.json describes them.
test("the console calls the admin operations where /openapi.json says they are", async ({ page }) => {
  // Serve the real document with every admin path moved under /moved/v1/, and send the
  // requests made there on to /admin/v1/: the console works only if it follows the document.
  await page.route("**/openapi.json", async (route) => {
    const doc = await (await route.fetch()).json();
    doc.paths = Object.fromEntries(Object.entries(doc.paths)
      .map(([path, item]) => [path.replace(/^\/admin\/v1\//, "/moved/v1/"), item]));
    await route.fulfill({ json: doc });
  });
  const moved = [];
  await page.route("**/moved/v1/**", (route) => {
    const url = new URL(route.request().url());
    moved.push(`${route.request().method()} ${url.pathname}${url.search}`);
    return route.continue({ url: url.href.replace("/moved/v1/", "/admin/v1/") });
  });
  const direct = [];
  page.on("request", (request) => {
    if (new URL(request.url()).pathname.startsWith("/admin/")) direct.push(request.url());
  });

  await signInAsOperator(page);
  await openAccount(page, data.acme);
  await expect(row(page, "customer console")).toBeVisible();
  await expect(page.locator('[data-testid="product-key-row"][data-product="bank_data"] [data-testid="product-key-test"]'))
    .toHaveText(data.productKey);
  await expect(page.locator('[data-testid="event-row"]').first()).toBeVisible();

  expect(moved).toEqual(expect.arrayContaining([
    "GET /moved/v1/accounts?limit=1",
    "GET /moved/v1/accounts?limit=10",
    `GET /moved/v1/accounts/${data.acme.id}`,
    `GET /moved/v1/accounts/${data.acme.id}/keys?limit=10`,
    `GET /moved/v1/accounts/${data.acme.id}/products/bank_data`,
    `GET /moved/v1/accounts/${data.acme.id}/events?limit=10`,
  ]));
  // Playwright reports the request with the URL the page asked for (/moved/…) before routing.
  expect(direct).toEqual([]);
});

test("without /openapi.json the console says so and calls nothing", async ({ page }) => {
  await page.route("**/openapi.json", (route) => route.fulfill({ status: 503, json: { message: "unavailable" } }));
  const calls = [];
  page.on("request", (request) => {
    if (new URL(request.url()).pathname.startsWith("/admin/")) calls.push(request.url());
  });
  await page.goto("/console/");
  await expect(page.getByTestId("banner")).toContainText("could not load the API description /openapi.json: HTTP 503");
  await expect(page.getByTestId("signin-form")).toHaveCount(0);
  expect(calls).toEqual([]);
});

test("an operation missing from /openapi.json is an error where it is used, not a guess", async ({ page }) => {
  await page.route("**/openapi.json", async (route) => {
    const doc = await (await route.fetch()).json();
    delete doc.paths["/admin/v1/accounts/{account_id}/events"];
    await route.fulfill({ json: doc });
  });
  await signInAsOperator(page);
  await openAccount(page, data.acme);
  await expect(row(page, "customer console")).toBeVisible();
  await expect(page.getByTestId("banner")).toContainText("has no operation listEvents");
  await expect(page.locator('[data-testid="event-row"]')).toHaveCount(0);
});
