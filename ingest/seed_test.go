package ingest

import (
	"os"
	"path/filepath"
	"testing"

	"mmrag"
	"mmrag/embed"
	"mmrag/onnx/onnxgraph"
	"mmrag/onnx/onnxtest"
)

// seedBlog is the folder of the two saved blog posts, whose figures sit in
// ../images beside it.
func seedBlog(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "shared", "fixtures", "seed-blog", "local"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("seed-blog fixture absent: %v", err)
	}
	return dir
}

// checkSeedBlog checks what ingesting the seed blog stored: both posts, the
// 17 figure references with their 15 distinct images, each stored once.
func checkSeedBlog(t *testing.T, p *Pipeline, rep Report) {
	t.Helper()
	ctx := t.Context()
	if rep.Added != 2 || rep.Failed != 0 {
		t.Fatalf("%+v", rep)
	}
	stats, err := p.Store.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	docs, _ := p.Store.Documents(ctx, mmrag.Filter{})
	distinct := map[string]bool{}
	captioned := 0
	for _, d := range docs {
		items, err := p.Store.Items(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.Modality == mmrag.Image {
				distinct[it.BlobHash] = true
				if it.Text != "" {
					captioned++
				}
			}
		}
		t.Logf("%s: %q", d.Type, d.Title)
	}
	t.Logf("seed blog: %d documents, %d text items, %d image items (%d with text), %d distinct images, %d blobs (%d bytes), %d vectors computed, %d warnings, %v",
		stats.Documents, stats.Items[mmrag.Text], stats.Items[mmrag.Image], captioned, len(distinct), stats.Blobs, stats.BlobBytes, rep.Embedded, rep.Warnings, rep.Elapsed)
	if len(distinct) != 15 || stats.Blobs != 15 {
		t.Errorf("%d distinct images, %d blobs; want the 15 figures", len(distinct), stats.Blobs)
	}
	if stats.Items[mmrag.Image] != 17 {
		t.Errorf("%d image items, want 17 (two figures appear twice)", stats.Items[mmrag.Image])
	}
	if stats.Items[mmrag.Text] < 60 {
		t.Errorf("only %d text items", stats.Items[mmrag.Text])
	}
	if rep.Embedded > stats.Items[mmrag.Text]+15 {
		t.Errorf("%d vectors computed for %d texts and 15 images", rep.Embedded, stats.Items[mmrag.Text])
	}
}

func TestSeedBlog(t *testing.T) {
	dir := seedBlog(t)
	emb := newFake()
	p := newPipeline(t, emb)
	// The posts' figures are in ../images: the seed-blog folder is the root.
	rep, err := p.Add(t.Context(), []string{dir}, WalkOptions{AssetRoot: filepath.Dir(dir)})
	if err != nil {
		t.Fatal(err)
	}
	checkSeedBlog(t, p, rep)
	if _, images := emb.take(); images != 15 {
		t.Errorf("%d images embedded, want 15 (duplicates embedded once)", images)
	}
}

// TestCLIP runs the pipeline with the real CLIP embedder on a tiny model
// with random weights: the vectors mean nothing, but every one must be
// stored under the model and find its own item.
func TestCLIP(t *testing.T) {
	onnxtest.Init(t)
	ctx := t.Context()
	model := t.TempDir()
	opts := onnxgraph.FolderOptions{Preset: onnxgraph.PresetTiny}
	if tok := filepath.Join("..", "..", "shared", "fixtures", "clip-tokenizer"); fileExists(filepath.Join(tok, "vocab.json")) {
		opts.TokenizerDir = tok
	}
	if err := onnxgraph.WriteModelFolder(model, opts); err != nil {
		t.Fatal(err)
	}
	clip, err := embed.Load(model, embed.Options{ID: "tiny-clip"})
	if err != nil {
		t.Fatal(err)
	}
	defer clip.Close()

	p := newPipeline(t, clip)
	p.Chunk.Counter = clip.Tokenizer()
	dir := corpus(t)
	targets := []string{dir}
	blog := ""
	if opts.TokenizerDir != "" {
		if _, err := os.Stat(filepath.Join("..", "..", "shared", "fixtures", "seed-blog", "local")); err == nil {
			blog = seedBlog(t)
			targets = append(targets, blog)
		}
	}
	walk := WalkOptions{}
	if blog != "" {
		walk.AssetRoot = filepath.Dir(blog) // the posts' figures are in ../images
	}
	rep, err := p.Add(ctx, targets, walk)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("CLIP tiny: %+v", rep)
	want := 5 // the corpus
	if blog != "" {
		want += 2
	}
	if rep.Failed != 0 || rep.Added != want {
		t.Fatalf("%+v", rep)
	}
	stats, err := p.Store.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Vectors["tiny-clip"] != stats.Items[mmrag.Text]+stats.Items[mmrag.Image] {
		t.Errorf("%d vectors for %v items", stats.Vectors["tiny-clip"], stats.Items)
	}
	// Every text item is found by its own text's embedding.
	d, err := p.Store.DocumentBySource(ctx, filepath.Join(dir, "a.md"))
	if err != nil {
		t.Fatal(err)
	}
	items, _ := p.Store.Items(ctx, d.ID)
	for _, it := range items {
		v, err := clip.EmbedTexts(ctx, []string{it.Text})
		if err != nil {
			t.Fatal(err)
		}
		hits, err := p.Store.SearchVectors(ctx, mmrag.VectorQuery{Model: "tiny-clip", Modality: mmrag.Text, Vector: v[0], K: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 1 || hits[0].ItemID != it.ID {
			t.Errorf("item %s (%q) not its own nearest: %+v", it.ID, it.Text, hits)
		}
	}
	// And nothing is embedded again.
	rep, err = p.Add(ctx, targets, walk)
	if err != nil || rep.Embedded != 0 || rep.Unchanged != rep.Files() {
		t.Errorf("second run: %v %+v", err, rep)
	}
	if blog != "" {
		img := 0
		docs, _ := p.Store.Documents(ctx, mmrag.Filter{SourcePrefix: blog})
		for _, d := range docs {
			items, _ := p.Store.Items(ctx, d.ID)
			for _, it := range items {
				if it.Modality == mmrag.Image {
					img++
				}
			}
		}
		if img != 17 {
			t.Errorf("seed blog with CLIP: %d image items, want 17", img)
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
