// Sign in: the admin token (operator) or a `keys:manage` secret key alone (customer).
import { ApiError, describe, signIn, signOut, whoami } from "../api.js";
import { $, banner, clear, h, view } from "../dom.js";
import { go } from "../router.js";

/** The sign-in form; showing it ends any session. */
export function renderSignIn(message) {
  signOut();
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
      await signIn(t);
    } catch (err) {
      error.textContent = err instanceof ApiError && (err.status === 401 || err.status === 404 || err.status === 403)
        ? `Sign-in refused (${err.status}): ${err.message}`
        : describe(err);
      return;
    }
    token.value = "";
    enterSession();
  });
  clear(view()).append(form);
  token.focus();
}

/** After sign-in: the navigation for the role, then its first view. */
function enterSession() {
  const who = whoami();
  $('[data-testid="nav"]').hidden = false;
  $('[data-testid="sign-out"]').hidden = false;
  $('[data-testid="nav-accounts"]').hidden = who.role !== "operator";
  $('[data-testid="nav-account"]').hidden = who.role !== "customer";
  $('[data-testid="who"]').textContent = who.role === "operator" ? "Operator" : `Customer · ${who.accountId}`;
  if (who.role === "operator") go("accounts");
  else go("account", who.accountId);
}
