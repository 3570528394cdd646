// DOM building that never parses HTML: every string becomes a text node or an attribute value,
// so attacker-controlled text (alert messages, rule names, device hostnames) is shown as
// text and never parsed as markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name.startsWith("on")) {
      throw new Error(`refusing a string event handler: ${name}`);
    } else if (name === "href" && !/^(#|\/|https?:)/.test(String(value))) {
      throw new Error("refusing a link that is not #, / or http(s)");
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().replace("T", " ").slice(0, 19) + "Z";
}

export function severityClass(severity) {
  if (severity >= 75) return "sev-critical";
  if (severity >= 50) return "sev-high";
  if (severity >= 25) return "sev-medium";
  return "sev-low";
}

export function notice(kind, text) {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

export function table(columns, items, { empty = "Nothing here.", id, rowKey } = {}) {
  if (!items.length) return h("p", { class: "empty" }, empty);
  return h("table", { id },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.title)))),
    h("tbody", {}, items.map((item) => h("tr", { dataset: rowKey ? { key: rowKey(item) } : {} },
      columns.map((c) => h("td", { class: c.cls }, c.cell(item)))))));
}
