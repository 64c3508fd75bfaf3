// mmrag web UI, the core: DOM helpers, settings, HTTP with plain-language
// errors, theme, tabs and routing. chat.js, figures.js, reader.js and
// library.js add the views; no framework, no build step. Everything that
// comes from the knowledge base or the model is inserted as text nodes,
// never as HTML.
"use strict";

// The theme applies before the page paints (this script is not deferred).
const THEME_KEY = "mmrag.theme";
function storedTheme() { try { return localStorage.getItem(THEME_KEY); } catch { return null; } }
function currentTheme() {
  return storedTheme() || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
}
document.documentElement.dataset.theme = currentTheme();

const $ = (sel) => document.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) e.append(k instanceof Node ? k : String(k));
  return e;
};
const isPhone = () => matchMedia("(max-width: 760px)").matches;

// ---- settings -------------------------------------------------------------

const SETTINGS_KEY = "mmrag.settings";
let defaults = {};
let settings = {};

function loadSettings() {
  try { settings = JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}") || {}; } catch { settings = {}; }
}
function saveSettings() { localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings)); }
function setting(name) { return settings[name] ?? defaults[name]; }

function fillSettingsForm() {
  const f = $("#settings");
  for (const input of f.elements) {
    if (!input.name) continue;
    const v = setting(input.name);
    input.value = v === undefined || v === null ? (input.type === "range" ? "0" : "") : v;
  }
  showThreshold();
  const info = [];
  if (defaults.generator) info.push("answers by " + defaults.generator);
  if (defaults.embedding_model) info.push("embeddings by " + defaults.embedding_model);
  $("#server-info").textContent = info.join(" · ");
}

function showThreshold() { $("#image-threshold-value").textContent = Number($("#image-threshold").value).toFixed(2); }

// ---- HTTP -----------------------------------------------------------------

function headers(extra = {}) {
  const h = { ...extra };
  if (settings.token) h["Authorization"] = "Bearer " + settings.token;
  return h;
}

// HTTPError is a failed request as a person can act on it: message says
// what to do; the server's request id is kept for a bug report.
class HTTPError extends Error {
  constructor(message, status, requestID) {
    super(message);
    this.name = "HTTPError";
    this.status = status;
    this.requestID = requestID;
  }
}

const NETWORK_MESSAGE = "Cannot reach the mmrag server. Check that it is running and that you are online, then try again.";

// publicMessage turns a status and the server's JSON error into a
// sentence: 4xx messages are the server's own advice; a 5xx is never
// shown beyond "internal error" and its request id (details are in the
// server log).
function publicMessage(status, body) {
  const id = body && body.request_id;
  const said = body && (typeof body.error === "string" ? body.error : body.error && body.error.message);
  const ref = id ? " (request id " + id + ")" : "";
  switch (true) {
    case status === 401: return "The server needs an API token: enter it in Settings.";
    case status === 403: return "This server does not allow that" + (said ? ": " + said : ".");
    case status === 404: return said ? said : "Not found: it may have been deleted.";
    case status === 413: return "Too large" + (said ? ": " + said : ".") + " Try a smaller file.";
    case status === 429: return "The server is busy. Wait a moment and try again.";
    case status === 503: return "A service the server needs is unavailable (is the LLM server running?). Try again in a moment" + ref + ".";
    case status >= 500: return "The server hit an internal error" + ref + ". The details are in its log.";
    case status >= 400: return said || "The server refused the request (" + status + ").";
    default: return "Unexpected answer from the server (" + status + ").";
  }
}

// api fetches path; a network failure is retried once, any other failure
// throws an HTTPError with a plain message. An abort throws AbortError.
async function api(path, opts = {}) {
  let res;
  for (let attempt = 0; ; attempt++) {
    try {
      res = await fetch(path, { ...opts, headers: headers(opts.headers) });
      break;
    } catch (e) {
      if (e.name === "AbortError" || attempt > 0) throw e.name === "AbortError" ? e : new HTTPError(NETWORK_MESSAGE, 0);
      await new Promise((r) => setTimeout(r, 700));
      if (opts.signal && opts.signal.aborted) throw new DOMException("aborted", "AbortError");
    }
  }
  if (res.ok) return res;
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (res.status === 401) status(publicMessage(401, body));
  throw new HTTPError(publicMessage(res.status, body), res.status, body && body.request_id);
}

const getJSON = async (path, opts) => (await api(path, opts)).json();
const sendJSON = (method, path, body, opts = {}) =>
  api(path, { ...opts, method, headers: { "Content-Type": "application/json", ...(opts.headers || {}) }, body: JSON.stringify(body) });

// errorText is what a person reads of any error.
function errorText(e) {
  if (e instanceof HTTPError) return e.message;
  if (e && e.name === "TypeError") return NETWORK_MESSAGE;
  return "Something went wrong in the page. Reload it and try again.";
}

function status(text) { $("#status").textContent = text; }

// Images behind a token cannot be plain <img src>: fetch them with the
// header and show an object URL.
const blobCache = new Map();
async function setImage(img, url) {
  if (!settings.token) { img.src = url; return; }
  try {
    if (!blobCache.has(url)) blobCache.set(url, URL.createObjectURL(await (await api(url)).blob()));
    img.src = blobCache.get(url);
  } catch (e) { img.alt = "image unavailable: " + errorText(e); }
}

const fmtScore = (x) => (typeof x === "number" ? "score " + (Math.abs(x) < 0.01 ? x.toExponential(1) : x.toFixed(3)) : "");
const clip = (s, n) => (s.length > n ? s.slice(0, n - 1) + "…" : s);
function fmtSize(n) {
  if (!n) return "";
  const u = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + " " + u[i];
}
function fmtDate(s) {
  if (!s) return "";
  const d = new Date(s);
  return isNaN(d) ? "" : d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

// confirmDialog asks before a destructive action; it resolves true on
// "ok". The dialog names what will be lost.
function confirmDialog(text, action = "Delete") {
  const d = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = action;
  const back = document.activeElement;
  // Escape closes without setting returnValue: clear an earlier "ok".
  d.returnValue = "";
  d.showModal();
  $("#confirm-cancel").focus();
  return new Promise((resolve) => {
    const onClose = () => {
      if (d.open) return; // the late close event of an earlier use
      d.removeEventListener("close", onClose);
      if (back && back.isConnected) back.focus();
      resolve(d.returnValue === "ok");
    };
    d.addEventListener("close", onClose);
  });
}

// ---- theme -------------------------------------------------------------------

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const b = $("#theme-toggle");
  // A toggle button: its name stays, its pressed state says which theme.
  b.setAttribute("aria-pressed", String(theme === "dark"));
}

function toggleTheme() {
  const next = currentTheme() === "dark" ? "light" : "dark";
  try { localStorage.setItem(THEME_KEY, next); } catch { /* private mode */ }
  applyTheme(next);
}

// ---- views, tabs (ARIA tabs pattern) and routing ----------------------------

const TABS = ["chat", "library", "figures", "settings"];
const viewHooks = {}; // name → function run when the view is shown

function showView(name) {
  for (const v of TABS.concat("reader")) $("#view-" + v).hidden = v !== name;
  for (const v of TABS) {
    const tab = $("#tab-" + v);
    tab.setAttribute("aria-selected", String(v === name));
    tab.tabIndex = v === name || (name === "reader" && v === "chat") ? 0 : -1;
  }
  document.body.dataset.view = name;
  if (viewHooks[name]) viewHooks[name]();
}

function onTabKey(e) {
  const i = TABS.indexOf(e.target.id.replace("tab-", ""));
  let j = -1;
  if (e.key === "ArrowRight") j = (i + 1) % TABS.length;
  else if (e.key === "ArrowLeft") j = (i - 1 + TABS.length) % TABS.length;
  else if (e.key === "Home") j = 0;
  else if (e.key === "End") j = TABS.length - 1;
  if (j < 0) return;
  e.preventDefault();
  const tab = $("#tab-" + TABS[j]);
  tab.focus();
  tab.click();
}

const routes = []; // [regexp, handler(match)]: the first that matches wins

function route() {
  for (const [re, fn] of routes) {
    const m = re.exec(location.hash);
    if (m) { fn(m); return; }
  }
  showView("chat");
}

function go(hash) { if (location.hash === hash) route(); else location.hash = hash; }

function init() {
  loadSettings();
  applyTheme(currentTheme());
  $("#theme-toggle").addEventListener("click", toggleTheme);
  for (const v of TABS) {
    const tab = $("#tab-" + v);
    tab.addEventListener("click", () => go(v === "chat" ? (typeof chatHash === "function" ? chatHash() : "#/") : "#/" + v));
    tab.addEventListener("keydown", onTabKey);
  }
  routes.push([/^#\/library$/, () => showView("library")], [/^#\/figures$/, () => showView("figures")], [/^#\/settings$/, () => showView("settings")]);
  window.addEventListener("hashchange", route);

  $("#settings").addEventListener("submit", (e) => {
    e.preventDefault();
    for (const input of e.target.elements) if (input.name) settings[input.name] = input.value === "" ? undefined : input.value;
    saveSettings(); status("Settings saved.");
  });
  $("#image-threshold").addEventListener("input", showThreshold);
  $("#reset-settings").addEventListener("click", () => { const tok = settings.token; settings = { token: tok }; saveSettings(); fillSettingsForm(); });
  viewHooks.settings = fillSettingsForm;

  for (const fn of initHooks) fn();
  route();
  // A person comes to ask: the focus starts in the question box.
  if (!$("#view-chat").hidden) $("#question").focus();
}

// Each view's file pushes its wiring here; init runs them once the page
// has loaded, before the first route.
const initHooks = [];
document.addEventListener("DOMContentLoaded", init);
