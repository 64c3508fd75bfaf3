package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mmrag/internal/testenv"
	"mmrag/onnx/onnxgraph"
	"mmrag/onnx/onnxtest"
	"mmrag/weaviate"
)

// This file runs the knowledge-base commands (ingest, ls, search, ask,
// stats, eval, caption, rm, import, migrate) against each backend: the
// embedded store (--store) and Weaviate (--weaviate), so that every command
// is shown to go through the backend the flags select.

// cliKB returns the flags that select a new, empty knowledge base named
// name of one backend.
type cliKB func(t *testing.T, name string) []string

// sqliteKB selects a fresh embedded store.
func sqliteKB(root string) cliKB {
	return func(t *testing.T, name string) []string {
		return []string{"--store", filepath.Join(root, name)}
	}
}

// weaviateKB selects a fresh collection prefix of the Weaviate server the
// environment names ($MMRAG_WEAVIATE_URL, $MMRAG_WEAVIATE_GRPC_PORT, as
// scripts/weaviate.sh exec sets them), dropped when the test ends. Without
// a server the test is skipped, or fails under MMRAG_REQUIRE_WEAVIATE=1.
func weaviateKB(t *testing.T) cliKB {
	t.Helper()
	u, grpcPort := testenv.Weaviate(t)
	if grpcPort == 0 {
		grpcPort = 50051
	}
	host := "127.0.0.1"
	if h, _, ok := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://"), ":"); ok && h != "" {
		host = h
	}
	var b [4]byte
	rand.Read(b[:])
	run := "C" + hex.EncodeToString(b[:])
	return func(t *testing.T, name string) []string {
		prefix := run + strings.ToUpper(name[:1]) + name[1:]
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, err := weaviate.Open(ctx, weaviate.Config{URL: u, GRPCHost: host, GRPCPort: grpcPort, Prefix: prefix})
			if err != nil {
				t.Errorf("open %s to drop it: %v", prefix, err)
				return
			}
			defer s.Close()
			if err := s.Drop(ctx); err != nil {
				t.Errorf("drop %s: %v", prefix, err)
			}
		})
		return []string{"--weaviate", u, "--weaviate-grpc", fmt.Sprintf("%s:%d", host, grpcPort), "--weaviate-prefix", prefix}
	}
}

func TestCLISQLite(t *testing.T) {
	cliBackendEnv(t)
	home := cliEnv(t, cliOffline)
	cliKBCommands(t, home, sqliteKB(t.TempDir()))

	// migrate needs both sides.
	_, _, err := cliRun(t, "migrate", "--to", "weaviate", "--store", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "--weaviate") {
		t.Errorf("migrate without --weaviate: %v, want an error asking for it", err)
	}
}

// TestCLIWeaviate runs the commands against a real Weaviate server
// (scripts/weaviate.sh), then migrates its knowledge base to the embedded
// store and back.
func TestCLIWeaviate(t *testing.T) {
	wv := weaviateKB(t)
	cliBackendEnv(t)
	home := cliEnv(t, cliOffline)
	cliKBCommands(t, home, wv)

	// migrate: a Weaviate knowledge base to a new embedded store, and that
	// store to a new Weaviate prefix; listings and counts stay equal.
	onnxtest.Init(t)
	model := cliTinyModel(t, onnxgraph.FolderOptions{Seed: 7})
	docs := cliBackendDocs(t)
	from, store := wv(t, "migfrom"), []string{"--store", filepath.Join(t.TempDir(), "kb")}
	to := wv(t, "migto")
	cliMust(t, append([]string{"ingest", docs, "--model", model}, from...)...)
	want := cliMust(t, append([]string{"ls", "--json"}, from...)...)
	for _, step := range []struct {
		name     string
		args     []string
		listFrom []string
	}{
		{"to sqlite", slices.Concat([]string{"migrate", "--to", "sqlite"}, from, store), store},
		{"to weaviate", slices.Concat([]string{"migrate", "--to", "weaviate"}, store, to), to},
	} {
		out := cliMust(t, step.args...)
		if !strings.Contains(out, "copied 2 documents") || !strings.Contains(out, "verified") {
			t.Errorf("migrate %s printed %q, want 2 documents copied and verified", step.name, out)
		}
		if got := cliMust(t, append([]string{"ls", "--json"}, step.listFrom...)...); cliStripIngested(got) != cliStripIngested(want) {
			t.Errorf("after migrate %s, ls --json =\n%s\nwant\n%s", step.name, got, want)
		}
	}
}

// cliBackendEnv clears the variables that would pick another backend, a
// language model or a text embedder.
func cliBackendEnv(t *testing.T) {
	for _, k := range []string{"MMRAG_WEAVIATE_URL", "MMRAG_WEAVIATE_PREFIX", "MMRAG_LLM", "MMRAG_LLM_URL",
		"MMRAG_TEXT_EMBEDDER", "MMRAG_RERANK", "OPENAI_BASE_URL", "OPENAI_API_KEY"} {
		t.Setenv(k, "")
	}
}

// cliMust runs mmrag and fails the test on an error; it returns stdout.
func cliMust(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := cliRun(t, args...)
	if err != nil {
		t.Fatalf("mmrag %q: %v\nstdout:\n%s\nstderr:\n%s", args, err, out, errOut)
	}
	return out
}

// cliStripIngested drops the ingest times from ls --json output, which a
// migration keeps but whose precision a backend may round.
func cliStripIngested(out string) string {
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		return out
	}
	for _, r := range rows {
		delete(r, "ingested")
		delete(r, "mod_time")
	}
	b, _ := json.Marshal(rows)
	return string(b)
}

// cliBackendDocs writes a Markdown page and a picture into a new folder.
func cliBackendDocs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cliWriteFile(t, dir, "cats.md", []byte("# Cats\n\nCats purr when they are content, and tigers are big cats.\n\n"+
		"## Dogs\n\nDogs bark at the mailman every morning.\n"))
	cliWritePNG(t, dir, "gradient.png", 48, 32)
	return dir
}

// cliFakeVision is an OpenAI-compatible chat server that describes every
// figure the same way.
func cliFakeVision(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"choices":[{"delta":{"content":"A smooth colour gradient."},"finish_reason":"stop"}]}`+"\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type cliDocRow struct {
	ID, Source        string
	TextItems, Images int
}

func cliDocs(t *testing.T, out string) []cliDocRow {
	t.Helper()
	var rows []struct {
		ID         string `json:"id"`
		Source     string `json:"source"`
		TextItems  int    `json:"text_items"`
		ImageItems int    `json:"image_items"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("ls --json printed %q: %v", out, err)
	}
	var docs []cliDocRow
	for _, r := range rows {
		docs = append(docs, cliDocRow{r.ID, r.Source, r.TextItems, r.ImageItems})
	}
	return docs
}

type cliStats struct {
	Store     string         `json:"store"`
	Documents int            `json:"documents"`
	Items     map[string]int `json:"items"`
	Models    []struct {
		ID      string         `json:"id"`
		Dim     int            `json:"dim"`
		Vectors map[string]int `json:"vectors"`
	} `json:"models"`
}

func cliStatsOf(t *testing.T, kb []string) cliStats {
	t.Helper()
	out := cliMust(t, append([]string{"stats", "--json"}, kb...)...)
	var st cliStats
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("stats --json printed %q: %v", out, err)
	}
	return st
}

// cliCheckItemListings checks `ls --items` and `ls --type image` of the
// knowledge base run reads, whose documents `ls` listed as rows.
func cliCheckItemListings(t *testing.T, run func(args ...string) string, rows []cliDocRow) {
	t.Helper()
	var items []struct {
		DocID    string `json:"doc_id"`
		Modality string `json:"modality"`
		Kind     string `json:"kind"`
	}
	if err := json.Unmarshal([]byte(run("ls", "--items", "--json")), &items); err != nil ||
		len(items) != rows[0].TextItems+rows[1].Images || items[0].DocID != rows[0].ID || items[len(items)-1].Modality != "image" {
		t.Errorf("ls --items --json = %+v (%v), want the %d items of cats.md, then the picture", items, err, rows[0].TextItems+rows[1].Images)
	}
	if out := run("ls", "--type", "image", "--json"); len(cliDocs(t, out)) != 1 {
		t.Errorf("ls --type image = %s, want the picture only", out)
	}
}

// cliCheckSearchAsk checks that search and ask find cats.md.
func cliCheckSearchAsk(t *testing.T, run func(args ...string) string, model string) {
	t.Helper()
	var res struct {
		Text []struct {
			Source string `json:"source"`
			Text   string `json:"text"`
		} `json:"text"`
	}
	if err := json.Unmarshal([]byte(run("search", "why do cats purr", "--model", model, "--json")), &res); err != nil ||
		len(res.Text) == 0 || filepath.Base(res.Text[0].Source) != "cats.md" {
		t.Errorf("search = %+v (%v), want cats.md first", res, err)
	}
	if out := run("ask", "Why do cats purr?", "--model", model); !strings.Contains(out, "purr") || !strings.Contains(out, "cats.md") {
		t.Errorf("ask printed %q, want an extractive answer citing cats.md", out)
	}
}

// cliCheckCaption captions the picture of kb, which holds textItems text
// items, and checks the caption item and its vector.
func cliCheckCaption(t *testing.T, run func(args ...string) string, kb []string, model string, textItems int) {
	t.Helper()
	if out := run("caption", "--vision", "openai:fake-vision", "--llm-url", cliFakeVision(t), "--model", model); !strings.Contains(out, "1 figure(s) described") {
		t.Errorf("caption printed %q, want 1 figure described", out)
	}
	if out := run("ls", "--items", "--json"); !strings.Contains(out, `"kind": "caption"`) || !strings.Contains(out, "A smooth colour gradient.") {
		t.Errorf("after caption, ls --items = %s, want a caption item", out)
	}
	if st := cliStatsOf(t, kb); len(st.Models) != 1 || st.Models[0].Vectors["text"] != textItems+1 || st.Models[0].Vectors["image"] != 1 {
		t.Errorf("after caption, stats = %+v, want one more text vector and the image's kept", st)
	}
}

// cliCheckImport imports the reference knowledge base (when ../shared has
// it) into a new knowledge base, and checks that the model check refuses
// it into kb, of another model.
func cliCheckImport(t *testing.T, newKB cliKB, kb []string) {
	t.Helper()
	fixture := filepath.Join("..", "..", "..", "shared", "fixtures", "seed-blog")
	if _, err := os.Stat(filepath.Join(fixture, "data", "text_embeddings.pt")); err != nil {
		t.Logf("no seed-blog fixture in %s: import not run", fixture)
		return
	}
	fresh := newKB(t, "imported")
	out := cliMust(t, append([]string{"import", fixture, "--as-model", "reference/clip"}, fresh...)...)
	if strings.Count(out, "imported ") != 2 {
		t.Errorf("import printed %q, want 2 documents imported", out)
	}
	if st := cliStatsOf(t, fresh); st.Documents != 2 || len(st.Models) != 1 || st.Models[0].ID != "reference/clip" || st.Models[0].Dim != 512 {
		t.Errorf("stats after import = %+v, want 2 documents of reference/clip, 512-d", st)
	}
	if _, _, err := cliRun(t, append([]string{"import", fixture, "--as-model", "reference/clip"}, kb...)...); err == nil || !strings.Contains(err.Error(), "refusing to add vectors") {
		t.Errorf("import into a knowledge base of another model: %v, want the model check to refuse", err)
	}
}

// cliKBCommands runs every knowledge-base command against knowledge bases
// of one backend, and checks that the embedded store under home was never
// created when they are not embedded stores.
func cliKBCommands(t *testing.T, home string, newKB cliKB) {
	onnxtest.Init(t)
	model := cliTinyModel(t, onnxgraph.FolderOptions{Seed: 7})
	dim := cliProjectionDim(t, model)
	docs := cliBackendDocs(t)
	kb := newKB(t, "main")
	run := func(args ...string) string {
		t.Helper()
		return cliMust(t, append(args, kb...)...)
	}

	// ingest: the page and the picture.
	var rep struct{ Added, Failed int }
	if err := json.Unmarshal([]byte(run("ingest", docs, "--model", model, "--json")), &rep); err != nil || rep.Added != 2 || rep.Failed != 0 {
		t.Fatalf("ingest report %+v (%v), want 2 added", rep, err)
	}
	// ls: one query counts the items of every document.
	rows := cliDocs(t, run("ls", "--json"))
	if len(rows) != 2 || filepath.Base(rows[0].Source) != "cats.md" || rows[0].TextItems < 2 || rows[0].Images != 0 ||
		filepath.Base(rows[1].Source) != "gradient.png" || rows[1].Images != 1 {
		t.Fatalf("ls --json = %+v, want cats.md with text items and gradient.png with one image", rows)
	}
	cliCheckItemListings(t, run, rows)

	// search and ask read the same knowledge base.
	cliCheckSearchAsk(t, run, model)

	// stats: the model with its dimension, through the backend.
	st := cliStatsOf(t, kb)
	if st.Documents != 2 || st.Items["image"] != 1 || len(st.Models) != 1 || st.Models[0].ID != model ||
		st.Models[0].Dim != dim || st.Models[0].Vectors["image"] != 1 || st.Models[0].Vectors["text"] != rows[0].TextItems {
		t.Errorf("stats = %+v, want 2 documents and model %s (%d-d) with every item's vector", st, model, dim)
	}

	// ingest refuses vectors of another CLIP model.
	other := cliTinyModel(t, onnxgraph.FolderOptions{Seed: 8})
	cliWriteFile(t, docs, "more.md", []byte("# More\n\nAnother page.\n"))
	if _, _, err := cliRun(t, append([]string{"ingest", docs, "--model", other}, kb...)...); err == nil || !strings.Contains(err.Error(), "refusing to add vectors") {
		t.Errorf("ingest with another model: %v, want the model check to refuse", err)
	}

	// eval: BM25 needs no model.
	set := cliWriteFile(t, t.TempDir(), "set.jsonl", []byte(`{"id":"purr","question":"when do cats purr","kind":"fact","expect":[{"modality":"text","match":"Cats purr when"}]}`+"\n"))
	if out := run("eval", set, "--strategy", "bm25"); !strings.Contains(out, "1 questions") {
		t.Errorf("eval printed %q, want a report of the 1 question", out)
	}

	// caption: the picture gets a description, and a caption item.
	cliCheckCaption(t, run, kb, model, rows[0].TextItems)

	// rm removes through the backend.
	if out := run("rm", filepath.Join(docs, "cats.md")); !strings.Contains(out, "removed") {
		t.Errorf("rm printed %q", out)
	}
	if rows := cliDocs(t, run("ls", "--json")); len(rows) != 1 || filepath.Base(rows[0].Source) != "gradient.png" {
		t.Errorf("after rm, ls = %+v, want the picture only", rows)
	}

	// import: the reference knowledge base into a new one, under a model
	// name of its own; into this one, the model check refuses it.
	cliCheckImport(t, newKB, kb)

	if !strings.HasPrefix(kb[0], "--store") {
		if _, err := os.Stat(filepath.Join(home, "kb")); !os.IsNotExist(err) {
			t.Errorf("the commands created the embedded store %s (%v): they must use the backend the flags select", filepath.Join(home, "kb"), err)
		}
	}
}
