package rerank

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mmrag/onnx/onnxgraph"
	"mmrag/onnx/onnxtest"
	"mmrag/rag"
	"mmrag/tokenizer/wordpiece"
)

// tinyVocab is the vocabulary of the tiny cross-encoder folders.
var tinyVocab = func() []string {
	v := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	v = append(v, strings.Fields(`the a of and to in is what how does clip image text model vector space embed
		##s ##ing ##ed ##ding search query passage answer neural network cat dog photo picture caption
		softmax temperature score rank re ##rank cross encoder token . , ? ! -`)...)
	for c := 'a'; c <= 'z'; c++ {
		v = append(v, string(c), "##"+string(c))
	}
	return v
}()

// tinyOptions shapes the tiny cross-encoder graph.
type tinyOptions struct {
	width      int    // hidden size (default 8)
	labels     int    // logits columns (default 1)
	noTypes    bool   // no token_type_ids input
	noMask     bool   // no attention_mask input: a plain mean over every position
	renameIDs  string // input_ids renamed to this
	maxPos     int    // config.json's max_position_embeddings (default 512)
	tokJSON    bool   // write tokenizer.json instead of vocab.txt
	fixedLen   int    // declare the sequence axis fixed at this length
	hiddenOnly bool   // output logits as [batch, sequence, width]: not a classifier
	seed       uint64
}

// tinyModel holds the tiny graph's weights, to recompute it in Go.
type tinyModel struct {
	opt               tinyOptions
	emb, types, w, b  []float32
	width, labels, nv int
}

// score computes, in Go, what the tiny graph computes for one pair:
// logits = tanh(mean over real tokens of (emb[id] + types[type])) @ w + b.
// It returns the last column.
func (m *tinyModel) score(e wordpiece.Encoding) float32 {
	mean := make([]float64, m.width)
	for j, id := range e.IDs {
		for k := range m.width {
			v := float64(m.emb[int(id)*m.width+k])
			if !m.opt.noTypes {
				v += float64(m.types[int(e.TypeIDs[j])*m.width+k])
			}
			mean[k] += v
		}
	}
	col := m.labels - 1
	out := float64(m.b[col])
	for k := range m.width {
		out += math.Tanh(mean[k]/float64(len(e.IDs))) * float64(m.w[k*m.labels+col])
	}
	return float32(out)
}

// writeTinyCrossEncoder writes a Hugging Face-layout cross-encoder folder
// whose graph has BERT's input names, int64 dtypes and dynamic batch and
// sequence axes, and a logits [batch, labels] output:
//
//	hidden = emb[input_ids] + types[token_type_ids]            [B,S,W]
//	pooled = tanh(sum_j mask[j] hidden[j] / max(sum_j mask[j], 1))
//	logits = pooled @ w + b                                     [B,L]
func writeTinyCrossEncoder(t testing.TB, dir string, o tinyOptions) *tinyModel {
	t.Helper()
	m := &tinyModel{opt: o, width: cmpOr(o.width, 8), labels: cmpOr(o.labels, 1), nv: len(tinyVocab)}
	r := rand.New(rand.NewPCG(o.seed, 7))
	normal := func(n int, std float64) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(r.NormFloat64() * std)
		}
		return out
	}
	m.emb = normal(m.nv*m.width, 1)
	m.types = normal(2*m.width, 0.5)
	m.w = normal(m.width*m.labels, 1)
	m.b = normal(m.labels, 0.1)

	g := onnxgraph.NewGraph("tiny_cross_encoder")
	seq := onnxgraph.Dim("sequence_length")
	if o.fixedLen > 0 {
		seq = onnxgraph.Fixed(o.fixedLen)
	}
	g.Input(InputIDs, onnxgraph.Int64, "batch_size", seq)
	if !o.noMask {
		g.Input(AttentionMask, onnxgraph.Int64, "batch_size", seq)
	}
	if !o.noTypes {
		g.Input(TokenTypeIDs, onnxgraph.Int64, "batch_size", seq)
	}
	emb := g.Initializer("embeddings.word_embeddings.weight", m.emb, int64(m.nv), int64(m.width))
	hidden := g.Op("Gather", []string{emb, InputIDs}, onnxgraph.AttrInt("axis", 0))
	if !o.noTypes {
		types := g.Initializer("embeddings.token_type_embeddings.weight", m.types, 2, int64(m.width))
		hidden = g.Op("Add", []string{hidden, g.Op("Gather", []string{types, TokenTypeIDs}, onnxgraph.AttrInt("axis", 0))})
	}
	var pooled string
	if o.noMask {
		pooled = g.Op("ReduceMean", []string{hidden}, onnxgraph.AttrInts("axes", 1), onnxgraph.AttrInt("keepdims", 0))
	} else {
		mask := g.Op("Cast", []string{AttentionMask}, onnxgraph.AttrInt("to", int64(onnxgraph.Float)))
		count := g.Op("Max", []string{g.Op("ReduceSum", []string{mask, g.Ints(1)}, onnxgraph.AttrInt("keepdims", 1)), g.Scalar(1)})
		sum := g.Op("MatMul", []string{g.Op("Unsqueeze", []string{mask, g.Ints(1)}), hidden}) // [B,1,W]
		pooled = g.Op("Div", []string{g.Op("Squeeze", []string{sum, g.Ints(1)}), count})
	}
	pooled = g.Op("Tanh", []string{pooled})
	if o.hiddenOnly {
		g.Node("Identity", []string{hidden}, []string{Logits})
		g.Output(Logits, onnxgraph.Float, "batch_size", seq, onnxgraph.Fixed(m.width))
	} else {
		w := g.Initializer("classifier.weight", m.w, int64(m.width), int64(m.labels))
		b := g.Initializer("classifier.bias", m.b, int64(m.labels))
		g.Node("Add", []string{g.Op("MatMul", []string{pooled, w}), b}, []string{Logits})
		g.Output(Logits, onnxgraph.Float, "batch_size", onnxgraph.Fixed(m.labels))
	}
	if o.renameIDs != "" {
		g.Rename(InputIDs, o.renameIDs)
	}
	if err := os.MkdirAll(filepath.Join(dir, "onnx"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := onnxgraph.NewModel(g).WriteFile(filepath.Join(dir, ModelFile)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, ConfigFile), fmt.Sprintf(
		`{"architectures": ["BertForSequenceClassification"], "model_type": "bert", "max_position_embeddings": %d, "num_labels": %d}`,
		cmpOr(o.maxPos, 512), m.labels))
	if o.tokJSON {
		writeFile(t, filepath.Join(dir, wordpiece.TokenizerJSON), tokenizerJSONFor(t, tinyVocab,
			map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": nil, "lowercase": true}))
	} else {
		writeFile(t, filepath.Join(dir, wordpiece.VocabTxt), strings.Join(tinyVocab, "\n")+"\n")
		writeFile(t, filepath.Join(dir, wordpiece.TokenizerConfig), `{"do_lower_case": true, "model_max_length": 512}`)
	}
	return m
}

func cmpOr(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func loadTiny(t testing.TB, o tinyOptions, opt Options) (*CrossEncoder, *tinyModel) {
	t.Helper()
	onnxtest.Init(t)
	dir := t.TempDir()
	m := writeTinyCrossEncoder(t, dir, o)
	if opt.Threads == 0 {
		opt.Threads = 1
	}
	c, err := LoadCrossEncoder(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, m
}

const testQuery = "How does CLIP embed an image?"

var testPassages = []string{
	"CLIP embeds the image and the text in one vector space.",
	"A cat photo.",
	"",
	"Reranking with a cross-encoder scores each query–passage pair, token by token, using softmax temperature!",
	"Zebras? Quokkas!",
	strings.Repeat("the neural network model embeds text and images ", 30), // over MaxLen 64
	"What is the answer to the query?",
}

func checkScores(t *testing.T, c *CrossEncoder, m *tinyModel, got []float64) {
	t.Helper()
	if len(got) != len(testPassages) {
		t.Fatalf("%d scores for %d passages", len(got), len(testPassages))
	}
	for i, p := range testPassages {
		want := m.score(c.Tokenizer().EncodePair(testQuery, p, c.MaxLen()))
		if d := math.Abs(got[i] - float64(want)); d > 1e-5 {
			t.Errorf("passage %d: score %v, Go computes %v (diff %g)", i, got[i], want, d)
		}
	}
}

func TestCrossEncoderScores(t *testing.T) {
	tests := []struct {
		name string
		o    tinyOptions
		opt  Options
	}{
		{"bert inputs", tinyOptions{}, Options{MaxLen: 64}},
		{"no token_type_ids input", tinyOptions{noTypes: true, seed: 1}, Options{MaxLen: 64}},
		{"two labels: last column", tinyOptions{labels: 2, seed: 2}, Options{MaxLen: 64}},
		{"tokenizer.json", tinyOptions{tokJSON: true, seed: 3}, Options{MaxLen: 64}},
		{"max positions cap MaxLen", tinyOptions{maxPos: 32, seed: 4}, Options{}},
		{"fixed sequence axis, no mask", tinyOptions{fixedLen: 48, noMask: true, seed: 5}, Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, m := loadTiny(t, tt.o, tt.opt)
			got, err := c.Score(context.Background(), testQuery, testPassages)
			if err != nil {
				t.Fatal(err)
			}
			if tt.o.noMask {
				// Without a mask the graph averages over the padding
				// too: the Go computation sees the padded pair.
				for i, p := range testPassages {
					e := c.Tokenizer().EncodePair(testQuery, p, c.MaxLen())
					for len(e.IDs) < tt.o.fixedLen {
						e.IDs = append(e.IDs, c.Tokenizer().PadID())
						e.TypeIDs = append(e.TypeIDs, 0)
					}
					if want := m.score(e); math.Abs(got[i]-float64(want)) > 1e-5 {
						t.Errorf("passage %d: score %v, Go computes %v", i, got[i], want)
					}
				}
				return
			}
			checkScores(t, c, m, got)
		})
	}
	t.Run("MaxLen", func(t *testing.T) {
		c, _ := loadTiny(t, tinyOptions{maxPos: 32}, Options{MaxLen: 100})
		if c.MaxLen() != 32 {
			t.Errorf("MaxLen %d, want config's 32", c.MaxLen())
		}
		c, _ = loadTiny(t, tinyOptions{}, Options{})
		if c.MaxLen() != DefaultMaxLen {
			t.Errorf("MaxLen %d, want %d", c.MaxLen(), DefaultMaxLen)
		}
	})
}

// TestCrossEncoderBatching checks that padding pairs into batches changes
// no score.
func TestCrossEncoderBatching(t *testing.T) {
	onnxtest.Init(t)
	dir := t.TempDir()
	writeTinyCrossEncoder(t, dir, tinyOptions{seed: 9})
	var ref []float64
	for _, batch := range []int{1, 2, 3, 16} {
		c, err := LoadCrossEncoder(dir, Options{Threads: 1, MaxLen: 64, Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Score(context.Background(), testQuery, testPassages)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = got
			continue
		}
		for i := range got {
			if d := math.Abs(got[i] - ref[i]); d > 1e-5 {
				t.Errorf("batch %d, passage %d: %v; one by one %v", batch, i, got[i], ref[i])
			}
		}
	}
}

func TestCrossEncoderRerank(t *testing.T) {
	c, _ := loadTiny(t, tinyOptions{seed: 11}, Options{MaxLen: 64, Batch: 3})
	ctx := context.Background()
	cands := make([]Candidate, len(testPassages))
	index := map[string]int{} // ID → place in testPassages
	for i, p := range testPassages {
		cands[i] = Candidate{ID: fmt.Sprintf("p%d", i), Text: p, Score: float64(len(p))}
		index[cands[i].ID] = i
	}
	orig := slices.Clone(cands)
	got, err := c.Rerank(ctx, testQuery, cands)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cands, orig) {
		t.Error("input candidates modified")
	}
	scores, err := c.Score(ctx, testQuery, testPassages)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(cands) {
		t.Fatalf("%d candidates back, want %d", len(got), len(cands))
	}
	for i, g := range got {
		idx, ok := index[g.ID]
		if !ok || g.Text != testPassages[idx] || g.Score != scores[idx] {
			t.Errorf("candidate %s: text %q score %v, want score %v", g.ID, g.Text, g.Score, scores[idx])
		}
		if i > 0 && g.Score > got[i-1].Score {
			t.Errorf("not sorted: %v after %v", g.Score, got[i-1].Score)
		}
	}
	// Equal logits (identical texts) keep the first stage's order.
	twins := []Candidate{{ID: "low", Text: "cat", Score: 0.1}, {ID: "high", Text: "cat", Score: 0.9}}
	got, err = c.Rerank(ctx, testQuery, twins)
	if err != nil || !slices.Equal(ids(got), []string{"high", "low"}) {
		t.Errorf("ties: %v, %v", ids(got), err)
	}
	if got, err := c.Rerank(ctx, testQuery, nil); err != nil || len(got) != 0 {
		t.Errorf("no candidates: %v, %v", got, err)
	}
	if _, err := c.Rerank(ctx, " ", cands); err == nil {
		t.Error("empty query: no error")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Rerank(cancelled, testQuery, cands); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	var _ rag.Reranker = c
	var _ rag.Reranker = LLM{}
}

func TestLoadCrossEncoderErrors(t *testing.T) {
	onnxtest.Init(t)
	tests := []struct {
		name  string
		o     tinyOptions
		edit  func(dir string) error
		opt   Options
		wants []string
	}{
		{"wrong input name", tinyOptions{renameIDs: "ids"}, nil, Options{}, []string{`"ids"`, InputIDs}},
		{"not a classifier", tinyOptions{hiddenOnly: true}, nil, Options{}, []string{Logits, "sequence-classification"}},
		{"missing model", tinyOptions{}, func(d string) error { return os.Remove(filepath.Join(d, ModelFile)) }, Options{}, []string{ModelFile, "model.onnx", "not found"}},
		{"missing named model", tinyOptions{}, nil, Options{Model: "onnx/model_quantized.onnx"}, []string{"onnx/model_quantized.onnx", "not found"}},
		{"missing config", tinyOptions{}, func(d string) error { return os.Remove(filepath.Join(d, ConfigFile)) }, Options{}, []string{ConfigFile, "not found"}},
		{"bad config", tinyOptions{}, func(d string) error { return os.WriteFile(filepath.Join(d, ConfigFile), []byte("{"), 0o644) }, Options{}, []string{ConfigFile, "JSON"}},
		{"missing vocabulary", tinyOptions{}, func(d string) error { return os.Remove(filepath.Join(d, wordpiece.VocabTxt)) }, Options{}, []string{wordpiece.VocabTxt, wordpiece.TokenizerJSON}},
		{"corrupt model", tinyOptions{}, func(d string) error {
			p := filepath.Join(d, ModelFile)
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(p, onnxgraph.Truncated(data), 0o644)
		}, Options{}, []string{ModelFile}},
		{"MaxLen too small", tinyOptions{}, nil, Options{MaxLen: 3}, []string{"MaxLen 3"}},
		{"negative batch", tinyOptions{}, nil, Options{Batch: -1}, []string{"Batch -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTinyCrossEncoder(t, dir, tt.o)
			if tt.edit != nil {
				if err := tt.edit(dir); err != nil {
					t.Fatal(err)
				}
			}
			tt.opt.Threads = 1
			c, err := LoadCrossEncoder(dir, tt.opt)
			if err == nil {
				c.Close()
				t.Fatal("no error")
			}
			for _, s := range tt.wants {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
	if _, err := LoadCrossEncoder(filepath.Join(t.TempDir(), "absent"), Options{}); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("absent folder: %v", err)
	}
}

// TestCrossEncoderModelOption finds the graph by Options.Model and at the
// folder's top.
func TestCrossEncoderModelOption(t *testing.T) {
	onnxtest.Init(t)
	dir := t.TempDir()
	writeTinyCrossEncoder(t, dir, tinyOptions{})
	if err := os.Rename(filepath.Join(dir, ModelFile), filepath.Join(dir, "onnx", "model_quantized.onnx")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCrossEncoder(dir, Options{Threads: 1}); err == nil {
		t.Error("default model name found a renamed file")
	}
	c, err := LoadCrossEncoder(dir, Options{Threads: 1, Model: "onnx/model_quantized.onnx"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// optimum-cli writes model.onnx at the folder's top.
	if err := os.Rename(filepath.Join(dir, "onnx", "model_quantized.onnx"), filepath.Join(dir, "model.onnx")); err != nil {
		t.Fatal(err)
	}
	c, err = LoadCrossEncoder(dir, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// BenchmarkCrossEncoderRerank20 reranks 20 candidates of about 60 words
// with the tiny graph: tokenization, padding and ONNX Runtime overhead,
// with next to no model compute.
func BenchmarkCrossEncoderRerank20(b *testing.B) {
	words := strings.Fields("the neural network model embeds text and images in one vector space so a caption and its picture land close")
	cands := make([]Candidate, 20)
	for i := range cands {
		var sb strings.Builder
		for j := range 40 + i {
			sb.WriteString(words[(i*7+j)%len(words)])
			sb.WriteByte(' ')
		}
		cands[i] = Candidate{ID: fmt.Sprint(i), Text: sb.String(), Score: float64(20 - i)}
	}
	for _, batch := range []int{1, 20} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			c, _ := loadTiny(b, tinyOptions{width: 32}, Options{Batch: batch})
			ctx := context.Background()
			for b.Loop() {
				if _, err := c.Rerank(ctx, testQuery, cands); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
