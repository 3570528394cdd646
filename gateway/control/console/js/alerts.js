// The alert queue, one alert's triage page, and the alerts-over-time chart.

import { api } from "./api.js";
import { bucketByTime, timeChart } from "./charts.js";
import { clear, h, notice, severityClass, table, when } from "./dom.js";

const STATUSES = ["new", "triaged", "resolved", "false-positive"];
// the moves the API allows: new -> triaged -> resolved | false-positive; closed -> reopened
const NEXT = {
  new: ["triaged"],
  triaged: ["resolved", "false-positive"],
  resolved: ["triaged"],
  "false-positive": ["triaged"],
};
const ACTION = { triaged: "Triage", resolved: "Resolve", "false-positive": "False positive" };

export function severityBadge(severity) {
  return h("span", { class: `sev ${severityClass(severity)}`, title: `severity ${severity}` },
    String(severity));
}

function deviceLink(alert) {
  if (alert.device_id) return h("a", { href: `#/devices/${encodeURIComponent(alert.device_id)}` }, alert.device_id);
  return alert.source_ip || "";
}

export function alertTable(items, id = "alert-queue") {
  return table([
    { title: "Severity", cell: (a) => severityBadge(a.severity) },
    { title: "Time", cell: (a) => when(a.timestamp) },
    { title: "Rule", cell: (a) => a.rule_id },
    { title: "Message", cls: "message", cell: (a) => h("a", { href: `#/alerts/${encodeURIComponent(a.id)}` }, a.message || "(no message)") },
    { title: "Device", cell: deviceLink },
    { title: "Status", cell: (a) => h("span", { class: `status st-${a.status}` }, a.status) },
    { title: "Assignee", cell: (a) => a.assignee || "" },
  ], items, { id, rowKey: (a) => a.id, empty: "No alert matches." });
}

export async function alertQueue(main, params) {
  const filter = {
    status: params.get("status") || "", min_severity: params.get("min_severity") || "",
    q: params.get("q") || "",
  };
  const form = h("form", { class: "filters", id: "alert-filter" },
    h("label", {}, "Status ", h("select", { name: "status" },
      h("option", { value: "" }, "any"),
      STATUSES.map((s) => h("option", { value: s, selected: s === filter.status }, s)))),
    h("label", {}, "Min severity ", h("input", { name: "min_severity", type: "number", min: 0, max: 100, value: filter.min_severity })),
    h("label", {}, "Search ", h("input", { name: "q", type: "search", value: filter.q, maxlength: 256 })),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    location.hash = `#/alerts?${q}`;
  });
  const chart = h("div", { class: "card" }, h("h3", {}, "Alerts over time"));
  const groups = h("div", { class: "card" }, h("h3", {}, "By device and rule"));
  const list = h("div", { class: "card" });
  main.append(h("h2", {}, "Alert queue"), form, h("div", { class: "grid" }, chart, groups), list);

  const page = await api.get("/api/alerts", { params: { ...filter, limit: 100 } });
  let items = page.items;
  const more = h("button", { id: "more-alerts", type: "button" }, "Load more");
  let cursor = page.next_cursor;
  const render = () => {
    clear(list).append(alertTable(items));
    if (cursor) list.append(more);
  };
  more.addEventListener("click", async () => {
    const next = await api.get("/api/alerts", { params: { ...filter, limit: 100, cursor } });
    items = items.concat(next.items);
    cursor = next.next_cursor;
    render();
  });
  render();
  chart.append(timeChart(bucketByTime(items.map((a) => a.timestamp)),
    { title: "alerts over time", id: "alerts-over-time" }));
  const grouped = await api.get("/api/alerts/groups", { params: filter });
  groups.append(table([
    { title: "Device / source", cell: (g) => g.group_key },
    { title: "Rule", cell: (g) => g.rule_id },
    { title: "Open", cell: (g) => g.open_count },
    { title: "All", cell: (g) => g.count },
    { title: "Max", cell: (g) => severityBadge(g.max_severity) },
    { title: "Last seen", cell: (g) => when(g.last_seen) },
  ], grouped.slice(0, 12), { id: "alert-groups", empty: "No groups." }));
}

function timeline(alert, comments) {
  const events = [
    { at: alert.timestamp, text: `detected by ${alert.rule_id}` },
    { at: alert.ingested_at, text: "ingested" },
    ...comments.map((c) => ({ at: c.at, text: `${c.author}: ${c.body}`, cls: "comment" })),
  ];
  if (alert.updated_at !== alert.ingested_at) {
    events.push({ at: alert.updated_at, text: `last change: status ${alert.status}` });
  }
  events.sort((a, b) => new Date(a.at) - new Date(b.at));
  return h("ol", { class: "timeline", id: "alert-timeline" },
    events.map((e) => h("li", { class: e.cls }, h("time", {}, when(e.at)), " ", e.text)));
}

export async function alertDetail(main, alertId, session) {
  const [alert, comments] = await Promise.all([
    api.get("/api/alerts/{alert_id}", { path: { alert_id: alertId } }),
    api.get("/api/alerts/{alert_id}/comments", { path: { alert_id: alertId } }),
  ]);
  const status = h("span", { class: `status st-${alert.status}`, id: "alert-status" }, alert.status);
  const feedback = h("div", { id: "alert-feedback" });
  const act = async (work) => {
    clear(feedback);
    try {
      await work();
      await session.refresh();
    } catch (err) {
      feedback.append(notice("error", err.message));
    }
  };
  const moves = (NEXT[alert.status] || []).map((s) => h("button", {
    type: "button", dataset: { status: s },
    onclick: () => act(() => api.post("/api/alerts/{alert_id}/status",
      { path: { alert_id: alertId }, body: { status: s } })),
  }, ACTION[s] || s));
  const assign = h("button", { type: "button", id: "assign-me",
    onclick: () => act(() => api.post("/api/alerts/{alert_id}/assign",
      { path: { alert_id: alertId }, body: { assignee: session.actor } })) }, "Assign to me");
  const body = h("textarea", { id: "comment-body", rows: 3, maxlength: 10000, required: true,
    placeholder: "What did you find?" });
  const commentForm = h("form", { id: "comment-form" }, body,
    h("button", { type: "submit", id: "add-comment" }, "Add comment"));
  commentForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(() => api.post("/api/alerts/{alert_id}/comments",
      { path: { alert_id: alertId }, body: { body: body.value } }));
  });
  main.append(
    h("p", {}, h("a", { href: "#/alerts" }, "← Alert queue")),
    h("h2", {}, severityBadge(alert.severity), " ", alert.rule_name || alert.rule_id),
    h("p", { class: "message", id: "alert-message" }, alert.message),
    h("dl", { class: "facts" },
      h("dt", {}, "Status"), h("dd", {}, status),
      h("dt", {}, "Assignee"), h("dd", { id: "alert-assignee" }, alert.assignee || "nobody"),
      h("dt", {}, "Rule"), h("dd", {}, alert.rule_id),
      h("dt", {}, "Device"), h("dd", {}, deviceLink(alert)),
      h("dt", {}, "Source"), h("dd", {}, `${alert.source_ip || "?"} ${alert.source_mac || ""}`),
      h("dt", {}, "Destination"), h("dd", {}, `${alert.destination_ip || "?"}:${alert.destination_port ?? ""}`),
      h("dt", {}, "Seen"), h("dd", {}, when(alert.timestamp))),
    h("div", { class: "actions" }, moves, assign), feedback,
    h("h3", {}, "Timeline"), timeline(alert, comments),
    h("h3", {}, "Comment"), commentForm,
    h("details", {}, h("summary", {}, "Original document"),
      h("pre", {}, JSON.stringify(alert.document, null, 2))));
}
