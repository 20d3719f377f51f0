// An account's events: paginated, filtered by type.
import { call, describe } from "../api.js";
import { banner, clear, emptyRow, h, table, time } from "../dom.js";
import { pageQuery, pager } from "../pager.js";

export function eventsSection(accountId) {
  const { el, tbody } = table("events-table", ["When", "Type", "Key", "Actor", "Request", "Changes"]);
  const type = h("input", { type: "text", id: "events-type", "data-testid": "events-type", placeholder: "e.g. key.created" });
  const { bar, refresh } = pager("events", async (cursor) => {
    const query = pageQuery(cursor, { type: type.value.trim() || undefined });
    const result = await call("listEvents", { params: { account_id: accountId }, query });
    clear(tbody);
    for (const e of result.data) {
      const actor = e.actor ? (e.actor.type === "key" ? `key ${e.actor.key_id}` : e.actor.type) : "—";
      tbody.append(h("tr", { "data-testid": "event-row", "data-event-type": e.type },
        h("td", {}, time(e.created_at)), h("td", {}, h("code", {}, e.type)), h("td", {}, e.key_id || "—"),
        h("td", {}, actor), h("td", { class: "small" }, e.request_id || "—"),
        h("td", {}, h("details", {}, h("summary", {}, "data"), h("pre", { class: "json" }, JSON.stringify(e.data, null, 2))))));
    }
    if (!result.data.length) emptyRow(tbody, 6, "No events.");
    return result;
  });
  const filter = h("form", { class: "row", novalidate: true }, h("label", { for: "events-type" }, "Type"), type,
    h("button", { type: "submit", class: "secondary", "data-testid": "events-refresh" }, "Refresh"));
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    refresh().catch((e) => banner(describe(e)));
  });
  const section = h("section", { class: "card", "data-testid": "events" }, h("h2", {}, "Events"), filter,
    h("div", { class: "table-wrap" }, el), bar);
  refresh().catch((e) => banner(describe(e)));
  return section;
}
