package sqlite

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"mmrag"
	"mmrag/store/storetest"
)

// TestTermBounds checks a learned bound against every row of its term: the
// best single-term score, within 1e-9, and never above the formula's
// (k1+1)·IDF; and that a write to the index drops the bounds.
func TestTermBounds(t *testing.T) {
	ctx := t.Context()
	s := textCorpus(t)
	phrases := []string{`"w5"`, `"w40"`, `"w150"`, `"w2000"`, `"nosuchword"`}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, stats, err := s.ftsStats.lookup(ctx, tx, phrases)
	tx.Rollback()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.termBounds(ctx, phrases); err != nil {
		t.Fatal(err)
	}
	for _, st := range stats {
		hits, err := scoreAll(ctx, s, mmrag.TextQuery{Query: st.phrase})
		if err != nil {
			t.Fatal(err)
		}
		s.ftsStats.mu.Lock()
		most, ok := s.ftsStats.most[st.phrase]
		s.ftsStats.mu.Unlock()
		if len(hits) == 0 {
			if ok {
				t.Errorf("%s is in no row, but has a bound %v", st.phrase, most)
			}
			continue
		}
		best := float64(hits[0].Score) // scoreAll: best first, float32
		if !ok || math.Abs(most-best) > 1e-6*best || most > (bm25K1+1)*st.idf {
			t.Errorf("%s (in %d rows): bound %v (known %v), want its best row's %v, under (k1+1)·IDF %v",
				st.phrase, st.df, most, ok, best, (bm25K1+1)*st.idf)
		}
		t.Logf("%s: %d rows, bound %.3f, formula %.3f", st.phrase, st.df, most, (bm25K1+1)*st.idf)
	}

	if err := s.PutDocument(ctx, storetest.Doc("new"), []mmrag.Item{storetest.TextItem("new", 0, "w5 w150")}, nil, nil); err != nil {
		t.Fatal(err)
	}
	tx, err = s.r.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, stats, err = s.ftsStats.lookup(ctx, tx, phrases)
	tx.Rollback()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stats {
		if st.most != 0 {
			t.Errorf("%s keeps its bound %v after a write", st.phrase, st.most)
		}
	}
}

// TestLearnBounds runs queries of a middle term (in a quarter of the
// rows) and a rarer one that the formula's bounds cannot prune: each scores
// every row, a learner then finds the terms' bounds in the background, and
// the same query again returns the same hits — pruned, for at least one of
// them.
func TestLearnBounds(t *testing.T) {
	ctx := t.Context()
	s := textCorpus(t)
	learned := make(chan struct{}, 1)
	s.bg.learned = func() { learned <- struct{}{} }
	var tr textTrace
	s.traceText = func(t textTrace) { tr = t }

	tried, prunedAfter := 0, 0
	for mid := 5; mid <= 12; mid++ {
		for rare := 20; rare <= 60; rare += 10 {
			q := mmrag.TextQuery{Query: fmt.Sprintf("w%d w%d", rare, mid), K: 10}
			tr = textTrace{}
			first, err := s.SearchText(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if tr.pruned || tr.attempts == 0 && tr.allRows < boundMinRows {
				continue // pruned already, or too few rows to learn from
			}
			select {
			case <-learned:
			case <-time.After(time.Minute):
				continue // nothing to learn: the terms' bounds are known
			}
			tried++
			tr = textTrace{}
			again, err := s.SearchText(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if tr.pruned {
				prunedAfter++
			}
			if !slices.Equal(again, first) {
				t.Errorf("%q: hits differ once bounds are learned:\n got %v\nwant %v", q.Query, again, first)
			}
		}
	}
	t.Logf("%d queries scored every row and learned bounds; %d of them then pruned", tried, prunedAfter)
	if prunedAfter == 0 {
		t.Errorf("no query was pruned after learning its bounds (%d tried)", tried)
	}
}
