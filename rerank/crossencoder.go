package rerank

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"mmrag/onnx"
	"mmrag/tokenizer/wordpiece"
)

// Defaults of Options.
const (
	DefaultMaxLen = 512
	DefaultBatch  = 16
)

// Names in a cross-encoder folder and graph.
const (
	ModelFile     = "onnx/model.onnx"
	ConfigFile    = "config.json"
	InputIDs      = "input_ids"
	AttentionMask = "attention_mask"
	TokenTypeIDs  = "token_type_ids"
	Logits        = "logits"
)

// Options tune a CrossEncoder. The zero value uses every core, 512 tokens
// and batches of 16 pairs.
type Options struct {
	Threads int // ONNX Runtime intra-op threads; 0: one per core
	// MaxLen is the longest query–passage pair in tokens, [CLS] and [SEP]s
	// included; longer pairs are cut, the longer side first. 0 means
	// DefaultMaxLen; it is capped at config.json's max_position_embeddings.
	MaxLen int
	Batch  int // pairs per ONNX Runtime run; 0: DefaultBatch
	// Model is the graph file, relative to the folder (for example
	// "onnx/model_quantized.onnx"). Empty: onnx/model.onnx, else model.onnx.
	Model string
}

// CrossEncoder scores query–passage pairs with a BERT cross-encoder through
// ONNX Runtime. It is safe for concurrent use. See the package doc for the
// folder it loads.
type CrossEncoder struct {
	sess   *onnx.Session
	tok    *wordpiece.Tokenizer
	maxLen int
	batch  int
	feed   []onnx.IO // the graph's inputs, all of them known names
}

// LoadCrossEncoder loads a cross-encoder folder. onnx.Init must have
// succeeded first.
func LoadCrossEncoder(dir string, opt Options) (*CrossEncoder, error) {
	if opt.MaxLen < 0 || opt.Batch < 0 || opt.Threads < 0 {
		return nil, fmt.Errorf("cross-encoder %s: negative option (MaxLen %d, Batch %d, Threads %d)", dir, opt.MaxLen, opt.Batch, opt.Threads)
	}
	maxLen := cmp.Or(opt.MaxLen, DefaultMaxLen)
	if maxLen < 4 {
		return nil, fmt.Errorf("cross-encoder %s: MaxLen %d leaves no room for text after [CLS] and two [SEP]", dir, maxLen)
	}
	model, err := modelPath(dir, opt.Model)
	if err != nil {
		return nil, err
	}
	positions, err := readModelConfig(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, err
	}
	if positions > 0 {
		maxLen = min(maxLen, positions)
	}
	tok, err := wordpiece.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("cross-encoder %s: %w", dir, err)
	}
	sess, err := onnx.Open(model, []string{Logits}, onnx.Options{Threads: opt.Threads})
	if err != nil {
		return nil, fmt.Errorf("cross-encoder: %w", err)
	}
	c := &CrossEncoder{sess: sess, tok: tok, maxLen: maxLen, batch: cmp.Or(opt.Batch, DefaultBatch)}
	if err := c.checkGraph(); err != nil {
		sess.Close()
		return nil, fmt.Errorf("cross-encoder %s: %w", model, err)
	}
	return c, nil
}

// modelPath finds the graph file.
func modelPath(dir, name string) (string, error) {
	if st, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("cross-encoder: %w", err)
	} else if !st.IsDir() {
		return "", fmt.Errorf("cross-encoder %s: not a folder", dir)
	}
	tries := []string{ModelFile, "model.onnx"}
	if name != "" {
		tries = []string{name}
	}
	for _, t := range tries {
		p := filepath.Join(dir, t)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("cross-encoder %s: model file %s not found", dir, strings.Join(tries, " or "))
}

// readModelConfig returns config.json's max_position_embeddings (0 when
// absent).
func readModelConfig(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("cross-encoder: %s not found (the model's Hugging Face config)", path)
		}
		return 0, fmt.Errorf("cross-encoder: %w", err)
	}
	var cfg struct {
		MaxPositions int `json:"max_position_embeddings"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return 0, fmt.Errorf("cross-encoder %s: not valid JSON: %w", path, err)
	}
	return max(cfg.MaxPositions, 0), nil
}

// checkGraph accepts graphs whose inputs are BERT's (input_ids required,
// the others optional) as int64 or int32 of rank 2, and whose logits are
// [batch, labels].
func (c *CrossEncoder) checkGraph() error {
	known := []string{InputIDs, AttentionMask, TokenTypeIDs}
	hasIDs := false
	for _, in := range c.sess.Inputs() {
		if !slices.Contains(known, in.Name) {
			return fmt.Errorf("graph input %q is not one a BERT cross-encoder takes (%s); is this a sequence-classification export?", in.Name, strings.Join(known, ", "))
		}
		if in.DType != onnx.Int64 && in.DType != onnx.Int32 {
			return fmt.Errorf("graph input %q is %s, want int64", in.Name, in.DType)
		}
		if len(in.Shape) != 2 {
			return fmt.Errorf("graph input %q has shape %v, want [batch, sequence]", in.Name, in.Shape)
		}
		if d := in.Shape[1]; d > 0 {
			// A fixed sequence axis: pad every pair to it.
			c.maxLen = min(c.maxLen, int(d))
		}
		hasIDs = hasIDs || in.Name == InputIDs
	}
	if !hasIDs {
		return fmt.Errorf("graph has no %s input", InputIDs)
	}
	out := c.sess.Outputs()[0]
	if len(out.Shape) != 2 || out.Shape[1] == 0 {
		return fmt.Errorf("output %s has shape %v, want [batch, 1] (a sequence-classification head)", Logits, out.Shape)
	}
	c.feed = c.sess.Inputs()
	return nil
}

// fixedLength reports a graph whose sequence axis is fixed.
func (c *CrossEncoder) fixedLength() int {
	for _, in := range c.feed {
		if in.Shape[1] > 0 {
			return int(in.Shape[1])
		}
	}
	return 0
}

// MaxLen is the longest pair in tokens the encoder reads.
func (c *CrossEncoder) MaxLen() int { return c.maxLen }

// Tokenizer returns the encoder's tokenizer.
func (c *CrossEncoder) Tokenizer() *wordpiece.Tokenizer { return c.tok }

// Close releases the ONNX Runtime session.
func (c *CrossEncoder) Close() error { return c.sess.Close() }

// Score returns the model's relevance logit of each passage to query
// (higher is more relevant; a sigmoid of it is the probability models
// trained with a binary loss give). It implements rag.Reranker.
func (c *CrossEncoder) Score(ctx context.Context, query string, passages []string) ([]float64, error) {
	encs := make([]wordpiece.Encoding, len(passages))
	for i, p := range passages {
		encs[i] = c.tok.EncodePair(query, p, c.maxLen)
	}
	// Batching pairs of like length wastes less work on padding.
	order := make([]int, len(encs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(len(encs[a].IDs), len(encs[b].IDs)) })

	scores := make([]float64, len(passages))
	for start := 0; start < len(order); start += c.batch {
		idx := order[start:min(start+c.batch, len(order))]
		got, err := c.run(ctx, encs, idx)
		if err != nil {
			return nil, err
		}
		for k, i := range idx {
			scores[i] = float64(got[k])
		}
	}
	return scores, nil
}

// run scores one batch: encs[idx...] padded to the longest (or to the
// graph's fixed length).
func (c *CrossEncoder) run(ctx context.Context, encs []wordpiece.Encoding, idx []int) ([]float32, error) {
	bt := wordpiece.NewBatch(encs, idx, c.fixedLength(), c.tok.PadID())
	b := bt.Rows
	in := onnx.IntInputs(c.feed, []int64{int64(bt.Rows), int64(bt.Seq)},
		map[string][]int64{InputIDs: bt.IDs, AttentionMask: bt.Mask, TokenTypeIDs: bt.TypeIDs})
	outs, err := c.sess.Run(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("cross-encoder: %w", err)
	}
	out := outs[0]
	labels := 1
	switch {
	case len(out.Shape) == 2 && out.Shape[0] == int64(b) && out.Shape[1] > 0:
		labels = int(out.Shape[1])
	case len(out.Shape) == 1 && out.Shape[0] == int64(b):
	default:
		return nil, fmt.Errorf("cross-encoder %s: logits of shape %v for a batch of %d", c.sess.Path(), out.Shape, b)
	}
	res := make([]float32, b)
	for row := range res {
		// Two-label heads (irrelevant, relevant) score with the last.
		res[row] = out.Data[row*labels+labels-1]
	}
	return res, nil
}

// Rerank returns re-sorted copies of cands, best first, with the model's
// logit as Score; equal logits keep the first-stage order.
func (c *CrossEncoder) Rerank(ctx context.Context, query string, cands []Candidate) ([]Candidate, error) {
	if strings.TrimSpace(query) == "" {
		return nil, errors.New("rerank: empty query")
	}
	scores, err := c.Score(ctx, query, texts(cands))
	if err != nil {
		return nil, err
	}
	return sortByScores(cands, scores), nil
}
