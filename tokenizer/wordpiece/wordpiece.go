// Package wordpiece reproduces BERT's tokenizer as Hugging Face's tokenizers
// library (the "fast" tokenizer that tokenizer.json describes) runs it:
// BertNormalizer, BertPreTokenizer, the WordPiece model, and the
// [CLS] A [SEP] and [CLS] A [SEP] B [SEP] templates with Hugging Face's
// truncation (longest-first for pairs). Its ids equal Hugging Face's on the
// real bert-base-uncased vocabulary (embed/sbert's TestHFTokenizerIDs).
//
// Known differences, all rare in search text:
//   - Special tokens written in the text ("[SEP]") are tokenized as plain
//     text, not as the special token, so a passage cannot fake a segment
//     boundary.
//   - Lowercasing is per character, as in the Rust library, so a final
//     Greek sigma lowercases to σ, not ς as Python's str.lower() gives.
//   - Characters that are unassigned in Go's Unicode tables but assigned in
//     Rust's (or the reverse) are cleaned differently.
//
// It is shared by the cross-encoder reranker (package rerank) and the
// sentence embedder (package embed/sbert).
package wordpiece

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Config says how a BERT tokenizer normalises and splits text. The
// zero value does no normalisation; Uncased returns bert-base-uncased's
// settings, the defaults of Hugging Face's BertNormalizer.
type Config struct {
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

// Uncased returns the settings of bert-base-uncased and of the
// MiniLM cross-encoders trained from it.
func Uncased() Config {
	return Config{Lowercase: true, StripAccents: true, SplitCJK: true, CleanText: true}
}

func (c *Config) defaults() {
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

// Tokenizer is a BERT WordPiece tokenizer. It is safe for concurrent use.
type Tokenizer struct {
	cfg Config
	// whole maps word-initial pieces to ids; cont maps continuing pieces,
	// without their prefix, so lookups need no string building.
	whole, cont        map[string]int64
	tokens             []string // by id, for Tokenize
	unk, cls, sep, pad int64
}

// Encoding is a tokenized sequence or query–passage pair, unpadded.
type Encoding struct {
	IDs     []int64 // input_ids
	TypeIDs []int64 // token_type_ids: 0 for [CLS] A [SEP], 1 for B [SEP]
}

// New makes a tokenizer over vocab (token → id). The vocabulary
// must hold the unknown, [CLS] and [SEP] tokens.
func New(vocab map[string]int, cfg Config) (*Tokenizer, error) {
	cfg.defaults()
	w := &Tokenizer{cfg: cfg, whole: make(map[string]int64, len(vocab)), cont: map[string]int64{}}
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
func (w *Tokenizer) Config() Config { return w.cfg }

// PadID is the id that pads short sequences of a batch.
func (w *Tokenizer) PadID() int64 { return w.pad }

// Tokenize returns the word pieces of text, without special tokens.
func (w *Tokenizer) Tokenize(text string) []string {
	ids := w.ids(text)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = w.tokens[id]
	}
	return out
}

// IDs returns the ids of text's word pieces, without special tokens.
func (w *Tokenizer) IDs(text string) []int64 { return w.ids(text) }

// Encode tokenizes [CLS] text [SEP] in at most maxLen tokens (maxLen < 2
// is taken as 2), cutting the end of text as Hugging Face's truncation
// does; every type id is 0.
func (w *Tokenizer) Encode(text string, maxLen int) Encoding {
	ids := w.ids(text)
	ids = ids[:min(len(ids), max(maxLen, 2)-2)]
	e := Encoding{IDs: make([]int64, 0, len(ids)+2), TypeIDs: make([]int64, len(ids)+2)}
	e.IDs = append(e.IDs, w.cls)
	e.IDs = append(e.IDs, ids...)
	e.IDs = append(e.IDs, w.sep)
	return e
}

// EncodePair tokenizes [CLS] a [SEP] b [SEP] in at most maxLen tokens
// (maxLen < 3 is taken as 3), cutting the longer of a and b first as
// Hugging Face's "longest_first" truncation does.
func (w *Tokenizer) EncodePair(a, b string, maxLen int) Encoding {
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
func (w *Tokenizer) ids(text string) []int64 {
	var out []int64
	for _, word := range w.words(text) {
		out = w.pieces(word, out)
	}
	return out
}

// words normalises text and splits it into words: on whitespace, and
// around every punctuation character (and CJK ideograph with SplitCJK).
func (w *Tokenizer) words(text string) []string {
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
func (w *Tokenizer) pieces(word string, out []int64) []int64 {
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

// Batch is encodings padded into rows of one length, as BERT graphs take
// them: input ids, attention mask and token type ids, row-major.
type Batch struct {
	Rows, Seq          int
	IDs, Mask, TypeIDs []int64
}

// NewBatch pads encs[idx…] with pad to seq tokens, or to the longest of
// them when seq ≤ 0; longer encodings are cut at seq.
func NewBatch(encs []Encoding, idx []int, seq int, pad int64) Batch {
	b := Batch{Rows: len(idx), Seq: seq}
	if seq <= 0 {
		for _, i := range idx {
			b.Seq = max(b.Seq, len(encs[i].IDs))
		}
	}
	n := b.Rows * b.Seq
	b.IDs, b.Mask, b.TypeIDs = make([]int64, n), make([]int64, n), make([]int64, n)
	for row, i := range idx {
		off := row * b.Seq
		enc := encs[i]
		for j := range b.Seq {
			if j < len(enc.IDs) {
				b.IDs[off+j], b.Mask[off+j], b.TypeIDs[off+j] = enc.IDs[j], 1, enc.TypeIDs[j]
			} else {
				b.IDs[off+j] = pad
			}
		}
	}
	return b
}
