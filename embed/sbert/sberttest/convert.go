// Package sberttest gives tests and benchmarks real sentence-embedder
// weights without the Hugging Face hub: it converts a BERT GGUF file (the
// format llama.cpp and Ollama run) into a sentence-transformers model
// folder in Hugging Face's ONNX layout, the layout package embed/sbert
// loads. It dequantises the weights to float32 (package gguf) and writes
// the encoder with onnx/onnxgraph; the vocabulary comes from the GGUF's
// tokenizer metadata.
//
// The real all-MiniLM-L6-v2 weights ship as all-MiniLM-L6-v2-Q4_K_M.gguf in
// the Go module github.com/mutablelogic/go-llama@v0.0.11; MiniLM finds it
// and converts it once per machine. It is a test helper: the mmrag binary
// never imports it.
package sberttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"mmrag/gguf"
	"mmrag/onnx/onnxgraph"
)

// Files of the converted folder.
const (
	ModelFile          = "onnx/model.onnx"
	QuantizedModelFile = "onnx/model_quantized.onnx"
	VocabFile          = "vocab.txt"
	PoolingFile        = "1_Pooling/config.json"
)

// ggufNames maps the GGUF tensor names of llama.cpp's BERT conversion to
// Hugging Face's BertModel names; "%d" is the layer.
var ggufNames = map[string]string{
	"token_embd.weight":      "embeddings.word_embeddings.weight",
	"position_embd.weight":   "embeddings.position_embeddings.weight",
	"token_types.weight":     "embeddings.token_type_embeddings.weight",
	"token_embd_norm.weight": "embeddings.LayerNorm.weight",
	"token_embd_norm.bias":   "embeddings.LayerNorm.bias",
}

var ggufLayerNames = map[string]string{
	"attn_q":            "attention.self.query",
	"attn_k":            "attention.self.key",
	"attn_v":            "attention.self.value",
	"attn_output":       "attention.output.dense",
	"attn_output_norm":  "attention.output.LayerNorm",
	"ffn_up":            "intermediate.dense",
	"ffn_down":          "output.dense",
	"layer_output_norm": "output.LayerNorm",
}

// hfToGGUF returns the GGUF tensor name of a BertModel weight.
func hfToGGUF(name string) (string, bool) {
	for g, h := range ggufNames {
		if h == name {
			return g, true
		}
	}
	var layer int
	var rest string
	if _, err := fmt.Sscanf(name, "encoder.layer.%d.", &layer); err != nil {
		return "", false
	}
	rest = strings.TrimPrefix(name, fmt.Sprintf("encoder.layer.%d.", layer))
	for g, h := range ggufLayerNames {
		for _, suffix := range []string{".weight", ".bias"} {
			if rest == h+suffix {
				return fmt.Sprintf("blk.%d.%s%s", layer, g, suffix), true
			}
		}
	}
	return "", false
}

// Config is what Convert read from the GGUF metadata.
type Config struct {
	BERT    onnxgraph.BERTConfig
	Pooling string // "mean" or "cls"
	Vocab   []string
	Cased   bool
}

// ReadConfig reads a BERT GGUF's shape, pooling and vocabulary.
func ReadConfig(g *gguf.File) (Config, error) {
	var c Config
	if arch, _ := g.String("general.architecture"); arch != "bert" {
		return c, fmt.Errorf("architecture %q: only bert is converted", arch)
	}
	ints := map[string]*int{
		"bert.block_count":                &c.BERT.Layers,
		"bert.context_length":             &c.BERT.MaxPositions,
		"bert.embedding_length":           &c.BERT.Hidden,
		"bert.feed_forward_length":        &c.BERT.Intermediate,
		"bert.attention.head_count":       &c.BERT.Heads,
		"tokenizer.ggml.token_type_count": &c.BERT.TypeVocabSize,
	}
	for key, dst := range ints {
		v, ok := g.Uint(key)
		if !ok || v == 0 || v > 1<<20 {
			return c, fmt.Errorf("metadata %s missing or out of range", key)
		}
		*dst = int(v)
	}
	eps, ok := g.Float("bert.attention.layer_norm_epsilon")
	if !ok || !(eps > 0) {
		return c, errors.New("metadata bert.attention.layer_norm_epsilon missing")
	}
	c.BERT.LayerNormEps = eps
	tokens, ok := g.Strings("tokenizer.ggml.tokens")
	if !ok || len(tokens) == 0 {
		return c, errors.New("metadata tokenizer.ggml.tokens missing")
	}
	if m, _ := g.String("tokenizer.ggml.model"); m != "bert" {
		return c, fmt.Errorf("tokenizer model %q: only bert (WordPiece) is converted", m)
	}
	c.Vocab, c.Cased = WordPieceVocab(tokens)
	c.BERT.VocabSize = len(c.Vocab)
	switch p, _ := g.Uint("bert.pooling_type"); p {
	case 1:
		c.Pooling = "mean"
	case 2:
		c.Pooling = "cls"
	default:
		return c, fmt.Errorf("bert.pooling_type %d: only mean (1) and cls (2) are converted", p)
	}
	return c, nil
}

// WordPieceVocab undoes llama.cpp's renaming of BERT tokens: it marks
// word-initial pieces with "▁" and strips "##" from continuing ones, and
// leaves bracketed special tokens alone. It also reports whether the
// vocabulary has ASCII capitals (a cased model: an uncased vocabulary
// still has a few upper-case symbols such as ℝ).
func WordPieceVocab(tokens []string) (vocab []string, cased bool) {
	vocab = make([]string, len(tokens))
	for i, t := range tokens {
		switch {
		case strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]"):
			vocab[i] = t
			continue
		case strings.HasPrefix(t, "\u2581"):
			vocab[i] = strings.TrimPrefix(t, "\u2581")
		default:
			vocab[i] = "##" + t
		}
		cased = cased || strings.IndexFunc(t, isASCIIUpper) >= 0
	}
	return vocab, cased
}

func isASCIIUpper(r rune) bool { return r >= 'A' && r <= 'Z' }

// Convert writes a sentence-transformers folder for the BERT GGUF at
// ggufPath into dir: onnx/model.onnx (float32), onnx/model_quantized.onnx
// (int8 matrix products, as the hub's exports quantise them), vocab.txt,
// tokenizer_config.json, config.json, 1_Pooling/config.json and
// modules.json. dir is created; files in it are replaced.
func Convert(ggufPath, dir string) error {
	g, err := gguf.Open(ggufPath)
	if err != nil {
		return err
	}
	defer g.Close()
	cfg, err := ReadConfig(g)
	if err != nil {
		return fmt.Errorf("convert %s: %w", ggufPath, err)
	}
	cache := map[string][]float32{}
	weights := func(name string) ([]float32, error) {
		if v, ok := cache[name]; ok {
			return v, nil
		}
		gname, ok := hfToGGUF(name)
		if !ok {
			return nil, fmt.Errorf("no GGUF tensor for %s", name)
		}
		v, err := g.Float32s(gname)
		cache[name] = v
		return v, err
	}
	model, err := onnxgraph.BERT(cfg.BERT, weights)
	if err != nil {
		return fmt.Errorf("convert %s: %w", ggufPath, err)
	}
	name, _ := g.String("general.name")
	if err := WriteFolder(dir, model, cfg, "gguf:"+name); err != nil {
		return err
	}
	q := cfg.BERT
	q.Int8 = true
	quantized, err := onnxgraph.BERT(q, weights)
	if err != nil {
		return fmt.Errorf("convert %s: quantized: %w", ggufPath, err)
	}
	return quantized.WriteFile(filepath.Join(dir, QuantizedModelFile))
}

// WriteFolder writes model and the files that describe it into dir.
func WriteFolder(dir string, model *onnxgraph.Model, cfg Config, source string) error {
	if err := os.MkdirAll(filepath.Join(dir, "onnx"), 0o755); err != nil {
		return fmt.Errorf("model folder: %w", err)
	}
	if err := model.WriteFile(filepath.Join(dir, ModelFile)); err != nil {
		return err
	}
	b := cfg.BERT
	files := map[string]any{
		"config.json": map[string]any{
			"_name_or_path": source, "architectures": []string{"BertModel"}, "model_type": "bert",
			"vocab_size": b.VocabSize, "hidden_size": b.Hidden, "num_hidden_layers": b.Layers,
			"num_attention_heads": b.Heads, "intermediate_size": b.Intermediate, "hidden_act": "gelu",
			"max_position_embeddings": b.MaxPositions, "type_vocab_size": b.TypeVocabSize,
			"layer_norm_eps": b.LayerNormEps, "pad_token_id": 0, "generator": "mmrag sberttest",
		},
		"tokenizer_config.json": map[string]any{
			"do_lower_case": !cfg.Cased, "model_max_length": b.MaxPositions, "tokenize_chinese_chars": true,
			"unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "mask_token": "[MASK]",
		},
		PoolingFile: map[string]any{
			"word_embedding_dimension": b.Hidden, "pooling_mode_cls_token": cfg.Pooling == "cls",
			"pooling_mode_mean_tokens": cfg.Pooling == "mean", "pooling_mode_max_tokens": false,
		},
		"modules.json": []map[string]any{
			{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
			{"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
			{"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
		},
	}
	for name, v := range files {
		data, err := json.MarshalIndent(v, "", "  ")
		if err == nil {
			err = writeFile(filepath.Join(dir, name), data)
		}
		if err != nil {
			return fmt.Errorf("model folder: %w", err)
		}
	}
	if err := writeFile(filepath.Join(dir, VocabFile), []byte(strings.Join(cfg.Vocab, "\n")+"\n")); err != nil {
		return fmt.Errorf("model folder: %w", err)
	}
	return nil
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
