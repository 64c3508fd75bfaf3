package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mmrag/embed/sbert"
	"mmrag/embed/sbert/sberttest"
	"mmrag/hub"
	"mmrag/hub/hubtest"
	"mmrag/onnx/onnxgraph"
	"mmrag/onnx/onnxtest"
	"mmrag/sqlite"
)

// defaultTextID is the stored-vector model of the default text embedder.
var defaultTextID = "onnx/" + sbert.DefaultModel

// cliInstallDefaultText puts a tiny sentence embedder into home's cache
// where the default text embedder's pull would.
func cliInstallDefaultText(t *testing.T, home string) {
	t.Helper()
	dir, err := hub.ModelDir(home, sbert.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sberttest.WriteTiny(dir, sberttest.TinyOptions{}); err != nil {
		t.Fatal(err)
	}
	cliWriteFile(t, dir, hub.ManifestName, []byte(`{"id": "`+sbert.DefaultModel+`", "revision": "main", "commit": "test", "files": []}`))
}

// cliVectors counts the vectors per model in the knowledge base at store.
func cliVectors(t *testing.T, store string) map[string]int {
	t.Helper()
	st, err := sqlite.Open(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.Vectors
}

func cliTextDocs(t *testing.T) string {
	t.Helper()
	docs := t.TempDir()
	cliWriteFile(t, docs, "cats.md", []byte("# Cats\n\nA cat photo with a caption.\n\n## Dogs\n\nThe dog answers the query.\n"))
	return docs
}

// TestDefaultTextEmbedder walks the default through its cases: a new
// knowledge base without the model (offline: one note, CLIP only), with
// it (text vectors stored, search uses them), an existing CLIP-only one
// (left as it is), and --text-embedder none.
func TestDefaultTextEmbedder(t *testing.T) {
	onnxtest.Init(t)
	home := cliEnv(t, cliOffline)
	model := cliTinyModel(t, onnxgraph.FolderOptions{})
	docs := cliTextDocs(t)
	const missing = "is not in the cache, so text search uses CLIP only"

	// 1. Not in the cache: one note, CLIP vectors only, search works.
	offline := t.TempDir()
	_, errOut, err := cliRun(t, "--model", model, "--store", offline, "ingest", docs)
	if err != nil {
		t.Fatalf("ingest offline: %v\n%s", err, errOut)
	}
	if strings.Count(errOut, missing) != 1 || !strings.Contains(errOut, "mmrag models pull "+defaultTextEmbedder) {
		t.Errorf("ingest offline printed, want one note naming the pull command:\n%s", errOut)
	}
	if v := cliVectors(t, offline); v[defaultTextID] != 0 || v[model] == 0 {
		t.Errorf("vectors offline: %v", v)
	}
	if _, errOut, err := cliRun(t, "--model", model, "--store", offline, "search", "cat photo"); err != nil || strings.Contains(errOut, missing) {
		// The knowledge base holds no vectors of the default, so search
		// does not look for it and says nothing.
		t.Errorf("search offline: %v\n%s", err, errOut)
	}

	// 2. In the cache: a new knowledge base gets text vectors; search and
	// a second ingest use them without a note.
	cliInstallDefaultText(t, home)
	kb := t.TempDir()
	_, errOut, err = cliRun(t, "--model", model, "--store", kb, "ingest", docs)
	if err != nil || strings.Contains(errOut, "note: text") || !strings.Contains(errOut, "texts embedded with "+defaultTextID) {
		t.Fatalf("ingest with the default: %v\n%s", err, errOut)
	}
	v := cliVectors(t, kb)
	if v[defaultTextID] == 0 || v[model] == 0 {
		t.Errorf("vectors with the default: %v", v)
	}
	out, errOut, err := cliRun(t, "--model", model, "--store", kb, "search", "--json", "cat photo")
	if err != nil || strings.Contains(errOut, "note:") || !strings.Contains(out, "A cat photo") {
		t.Errorf("search with the default: %v\n%s\n%s", err, out, errOut)
	}
	_, errOut, err = cliRun(t, "--model", model, "--store", kb, "ingest", docs)
	if err != nil || strings.Contains(errOut, "note: text") {
		t.Errorf("second ingest: %v\n%s", err, errOut)
	}

	// 3. The knowledge base built offline stays CLIP-only, and says how to
	// add the text embedder.
	_, errOut, err = cliRun(t, "--model", model, "--store", offline, "ingest", docs)
	if err != nil || !strings.Contains(errOut, "built without a text embedder") || strings.Contains(errOut, missing) {
		t.Errorf("ingest into the CLIP-only knowledge base: %v\n%s", err, errOut)
	}
	if v := cliVectors(t, offline); v[defaultTextID] != 0 {
		t.Errorf("the CLIP-only knowledge base got text vectors: %v", v)
	}
	// Naming the text embedder adds its vectors to every document.
	_, errOut, err = cliRun(t, "--model", model, "--store", offline, "--text-embedder", defaultTextEmbedder, "ingest", docs)
	if err != nil || !strings.Contains(errOut, "texts embedded with "+defaultTextID) {
		t.Errorf("ingest --text-embedder into the CLIP-only knowledge base: %v\n%s", err, errOut)
	}
	if v := cliVectors(t, offline); v[defaultTextID] == 0 {
		t.Errorf("--text-embedder added no vectors: %v", v)
	}

	// 4. none: CLIP only, silently.
	none := t.TempDir()
	_, errOut, err = cliRun(t, "--model", model, "--store", none, "--text-embedder", "none", "ingest", docs)
	if err != nil || strings.Contains(errOut, "note: t") {
		t.Errorf("ingest --text-embedder none: %v\n%s", err, errOut)
	}
	if v := cliVectors(t, none); v[defaultTextID] != 0 {
		t.Errorf("vectors with none: %v", v)
	}
}

// TestTextEmbedderFlag covers --text-embedder onnx: a folder, a pulled hub
// model, and one never pulled.
func TestTextEmbedderFlag(t *testing.T) {
	onnxtest.Init(t)
	const id = "acme/minilm-tiny"
	src := t.TempDir()
	if _, err := sberttest.WriteTiny(src, sberttest.TinyOptions{Seed: 4}); err != nil {
		t.Fatal(err)
	}
	fh := hubtest.New(t)
	if _, err := fh.AddDir(id, src); err != nil {
		t.Fatal(err)
	}
	cliEnv(t, fh.URL())
	model := cliTinyModel(t, onnxgraph.FolderOptions{})
	docs := cliTextDocs(t)

	// Never pulled: a failure naming the command that pulls it.
	_, _, err := cliRun(t, "--model", model, "--store", t.TempDir(), "--text-embedder", "onnx:"+id, "ingest", docs)
	if !errors.Is(err, hub.ErrNotCached) || !strings.Contains(err.Error(), "mmrag models pull onnx:"+id) {
		t.Fatalf("unpulled text embedder: %v", err)
	}
	out := cliMust(t, "models", "pull", "onnx:"+id)
	if !strings.Contains(out, id+"@") {
		t.Errorf("models pull onnx:%s printed %q", id, out)
	}
	for _, spec := range []string{"onnx:" + id, "onnx:" + src} {
		kb := t.TempDir()
		_, errOut, err := cliRun(t, "--model", model, "--store", kb, "--text-embedder", spec, "ingest", docs)
		if err != nil {
			t.Fatalf("ingest --text-embedder %s: %v\n%s", spec, err, errOut)
		}
		want := sentenceModelID(strings.TrimPrefix(spec, "onnx:"))
		if v := cliVectors(t, kb); v[want] == 0 {
			t.Errorf("--text-embedder %s: vectors %v, want some of %s", spec, v, want)
		}
		if _, errOut, err := cliRun(t, "--model", model, "--store", kb, "--text-embedder", spec, "search", "dog"); err != nil {
			t.Errorf("search --text-embedder %s: %v\n%s", spec, err, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("MMRAG_HOME"), "models", "acme", "minilm-tiny", sbert.ModelFile)); err != nil {
		t.Errorf("pulled graph: %v", err)
	}
	// A repository that is no sentence embedder is refused before any download.
	if _, err := fh.AddDir("acme/clip", model); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cliRun(t, "models", "pull", "onnx:acme/clip"); err == nil || !strings.Contains(err.Error(), "not a usable sentence-transformers") {
		t.Errorf("pull onnx: of a CLIP repository: %v", err)
	}
}
