package eval

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mmrag"
	"mmrag/refkb"
)

// seedBlogDir is the reference knowledge base the labeled set is written
// for: two blog posts, 86 passages and 17 figure records with their real
// CLIP ViT-B/16 vectors.
var seedBlogDir = filepath.Join("..", "..", "shared", "fixtures", "seed-blog")

// seedBlogSet is this package's labeled question set over seed-blog.
const seedBlogSet = "testdata/seed-blog.jsonl"

// clipModel labels the reference's vectors in test stores.
const clipModel = "Xenova/clip-vit-base-patch16"

func needSeedBlog(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(seedBlogDir, refkb.TextFile)); err != nil {
		t.Skipf("seed-blog fixture absent (%v)", err)
	}
}

func seedBlogItems(t testing.TB) (*refkb.KB, []mmrag.Item) {
	t.Helper()
	needSeedBlog(t)
	kb, err := refkb.Read(context.Background(), seedBlogDir, refkb.Options{Model: clipModel})
	if err != nil {
		t.Fatal(err)
	}
	var items []mmrag.Item
	for _, d := range kb.Docs {
		items = append(items, d.Items...)
	}
	return kb, items
}

func TestRead(t *testing.T) {
	good := `{"id":"a","question":"q?","expect":[{"modality":"text","match":"x"}],"kind":"fact"}`
	tests := []struct {
		name, in, err string
		n             int
	}{
		{"one", good, "", 1},
		{"comments and blanks", "# c\n\n// c\n" + good + "\n", "", 1},
		{"empty", "\n# only a comment\n", "no questions", 0},
		{"bad json", "{", "t.jsonl:1:", 0},
		{"unknown field", `{"id":"a","question":"q","expects":[],"kind":"fact"}`, "unknown field", 0},
		{"two values", good + good, "more than one JSON value", 0},
		{"no id", `{"question":"q","expect":[{"modality":"text","match":"x"}],"kind":"fact"}`, "no id", 0},
		{"no question", `{"id":"a","question":" ","expect":[{"modality":"text","match":"x"}],"kind":"fact"}`, "empty question", 0},
		{"bad kind", `{"id":"a","question":"q","expect":[{"modality":"text","match":"x"}],"kind":"trivia"}`, `kind "trivia"`, 0},
		{"no expect", `{"id":"a","question":"q","expect":[],"kind":"fact"}`, "no expected items", 0},
		{"bad modality", `{"id":"a","question":"q","expect":[{"modality":"audio","match":"x"}],"kind":"fact"}`, `modality "audio"`, 0},
		{"empty match", `{"id":"a","question":"q","expect":[{"modality":"text","match":""}],"kind":"fact"}`, "empty match", 0},
		{"figure with text", `{"id":"a","question":"q","expect":[{"modality":"text","match":"x"}],"kind":"figure"}`, "only images", 0},
		{"fact with image", `{"id":"a","question":"q","expect":[{"modality":"image","match":"x"}],"kind":"fact"}`, "only text", 0},
		{"multi with one", `{"id":"a","question":"q","expect":[{"modality":"image","match":"x"}],"kind":"multi"}`, "at least two", 0},
		{"duplicate id", good + "\n" + good, "already used on line 1", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Read(strings.NewReader(tc.in), "t.jsonl")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Questions) != tc.n {
				t.Fatalf("%d questions, want %d", len(s.Questions), tc.n)
			}
		})
	}
}

func TestReadLongLine(t *testing.T) {
	_, err := Read(strings.NewReader(strings.Repeat("x", maxLine+10)), "big.jsonl")
	if err == nil || !strings.Contains(err.Error(), "big.jsonl") {
		t.Fatalf("error %v, want one naming the file", err)
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "none.jsonl"))
	if err == nil || !strings.Contains(err.Error(), "none.jsonl") {
		t.Fatalf("error %v, want one naming the file", err)
	}
}

func TestResolve(t *testing.T) {
	items := []mmrag.Item{
		{ID: "t1", Modality: mmrag.Text, Text: "Intro: CLIP aligns text and images", Meta: map[string]string{mmrag.MetaText: "CLIP aligns text and images"}},
		{ID: "t2", Modality: mmrag.Text, Text: "Intro: something else"},
		{ID: "i1", Modality: mmrag.Image, Caption: "A cat", Meta: map[string]string{mmrag.MetaImagePath: "images/1.png"}},
		{ID: "i2", Modality: mmrag.Image, Caption: "The same cat again", Meta: map[string]string{mmrag.MetaImagePath: "images/1.png"}},
		{ID: "i3", Modality: mmrag.Image, Caption: "", Meta: map[string]string{mmrag.MetaImagePath: "images/12.png", mmrag.MetaCaption: "No caption available"}},
	}
	tests := []struct {
		name  string
		e     Expect
		want  []string
		wantE bool
	}{
		{"text substring", Expect{Modality: mmrag.Text, Match: "aligns text"}, []string{"t1"}, false},
		{"section is in Text", Expect{Modality: mmrag.Text, Match: "Intro:"}, []string{"t1", "t2"}, false},
		{"modality must agree", Expect{Modality: mmrag.Image, Match: "aligns text"}, nil, true},
		{"figure stored twice", Expect{Modality: mmrag.Image, Match: "images/1.png"}, []string{"i1", "i2"}, false},
		{"caption", Expect{Modality: mmrag.Image, Match: "again"}, []string{"i2"}, false},
		{"raw caption meta", Expect{Modality: mmrag.Image, Match: "No caption"}, []string{"i3"}, false},
		{"case-sensitive", Expect{Modality: mmrag.Text, Match: "clip"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Set{Name: "t", Questions: []Question{{ID: "q", Question: "q", Kind: KindFact, Expect: []Expect{tc.e}}}}
			err := s.Resolve(items)
			var ue *UnresolvedError
			if tc.wantE {
				if !errors.As(err, &ue) || len(ue.Missing) != 1 || !strings.Contains(err.Error(), tc.e.Match) {
					t.Fatalf("error %v, want an UnresolvedError naming %q", err, tc.e.Match)
				}
				if _, err := Run(context.Background(), s, func(context.Context, string) ([]Ranked, error) { return nil, nil }, nil); err == nil {
					t.Fatal("Run accepted an unresolved set")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Questions[0].Expect[0].IDs; strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("resolved to %v, want %v", got, tc.want)
			}
		})
	}
}

// The labeled set is well-formed and every expectation names exactly one
// passage or one picture of the reference knowledge base.
func TestSeedBlogSet(t *testing.T) {
	set, err := ReadFile(seedBlogSet)
	if err != nil {
		t.Fatal(err)
	}
	kinds := set.KindCounts()
	t.Logf("%d questions: %v", len(set.Questions), kinds)
	if len(set.Questions) < 40 || kinds[KindFigure] < 8 || kinds[KindMulti] < 1 {
		t.Errorf("%d questions, %d figure-only, %d multi: want at least 40, 8 and 1", len(set.Questions), kinds[KindFigure], kinds[KindMulti])
	}
	questions := map[string]string{}
	for _, q := range set.Questions {
		if prev, dup := questions[strings.ToLower(q.Question)]; dup {
			t.Errorf("questions %s and %s ask the same", prev, q.ID)
		}
		questions[strings.ToLower(q.Question)] = q.ID
		for _, e := range q.Expect {
			// Figures are named by their file: captions are credits
			// ("Image by author."), not what a figure shows.
			if e.Modality == mmrag.Image && !strings.HasPrefix(e.Match, "images/") {
				t.Errorf("%s: image expectation %q is not an image path", q.ID, e.Match)
			}
		}
	}

	_, items := seedBlogItems(t)
	if err := set.Resolve(items); err != nil {
		t.Fatal(err)
	}
	byID := map[string]mmrag.Item{}
	for _, it := range items {
		byID[it.ID] = it
	}
	figures := map[string]bool{}
	for _, q := range set.Questions {
		for _, e := range q.Expect {
			if len(e.IDs) == 0 {
				t.Errorf("%s: %q resolved to nothing", q.ID, e.Match)
			}
			blobs := map[string]bool{}
			for _, id := range e.IDs {
				blobs[byID[id].BlobHash] = true
			}
			switch {
			case e.Modality == mmrag.Text && len(e.IDs) != 1:
				t.Errorf("%s: text match %q names %d passages, want exactly 1", q.ID, e.Match, len(e.IDs))
			case e.Modality == mmrag.Image && len(blobs) != 1:
				t.Errorf("%s: image match %q names %d different pictures, want exactly 1", q.ID, e.Match, len(blobs))
			}
			if e.Modality == mmrag.Image {
				for b := range blobs {
					figures[b] = true
				}
			}
		}
	}
	if len(figures) < 10 {
		t.Errorf("the set asks about %d distinct figures; want at least 10 of the 15", len(figures))
	}
}
