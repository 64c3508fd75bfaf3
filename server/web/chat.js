// mmrag web UI, the chat: safe Markdown, asking (streamed, with an image
// or "more like this"), each answer's sources, conversations kept by the
// server, and the scope and model pickers.
"use strict";

// ---- safe Markdown ----------------------------------------------------------

// renderMarkdown turns the model's Markdown into DOM nodes: paragraphs,
// headings, lists, code, emphasis, links (http/https only) and [n]
// citations linked to the sources panel. A cited figure (src.images) is
// shown after the sentence that cites it.
function renderMarkdown(src, target, sources) {
  target.replaceChildren();
  const figs = new Map(((sources && sources.images) || []).map((s) => [String(s.n), s]));
  const shown = new Set();
  const lines = src.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  const inl = (e, text) => inline(e, text, figs, shown);
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
    if (h) { target.append(inl(el("h" + Math.min(6, h[1].length + 2)), h[2])); i++; continue; }
    if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = el(ordered ? "ol" : "ul");
      while (i < lines.length && /^\s*([-*+]|\d+[.)])\s+/.test(lines[i])) {
        list.append(inl(el("li"), lines[i].replace(/^\s*([-*+]|\d+[.)])\s+/, "")));
        i++;
      }
      target.append(list);
      continue;
    }
    if (line.trim() === "") { i++; continue; }
    const para = [];
    while (i < lines.length && lines[i].trim() !== "" && !/^```|^#{1,6}\s|^\s*([-*+]|\d+[.)])\s+/.test(lines[i])) para.push(lines[i++]);
    target.append(inl(el("p"), para.join("\n")));
  }
  return target;
}

// inline appends text's inline Markdown to parent. Figures cited in it
// wait for the end of their sentence, then follow it as a row of
// thumbnails.
function inline(parent, text, figs = new Map(), shown = new Set()) {
  const re = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|(\[[^\]]+\]\((https?:\/\/[^\s)]+)\))|(\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\])/g;
  let pending = [];
  const flush = () => {
    if (!pending.length) return;
    parent.append(el("span", { class: "inline-figs" }, pending.map((s) => thumbButton(s, "inline"))));
    pending = [];
  };
  const plain = (t) => {
    // A sentence ends at . ! or ? followed by a space or the end.
    const m = pending.length ? /[.!?](\s|$)/.exec(t) : null;
    if (!m) { parent.append(t); return; }
    parent.append(t.slice(0, m.index + 1));
    flush();
    if (m.index + 1 < t.length) parent.append(t.slice(m.index + 1));
  };
  let last = 0, m;
  while ((m = re.exec(text))) {
    if (m.index > last) plain(text.slice(last, m.index));
    if (m[1]) parent.append(el("code", {}, m[1].slice(1, -1)));
    else if (m[2]) parent.append(el("strong", {}, m[2].slice(2, -2)));
    else if (m[3]) parent.append(el("em", {}, m[3].slice(1, -1)));
    else if (m[4]) {
      const label = m[4].slice(1, m[4].indexOf("]("));
      parent.append(el("a", { href: m[5], rel: "noopener noreferrer nofollow", target: "_blank" }, label));
    } else if (m[6]) {
      m[7].split(/\s*,\s*/).forEach((n, k) => {
        if (k) parent.append(" ");
        parent.append(el("a", { href: "#source-" + n, class: "cite", "data-n": n, "aria-label": "source " + n, onclick: (ev) => { ev.preventDefault(); openCitation(ev.currentTarget, n); } }, "[" + n + "]"));
        const fig = figs.get(n);
        if (fig && !shown.has(n)) { shown.add(n); pending.push(fig); }
      });
    }
    last = re.lastIndex;
  }
  if (last < text.length) plain(text.slice(last));
  flush();
  return parent;
}

// ---- sources ---------------------------------------------------------------

let shownSources = null; // the sources in the panel: one answer's
let citedFrom = null; // the citation link that last opened a source

// openCitation shows source n of the answer that cites it: each answer
// numbers its own sources, so an older answer's [n] first brings its own
// sources back into the panel. Escape in the panel returns to the link.
function openCitation(link, n) {
  const msg = link.closest("li.msg");
  if (msg && msg.sources && msg.sources !== shownSources) showSources(msg.sources);
  citedFrom = link;
  setSourcesOpen(true);
  const li = document.getElementById("source-" + n);
  if (!li) return;
  const fold = li.closest("details");
  if (fold) fold.open = true;
  li.scrollIntoView({ block: "nearest" });
  li.classList.add("flash");
  setTimeout(() => li.classList.remove("flash"), 1500);
  // The source itself takes the focus (Tab reaches its links, Escape
  // goes back): a control there would catch the Enter that got here.
  li.focus();
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

function readerHref(s) { return "#/doc/" + encodeURIComponent(s.doc_id) + "/" + encodeURIComponent(s.item_id || s.id); }

function likeButton(s, label) {
  return el("button", { type: "button", class: "like small-button", "aria-label": "More like " + (label || "this"), onclick: () => moreLikeThis(s, label) }, "More like this");
}

function setSourcesOpen(open) {
  $("#sources-toggle").setAttribute("aria-expanded", String(open));
  $(".sources").classList.toggle("open", open);
}

function showSources(src) {
  shownSources = src;
  const list = $("#sources"), figs = $("#figures");
  list.replaceChildren(); figs.replaceChildren();
  const text = (src && src.text) || [], images = (src && src.images) || [];
  $("#sources-empty").hidden = text.length + images.length > 0;
  $("#sources-count").textContent = text.length + images.length ? "(" + (text.length + images.length) + ")" : "";
  const note = $("#images-note"), n = src && src.images_note;
  note.hidden = !(n && !images.length);
  note.textContent = "";
  if (n) note.append("No figure passed the threshold " + Number(n.threshold).toFixed(2) + " (best " + Number(n.best_score).toFixed(2) + "). ",
    el("a", { href: "#/settings" }, "Lower the figure threshold"), " to see figures.");
  for (const s of images) {
    figs.append(el("figure", { class: "figure", id: "source-" + s.n, tabindex: "-1" },
      thumbButton(s, "panel"),
      el("figcaption", {}, "[" + s.n + "] ", s.caption || "(no caption)", el("span", { class: "score" }, " " + fmtScore(s.score))),
      el("div", { class: "actions" }, el("a", { href: readerHref(s), class: "open small-button" }, "In document"), likeButton(s, s.caption))));
  }
  // An answer's cited sources come first; the others are folded.
  const anyCited = text.some((s) => s.cited);
  let rest = null;
  for (const s of text) {
    const li = el("li", { id: "source-" + s.n, value: s.n, class: "source-text", tabindex: "-1" },
      el("a", { href: readerHref(s), class: "open where" }, sourceWhere(s)),
      " ", el("span", { class: "score" }, fmtScore(s.score)),
      el("p", { class: "snippet" }, clip(s.text || "", 400)),
      likeButton(s, sourceWhere(s)));
    if (anyCited && !s.cited) {
      if (!rest) { rest = el("ol"); list.append(el("li", { class: "uncited" }, el("details", {}, el("summary", {}, "Also retrieved, not cited"), rest))); }
      rest.append(li);
    } else list.append(li);
  }
}

// ---- the question box: text and an image --------------------------------------

let attached = null; // {file, url}: the picture the next question searches with

function attachImage(file) {
  if (!file || !/^image\//.test(file.type)) { status("Only pictures can be searched with: drop a PNG, JPEG, GIF or WebP."); return; }
  if (file.size > 10 << 20) { status("That picture is over 10 MB: use a smaller one."); return; }
  clearAttachment();
  attached = { file, url: URL.createObjectURL(file) };
  const box = $("#attachments");
  box.replaceChildren(el("span", { class: "chip" },
    el("img", { src: attached.url, alt: "" }),
    el("span", { class: "chip-name" }, file.name || "pasted image"),
    el("button", { type: "button", class: "chip-remove", "aria-label": "Remove the image " + (file.name || ""), onclick: () => { clearAttachment(); $("#question").focus(); } }, "×")));
  box.hidden = false;
  status("The image will be searched with your question.");
}

function clearAttachment() {
  attached = null;
  $("#attachments").hidden = true;
  $("#attachments").replaceChildren();
}

const readDataURL = (file) => new Promise((resolve, reject) => {
  const r = new FileReader();
  r.onload = () => resolve(r.result);
  r.onerror = () => reject(r.error);
  r.readAsDataURL(file);
});

function imageFrom(dt) {
  if (!dt) return null;
  for (const f of dt.files || []) if (/^image\//.test(f.type)) return f;
  for (const it of dt.items || []) if (it.kind === "file" && /^image\//.test(it.type)) return it.getAsFile();
  return null;
}

// ---- asking -------------------------------------------------------------------

let controller = null;

function addMessage(role, text, image) {
  const body = el("div", { class: "body" });
  const li = el("li", { class: "msg " + role }, body);
  if (image) li.prepend(el("img", { class: "query-image", src: image, alt: "the picture searched with" }));
  if (role === "user") body.textContent = text; else renderMarkdown(text, body);
  $("#messages").append(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

function metaLine(li, parts) {
  li.append(el("div", { class: "meta" }, parts.filter(Boolean).join(" · ")));
}

// scopeOptions is what the scope picker limits a search to.
function scopeOptions() {
  const v = $("#scope").value;
  if (v.startsWith("c:")) return { collections: [v.slice(2)] };
  if (v.startsWith("d:")) return { doc_ids: [v.slice(2)] };
  return {};
}

function searchOptions() {
  const o = {};
  for (const k of ["mode", "strategy"]) if (setting(k)) o[k] = setting(k);
  // Only a model the user chose; the server's default needs no naming.
  const model = $("#model").value;
  if (model) o.model = model;
  for (const k of ["text_k", "image_k", "text_threshold", "image_threshold", "temperature"]) {
    const v = setting(k);
    if (v !== undefined && v !== null && v !== "") o[k] = Number(v);
  }
  return { ...o, ...scopeOptions() };
}

// readSSE feeds complete events from a fetch body to onEvent(type, data).
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

// StreamError is an error event of the answer's stream: the server's
// public message.
class StreamError extends Error {}

function busy(on) {
  $("#send").hidden = on; $("#stop").hidden = !on;
  if (!on) $("#send").disabled = false;
}

async function ask(question, image) {
  const conv = await ensureConversation(question || (image ? "Image search" : "Chat"));
  const imageURL = image && image.url;
  addMessage("user", question, imageURL);
  const li = addMessage("assistant", "");
  li.setAttribute("aria-busy", "true");
  const body = li.querySelector(".body");
  // Until the first words: what the server is doing.
  const thinking = el("p", { class: "muted thinking" }, modelsReady ? "Searching…" : "Loading models… (the first answer waits for them)");
  li.append(thinking);
  let answer = "";
  controller = new AbortController();
  busy(true);
  const t0 = performance.now();
  const req = { question, stream: true, ...searchOptions() };
  if (conv) req.conversation_id = conv;
  else req.history = transcript().slice(-12);
  try {
    if (image) req.image_base64 = await readDataURL(image.file);
    const res = await sendJSON("POST", "/v1/ask", req, { signal: controller.signal, headers: { Accept: "text/event-stream" } });
    await readSSE(res, (type, data) => {
      if (type === "sources") { li.sources = data; showSources(data); thinking.textContent = "Answering…"; }
      else if (type === "token") { thinking.remove(); answer += data.text; renderMarkdown(answer, body, li.sources); }
      else if (type === "done") {
        answer = data.answer ?? answer;
        if (data.sources) { li.sources = data.sources; showSources(data.sources); }
        renderMarkdown(answer, body, li.sources);
        metaLine(li, [data.model, ((performance.now() - t0) / 1000).toFixed(1) + " s"].concat(data.notes || []));
      } else if (type === "error") throw new StreamError(data.error + (data.request_id && !String(data.error).includes(data.request_id) ? " (request id " + data.request_id + ")" : ""));
    });
    li.turn = answer;
    if (conv) refreshConversations();
    return true;
  } catch (e) {
    if (e.name === "AbortError") {
      if (!answer) body.replaceChildren();
      metaLine(li, ["stopped"]);
      status("Stopped.");
      return true; // stopped on purpose: the question is not given back
    } else {
      li.classList.add("error");
      body.append(el("p", { role: "alert" }, e instanceof StreamError ? e.message : errorText(e)));
      status("");
    }
    return false;
  } finally {
    thinking.remove();
    li.removeAttribute("aria-busy");
    busy(false); controller = null;
    li.scrollIntoView({ block: "end" });
  }
}

// transcript is the visible conversation, for servers without stored
// conversations.
function transcript() {
  return $$("#messages li.msg").filter((li) => !li.classList.contains("error") && !li.classList.contains("results"))
    .map((li) => ({ role: li.classList.contains("user") ? "user" : "assistant", content: li.turn ?? li.querySelector(".body").textContent }));
}

async function submitQuestion() {
  const box = $("#question");
  const q = box.value.trim();
  const image = attached;
  if ((!q && !image) || controller) { if (!q && !image) status("Type a question, or drop an image to search with."); return; }
  box.value = "";
  clearAttachment();
  status("");
  const ok = await ask(q, image);
  // On failure the question (and its picture) comes back, to be sent again.
  if (!ok && !box.value.trim()) {
    box.value = q;
    if (image) attachImage(image.file);
  }
}

// moreLikeThis searches with a stored item's own vector and shows what it
// found, without asking the model.
async function moreLikeThis(s, label) {
  if (controller) return;
  go(chatHash());
  const what = label || s.caption || clip(s.text || "", 60) || "this item";
  addMessage("user", "More like “" + clip(what, 80) + "”");
  const li = addMessage("assistant", "");
  li.classList.add("results");
  li.setAttribute("aria-busy", "true");
  const body = li.querySelector(".body");
  try {
    const o = searchOptions();
    delete o.model; delete o.temperature; delete o.strategy;
    const res = await getJSON("/v1/search", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ query: "", like: s.item_id || s.id, ...o }) });
    li.sources = res;
    showSources(res);
    const images = res.images || [], text = res.text || [];
    body.append(el("p", {}, images.length + " figure" + (images.length === 1 ? "" : "s") + " and " + text.length + " passage" + (text.length === 1 ? "" : "s") + " like it."));
    if (images.length) body.append(el("span", { class: "inline-figs" }, images.map((x) => thumbButton(x, "inline"))));
    if (text.length) body.append(el("ol", { class: "results-list" }, text.slice(0, 5).map((x) => el("li", {}, el("a", { href: readerHref(x) }, sourceWhere(x)), el("span", { class: "muted" }, " — " + clip(x.text || "", 140))))));
  } catch (e) {
    li.classList.add("error");
    body.append(el("p", { role: "alert" }, errorText(e)));
  } finally { li.removeAttribute("aria-busy"); li.scrollIntoView({ block: "end" }); }
}

// ---- conversations ----------------------------------------------------------------

let currentConv = null; // the id of the conversation shown, or null for a new one
let convsAvailable = true; // false when the server keeps no conversations

const chatHash = () => (currentConv ? "#/c/" + encodeURIComponent(currentConv) : "#/");

async function ensureConversation(firstQuestion) {
  if (currentConv || !convsAvailable) return currentConv;
  try {
    const c = await (await sendJSON("POST", "/v1/conversations", { title: clip(firstQuestion, 60) })).json();
    currentConv = c.id;
    history.replaceState(null, "", chatHash());
    refreshConversations();
  } catch (e) {
    if (e.status === 404 || e.status === 405 || e.status === 503) convsAvailable = false;
    else status("The conversation is not saved: " + errorText(e));
  }
  return currentConv;
}

async function refreshConversations() {
  if (!convsAvailable) return;
  let list;
  try { list = (await getJSON("/v1/conversations")).conversations || []; }
  catch (e) {
    if (e.status === 404 || e.status === 405 || e.status === 503) { convsAvailable = false; $("#convs-empty").textContent = "This server keeps no conversations."; }
    return;
  }
  list.sort((a, b) => String(b.updated || b.created).localeCompare(String(a.updated || a.created)));
  $("#convs-empty").hidden = list.length > 0;
  $("#conv-list").replaceChildren(...list.map(convRow));
}

function convRow(c) {
  const title = c.title || "Untitled chat";
  const current = c.id === currentConv;
  const link = el("a", { href: "#/c/" + encodeURIComponent(c.id), class: "conv-open", "aria-current": current ? "page" : null }, title);
  const li = el("li", { class: "conv" + (current ? " current" : ""), "data-id": c.id }, link,
    el("span", { class: "conv-actions" },
      el("button", { type: "button", class: "small-button", "aria-label": "Rename " + title, onclick: () => renameConversation(li, c) }, "Rename"),
      el("button", { type: "button", class: "small-button", "aria-label": "Delete " + title, onclick: () => deleteConversation(c) }, "Delete")));
  return li;
}

function renameConversation(li, c) {
  const input = el("input", { type: "text", value: c.title || "", "aria-label": "New name for " + (c.title || "the chat"), class: "conv-rename" });
  let finished = false;
  const done = async (save) => {
    if (finished) return;
    finished = true;
    const title = input.value.trim();
    if (save && title && title !== c.title) {
      try { await sendJSON("PATCH", "/v1/conversations/" + encodeURIComponent(c.id), { title }); }
      catch (e) { status("Rename failed: " + errorText(e)); }
    }
    await refreshConversations();
    $("#conv-list li[data-id='" + CSS.escape(c.id) + "'] .conv-open")?.focus();
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); done(true); }
    else if (e.key === "Escape") { e.preventDefault(); done(false); }
  });
  input.addEventListener("blur", () => { if (input.isConnected) done(true); });
  li.replaceChildren(input);
  input.focus();
  input.select();
}

async function deleteConversation(c) {
  if (!(await confirmDialog("Delete the chat “" + (c.title || "Untitled chat") + "” and all its messages?"))) return;
  try {
    await api("/v1/conversations/" + encodeURIComponent(c.id), { method: "DELETE" });
    if (c.id === currentConv) newChat();
    refreshConversations();
  } catch (e) { status("Delete failed: " + errorText(e)); }
}

function newChat() {
  if (controller) controller.abort();
  currentConv = null;
  $("#messages").replaceChildren();
  showSources(null);
  if (location.hash !== "#/") history.pushState(null, "", "#/");
  showView("chat");
  setConvsOpen(false);
  refreshConversations();
  $("#question").focus();
}

async function openConversation(id) {
  showView("chat");
  setConvsOpen(false);
  if (id === currentConv && $("#messages").children.length) return;
  if (controller) controller.abort();
  currentConv = id;
  $("#messages").replaceChildren();
  showSources(null);
  try {
    const c = await getJSON("/v1/conversations/" + encodeURIComponent(id));
    let last = null;
    for (const t of c.turns || []) {
      const li = addMessage(t.role === "user" ? "user" : "assistant", "");
      const body = li.querySelector(".body");
      if (t.role === "user") body.textContent = t.content;
      else {
        li.sources = t.sources || null;
        renderMarkdown(t.content, body, li.sources);
        metaLine(li, [t.model, t.stopped ? "stopped" : ""].concat(t.notes || []));
        last = li;
      }
      li.turn = t.content;
    }
    if (last && last.sources) showSources(last.sources);
  } catch (e) {
    currentConv = null;
    status(e.status === 404 ? "That conversation no longer exists." : "Could not open the conversation: " + errorText(e));
  }
  refreshConversations();
}

function setConvsOpen(open) {
  $("#convs-toggle").setAttribute("aria-expanded", String(open));
  $("#convs").classList.toggle("open", open);
}

// ---- models and scope -----------------------------------------------------------

let modelsReady = true;
let visionModels = new Set();

async function loadModels() {
  try {
    const { data } = await getJSON("/v1/models");
    const sel = $("#model");
    const chosen = settings.chat_model || "";
    sel.replaceChildren(el("option", { value: "" }, "server default"));
    visionModels = new Set();
    // Generators can be chosen; the knowledge base's own ids answer with
    // the default one and carry its capabilities.
    for (const m of data || []) {
      const caps = m.capabilities || [];
      if (m.kind && m.kind !== "generator") { if (caps.includes("vision")) visionModels.add(""); continue; }
      if (caps.includes("vision")) visionModels.add(m.id);
      if (m.default) { sel.firstChild.textContent = "server default (" + m.id + ")"; if (caps.includes("vision")) visionModels.add(""); continue; }
      sel.append(el("option", { value: m.id }, m.id + (caps.includes("vision") ? " (vision)" : "")));
    }
    sel.value = [...sel.options].some((o) => o.value === chosen) ? chosen : "";
    showModelBadge();
  } catch { /* the default model answers */ }
}

function showModelBadge() { $("#model-badge").hidden = !visionModels.has($("#model").value); }

// waitReady says "loading models…" while the server warms its models up.
async function waitReady() {
  for (;;) {
    let d;
    try { d = await getJSON("/v1/settings"); } catch { return; }
    defaults = d;
    modelsReady = d.ready !== false;
    $("#model-status").textContent = modelsReady ? "" : "Loading models…";
    // Loading ahead failed: they load with the first question instead.
    if (d.warmup_error) $("#model-status").textContent = "Models load with the first question (loading them at start failed).";
    if (modelsReady) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function loadScopes() {
  const sel = $("#scope");
  const chosen = settings.scope || sel.value;
  const groups = [];
  try {
    const { collections } = await getJSON("/v1/collections");
    if (collections && collections.length) {
      groups.push(el("optgroup", { label: "Collections" }, collections.map((c) => el("option", { value: "c:" + c.name }, c.name + " (" + c.documents + ")"))));
      $("#collection-names").replaceChildren(...collections.map((c) => el("option", { value: c.name })));
    }
  } catch { /* a server without collections */ }
  try {
    const { documents } = await getJSON("/v1/documents");
    if (documents.length) groups.push(el("optgroup", { label: "One document" }, documents.map((d) => el("option", { value: "d:" + d.id }, clip(d.title || d.source, 60)))));
  } catch { /* shown by the library */ }
  sel.replaceChildren(el("option", { value: "all" }, "the whole library"), ...groups);
  sel.value = [...sel.options].some((o) => o.value === chosen) ? chosen : "all";
}

// ---- wiring ----------------------------------------------------------------------------

initHooks.push(() => {
  routes.push([/^#\/c\/([^/]+)$/, (m) => openConversation(decodeURIComponent(m[1]))]);
  routes.push([/^#\/?$|^$/, () => { showView("chat"); if (currentConv) history.replaceState(null, "", chatHash()); }]);

  const box = $("#question");
  $("#ask-form").addEventListener("submit", (e) => { e.preventDefault(); submitQuestion(); });
  box.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submitQuestion(); }
  });
  $("#stop").addEventListener("click", () => { if (controller) controller.abort(); box.focus(); });

  // Pictures: dropped or pasted on the question box, or chosen.
  const form = $("#ask-form");
  form.addEventListener("dragover", (e) => { if ([...(e.dataTransfer?.types || [])].includes("Files")) { e.preventDefault(); form.classList.add("over"); } });
  form.addEventListener("dragleave", () => form.classList.remove("over"));
  form.addEventListener("drop", (e) => {
    form.classList.remove("over");
    const f = imageFrom(e.dataTransfer);
    if (f) { e.preventDefault(); attachImage(f); box.focus(); }
  });
  box.addEventListener("paste", (e) => {
    const f = imageFrom(e.clipboardData);
    if (f) { e.preventDefault(); attachImage(f); }
  });
  $("#image-input").addEventListener("change", (e) => { attachImage(e.target.files[0]); e.target.value = ""; box.focus(); });

  $("#new-chat").addEventListener("click", newChat);
  $("#convs-toggle").addEventListener("click", () => setConvsOpen(!$("#convs").classList.contains("open")));
  $("#convs-close").addEventListener("click", () => { setConvsOpen(false); $("#convs-toggle").focus(); });
  $("#convs").addEventListener("keydown", (e) => { if (e.key === "Escape" && $("#convs").classList.contains("open")) { setConvsOpen(false); $("#convs-toggle").focus(); } });
  $("#sources-toggle").addEventListener("click", () => setSourcesOpen(!$(".sources").classList.contains("open")));
  $(".sources").addEventListener("keydown", (e) => {
    if (e.key === "Escape" && citedFrom && citedFrom.isConnected) { e.preventDefault(); citedFrom.focus(); }
  });
  $("#model").addEventListener("change", () => { settings.chat_model = $("#model").value; saveSettings(); showModelBadge(); });
  $("#scope").addEventListener("change", () => { settings.scope = $("#scope").value; saveSettings(); });

  waitReady().then(() => { if ($("#view-settings").hidden === false) fillSettingsForm(); });
  loadModels();
  loadScopes();
  refreshConversations();
});
