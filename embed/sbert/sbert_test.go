package sbert_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"mmrag/embed/sbert"
	"mmrag/embed/sbert/sberttest"
	"mmrag/onnx/onnxtest"
)

var tinyTexts = []string{
	"How does CLIP embed an image?",
	"a cat photo",
	"",
	"the neural network model embeds text and images in one vector space: search, query, answer!",
	"zebra",
	strings.Repeat("the model embeds the text ", 20), // over the tiny models' 64 positions
}

func tinyEmbedder(t *testing.T, o sberttest.TinyOptions, opt sbert.Options) (*sbert.Embedder, *sberttest.Tiny) {
	t.Helper()
	onnxtest.Init(t)
	m, err := sberttest.WriteTiny(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	if opt.Threads == 0 {
		opt.Threads = 1
	}
	e, err := sbert.Load(m.Dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, m
}

// checkVectors compares got with what the tiny model computes for each text
// encoded with prefix.
func checkVectors(t *testing.T, e *sbert.Embedder, m *sberttest.Tiny, texts []string, prefix string, got [][]float32) {
	t.Helper()
	if len(got) != len(texts) {
		t.Fatalf("%d vectors for %d texts", len(got), len(texts))
	}
	for i, text := range texts {
		enc := e.Tokenizer().Encode(prefix+text, e.Config().MaxLen)
		want := m.Vector(enc.IDs, enc.TypeIDs)
		if len(got[i]) != len(want) {
			t.Fatalf("text %d: %d dimensions, want %d", i, len(got[i]), len(want))
		}
		for k := range want {
			if d := math.Abs(float64(got[i][k]) - want[k]); d > 1e-5 {
				t.Fatalf("text %d %.30q: component %d = %g, want %g", i, text, k, got[i][k], want[k])
			}
		}
	}
}

func TestEmbedTexts(t *testing.T) {
	tests := []struct {
		name string
		o    sberttest.TinyOptions
		opt  sbert.Options
	}{
		{"mean", sberttest.TinyOptions{}, sbert.Options{}},
		{"cls", sberttest.TinyOptions{CLS: true}, sbert.Options{}},
		{"no pooling file: mean", sberttest.TinyOptions{NoPooling: true}, sbert.Options{}},
		{"family default: bge is cls", sberttest.TinyOptions{NoPooling: true, CLS: true}, sbert.Options{Name: "BAAI/bge-small-en-v1.5"}},
		{"no token_type_ids", sberttest.TinyOptions{NoTypes: true}, sbert.Options{}},
		{"int32 inputs", sberttest.TinyOptions{Int32: true}, sbert.Options{}},
		{"pooled in the graph", sberttest.TinyOptions{Pooled: true}, sbert.Options{}},
		{"tokenizer.json", sberttest.TinyOptions{TokJSON: true}, sbert.Options{}},
		{"batch of 1", sberttest.TinyOptions{}, sbert.Options{Batch: 1}},
		{"batch of 2", sberttest.TinyOptions{Dim: 5}, sbert.Options{Batch: 2}},
		{"token budget", sberttest.TinyOptions{}, sbert.Options{BatchTokens: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, m := tinyEmbedder(t, tt.o, tt.opt)
			got, err := e.EmbedTexts(context.Background(), tinyTexts)
			if err != nil {
				t.Fatal(err)
			}
			checkVectors(t, e, m, tinyTexts, "", got)
			if e.Dim() != m.Dim {
				t.Errorf("Dim %d, want %d", e.Dim(), m.Dim)
			}
			for i, v := range got {
				var n float64
				for _, x := range v {
					n += float64(x) * float64(x)
				}
				if math.Abs(n-1) > 1e-5 {
					t.Errorf("vector %d has squared norm %g", i, n)
				}
			}
		})
	}
}

// Padding a text in a batch must not change its vector.
func TestBatchInvariance(t *testing.T) {
	e, _ := tinyEmbedder(t, sberttest.TinyOptions{}, sbert.Options{})
	ctx := context.Background()
	all, err := e.EmbedTexts(ctx, tinyTexts)
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range tinyTexts {
		one, err := e.EmbedTexts(ctx, []string{text})
		if err != nil {
			t.Fatal(err)
		}
		for k := range one[0] {
			if d := math.Abs(float64(one[0][k] - all[i][k])); d > 1e-6 {
				t.Fatalf("text %d alone differs from it in a batch by %g", i, d)
			}
		}
	}
	if v, err := e.EmbedTexts(ctx, nil); err != nil || len(v) != 0 {
		t.Errorf("no texts: %v, %v", v, err)
	}
}

func TestPrefixes(t *testing.T) {
	o := sberttest.TinyOptions{Prompts: map[string]string{"query": "query: ", "passage": "passage: "}}
	e, m := tinyEmbedder(t, o, sbert.Options{})
	ctx := context.Background()
	texts := tinyTexts[:2]
	q, err := e.EmbedQueries(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, e, m, texts, "query: ", q)
	p, err := e.EmbedTexts(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, e, m, texts, "passage: ", p)

	// The e5 family gets its prefixes without config files, bge its
	// question instruction.
	for name, want := range map[string][2]string{
		"intfloat/e5-small-v2":    {"query: ", "passage: "},
		"BAAI/bge-small-en-v1.5":  {"Represent this sentence for searching relevant passages: ", ""},
		"Xenova/all-MiniLM-L6-v2": {"", ""},
	} {
		e, _ := tinyEmbedder(t, sberttest.TinyOptions{NoPooling: true}, sbert.Options{Name: name})
		if c := e.Config(); c.QueryPrefix != want[0] || c.PassagePrefix != want[1] {
			t.Errorf("%s: prefixes %q, %q; want %q", name, c.QueryPrefix, c.PassagePrefix, want)
		}
	}
}

func TestMaxLen(t *testing.T) {
	tests := []struct {
		name string
		o    sberttest.TinyOptions
		opt  sbert.Options
		want int
	}{
		{"positions cap", sberttest.TinyOptions{}, sbert.Options{}, 64},
		{"max_seq_length", sberttest.TinyOptions{MaxSeq: 6}, sbert.Options{}, 6},
		{"option", sberttest.TinyOptions{}, sbert.Options{MaxLen: 5}, 5},
		{"family: all-MiniLM-L6-v2 256, capped", sberttest.TinyOptions{Positions: 512}, sbert.Options{Name: "Xenova/all-MiniLM-L6-v2"}, 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, m := tinyEmbedder(t, tt.o, tt.opt)
			if got := e.Config().MaxLen; got != tt.want {
				t.Fatalf("MaxLen %d, want %d", got, tt.want)
			}
			long := []string{tinyTexts[len(tinyTexts)-1]}
			v, err := e.EmbedTexts(context.Background(), long)
			if err != nil {
				t.Fatal(err)
			}
			checkVectors(t, e, m, long, "", v)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name   string
		damage func(dir string) error
		opt    sbert.Options
		want   []string
	}{
		{"no config.json", func(d string) error { return os.Remove(filepath.Join(d, "config.json")) }, sbert.Options{}, []string{"config.json"}},
		{"no graph", func(d string) error { return os.Remove(filepath.Join(d, sbert.ModelFile)) }, sbert.Options{}, []string{"model.onnx"}},
		{"no quantized graph", func(string) error { return nil }, sbert.Options{Quantized: true}, []string{"model_quantized.onnx"}},
		{"max pooling", func(d string) error {
			return os.WriteFile(filepath.Join(d, sbert.PoolingFile), []byte(`{"pooling_mode_max_tokens": true}`), 0o644)
		}, sbert.Options{}, []string{sbert.PoolingFile, "not supported"}},
		{"sentencepiece tokenizer", func(d string) error {
			os.Remove(filepath.Join(d, "vocab.txt"))
			return os.WriteFile(filepath.Join(d, "tokenizer.json"), []byte(`{"model": {"type": "Unigram", "vocab": [["a", 0]]}}`), 0o644)
		}, sbert.Options{}, []string{"Unigram", "WordPiece"}},
		{"not a folder", func(d string) error { return nil }, sbert.Options{}, nil},
		{"negative batch", func(string) error { return nil }, sbert.Options{Batch: -1}, []string{"negative"}},
	}
	onnxtest.Init(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := sberttest.WriteTiny(t.TempDir(), sberttest.TinyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.damage(m.Dir); err != nil {
				t.Fatal(err)
			}
			dir := m.Dir
			if tt.name == "not a folder" {
				dir = filepath.Join(dir, "config.json")
				tt.want = []string{"not a folder"}
			}
			e, err := sbert.Load(dir, tt.opt)
			if err == nil {
				e.Close()
				t.Fatal("no error")
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestConcurrentAndClose(t *testing.T) {
	e, m := tinyEmbedder(t, sberttest.TinyOptions{}, sbert.Options{Batch: 2})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			v, err := e.EmbedQueries(ctx, tinyTexts)
			if err == nil && len(v) != len(tinyTexts) {
				t.Errorf("%d vectors", len(v))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = m
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.EmbedTexts(ctx, []string{"a"}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("after Close: %v", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	e2, _ := tinyEmbedder(t, sberttest.TinyOptions{}, sbert.Options{})
	if _, err := e2.EmbedTexts(ctx, tinyTexts); err == nil {
		t.Error("cancelled context: no error")
	}
}

func TestFiles(t *testing.T) {
	for _, q := range []bool{false, true} {
		f := sbert.Files(q)
		graph := sbert.ModelFile
		if q {
			graph = sbert.QuantizedModelFile
		}
		ok := []string{"config.json", graph, "tokenizer.json"}
		if err := f.Check(ok); err != nil {
			t.Errorf("quantized %v: %v", q, err)
		}
		if err := f.Check([]string{"config.json", graph, "vocab.txt"}); err != nil {
			t.Errorf("vocab.txt instead of tokenizer.json: %v", err)
		}
		err := f.Check([]string{"config.json"})
		if err == nil || !strings.Contains(err.Error(), graph) || !strings.Contains(err.Error(), "tokenizer.json") {
			t.Errorf("missing graph and tokenizer: %v", err)
		}
	}
}
