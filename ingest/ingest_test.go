package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mmrag"
	"mmrag/extract"
)

// para makes a paragraph of n distinct words, long enough that the chunker
// keeps it alone (it does not fit beside another in 77 tokens).
func para(tag string, n int) string {
	words := make([]string, n)
	for i := range words {
		words[i] = fmt.Sprintf("%s%02d", tag, i)
	}
	return strings.Join(words, " ") + "."
}

// corpus writes a small folder: Markdown, text, HTML referencing an image,
// the image itself, and a nested Markdown file.
func corpus(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.md":  "# Alpha\n\n" + para("alpha", 20) + "\n\n" + para("bravo", 20) + "\n\n## Second\n\n" + para("charlie", 20) + "\n",
		"b.txt": "Notes\n\n" + para("delta", 12) + "\n",
		"c.html": `<html><head><title>Gamma page</title></head><body><article><h1>Gamma</h1><p>` + para("echo", 10) +
			`</p><figure><img src="pic.png" alt="a gradient"><figcaption>Figure 1: the gradient</figcaption></figure></article></body></html>`,
		"sub/d.md": "# Delta\n\n" + para("foxtrot", 8) + "\n",
	})
	if err := os.WriteFile(filepath.Join(dir, "pic.png"), pngBytes(t, 1, 40, 30), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAddIncremental(t *testing.T) {
	ctx := t.Context()
	dir := corpus(t)
	emb := newFake()
	p := newPipeline(t, emb)
	var log eventLog
	p.Progress = log.add

	rep, err := p.Add(ctx, []string{dir}, WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Added != 5 || rep.Failed != 0 || rep.Unchanged != 0 {
		t.Fatalf("first run: %+v", rep)
	}
	if got, want := sources(t, p.Store, dir), []string{"a.md", "b.txt", "c.html", "pic.png", "sub/d.md"}; !slices.Equal(got, want) {
		t.Errorf("stored %v, want %v", got, want)
	}
	texts, images := emb.take()
	// pic.png is both a file and the HTML page's figure: embedded once,
	// stored once.
	// Once when both documents were in one embedding batch, else once each.
	if images < 1 || images > 2 {
		t.Errorf("%d images embedded, want 1 or 2", images)
	}
	checkFirstRunStats(t, p, rep, len(texts), images)
	t.Logf("first run: %d items, %d texts and %d images embedded", rep.Items, len(texts), images)
	checkCorpusFigures(t, p, dir)

	// Second run: nothing changed, nothing embedded.
	rep, err = p.Add(ctx, []string{dir}, WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	texts, images = emb.take()
	if rep.Unchanged != 5 || rep.Added+rep.Updated+rep.Failed != 0 || len(texts) != 0 || images != 0 {
		t.Fatalf("second run: %+v; embedded %d texts, %d images", rep, len(texts), images)
	}

	// Change one paragraph of a.md: only that document is updated and only
	// the changed chunk is embedded; the others' vectors are reused.
	aPath := filepath.Join(dir, "a.md")
	a, _ := os.ReadFile(aPath)
	changed := strings.Replace(string(a), para("bravo", 20), para("zulu", 20), 1)
	if err := os.WriteFile(aPath, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := p.Store.DocumentBySource(ctx, aPath)
	oldItems, _ := p.Store.Items(ctx, before.ID)
	rep, err = p.Add(ctx, []string{dir}, WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	texts, images = emb.take()
	if rep.Updated != 1 || rep.Unchanged != 4 || rep.Added+rep.Failed != 0 {
		t.Fatalf("after a change: %+v", rep)
	}
	if len(texts) == 0 || images != 0 {
		t.Fatalf("after a change: embedded %q and %d images", texts, images)
	}
	for _, tx := range texts {
		if !strings.Contains(tx, "zulu") {
			t.Errorf("embedded an unchanged chunk: %q", tx)
		}
	}
	if rep.Reused == 0 || rep.Reused+len(texts) != rep.Items {
		t.Errorf("reused %d, embedded %d, items %d", rep.Reused, len(texts), rep.Items)
	}
	after, _ := p.Store.DocumentBySource(ctx, aPath)
	newItems, _ := p.Store.Items(ctx, after.ID)
	if after.ID != before.ID || after.Hash == before.Hash {
		t.Errorf("document id %s→%s, hash %s→%s", before.ID, after.ID, before.Hash, after.Hash)
	}
	checkUpdatedItems(t, oldItems, newItems, len(texts))
	if got := log.of(Updated); len(got) != 1 || got[0].Source != aPath {
		t.Errorf("updated events: %+v", got)
	}
}

// checkFirstRunStats checks the store after the first ingest of the
// corpus, which embedded texts texts and images images.
func checkFirstRunStats(t *testing.T, p *Pipeline, rep Report, texts, images int) {
	t.Helper()
	stats, err := p.Store.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Blobs != 1 {
		t.Errorf("%d blobs stored, want 1 (the same image twice)", stats.Blobs)
	}
	if stats.Items[mmrag.Image] != 2 {
		t.Errorf("%d image items, want 2", stats.Items[mmrag.Image])
	}
	if stats.Vectors["fake"] != rep.Items || rep.Items != stats.Items[mmrag.Text]+stats.Items[mmrag.Image] {
		t.Errorf("report says %d items, store holds %d text + %d image items and %d vectors", rep.Items, stats.Items[mmrag.Text], stats.Items[mmrag.Image], stats.Vectors["fake"])
	}
	if texts != stats.Items[mmrag.Text] || rep.Embedded != texts+images || rep.Reused != 2-images {
		t.Errorf("embedded %d texts and %d images for %d text items; report says %d", texts, images, stats.Items[mmrag.Text], rep.Embedded)
	}
}

// checkCorpusFigures checks the corpus's two images: the HTML page's
// figure, with its caption and alt text (the item's Text is the caption),
// and the picture file, one item of its own kind.
func checkCorpusFigures(t *testing.T, p *Pipeline, dir string) {
	t.Helper()
	ctx := t.Context()
	html, err := p.Store.DocumentBySource(ctx, filepath.Join(dir, "c.html"))
	if err != nil {
		t.Fatal(err)
	}
	if html.Title != "Gamma page" && html.Title != "Gamma" {
		t.Errorf("HTML title %q", html.Title)
	}
	items, err := p.Store.Items(ctx, html.ID)
	if err != nil {
		t.Fatal(err)
	}
	var fig *mmrag.Item
	for i := range items {
		if items[i].Modality == mmrag.Image {
			fig = &items[i]
		}
	}
	switch {
	case fig == nil:
		t.Fatal("HTML figure not stored")
	case fig.Caption != "Figure 1: the gradient" || fig.Alt != "a gradient" || fig.Text != fig.Caption:
		t.Errorf("figure item: text %q caption %q alt %q", fig.Text, fig.Caption, fig.Alt)
	case fig.Width != 40 || fig.Height != 30 || fig.MIME != "image/png" || fig.BlobHash != sha256Hex(pngBytes(t, 1, 40, 30)):
		t.Errorf("figure item: %dx%d %s %s", fig.Width, fig.Height, fig.MIME, fig.BlobHash)
	}
	if data, err := p.Store.Blob(ctx, fig.BlobHash); err != nil || sha256Hex(data) != fig.BlobHash {
		t.Errorf("blob of the figure: %v", err)
	}

	pic, err := p.Store.DocumentBySource(ctx, filepath.Join(dir, "pic.png"))
	if err != nil {
		t.Fatal(err)
	}
	if items, _ := p.Store.Items(ctx, pic.ID); len(items) != 1 || items[0].Kind != "picture" || pic.Type != "image" || pic.Title != "pic" {
		t.Errorf("picture document %+v: %+v", pic, items)
	}
}

// checkUpdatedItems checks the items of a document after an update that
// embedded embedded chunks: unchanged chunks keep their ids (same position
// and text), every item's text ends with its chunk, and text items name
// their block, from which retrieval rebuilds their passage.
func checkUpdatedItems(t *testing.T, oldItems, newItems []mmrag.Item, embedded int) {
	t.Helper()
	keep := 0
	for _, n := range newItems {
		for _, o := range oldItems {
			if n.ID == o.ID {
				keep++
			}
		}
		if n.Meta[mmrag.MetaText] != "" && !strings.HasSuffix(n.Text, n.Meta[mmrag.MetaText]) {
			t.Errorf("item text %q does not end with its chunk %q", n.Text, n.Meta[mmrag.MetaText])
		}
		if n.Modality == mmrag.Text && n.Meta[mmrag.MetaBlock] == "" {
			t.Errorf("text item %s has no %s", n.ID, mmrag.MetaBlock)
		}
	}
	if keep != len(newItems)-embedded {
		t.Errorf("%d of %d item ids kept, want %d", keep, len(newItems), len(newItems)-embedded)
	}
}

func TestRemoveAndPrune(t *testing.T) {
	ctx := t.Context()
	dir := corpus(t)
	p := newPipeline(t, newFake())
	if _, err := p.Add(ctx, []string{dir}, WalkOptions{}); err != nil {
		t.Fatal(err)
	}

	// Delete a file, then remove its document by path.
	b := filepath.Join(dir, "b.txt")
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	removed, err := Remove(ctx, p.Store, []string{b})
	if err != nil || len(removed) != 1 || removed[0].Source != b {
		t.Fatalf("remove %s: %v, %+v", b, err, removed)
	}
	if _, err := Remove(ctx, p.Store, []string{b}); !errors.Is(err, mmrag.ErrNotFound) {
		t.Errorf("second remove: %v, want ErrNotFound", err)
	}
	// By id prefix.
	d, err := p.Store.DocumentBySource(ctx, filepath.Join(dir, "c.html"))
	if err != nil {
		t.Fatal(err)
	}
	if removed, err := Remove(ctx, p.Store, []string{d.ID[:10]}); err != nil || len(removed) != 1 {
		t.Fatalf("remove by id prefix: %v", err)
	}
	// The figure's blob is still used by pic.png's document.
	if _, err := p.Store.Blob(ctx, sha256Hex(pngBytes(t, 1, 40, 30))); err != nil {
		t.Errorf("blob shared with another document was removed: %v", err)
	}

	// Prune: a deleted file's document goes when its folder is ingested again.
	if err := os.Remove(filepath.Join(dir, "sub", "d.md")); err != nil {
		t.Fatal(err)
	}
	rep, err := p.Add(ctx, []string{dir}, WalkOptions{Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Removed != 1 || rep.Added != 1 /* c.html again */ || rep.Unchanged != 2 {
		t.Errorf("prune run: %+v", rep)
	}
	if got, want := sources(t, p.Store, dir), []string{"a.md", "c.html", "pic.png"}; !slices.Equal(got, want) {
		t.Errorf("after prune: %v, want %v", got, want)
	}

	// A folder reference removes everything under it.
	removed, err = Remove(ctx, p.Store, []string{dir})
	if err != nil || len(removed) != 3 {
		t.Errorf("remove folder: %v, %d removed", err, len(removed))
	}
}

func TestBadFiles(t *testing.T) {
	ctx := t.Context()
	dir := corpus(t)
	garbage := make([]byte, 3000)
	for i := range garbage {
		garbage[i] = byte(i*131 + i/7)
	}
	writeFiles(t, dir, map[string]string{
		"bad.pdf":  string(garbage),
		"bad.md":   string(garbage),
		"skip.bin": string(garbage), // unsupported in a walk: skipped, not failed
	})
	p := newPipeline(t, newFake())
	targets := []string{dir}
	// A file whose read fails: root may read anything, so use a kernel file
	// that refuses reads at offset 0 on every system with /proc.
	if _, err := os.Stat("/proc/self/mem"); err == nil {
		targets = append(targets, "/proc/self/mem")
	}
	targets = append(targets, filepath.Join(dir, "missing.md"))
	rep, err := p.Add(ctx, targets, WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Added != 5 {
		t.Errorf("%d added, want the 5 good files: %+v", rep.Added, rep)
	}
	if rep.Skipped != 1 {
		t.Errorf("%d skipped, want 1 (skip.bin)", rep.Skipped)
	}
	want := map[string]string{
		filepath.Join(dir, "bad.pdf"):    "pdf",
		filepath.Join(dir, "bad.md"):     "binary",
		filepath.Join(dir, "missing.md"): "no such file",
	}
	if len(targets) == 3 {
		want["/proc/self/mem"] = "cannot read"
	}
	if rep.Failed != len(want) || len(rep.Errors) != len(want) {
		t.Fatalf("%d failed, want %d: %v", rep.Failed, len(want), rep.Errors)
	}
	for _, e := range rep.Errors {
		reason, ok := want[e.Source]
		if !ok {
			t.Errorf("unexpected failure: %v", e)
			continue
		}
		if msg := e.Error(); !strings.HasPrefix(msg, e.Source+": ") || !strings.Contains(strings.ToLower(msg), reason) {
			t.Errorf("error %q: want the file name and %q", msg, reason)
		}
		t.Logf("%v", e)
	}
	// An explicitly named unsupported file is an error.
	rep, err = p.Add(ctx, []string{filepath.Join(dir, "skip.bin")}, WalkOptions{})
	if err != nil || rep.Failed != 1 || !errors.Is(rep.Errors[0], ErrUnsupported) {
		t.Errorf("explicit unsupported file: %v %+v", err, rep)
	}
}

// panicky is an extractor with a bug.
type panicky struct{}

func (panicky) Extract(context.Context, extract.Source) (*extract.Result, error) {
	var m map[string]int
	//lint:ignore SA5000 the bug is the point: a runtime panic inside an extractor
	m["x"]++
	return nil, nil
}

func TestFailuresStayLocal(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"ok1.md":    "# One\n\n" + para("one", 5),
		"ok2.md":    "# Two\n\n" + para("two", 5),
		"refuse.md": "# Three\n\n" + para("poison", 5),
		"crash.txt": "plain text",
		"img.html":  `<p>` + para("img", 5) + `</p><img src="broken.png" alt="broken"><img src="good.png" alt="good">`,
	})
	good := pngBytes(t, 2, 20, 20)
	writeFiles(t, dir, map[string]string{"good.png": string(good), "broken.png": string(good[:len(good)/2])})

	emb := newFake()
	emb.failText = "poison"
	p := newPipeline(t, emb)
	p.Extractors[TypeText] = panicky{}
	delete(p.Extractors, TypeImage) // the PNG files themselves are skipped
	var log eventLog
	p.Progress = log.add
	rep, err := p.Add(ctx, []string{dir}, WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Added != 3 || rep.Failed != 2 {
		t.Fatalf("%+v", rep)
	}
	for _, e := range rep.Errors {
		switch filepath.Base(e.Source) {
		case "refuse.md":
			if !strings.Contains(e.Error(), "refuses") {
				t.Errorf("embedder failure: %v", e)
			}
		case "crash.txt":
			if !strings.Contains(e.Error(), "panicked") {
				t.Errorf("extractor panic: %v", e)
			}
		default:
			t.Errorf("unexpected failure %v", e)
		}
	}
	// The broken image is dropped with a warning; the page is stored with
	// the good one.
	d, err := p.Store.DocumentBySource(ctx, filepath.Join(dir, "img.html"))
	if err != nil {
		t.Fatal(err)
	}
	items, _ := p.Store.Items(ctx, d.ID)
	var alts []string
	for _, it := range items {
		if it.Modality == mmrag.Image {
			alts = append(alts, it.Alt)
		}
	}
	if !slices.Equal(alts, []string{"good"}) {
		t.Errorf("images stored: %q, want only the good one", alts)
	}
	warned := false
	for _, e := range log.of(Warning) {
		if strings.Contains(e.Message, "broken.png") {
			warned = true
			t.Logf("warning: %s", e.Message)
		}
	}
	if !warned {
		t.Error("no warning names broken.png")
	}
	// Unchanged on the next run although an image was dropped: what was
	// stored is complete.
	emb.failText = ""
	rep, err = p.Add(ctx, []string{filepath.Join(dir, "img.html")}, WalkOptions{})
	if err != nil || rep.Unchanged != 1 {
		t.Errorf("rerun: %v %+v", err, rep)
	}
}

func TestCancel(t *testing.T) {
	dir := corpus(t)
	emb := newFake()
	p := newPipeline(t, emb)
	if _, err := p.Add(t.Context(), []string{filepath.Join(dir, "b.txt")}, WalkOptions{}); err != nil {
		t.Fatal(err)
	}
	// Block the embedder, cancel while it waits.
	emb.block = make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	p.Progress = func(e Event) {
		if e.Kind == Started {
			cancel()
		}
	}
	writeFiles(t, dir, map[string]string{"b.txt": "Changed\n\n" + para("changed", 5)})
	rep, err := p.Add(ctx, []string{dir}, WalkOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Add after cancel: %v", err)
	}
	if rep.Failed != 0 {
		t.Errorf("cancelled files counted as failures: %v", rep.Errors)
	}
	// The earlier version of b.txt is intact.
	d, err := p.Store.DocumentBySource(t.Context(), filepath.Join(dir, "b.txt"))
	if err != nil {
		t.Fatal(err)
	}
	items, _ := p.Store.Items(t.Context(), d.ID)
	if len(items) == 0 || !strings.Contains(items[0].Text, "delta") {
		t.Errorf("previous version lost: %+v", items)
	}
	close(emb.block)
	p.Progress = nil
	rep, err = p.Add(t.Context(), []string{dir}, WalkOptions{})
	if err != nil || rep.Failed != 0 || rep.Files() != 5 {
		t.Errorf("rerun: %v %+v", err, rep)
	}
}

func TestGlobTarget(t *testing.T) {
	dir := corpus(t)
	p := newPipeline(t, newFake())
	rep, err := p.Add(t.Context(), []string{filepath.Join(dir, "**", "*.md"), filepath.Join(dir, "nothing*.xyz")}, WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sources(t, p.Store, dir), []string{"a.md", "sub/d.md"}; !slices.Equal(got, want) {
		t.Errorf("glob stored %v, want %v", got, want)
	}
	if rep.Failed != 1 || !strings.Contains(rep.Errors[0].Error(), "no file matches") {
		t.Errorf("glob matching nothing: %+v", rep)
	}
}

func TestMaxFileBytes(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat(para("big", 10)+"\n\n", 100)
	writeFiles(t, dir, map[string]string{
		"small.md": "# Small\n\n" + para("small", 5),
		"big.md":   big,
		"big.bin":  strings.Repeat("\x00\x01\x02\xff", len(big)/4), // unsupported: skipped, not failed
	})
	p := newPipeline(t, newFake())
	rep, err := p.Add(t.Context(), []string{dir}, WalkOptions{MaxFileBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Added != 1 || rep.Failed != 1 || rep.Skipped != 1 || !errors.Is(rep.Errors[0], ErrTooLarge) ||
		!strings.HasSuffix(rep.Errors[0].Source, "big.md") {
		t.Errorf("%+v", rep)
	}
}

// TestEmptyFiles: an empty PDF, picture or Office file is broken and fails
// naming the file; an empty text file is an empty document, not an error.
func TestEmptyFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.pdf": "", "b.png": "", "c.docx": "", "d.md": "", "ok.md": "# Fine\n\n" + para("fine", 5)})
	p := newPipeline(t, newFake())
	rep, err := p.Add(t.Context(), []string{dir}, WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]string{}
	for _, e := range rep.Errors {
		failed[filepath.Base(e.Source)] = e.Error()
	}
	for _, name := range []string{"a.pdf", "b.png", "c.docx"} {
		if !strings.Contains(failed[name], "empty file") || !strings.Contains(failed[name], name) {
			t.Errorf("%s: %q, want an empty-file error naming it", name, failed[name])
		}
	}
	if _, ok := failed["d.md"]; ok {
		t.Errorf("an empty Markdown file failed: %s", failed["d.md"])
	}
	if _, err := p.Store.DocumentBySource(t.Context(), filepath.Join(dir, "ok.md")); err != nil {
		t.Errorf("the good file of the batch: %v", err)
	}
}
