package retrieve

import (
	"context"
	"sync"
	"testing"

	"mmrag"
	"mmrag/store/storetest"
)

// recordingStore records whether each vector search let the store answer
// approximately.
type recordingStore struct {
	mmrag.Store
	mu     sync.Mutex
	approx map[mmrag.Modality][]bool
	maxK   int // the largest K asked for
}

func (r *recordingStore) SearchVectors(ctx context.Context, q mmrag.VectorQuery) ([]mmrag.Hit, error) {
	r.mu.Lock()
	r.approx[q.Modality] = append(r.approx[q.Modality], q.Approximate)
	r.maxK = max(r.maxK, q.K)
	r.mu.Unlock()
	return r.Store.SearchVectors(ctx, q)
}

// Cosine search and hybrid search's dense ranking of text items rank the
// top K and may be answered by an approximate index; the softmax of the
// reference scoring (and of hybrid's image items) needs the exact scores
// and never is.
func TestApproximateOnlyForTopK(t *testing.T) {
	s := openStore(t)
	put(t, s, storetest.Doc("d"),
		text("d", 0, "alpha one", 3, 4, 0),
		text("d", 1, "beta two", 4, 3, 0),
		img("d", 2, "fig", "alpha figure", 3, 4, 1),
	)
	for _, c := range []struct {
		mode       Mode
		text, imgs bool
	}{{Reference, false, false}, {Cosine, true, true}, {Hybrid, true, false}} {
		t.Run(string(c.mode), func(t *testing.T) {
			rec := &recordingStore{Store: s, approx: map[mmrag.Modality][]bool{}}
			srch := &Searcher{Store: rec, CLIP: &fakeCLIP{id: testModel, vecs: map[string][]float32{"alpha": {3, 4, 0}}}}
			if _, err := srch.Search(context.Background(), "alpha", DefaultOptions(c.mode)); err != nil {
				t.Fatal(err)
			}
			for m, want := range map[mmrag.Modality]bool{mmrag.Text: c.text, mmrag.Image: c.imgs} {
				if len(rec.approx[m]) == 0 {
					t.Fatalf("no vector search of %s items", m)
				}
				for i, a := range rec.approx[m] {
					if a != want {
						t.Errorf("%s search %d: Approximate = %v, want %v", m, i, a, want)
					}
				}
			}
		})
	}
}
