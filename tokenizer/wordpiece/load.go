package wordpiece

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Files a tokenizer is read from.
const (
	TokenizerJSON   = "tokenizer.json"
	VocabTxt        = "vocab.txt"
	TokenizerConfig = "tokenizer_config.json"
)

// Load reads a BERT tokenizer from a Hugging Face model folder:
// tokenizer.json when present (its WordPiece vocabulary and BertNormalizer
// settings), else vocab.txt with tokenizer_config.json's do_lower_case,
// strip_accents and tokenize_chinese_chars (bert-base-uncased's settings
// where that file or a key is absent).
func Load(dir string) (*Tokenizer, error) {
	path := filepath.Join(dir, TokenizerJSON)
	tok, err := loadTokenizerJSON(path)
	if err == nil {
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	path = filepath.Join(dir, VocabTxt)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("tokenizer: %s has neither %s nor %s", dir, TokenizerJSON, VocabTxt)
		}
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	vocab, err := ReadVocab(f)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", path, err)
	}
	cfg, err := readTokenizerConfig(filepath.Join(dir, TokenizerConfig))
	if err != nil {
		return nil, err
	}
	w, err := New(vocab, cfg)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", path, err)
	}
	return w, nil
}

// ReadVocab reads a vocab.txt: one token per line, its id the line's
// number from 0. A repeated token takes its last line's id, as
// transformers' load_vocab does.
func ReadVocab(r io.Reader) (map[string]int, error) {
	vocab := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		vocab[strings.TrimSuffix(sc.Text(), "\r")] = n
		n++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("empty vocabulary")
	}
	return vocab, nil
}

// readTokenizerConfig reads the slow tokenizer's settings; a missing file
// means bert-base-uncased's.
func readTokenizerConfig(path string) (Config, error) {
	cfg := Uncased()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("tokenizer config: %w", err)
	}
	var tc struct {
		DoLowerCase          *bool `json:"do_lower_case"`
		StripAccents         *bool `json:"strip_accents"`
		TokenizeChineseChars *bool `json:"tokenize_chinese_chars"`
		UnkToken             token `json:"unk_token"`
		ClsToken             token `json:"cls_token"`
		SepToken             token `json:"sep_token"`
		PadToken             token `json:"pad_token"`
	}
	if err := json.Unmarshal(data, &tc); err != nil {
		return cfg, fmt.Errorf("tokenizer config %s: not valid JSON: %w", path, err)
	}
	if tc.DoLowerCase != nil {
		cfg.Lowercase = *tc.DoLowerCase
	}
	// strip_accents unset follows lowercasing, as in BertTokenizer.
	cfg.StripAccents = cfg.Lowercase
	if tc.StripAccents != nil {
		cfg.StripAccents = *tc.StripAccents
	}
	if tc.TokenizeChineseChars != nil {
		cfg.SplitCJK = *tc.TokenizeChineseChars
	}
	cfg.Unknown, cfg.CLS, cfg.SEP, cfg.Pad = string(tc.UnkToken), string(tc.ClsToken), string(tc.SepToken), string(tc.PadToken)
	return cfg, nil
}

// token is a special token in tokenizer_config.json: a string, or an
// AddedToken object with its text in "content".
type token string

func (t *token) UnmarshalJSON(data []byte) error {
	var s string
	if json.Unmarshal(data, &s) == nil {
		*t = token(s)
		return nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(data, &obj); err != nil {
		return err
	}
	*t = token(obj.Content)
	return nil
}

// tokenizerJSON is the part of tokenizer.json a BERT tokenizer needs.
type tokenizerJSON struct {
	Normalizer *struct {
		Type               string `json:"type"`
		CleanText          *bool  `json:"clean_text"`
		HandleChineseChars *bool  `json:"handle_chinese_chars"`
		StripAccents       *bool  `json:"strip_accents"`
		Lowercase          *bool  `json:"lowercase"`
	} `json:"normalizer"`
	PreTokenizer *struct {
		Type string `json:"type"`
	} `json:"pre_tokenizer"`
	Model struct {
		Type                    string          `json:"type"`
		UnkToken                string          `json:"unk_token"`
		ContinuingSubwordPrefix string          `json:"continuing_subword_prefix"`
		MaxInputCharsPerWord    int             `json:"max_input_chars_per_word"`
		Vocab                   json.RawMessage `json:"vocab"` // a map for WordPiece, a list for Unigram
	} `json:"model"`
	Padding *struct {
		PadToken string `json:"pad_token"`
	} `json:"padding"`
}

func loadTokenizerJSON(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var tj tokenizerJSON
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, fmt.Errorf("tokenizer %s: not valid JSON: %w", path, err)
	}
	if tj.Model.Type != "WordPiece" {
		kind := tj.Model.Type
		if kind == "" {
			kind = "missing"
		}
		return nil, fmt.Errorf("tokenizer %s: model type %s; only BERT WordPiece tokenizers are supported (XLM-RoBERTa and DeBERTa rerankers use SentencePiece)", path, kind)
	}
	if len(tj.Model.Vocab) == 0 {
		return nil, fmt.Errorf("tokenizer %s: model.vocab is missing", path)
	}
	var vocab map[string]int
	if err := json.Unmarshal(tj.Model.Vocab, &vocab); err != nil {
		return nil, fmt.Errorf("tokenizer %s: model.vocab: %w", path, err)
	}
	if len(vocab) == 0 {
		return nil, fmt.Errorf("tokenizer %s: model.vocab is empty", path)
	}
	if p := tj.PreTokenizer; p != nil && p.Type != "BertPreTokenizer" {
		return nil, fmt.Errorf("tokenizer %s: pre_tokenizer %s is not supported (want BertPreTokenizer)", path, p.Type)
	}
	var cfg Config
	if n := tj.Normalizer; n != nil {
		if n.Type != "BertNormalizer" {
			return nil, fmt.Errorf("tokenizer %s: normalizer %s is not supported (want BertNormalizer)", path, n.Type)
		}
		// Absent keys take BertNormalizer's defaults.
		cfg = Uncased()
		setBool(&cfg.CleanText, n.CleanText)
		setBool(&cfg.SplitCJK, n.HandleChineseChars)
		setBool(&cfg.Lowercase, n.Lowercase)
		cfg.StripAccents = cfg.Lowercase // strip_accents null follows lowercase
		setBool(&cfg.StripAccents, n.StripAccents)
	}
	cfg.Unknown = tj.Model.UnkToken
	cfg.Prefix = tj.Model.ContinuingSubwordPrefix
	cfg.MaxWordChars = tj.Model.MaxInputCharsPerWord
	if tj.Padding != nil {
		cfg.Pad = tj.Padding.PadToken
	}
	w, err := New(vocab, cfg)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", path, err)
	}
	return w, nil
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}
