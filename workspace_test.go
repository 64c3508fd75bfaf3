package mmrag

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTitleFrom(t *testing.T) {
	long := strings.Repeat("word ", 30)
	tests := []struct{ in, want string }{
		{"  What is CLIP?\n", "What is CLIP?"},
		{"a\tb\x00c", "a b c"},
		{long, strings.TrimSpace(strings.Repeat("word ", 11)) + "…"},
		{strings.Repeat("é", 100), strings.Repeat("é", 59) + "…"},
	}
	for _, tc := range tests {
		got := TitleFrom(tc.in)
		if got != tc.want {
			t.Errorf("TitleFrom(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if n := utf8.RuneCountInString(got); n > MaxAutoTitleRunes {
			t.Errorf("TitleFrom(%q) has %d characters", tc.in, n)
		}
	}
}
