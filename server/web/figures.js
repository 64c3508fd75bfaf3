// mmrag web UI, figures: thumbnails that open a lightbox (full image,
// caption, where it is, "open in document", "more like this"), and the
// library's figure gallery.
"use strict";

// figureOf normalises a search source or a document item into what a
// thumbnail and the lightbox show.
function figureOf(s, doc) {
  return {
    id: s.item_id || s.id,
    doc_id: s.doc_id,
    caption: s.caption || s.alt || "",
    title: s.title || (doc && (doc.title || doc.source)) || "",
    section: s.section || [],
    page: s.page || 0,
    image_url: s.image_url,
    thumb_url: s.thumb_url || s.image_url,
    width: s.width, height: s.height,
  };
}

// thumbButton is a figure's thumbnail as a button that opens the lightbox.
function thumbButton(s, where, doc) {
  const f = figureOf(s, doc);
  const img = el("img", { alt: f.caption || "figure", loading: "lazy", decoding: "async" });
  setImage(img, f.thumb_url);
  const label = "Enlarge figure" + (s.n ? " " + s.n : "") + (f.caption ? ": " + clip(f.caption, 80) : "");
  return el("button", { type: "button", class: "thumb thumb-" + where, "aria-label": label, "data-item": f.id, onclick: (e) => openLightbox(f, e.currentTarget) }, img);
}

let lightboxFigure = null;
let lightboxFrom = null;

function openLightbox(f, from) {
  const d = $("#lightbox");
  lightboxFigure = f;
  lightboxFrom = from || document.activeElement;
  const img = $("#lightbox-img");
  img.removeAttribute("src");
  img.alt = f.caption || "figure";
  if (f.width && f.height) { img.width = f.width; img.height = f.height; } else { img.removeAttribute("width"); img.removeAttribute("height"); }
  img.onerror = () => { $("#lightbox-where").textContent += " — the image could not be loaded"; };
  setImage(img, f.image_url);
  // A PDF page: the cited passage's region drawn over it, in fractions of
  // the page (CSSOM styles, which the page's CSP allows).
  const box = $("#lightbox-region"), r = f.region;
  box.hidden = !r;
  if (r) Object.assign(box.style, { left: r.x0 * 100 + "%", top: r.y0 * 100 + "%", width: (r.x1 - r.x0) * 100 + "%", height: (r.y1 - r.y0) * 100 + "%" });
  $("#lightbox-caption").textContent = f.caption || "(no caption)";
  const sec = f.section.filter((x, i) => !(i === 0 && x === f.title));
  $("#lightbox-where").textContent = [f.title, ...sec].filter(Boolean).join(" › ") + (f.page ? " · page " + f.page : "");
  $("#lightbox-open").href = "#/doc/" + encodeURIComponent(f.doc_id) + "/" + encodeURIComponent(f.id);
  $("#lightbox-like").hidden = !!f.page_view;
  if (!d.open) d.showModal();
  $("#lightbox-close").focus();
}

// openPage shows the PDF page a passage is on, the passage marked.
function openPage(doc, it, from) {
  const f = figureOf({ ...it, caption: clip(it.text || "", 240) }, doc);
  f.image_url = "/v1/documents/" + encodeURIComponent(doc.id) + "/pages/" + it.page;
  f.width = f.height = 0;
  f.region = it.region;
  f.page_view = true;
  openLightbox(f, from);
}

function closeLightbox() { const d = $("#lightbox"); if (d.open) d.close(); }

// ---- the library's figures -------------------------------------------------

let galleryLoading = null;

async function loadGallery() {
  if (galleryLoading) return galleryLoading;
  galleryLoading = (async () => {
    const box = $("#gallery");
    box.replaceChildren(el("p", { class: "muted" }, "Loading figures…"));
    try {
      const { documents } = await getJSON("/v1/documents");
      const cards = [];
      // A few documents at a time: each is one request.
      for (let i = 0; i < documents.length; i += 4) {
        const docs = await Promise.all(documents.slice(i, i + 4).map((d) => getJSON("/v1/documents/" + encodeURIComponent(d.id)).catch(() => null)));
        for (const r of docs) if (r) cards.push(...figureCards(r.document, r.items || []));
      }
      $("#gallery-count").textContent = "(" + cards.length + ")";
      $("#gallery-empty").hidden = cards.length > 0;
      box.replaceChildren(...cards);
    } catch (e) { box.replaceChildren(el("p", { role: "alert" }, "Could not load the figures: " + errorText(e))); }
  })();
  try { await galleryLoading; } finally { galleryLoading = null; }
}

// figureCards are a document's figures as gallery cards.
function figureCards(doc, items) {
  return items.filter((it) => it.modality === "image" && it.image_url).map((it) => {
    const f = figureOf(it, doc);
    return el("figure", { class: "card" }, thumbButton(it, "gallery", doc),
      el("figcaption", {}, el("span", { class: "caption" }, clip(f.caption || "(no caption)", 120)),
        el("a", { class: "muted small", href: "#/doc/" + encodeURIComponent(f.doc_id) + "/" + encodeURIComponent(f.id) }, f.title)),
      el("div", { class: "actions" }, likeButton(it, f.caption)));
  });
}

initHooks.push(() => {
  viewHooks.figures = loadGallery;
  const d = $("#lightbox");
  $("#lightbox-close").addEventListener("click", closeLightbox);
  $("#lightbox-like").addEventListener("click", () => { const f = lightboxFigure; closeLightbox(); moreLikeThis({ item_id: f.id }, f.caption); });
  $("#lightbox-open").addEventListener("click", () => { lightboxFrom = null; closeLightbox(); });
  // A click on the backdrop (outside the dialog's box) closes it.
  d.addEventListener("click", (e) => { if (e.target === d) closeLightbox(); });
  // Focus stays inside while it is open (a modal dialog makes the page
  // inert; Tab from the last control wraps to the first) and returns to
  // the thumbnail when it closes.
  d.addEventListener("keydown", (e) => {
    if (e.key !== "Tab") return;
    const f = $$("a[href], button", d);
    const first = f[0], last = f[f.length - 1];
    if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
  });
  // (The close event comes a task later: where the focus went meanwhile
  // wins.)
  d.addEventListener("close", () => {
    if (d.open) return; // the late close event of an earlier opening
    const a = document.activeElement;
    if (lightboxFrom && lightboxFrom.isConnected && (!a || a === document.body || d.contains(a))) lightboxFrom.focus();
    lightboxFrom = null;
  });
});
