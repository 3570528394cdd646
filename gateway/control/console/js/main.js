// The console's shell: sign-in, the session (who am I, which roles), navigation and a
// hash router (#/alerts, #/alerts/<id>, #/devices, #/devices/<id>, #/policies, #/decisions).

import { alertDetail, alertQueue } from "./alerts.js";
import { api, clearToken, passwordGrant, setToken, token } from "./api.js";
import { decisionSearch } from "./decisions.js";
import { deviceDetail, deviceInventory } from "./devices.js";
import { clear, h, notice } from "./dom.js";
import { policyPage } from "./policies.js";

const OFFICER_ROLES = ["security-officer", "admin"];
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("whoami");

const session = {
  me: null,
  isOfficer() {
    return Boolean(this.me && this.me.roles.some((r) => OFFICER_ROLES.includes(r)));
  },
  refresh: () => route(),
};

async function loadConfig() {
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    return response.ok ? await response.json() : {};
  } catch {
    return {};
  }
}

async function signIn(bearer) {
  setToken(bearer.trim());
  try {
    session.me = await api.get("/api/me");
  } catch (err) {
    clearToken();
    session.me = null;
    throw err;
  }
  if (location.hash.startsWith("#/alerts") || !location.hash) {
    location.hash = "#/alerts";
    await route();
  } else {
    location.hash = "#/alerts"; // the hashchange routes
  }
}

function signOut(message) {
  clearToken();
  session.me = null;
  showSignIn(message);
}

async function showSignIn(message) {
  clear(nav);
  clear(who);
  clear(main);
  const config = await loadConfig();
  const feedback = h("div", { id: "signin-feedback" }, message ? notice("error", message) : null);
  const fail = (err) => clear(feedback).append(notice("error", err.message));
  const pasted = h("textarea", { id: "token", rows: 4, required: true, spellcheck: "false",
    autocomplete: "off", placeholder: "eyJ…" });
  const tokenForm = h("form", { id: "token-form", class: "card" }, h("h3", {}, "Paste an access token"),
    pasted, h("button", { type: "submit", id: "token-submit" }, "Sign in"));
  tokenForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    signIn(pasted.value).catch(fail);
  });
  const idp = h("input", { id: "idp-token-endpoint", type: "url", required: true,
    value: config.token_endpoint || "", placeholder: "the IdP token endpoint URL" });
  const user = h("input", { id: "username", required: true, autocomplete: "username" });
  const password = h("input", { id: "password", type: "password", required: true,
    autocomplete: "current-password" });
  const passwordForm = h("form", { id: "password-form", class: "card" },
    h("h3", {}, "Or sign in at the development IdP"),
    h("label", {}, "Token endpoint ", idp), h("label", {}, "User ", user),
    h("label", {}, "Password ", password),
    h("button", { type: "submit", id: "password-submit" }, "Sign in"));
  passwordForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const issued = await passwordGrant(idp.value, config.client_id || "zonegate-console",
        config.client_secret || "", user.value, password.value);
      password.value = "";
      await signIn(issued);
    } catch (err) {
      fail(err);
    }
  });
  main.append(h("h2", {}, "Sign in"), feedback, h("div", { class: "grid" }, tokenForm, passwordForm),
    h("p", { class: "hint" }, "The token stays in this tab only (sessionStorage) and is sent to the control plane alone."));
}

function renderNav() {
  const links = [["#/alerts", "Alerts"], ["#/devices", "Devices"], ["#/decisions", "Decisions"]];
  if (session.isOfficer()) links.push(["#/policies", "Policy"]);
  const current = location.hash.split(/[/?]/)[1] || "alerts";
  clear(nav).append(...links.map(([href, label]) => h("a", { href,
    class: href.slice(2) === current ? "current" : null }, label)));
  clear(who).append(h("span", { id: "actor" }, session.me.actor), " ",
    h("span", { class: "roles" }, session.me.roles.join(", ") || "no role"), " ",
    h("button", { type: "button", id: "sign-out", onclick: () => signOut() }, "Sign out"));
}

async function route() {
  if (!token()) return showSignIn();
  if (!session.me) {
    try {
      session.me = await api.get("/api/me");
    } catch (err) {
      return signOut(err.message);
    }
  }
  const [path, search] = (location.hash.slice(1) || "/alerts").split("?");
  const params = new URLSearchParams(search || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  renderNav();
  const view = h("section", { id: "view", "aria-busy": "true" });
  clear(main).append(view);
  try {
    if (parts[0] === "alerts" && parts[1]) await alertDetail(view, parts[1], session);
    else if (parts[0] === "devices" && parts[1]) await deviceDetail(view, parts[1], session);
    else if (parts[0] === "devices") await deviceInventory(view);
    else if (parts[0] === "policies") await policyPage(view, session);
    else if (parts[0] === "decisions") await decisionSearch(view, params);
    else await alertQueue(view, params);
  } catch (err) {
    if (!token()) return undefined; // a 401 already sent the user to sign-in
    view.append(notice("error", err.status === 403
      ? `Your roles do not allow this page (${err.message}).` : err.message));
  }
  view.setAttribute("aria-busy", "false");
  return undefined;
}

window.addEventListener("zonegate:signed-out", (ev) => signOut(ev.detail));
window.addEventListener("hashchange", () => route());
route();
