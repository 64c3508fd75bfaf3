package app

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"

	"mmrag"
	"mmrag/extract"
	"mmrag/extract/text"
	"mmrag/ingest"
	"mmrag/sqlite"
)

// hashEmbedder gives each text a deterministic unit vector: it stands in
// for CLIP and for a text embedder in tests of the code around them.
type hashEmbedder struct {
	id    string
	texts int
}

func (h *hashEmbedder) ModelID() string { return h.id }
func (h *hashEmbedder) Dim() int        { return 8 }

func (h *hashEmbedder) EmbedTexts(_ context.Context, texts []string) ([][]float32, error) {
	h.texts += len(texts)
	out := make([][]float32, len(texts))
	for i, t := range texts {
		sum := sha256.Sum256([]byte(h.id + t))
		v := make([]float32, 8)
		var n float64
		for j := range v {
			v[j] = float32(int16(binary.LittleEndian.Uint16(sum[2*j:]))) / math.MaxInt16
			n += float64(v[j] * v[j])
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(n))
		}
		out[i] = v
	}
	return out, nil
}

func (h *hashEmbedder) EmbedImages(context.Context, []image.Image) ([][]float32, error) {
	return nil, nil
}

// TestIngestIndexesText: an ingest through the service gives the stored
// documents the text embedder's vectors too (uploads to the server used
// to get none until the next CLI ingest).
func TestIngestIndexesText(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "kb"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	file := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(file, []byte("Contrastive learning pulls matching pairs together.\n\nIt pushes the others apart."), 0o644); err != nil {
		t.Fatal(err)
	}
	clip, minilm := &hashEmbedder{id: "clip"}, &hashEmbedder{id: "minilm"}
	s := &Service{
		Store: st, Text: minilm,
		Pipeline: &ingest.Pipeline{Store: st, Embedder: clip, Extractors: map[string]extract.Extractor{ingest.TypeText: text.Text{}}},
	}
	rep, err := s.Ingest(ctx, []string{file}, ingest.WalkOptions{}, nil)
	if err != nil || rep.Added != 1 {
		t.Fatalf("ingest: %+v (%v)", rep, err)
	}
	if rep.TextEmbedded == 0 || minilm.texts == 0 {
		t.Fatalf("the text embedder embedded %d texts (report %d)", minilm.texts, rep.TextEmbedded)
	}
	items, err := st.Items(ctx, ingest.DocID(file))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Modality != mmrag.Text {
			continue
		}
		if _, err := st.Vector(ctx, "minilm", it.ID); err != nil {
			t.Errorf("item %s has no text-embedder vector: %v", it.ID, err)
		}
	}
	// Again, unchanged: nothing new to embed.
	minilm.texts = 0
	if rep, err := s.Ingest(ctx, []string{file}, ingest.WalkOptions{}, nil); err != nil || rep.Unchanged != 1 || minilm.texts != 0 {
		t.Errorf("unchanged ingest: %+v (%v), %d texts embedded again", rep.Report, err, minilm.texts)
	}
}
