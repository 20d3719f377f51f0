// An account's keys: the paginated table, and each key's actions (disable / enable, roll with a
// grace period, allowlist, report leaked, delete).
import { call, describe } from "../api.js";
import { confirmDialog, formDialog, showSecret } from "../dialogs.js";
import { banner, clear, emptyRow, h, list, splitList, table, time } from "../dom.js";
import { pageQuery, pager } from "../pager.js";

/** The keys table of an account: answers its section and `refresh()`. */
export function keysSection(accountId) {
  const { el, tbody } = table("keys-table",
    ["Name", "Id", "Env", "Status", "Scopes", "Products", "Allowed IPs", "Created", "Last used", "Actions"]);
  const wrap = h("div", { class: "table-wrap" }, el);
  let pagerRefresh = async () => {};
  const { bar, refresh } = pager("keys", async (cursor) => {
    const result = await call("listKeys", { params: { account_id: accountId }, query: pageQuery(cursor) });
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
  const params = { key_id: key.id };
  const enabled = key.status === "active";
  const toggle = h("button", { type: "button", class: "secondary small-btn", "data-testid": enabled ? "key-disable" : "key-enable",
    onclick: () => act(() => call("updateKey", { params, body: { status: enabled ? "disabled" : "active" } })) },
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
      if (ok) act(() => call("deleteKey", { params }));
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
    const result = await call("rollKey", { params: { key_id: key.id }, body: { grace_seconds: Number(grace.input.value) } });
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
    await call("reportKeyLeaked", { params: { key_id: key.id }, body: { grace_seconds: Number(grace.input.value) } });
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
    await call("updateKey", { params: { key_id: key.id }, body: { allowed_ips: splitList(ips.value) } });
    await reload();
  });
}
