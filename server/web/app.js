// mmrag web UI: plain DOM, no dependencies. Everything that comes from the
// knowledge base or the model is inserted as text nodes, never as HTML.
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
};

// ---- settings -------------------------------------------------------------

const SETTINGS_KEY = "mmrag.settings";
let defaults = {};
let settings = {};

function loadSettings() {
  try { settings = JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}"); } catch { settings = {}; }
}
function saveSettings() { localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings)); }
function setting(name) { return settings[name] ?? defaults[name]; }

function fillSettingsForm() {
  const f = $("#settings");
  for (const input of f.elements) {
    if (!input.name) continue;
    const v = setting(input.name);
    input.value = v === undefined || v === null ? "" : v;
  }
  const info = [];
  if (defaults.generator) info.push("answers by " + defaults.generator);
  if (defaults.embedding_model) info.push("embeddings by " + defaults.embedding_model);
  $("#server-info").textContent = info.join(" · ");
}

// ---- HTTP -----------------------------------------------------------------

function headers(extra = {}) {
  const h = { ...extra };
  const tok = settings.token;
  if (tok) h["Authorization"] = "Bearer " + tok;
  return h;
}

async function api(path, opts = {}) {
  const res = await fetch(path, { ...opts, headers: headers(opts.headers) });
  if (res.status === 401) {
    showView("settings");
    status("The server needs an API token: enter it in Settings.");
    throw new Error("unauthorized");
  }
  if (!res.ok) {
    let msg = res.status + " " + res.statusText;
    try { const j = await res.json(); if (j.error) msg = j.error; } catch {}
    throw new Error(msg);
  }
  return res;
}

function status(text) { $("#status").textContent = text; }

// Images behind a token cannot be plain <img src>: fetch them with the
// header and show an object URL.
const blobCache = new Map();
async function setImage(img, url) {
  if (!settings.token) { img.src = url; return; }
  try {
    if (!blobCache.has(url)) {
      const res = await api(url);
      blobCache.set(url, URL.createObjectURL(await res.blob()));
    }
    img.src = blobCache.get(url);
  } catch (e) { img.alt = "image unavailable: " + e.message; }
}

// ---- safe Markdown ----------------------------------------------------------

// renderMarkdown turns the model's Markdown into DOM nodes: paragraphs,
// headings, lists, code, emphasis, links (http/https only) and [n]
// citations linked to the sources panel.
function renderMarkdown(src, target) {
  target.replaceChildren();
  const lines = src.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (/^```/.test(line)) {
      const code = [];
      i++;
      while (i < lines.length && !/^```/.test(lines[i])) code.push(lines[i++]);
      i++;
      target.append(el("pre", {}, el("code", {}, code.join("\n"))));
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) { target.append(inline(el("h" + Math.min(6, h[1].length + 2)), h[2])); i++; continue; }
    if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = el(ordered ? "ol" : "ul");
      while (i < lines.length && /^\s*([-*+]|\d+[.)])\s+/.test(lines[i])) {
        list.append(inline(el("li"), lines[i].replace(/^\s*([-*+]|\d+[.)])\s+/, "")));
        i++;
      }
      target.append(list);
      continue;
    }
    if (line.trim() === "") { i++; continue; }
    const para = [];
    while (i < lines.length && lines[i].trim() !== "" && !/^```|^#{1,6}\s|^\s*([-*+]|\d+[.)])\s+/.test(lines[i])) para.push(lines[i++]);
    target.append(inline(el("p"), para.join("\n")));
  }
  return target;
}

function inline(parent, text) {
  // Tokens: `code`, **bold**, *em*, [label](url), [n] citations.
  const re = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|(\[[^\]]+\]\((https?:\/\/[^\s)]+)\))|(\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\])/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    if (m.index > last) parent.append(text.slice(last, m.index));
    if (m[1]) parent.append(el("code", {}, m[1].slice(1, -1)));
    else if (m[2]) parent.append(el("strong", {}, m[2].slice(2, -2)));
    else if (m[3]) parent.append(el("em", {}, m[3].slice(1, -1)));
    else if (m[4]) {
      const label = m[4].slice(1, m[4].indexOf("]("));
      parent.append(el("a", { href: m[5], rel: "noopener noreferrer nofollow", target: "_blank" }, label));
    } else if (m[6]) {
      m[7].split(/\s*,\s*/).forEach((n, k) => {
        if (k) parent.append(" ");
        parent.append(el("a", { href: "#source-" + n, class: "cite", "data-n": n, onclick: (ev) => { ev.preventDefault(); openCitation(ev.currentTarget, n); } }, "[" + n + "]"));
      });
    }
    last = re.lastIndex;
  }
  if (last < text.length) parent.append(text.slice(last));
  return parent;
}

// ---- chat ---------------------------------------------------------------

const history = [];
let controller = null;

function addMessage(role, text) {
  const body = el("div", { class: "body" });
  const li = el("li", { class: "msg " + role }, body);
  if (role === "user") body.textContent = text; else renderMarkdown(text, body);
  $("#messages").append(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

// openCitation shows source n of the answer that cites it: each answer
// numbers its own sources, so an older answer's [n] first brings its own
// sources back into the panel.
function openCitation(link, n) {
  const msg = link.closest("li.msg");
  if (msg && msg.sources && msg.sources !== shownSources) showSources(msg.sources);
  flashSource(n);
}

function flashSource(n) {
  const li = document.getElementById("source-" + n);
  if (!li) return;
  const fold = li.closest("details");
  if (fold) fold.open = true;
  li.scrollIntoView({ block: "nearest", behavior: "smooth" });
  li.classList.add("flash");
  setTimeout(() => li.classList.remove("flash"), 1500);
  const link = li.querySelector("a.open");
  if (link) link.focus();
}

function sourceWhere(s) {
  const parts = [];
  if (s.title) parts.push(s.title);
  // Section paths often start with the document's own title: say it once.
  const sec = (s.section || []).filter((x, i) => !(i === 0 && x === s.title));
  if (sec.length) parts.push(sec.join(" › "));
  if (s.page) parts.push("p. " + s.page);
  return parts.join(" — ") || s.source || s.doc_id;
}

function readerHref(s) { return "#/doc/" + encodeURIComponent(s.doc_id) + "/" + encodeURIComponent(s.item_id); }

let shownSources = null; // the sources in the panel: one answer's

function showSources(src) {
  shownSources = src;
  const list = $("#sources"), figs = $("#figures");
  list.replaceChildren(); figs.replaceChildren();
  const text = (src && src.text) || [], images = (src && src.images) || [];
  $("#sources-empty").hidden = text.length + images.length > 0;
  for (const s of images) {
    const img = el("img", { alt: s.caption || "figure", loading: "lazy" });
    setImage(img, s.thumb_url || s.image_url);
    figs.append(el("figure", { class: "figure thumb", id: "source-" + s.n },
      el("a", { href: readerHref(s), class: "open", title: "open in its document" }, img),
      el("figcaption", {}, "[" + s.n + "] ", s.caption || "(no caption)", el("span", { class: "score" }, " " + fmtScore(s.score)))));
  }
  // An answer's cited sources come first; the others are folded.
  const anyCited = text.some((s) => s.cited);
  let rest = null;
  for (const s of text) {
    const li = el("li", { id: "source-" + s.n, value: s.n, class: "source-text" },
      el("a", { href: readerHref(s), class: "open where" }, sourceWhere(s)),
      " ", el("span", { class: "score" }, fmtScore(s.score)),
      el("p", { class: "snippet" }, clip(s.text || "", 400)));
    if (anyCited && !s.cited) {
      if (!rest) { rest = el("ol"); list.append(el("li", { class: "uncited" }, el("details", {}, el("summary", {}, "Also retrieved, not cited"), rest))); }
      rest.append(li);
    } else list.append(li);
  }
}

const fmtScore = (x) => (typeof x === "number" ? "score " + (Math.abs(x) < 0.01 ? x.toExponential(1) : x.toFixed(3)) : "");
const clip = (s, n) => (s.length > n ? s.slice(0, n - 1) + "…" : s);

function searchOptions() {
  const o = {};
  for (const k of ["mode", "strategy"]) if (setting(k)) o[k] = setting(k);
  // Only a model the user chose; the server's default needs no naming.
  if (settings.model) o.model = settings.model;
  for (const k of ["text_k", "image_k", "text_threshold", "image_threshold", "temperature"]) {
    const v = setting(k);
    if (v !== undefined && v !== null && v !== "") o[k] = Number(v);
  }
  return o;
}

// parseSSE feeds complete events from a fetch body to onEvent(type, data).
async function readSSE(res, onEvent) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const raw = buf.slice(0, cut); buf = buf.slice(cut + 2);
      let type = "message", data = "";
      for (const line of raw.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data += (data ? "\n" : "") + line.slice(5).replace(/^ /, "");
      }
      if (data) onEvent(type, JSON.parse(data));
    }
  }
}

async function ask(question) {
  addMessage("user", question);
  const li = addMessage("assistant", "");
  li.setAttribute("aria-busy", "true");
  const body = li.querySelector(".body");
  let answer = "";
  controller = new AbortController();
  $("#send").disabled = true; $("#stop").hidden = false;
  status("Searching…");
  const t0 = performance.now();
  try {
    const res = await api("/v1/ask", {
      method: "POST", signal: controller.signal,
      headers: { "Content-Type": "application/json", "Accept": "text/event-stream" },
      body: JSON.stringify({ question, history: history.slice(-12), stream: true, ...searchOptions() }),
    });
    await readSSE(res, (type, data) => {
      if (type === "sources") { li.sources = data; showSources(data); status("Answering…"); }
      else if (type === "token") { answer += data.text; renderMarkdown(answer, body); }
      else if (type === "done") {
        answer = data.answer ?? answer;
        renderMarkdown(answer, body);
        if (data.sources) { li.sources = data.sources; showSources(data.sources); }
        const meta = [data.model, ((performance.now() - t0) / 1000).toFixed(1) + " s"].concat(data.notes || []);
        li.append(el("div", { class: "meta" }, meta.filter(Boolean).join(" · ")));
      } else if (type === "error") throw new Error(data.error);
    });
    history.push({ role: "user", content: question }, { role: "assistant", content: answer });
    status("");
  } catch (e) {
    if (e.name === "AbortError") { status("Stopped."); }
    else { li.classList.add("error"); body.append(el("p", {}, "Error: " + e.message)); status(""); }
  } finally {
    li.removeAttribute("aria-busy");
    $("#send").disabled = false; $("#stop").hidden = true; controller = null;
    li.scrollIntoView({ block: "end" });
  }
}

// ---- library and uploads -------------------------------------------------------

async function refreshLibrary() {
  const tbody = $("#library");
  try {
    const { documents } = await (await api("/v1/documents")).json();
    $("#doc-count").textContent = "(" + documents.length + ")";
    tbody.replaceChildren(...documents.map((d) => el("tr", { "data-id": d.id },
      el("td", {}, el("a", { href: "#/doc/" + encodeURIComponent(d.id) }, d.title || d.source)),
      el("td", {}, d.type || ""), el("td", {}, String(d.items ?? "")),
      el("td", { class: "muted" }, d.uploaded ? "uploaded" : d.source),
      el("td", {},
        el("button", { type: "button", "aria-label": "Re-ingest " + (d.title || d.source), onclick: () => reingest(d) }, "Re-ingest"), " ",
        el("button", { type: "button", "aria-label": "Delete " + (d.title || d.source), onclick: () => removeDoc(d) }, "Delete")))));
  } catch (e) { status("Library: " + e.message); }
}

async function removeDoc(d) {
  if (!confirm("Delete “" + (d.title || d.source) + "” and its items?")) return;
  try { await api("/v1/documents/" + encodeURIComponent(d.id), { method: "DELETE" }); refreshLibrary(); }
  catch (e) { status("Delete failed: " + e.message); }
}

async function reingest(d) {
  try { watchJob(await (await api("/v1/documents/" + encodeURIComponent(d.id) + "/reingest", { method: "POST" })).json(), d.title || d.source); }
  catch (e) { status("Re-ingest failed: " + e.message); }
}

function upload(files) {
  if (!files.length) return;
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  const label = files.length === 1 ? files[0].name : files.length + " files";
  const row = jobRow(label);
  // XMLHttpRequest reports upload progress; fetch does not.
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/documents");
  if (settings.token) xhr.setRequestHeader("Authorization", "Bearer " + settings.token);
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) row.set(e.loaded / e.total / 2, "uploading"); };
  xhr.onload = () => {
    let j = {};
    try { j = JSON.parse(xhr.responseText); } catch {}
    if (xhr.status === 202) watchJob(j, label, row);
    else row.fail(j.error || xhr.status + " " + xhr.statusText);
  };
  xhr.onerror = () => row.fail("network error");
  xhr.send(form);
}

async function addURL(url) {
  try {
    const job = await (await api("/v1/documents", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ urls: [url] }) })).json();
    watchJob(job, url);
  } catch (e) { status("Add failed: " + e.message); }
}

function jobRow(label) {
  const bar = el("progress", { max: "1", value: "0" });
  const state = el("span", { class: "state" }, "queued");
  const errs = el("div", { class: "errors" });
  const row = el("div", { class: "job" }, label, " ", bar, " ", state, errs);
  $("#jobs").prepend(row);
  return {
    el: row,
    set(frac, text) { bar.value = frac; state.textContent = text; },
    fail(msg) { state.textContent = "failed"; errs.textContent = msg; },
  };
}

async function watchJob(job, label, row = jobRow(label)) {
  row.el.dataset.job = job.id;
  for (;;) {
    const frac = job.total ? 0.5 + 0.5 * (job.done + job.failed) / job.total : 0.5;
    row.set(job.state === "done" ? 1 : frac, job.state + (job.total ? ` (${job.done}/${job.total})` : ""));
    if (job.errors && job.errors.length) row.el.querySelector(".errors").textContent = job.errors.map((e) => e.source + ": " + e.error).join("\n");
    if (job.state === "done" || job.state === "failed") { row.el.classList.add(job.state); refreshLibrary(); return job; }
    await new Promise((r) => setTimeout(r, 400));
    try { job = await (await api("/v1/jobs/" + encodeURIComponent(job.id))).json(); }
    catch (e) { row.fail(e.message); return; }
  }
}

// ---- reader view: a document's items, the cited one highlighted --------------

async function openReader(docID, itemID) {
  showView("reader");
  const box = $("#reader-items");
  box.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  try {
    const { document: d, items, passages } = await (await api("/v1/documents/" + encodeURIComponent(docID))).json();
    $("#reader-title").textContent = d.title || d.source;
    // The original, at the cited item's section when it is a web page.
    const cited = items.find((it) => it.id === itemID);
    const orig = d.source + (cited && cited.anchor ? "#" + cited.anchor : "");
    const src = $("#reader-source");
    src.replaceChildren(/^https?:\/\//.test(d.source) ? el("a", { href: orig, rel: "noopener noreferrer", target: "_blank" }, orig) : d.uploaded ? "uploaded file" : d.source);
    let lastSec = null, target = null;
    // Passages, not windows: a split paragraph reads as one, and a
    // citation of any of its windows lands on it.
    box.replaceChildren(...(passages || items).map((it) => {
      const sec = (it.section || []).join(" › ") + (it.page ? " · p. " + it.page : "");
      const kids = [];
      if (sec !== lastSec) { kids.push(el("div", { class: "sec" }, sec)); lastSec = sec; }
      if (it.modality === "image") {
        const img = el("img", { alt: it.caption || it.alt || "figure", loading: "lazy" });
        setImage(img, it.thumb_url || it.image_url);
        kids.push(el("figure", {}, img, el("figcaption", {}, it.caption || it.alt || "")));
      } else kids.push(el("p", {}, it.text));
      const div = el("div", { class: "reader-item", id: "item-" + it.id, tabindex: "-1" }, kids);
      if (it.id === itemID || (it.items || []).includes(itemID)) { div.classList.add("hl"); target = div; }
      return div;
    }));
    if (target) { target.scrollIntoView({ block: "center" }); target.focus(); }
  } catch (e) { box.replaceChildren(el("p", {}, "Could not open the document: " + e.message)); }
}

// ---- views and wiring -----------------------------------------------------

function showView(name) {
  for (const v of ["chat", "library", "settings", "reader"]) {
    $("#view-" + v).hidden = v !== name;
    const tab = $("#tab-" + v);
    if (tab) tab.setAttribute("aria-selected", String(v === name));
  }
  if (name === "library") refreshLibrary();
  if (name === "settings") fillSettingsForm();
}

function route() {
  const m = /^#\/doc\/([^/]+)(?:\/([^/]+))?/.exec(location.hash);
  if (m) openReader(decodeURIComponent(m[1]), m[2] && decodeURIComponent(m[2]));
  else if (location.hash === "#/library") showView("library");
  else if (location.hash === "#/settings") showView("settings");
  else showView("chat");
}

function init() {
  loadSettings();
  for (const v of ["chat", "library", "settings"]) $("#tab-" + v).addEventListener("click", () => { location.hash = v === "chat" ? "#/" : "#/" + v; });
  $("#reader-back").addEventListener("click", () => { location.hash = "#/"; });
  window.addEventListener("hashchange", route);

  $("#ask-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("#question").value.trim();
    if (!q || controller) return;
    $("#question").value = "";
    ask(q);
  });
  $("#question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("#ask-form").requestSubmit(); }
  });
  $("#stop").addEventListener("click", () => controller && controller.abort());

  const drop = $("#drop"), input = $("#upload-input");
  drop.addEventListener("click", (e) => { if (e.target.tagName !== "LABEL") input.click(); });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); upload([...e.dataTransfer.files]); });
  input.addEventListener("change", () => { upload([...input.files]); input.value = ""; });
  $("#url-form").addEventListener("submit", (e) => { e.preventDefault(); const u = $("#url-input").value.trim(); if (u) { addURL(u); $("#url-input").value = ""; } });

  $("#settings").addEventListener("submit", (e) => {
    e.preventDefault();
    for (const input of e.target.elements) if (input.name) settings[input.name] = input.value === "" ? undefined : input.value;
    saveSettings(); status("Settings saved.");
  });
  $("#reset-settings").addEventListener("click", () => { const tok = settings.token; settings = { token: tok }; saveSettings(); fillSettingsForm(); });

  api("/v1/settings").then((r) => r.json()).then((d) => { defaults = d; fillSettingsForm(); }).catch(() => {});
  route();
}

init();
