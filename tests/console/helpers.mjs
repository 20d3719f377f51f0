// Shared by playwright.config.mjs and the console tests: the test gateway and admin API calls.
export const PORT = Number(process.env.KEYGATE_CONSOLE_PORT || 8795);
export const BASE = `http://127.0.0.1:${PORT}`;
export const ADMIN_TOKEN = "console-test-admin-token";

/** Calls the admin API as `token` (the operator by default); answers {status, body}. */
export async function admin(method, path, body, token = ADMIN_TOKEN) {
  const response = await fetch(`${BASE}/admin/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** Like admin(), but fails unless the status is 2xx; answers the body. */
export async function adminOk(method, path, body, token) {
  const { status, body: json } = await admin(method, path, body, token);
  if (status < 200 || status > 299) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(json)}`);
  return json;
}
