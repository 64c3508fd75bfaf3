package sbert_test

// Speed of the in-process embedder beside Ollama's on the same texts, the
// figures of docs/PERFORMANCE.md:
//
//	go test -run XXX -bench . -benchtime 3x ./embed/sbert/
//	eval "$(scripts/ollama.sh start)"   # adds the Ollama rows
//
// Questions: the labeled set's questions, embedded one at a time (p50 and
// p95 reported). Passages: 128-token texts (with [CLS] and [SEP]), in
// requests of 1 and of 32; and the 86 seed-blog passages as mmrag stores
// them ("section: text", 15–129 tokens, median 51) when ../shared has them. Both
// embedders run the real all-MiniLM-L6-v2 weights (the GGUF, converted for
// the in-process one; its int8 variant as "in-process-int8").

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mmrag/embed/sbert"
	"mmrag/embed/sbert/sberttest"
	"mmrag/onnx/onnxtest"
	"mmrag/tokenizer/wordpiece"
)

// textEmbedder is what both embedders offer.
type textEmbedder interface {
	EmbedTexts(ctx context.Context, texts []string) ([][]float32, error)
}

func benchQuestions(b *testing.B) []string {
	b.Helper()
	f, err := os.Open("../../eval/testdata/seed-blog.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var q struct{ Question string }
		if err := json.Unmarshal(sc.Bytes(), &q); err != nil {
			b.Fatal(err)
		}
		out = append(out, q.Question)
	}
	return out
}

// passages128 returns n texts of exactly 128 tokens with [CLS] and [SEP],
// cut at word ends from the parity texts run together.
func passages128(b *testing.B, tok *wordpiece.Tokenizer, n int) []string {
	b.Helper()
	data, err := os.ReadFile("testdata/texts.txt")
	if err != nil {
		b.Fatal(err)
	}
	var words []string
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			words = append(words, strings.Fields(line)...)
		}
	}
	out := make([]string, 0, n)
	for i := 0; len(out) < n; i++ {
		start := i * 37 % len(words)
		var ws []string
		for j := 0; ; j++ {
			next := append(ws, words[(start+j)%len(words)])
			if len(tok.Encode(strings.Join(next, " "), 1<<20).IDs) > 128 {
				break
			}
			ws = next
		}
		if len(tok.Encode(strings.Join(ws, " "), 1<<20).IDs) == 128 {
			out = append(out, strings.Join(ws, " "))
		}
	}
	return out
}

// benchEmbedders returns the in-process embedder and, with a server,
// Ollama's, with the tokenizer that measures passages.
func benchEmbedders(b *testing.B) (map[string]textEmbedder, *wordpiece.Tokenizer) {
	b.Helper()
	onnxtest.Init(b)
	e, err := sbert.Load(sberttest.MiniLM(b), sbert.Options{Name: "all-MiniLM-L6-v2"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	q, err := sbert.Load(sberttest.MiniLM(b), sbert.Options{Name: "all-MiniLM-L6-v2", Quantized: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	out := map[string]textEmbedder{"in-process": e, "in-process-int8": q}
	if os.Getenv("MMRAG_OLLAMA_URL") != "" {
		out["ollama"] = realOllama(b)
	}
	return out, e.Tokenizer()
}

func BenchmarkQuestion(b *testing.B) {
	embs, _ := benchEmbedders(b)
	qs := benchQuestions(b)
	for _, name := range []string{"in-process", "in-process-int8", "ollama"} {
		e, ok := embs[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			var took []time.Duration
			i := 0
			for b.Loop() {
				start := time.Now()
				if _, err := e.EmbedTexts(ctx, []string{qs[i%len(qs)]}); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
				i++
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
}

func BenchmarkPassages128(b *testing.B) {
	embs, tok := benchEmbedders(b)
	benchPassages(b, embs, passages128(b, tok, 64))
}

func BenchmarkSeedBlogPassages(b *testing.B) {
	data, err := os.ReadFile("../../../shared/fixtures/seed-blog/data/text_content.json")
	if err != nil {
		b.Skipf("seed-blog fixture absent: %v", err)
	}
	var rows []struct{ Section, Text string }
	if err := json.Unmarshal(data, &rows); err != nil {
		b.Fatal(err)
	}
	texts := make([]string, len(rows))
	for i, r := range rows {
		texts[i] = r.Section + ": " + r.Text
	}
	embs, _ := benchEmbedders(b)
	benchPassages(b, embs, texts)
}

func benchPassages(b *testing.B, embs map[string]textEmbedder, texts []string) {
	for _, name := range []string{"in-process", "in-process-int8", "ollama"} {
		e, ok := embs[name]
		if !ok {
			continue
		}
		for _, batch := range []int{1, 32} {
			b.Run(name+"/batch="+strconv.Itoa(batch), func(b *testing.B) {
				ctx := context.Background()
				n := 0
				for b.Loop() {
					for start := 0; start < len(texts); start += batch {
						if _, err := e.EmbedTexts(ctx, texts[start:min(start+batch, len(texts))]); err != nil {
							b.Fatal(err)
						}
					}
					n += len(texts)
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "passages/s")
			})
		}
	}
}
