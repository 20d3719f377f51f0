// keygate console: native ES modules, no dependencies, no build step. index.html loads this
// entry as <script type="module">; it wires the views to the navigation and starts the console.
//
// Security model: api.js (the only module that holds the session's token). The modules, by role:
//   api.js        the session, the admin operations read from /openapi.json, the fetch wrapper,
//                 the rendering of the API's JSON errors
//   dom.js        element builders, HTML and SVG (no innerHTML), and formatting
//   dialogs.js    the secret-once, confirmation and form dialogs of index.html
//   pager.js      pagination over `starting_after`
//   router.js     views by name, so that views lead to each other without importing each other
//   views/*.js    one per screen or section: sign-in, accounts, account (keys, new-key,
//                 product-keys, usage, events) and the sandbox explorer
import { describe, loadDescription, whoami } from "./api.js";
import { closeSecret, setupSecretDialog } from "./dialogs.js";
import { $, banner, clear, h, view } from "./dom.js";
import { go, register } from "./router.js";
import { renderAccount } from "./views/account.js";
import { renderAccounts } from "./views/accounts.js";
import { renderSandbox } from "./views/sandbox.js";
import { renderSignIn } from "./views/sign-in.js";

register({ signIn: renderSignIn, accounts: renderAccounts, account: renderAccount, sandbox: renderSandbox });

async function start() {
  setupSecretDialog();
  $('[data-testid="sign-out"]').addEventListener("click", () => {
    closeSecret();
    go("signIn", "Signed out.");
  });
  for (const button of document.querySelectorAll("[data-nav]")) {
    button.addEventListener("click", () => {
      const who = whoami();
      if (!who) return;
      const target = button.getAttribute("data-nav");
      if (target === "account") go("account", who.accountId);
      else go(target);
    });
  }
  clear(view()).append(h("p", { class: "muted", "data-testid": "loading" }, "Loading the API description…"));
  try {
    // Every admin call is an operation of this document: without it the console makes none.
    await loadDescription();
  } catch (err) {
    clear(view());
    banner(describe(err));
    return;
  }
  go("signIn");
}

start();
