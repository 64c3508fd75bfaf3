package prompt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mmrag"
	"mmrag/generate"
	"mmrag/refkb"
	"mmrag/retrieve"
	"mmrag/sqlite"
)

// End to end on the reference knowledge base: a passage's own vector as the
// question's, the reference's search, the reference's template.
func TestSeedBlogPrompt(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "fixtures", "seed-blog")
	if _, err := os.Stat(filepath.Join(dir, refkb.TextFile)); err != nil {
		t.Skipf("seed-blog fixture absent (%v)", err)
	}
	ctx := context.Background()
	kb, err := refkb.Read(ctx, dir, refkb.Options{Model: "clip"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var q []float32
	var want mmrag.Item
	for _, d := range kb.Docs {
		if err := s.PutDocument(ctx, d.Doc, d.Items, d.Vectors, d.Blobs); err != nil {
			t.Fatal(err)
		}
		for i, it := range d.Items {
			// The passage introducing contrastive learning.
			if strings.HasPrefix(it.Meta[mmrag.MetaText], "The standard approach to aligning") && it.Modality == mmrag.Text {
				q, want = d.Vectors[i].Values, it
			}
		}
	}
	if q == nil {
		t.Fatal("the fixture lacks the passage on contrastive learning")
	}
	raw := make([]float32, len(q))
	for i, x := range q {
		raw[i] = 8.5 * x
	}
	srch := &retrieve.Searcher{Store: s}
	res, err := srch.SearchVector(ctx, "clip", raw, retrieve.DefaultOptions(retrieve.Reference))
	if err != nil {
		t.Fatal(err)
	}
	msgs, cites := Build("question?", res, nil, Options{Style: Reference, MaxTokens: 100_000})
	if len(cites) == 0 || cites[0].ItemID != want.ID {
		t.Fatalf("first citation %+v, want item %s", cites, want.ID)
	}
	u := msgs[0].Content
	snip := "Snippet: " + want.Meta[mmrag.MetaText]
	if !strings.Contains(u, "Article: "+cites[0].Title+"\nSection: Contrastive Learning\n"+snip) {
		t.Errorf("prompt lacks the passage under its article and section:\n%s", u)
	}
	for _, c := range cites {
		if c.Modality == mmrag.Image && !strings.Contains(u, "Image "+c.Path+": ") {
			t.Errorf("figure %s (%s) missing:\n%s", c.ItemID, c.Path, u)
		}
	}
	t.Logf("%d passages, %d figures; %d characters", len(res.Text), len(res.Images), len(u))
	ans := generate.Extractive("What is the standard approach to aligning embedding spaces?", Passages(cites), 3)
	if !strings.HasPrefix(ans, "The standard approach to aligning disparate embedding spaces is contrastive learning (CL). [1]") {
		t.Errorf("extractive answer does not open with the best passage's matching sentence: %q", ans)
	}
	t.Logf("extractive answer: %s", ans)
}
