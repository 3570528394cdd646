// Policy administration: the active revision and its test results, upload (files or a
// bundle), history, diff, activate and rollback. Officers only (the API enforces it).

import { api } from "./api.js";
import { append, clear, h, notice, table, when } from "./dom.js";

const itemsOf = (data) => (Array.isArray(data) ? data : (data && data.items) || []);

function testSummary(rev) {
  const results = rev.test_results || {};
  const failures = Array.isArray(results.failures) ? results.failures : [];
  return h("div", { class: "tests" },
    h("span", { class: rev.tests_passed ? "ok" : "bad", id: "policy-tests" },
      rev.tests_passed ? "tests passed" : "tests failed"),
    failures.length ? h("ul", {}, failures.map((f) => h("li", {},
      typeof f === "string" ? f : JSON.stringify(f)))) : null,
    h("details", {}, h("summary", {}, "Test report"), h("pre", {}, JSON.stringify(results, null, 2))));
}

function readFiles(input) {
  return Promise.all([...input.files].map((file) => file.text().then((text) => [
    file.webkitRelativePath || file.name, text])));
}

export async function policyPage(main, session) {
  const feedback = h("div", { id: "policy-feedback" });
  const run = async (work, ok) => {
    clear(feedback);
    try {
      const result = await work();
      await session.refresh();
      document.getElementById("policy-feedback")?.append(notice("ok", ok(result)));
    } catch (err) {
      const failures = Array.isArray(err.problem && err.problem.failures) ? err.problem.failures : [];
      // dom.js `append`, not Element.append: that one would show a null as "null"
      append(feedback, [notice("error", err.message),
        failures.length ? h("ul", { id: "policy-failures" }, failures.map((f) => h("li", {}, String(f)))) : null]);
    }
  };
  let active = null;
  try {
    active = await api.get("/api/policies/active");
  } catch (err) {
    if (err.status !== 404) throw err;
  }
  const [revisions, history] = await Promise.all([
    api.get("/api/policies").then(itemsOf),
    api.get("/api/policies/history").then(itemsOf),
  ]);

  const files = h("input", { type: "file", id: "policy-files", multiple: true, accept: ".rego,.json,.yaml,.yml" });
  const activate = h("input", { type: "checkbox", id: "policy-activate", checked: true });
  const filesForm = h("form", { id: "policy-upload", class: "filters" },
    h("label", {}, "Rego and data files ", files),
    h("label", {}, activate, " activate when the tests pass"),
    h("button", { type: "submit" }, "Upload"));
  filesForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    run(async () => api.post("/api/policies/files", { body: {
      files: Object.fromEntries(await readFiles(files)), activate: activate.checked } }),
    (out) => `revision ${out.revision.revision} uploaded: ${out.revision.status}`);
  });
  const bundle = h("input", { type: "file", id: "policy-bundle", accept: ".tar.gz,.tgz" });
  const bundleForm = h("form", { id: "bundle-upload", class: "filters" },
    h("label", {}, "Signed bundle (.tar.gz) ", bundle), h("button", { type: "submit" }, "Upload bundle"));
  bundleForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!bundle.files.length) return;
    run(async () => api.post("/api/policies/bundle", { raw: await bundle.files[0].arrayBuffer(),
      rawType: "application/gzip", params: { activate: activate.checked } }),
    (out) => `revision ${out.revision.revision} uploaded: ${out.revision.status}`);
  });
  const diffOut = h("div", { id: "policy-diff" });
  const showDiff = async (revision) => {
    clear(diffOut);
    try {
      const diff = await api.get("/api/policies/{revision}/diff", { path: { revision } });
      append(diffOut, [h("h3", {}, `Diff ${diff.revision} against ${diff.against}`),
        diff.added.length ? h("p", {}, "Added: ", diff.added.join(", ")) : null,
        diff.removed.length ? h("p", {}, "Removed: ", diff.removed.join(", ")) : null,
        Object.entries(diff.changed).map(([file, text]) => h("div", {},
          h("h4", {}, file), h("pre", { class: "diff" }, text.split("\n").map((line) =>
            h("span", { class: line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "" }, `${line}\n`)))))]);
    } catch (err) {
      diffOut.append(notice("error", err.message));
    }
  };
  main.append(h("h2", {}, "Policy"),
    h("div", { class: "card", id: "policy-active" }, h("h3", {}, "Active revision"),
      active ? [h("p", {}, h("code", {}, active.revision), ` by ${active.uploaded_by}, ${when(active.uploaded_at)}`),
        testSummary(active)] : h("p", { class: "empty" }, "No revision is active.")),
    h("div", { class: "card" }, h("h3", {}, "Upload"), filesForm, bundleForm, feedback,
      h("button", { type: "button", id: "policy-rollback", class: "danger",
        onclick: () => run(() => api.post("/api/policies/rollback"),
          (a) => `rolled back to ${a.revision || "the previous revision"}`) }, "Roll back to the previous revision")),
    h("h3", {}, "Revisions"),
    table([
      { title: "Revision", cell: (r) => h("code", {}, r.revision) },
      { title: "Uploaded", cell: (r) => `${when(r.uploaded_at)} by ${r.uploaded_by}` },
      { title: "Tests", cell: (r) => h("span", { class: r.tests_passed ? "ok" : "bad" }, r.tests_passed ? "passed" : "failed") },
      { title: "Status", cell: (r) => h("span", { class: `status pol-${r.status}` }, r.status || (r.active ? "active" : "")) },
      { title: "", cell: (r) => [
        h("button", { type: "button", onclick: () => showDiff(r.revision) }, "Diff"), " ",
        r.active || r.status === "rejected" ? null : h("button", { type: "button", onclick: () => run(
          () => api.post("/api/policies/{revision}/activate", { path: { revision: r.revision } }),
          () => `revision ${r.revision} activated`) }, "Activate")] },
    ], revisions, { id: "policy-revisions", rowKey: (r) => r.revision, empty: "No revision uploaded yet." }),
    diffOut,
    h("h3", {}, "Activation history"),
    table([
      { title: "When", cell: (a) => when(a.at) },
      { title: "Revision", cell: (a) => h("code", {}, a.revision) },
      { title: "By", cell: (a) => a.by },
      { title: "How", cell: (a) => a.kind },
    ], history, { id: "policy-history", empty: "Nothing activated yet." }));
}
