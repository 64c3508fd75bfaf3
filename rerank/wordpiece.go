package rerank

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
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// This file reproduces BERT's tokenizer as Hugging Face's tokenizers
// library (the "fast" tokenizer that tokenizer.json describes) runs it:
// BertNormalizer, BertPreTokenizer, the WordPiece model, and the
// [CLS] A [SEP] B [SEP] template with longest-first pair truncation.
//
// Known differences, all rare in search text:
//   - Special tokens written in the text ("[SEP]") are tokenized as plain
//     text, not as the special token, so a passage cannot fake a segment
//     boundary.
//   - Lowercasing is per character, as in the Rust library, so a final
//     Greek sigma lowercases to σ, not ς as Python's str.lower() gives.
//   - Characters that are unassigned in Go's Unicode tables but assigned in
//     Rust's (or the reverse) are cleaned differently.

// WordPieceConfig says how a BERT tokenizer normalises and splits text. The
// zero value does no normalisation; UncasedConfig returns bert-base-uncased's
// settings, the defaults of Hugging Face's BertNormalizer.
type WordPieceConfig struct {
	Lowercase    bool // lowercase the text (uncased models)
	StripAccents bool // decompose (NFD) and drop combining marks
	SplitCJK     bool // make every CJK ideograph a word of its own
	CleanText    bool // drop NUL, U+FFFD and control characters; map whitespace to a space

	Unknown      string // the unknown-word token; default "[UNK]"
	Prefix       string // marks word-continuing pieces; default "##"
	MaxWordChars int    // longer words become Unknown whole; default 100
	CLS, SEP     string // pair template tokens; default "[CLS]", "[SEP]"
	Pad          string // padding token; default "[PAD]" (id 0 when the vocabulary lacks it)
}

// UncasedConfig returns the settings of bert-base-uncased and of the
// MiniLM cross-encoders trained from it.
func UncasedConfig() WordPieceConfig {
	return WordPieceConfig{Lowercase: true, StripAccents: true, SplitCJK: true, CleanText: true}
}

func (c *WordPieceConfig) defaults() {
	setDefault(&c.Unknown, "[UNK]")
	setDefault(&c.Prefix, "##")
	setDefault(&c.CLS, "[CLS]")
	setDefault(&c.SEP, "[SEP]")
	setDefault(&c.Pad, "[PAD]")
	if c.MaxWordChars <= 0 {
		c.MaxWordChars = 100
	}
}

func setDefault(s *string, d string) {
	if *s == "" {
		*s = d
	}
}

// WordPiece is a BERT tokenizer. It is safe for concurrent use.
type WordPiece struct {
	cfg WordPieceConfig
	// whole maps word-initial pieces to ids; cont maps continuing pieces,
	// without their prefix, so lookups need no string building.
	whole, cont        map[string]int64
	tokens             []string // by id, for Tokenize
	unk, cls, sep, pad int64
}

// Encoding is a tokenized query–passage pair, unpadded.
type Encoding struct {
	IDs     []int64 // input_ids
	TypeIDs []int64 // token_type_ids: 0 for [CLS] A [SEP], 1 for B [SEP]
}

// NewWordPiece makes a tokenizer over vocab (token → id). The vocabulary
// must hold the unknown, [CLS] and [SEP] tokens.
func NewWordPiece(vocab map[string]int, cfg WordPieceConfig) (*WordPiece, error) {
	cfg.defaults()
	w := &WordPiece{cfg: cfg, whole: make(map[string]int64, len(vocab)), cont: map[string]int64{}}
	maxID := -1
	for tok, id := range vocab {
		if id < 0 {
			return nil, fmt.Errorf("wordpiece: token %q has negative id %d", tok, id)
		}
		maxID = max(maxID, id)
		if rest, ok := strings.CutPrefix(tok, cfg.Prefix); ok && rest != "" {
			w.cont[rest] = int64(id)
		} else {
			w.whole[tok] = int64(id)
		}
	}
	if maxID >= 2*len(vocab)+1024 {
		// Real vocabularies number their tokens densely from 0.
		return nil, fmt.Errorf("wordpiece: vocabulary of %d tokens has id %d", len(vocab), maxID)
	}
	w.tokens = make([]string, maxID+1)
	for tok, id := range vocab {
		w.tokens[id] = tok
	}
	var missing []string
	lookup := func(tok string, dst *int64) {
		if id, ok := vocab[tok]; ok {
			*dst = int64(id)
		} else {
			missing = append(missing, tok)
		}
	}
	lookup(cfg.Unknown, &w.unk)
	lookup(cfg.CLS, &w.cls)
	lookup(cfg.SEP, &w.sep)
	if id, ok := vocab[cfg.Pad]; ok {
		w.pad = int64(id)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("wordpiece: vocabulary of %d tokens lacks %s", len(vocab), strings.Join(missing, ", "))
	}
	return w, nil
}

// Config returns the tokenizer's settings, defaults filled in.
func (w *WordPiece) Config() WordPieceConfig { return w.cfg }

// PadID is the id that pads short sequences of a batch.
func (w *WordPiece) PadID() int64 { return w.pad }

// Tokenize returns the word pieces of text, without special tokens.
func (w *WordPiece) Tokenize(text string) []string {
	ids := w.ids(text)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = w.tokens[id]
	}
	return out
}

// IDs returns the ids of text's word pieces, without special tokens.
func (w *WordPiece) IDs(text string) []int64 { return w.ids(text) }

// EncodePair tokenizes [CLS] a [SEP] b [SEP] in at most maxLen tokens
// (maxLen < 3 is taken as 3), cutting the longer of a and b first as
// Hugging Face's "longest_first" truncation does.
func (w *WordPiece) EncodePair(a, b string, maxLen int) Encoding {
	ia, ib := w.ids(a), w.ids(b)
	na, nb := truncatePair(len(ia), len(ib), max(maxLen, 3)-3)
	ia, ib = ia[:na], ib[:nb]
	n := len(ia) + len(ib) + 3
	e := Encoding{IDs: make([]int64, 0, n), TypeIDs: make([]int64, n)}
	e.IDs = append(e.IDs, w.cls)
	e.IDs = append(e.IDs, ia...)
	e.IDs = append(e.IDs, w.sep)
	e.IDs = append(e.IDs, ib...)
	e.IDs = append(e.IDs, w.sep)
	for i := len(ia) + 2; i < n; i++ {
		e.TypeIDs[i] = 1
	}
	return e
}

// truncatePair returns how many tokens of each sequence to keep so that
// they fit in budget, as tokenizers' LongestFirst strategy does: the
// shorter is kept whole when it fits in half the budget and the longer gets
// the rest; otherwise each gets half, the longer the odd token.
func truncatePair(n1, n2, budget int) (int, int) {
	if n1+n2 <= budget {
		return n1, n2
	}
	swap := n1 > n2
	if swap {
		n1, n2 = n2, n1
	}
	if n1 > budget {
		n2 = n1
	} else {
		n2 = max(n1, budget-n1)
	}
	if n1+n2 > budget {
		n1 = budget / 2
		n2 = n1 + budget%2
	}
	if swap {
		n1, n2 = n2, n1
	}
	return n1, n2
}

// ids runs normalisation, pre-tokenization and WordPiece.
func (w *WordPiece) ids(text string) []int64 {
	var out []int64
	for _, word := range w.words(text) {
		out = w.pieces(word, out)
	}
	return out
}

// words normalises text and splits it into words: on whitespace, and
// around every punctuation character (and CJK ideograph with SplitCJK).
func (w *WordPiece) words(text string) []string {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	var b strings.Builder
	b.Grow(len(text) + 8)
	for _, r := range text {
		if w.cfg.CleanText {
			if r == 0 || r == utf8.RuneError || isControl(r) {
				continue
			}
			if unicode.IsSpace(r) {
				r = ' '
			}
		}
		if w.cfg.SplitCJK && isCJK(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	s := b.String()
	if w.cfg.Lowercase {
		s = strings.Map(unicode.ToLower, s)
	}
	if w.cfg.StripAccents {
		s = stripAccents(s)
	}

	var words []string
	start := -1 // of the word being read, -1 between words
	for i, r := range s {
		switch {
		case unicode.IsSpace(r):
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
			}
		case isPunct(r):
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
			}
			words = append(words, s[i:i+utf8.RuneLen(r)])
		default:
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		words = append(words, s[start:])
	}
	return words
}

// pieces appends word's WordPiece ids to out: greedy longest match from
// the left, continuing pieces looked up with the prefix; a word with any
// part unmatched, or longer than MaxWordChars, becomes Unknown whole.
func (w *WordPiece) pieces(word string, out []int64) []int64 {
	if utf8.RuneCountInString(word) > w.cfg.MaxWordChars {
		return append(out, w.unk)
	}
	mark := len(out)
	for start := 0; start < len(word); {
		end := len(word)
		var id int64
		found := false
		for end > start {
			vocab := w.whole
			if start > 0 {
				vocab = w.cont
			}
			if id, found = vocab[word[start:end]]; found {
				break
			}
			_, size := utf8.DecodeLastRuneInString(word[start:end])
			end -= size
		}
		if !found {
			return append(out[:mark], w.unk)
		}
		out = append(out, id)
		start = end
	}
	return out
}

// isControl reports characters of Unicode category C (control, format,
// surrogate, private use, unassigned) other than the whitespace controls.
func isControl(r rune) bool {
	if r < utf8.RuneSelf {
		return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f
	}
	if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) {
		return true
	}
	// Unassigned code points (category Cn) are in no table.
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// isPunct is BERT's punctuation: every ASCII non-alphanumeric printable
// character (so $, +, ^ and ` too) and Unicode category P.
func isPunct(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 33 && r <= 47 || r >= 58 && r <= 64 || r >= 91 && r <= 96 || r >= 123 && r <= 126
	}
	return unicode.IsPunct(r)
}

// isCJK is BERT's "Chinese character": the CJK Unified Ideographs blocks
// and their extensions and compatibility forms. Hiragana, katakana and
// hangul are not in it.
func isCJK(r rune) bool {
	return r >= 0x4E00 && r <= 0x9FFF ||
		r >= 0x3400 && r <= 0x4DBF ||
		r >= 0x20000 && r <= 0x2A6DF ||
		r >= 0x2A700 && r <= 0x2B73F ||
		r >= 0x2B740 && r <= 0x2B81F ||
		r >= 0x2B820 && r <= 0x2CEAF ||
		r >= 0xF900 && r <= 0xFAFF ||
		r >= 0x2F800 && r <= 0x2FA1F
}

// stripAccents decomposes s and drops nonspacing marks (category Mn).
func stripAccents(s string) string {
	isASCII := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			isASCII = false
			break
		}
	}
	if isASCII {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, norm.NFD.String(s))
}

// Files a tokenizer is read from.
const (
	TokenizerJSON   = "tokenizer.json"
	VocabTxt        = "vocab.txt"
	TokenizerConfig = "tokenizer_config.json"
)

// LoadWordPiece reads a BERT tokenizer from a Hugging Face model folder:
// tokenizer.json when present (its WordPiece vocabulary and BertNormalizer
// settings), else vocab.txt with tokenizer_config.json's do_lower_case,
// strip_accents and tokenize_chinese_chars (bert-base-uncased's settings
// where that file or a key is absent).
func LoadWordPiece(dir string) (*WordPiece, error) {
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
	w, err := NewWordPiece(vocab, cfg)
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
func readTokenizerConfig(path string) (WordPieceConfig, error) {
	cfg := UncasedConfig()
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

func loadTokenizerJSON(path string) (*WordPiece, error) {
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
	var cfg WordPieceConfig
	if n := tj.Normalizer; n != nil {
		if n.Type != "BertNormalizer" {
			return nil, fmt.Errorf("tokenizer %s: normalizer %s is not supported (want BertNormalizer)", path, n.Type)
		}
		// Absent keys take BertNormalizer's defaults.
		cfg = UncasedConfig()
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
	w, err := NewWordPiece(vocab, cfg)
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
