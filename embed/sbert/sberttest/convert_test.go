package sberttest

import (
	"slices"
	"testing"

	"mmrag/gguf"
	"mmrag/onnx/onnxgraph"
)

// Every weight of a BERT encoder has a GGUF tensor, and no two share one.
func TestNameMapping(t *testing.T) {
	shapes, err := onnxgraph.BERTShapes(onnxgraph.BERTConfig{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, s := range shapes {
		g, ok := hfToGGUF(s.Name)
		if !ok {
			t.Errorf("no GGUF tensor for %s", s.Name)
			continue
		}
		if prev, dup := seen[g]; dup {
			t.Errorf("%s and %s both map to %s", prev, s.Name, g)
		}
		seen[g] = s.Name
	}
	if _, ok := hfToGGUF("pooler.dense.weight"); ok {
		t.Error("pooler.dense.weight mapped")
	}
}

func TestWordPieceVocab(t *testing.T) {
	vocab, cased := WordPieceVocab([]string{"[PAD]", "[unused0]", "▁hello", "ing", "▁ℝ", "ℝ", "▁##"})
	want := []string{"[PAD]", "[unused0]", "hello", "##ing", "ℝ", "##ℝ", "##"}
	if !slices.Equal(vocab, want) || cased {
		t.Errorf("vocab %q cased %v, want %q uncased", vocab, cased, want)
	}
	if _, cased := WordPieceVocab([]string{"▁Hello"}); !cased {
		t.Error("capitals not taken as cased")
	}
}

// TestReadConfigReal reads the real MiniLM GGUF's metadata.
func TestReadConfigReal(t *testing.T) {
	g, err := gguf.Open(GGUF(t))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c, err := ReadConfig(g)
	if err != nil {
		t.Fatal(err)
	}
	want := onnxgraph.BERTConfig{VocabSize: 30522, MaxPositions: 512, TypeVocabSize: 2, Hidden: 384, Layers: 6, Heads: 12, Intermediate: 1536}
	c.BERT.LayerNormEps = 0
	if c.BERT != want || c.Pooling != "mean" || c.Cased {
		t.Errorf("config %+v pooling %s cased %v", c.BERT, c.Pooling, c.Cased)
	}
	if c.Vocab[101] != "[CLS]" || c.Vocab[7592] != "hello" || c.Vocab[2075] != "##ing" {
		t.Errorf("vocab: %q %q %q", c.Vocab[101], c.Vocab[7592], c.Vocab[2075])
	}
}
