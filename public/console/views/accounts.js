// Accounts (operator): the paginated list and a form to create one.
import { call, describe, showFieldErrors } from "../api.js";
import { banner, clear, emptyRow, h, list, table, time, view } from "../dom.js";
import { pageQuery, pager } from "../pager.js";
import { go } from "../router.js";

export function renderAccounts() {
  banner("");
  const root = clear(view());
  const { el, tbody } = table("accounts-table", ["Name", "Id", "Agreement", "Status", "Products", "Allowed IPs", "Created"]);
  const { bar, refresh } = pager("accounts", async (cursor) => {
    const result = await call("listAccounts", { query: pageQuery(cursor) });
    clear(tbody);
    for (const a of result.data) {
      const open = h("button", { type: "button", class: "link", "data-testid": "account-open", "data-account-id": a.id,
        onclick: () => go("account", a.id) }, a.name);
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
      const account = await call("createAccount", { body: { name: name.value.trim(), agreement: agreement.value } });
      name.value = "";
      go("account", account.id);
    } catch (err) {
      showFieldErrors(form, err);
    }
  });

  root.append(
    h("section", { class: "card" }, h("h1", {}, "Accounts"), el, bar),
    h("section", { class: "card" }, h("h2", {}, "New account"), form));
  refresh().catch((e) => banner(describe(e)));
}
