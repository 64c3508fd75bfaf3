package sbert_test

// TestOllamaParity is the proof on real weights: the all-MiniLM-L6-v2 GGUF
// that a real Ollama server runs, converted to ONNX by package sberttest,
// embeds the same texts to the same vectors in-process.
//
//	eval "$(scripts/ollama.sh start)"
//	go test -run TestOllamaParity -v ./embed/sbert/
//
// It skips without MMRAG_OLLAMA_URL and fails instead with
// MMRAG_REQUIRE_OLLAMA=1 (CI).

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"mmrag/embed/sbert"
	"mmrag/embed/sbert/sberttest"
	"mmrag/internal/testenv"
	"mmrag/ollama"
	"mmrag/onnx/onnxtest"
)

// minCosine is the least cosine between an in-process vector and
// Ollama's for the same text.
const minCosine = 0.999

// parityTexts returns the texts of testdata/texts.txt and the questions of
// the labeled seed-blog set: over 100 texts of the kinds mmrag embeds.
func parityTexts(t *testing.T) []string {
	t.Helper()
	var texts []string
	f, err := os.Open("testdata/texts.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			texts = append(texts, line)
		}
	}
	q, err := os.Open("../../eval/testdata/seed-blog.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	sc = bufio.NewScanner(q)
	for sc.Scan() {
		var line struct{ Question string }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		texts = append(texts, line.Question)
	}
	return texts
}

// realOllama returns the test server's MiniLM embedder, or skips (fails
// with MMRAG_REQUIRE_OLLAMA=1).
func realOllama(t testing.TB) *ollama.Embedder {
	t.Helper()
	return &ollama.Embedder{Client: &ollama.Client{BaseURL: testenv.OllamaURL(t)}, Model: testenv.OllamaEmbedModel(), BatchSize: 32}
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func TestOllamaParity(t *testing.T) {
	onnxtest.Init(t)
	server := realOllama(t)
	dir := sberttest.MiniLM(t)
	texts := parityTexts(t)
	if len(texts) < 100 {
		t.Fatalf("%d texts; the comparison needs at least 100", len(texts))
	}
	e, err := sbert.Load(dir, sbert.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	got, err := e.EmbedTexts(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := server.EmbedTexts(ctx, texts)
	if err != nil {
		t.Fatalf("Ollama /api/embed: %v", err)
	}
	cos := make([]float64, len(texts))
	for i := range texts {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("text %d: %d dimensions in-process, %d from Ollama", i, len(got[i]), len(want[i]))
		}
		cos[i] = cosine(got[i], want[i])
		if cos[i] < minCosine {
			t.Errorf("text %d %.60q: cosine %.5f with Ollama's vector, want ≥ %.3f", i, texts[i], cos[i], minCosine)
		}
	}
	sorted := slices.Clone(cos)
	slices.Sort(sorted)
	t.Logf("%d texts: cosine with Ollama's /api/embed min %.5f, median %.5f, max %.5f", len(texts), sorted[0], sorted[len(sorted)/2], sorted[len(sorted)-1])
}
