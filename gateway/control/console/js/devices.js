// Device inventory, one device (trust, quarantine and release, certificates, its alerts).

import { alertTable } from "./alerts.js";
import { api } from "./api.js";
import { clear, h, notice, table, when } from "./dom.js";

const DURATIONS = [
  ["", "until released"], ["3600", "1 hour"], ["86400", "24 hours"], ["604800", "7 days"],
];

function trustBadge(trust, id) {
  return h("span", { class: `trust trust-${trust}`, id }, trust);
}

export async function deviceInventory(main) {
  const [page, active] = await Promise.all([
    api.get("/api/devices", { params: { limit: 500 } }),
    api.get("/api/quarantines"),
  ]);
  const quarantined = new Map(active.map((q) => [q.device_id, q]));
  main.append(h("h2", {}, "Devices"),
    h("p", {}, `${page.items.length} device(s), ${quarantined.size} quarantined now.`),
    table([
      { title: "Device", cell: (d) => h("a", { href: `#/devices/${encodeURIComponent(d.id)}` }, d.id) },
      { title: "Trust", cell: (d) => trustBadge(quarantined.has(d.id) ? "quarantined" : d.trust) },
      { title: "IPs", cell: (d) => d.ips.join(", ") },
      { title: "MAC", cell: (d) => d.mac || "" },
      { title: "Vendor", cell: (d) => d.vendor || "" },
      { title: "Hostname", cell: (d) => d.hostname || "" },
      { title: "Class", cell: (d) => d.device_class || "" },
      { title: "Last seen", cell: (d) => when(d.last_seen) },
    ], page.items, { id: "device-inventory", rowKey: (d) => d.id, empty: "No device yet." }));
}

function quarantineForm(deviceId, session, feedback) {
  const reason = h("input", { id: "quarantine-reason", required: true, maxlength: 2000,
    placeholder: "why (shown to the next officer)" });
  const duration = h("select", { id: "quarantine-duration" },
    DURATIONS.map(([value, label]) => h("option", { value }, label)));
  const form = h("form", { id: "quarantine-form", class: "filters" },
    h("label", {}, "Reason ", reason), h("label", {}, "For ", duration),
    h("button", { type: "submit", id: "quarantine-submit", class: "danger" }, "Quarantine"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(feedback);
    const body = { reason: reason.value };
    if (duration.value) body.duration_seconds = Number(duration.value);
    try {
      await api.post("/api/devices/{device_id}/quarantine", { path: { device_id: deviceId }, body });
      await session.refresh();
    } catch (err) {
      feedback.append(notice("error", err.message));
    }
  });
  return form;
}

export async function deviceDetail(main, deviceId, session) {
  const [detail, alerts] = await Promise.all([
    api.get("/api/devices/{device_id}", { path: { device_id: deviceId } }),
    api.get("/api/alerts", { params: { group_key: deviceId, limit: 50 } }),
  ]);
  const device = detail.device;
  const feedback = h("div", { id: "device-feedback" });
  const officer = session.isOfficer();
  const active = detail.quarantines.filter((q) => !q.released_at
    && (!q.until || new Date(q.until) > new Date()));
  const release = h("button", { type: "button", id: "release", onclick: async () => {
    clear(feedback);
    try {
      await api.post("/api/devices/{device_id}/release", { path: { device_id: deviceId } });
      await session.refresh();
    } catch (err) {
      feedback.append(notice("error", err.message));
    }
  } }, "Release");
  main.append(
    h("p", {}, h("a", { href: "#/devices" }, "← Devices")),
    h("h2", {}, "Device ", h("span", { id: "device-id" }, device.id), " ",
      trustBadge(detail.effective_trust, "effective-trust")),
    h("dl", { class: "facts" },
      h("dt", {}, "IPs"), h("dd", {}, device.ips.join(", ")),
      h("dt", {}, "MAC"), h("dd", {}, device.mac || ""),
      h("dt", {}, "Vendor"), h("dd", {}, device.vendor || ""),
      h("dt", {}, "Hostname"), h("dd", {}, device.hostname || ""),
      h("dt", {}, "Class"), h("dd", {}, device.device_class || ""),
      h("dt", {}, "Officer's verdict"), h("dd", {}, device.trust),
      h("dt", {}, "First / last seen"), h("dd", {}, `${when(device.first_seen)} / ${when(device.last_seen)}`)),
    officer ? h("div", { class: "card" }, h("h3", {}, "Quarantine"),
      active.length ? release : quarantineForm(deviceId, session, feedback), feedback)
      : h("p", { class: "hint" }, "Only security officers can quarantine or release."),
    h("h3", {}, "Alerts"), alertTable(alerts.items, "device-alerts"),
    h("h3", {}, "Quarantine history"),
    table([
      { title: "Since", cell: (q) => when(q.since) },
      { title: "Until", cell: (q) => (q.until ? when(q.until) : "until released") },
      { title: "By", cell: (q) => q.by },
      { title: "Reason", cell: (q) => q.reason },
      { title: "Released", cell: (q) => (q.released_at ? `${when(q.released_at)} by ${q.released_by}` : "") },
    ], detail.quarantines, { id: "quarantine-history", empty: "Never quarantined." }),
    h("h3", {}, "Certificates"),
    table([
      { title: "Serial", cell: (c) => c.serial },
      { title: "SPIFFE ID", cell: (c) => c.spiffe_id },
      { title: "Status", cell: (c) => c.status },
      { title: "Not after", cell: (c) => when(c.not_after) },
    ], detail.certificates, { id: "device-certificates", empty: "No certificate issued." }));
}
