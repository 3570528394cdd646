// Two small inline-SVG charts: counts over time (columns) and counts by label (bars).
// Labels are set with textContent like everything else; no chart library.

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = String(text);
  return el;
}

// Buckets of `hours` hours between the oldest and newest timestamp (at most 48 columns).
export function bucketByTime(timestamps, maxBuckets = 48) {
  const times = timestamps.map((t) => new Date(t).getTime()).filter((t) => !Number.isNaN(t));
  if (!times.length) return [];
  const first = Math.min(...times);
  const last = Math.max(...times);
  const hour = 3600e3;
  const span = Math.max(hour, last - first + 1);
  const width = Math.ceil(span / maxBuckets / hour) * hour;
  const start = Math.floor(first / width) * width;
  const count = Math.floor((last - start) / width) + 1;
  const buckets = Array.from({ length: count }, (_, i) => ({ start: start + i * width, count: 0 }));
  for (const t of times) buckets[Math.floor((t - start) / width)].count += 1;
  return buckets;
}

export function timeChart(buckets, { title, id }) {
  const W = 640, H = 180, pad = 28;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", id });
  root.append(svg("title", {}, title));
  if (!buckets.length) {
    root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no data"));
    return root;
  }
  const max = Math.max(...buckets.map((b) => b.count));
  const step = (W - 2 * pad) / buckets.length;
  root.append(svg("line", { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, class: "axis" }));
  root.append(svg("text", { x: 2, y: pad, class: "tick" }, max));
  buckets.forEach((b, i) => {
    const h = ((H - 2 * pad) * b.count) / max;
    const bar = svg("rect", { x: pad + i * step + 1, y: H - pad - h, width: Math.max(1, step - 2),
      height: h, class: "bar" });
    bar.append(svg("title", {}, `${new Date(b.start).toISOString().slice(0, 16)}Z: ${b.count}`));
    root.append(bar);
  });
  const label = (t) => new Date(t).toISOString().slice(5, 16).replace("T", " ");
  root.append(svg("text", { x: pad, y: H - 8, class: "tick" }, label(buckets[0].start)));
  root.append(svg("text", { x: W - pad, y: H - 8, class: "tick", "text-anchor": "end" },
    label(buckets[buckets.length - 1].start)));
  return root;
}

export function countBy(items, keysOf) {
  const counts = new Map();
  for (const item of items) for (const key of keysOf(item)) counts.set(key, (counts.get(key) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(b[0]));
}

export function barChart(pairs, { title, id }) {
  const rowH = 22, W = 640, labelW = 220;
  const H = Math.max(1, pairs.length) * rowH + 8;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", id });
  root.append(svg("title", {}, title));
  if (!pairs.length) {
    root.append(svg("text", { x: 8, y: 18 }, "no data"));
    return root;
  }
  const max = Math.max(...pairs.map((p) => p[1]));
  pairs.forEach(([label, count], i) => {
    const y = 4 + i * rowH;
    const w = ((W - labelW - 48) * count) / max;
    root.append(svg("text", { x: labelW - 6, y: y + 15, "text-anchor": "end", class: "label" }, label));
    root.append(svg("rect", { x: labelW, y, width: Math.max(1, w), height: rowH - 6, class: "bar" }));
    root.append(svg("text", { x: labelW + w + 4, y: y + 15, class: "tick" }, count));
  });
  return root;
}
