// mmrag web UI, the library: documents (sortable, with dates, sizes and
// collections), uploads and web pages, and their jobs' live progress.
"use strict";

let libraryDocs = [];
let librarySort = { key: "name", dir: 1 };

const sortKeys = {
  name: (d) => (d.title || d.source || "").toLowerCase(),
  date: (d) => d.ingested || "",
  size: (d) => d.size || 0,
};

async function refreshLibrary() {
  try {
    libraryDocs = (await getJSON("/v1/documents")).documents || [];
    renderLibrary();
  } catch (e) { status("Library: " + errorText(e)); }
}

function docName(d) { return d.title || d.source; }

function renderLibrary() {
  const { key, dir } = librarySort;
  const k = sortKeys[key];
  const docs = [...libraryDocs].sort((a, b) => (k(a) < k(b) ? -dir : k(a) > k(b) ? dir : 0));
  $("#doc-count").textContent = "(" + docs.length + ")";
  for (const th of $$(".library th[data-sort]")) th.setAttribute("aria-sort", th.dataset.sort === key ? (dir > 0 ? "ascending" : "descending") : "none");
  $("#library").replaceChildren(...docs.map((d) => el("tr", { "data-id": d.id },
    el("td", { class: "c-title", "data-label": "Title" }, el("a", { href: "#/doc/" + encodeURIComponent(d.id) }, docName(d)),
      d.uploaded ? null : el("div", { class: "muted small source" }, d.source)),
    el("td", { "data-label": "Type" }, d.type || ""),
    el("td", { class: "c-colls", "data-label": "Collections" }, collectionsCell(d)),
    el("td", { "data-label": "Added" }, d.ingested ? el("time", { datetime: d.ingested }, fmtDate(d.ingested)) : ""),
    el("td", { "data-label": "Size" }, fmtSize(d.size)),
    el("td", { "data-label": "Items" }, String(d.items ?? "")),
    el("td", { class: "c-actions" },
      el("button", { type: "button", class: "small-button", "aria-label": "Re-ingest " + docName(d), onclick: () => reingest(d) }, "Re-ingest"), " ",
      el("button", { type: "button", class: "small-button danger", "aria-label": "Delete " + docName(d), onclick: () => removeDoc(d) }, "Delete")))));
}

function collectionsCell(d) {
  const names = d.collections || [];
  const span = el("span", {}, names.length ? names.join(", ") : el("span", { class: "muted" }, "none"));
  const edit = el("button", { type: "button", class: "small-button", "aria-label": "Edit the collections of " + docName(d) }, "Edit");
  const cell = el("span", {}, span, " ", edit);
  edit.addEventListener("click", () => {
    const input = el("input", { type: "text", value: names.join(", "), list: "collection-names", "aria-label": "Collections of " + docName(d) + ", separated by commas", class: "coll-edit" });
    const done = async (save) => {
      if (save) {
        const collections = input.value.split(",").map((x) => x.trim()).filter(Boolean);
        try { await sendJSON("PUT", "/v1/documents/" + encodeURIComponent(d.id) + "/collections", { collections }); loadScopes(); }
        catch (e) { status("Collections not saved: " + errorText(e)); }
      }
      await refreshLibrary();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); done(true); }
      else if (e.key === "Escape") { e.preventDefault(); done(false); }
    });
    cell.replaceChildren(input);
    input.focus();
  });
  return cell;
}

async function removeDoc(d) {
  if (!(await confirmDialog("Delete “" + docName(d) + "” and everything found in it? This cannot be undone."))) return;
  try { await api("/v1/documents/" + encodeURIComponent(d.id), { method: "DELETE" }); status("Deleted “" + docName(d) + "”."); refreshLibrary(); loadScopes(); }
  catch (e) { status("Delete failed: " + errorText(e)); }
}

async function reingest(d) {
  try { watchJob(await (await api("/v1/documents/" + encodeURIComponent(d.id) + "/reingest", { method: "POST" })).json(), docName(d)); }
  catch (e) { status("Re-ingest failed: " + errorText(e)); }
}

function upload(files) {
  if (!files.length) return;
  const form = new FormData();
  const coll = $("#collection-input").value.trim();
  if (coll) form.append("collection", coll);
  for (const f of files) form.append("files", f, f.name);
  const label = files.length === 1 ? files[0].name : files.length + " files";
  const row = jobRow(label);
  // XMLHttpRequest reports upload progress; fetch does not.
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/documents");
  if (settings.token) xhr.setRequestHeader("Authorization", "Bearer " + settings.token);
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) row.set(e.loaded / e.total * 0.1, "uploading " + Math.round(e.loaded / e.total * 100) + " %"); };
  xhr.onload = () => {
    let j = null;
    try { j = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status === 202 && j) watchJob(j, label, row);
    else row.fail(publicMessage(xhr.status, j));
  };
  xhr.onerror = () => row.fail(NETWORK_MESSAGE);
  xhr.send(form);
}

async function addURL(url) {
  const collection = $("#collection-input").value.trim() || undefined;
  try { watchJob(await (await sendJSON("POST", "/v1/documents", { urls: [url], collection })).json(), url); }
  catch (e) { status("Add failed: " + errorText(e)); }
}

function jobRow(label) {
  const bar = el("progress", { max: "1", value: "0", "aria-label": "Progress of " + label });
  const state = el("span", { class: "state" }, "queued");
  const detail = el("div", { class: "detail muted small" });
  const errs = el("div", { class: "errors" });
  const row = el("div", { class: "job" }, el("span", { class: "job-label" }, label), " ", bar, " ", state, detail, errs);
  $("#jobs").prepend(row);
  return {
    el: row,
    set(frac, text, more = "") { bar.value = frac; state.textContent = text; detail.textContent = more; },
    fail(msg) { row.classList.add("failed"); state.textContent = "failed"; errs.textContent = msg; },
  };
}

// jobProgress is a job's state in words and how far along it is (0–1).
function jobProgress(job) {
  const total = job.total || 0, finished = job.done + job.failed;
  // The current source's share: its embedding step, else half for the
  // earlier stages.
  let part = 0;
  if (job.state === "running" && total && finished < total) part = job.steps ? job.step / job.steps : job.stage ? 0.3 : 0;
  const frac = total ? Math.min(1, (finished + part) / total) : 0;
  let text = job.state;
  if (job.state === "running" && job.stage) text = job.stage + (job.steps ? " " + job.step + "/" + job.steps : "");
  if (total) text += " (" + job.done + "/" + total + (job.failed ? ", " + job.failed + " failed" : "") + ")";
  const more = job.state === "running" && job.current ? "now: " + job.current : "";
  return { frac: 0.1 + 0.9 * frac, text, more };
}

async function watchJob(job, label, row = jobRow(label)) {
  row.el.dataset.job = job.id;
  for (;;) {
    const p = jobProgress(job);
    const failed = job.state === "failed" || job.state === "cancelled" || job.failed > 0;
    // A failure never shows as a full bar: the bar says how much worked.
    row.set(failed ? (job.total ? job.done / job.total : 0) : job.state === "done" ? 1 : p.frac, p.text, p.more);
    if (job.errors && job.errors.length) row.el.querySelector(".errors").textContent = job.errors.map((e) => e.error).join("\n");
    if (job.state === "done" || job.state === "failed" || job.state === "cancelled") {
      row.el.classList.add(job.state);
      if (failed) row.el.classList.add("failed");
      refreshLibrary(); loadScopes();
      return job;
    }
    await new Promise((r) => setTimeout(r, 400));
    try { job = await getJSON("/v1/jobs/" + encodeURIComponent(job.id)); }
    catch (e) { row.fail(errorText(e)); return; }
  }
}

initHooks.push(() => {
  viewHooks.library = refreshLibrary;
  for (const th of $$(".library th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.sort;
      librarySort = { key, dir: librarySort.key === key ? -librarySort.dir : key === "name" ? 1 : -1 };
      renderLibrary();
    });
  }
  const drop = $("#drop"), input = $("#upload-input");
  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); upload([...e.dataTransfer.files]); });
  input.addEventListener("change", () => { upload([...input.files]); input.value = ""; });
  $("#url-form").addEventListener("submit", (e) => { e.preventDefault(); const u = $("#url-input").value.trim(); if (u) { addURL(u); $("#url-input").value = ""; } });
});
