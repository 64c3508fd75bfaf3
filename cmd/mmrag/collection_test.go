package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mmrag/ingest"
	"mmrag/onnx/onnxgraph"
	"mmrag/onnx/onnxtest"
	"mmrag/sqlite"
)

// TestIngestCollection: --collection puts the documents stored (and those
// found unchanged) in a collection of the knowledge base's workspace; a
// bad name is refused before anything is ingested.
func TestIngestCollection(t *testing.T) {
	onnxtest.Init(t)
	cliEnv(t, cliOffline)
	model := cliTinyModel(t, onnxgraph.FolderOptions{})
	store := t.TempDir()
	docs := t.TempDir()
	cliWriteFile(t, docs, "a.md", []byte("# A\n\nA short note.\n"))
	cliWriteFile(t, docs, "b.md", []byte("# B\n\nAnother note.\n"))

	if _, _, err := cliRun(t, "--model", model, "--store", store, "ingest", "--collection", "  ", docs); err == nil || !strings.Contains(err.Error(), "--collection") {
		t.Errorf("blank collection: %v", err)
	}
	cliMust(t, "--model", model, "--store", store, "ingest", "--collection", "notes", docs)
	cliMust(t, "--model", model, "--store", store, "ingest", "--collection", "just a", filepath.Join(docs, "a.md"))

	ws, err := sqlite.OpenWorkspace(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	byDoc, err := ws.DocumentCollections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a, b := ingest.DocID(filepath.Join(docs, "a.md")), ingest.DocID(filepath.Join(docs, "b.md"))
	if !slices.Equal(byDoc[a], []string{"just a", "notes"}) || !slices.Equal(byDoc[b], []string{"notes"}) || len(byDoc) != 2 {
		t.Errorf("collections %v (a %s, b %s)", byDoc, a, b)
	}
}
