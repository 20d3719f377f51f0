// The create-key form of an account; the new secret is shown once (dialogs.js).
import { call, productIds, showFieldErrors } from "../api.js";
import { showSecret } from "../dialogs.js";
import { h, splitList } from "../dom.js";

const ENV_CHOICES = ["test", "live"];

/** `account` may be null (it failed to load): the products offered are then every product. */
export function newKeySection(accountId, account, reloadKeys) {
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
  const offered = account && Array.isArray(account.products) ? account.products : productIds();
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
      const result = await call("createKey", { params: { account_id: accountId }, body });
      form.reset();
      await reloadKeys();
      showSecret(result.secret, `Secret for “${result.key.name}”`, `Key ${result.key.id} (${result.key.environment}).`);
    } catch (err) {
      showFieldErrors(form, err);
    }
  });
  return h("section", { class: "card" }, h("h2", {}, "Create a key"), form);
}
