// mmrag web UI, the reader: a document rebuilt from its passages in
// order, figures at full width with their space reserved, the header
// fixed, landing on the cited passage or figure once the layout above it
// is stable.
"use strict";

// READER_EDGE is the thumbnail edge the reader shows figures at; the
// lightbox has the original.
const READER_EDGE = 1024;

let readerSeq = 0; // the latest openReader call; an older one stops

async function openReader(docID, itemID) {
  const seq = ++readerSeq;
  showView("reader");
  const box = $("#reader-items");
  $("#reader-title").textContent = "Loading…";
  $("#reader-source").replaceChildren();
  $("#reader-gallery-box").hidden = true;
  box.replaceChildren();
  let r;
  try { r = await getJSON("/v1/documents/" + encodeURIComponent(docID)); }
  catch (e) {
    $("#reader-title").textContent = "Could not open the document";
    box.replaceChildren(el("p", { role: "alert" }, errorText(e)));
    return;
  }
  if (seq !== readerSeq) return;
  const { document: d, items, passages } = r;
  $("#reader-title").textContent = d.title || d.source;
  // The original, at the cited item's section when it is a web page.
  const cited = (items || []).find((it) => it.id === itemID);
  const orig = d.source + (cited && cited.anchor ? "#" + cited.anchor : "");
  $("#reader-source").replaceChildren(/^https?:\/\//.test(d.source) ? el("a", { href: orig, rel: "noopener noreferrer", target: "_blank" }, orig) : d.uploaded ? "uploaded file" : d.source);

  const figs = figureCards(d, items || []);
  $("#reader-gallery-box").hidden = figs.length === 0;
  $("#reader-gallery-count").textContent = "(" + figs.length + ")";
  $("#reader-gallery").replaceChildren(...figs);

  let lastSec = null, target = null;
  const loads = [];
  const parts = (passages || items || []).map((it) => {
    const sec = (it.section || []).join(" › ");
    const kids = [];
    if (sec && sec !== lastSec) kids.push(el("h3", { class: "sec" }, sec));
    lastSec = sec;
    const hit = it.id === itemID || (it.items || []).includes(itemID);
    if (it.modality === "image") kids.push(readerFigure(d, it, !target, loads));
    else kids.push(el("p", {}, it.text));
    const tools = [];
    // A PDF passage with its place on the page: the page, the place marked.
    if (it.page && it.region) tools.push(el("button", { type: "button", class: "small-button page-button", "aria-label": "Show page " + it.page + " with this passage marked", onclick: (e) => openPage(d, it, e.currentTarget) }, "page " + it.page));
    else if (it.page) tools.push(el("span", { class: "muted small" }, "page " + it.page));
    tools.push(likeButton(it, it.modality === "image" ? it.caption : clip(it.text || "", 60)));
    kids.push(el("div", { class: "item-tools" }, tools));
    const div = el("div", { class: "reader-item" + (it.modality === "image" ? " reader-figure" : ""), id: "item-" + it.id, tabindex: "-1" }, kids);
    if (hit && !target) { div.classList.add("hl"); target = div; }
    return div;
  });
  box.replaceChildren(...parts);
  if (!target) { $("#view-reader").scrollTop = 0; $("#reader-back").focus(); return; }
  // Land once everything above the target (and the target) has its size.
  await Promise.all(loads.map((p) => p.catch(() => {})));
  await document.fonts.ready;
  if (seq !== readerSeq) return;
  landOn(target);
}

// readerFigure is a figure at full width; with its size known the
// browser reserves its space before it loads. eager: it lies above the
// cited item, whose position depends on it; its decode joins loads.
function readerFigure(d, it, eager, loads) {
  const f = figureOf(it, d);
  const img = el("img", { alt: f.caption || "figure", loading: eager ? "eager" : "lazy", decoding: "async" });
  if (it.width && it.height) { img.width = it.width; img.height = it.height; }
  const src = f.image_url + "?thumb=" + READER_EDGE;
  if (eager) loads.push(setImage(img, src).then(() => img.decode()));
  else setImage(img, src);
  return el("figure", {},
    el("button", { type: "button", class: "thumb thumb-reader", "aria-label": "Enlarge figure" + (f.caption ? ": " + clip(f.caption, 80) : ""), onclick: (e) => openLightbox(f, e.currentTarget) }, img),
    el("figcaption", {}, f.caption || ""));
}

// landOn scrolls the cited item into view below the fixed header and
// gives it the focus.
function landOn(target) {
  const view = $("#view-reader");
  const head = $(".reader-head").getBoundingClientRect().height;
  const room = view.clientHeight - head;
  const tall = target.getBoundingClientRect().height > room * 0.8;
  target.scrollIntoView({ block: tall ? "start" : "center" });
  target.focus({ preventScroll: true });
}

let backTo = null; // the view the reader was opened from

initHooks.push(() => {
  routes.unshift([/^#\/doc\/([^/]+)(?:\/([^/]+))?/, (m) => openReader(decodeURIComponent(m[1]), m[2] && decodeURIComponent(m[2]))]);
  // Back returns to the library or the figures, else to the chat.
  const remember = () => { if (!/^#\/doc\//.test(location.hash)) backTo = /^#\/(library|figures|settings)$/.test(location.hash) ? location.hash : null; };
  remember();
  window.addEventListener("hashchange", remember);
  $("#reader-back").addEventListener("click", () => go(backTo || chatHash()));
});
