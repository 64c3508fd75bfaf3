// Package sbert is mmrag's in-process sentence embedder: a
// sentence-transformers model (all-MiniLM-L6-v2, bge-small-en-v1.5, e5…) in
// Hugging Face's ONNX layout, run by ONNX Runtime, for text–text search
// beside CLIP. It reads the folder, tokenizes with package
// tokenizer/wordpiece, runs the encoder in length-sorted batches padded
// only to their longest text, pools (mean or CLS) and L2-normalises.
//
// # Model folder
//
// As the Xenova/* exports on the hub lay it out:
//
//	onnx/model.onnx            encoder: inputs input_ids, attention_mask and
//	                           (optionally) token_type_ids, int64 [batch,
//	                           sequence]; output last_hidden_state (or
//	                           token_embeddings) [batch, sequence, dim], or
//	                           sentence_embedding [batch, dim] already pooled
//	onnx/model_quantized.onnx  the 8-bit variant (Options.Quantized)
//	tokenizer.json             WordPiece with BertNormalizer; or vocab.txt
//	                           with tokenizer_config.json
//	config.json                max_position_embeddings caps the length
//	1_Pooling/config.json      optional: mean or CLS pooling
//	config_sentence_transformers.json, sentence_bert_config.json
//	                           optional: query/passage prompts, max_seq_length
//
// Where the optional files are absent (the Xenova exports usually lack
// them) the settings of the model's family, from its model card, apply:
// see Config and the known table. Only WordPiece (BERT-family) tokenizers
// are supported; SentencePiece models (multilingual-e5, XLM-R) are refused
// with a clear error.
package sbert

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"mmrag/onnx"
	"mmrag/tokenizer/wordpiece"
)

// DefaultModel is the hub id of the text embedder mmrag uses by default.
const DefaultModel = "Xenova/all-MiniLM-L6-v2"

// Defaults of Options.Batch and Options.BatchTokens.
const (
	DefaultBatch       = 32
	DefaultBatchTokens = 1024
)

// Graph files and names.
const (
	ModelFile          = "onnx/model.onnx"
	QuantizedModelFile = "onnx/model_quantized.onnx"
	InputIDs           = "input_ids"
	AttentionMask      = "attention_mask"
	TokenTypeIDs       = "token_type_ids"
	LastHiddenState    = "last_hidden_state"
	TokenEmbeddings    = "token_embeddings"
	SentenceEmbedding  = "sentence_embedding"
)

// Options tune an Embedder. The zero value is ready to use.
type Options struct {
	// ID names the model in stored vectors; default "onnx/" and the folder.
	ID string
	// Name is the model's hub id or name, used to pick its family's
	// settings where the folder lacks sentence-transformers' files;
	// default: the folder's last two path elements.
	Name string
	// Quantized selects onnx/model_quantized.onnx.
	Quantized bool
	// Threads is ONNX Runtime's intra-op thread count; 0 = all cores.
	Threads int
	// Batch bounds the texts one graph run takes; 0 = DefaultBatch.
	Batch int
	// BatchTokens bounds a run's padded tokens (texts × longest) once it
	// has one text; 0 = DefaultBatchTokens. On the seed-blog passages
	// (15–129 tokens) 1024 takes a fifth less CPU time than batches of 32
	// alone: less padding, and activations that stay in the caches.
	BatchTokens int
	// MaxLen lowers the model's longest input in tokens; 0 keeps the
	// model's.
	MaxLen int
}

// Embedder embeds texts with a sentence-transformers model run by ONNX
// Runtime. It is safe for concurrent use; graph runs are serialised
// because each already uses every thread it was given.
type Embedder struct {
	id     string
	cfg    Config
	tok    *wordpiece.Tokenizer
	batch  int
	tokens int // Options.BatchTokens

	mu     sync.Mutex
	sess   *onnx.Session
	feed   []onnx.IO // the graph's inputs
	out    int       // index of the output read among the session's
	pooled bool      // the output is sentence_embedding: pooled in the graph
	dim    int
}

// Load opens a model folder. onnx.Init must have succeeded first.
func Load(dir string, opt Options) (*Embedder, error) {
	if opt.Batch < 0 || opt.BatchTokens < 0 || opt.Threads < 0 || opt.MaxLen < 0 {
		return nil, fmt.Errorf("sentence embedder %s: negative option (Batch %d, BatchTokens %d, Threads %d, MaxLen %d)",
			dir, opt.Batch, opt.BatchTokens, opt.Threads, opt.MaxLen)
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("sentence embedder: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("sentence embedder %s: not a folder", dir)
	}
	name := cmp.Or(opt.Name, filepath.Base(filepath.Dir(dir))+"/"+filepath.Base(dir))
	cfg, err := readConfig(dir, name)
	if err != nil {
		return nil, err
	}
	if opt.MaxLen > 0 {
		cfg.MaxLen = min(cfg.MaxLen, opt.MaxLen)
	}
	if cfg.MaxLen < 3 {
		return nil, fmt.Errorf("sentence embedder %s: a length of %d tokens leaves no room for text", dir, cfg.MaxLen)
	}
	tok, err := wordpiece.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("sentence embedder %s: %w", dir, err)
	}
	graph := filepath.Join(dir, filepath.FromSlash(ModelFile))
	if opt.Quantized {
		graph = filepath.Join(dir, filepath.FromSlash(QuantizedModelFile))
	}
	e := &Embedder{id: cmp.Or(opt.ID, "onnx/"+dir), cfg: cfg, tok: tok,
		batch: cmp.Or(opt.Batch, DefaultBatch), tokens: cmp.Or(opt.BatchTokens, DefaultBatchTokens)}
	if err := e.open(graph, opt.Threads); err != nil {
		return nil, err
	}
	return e, nil
}

// open loads the graph and checks its interface.
func (e *Embedder) open(graph string, threads int) error {
	if _, err := os.Stat(graph); err != nil {
		return fmt.Errorf("sentence embedder: model file: %w", err)
	}
	sess, err := onnx.Open(graph, nil, onnx.Options{Threads: threads})
	if err != nil {
		return fmt.Errorf("sentence embedder: %w", err)
	}
	out, err := pickOutput(sess.Outputs())
	if err == nil {
		err = checkInputs(sess.Inputs())
	}
	if err != nil {
		sess.Close()
		return fmt.Errorf("sentence embedder %s: %w", graph, err)
	}
	e.sess, e.feed = sess, sess.Inputs()
	e.out = slices.IndexFunc(sess.Outputs(), func(o onnx.IO) bool { return o.Name == out.Name })
	e.pooled = out.Name == SentenceEmbedding
	if d := out.Shape[len(out.Shape)-1]; d > 0 {
		e.dim = int(d)
	}
	return nil
}

// pickOutput chooses the graph output to read: token vectors to pool, or
// an already pooled sentence vector.
func pickOutput(outs []onnx.IO) (onnx.IO, error) {
	for _, want := range []struct {
		name string
		rank int
	}{{LastHiddenState, 3}, {TokenEmbeddings, 3}, {SentenceEmbedding, 2}} {
		for _, o := range outs {
			if o.Name == want.name && len(o.Shape) == want.rank && o.DType == onnx.Float32 {
				return o, nil
			}
		}
	}
	var names []string
	for _, o := range outs {
		names = append(names, fmt.Sprintf("%s %v", o.Name, o.Shape))
	}
	return onnx.IO{}, fmt.Errorf("graph outputs %s: want %s or %s [batch, sequence, dim], or %s [batch, dim] (is this a feature-extraction export?)",
		strings.Join(names, ", "), LastHiddenState, TokenEmbeddings, SentenceEmbedding)
}

// checkInputs accepts BERT's inputs, input_ids required, as int64 or int32
// [batch, sequence].
func checkInputs(ins []onnx.IO) error {
	known := []string{InputIDs, AttentionMask, TokenTypeIDs}
	hasIDs := false
	for _, in := range ins {
		if !slices.Contains(known, in.Name) {
			return fmt.Errorf("graph input %q is not one a BERT encoder takes (%s)", in.Name, strings.Join(known, ", "))
		}
		if in.DType != onnx.Int64 && in.DType != onnx.Int32 {
			return fmt.Errorf("graph input %q is %s, want int64", in.Name, in.DType)
		}
		if len(in.Shape) != 2 || in.Shape[1] > 0 {
			return fmt.Errorf("graph input %q has shape %v, want [batch, sequence] with a dynamic sequence", in.Name, in.Shape)
		}
		hasIDs = hasIDs || in.Name == InputIDs
	}
	if !hasIDs {
		return fmt.Errorf("graph has no %s input", InputIDs)
	}
	return nil
}

// ModelID names the vectors' model.
func (e *Embedder) ModelID() string { return e.id }

// Config returns the pooling, prefixes and length in use.
func (e *Embedder) Config() Config { return e.cfg }

// Tokenizer returns the model's tokenizer.
func (e *Embedder) Tokenizer() *wordpiece.Tokenizer { return e.tok }

// Dim is the vector length: from the graph, or 0 until the first
// embedding where the graph leaves it dynamic.
func (e *Embedder) Dim() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dim
}

// Close releases the ONNX Runtime session.
func (e *Embedder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sess == nil {
		return nil
	}
	err := e.sess.Close()
	e.sess = nil
	return err
}

// EmbedTexts embeds passages (with the model's passage prefix) into
// L2-normalised vectors.
func (e *Embedder) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	return e.embed(ctx, texts, e.cfg.PassagePrefix)
}

// EmbedQueries embeds questions (with the model's query prefix) into
// L2-normalised vectors.
func (e *Embedder) EmbedQueries(ctx context.Context, texts []string) ([][]float32, error) {
	return e.embed(ctx, texts, e.cfg.QueryPrefix)
}
