package onnxgraph

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	cliptok "mmrag/tokenizer"
)

// goroot is the GOROOT of the go command running the tests, whose sources
// are the prose the tests count words of.
func goroot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestWordTokenizer: the stand-in vocabulary built from Go's own comments
// counts English prose within 25 % of CLIP's real vocabulary (the seed
// posts, when ../shared has them), where the minimal one counts several
// times more: chunks keep CLIP's size offline.
func TestWordTokenizer(t *testing.T) {
	words, err := CountWords(filepath.Join(goroot(t), "src", "strings"))
	if err != nil || len(words) < 100 {
		t.Fatalf("CountWords: %d words (%v)", len(words), err)
	}
	vocab, merges := WordTokenizer(words, 0)
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("vocab.json", vocab)
	write("merges.txt", merges)
	tok, err := cliptok.Load(dir)
	if err != nil {
		t.Fatalf("the generated vocabulary does not load: %v", err)
	}
	if got := tok.Encode("the string"); len(got) != 4 { // start, the, string, end
		t.Errorf("\"the string\" → %v, want one token per common word", got)
	}
	tk, err := loadTokenizer("", words)
	if err != nil || tk.eos != tk.size-1 || tk.size > CLIPVocabSize {
		t.Fatalf("generated tokenizer: size %d eos %d (%v)", tk.size, tk.eos, err)
	}

	real, err := cliptok.Load("../../../shared/fixtures/clip-tokenizer")
	if err != nil {
		t.Skip("no CLIP vocabulary in ../shared to compare with:", err)
	}
	posts, _ := filepath.Glob("../../../shared/fixtures/seed-blog/local/*.html")
	if len(posts) == 0 {
		t.Skip("no seed posts in ../shared")
	}
	text, err := os.ReadFile(posts[0])
	if err != nil {
		t.Fatal(err)
	}
	prose := strings.Join(strings.Fields(stripTags(string(text))), " ")
	// A sample of Go's comments keeps the test quick; demo.sh counts them
	// all (GOROOT/src).
	all := map[string]int{}
	for _, sub := range []string{"net", "os", "fmt", "go", "encoding"} {
		part, err := CountWords(filepath.Join(goroot(t), "src", sub))
		if err != nil {
			t.Fatal(err)
		}
		for w, n := range part {
			all[w] += n
		}
	}
	vocab, merges = WordTokenizer(all, 0)
	write("vocab.json", vocab)
	write("merges.txt", merges)
	stand, err := cliptok.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, s := float64(real.Count(prose)), float64(stand.Count(prose))
	t.Logf("%s: %d words, CLIP %v tokens, stand-in %v (%.2f×)", filepath.Base(posts[0]), len(strings.Fields(prose)), r, s, s/r)
	if s/r > 1.25 || s/r < 0.8 {
		t.Errorf("stand-in counts %.0f tokens where CLIP counts %.0f: over 25 %% off", s, r)
	}
}

// stripTags drops HTML tags, roughly: enough to get prose to count.
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}
