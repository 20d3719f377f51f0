// An account's product keys: one row per entitled product, each read with getEntitlement.
import { call, describe } from "../api.js";
import { emptyRow, h, table, time } from "../dom.js";

export function productKeysSection(accountId, account) {
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
    call("getEntitlement", { params: { account_id: accountId, product_id: product } })
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
