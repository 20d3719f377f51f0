// DOM helpers: element builders and formatting. Nothing here knows the API or the session.
// Every piece of text reaches the page as a text node (no innerHTML anywhere in the console).

/** Creates an element: h("td", {class: "x", "data-testid": "y", onclick: f}, "text", child, …). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "value") el.value = value;
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * Creates an SVG element, as h() does an HTML one: svg("rect", {class: "bar", x: 0, …}, child, …).
 * Every attribute goes through setAttribute (case kept: viewBox); colours belong in app.css.
 */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

/** Appends children (nested arrays flattened; null, undefined and false skipped; the rest as text). */
export function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** The main area every view renders into. */
export const view = () => $("#view");

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** A Unix time in seconds as "YYYY-MM-DD hh:mm:ss UTC"; "—" for none. */
export function time(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function list(values) {
  return Array.isArray(values) && values.length ? values.join(", ") : "—";
}

/** Splits a text field on commas, spaces and newlines. */
export function splitList(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

/** Shows `message` in the page's error banner; an empty message hides it. */
export function banner(message) {
  const b = $('[data-testid="banner"]');
  b.textContent = message || "";
  b.hidden = !message;
}

export function table(testid, headings) {
  const tbody = h("tbody", { "data-testid": `${testid}-rows` });
  const el = h("table", { class: "table", "data-testid": testid },
    h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))), tbody);
  return { el, tbody };
}

export function emptyRow(tbody, columns, text) {
  tbody.append(h("tr", {}, h("td", { colspan: columns, class: "muted" }, text)));
}
