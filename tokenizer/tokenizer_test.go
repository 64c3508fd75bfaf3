package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestReference checks every entry of reference_ids.json (made with
// OpenAI's clip.tokenize) against the tokenizer loaded three ways.
func TestReference(t *testing.T) {
	refs := readReference(t)
	vocab, merges := needFixtures(t)
	dir := t.TempDir()
	sources := []struct {
		name string
		load func() (*Tokenizer, error)
	}{
		{"vocab.json+merges.txt", func() (*Tokenizer, error) { return LoadFiles(vocab, merges) }},
		{"tokenizer.json/string-merges", func() (*Tokenizer, error) {
			d := filepath.Join(dir, "strings")
			if err := os.Mkdir(d, 0o755); err != nil {
				return nil, err
			}
			writeTokenizerJSON(t, d, vocab, merges, false)
			return Load(d)
		}},
		{"tokenizer.json/pair-merges", func() (*Tokenizer, error) {
			return LoadJSON(writeTokenizerJSON(t, dir, vocab, merges, true))
		}},
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			tok, err := src.load()
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if got := tok.VocabSize(); got != 49408 {
				t.Errorf("VocabSize = %d, want 49408", got)
			}
			if tok.SOT() != 49406 || tok.EOT() != 49407 {
				t.Errorf("SOT, EOT = %d, %d; want 49406, 49407", tok.SOT(), tok.EOT())
			}
			matched := 0
			for i, ref := range refs {
				got := tok.Encode(ref.Text)
				if !equalIDs(got, ref.IDs) {
					t.Errorf("entry %d %q (%s):\n got %v\nwant %v", i, ref.Text, ref.Note, got, ref.IDs)
					continue
				}
				matched++
				n := tok.Count(ref.Text)
				if len(ref.IDs) < ContextLength && n != len(ref.IDs) {
					t.Errorf("entry %d: Count = %d, want %d", i, n, len(ref.IDs))
				}
				if len(ref.IDs) == ContextLength && n < ContextLength {
					t.Errorf("entry %d: Count = %d, want >= %d", i, n, ContextLength)
				}
			}
			t.Logf("%s: %d/%d reference entries match (%.1f%%)", src.name, matched, len(refs), 100*float64(matched)/float64(len(refs)))
		})
	}
}

func TestLoadPrefersTokenizerJSON(t *testing.T) {
	m := newMiniModel([2]string{"a", "b</w>"})
	dir := t.TempDir()
	vocab, merges := m.write(t, dir)
	tok, err := Load(dir)
	if err != nil {
		t.Fatalf("Load without tokenizer.json: %v", err)
	}
	want := append([]int64{tok.SOT()}, m.ids(t, "ab</w>")...)
	want = append(want, tok.EOT())
	if got := tok.Encode("ab"); !equalIDs(got, want) {
		t.Fatalf("Encode(ab) = %v, want %v", got, want)
	}
	// With a tokenizer.json beside them, a broken vocab.json must not matter.
	writeTokenizerJSON(t, dir, vocab, merges, true)
	if err := os.WriteFile(vocab, []byte("{broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err = Load(dir)
	if err != nil {
		t.Fatalf("Load with tokenizer.json: %v", err)
	}
	if got := tok.Encode("ab"); !equalIDs(got, want) {
		t.Fatalf("Encode(ab) via tokenizer.json = %v, want %v", got, want)
	}
}

func TestSpecialTokensFromAddedTokens(t *testing.T) {
	m := newMiniModel()
	sot, eot := m.vocab[sotText], m.vocab[eotText]
	delete(m.vocab, sotText)
	delete(m.vocab, eotText)
	dir := t.TempDir()
	v, mg := m.write(t, dir)
	if _, err := LoadFiles(v, mg); err == nil || !strings.Contains(err.Error(), sotText) {
		t.Fatalf("LoadFiles without special tokens: err = %v, want one naming %s", err, sotText)
	}
	m.vocab[sotText], m.vocab[eotText] = sot, eot // writeTokenizerJSON reads ids from the vocab
	v, mg = m.write(t, dir)
	path := writeTokenizerJSON(t, dir, v, mg, false)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Drop the specials from model.vocab only; added_tokens keeps them.
	s := strings.Replace(string(data), fmt.Sprintf(`"%s":%d,`, "\\u003c|startoftext|\\u003e", sot), "", 1)
	s = strings.Replace(s, fmt.Sprintf(`"%s":%d`, "\\u003c|endoftext|\\u003e", eot), `"zz":99999`, 1)
	if s == string(data) {
		t.Fatal("test setup: special tokens not found in generated tokenizer.json")
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := LoadJSON(path)
	if err != nil {
		t.Fatalf("LoadJSON: %v", err)
	}
	if tok.SOT() != int64(sot) || tok.EOT() != int64(eot) {
		t.Fatalf("SOT, EOT = %d, %d; want %d, %d", tok.SOT(), tok.EOT(), sot, eot)
	}
}

// TestBPE checks merge order on a synthetic vocabulary: the lowest-ranked
// pair merges first, everywhere in the word, and "</w>" marks the end.
func TestBPE(t *testing.T) {
	tests := []struct {
		name   string
		merges [][2]string
		text   string
		want   []string
	}{
		{"rank decides", [][2]string{{"a", "b"}, {"b", "c</w>"}}, "abc", []string{"ab", "c</w>"}},
		{"rank decides reversed", [][2]string{{"b", "c</w>"}, {"a", "b"}}, "abc", []string{"a", "bc</w>"}},
		{"end-of-word only at the end", [][2]string{{"a", "b</w>"}}, "abab", []string{"a", "b", "ab</w>"}},
		{"all occurrences, no overlap", [][2]string{{"a", "a"}}, "aaaaa", []string{"aa", "aa", "a</w>"}},
		{"chained merges", [][2]string{{"l", "o"}, {"lo", "w</w>"}, {"lo", "l</w>"}}, "low lol", []string{"low</w>", "lol</w>"}},
		{"single byte", nil, "x", []string{"x</w>"}},
		{"bytes of a non-ASCII letter", nil, "é", []string{string(byteRunes[0xC3]), string(byteRunes[0xA9]) + "</w>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMiniModel(tt.merges...)
			tok := m.load(t)
			want := append([]int64{tok.SOT()}, m.ids(t, tt.want...)...)
			want = append(want, tok.EOT())
			for range 2 { // the second time through the cache
				if got := tok.Encode(tt.text); !equalIDs(got, want) {
					t.Fatalf("Encode(%q) = %v, want %v", tt.text, got, want)
				}
			}
		})
	}
}

func TestEmpty(t *testing.T) {
	tok := clipTokenizer(t)
	for _, text := range []string{"", "   ", "\t\n\r\f", "\u00a0\u3000", "\x00\x01"} {
		want := []int64{tok.SOT(), tok.EOT()}
		if got := tok.Encode(text); !equalIDs(got, want) {
			t.Errorf("Encode(%q) = %v, want %v", text, got, want)
		}
		if n := tok.Count(text); n != 2 {
			t.Errorf("Count(%q) = %d, want 2", text, n)
		}
	}
}

// TestTruncation encodes 10 000 distinct words: the result must be the
// first ContextLength-2 tokens of the words, wrapped in SOT and EOT.
func TestTruncation(t *testing.T) {
	tok := clipTokenizer(t)
	words := make([]string, 10000)
	for i := range words {
		words[i] = fmt.Sprintf("word%d", i)
	}
	text := strings.Join(words, " ")
	got := tok.Encode(text)
	if len(got) != ContextLength || got[0] != tok.SOT() || got[len(got)-1] != tok.EOT() {
		t.Fatalf("Encode: len %d, first %d, last %d; want len %d, SOT first, EOT last", len(got), got[0], got[len(got)-1], ContextLength)
	}
	var want []int64
	for _, w := range words {
		ids := tok.Encode(w)
		want = append(want, ids[1:len(ids)-1]...)
		if len(want) >= ContextLength-2 {
			break
		}
	}
	if !equalIDs(got[1:ContextLength-1], want[:ContextLength-2]) {
		t.Fatalf("truncated tokens differ from the words' own tokens:\n got %v\nwant %v", got[1:ContextLength-1], want[:ContextLength-2])
	}
	n := tok.Count(text)
	sum := 2
	for _, w := range words {
		sum += tok.Count(w) - 2
	}
	if n != sum {
		t.Fatalf("Count = %d, want the sum over words %d", n, sum)
	}
}

func TestInvalidUTF8(t *testing.T) {
	tok := clipTokenizer(t)
	tests := []struct{ bad, same string }{
		{"caf\xe9 \xff\xfe ok", "caf\uFFFD \uFFFD\uFFFD ok"},
		{"\xc3", "\uFFFD"},
		{"truncated \xe4\xbd", "truncated \uFFFD\uFFFD"},
	}
	for _, tt := range tests {
		got := tok.Encode(tt.bad)
		if want := tok.Encode(tt.same); !equalIDs(got, want) {
			t.Errorf("Encode(%q) = %v, want the ids of %q %v", tt.bad, got, tt.same, want)
		}
		if len(got) < 3 || got[0] != tok.SOT() || got[len(got)-1] != tok.EOT() {
			t.Errorf("Encode(%q) = %v: want SOT, some tokens, EOT", tt.bad, got)
		}
		_ = tok.Decode(append(got, 1<<40, -1)) // must not panic on odd ids either
	}
}

func TestSpecialTokenText(t *testing.T) {
	tok := clipTokenizer(t)
	a, b := tok.Encode("hello"), tok.Encode("world")
	want := []int64{tok.SOT(), a[1], tok.EOT(), b[1], tok.SOT(), tok.EOT()}
	for _, text := range []string{
		"hello <|endoftext|> world <|startoftext|>",
		"HELLO<|EndOfText|>World <|STARTOFTEXT|>",
	} {
		if got := tok.Encode(text); !equalIDs(got, want) {
			t.Errorf("Encode(%q) = %v, want %v", text, got, want)
		}
	}
	// Only the exact spelling is special; inside punctuation it splits.
	if got := tok.Encode("!<|endoftext|>"); slices.Contains(got[1:len(got)-1], tok.EOT()) {
		t.Errorf("Encode(!<|endoftext|>) = %v: EOT inside a punctuation run", got)
	}
}

func TestPad(t *testing.T) {
	tok := clipTokenizer(t)
	ids := tok.Encode("a photo of a cat")
	padded, mask := tok.Pad(ids, ContextLength)
	if len(padded) != ContextLength || len(mask) != ContextLength {
		t.Fatalf("Pad: lengths %d, %d; want %d", len(padded), len(mask), ContextLength)
	}
	for i := range padded {
		switch {
		case i < len(ids) && (padded[i] != ids[i] || mask[i] != 1):
			t.Fatalf("position %d: id %d mask %d, want %d, 1", i, padded[i], mask[i], ids[i])
		case i >= len(ids) && (padded[i] != tok.EOT() || mask[i] != 0):
			t.Fatalf("position %d: id %d mask %d, want EOT, 0", i, padded[i], mask[i])
		}
	}
	// The first EOT (CLIP's pooling position, argmax of the ids) is unmoved.
	if at := slices.Index(padded, tok.EOT()); at != len(ids)-1 {
		t.Fatalf("first EOT at %d, want %d", at, len(ids)-1)
	}
	zero, _ := PadWith(ids, ContextLength, 0)
	if zero[len(ids)] != 0 || zero[ContextLength-1] != 0 || !equalIDs(zero[:len(ids)], ids) {
		t.Fatalf("PadWith(0) = %v", zero)
	}
	cut, cmask := tok.Pad(ids, 3)
	if len(cut) != 3 || cut[0] != tok.SOT() || cut[2] != tok.EOT() || cmask[2] != 1 {
		t.Fatalf("Pad to 3 = %v %v, want SOT, first token, EOT", cut, cmask)
	}
}

func TestDecode(t *testing.T) {
	tok := clipTokenizer(t)
	if got := tok.Decode(tok.Encode("A photo of a CAT")); got != "a photo of a cat" {
		t.Errorf("Decode = %q, want %q", got, "a photo of a cat")
	}
	// Decoding and encoding again gives the same ids for every reference
	// text: BPE output spells the cleaned text with spaces between words.
	for _, ref := range readReference(t) {
		text := tok.Decode(ref.IDs)
		if got := tok.Encode(text); !equalIDs(got, ref.IDs) {
			t.Errorf("Encode(Decode(ids of %q)) = %v via %q, want %v", ref.Text, got, text, ref.IDs)
		}
	}
}

func TestConcurrent(t *testing.T) {
	refs := readReference(t)
	vocab, merges := needFixtures(t)
	tok, err := LoadFiles(vocab, merges) // fresh cache, filled concurrently
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(refs))
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range refs {
				ref := refs[(i+g*5)%len(refs)]
				if got := tok.Encode(ref.Text); !equalIDs(got, ref.IDs) {
					errs <- fmt.Sprintf("Encode(%q) = %v, want %v", ref.Text, got, ref.IDs)
				}
				tok.Count(ref.Text)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestLoadErrors(t *testing.T) {
	good := newMiniModel([2]string{"a", "b"})
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) (load func() error)
		want  []string // substrings of the error
	}{
		{"empty folder", func(t *testing.T, dir string) func() error {
			return func() error { _, err := Load(dir); return err }
		}, []string{"tokenizer.json", "vocab.json"}},
		{"folder missing merges.txt", func(t *testing.T, dir string) func() error {
			_, merges := good.write(t, dir)
			os.Remove(merges)
			return func() error { _, err := Load(dir); return err }
		}, []string{"merges.txt", "no such file"}},
		{"corrupt vocab.json", func(t *testing.T, dir string) func() error {
			vocab, merges := good.write(t, dir)
			os.WriteFile(vocab, []byte(`{"a": 1,`), 0o644)
			return func() error { _, err := LoadFiles(vocab, merges); return err }
		}, []string{"vocab.json", "parse"}},
		{"vocab.json not an object", func(t *testing.T, dir string) func() error {
			vocab, merges := good.write(t, dir)
			os.WriteFile(vocab, []byte(`["a"]`), 0o644)
			return func() error { _, err := LoadFiles(vocab, merges); return err }
		}, []string{"vocab.json"}},
		{"vocab without byte symbols", func(t *testing.T, dir string) func() error {
			vocab, merges := good.write(t, dir)
			os.WriteFile(vocab, []byte(`{"a": 0, "<|startoftext|>": 1, "<|endoftext|>": 2}`), 0o644)
			return func() error { _, err := LoadFiles(vocab, merges); return err }
		}, []string{"vocab.json", "byte symbol"}},
		{"bad merges line", func(t *testing.T, dir string) func() error {
			vocab, merges := good.write(t, dir)
			os.WriteFile(merges, []byte("#version: 0.2\na b\nabc\n"), 0o644)
			return func() error { _, err := LoadFiles(vocab, merges); return err }
		}, []string{"merges.txt:3", "two space-separated"}},
		{"merge of unknown symbols", func(t *testing.T, dir string) func() error {
			vocab, merges := good.write(t, dir)
			os.WriteFile(merges, []byte("#version: 0.2\nb c\n"), 0o644)
			return func() error { _, err := LoadFiles(vocab, merges); return err }
		}, []string{"merges.txt", `"b"+"c"`, "missing"}},
		{"missing vocab file", func(t *testing.T, dir string) func() error {
			return func() error {
				_, err := LoadFiles(filepath.Join(dir, "nope.json"), filepath.Join(dir, "merges.txt"))
				return err
			}
		}, []string{"nope.json", "no such file"}},
		{"corrupt tokenizer.json", func(t *testing.T, dir string) func() error {
			os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(`{"model": {"vocab": `), 0o644)
			return func() error { _, err := Load(dir); return err }
		}, []string{"tokenizer.json", "parse"}},
		{"tokenizer.json without model", func(t *testing.T, dir string) func() error {
			os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(`{"version": "1.0"}`), 0o644)
			return func() error { _, err := Load(dir); return err }
		}, []string{"tokenizer.json", "model.vocab"}},
		{"tokenizer.json with bad merge", func(t *testing.T, dir string) func() error {
			os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(`{"model": {"vocab": {"a": 0}, "merges": ["a b", 7]}}`), 0o644)
			return func() error { _, err := Load(dir); return err }
		}, []string{"tokenizer.json", "model.merges[1]"}},
		{"tokenizer.json of another model type", func(t *testing.T, dir string) func() error {
			os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(`{"model": {"type": "WordPiece", "vocab": {"a": 0}}}`), 0o644)
			return func() error { _, err := Load(dir); return err }
		}, []string{"tokenizer.json", "WordPiece"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.setup(t, t.TempDir())()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// fuzzTokenizer is the real CLIP tokenizer when the fixtures are there,
// else a synthetic one, so the fuzz target always runs.
func fuzzTokenizer(f *testing.F) *Tokenizer {
	if _, err := os.Stat(filepath.Join(fixtureDir, "vocab.json")); err == nil {
		return clipTokenizer(f)
	}
	m := newMiniModel([2]string{"t", "h"}, [2]string{"th", "e</w>"}, [2]string{"a", "n"})
	v, mg := m.write(f, f.TempDir())
	tok, err := LoadFiles(v, mg)
	if err != nil {
		f.Fatal(err)
	}
	return tok
}

func FuzzEncode(f *testing.F) {
	tok := fuzzTokenizer(f)
	for _, s := range []string{
		"", "a photo of a cat", "don't STOP", "café &amp; crème", "你好世界 👍🏽",
		"<|endoftext|>", "&#x1F600; &NTILDE; &notit;", "\x1b[31mred\x1b[0m", "ΟΔΟΣ İ", "\xff\xfe",
		strings.Repeat("word ", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ids := tok.Encode(text)
		if len(ids) < 2 || len(ids) > ContextLength {
			t.Fatalf("Encode(%q): %d ids", text, len(ids))
		}
		if ids[0] != tok.SOT() || ids[len(ids)-1] != tok.EOT() {
			t.Fatalf("Encode(%q) = %v: want SOT first and EOT last", text, ids)
		}
		n := tok.Count(text)
		if n < len(ids) || (n <= ContextLength && n != len(ids)) {
			t.Fatalf("Count(%q) = %d, but Encode gave %d ids", text, n, len(ids))
		}
		for _, id := range ids {
			if id < 0 || int(id) >= len(tok.tokens) || tok.tokens[id] == "" {
				t.Fatalf("Encode(%q) gave unknown id %d", text, id)
			}
		}
		_ = tok.Decode(ids)
	})
}

func BenchmarkEncode(b *testing.B) {
	tok := clipTokenizer(b)
	question := "How does the vision transformer split an image into patches?"
	paragraph := "Contrastive Language-Image Pre-training (CLIP) learns visual concepts from natural " +
		"language supervision: an image encoder and a text encoder are trained jointly on 400 million " +
		"(image, text) pairs so that matching pairs score high and the other pairs in the batch score low."
	if n := tok.Count(paragraph); n < 60 || n > ContextLength {
		b.Fatalf("paragraph has %d tokens, want about 70", n)
	}
	for _, bc := range []struct{ name, text string }{{"question", question}, {"paragraph70", paragraph}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.text)))
			b.ReportAllocs()
			for b.Loop() {
				tok.Encode(bc.text)
			}
		})
	}
	// A page of CJK text has no spaces: one pre-token of ~9000 bytes.
	cjk := strings.Repeat("東京タワーの写真です多模態検索拡張生成", 150)
	b.Run("count-cjk-page-cold-cache", func(b *testing.B) {
		b.SetBytes(int64(len(cjk)))
		for b.Loop() {
			tok.mu.Lock()
			clear(tok.cache)
			tok.mu.Unlock()
			tok.Count(cjk)
		}
	})
	b.Run("paragraph70-cold-cache", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tok.mu.Lock()
			clear(tok.cache)
			tok.mu.Unlock()
			tok.Encode(paragraph)
		}
	})
}

// bpeStraightforward is CLIP's bpe() as written: merge every occurrence of
// the lowest-ranked pair left to right, then look again.
func bpeStraightforward(t *Tokenizer, word string) []int32 {
	syms := make([]int32, 0, len(word))
	for i := 0; i < len(word); i++ {
		if i == len(word)-1 {
			syms = append(syms, t.byteEnd[word[i]])
		} else {
			syms = append(syms, t.byteSym[word[i]])
		}
	}
	for len(syms) > 1 {
		best, at := merge{}, -1
		for i := 0; i+1 < len(syms); i++ {
			if m, ok := t.merges[pairKey(syms[i], syms[i+1])]; ok && (at < 0 || m.rank < best.rank) {
				best, at = m, i
			}
		}
		if at < 0 {
			break
		}
		a, b := syms[at], syms[at+1]
		var out []int32
		for i := 0; i < len(syms); {
			if i+1 < len(syms) && syms[i] == a && syms[i+1] == b {
				out = append(out, best.id)
				i += 2
			} else {
				out = append(out, syms[i])
				i++
			}
		}
		syms = out
	}
	return syms
}

// TestBPEHeapMatchesStraightforward checks the heap-ordered BPE against the
// reference algorithm on many words, long ones included.
func TestBPEHeapMatchesStraightforward(t *testing.T) {
	tok := clipTokenizer(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var words []string
	for _, ref := range readReference(t) {
		splitWords(cleanText(ref.Text), func(w string) bool { words = append(words, w); return true })
	}
	alphabets := []string{"abcdefghijklmnopqrstuvwxyz", "aeiou", "ab", "acgt", "東京タワーの写真你好世界", "ñéüàçø", "!?.,;:-"}
	for i := 0; i < 3000; i++ {
		letters := []rune(alphabets[rng.IntN(len(alphabets))])
		n := 1 + rng.IntN(40)
		if i%100 == 0 {
			n = 2000 + rng.IntN(3000)
		}
		var b strings.Builder
		for range n {
			b.WriteRune(letters[rng.IntN(len(letters))])
		}
		words = append(words, b.String())
	}
	for _, w := range words {
		if got, want := tok.bpe(w), bpeStraightforward(tok, w); !slices.Equal(got, want) {
			t.Fatalf("bpe(%.40q…, %d bytes) = %v, want %v", w, len(w), got, want)
		}
	}
}
