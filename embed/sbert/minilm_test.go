package sbert_test

// Tests on the real all-MiniLM-L6-v2 weights, converted from the GGUF that
// the Go module github.com/mutablelogic/go-llama ships (package sberttest).
// They skip when the module cannot be had, and fail instead with
// MMRAG_REQUIRE_OLLAMA=1 (CI).

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"mmrag/embed/sbert"
	"mmrag/embed/sbert/sberttest"
	"mmrag/onnx/onnxtest"
	"mmrag/tokenizer/wordpiece"
)

func realMiniLM(t *testing.T) *sbert.Embedder {
	t.Helper()
	onnxtest.Init(t)
	dir := sberttest.MiniLM(t)
	e, err := sbert.Load(dir, sbert.Options{Threads: 2, Name: "all-MiniLM-L6-v2"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestHFTokenizerIDs checks the WordPiece tokenizer, on the real
// vocabulary (30 522 tokens, bert-base-uncased's, which all-MiniLM-L6-v2
// shares), against the ids Hugging Face's tokenizers give: the reference
// cases of transformers.js's BERT tokenizer tests for
// Xenova/bert-base-uncased, generated with the Python library
// (testdata/hf-bert-base-uncased-ids.json).
func TestHFTokenizerIDs(t *testing.T) {
	dir := sberttest.MiniLM(t)
	tok, err := wordpiece.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/hf-bert-base-uncased-ids.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name, Text string
		IDs        []int64
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if got := tok.Encode(c.Text, 512).IDs; !slices.Equal(got, c.IDs) {
			t.Errorf("%s %q: ids %v, Hugging Face %v", c.Name, c.Text, got, c.IDs)
		}
	}
	// The cross-encoder's pair template: [CLS] hello [SEP] world [SEP].
	if got := tok.EncodePair("hello", "world", 512).IDs; !slices.Equal(got, []int64{101, 7592, 102, 2088, 102}) {
		t.Errorf("pair ids %v", got)
	}
	if len(cases) < 25 {
		t.Errorf("%d reference cases", len(cases))
	}
}

// TestMiniLMSemantics checks that the real model ranks by meaning.
func TestMiniLMSemantics(t *testing.T) {
	e := realMiniLM(t)
	ctx := context.Background()
	q, err := e.EmbedQueries(ctx, []string{"How do I bake bread at home?"})
	if err != nil {
		t.Fatal(err)
	}
	passages := []string{
		"Mix flour, water, yeast and salt, let the dough rise, then bake it in a hot oven.",
		"The central bank raised interest rates by a quarter point.",
		"Contrastive learning pulls matching image and text pairs together.",
	}
	p, err := e.EmbedTexts(ctx, passages)
	if err != nil {
		t.Fatal(err)
	}
	s := make([]float64, len(p))
	for i := range p {
		s[i] = cosine(q[0], p[i])
	}
	if !(s[0] > 0.5 && s[0] > s[1]+0.3 && s[0] > s[2]+0.3) {
		t.Errorf("cosines of the baking question with a baking, a banking and an ML passage: %.3f", s)
	}
	if e.Dim() != 384 || e.Config().Pooling != sbert.Mean || e.Config().MaxLen != 256 {
		t.Errorf("Dim %d, config %+v", e.Dim(), e.Config())
	}
}

// TestQuantizedVariant checks onnx/model_quantized.onnx (int8 matrix
// products, as the hub's exports quantise) against the float32 graph.
func TestQuantizedVariant(t *testing.T) {
	f := realMiniLM(t)
	q, err := sbert.Load(sberttest.MiniLM(t), sbert.Options{Threads: 2, Quantized: true})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	texts := parityTexts(t)
	ctx := context.Background()
	a, err := f.EmbedTexts(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := q.EmbedTexts(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	worst := 1.0
	for i := range a {
		worst = min(worst, cosine(a[i], b[i]))
	}
	if worst < 0.98 {
		t.Errorf("quantized vectors: least cosine with float32's %.4f, want ≥ 0.98", worst)
	}
	t.Logf("quantized against float32 on %d texts: least cosine %.4f", len(texts), worst)
}
