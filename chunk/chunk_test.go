package chunk

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"mmrag/extract"
	"mmrag/extract/html"
	"mmrag/tokenizer"
)

var (
	clipDir  = filepath.Join("..", "..", "shared", "fixtures", "clip-tokenizer")
	seedGlob = filepath.Join("..", "..", "shared", "fixtures", "seed-blog", "local", "*.html")
)

var clipOnce struct {
	sync.Once
	tok *tokenizer.Tokenizer
	err error
}

// clip returns the real CLIP tokenizer, or skips when its files are absent.
func clip(tb testing.TB) *tokenizer.Tokenizer {
	tb.Helper()
	clipOnce.Do(func() {
		if _, err := os.Stat(clipDir); err != nil {
			clipOnce.err = err
			return
		}
		clipOnce.tok, clipOnce.err = tokenizer.Load(clipDir)
	})
	if clipOnce.tok == nil {
		if os.IsNotExist(clipOnce.err) {
			tb.Skipf("no CLIP tokenizer at %s", clipDir)
		}
		tb.Fatalf("load CLIP tokenizer: %v", clipOnce.err)
	}
	return clipOnce.tok
}

// words is a simple counter: one token per word, plus one per further eight
// runes so that an overlong word does not fit, plus two special tokens.
type words struct{}

func (words) Count(text string) int {
	n := 2
	for _, w := range strings.Fields(text) {
		n += 1 + (utf8.RuneCountInString(w)-1)/8
	}
	return n
}

// counters runs f once per counter: the word counter, Approx (nil) and the
// real CLIP tokenizer (skipped when absent).
func counters(t *testing.T, f func(t *testing.T, c Counter)) {
	t.Run("words", func(t *testing.T) { f(t, words{}) })
	t.Run("approx", func(t *testing.T) { f(t, nil) })
	t.Run("clip", func(t *testing.T) { f(t, clip(t)) })
}

func effective(opt Options) (Counter, int) {
	c, m := opt.Counter, opt.MaxTokens
	if c == nil {
		c = Approx{}
	}
	if m <= 0 {
		m = DefaultMaxTokens
	}
	return c, m
}

// checkInvariants asserts what every Split output must satisfy.
func checkInvariants(t *testing.T, res *extract.Result, opt Options, chunks []Chunk) {
	t.Helper()
	c, max := effective(opt)
	for i, ch := range chunks {
		if ch.Position != i {
			t.Errorf("chunk %d: Position %d", i, ch.Position)
		}
		if strings.TrimSpace(ch.Text) == "" || strings.TrimSpace(ch.Embed) == "" {
			t.Errorf("chunk %d: empty text %q / embed %q", i, ch.Text, ch.Embed)
		}
		if n := c.Count(ch.Embed); n > max {
			t.Errorf("chunk %d: %d tokens > %d: %q", i, n, max, ch.Embed)
		}
		if ch.Embed != ch.Text && !strings.HasSuffix(ch.Embed, ": "+ch.Text) {
			t.Errorf("chunk %d: Embed %q is not \"section: \" + Text %q", i, ch.Embed, ch.Text)
		}
		if ch.Embed != ch.Text && len(ch.Place.Section) == 0 {
			t.Errorf("chunk %d: prefix without a section: %q", i, ch.Embed)
		}
		if !slices.ContainsFunc(res.Blocks, func(b extract.Block) bool { return samePlace(b.Place, ch.Place) }) {
			t.Errorf("chunk %d: place %+v is no block's", i, ch.Place)
		}
	}
}

// checkCoverage asserts that, place by place, the input's words appear in
// the chunks in order (overlap and repeated table headers may add words).
// With runes set it compares non-space runes instead, for inputs whose
// overlong words are cut.
func checkCoverage(t *testing.T, res *extract.Result, chunks []Chunk, runes bool) {
	t.Helper()
	split := strings.Fields
	if runes {
		split = func(s string) []string {
			var out []string
			for _, r := range s {
				if !unicode.IsSpace(r) {
					out = append(out, string(r))
				}
			}
			return out
		}
	}
	var places []extract.Place
	for _, b := range res.Blocks {
		if !slices.ContainsFunc(places, func(p extract.Place) bool { return samePlace(p, b.Place) }) {
			places = append(places, b.Place)
		}
	}
	for _, p := range places {
		var in, out []string
		for _, b := range res.Blocks {
			if samePlace(b.Place, p) {
				in = append(in, split(b.Text)...)
			}
		}
		for _, ch := range chunks {
			if samePlace(ch.Place, p) {
				out = append(out, split(ch.Text)...)
			}
		}
		j := 0
		for i, w := range in {
			for j < len(out) && out[j] != w {
				j++
			}
			if j == len(out) {
				t.Fatalf("place %v: input word %d %q missing from the chunks (in order)", p.Section, i, w)
			}
			j++
		}
	}
}

// prose returns n words of sentences, each word unique: tag0 tag1 … with a
// full stop every seven words.
func prose(tag string, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s%d", tag, i)
		if i%7 == 6 {
			b.WriteByte('.')
		}
	}
	return b.String()
}

// giant is a deterministic base64-looking word of n runes.
func giant(n int) string {
	const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = abc[x%64]
	}
	return string(b)
}

func para(text string, section ...string) extract.Block {
	return extract.Block{Kind: extract.Paragraph, Text: text, Place: extract.Place{Section: section}}
}

// checkOverlapSplit checks the pieces of a 600-word paragraph: each starts
// with words carried from the one before, and most end a sentence.
func checkOverlapSplit(t *testing.T, _ Counter, ch []Chunk) {
	if len(ch) < 5 {
		t.Fatalf("%d chunks for 600 words", len(ch))
	}
	for i := 1; i < len(ch); i++ {
		prev, cur := strings.Fields(ch[i-1].Text), strings.Fields(ch[i].Text)
		if !slices.Contains(prev, cur[0]) {
			t.Errorf("chunk %d starts with %q, not carried from chunk %d", i, cur[0], i-1)
		}
	}
	// Sentence boundaries are preferred: most pieces end one.
	ends := 0
	for _, x := range ch[:len(ch)-1] {
		if strings.HasSuffix(x.Text, ".") {
			ends++
		}
	}
	if 2*ends < len(ch)-1 {
		t.Errorf("%d of %d pieces end a sentence", ends, len(ch)-1)
	}
}

func TestSplit(t *testing.T) {
	longTitle := strings.TrimSpace(strings.Repeat("a very long and wordy section heading ", 12))
	tests := []struct {
		name   string
		res    *extract.Result
		opt    Options
		runes  bool                                      // compare coverage by runes (overlong words are cut)
		chunks int                                       // expected count; -1: not fixed
		check  func(t *testing.T, c Counter, ch []Chunk) // extra assertions
	}{
		{name: "nil result", res: nil, chunks: 0},
		{name: "empty result", res: &extract.Result{}, chunks: 0},
		{name: "blank blocks", res: &extract.Result{Blocks: []extract.Block{para("  \n\t "), para("")}}, chunks: 0},
		{
			name:   "short paragraphs of a section merge",
			res:    &extract.Result{Blocks: []extract.Block{para("One two.", "S"), para("Three four.", "S"), {Kind: extract.List, Text: "- five\n- six", Place: extract.Place{Section: []string{"S"}}}}},
			chunks: 1,
			check: func(t *testing.T, c Counter, ch []Chunk) {
				if want := "One two.\nThree four.\n- five\n- six"; ch[0].Text != want {
					t.Errorf("Text %q, want %q", ch[0].Text, want)
				}
				if ch[0].Embed != "S: "+ch[0].Text {
					t.Errorf("Embed %q", ch[0].Embed)
				}
				if ch[0].Kind != extract.Paragraph {
					t.Errorf("mixed kinds merged as %q, want paragraph", ch[0].Kind)
				}
			},
		},
		{
			name: "places never merge",
			res: &extract.Result{Blocks: []extract.Block{
				para("a1 a2.", "A"), para("b1 b2.", "A", "B"), para("c1.", "A", "B"),
				{Kind: extract.Paragraph, Text: "d1.", Place: extract.Place{Section: []string{"A", "B"}, Page: 2}},
				{Kind: extract.Paragraph, Text: "e1.", Place: extract.Place{Sheet: "x"}},
				{Kind: extract.Paragraph, Text: "f1.", Place: extract.Place{Sheet: "y"}},
			}},
			chunks: 5,
			check: func(t *testing.T, c Counter, ch []Chunk) {
				if ch[1].Text != "b1 b2.\nc1." || ch[1].Embed != "B: b1 b2.\nc1." {
					t.Errorf("chunk 1: %q / %q, want innermost heading as prefix", ch[1].Text, ch[1].Embed)
				}
				if ch[3].Embed != "e1." {
					t.Errorf("no section: Embed %q, want the text alone", ch[3].Embed)
				}
			},
		},
		{
			name: "non-prose kinds stand alone",
			res: &extract.Result{Blocks: []extract.Block{
				para("Intro.", "S"),
				{Kind: extract.Code, Text: "x := 1", Place: extract.Place{Section: []string{"S"}}},
				{Kind: extract.Quote, Text: "Said.", Place: extract.Place{Section: []string{"S"}}},
				para("Outro.", "S"),
			}},
			chunks: 4,
		},
		{
			name:   "long paragraph splits with overlap",
			res:    &extract.Result{Blocks: []extract.Block{para(prose("w", 600), "Section")}},
			chunks: -1,
			check:  checkOverlapSplit,
		},
		{
			name:   "negative overlap disables it",
			res:    &extract.Result{Blocks: []extract.Block{para(prose("w", 300))}},
			opt:    Options{Overlap: -1},
			chunks: -1,
			check: func(t *testing.T, c Counter, ch []Chunk) {
				var all []string
				for _, x := range ch {
					all = append(all, strings.Fields(x.Text)...)
				}
				if len(all) != 300 {
					t.Errorf("%d words out for 300 in without overlap", len(all))
				}
			},
		},
		{
			name:   "giant single token",
			res:    &extract.Result{Blocks: []extract.Block{para("see "+giant(5000)+" and https://example.com/"+giant(400)+" end.", "Data")}},
			runes:  true,
			chunks: -1,
		},
		{
			name:   "giant token alone without section",
			res:    &extract.Result{Blocks: []extract.Block{para(giant(3000))}},
			runes:  true,
			chunks: -1,
		},
		{
			name:   "table repeats its header",
			res:    &extract.Result{Blocks: []extract.Block{{Kind: extract.Table, Text: tableText("", 60), Place: extract.Place{Sheet: "s", Page: 1}}}},
			chunks: -1,
			check:  func(t *testing.T, c Counter, ch []Chunk) { checkTable(t, ch, "name | qty | price", 60) },
		},
		{
			name:   "html table repeats caption and header",
			res:    &extract.Result{Blocks: []extract.Block{{Kind: extract.Table, Text: tableText("Prices of things", 60), Place: extract.Place{Section: []string{"Prices"}}}}},
			chunks: -1,
			check: func(t *testing.T, c Counter, ch []Chunk) {
				checkTable(t, ch, "Prices of things\nname | qty | price", 60)
			},
		},
		{
			name:   "code splits on lines",
			res:    &extract.Result{Blocks: []extract.Block{{Kind: extract.Code, Text: codeText(80), Place: extract.Place{Section: []string{"Code"}}}}},
			chunks: -1,
			check: func(t *testing.T, c Counter, ch []Chunk) {
				lines := strings.Split(codeText(80), "\n")
				if len(ch) < 2 {
					t.Fatalf("%d chunks", len(ch))
				}
				for i, x := range ch {
					for _, l := range strings.Split(x.Text, "\n") {
						if !slices.Contains(lines, l) {
							t.Errorf("chunk %d: line %q is not a whole input line", i, l)
						}
					}
				}
			},
		},
		{
			name:   "long section title is shortened",
			res:    &extract.Result{Blocks: []extract.Block{para(prose("w", 200), "Top", longTitle)}},
			chunks: -1,
			check: func(t *testing.T, c Counter, ch []Chunk) {
				for i, x := range ch {
					prefix := strings.TrimSuffix(x.Embed, ": "+x.Text)
					if !strings.HasSuffix(prefix, "…") || !strings.HasPrefix(longTitle, strings.TrimSuffix(prefix, "…")) {
						t.Fatalf("chunk %d: prefix %q is not a shortened title", i, prefix)
					}
					// The prefix takes at most half the room, so every
					// piece but the last holds a fair share of text.
					if i < len(ch)-1 {
						if n := c.Count(x.Text) - c.Count(""); n < (DefaultMaxTokens-2)/3 {
							t.Errorf("chunk %d: only %d tokens of text", i, n)
						}
					}
				}
			},
		},
		{
			name:   "tiny window still progresses",
			res:    &extract.Result{Blocks: []extract.Block{para(prose("word", 40)+" "+giant(200), "A heading that is long")}},
			opt:    Options{MaxTokens: 10, Overlap: 3},
			runes:  true,
			chunks: -1,
		},
		{
			name: "whitespace normalised",
			res: &extract.Result{Blocks: []extract.Block{
				para("  a   b\t\tc \n d  ", "S"),
				{Kind: extract.Code, Text: "\n\nfunc f() {\n\treturn   1  \n\n\n}\n\n", Place: extract.Place{Section: []string{"S"}}},
				{Kind: extract.Table, Text: " x  |  y \n\n 1 | 2 ", Place: extract.Place{Section: []string{"S"}}},
			}},
			chunks: 3,
			check: func(t *testing.T, c Counter, ch []Chunk) {
				want := []string{"a b c d", "func f() {\n\treturn 1\n\n}", "x | y\n1 | 2"}
				for i, w := range want {
					if ch[i].Text != w {
						t.Errorf("chunk %d: %q, want %q", i, ch[i].Text, w)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counters(t, func(t *testing.T, c Counter) {
				opt := tt.opt
				opt.Counter = c
				ch := Split(tt.res, opt)
				if tt.chunks >= 0 && len(ch) != tt.chunks {
					t.Fatalf("%d chunks, want %d: %q", len(ch), tt.chunks, texts(ch))
				}
				if tt.res == nil {
					return
				}
				checkInvariants(t, tt.res, opt, ch)
				checkCoverage(t, tt.res, ch, tt.runes)
				if tt.check != nil {
					ec, _ := effective(opt)
					tt.check(t, ec, ch)
				}
				if again := Split(tt.res, opt); !reflect.DeepEqual(ch, again) {
					t.Error("second Split differs")
				}
			})
		})
	}
}

func texts(ch []Chunk) []string {
	out := make([]string, len(ch))
	for i, c := range ch {
		out[i] = c.Embed
	}
	return out
}

func tableText(caption string, rows int) string {
	var b strings.Builder
	if caption != "" {
		b.WriteString(caption + "\n")
	}
	b.WriteString("name | qty | price")
	for i := range rows {
		fmt.Fprintf(&b, "\nitem%d | %d | %d.50", i, i*3, i*7)
	}
	return b.String()
}

// checkTable asserts every piece starts with the header and every data row
// appears exactly once, whole.
func checkTable(t *testing.T, ch []Chunk, header string, rows int) {
	t.Helper()
	if len(ch) < 2 {
		t.Fatalf("%d chunks: table not split", len(ch))
	}
	seen := map[string]int{}
	for i, x := range ch {
		if !strings.HasPrefix(x.Text, header+"\n") {
			t.Errorf("chunk %d does not start with the header: %q", i, x.Text)
		}
		for _, l := range strings.Split(strings.TrimPrefix(x.Text, header+"\n"), "\n") {
			if !strings.HasPrefix(l, "item") || strings.Count(l, " | ") != 2 {
				t.Errorf("chunk %d: broken row %q", i, l)
			}
			seen[l]++
		}
	}
	if len(seen) != rows {
		t.Errorf("%d distinct rows, want %d", len(seen), rows)
	}
	for l, n := range seen {
		if n != 1 {
			t.Errorf("row %q appears %d times", l, n)
		}
	}
}

func codeText(lines int) string {
	var b strings.Builder
	b.WriteString("func main() {")
	for i := range lines {
		fmt.Fprintf(&b, "\n\tfmt.Println(%q, value%d)", fmt.Sprint("line ", i), i)
	}
	b.WriteString("\n}")
	return b.String()
}

func TestSections(t *testing.T) {
	// Every word is tagged with its section; a chunk may only hold words of
	// its own section.
	res := &extract.Result{}
	for s, tag := range []string{"a", "b", "c"} {
		sec := []string{"Doc", "Part " + tag}
		for i := range 4 {
			res.Blocks = append(res.Blocks, para(prose(fmt.Sprintf("%s%dw", tag, i), 2+s*40), sec...))
		}
	}
	counters(t, func(t *testing.T, c Counter) {
		ch := Split(res, Options{Counter: c})
		checkInvariants(t, res, Options{Counter: c}, ch)
		checkCoverage(t, res, ch, false)
		for i, x := range ch {
			tag := strings.TrimPrefix(x.Place.Section[1], "Part ")
			for _, w := range strings.Fields(x.Text) {
				if !strings.HasPrefix(w, tag) {
					t.Errorf("chunk %d (section %q) holds %q", i, tag, w)
				}
			}
		}
		// Section a's four short paragraphs fit one chunk.
		if ch[0].Place.Section[1] != "Part a" || (len(ch) > 1 && ch[1].Place.Section[1] == "Part a") {
			t.Errorf("short paragraphs of section a not merged: %q", texts(ch[:2]))
		}
	})
}

func TestMinChars(t *testing.T) {
	res := &extract.Result{Blocks: []extract.Block{
		para("Share", "A"), para("This paragraph is long enough to keep.", "A"), para("Like", "A"),
		para("Tiny", "B"),
	}}
	ch := Split(res, Options{MinChars: 10, Counter: words{}})
	got := texts(ch)
	want := []string{"A: This paragraph is long enough to keep.", "B: Tiny"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestApprox(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{
		{"", 2},
		{"the cat", 4},
		{"embedding", 4},               // 9 letters: two tokens
		{"hello, world!", 6},           // letters, comma, letters, bang
		{"2024", 6},                    // one per digit
		{"aGVsbG8", 2 + 1 + 1 + 1 + 1}, // a|GVsb|G|8 → case changes split runs
		{"日本", 8},                      // one per UTF-8 byte
	}
	for _, tt := range tests {
		if got := (Approx{}).Count(tt.text); got != tt.want {
			t.Errorf("Approx.Count(%q) = %d, want %d", tt.text, got, tt.want)
		}
	}
	// On CLIP's own count, the approximation errs high on real prose.
	tok := clip(t)
	for _, s := range []string{prose("word", 50), "Multimodal embeddings map text and images into one space.", codeText(3)} {
		if a, c := (Approx{}).Count(s), tok.Count(s); a < c {
			t.Errorf("Approx %d < CLIP %d for %q", a, c, s)
		}
	}
}

// seedBlog extracts the seed blog posts, or skips when they are absent.
func seedBlog(tb testing.TB) map[string]*extract.Result {
	tb.Helper()
	files, err := filepath.Glob(seedGlob)
	if err != nil || len(files) == 0 {
		tb.Skipf("no seed blog at %s", seedGlob)
	}
	out := map[string]*extract.Result{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		res, err := html.HTML{}.Extract(context.Background(), extract.Source{Path: f, Data: data, MIME: "text/html", Root: filepath.Dir(filepath.Dir(f))})
		if err != nil {
			tb.Fatalf("extract %s: %v", f, err)
		}
		out[filepath.Base(f)] = res
	}
	return out
}

func TestSeedBlog(t *testing.T) {
	posts := seedBlog(t)
	counters(t, func(t *testing.T, c Counter) {
		names := make([]string, 0, len(posts))
		for name := range posts {
			names = append(names, name)
		}
		slices.Sort(names)
		total := 0
		for _, name := range names {
			res := posts[name]
			opt := Options{Counter: c, MaxTokens: 77}
			ch := Split(res, opt)
			checkInvariants(t, res, opt, ch)
			checkCoverage(t, res, ch, false)
			if len(ch) == 0 {
				t.Errorf("%s: no chunks", name)
			}
			whole, merged, pieces := 0, 0, 0
			for _, x := range ch {
				switch {
				case slices.ContainsFunc(res.Blocks, func(b extract.Block) bool { return normalise(b.Kind, b.Text) == x.Text }):
					whole++
				case slices.ContainsFunc(res.Blocks, func(b extract.Block) bool {
					return strings.HasPrefix(x.Text, normalise(b.Kind, b.Text)+"\n")
				}):
					merged++
				default:
					pieces++
				}
			}
			t.Logf("%s: %d blocks → %d chunks: %d whole blocks, %d merges, %d pieces of split blocks",
				name, len(res.Blocks), len(ch), whole, merged, pieces)
			total += len(ch)
		}
		t.Logf("total %d chunks", total)
	})
}

func FuzzSplit(f *testing.F) {
	f.Add("Hello world. This is a test.", "Intro", uint8(77), uint8(0))
	f.Add(giant(600), "", uint8(20), uint8(1))
	f.Add("a | b\n1 | 2\n3 | 4\n5 | 6", "Table", uint8(9), uint8(2))
	f.Add("  \n\t", "x", uint8(0), uint8(3))
	f.Add("日本語のテキスト。もう一つ！ 😀😀 &amp; <|endoftext|>", strings.Repeat("long title ", 30), uint8(16), uint8(4))
	kinds := []extract.BlockKind{extract.Paragraph, extract.Code, extract.Table, extract.List, extract.Transcript}
	var tok Counter
	if _, err := os.Stat(clipDir); err == nil {
		if t, err := tokenizer.Load(clipDir); err == nil {
			tok = t
		}
	}
	f.Fuzz(func(t *testing.T, text, section string, max, kind uint8) {
		// Longer inputs find nothing new and slow the fuzzer down.
		text, section = cutBytes(text, 2048), cutBytes(section, 256)
		k := kinds[int(kind)%len(kinds)]
		res := &extract.Result{Blocks: []extract.Block{
			{Kind: k, Text: text, Place: extract.Place{Section: []string{section}}},
			{Kind: extract.Paragraph, Text: text + " " + text, Place: extract.Place{Section: []string{section}}},
			{Kind: k, Text: text},
		}}
		m := 16 + int(max)%100
		cs := []Counter{nil, words{}}
		if tok != nil {
			cs = append(cs, tok)
		}
		for _, c := range cs {
			opt := Options{MaxTokens: m, Overlap: int(kind) % 20, Counter: c}
			ec, _ := effective(opt)
			for i, ch := range Split(res, opt) {
				if strings.TrimSpace(ch.Text) == "" {
					t.Fatalf("chunk %d empty", i)
				}
				if n := ec.Count(ch.Embed); n > m {
					// The documented exception: one rune that fits no window.
					if utf8.RuneCountInString(ch.Text) != 1 || ch.Embed != ch.Text {
						t.Fatalf("chunk %d: %d tokens > %d: %q", i, n, m, ch.Embed)
					}
				}
			}
		}
	})
}

func BenchmarkSplit(b *testing.B) {
	posts := seedBlog(b)
	res := posts[slices.Sorted(maps.Keys(posts))[0]]
	for _, bc := range []struct {
		name string
		c    func(testing.TB) Counter
	}{
		{"approx", func(testing.TB) Counter { return Approx{} }},
		{"clip", func(tb testing.TB) Counter { return clip(tb) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opt := Options{Counter: bc.c(b)}
			n := 0
			for b.Loop() {
				n += len(Split(res, opt))
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "chunks/s")
		})
	}
}
