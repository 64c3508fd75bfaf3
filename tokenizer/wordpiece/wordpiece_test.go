package wordpiece

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// vocabOf numbers tokens from 0 in order.
func vocabOf(tokens ...string) map[string]int {
	v := make(map[string]int, len(tokens))
	for i, t := range tokens {
		v[t] = i
	}
	return v
}

// bertTestVocab is the vocabulary of transformers' BERT tokenizer tests,
// plus a few pieces for the cases added here.
var bertTestVocab = []string{
	"[PAD]", "[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ",", "low", "lowest",
	"##aff", "##able", "hello", "!", "how", "are", "you", "?", "cafe", "$", "5", "+", "^", "`", "a", "##a",
	"中", "国", "人", "ah", "zz", "博", "推", "naive", "hallo", "q", "p",
}

func newTestTokenizer(t *testing.T, cfg Config) *Tokenizer {
	t.Helper()
	w, err := New(vocabOf(bertTestVocab...), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestBasicTokenizer checks normalisation and word splitting against the
// cases of transformers' BasicTokenizer tests.
func TestBasicTokenizer(t *testing.T) {
	lower := Uncased()
	cased := Config{CleanText: true, SplitCJK: true}
	lowerKeepAccents := lower
	lowerKeepAccents.StripAccents = false
	casedStrip := cased
	casedStrip.StripAccents = true
	tests := []struct {
		name string
		cfg  Config
		in   string
		want []string
	}{
		{"lower", lower, " \tHeLLo!how  \n Are yoU?  ", []string{"hello", "!", "how", "are", "you", "?"}},
		{"cased", cased, " \tHeLLo!how  \n Are yoU?  ", []string{"HeLLo", "!", "how", "Are", "yoU", "?"}},
		{"lower strips accents", lower, " \tHäLLo!how  \n Are yoU?  ", []string{"hallo", "!", "how", "are", "you", "?"}},
		{"lower keeps accents", lowerKeepAccents, " \tHäLLo!how  \n Are yoU?  ", []string{"hällo", "!", "how", "are", "you", "?"}},
		{"cased strips accents", casedStrip, "HäLLo naïve", []string{"HaLLo", "naive"}},
		{"cased keeps accents", cased, "HäLLo", []string{"HäLLo"}},
		{"chinese", lower, "ah\u535A\u63A8zz", []string{"ah", "\u535A", "\u63A8", "zz"}},
		{"chinese unsplit", Config{}, "ah\u535A\u63A8zz", []string{"ah\u535A\u63A8zz"}},
		{"hiragana is not CJK", lower, "ahのzz", []string{"ahのzz"}},
		{"ascii symbols are punctuation", lower, "$5+3^2`x", []string{"$", "5", "+", "3", "^", "2", "`", "x"}},
		{"unicode punctuation", lower, "a—b «c»", []string{"a", "—", "b", "«", "c", "»"}},
		{"controls dropped", lower, "a\x00b\u200dc\ufffdd\x07e", []string{"abcde"}},
		{"controls kept without cleaning", Config{}, "a\u200db", []string{"a\u200db"}},
		{"unicode spaces", lower, "a\u00a0b\u3000c\u2028d", []string{"a", "b", "c", "d"}},
		{"invalid utf-8", lower, "a\xffb", []string{"ab"}},
		{"empty", lower, "", nil},
		{"only spaces", lower, " \t\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newTestTokenizer(t, tt.cfg)
			if got := w.words(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("words(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestWordPiece checks the subword split, including the cases of
// transformers' WordpieceTokenizer tests.
func TestWordPiece(t *testing.T) {
	w := newTestTokenizer(t, Uncased())
	long := strings.Repeat("a", 100)
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"unwanted running", []string{"un", "##want", "##ed", "runn", "##ing"}},
		{"unwantedX running", []string{"[UNK]", "runn", "##ing"}},
		{"UNwant\u00E9d,running", []string{"un", "##want", "##ed", ",", "runn", "##ing"}},
		{"unaffable", []string{"un", "##aff", "##able"}},
		{"Café!", []string{"cafe", "!"}},
		{"中国人", []string{"中", "国", "人"}},
		{"中国x", []string{"中", "国", "[UNK]"}},
		{"lowest low", []string{"lowest", "low"}}, // longest match first
		{long, slices.Concat([]string{"a"}, slices.Repeat([]string{"##a"}, 99))},
		{long + "a", []string{"[UNK]"}}, // over 100 characters
		{"[SEP]", []string{"[UNK]", "[UNK]", "[UNK]"}},
	}
	for _, tt := range tests {
		if got := w.Tokenize(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("Tokenize(%.40q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// MaxWordChars counts characters, not bytes.
	small := newTestTokenizer(t, Config{Lowercase: true, MaxWordChars: 3})
	if got := small.Tokenize("中中 aaaa"); !slices.Equal(got, []string{"[UNK]", "[UNK]"}) {
		t.Errorf("MaxWordChars 3: %q", got)
	}
	if got := small.Tokenize("aaa"); !slices.Equal(got, []string{"a", "##a", "##a"}) {
		t.Errorf("MaxWordChars 3, 3 chars: %q", got)
	}
}

func TestTruncatePair(t *testing.T) {
	tests := []struct{ n1, n2, budget, w1, w2 int }{
		{3, 4, 10, 3, 4},      // fits
		{3, 100, 20, 3, 17},   // short query kept, passage cut
		{100, 3, 20, 17, 3},   // and the other way round
		{10, 10, 15, 7, 8},    // both long: halves, the second gets the odd token
		{30, 40, 21, 10, 11},  // the longer gets the odd token
		{40, 30, 21, 11, 10},  //
		{12, 100, 20, 10, 10}, // shorter over half the budget
		{0, 100, 5, 0, 5},     // empty query
		{100, 100, 0, 0, 0},   // no room
		{509, 509, 509, 254, 255},
	}
	for _, tt := range tests {
		g1, g2 := truncatePair(tt.n1, tt.n2, tt.budget)
		if g1 != tt.w1 || g2 != tt.w2 {
			t.Errorf("truncatePair(%d, %d, %d) = %d, %d; want %d, %d", tt.n1, tt.n2, tt.budget, g1, g2, tt.w1, tt.w2)
		}
		if tt.n1+tt.n2 > tt.budget && g1+g2 != tt.budget {
			t.Errorf("truncatePair(%d, %d, %d) keeps %d tokens", tt.n1, tt.n2, tt.budget, g1+g2)
		}
	}
}

func TestEncodePair(t *testing.T) {
	w := newTestTokenizer(t, Uncased())
	id := vocabOf(bertTestVocab...)
	e := w.EncodePair("how are you", "hello!", 512)
	wantIDs := []int64{int64(id["[CLS]"]), int64(id["how"]), int64(id["are"]), int64(id["you"]), int64(id["[SEP]"]),
		int64(id["hello"]), int64(id["!"]), int64(id["[SEP]"])}
	if !slices.Equal(e.IDs, wantIDs) {
		t.Errorf("IDs = %v, want %v", e.IDs, wantIDs)
	}
	if want := []int64{0, 0, 0, 0, 0, 1, 1, 1}; !slices.Equal(e.TypeIDs, want) {
		t.Errorf("TypeIDs = %v, want %v", e.TypeIDs, want)
	}

	// Truncation: a 3-token query and a 20-token passage in 10 tokens keep
	// the query whole and 4 passage tokens.
	e = w.EncodePair("how are you", strings.Repeat("low ", 20), 10)
	if len(e.IDs) != 10 || len(e.TypeIDs) != 10 {
		t.Fatalf("truncated to %d ids, %d type ids; want 10", len(e.IDs), len(e.TypeIDs))
	}
	if e.IDs[4] != int64(id["[SEP]"]) || e.IDs[9] != int64(id["[SEP]"]) || e.IDs[8] != int64(id["low"]) {
		t.Errorf("truncated ids %v", e.IDs)
	}
	// Empty texts still make a valid pair.
	if e := w.EncodePair("", "", 512); !slices.Equal(e.IDs, []int64{2, 3, 3}) {
		t.Errorf("empty pair: %v", e.IDs)
	}
	if e := w.EncodePair("how", "you", 0); len(e.IDs) != 3 {
		t.Errorf("maxLen 0: %v, want only the specials", e.IDs)
	}
}

func TestEncode(t *testing.T) {
	w := newTestTokenizer(t, Uncased())
	id := vocabOf(bertTestVocab...)
	cls, sep := int64(id["[CLS]"]), int64(id["[SEP]"])
	tests := []struct {
		in     string
		maxLen int
		want   []int64
	}{
		{"how are you", 512, []int64{cls, int64(id["how"]), int64(id["are"]), int64(id["you"]), sep}},
		{"how are you", 4, []int64{cls, int64(id["how"]), int64(id["are"]), sep}}, // the end is cut
		{"how are you", 2, []int64{cls, sep}},
		{"how are you", 0, []int64{cls, sep}},
		{"", 512, []int64{cls, sep}},
		{"unwanted", 4, []int64{cls, int64(id["un"]), int64(id["##want"]), sep}}, // cut inside a word, as HF does
	}
	for _, tt := range tests {
		e := w.Encode(tt.in, tt.maxLen)
		if !slices.Equal(e.IDs, tt.want) {
			t.Errorf("Encode(%q, %d) = %v, want %v", tt.in, tt.maxLen, e.IDs, tt.want)
		}
		if len(e.TypeIDs) != len(e.IDs) || slices.Max(e.TypeIDs) != 0 {
			t.Errorf("Encode(%q, %d) type ids %v", tt.in, tt.maxLen, e.TypeIDs)
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(vocabOf("[UNK]", "[CLS]", "a"), Uncased()); err == nil || !strings.Contains(err.Error(), "[SEP]") {
		t.Errorf("vocabulary without [SEP]: %v", err)
	}
	if _, err := New(map[string]int{"[UNK]": 0, "[CLS]": 1, "[SEP]": 1 << 30}, Uncased()); err == nil {
		t.Error("sparse ids accepted")
	}
	if _, err := New(map[string]int{"[UNK]": -1, "[CLS]": 1, "[SEP]": 2}, Uncased()); err == nil {
		t.Error("negative id accepted")
	}
	// [PAD] is optional: id 0.
	w, err := New(vocabOf("[UNK]", "[CLS]", "[SEP]"), Uncased())
	if err != nil || w.PadID() != 0 {
		t.Errorf("no [PAD]: %v, pad %d", err, w.PadID())
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tokenizerJSONFor writes a tokenizer.json as transformers saves a
// BertTokenizerFast's.
func tokenizerJSONFor(t testing.TB, vocab []string, normalizer map[string]any) string {
	t.Helper()
	tj := map[string]any{
		"version":        "1.0",
		"normalizer":     normalizer,
		"pre_tokenizer":  map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{"type": "TemplateProcessing"},
		"model": map[string]any{
			"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": vocabOf(vocab...),
		},
	}
	data, err := json.Marshal(tj)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestLoad(t *testing.T) {
	vocabTxt := strings.Join(bertTestVocab, "\n") + "\n"
	bertNormalizer := map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": nil, "lowercase": true}
	casedNormalizer := map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": nil, "lowercase": false}
	const text = "UNwant\u00E9d,running Hallo 中国"
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"vocab.txt alone is uncased", map[string]string{VocabTxt: vocabTxt},
			[]string{"un", "##want", "##ed", ",", "runn", "##ing", "hallo", "中", "国"}},
		{"vocab.txt with CRLF", map[string]string{VocabTxt: strings.ReplaceAll(vocabTxt, "\n", "\r\n")},
			[]string{"un", "##want", "##ed", ",", "runn", "##ing", "hallo", "中", "国"}},
		{"vocab.txt cased", map[string]string{VocabTxt: vocabTxt, TokenizerConfig: `{"do_lower_case": false, "unk_token": {"content": "[UNK]"}}`},
			[]string{"[UNK]", ",", "runn", "##ing", "[UNK]", "中", "国"}},
		{"tokenizer.json", map[string]string{TokenizerJSON: tokenizerJSONFor(t, bertTestVocab, bertNormalizer)},
			[]string{"un", "##want", "##ed", ",", "runn", "##ing", "hallo", "中", "国"}},
		{"tokenizer.json cased, preferred to vocab.txt", map[string]string{
			TokenizerJSON: tokenizerJSONFor(t, bertTestVocab, casedNormalizer), VocabTxt: vocabTxt},
			[]string{"[UNK]", ",", "runn", "##ing", "[UNK]", "中", "国"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeFile(t, filepath.Join(dir, name), content)
			}
			w, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.Tokenize(text); !slices.Equal(got, tt.want) {
				t.Errorf("Tokenize = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	unigram := `{"model": {"type": "Unigram", "vocab": [["a", 0]]}}`
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error
	}{
		{"no files", nil, []string{TokenizerJSON, VocabTxt}},
		{"unigram", map[string]string{TokenizerJSON: unigram}, []string{TokenizerJSON, "Unigram", "WordPiece"}},
		{"bad json", map[string]string{TokenizerJSON: `{"model": `}, []string{TokenizerJSON, "not valid JSON"}},
		{"empty vocab.txt", map[string]string{VocabTxt: ""}, []string{VocabTxt, "empty"}},
		{"vocab.txt without [CLS]", map[string]string{VocabTxt: "[UNK]\n[SEP]\n"}, []string{VocabTxt, "[CLS]"}},
		{"bad tokenizer_config.json", map[string]string{VocabTxt: "[UNK]\n[CLS]\n[SEP]\n", TokenizerConfig: "{"}, []string{TokenizerConfig}},
		{"other normalizer", map[string]string{TokenizerJSON: `{"normalizer": {"type": "NFKC"}, "model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}}`},
			[]string{TokenizerJSON, "NFKC"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeFile(t, filepath.Join(dir, name), content)
			}
			_, err := Load(dir)
			if err == nil {
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

func BenchmarkIDs(b *testing.B) {
	w, err := New(vocabOf(bertTestVocab...), Uncased())
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("Unwanted running, how are you? Café 中国人 lowest! ", 20)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		w.IDs(text)
	}
}
