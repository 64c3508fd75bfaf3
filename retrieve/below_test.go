package retrieve

import (
	"context"
	"math"
	"testing"

	"mmrag"
	"mmrag/store/storetest"
)

// TestBelowThreshold: a modality that finds nothing because every item
// scored under its threshold says so with its best score, in the cosine
// and softmax scorings alike; one that found items, or had none to score,
// says nothing.
func TestBelowThreshold(t *testing.T) {
	s := openStore(t)
	put(t, s, storetest.Doc("d"),
		text("d", 0, "one", 3, 4, 0),
		img("d", 1, "a", "figure a", 0, 4, 3), // cosine 0.64 with q
		img("d", 2, "b", "figure b", 0, 0, 1), // 0
	)
	srch := &Searcher{Store: s, CLIP: &fakeCLIP{id: testModel, vecs: map[string][]float32{"q": {3, 4, 0}}}}
	for _, tc := range []struct {
		name      string
		mode      Mode
		threshold float64
		below     bool
		best      float64
	}{
		{"cosine under", Cosine, 0.9, true, 0.64},
		{"cosine passes", Cosine, 0.5, false, 0},
		{"softmax under", Reference, 0.9999, true, 1 / (1 + math.Exp(-3.2/0.5))}, // the query unnormalised: q·e = 5 × 0.64
		{"softmax passes", Reference, 0.5, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := DefaultOptions(tc.mode)
			opt.Images.Threshold = tc.threshold
			res, err := srch.Search(context.Background(), "q", opt)
			if err != nil {
				t.Fatal(err)
			}
			b, ok := res.Below[mmrag.Image]
			if ok != tc.below || tc.below && (len(res.Images) != 0 || b.Threshold != tc.threshold || math.Abs(b.Best-tc.best) > 1e-5) {
				t.Fatalf("below %+v (%v) with %d images; want %v best %v", b, ok, len(res.Images), tc.below, tc.best)
			}
			if _, ok := res.Below[mmrag.Text]; ok {
				t.Error("text noted below its threshold while found")
			}
		})
	}
	empty := &Searcher{Store: openStore(t), CLIP: srch.CLIP}
	res, err := empty.Search(context.Background(), "q", DefaultOptions(Cosine))
	if err != nil || len(res.Below) != 0 {
		t.Errorf("empty store: below %v (%v), want none", res.Below, err)
	}
}
