package generate

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestSentences(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"CLIP aligns text and images. It was trained on 400M pairs! Why? Scale.",
			[]string{"CLIP aligns text and images.", "It was trained on 400M pairs!", "Why?", "Scale."}},
		{"Models, e.g. LLaMA, see images. Dr. Smith agrees.", []string{"Models, e.g. LLaMA, see images.", "Dr. Smith agrees."}},
		{"Version 3.2 works. J. R. Tolkien wrote it.", []string{"Version 3.2 works.", "J. R. Tolkien wrote it."}},
		{"He said \"stop.\" Then left.", []string{"He said \"stop.\"", "Then left."}},
		{"Steps:\n- install it\n- run it", []string{"Steps:", "install it", "run it"}},
		{"no capital after. lower case continues", []string{"no capital after. lower case continues"}},
		{"", nil},
	}
	for _, c := range cases {
		if got := Sentences(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Sentences(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	long := strings.Repeat("word ", 200)
	if got := Sentences(long); len(got) != 1 || !strings.HasSuffix(got[0], "…") || len([]rune(got[0])) > maxSentenceChars+1 {
		t.Errorf("long sentence not cut: %d runes", len([]rune(got[0])))
	}
}

func TestStem(t *testing.T) {
	for in, want := range map[string]string{
		"models": "model", "embeddings": "embedding", "trained": "train", "images": "imag", "baked": "bak", "bake": "bak",
		"boxes": "box", "libraries": "library", "class": "class", "gas": "gas", "clip": "clip",
	} {
		if got := stem(in); got != want {
			t.Errorf("stem(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExtractive(t *testing.T) {
	passages := []Passage{
		{N: 1, Text: "Multimodal models process several kinds of data. CLIP was trained with a contrastive loss on image-caption pairs. It is widely used."},
		{N: 2, Text: "The contrastive loss pulls matching pairs together. Negative pairs are pushed apart."},
		{N: 3, Text: "Unrelated text about cooking pasta. Boil water first."},
		{N: 4, Figure: true, Caption: "CLIP's contrastive loss for text-image alignment."},
		{N: 5, Figure: true},
	}
	cases := []struct {
		name     string
		question string
		max      int
		want     []string // substrings, in this order
		absent   []string
	}{
		{"best sentences with citations", "How was CLIP trained? What loss?", 2,
			[]string{"CLIP was trained with a contrastive loss on image-caption pairs. [1]", "The contrastive loss pulls matching pairs together. [2]",
				"Figures:\n[4] CLIP's contrastive loss for text-image alignment.\n[5] (no caption)"},
			[]string{"pasta", "widely used"}},
		{"one sentence", "contrastive loss", 1, []string{"[1]"}, []string{"[2]", "pasta"}},
		{"no shared word: abstains, naming the closest sources", "zebra?", 1,
			[]string{NoAnswer, "[1] Multimodal models process several kinds of data.", "[2]"}, []string{"[4]"}},
		{"inflections match", "which images did the model see", 3, []string{"Multimodal models process several kinds of data. [1]"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Extractive(c.question, passages, c.max)
			at := 0
			for _, w := range c.want {
				i := strings.Index(got[at:], w)
				if i < 0 {
					t.Fatalf("answer %q lacks %q (in order)", got, w)
				}
				at += i + len(w)
			}
			for _, a := range c.absent {
				if strings.Contains(got, a) {
					t.Errorf("answer %q holds %q", got, a)
				}
			}
			text, _, _ := strings.Cut(got, "Figures:")
			if n := len(citation.FindAllString(text, -1)); n > c.max && !strings.HasPrefix(got, NoAnswer) {
				t.Errorf("answer %q quotes %d sentences, at most %d wanted", got, n, c.max)
			}
		})
	}
	if got := Extractive("anything", nil, 3); !strings.Contains(got, "No relevant passages") {
		t.Errorf("no passages: %q", got)
	}
	if got := Extractive("the loss plot", []Passage{{N: 1, Figure: true, Caption: "a  plot\nof loss"}}, 0); got != "Figures:\n[1] a plot of loss" {
		t.Errorf("figures only: %q", got)
	}
	// Duplicate sentences across passages are quoted once.
	dup := []Passage{{N: 1, Text: "CLIP is a model."}, {N: 2, Text: "CLIP is a model."}}
	if got := Extractive("what is CLIP", dup, 3); strings.Count(got, "CLIP is a model.") != 1 {
		t.Errorf("duplicate quoted twice: %q", got)
	}
}

var citation = regexp.MustCompile(`\[\d+\]`)

func TestAnswerWholeSentences(t *testing.T) {
	// Overlapping windows of one paragraph: the fragments a window cut are
	// not quoted, and no sentence is quoted twice.
	ps := []Passage{
		{N: 1, Text: "A key insight from CLIP is that by aligning text and"},
		{N: 2, Text: "the next article of this series covers retrieval. In the next article of this series, I discuss multimodal retrieval."},
		{N: 3, Text: "In the next article of this series, I discuss multimodal retrieval. A key insight from CLIP is that aligning text and images enables zero-shot classification."},
	}
	a := Answer("What insight from CLIP about aligning text and images does the next article discuss?", ps, ExtractiveOptions{Sentences: 5})
	if a.Abstained {
		t.Fatalf("abstained: %q", a.Text)
	}
	if strings.Contains(a.Text, "aligning text and [") || strings.Contains(a.Text, "the next article of this series covers") {
		t.Errorf("a fragment was quoted: %q", a.Text)
	}
	for _, s := range []string{"In the next article of this series, I discuss multimodal retrieval.", "A key insight from CLIP is that aligning text and images"} {
		if n := strings.Count(a.Text, s); n != 1 {
			t.Errorf("%q quoted %d times in %q", s, n, a.Text)
		}
	}
	if len(a.Cited) == 0 || a.Coverage <= 0 {
		t.Errorf("cited %v, coverage %v", a.Cited, a.Coverage)
	}
}

func TestAnswerAbstains(t *testing.T) {
	ps := []Passage{
		{N: 1, Text: "CLIP was trained with a contrastive loss on image-caption pairs.", Place: "Article: CLIP — Section: Training"},
		{N: 2, Figure: true, Caption: "The contrastive loss."},
	}
	a := Answer("What batch size and how many GPUs were used to pre-train the model?", ps, ExtractiveOptions{})
	if !a.Abstained || !strings.HasPrefix(a.Text, NoAnswer) || !strings.Contains(a.Text, "[1] Article: CLIP — Section: Training") {
		t.Errorf("weak evidence: %+v", a)
	}
	if !slices.Equal(a.Cited, []int{1, 2}) {
		t.Errorf("an abstention cites the closest sources: %v", a.Cited)
	}
	if a := Answer("What batch size and how many GPUs were used?", ps, ExtractiveOptions{MinCoverage: -1}); a.Abstained {
		t.Errorf("MinCoverage < 0 abstained: %q", a.Text)
	}
	if a := Answer("How was CLIP trained, with which loss?", ps, ExtractiveOptions{}); a.Abstained || a.Coverage < DefaultMinCoverage {
		t.Errorf("strong evidence abstained: %+v", a)
	}
}
