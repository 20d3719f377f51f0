// Pagination of the API's lists: a cursor stack over `starting_after`.
import { describe } from "./api.js";
import { banner, h } from "./dom.js";

export const PAGE_SIZE = 10;

/** The query of one page: {limit, starting_after}, plus `extra` (e.g. a filter). */
export function pageQuery(cursor, extra = {}) {
  return { limit: PAGE_SIZE, starting_after: cursor || undefined, ...extra };
}

/**
 * Previous / next buttons over `load(cursor)`, which renders a page and answers the API's list
 * ({data, has_more}). Answers the bar and `refresh()`, which reloads the current page.
 */
export function pager(testid, load) {
  const cursors = [null];
  const prev = h("button", { type: "button", class: "secondary", "data-testid": `${testid}-prev` }, "← Previous");
  const next = h("button", { type: "button", class: "secondary", "data-testid": `${testid}-next` }, "Next →");
  const info = h("span", { class: "muted small", "data-testid": `${testid}-page` });
  const bar = h("div", { class: "row pager" }, prev, next, info);
  let hasMore = false;
  let lastId = null;
  const refresh = async () => {
    const result = await load(cursors[cursors.length - 1]);
    hasMore = !!(result && result.has_more);
    const data = (result && result.data) || [];
    lastId = data.length ? data[data.length - 1].id : null;
    prev.disabled = cursors.length <= 1;
    next.disabled = !hasMore || !lastId;
    info.textContent = `Page ${cursors.length}`;
  };
  prev.addEventListener("click", () => {
    if (cursors.length > 1) cursors.pop();
    refresh().catch((e) => banner(describe(e)));
  });
  next.addEventListener("click", () => {
    if (hasMore && lastId) cursors.push(lastId);
    refresh().catch((e) => banner(describe(e)));
  });
  return { bar, refresh };
}
