// An account's usage (docs/quotas.md), from listUsage: its quota and credit counters as they
// stand, and its requests of the last 30 UTC days as a chart. The chart is inline SVG built with
// DOM calls (dom.js `svg`), its colours are classes of app.css, and its accessible name states
// the totals.
import { call, describe } from "../api.js";
import { clear, emptyRow, h, svg, table, time } from "../dom.js";

const DAYS = 30;
const PAGE_LIMIT = 100;
/** At most this many pages of rows per refresh (2,000 rows); the card says when there were more. */
const MAX_PAGES = 20;
/** At most this many keys are named (getKey) per refresh; the others are shown by id. */
const MAX_NAMED_KEYS = 20;
const DAY_MS = 86_400_000;

/** The last DAYS UTC days as "YYYY-MM-DD", oldest first, today last. */
function lastDays(now = new Date()) {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return Array.from({ length: DAYS }, (_, i) => new Date(today - (DAYS - 1 - i) * DAY_MS).toISOString().slice(0, 10));
}

/** The range's rows, page after page (at most MAX_PAGES), and the counters of the last page read. */
async function readUsage(accountId, from, to) {
  const rows = [];
  let counters = [];
  let cursor;
  let more = true;
  for (let pages = 0; more && pages < MAX_PAGES; pages++) {
    const page = await call("listUsage",
      { params: { account_id: accountId }, query: { from, to, limit: PAGE_LIMIT, starting_after: cursor } });
    const data = Array.isArray(page.data) ? page.data : [];
    rows.push(...data);
    if (Array.isArray(page.counters)) counters = page.counters;
    more = !!page.has_more && data.length > 0;
    cursor = data.length ? data[data.length - 1].id : undefined;
  }
  return { rows, counters, truncated: more };
}

/** Per day of `days`: granted (lapsed leases counted as used) and refused, summed over the keys. */
function perDay(days, rows) {
  const byDay = new Map(days.map((date) => [date, { date, granted: 0, refused: 0 }]));
  for (const row of rows) {
    const day = byDay.get(row.date);
    if (!day) continue;
    day.granted += (Number(row.granted) || 0) + (Number(row.lapsed) || 0);
    day.refused += Number(row.refused) || 0;
  }
  return days.map((date) => byDay.get(date));
}

/** The chart's text alternative: the range's totals and today's. */
function summary(series) {
  const granted = series.reduce((n, d) => n + d.granted, 0);
  const refused = series.reduce((n, d) => n + d.refused, 0);
  const today = series[series.length - 1];
  return `Requests per UTC day from ${series[0].date} to ${today.date}: ${granted} granted and ${refused} refused ` +
    `in all; today (${today.date}) ${today.granted} granted and ${today.refused} refused.`;
}

// The chart's geometry, in viewBox units (app.css scales it to the card's width).
const W = 720;
const H = 220;
const LEFT = 44;
const RIGHT = 6;
const TOP = 14;
const BOTTOM = 26;
const round = (n) => Math.round(n * 100) / 100;

/** Stacked bars per day (granted below, refused above), with 0, the maximum and the first and last dates. */
function chart(series) {
  const label = summary(series);
  const plotW = W - LEFT - RIGHT;
  const plotH = H - TOP - BOTTOM;
  const base = TOP + plotH;
  const max = Math.max(0, ...series.map((d) => d.granted + d.refused));
  const scale = max > 0 ? plotH / max : 0;
  const slot = plotW / series.length;
  const barW = slot * 0.7;
  const days = series.map((d, i) => {
    const x = round(LEFT + i * slot + (slot - barW) / 2);
    const grantedH = d.granted * scale;
    const refusedH = d.refused * scale;
    return svg("g", { class: "usage-day", "data-testid": "usage-chart-day", "data-date": d.date,
      "data-granted": d.granted, "data-refused": d.refused },
    svg("title", {}, `${d.date}: ${d.granted} granted, ${d.refused} refused`),
    svg("rect", { class: "usage-hit", x: round(LEFT + i * slot), y: TOP, width: round(slot), height: plotH }),
    grantedH > 0 ? svg("rect", { class: "usage-bar-granted", x, y: round(base - grantedH), width: round(barW),
      height: round(grantedH) }) : null,
    refusedH > 0 ? svg("rect", { class: "usage-bar-refused", x, y: round(base - grantedH - refusedH),
      width: round(barW), height: round(refusedH) }) : null);
  });
  return svg("svg", { class: "usage-chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label,
    "data-testid": "usage-chart" },
  svg("title", {}, label),
  svg("line", { class: "usage-grid", x1: LEFT, y1: TOP, x2: W - RIGHT, y2: TOP }),
  svg("line", { class: "usage-axis", x1: LEFT, y1: TOP, x2: LEFT, y2: base }),
  svg("line", { class: "usage-axis", x1: LEFT, y1: base, x2: W - RIGHT, y2: base }),
  svg("text", { class: "usage-label end", x: LEFT - 6, y: TOP + 4, "data-testid": "usage-chart-max" }, String(max)),
  svg("text", { class: "usage-label end", x: LEFT - 6, y: base + 4 }, "0"),
  svg("text", { class: "usage-label", x: LEFT, y: H - 6, "data-testid": "usage-chart-first" }, series[0].date),
  svg("text", { class: "usage-label end", x: W - RIGHT, y: H - 6, "data-testid": "usage-chart-last" },
    series[series.length - 1].date),
  days);
}

/** The names of the counters' keys (getKey, at most MAX_NAMED_KEYS); a key that cannot be read stays unnamed. */
async function keyNames(counters) {
  const ids = [...new Set(counters.map((c) => c.key_id).filter(Boolean))].slice(0, MAX_NAMED_KEYS);
  const found = await Promise.all(ids.map((id) =>
    call("getKey", { params: { key_id: id } }).then((key) => [id, key.name], () => [id, null])));
  return new Map(found.filter(([, name]) => typeof name === "string" && name));
}

/** The account's counters first, then the keys' by name (or id); quota before credits. */
function sortCounters(counters, names) {
  const keyOf = (c) => [c.key_id ? 1 : 0, c.key_id ? names.get(c.key_id) || c.key_id : "", c.key_id || "",
    c.counter || "", c.product || ""];
  const compare = (a, b) => {
    const [x, y] = [keyOf(a), keyOf(b)];
    for (let i = 0; i < x.length; i++) {
      if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
    }
    return 0;
  };
  return [...counters].sort(compare);
}

function counterRow(c, names) {
  const name = c.key_id ? names.get(c.key_id) : null;
  const whose = !c.key_id
    ? "the account"
    : name
      ? [name, h("br"), h("code", { class: "small muted" }, c.key_id)]
      : h("code", {}, c.key_id);
  return h("tr", { "data-testid": "usage-counter-row", "data-counter": c.counter, "data-key-id": c.key_id || null },
    h("td", { "data-testid": "usage-counter-whose" }, whose),
    h("td", { "data-testid": "usage-counter-kind" }, c.counter,
      h("span", { class: "small muted" }, c.product ? ` · ${c.product}` : c.counter === "quota" ? " · all products" : "")),
    h("td", {}, h("span", { "data-testid": "usage-counter-used" }, `${c.used} / ${c.limit}`),
      c.reserved > 0 ? h("span", { class: "small muted" }, ` (${c.reserved} held by open leases)`) : null),
    h("td", { "data-testid": "usage-counter-remaining" }, String(c.remaining)),
    h("td", { "data-testid": "usage-counter-resets" },
      c.period_end === null || c.period_end === undefined ? "never" : time(c.period_end)));
}

/** The Usage card of an account: its counters and the 30-day chart, read now and on Refresh. */
export function usageSection(accountId) {
  const refresh = h("button", { type: "button", class: "secondary", "data-testid": "usage-refresh" }, "Refresh");
  const status = h("span", { class: "muted small", "data-testid": "usage-status", "aria-live": "polite" });
  const error = h("p", { class: "field-error", "data-testid": "usage-error", role: "alert" });
  const { el, tbody } = table("usage-counters", ["Whose", "Counter", "Used / limit", "Remaining", "Resets"]);
  const figure = h("div", { class: "usage-figure", "data-testid": "usage-chart-wrap" });
  const totals = h("p", { class: "small", "data-testid": "usage-totals" });
  const note = h("p", { class: "small muted", "data-testid": "usage-truncated", hidden: true });
  const legend = h("p", { class: "usage-legend small muted" },
    h("span", { class: "swatch granted", "aria-hidden": "true" }), " granted (lapsed leases included) ",
    h("span", { class: "swatch refused", "aria-hidden": "true" }), " refused for a quota or the credits");

  const load = async () => {
    refresh.disabled = true;
    error.textContent = "";
    status.textContent = "Loading…";
    try {
      const days = lastDays();
      const { rows, counters, truncated } = await readUsage(accountId, days[0], days[days.length - 1]);
      const names = await keyNames(counters);
      clear(tbody);
      for (const c of sortCounters(counters, names)) tbody.append(counterRow(c, names));
      if (!counters.length) {
        emptyRow(tbody, 5, "No quota or credits counted yet: a counter appears with a metered key's first request.");
      }
      const series = perDay(days, rows);
      clear(figure).append(chart(series));
      totals.textContent = summary(series);
      note.textContent = truncated
        ? `Only the first ${MAX_PAGES * PAGE_LIMIT} usage rows were read: the chart may show less than was used.`
        : "";
      note.hidden = !truncated;
      status.textContent = `Read at ${time(Math.floor(Date.now() / 1000))}`;
    } catch (err) {
      status.textContent = "";
      error.textContent = describe(err);
    } finally {
      refresh.disabled = false;
    }
  };
  refresh.addEventListener("click", () => load());

  const section = h("section", { class: "card", "data-testid": "usage" },
    h("div", { class: "row card-head" }, h("h2", {}, "Usage"), h("span", { class: "spacer" }), status, refresh),
    h("p", { class: "muted small" },
      "Quota and credit counters as they stand (used counts settled and lapsed requests; a grant is settled about a second after it is made), and the last 30 UTC days of the account's metered keys."),
    error,
    h("div", { class: "table-wrap" }, el),
    h("h3", {}, "Last 30 days"), figure, legend, totals, note);
  load();
  return section;
}
