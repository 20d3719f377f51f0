// One account: its header, then its keys, the create-key form, its product keys, its usage and
// its events.
import { call, describe, whoami } from "../api.js";
import { banner, clear, h, list, view } from "../dom.js";
import { go } from "../router.js";
import { eventsSection } from "./events.js";
import { keysSection } from "./keys.js";
import { newKeySection } from "./new-key.js";
import { productKeysSection } from "./product-keys.js";
import { usageSection } from "./usage.js";

export async function renderAccount(accountId) {
  banner("");
  const customer = whoami().role === "customer";
  const root = clear(view());
  const title = h("h1", { "data-testid": "account-title" }, accountId);
  const meta = h("p", { class: "muted", "data-testid": "account-meta" });
  const back = customer
    ? null
    : h("button", { type: "button", class: "link", "data-testid": "back-to-accounts", onclick: () => go("accounts") },
      "← All accounts");
  root.append(h("section", { class: "card" }, back, title, meta));

  let account = null;
  try {
    account = await call("getAccount", { params: { account_id: accountId } });
    title.textContent = account.name;
    meta.textContent = `${account.id} · ${account.agreement} agreement · ${account.status}` +
      ` · allowed IPs: ${list(account.allowed_ips)} · products: ${list(account.products)}`;
    if (customer) {
      meta.textContent += " · keys you create stay within the limits of the key you signed in with.";
    }
  } catch (err) {
    banner(describe(err));
  }

  const keys = keysSection(accountId);
  root.append(keys.section, newKeySection(accountId, account, keys.refresh),
    productKeysSection(accountId, account), usageSection(accountId), eventsSection(accountId));
  keys.refresh().catch((e) => banner(describe(e)));
}
