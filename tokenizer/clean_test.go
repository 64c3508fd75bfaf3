package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// TestCleanText pins the text preparation to what OpenAI's tokenizer
// (ftfy.fix_text, html.unescape twice, whitespace_clean, str.lower) gives;
// the expectations were checked against Python.
func TestCleanText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ascii", "  Hello \t\n World  ", "hello world"},
		{"ftfy unescapes until nothing changes", "Tom &amp;amp;amp; Jerry", "tom & jerry"},
		{"html.unescape runs twice after ftfy", "&lt;b&gt; &amp;amp;amp;", "<b> &"},
		{"no ftfy unescaping in a line with '<'", "<b> &amp;amp;amp;", "<b> &amp;"},
		{"nor in any line after it", "x &amp;amp;amp;\n<b> &amp;amp;amp;\n&amp;amp;amp;", "x & <b> &amp; &amp;"},
		{"upper-case entity names", "P&EACUTE;REZ &NTILDE; &nTILDE;", "pérez ñ &ntilde;"},
		{"Python html.unescape edge cases", "&notit; &amp &#59; &#x1F600; &#0; &#1;x", "¬it; & ; 😀 \uFFFD x"},
		{"curly quotes", "“quoted” ‘single’ it’s", `"quoted" 'single' it's`},
		{"latin ligatures", "ﬁne ﬂow ŉ", "fine flow 'n"},
		{"full and half width", "ＬＯＵＤ\u3000ＮＯＩＳＥＳ ｶﾀｶﾅ", "loud noises カタカナ"},
		{"width fix then unescape", "＆ａｍｐ；x", "&x"},
		{"terminal escapes", "\x1b[31mred\x1b[0m", "red"},
		{"C1 controls as Windows-1252", "a\u0085b\u0093c\u0094", "a…b\"c\""},
		{"unicode spaces and controls", "a\u00a0b\u2028c\x00d\ufeffe", "a b cde"},
		{"NFC", "cafe\u0301", "café"},
		{"final sigma", "ΟΔΟΣ Σ ΣΑ", "οδος σ σα"},
		{"final sigma context", "ΣΑΣ. ΑΣ' ΑΣ\u0301Β", "σας. ας' ασ\u0301β"},
		{"dotted capital I", "İstanbul", "i\u0307stanbul"},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cleanText(tt.in); got != tt.want {
				t.Errorf("cleanText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestSplitWords pins the pre-tokenizer to Python's regex module running
// CLIP's pattern with IGNORECASE.
func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"it's o'reilly's", []string{"it", "'s", "o", "'re", "illy", "'s"}},
		{"don't!!'ll", []string{"don", "'t", "!!'", "ll"}},
		{"''s", []string{"''", "s"}},
		{"it'ſ", []string{"it", "'ſ"}},   // long s folds to s
		{"a\u0345b", []string{"a", "b"}}, // ypogegrammeni matches nothing
		{"x<|endoftext|>y", []string{"x", "<|endoftext|>", "y"}},
		{"!<|endoftext|>", []string{"!<|", "endoftext", "|>"}},
		{"x²3 1,000", []string{"x", "²", "3", "1", ",", "0", "0", "0"}},
		{"東京タワー", []string{"東京タワー"}},
		{"👍🏽 ok", []string{"👍🏽", "ok"}},
		{"", nil},
	}
	for _, tt := range tests {
		var got []string
		splitWords(tt.in, func(w string) bool { got = append(got, w); return true })
		if !slices.Equal(got, tt.want) {
			t.Errorf("splitWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNestedEscapes(t *testing.T) {
	// ftfy peels nesting until nothing changes; html.unescape twice more.
	if got := cleanText("x " + "&" + strings.Repeat("amp;", 20)); got != "x &" {
		t.Errorf("20 levels of &amp;: got %q, want %q", got, "x &")
	}
	// Adversarial depth is bounded (maxFixRounds plus the two html.unescape
	// passes) rather than quadratic; it must finish and keep the rest.
	deep := "&" + strings.Repeat("amp;", 200_000)
	got := cleanText(deep)
	if want := "&" + strings.Repeat("amp;", 200_000-maxFixRounds-2); got != want {
		t.Errorf("deep nesting: got %d bytes, want %d", len(got), len(want))
	}
}
