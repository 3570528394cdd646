// Decision search by subject, device, zone, reason, outcome and time, with a
// decisions-by-reason chart over the results.

import { api } from "./api.js";
import { barChart, countBy } from "./charts.js";
import { h, table, when } from "./dom.js";

const FIELDS = ["subject", "device", "zone", "reason", "path_prefix"];

function toIso(local) {
  return local ? new Date(local).toISOString() : "";
}

export async function decisionSearch(main, params) {
  const form = h("form", { class: "filters", id: "decision-filter" },
    FIELDS.map((f) => h("label", {}, `${f.replace("_", " ")} `,
      h("input", { name: f, value: params.get(f) || "", maxlength: 256 }))),
    h("label", {}, "Outcome ", h("select", { name: "allow" },
      [["", "any"], ["true", "allowed"], ["false", "denied"]].map(([v, l]) =>
        h("option", { value: v, selected: (params.get("allow") || "") === v }, l)))),
    h("label", {}, "Since ", h("input", { name: "since", type: "datetime-local" })),
    h("label", {}, "Until ", h("input", { name: "until", type: "datetime-local" })),
    h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) {
      const value = k === "since" || k === "until" ? toIso(v) : v;
      if (value) q.set(k, value);
    }
    location.hash = `#/decisions?${q}`;
  });
  const query = { limit: 500 };
  for (const key of [...FIELDS, "allow", "since", "until"]) query[key] = params.get(key) || "";
  const page = await api.get("/api/decisions", { params: query });
  main.append(h("h2", {}, "Decisions"), form,
    h("div", { class: "card" }, h("h3", {}, "Decisions by reason"),
      barChart(countBy(page.items, (d) => (d.reasons.length ? d.reasons : [d.allow ? "(allowed)" : "(no reason)"])).slice(0, 15),
        { title: "decisions by reason", id: "decisions-by-reason" })),
    table([
      { title: "Time", cell: (d) => when(d.time) },
      { title: "Outcome", cell: (d) => h("span", { class: d.allow ? "ok" : "bad" }, d.allow ? "allow" : "deny") },
      { title: "Reasons", cell: (d) => d.reasons.join(", ") },
      { title: "Subject", cell: (d) => d.subject },
      { title: "Device", cell: (d) => (d.device ? h("a", { href: `#/devices/${encodeURIComponent(d.device)}` }, d.device) : "") },
      { title: "Zone", cell: (d) => d.zone || "" },
      { title: "Request", cell: (d) => `${d.method} ${d.path}` },
      { title: "Id", cell: (d) => h("code", {}, d.decision_id) },
    ], page.items, { id: "decision-results", empty: "No decision matches." }),
    page.next_cursor ? h("p", { class: "hint" }, "Showing the newest 500; narrow the search to see older ones.") : null);
}
