package sbert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Pooling turns a sequence's token vectors into one.
type Pooling string

const (
	Mean Pooling = "mean" // average of the real (unpadded) tokens' vectors
	CLS  Pooling = "cls"  // the first token's vector
)

// Config is how a model turns text into a sentence vector, beyond its
// graph and tokenizer. Vectors are always L2-normalised.
type Config struct {
	Pooling Pooling
	// QueryPrefix and PassagePrefix are prepended to questions and to
	// stored passages: "query: " and "passage: " for e5, an instruction
	// before questions for bge.
	QueryPrefix, PassagePrefix string
	// MaxLen is the longest input in tokens, [CLS] and [SEP] included;
	// longer texts are cut.
	MaxLen int
}

// Files of a sentence-transformers folder that Config is read from.
const (
	ConfigFile        = "config.json"
	PoolingFile       = "1_Pooling/config.json"
	SentenceBERTFile  = "sentence_bert_config.json"
	SentenceTransFile = "config_sentence_transformers.json"
	TokenizerConfig   = "tokenizer_config.json"
	TokenizerJSON     = "tokenizer.json"
)

// bgeQuery is the instruction BAAI's English bge models put before
// questions (not before passages).
const bgeQuery = "Represent this sentence for searching relevant passages: "

// known holds the settings of model families whose Hugging Face ONNX
// exports (Xenova/*) leave out sentence-transformers' files: the model
// cards' pooling, prefixes and sequence lengths. Matched against the
// model's name, lower case; the first match wins.
var known = []struct {
	match string
	cfg   Config
}{
	{"all-minilm-l6", Config{Pooling: Mean, MaxLen: 256}},
	{"all-minilm-l12", Config{Pooling: Mean, MaxLen: 256}},
	{"paraphrase-", Config{Pooling: Mean, MaxLen: 128}},
	{"multi-qa-minilm", Config{Pooling: Mean, MaxLen: 512}},
	{"bge-", Config{Pooling: CLS, QueryPrefix: bgeQuery, MaxLen: 512}},
	{"e5-", Config{Pooling: Mean, QueryPrefix: "query: ", PassagePrefix: "passage: ", MaxLen: 512}},
	{"gte-", Config{Pooling: Mean, MaxLen: 512}},
}

// knownConfig returns the family settings for a model name, if any.
func knownConfig(name string) (Config, bool) {
	name = strings.ToLower(name)
	for _, k := range known {
		if strings.Contains(name, k.match) {
			return k.cfg, true
		}
	}
	return Config{}, false
}

// readConfig reads a model folder's sentence-embedding settings: from
// sentence-transformers' files where the folder has them, else from the
// family of name (a hub id or folder name), else mean pooling with no
// prefixes. MaxLen is capped by config.json's max_position_embeddings.
func readConfig(dir, name string) (Config, error) {
	cfg, _ := knownConfig(name)
	if cfg.Pooling == "" {
		cfg.Pooling = Mean
	}
	positions, err := maxPositions(dir)
	if err != nil {
		return cfg, err
	}
	if err := readPooling(dir, &cfg); err != nil {
		return cfg, err
	}
	if err := readPrompts(dir, &cfg); err != nil {
		return cfg, err
	}
	if n, err := readMaxSeq(dir); err != nil {
		return cfg, err
	} else if n > 0 {
		cfg.MaxLen = n
	}
	if cfg.MaxLen <= 0 {
		cfg.MaxLen = 512
	}
	if positions > 0 {
		cfg.MaxLen = min(cfg.MaxLen, positions)
	}
	return cfg, nil
}

// readJSON decodes dir/name into v; a missing file is (false, nil).
func readJSON(dir, name string, v any) (bool, error) {
	path := filepath.Join(dir, filepath.FromSlash(name))
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sentence embedder: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("sentence embedder %s: not valid JSON: %w", path, err)
	}
	return true, nil
}

// maxPositions reads config.json, which a model folder must have.
func maxPositions(dir string) (int, error) {
	var c struct {
		MaxPositions int `json:"max_position_embeddings"`
	}
	ok, err := readJSON(dir, ConfigFile, &c)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("sentence embedder %s: %s not found (the model's Hugging Face config)", dir, ConfigFile)
	}
	return max(c.MaxPositions, 0), nil
}

// readPooling applies 1_Pooling/config.json.
func readPooling(dir string, cfg *Config) error {
	var p struct {
		CLS      bool `json:"pooling_mode_cls_token"`
		Mean     bool `json:"pooling_mode_mean_tokens"`
		Max      bool `json:"pooling_mode_max_tokens"`
		SqrtLen  bool `json:"pooling_mode_mean_sqrt_len_tokens"`
		Weighted bool `json:"pooling_mode_weightedmean_tokens"`
		Last     bool `json:"pooling_mode_lasttoken"`
	}
	ok, err := readJSON(dir, PoolingFile, &p)
	if err != nil || !ok {
		return err
	}
	switch {
	case p.Max || p.SqrtLen || p.Weighted || p.Last:
		return fmt.Errorf("sentence embedder %s: %s asks for a pooling other than mean or CLS, which is not supported", dir, PoolingFile)
	case p.CLS && p.Mean:
		return fmt.Errorf("sentence embedder %s: %s asks for mean and CLS pooling concatenated, which is not supported", dir, PoolingFile)
	case p.CLS:
		cfg.Pooling = CLS
	case p.Mean:
		cfg.Pooling = Mean
	default:
		return fmt.Errorf("sentence embedder %s: %s names no pooling mode", dir, PoolingFile)
	}
	return nil
}

// readPrompts applies config_sentence_transformers.json's prompts.
func readPrompts(dir string, cfg *Config) error {
	var c struct {
		Prompts map[string]string `json:"prompts"`
	}
	ok, err := readJSON(dir, SentenceTransFile, &c)
	if err != nil || !ok || c.Prompts == nil {
		return err
	}
	if q, ok := c.Prompts["query"]; ok {
		cfg.QueryPrefix = q
	}
	for _, k := range []string{"passage", "document"} {
		if p, ok := c.Prompts[k]; ok {
			cfg.PassagePrefix = p
		}
	}
	return nil
}

// readMaxSeq reads sentence_bert_config.json's max_seq_length (0: none).
func readMaxSeq(dir string) (int, error) {
	var c struct {
		MaxSeq int `json:"max_seq_length"`
	}
	if _, err := readJSON(dir, SentenceBERTFile, &c); err != nil {
		return 0, err
	}
	return max(c.MaxSeq, 0), nil
}
