package sqlite

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"mmrag"
	"mmrag/store/storetest"
)

// scoreAll is the search SearchText prunes: every row matching any term
// scored by bm25(), as the store did before pruning. It is the reference of
// the tests and the baseline of BenchmarkSearchText.
func scoreAll(ctx context.Context, s *Store, q mmrag.TextQuery) ([]mmrag.Hit, error) {
	match := ftsQuery(q.Query)
	if match == "" {
		return nil, nil
	}
	where, args, err := filterSQL(q.Filter)
	if err != nil {
		return nil, err
	}
	limit := q.K
	if limit <= 0 {
		limit = -1
	}
	args = append([]any{match}, args...)
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, `
		SELECT i.id, bm25(items_fts, 1.0, 0.5) AS r
		FROM items_fts
		JOIN items i ON i.rowid = items_fts.rowid
		JOIN documents d ON d.id = i.doc_id
		WHERE items_fts MATCH ? AND `+where+`
		ORDER BY r, i.id
		LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hits []mmrag.Hit
	for rows.Next() {
		var h mmrag.Hit
		var r float64
		if err := rows.Scan(&h.ItemID, &r); err != nil {
			return nil, err
		}
		h.Score = float32(-r)
		hits = append(hits, h)
	}
	return hits, rows.Err()
}

// TestSearchTextPruned compares SearchText with scoring every matching row
// over a generated corpus, for the benchmark queries and random ones of
// words of every frequency: the same number of hits, the same score at
// every rank (so the best K, up to ties), each hit's score its true one, and
// on average 90% of the ten best ids the same (ties aside, all of them). Scores may differ by the
// terms in half the rows or more, 2.2e-6 each at most. It compares twice:
// pruning by the formula's bounds, then by the bounds the terms' rows hold
// (termbounds.go), which must prune more searches.
func TestSearchTextPruned(t *testing.T) {
	s := textCorpus(t)
	var traces []textTrace
	s.traceText = func(tr textTrace) { traces = append(traces, tr) }

	r := rand.New(rand.NewPCG(7, 8))
	zipf := rand.NewZipf(r, 1.1, 1, 19_999)
	var queries []string
	for _, bq := range benchTextQueries {
		queries = append(queries, bq.query)
	}
	for range 30 {
		var w []string
		for range 2 + r.IntN(9) {
			switch r.IntN(4) {
			case 0:
				w = append(w, benchStops[r.IntN(len(benchStops))])
			case 1:
				w = append(w, fmt.Sprint("w", 1+r.IntN(20_000))) // mostly rare
			default:
				w = append(w, fmt.Sprint("w", zipf.Uint64()))
			}
		}
		queries = append(queries, strings.Join(w, " "))
	}
	// Pass 1 prunes by the formula's bounds only, pass 2 by the term
	// bounds. Both try pruning however few rows match.
	s.pruneMinRows = 0
	s.formulaBounds = true
	before := compareTextPruned(t, s, queries, &traces)
	s.formulaBounds = false
	after := compareTextPruned(t, s, queries, &traces)
	if after <= before {
		t.Errorf("%d searches pruned with the term bounds, %d without: want more", after, before)
	}
}

// compareTextPruned is TestSearchTextPruned's comparison; it returns the
// number of searches answered by pruning.
func compareTextPruned(t *testing.T, s *Store, queries []string, traces *[]textTrace) int {
	t.Helper()
	ctx := t.Context()
	filters := []struct {
		name string
		f    mmrag.Filter
	}{
		{"all", mmrag.Filter{}},
		{"pdf", mmrag.Filter{Types: []string{"pdf"}}},
		{"2 docs", mmrag.Filter{DocIDs: []string{"d0003", "d0007"}}},
	}
	var overlap float64
	var compared, pruned int
	for _, query := range queries {
		for _, fc := range filters {
			all, err := scoreAll(ctx, s, mmrag.TextQuery{Query: query, Filter: fc.f})
			if err != nil {
				t.Fatalf("scoreAll(%q): %v", query, err)
			}
			truth := map[string]float32{}
			for _, h := range all {
				truth[h.ItemID] = h.Score
			}
			nTerms := len(queryTerms(query))
			for _, k := range []int{1, 10, 50} {
				*traces = (*traces)[:0]
				got, err := s.SearchText(ctx, mmrag.TextQuery{Query: query, K: k, Filter: fc.f})
				if err != nil {
					t.Fatalf("SearchText(%q, K=%d, %s): %v", query, k, fc.name, err)
				}
				if len(*traces) == 1 && (*traces)[0].pruned {
					pruned++
				}
				want := all[:min(k, len(all))]
				if len(got) != len(want) {
					t.Errorf("SearchText(%q, K=%d, %s) = %d hits, want %d", query, k, fc.name, len(got), len(want))
					continue
				}
				for i, h := range got {
					tol := 1e-5 + 3e-6*float64(nTerms) + 1e-6*math.Abs(float64(want[i].Score))
					if d := math.Abs(float64(h.Score - want[i].Score)); d > tol {
						t.Errorf("SearchText(%q, K=%d, %s): rank %d scores %v, want %v", query, k, fc.name, i, h.Score, want[i].Score)
						break
					}
					ts, ok := truth[h.ItemID]
					if !ok {
						t.Errorf("SearchText(%q, K=%d, %s): hit %s does not match", query, k, fc.name, h.ItemID)
						break
					}
					if d := math.Abs(float64(h.Score - ts)); d > tol {
						t.Errorf("SearchText(%q, K=%d, %s): %s scores %v, its score is %v", query, k, fc.name, h.ItemID, h.Score, ts)
						break
					}
				}
				if k == 10 && len(want) > 0 {
					same := 0
					for _, h := range got {
						if slices.ContainsFunc(want, func(w mmrag.Hit) bool { return w.ItemID == h.ItemID }) {
							same++
						}
					}
					overlap += float64(same) / float64(len(want))
					compared++
				}
			}
		}
	}
	mean := overlap / float64(compared)
	t.Logf("%d queries × %d filters × 3 K: %d answered by pruning; mean top-10 overlap %.3f", len(queries), len(filters), pruned, mean)
	if mean < 0.9 {
		t.Errorf("mean top-10 overlap %.3f, want ≥ 0.9", mean)
	}
	if pruned < len(queries) {
		t.Errorf("%d searches answered by pruning, want at least %d: the test does not exercise it", pruned, len(queries))
	}
	return pruned
}

// TestSearchTextPrunes checks that the queries of BenchmarkSearchText that
// can be pruned are: they score a small part of the matching rows.
func TestSearchTextPrunes(t *testing.T) {
	s := textCorpus(t)
	var tr textTrace
	s.traceText = func(t textTrace) { tr = t }
	for _, tc := range []struct {
		query  string
		pruned bool
	}{
		{benchTextQueries[1].query, true}, // half+rare
		{benchTextQueries[3].query, true}, // question
		{"the of and", false},             // stop words only: nothing rarer
	} {
		tr = textTrace{}
		hits, err := s.SearchText(t.Context(), mmrag.TextQuery{Query: tc.query, K: 10})
		if err != nil || len(hits) != 10 {
			t.Fatalf("SearchText(%q) = %d hits, %v; want 10", tc.query, len(hits), err)
		}
		t.Logf("%q: %+v", tc.query, tr)
		if tr.pruned != tc.pruned {
			t.Errorf("SearchText(%q): pruned %v, want %v (%+v)", tc.query, tr.pruned, tc.pruned, tr)
		}
		if tc.pruned && tr.rows*5 > tr.allRows {
			t.Errorf("SearchText(%q) scored %d of %d rows, want under a fifth", tc.query, tr.rows, tr.allRows)
		}
	}
}

// TestSearchTextEdges covers K ≤ 0, queries without terms or without
// matching terms, and a filter nothing passes, on the pruned path too.
func TestSearchTextEdges(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	s.pruneMinRows = 0
	var items []mmrag.Item
	for i := range 40 {
		text := fmt.Sprintf("common words in every item number %d", i)
		if i%10 == 0 {
			text += " zebra"
		}
		items = append(items, storetest.TextItem("e", i, text))
	}
	if err := s.PutDocument(ctx, storetest.Doc("e"), items, nil, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		q     mmrag.TextQuery
		want  int
		first string
	}{
		{"K=0 returns all", mmrag.TextQuery{Query: "common zebra", K: 0}, 40, "e#t0"},
		{"K<0 returns all", mmrag.TextQuery{Query: "common zebra", K: -5}, 40, "e#t0"},
		{"K bounds", mmrag.TextQuery{Query: "common zebra", K: 3}, 3, "e#t0"},
		{"K over hits", mmrag.TextQuery{Query: "common zebra", K: 100}, 40, "e#t0"},
		{"rare term fills K", mmrag.TextQuery{Query: "zebra common", K: 4}, 4, "e#t0"},
		{"frequent terms fill K", mmrag.TextQuery{Query: "zebra common", K: 6}, 6, "e#t0"},
		{"empty", mmrag.TextQuery{Query: "", K: 10}, 0, ""},
		{"punctuation", mmrag.TextQuery{Query: `"*:()^-`, K: 10}, 0, ""},
		{"absent words", mmrag.TextQuery{Query: "okapi narwhal", K: 10}, 0, ""},
		{"absent and present", mmrag.TextQuery{Query: "okapi zebra", K: 10}, 4, "e#t0"},
		{"FTS syntax", mmrag.TextQuery{Query: `NEAR(zebra common) AND text:zebra*`, K: 10}, 10, "e#t0"},
		{"filter passes nothing", mmrag.TextQuery{Query: "common zebra", K: 10, Filter: mmrag.Filter{DocIDs: []string{"other"}}}, 0, ""},
		{"filter passes all", mmrag.TextQuery{Query: "common zebra", K: 10, Filter: mmrag.Filter{DocIDs: []string{"e"}}}, 10, "e#t0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits, err := s.SearchText(ctx, tc.q)
			if err != nil {
				t.Fatalf("SearchText: %v", err)
			}
			if len(hits) != tc.want {
				t.Fatalf("SearchText(%+v) = %d hits, want %d", tc.q, len(hits), tc.want)
			}
			if tc.first != "" && hits[0].ItemID != tc.first {
				t.Errorf("SearchText(%+v) ranks %s first, want %s", tc.q, hits[0].ItemID, tc.first)
			}
			want, err := scoreAll(ctx, s, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			for i := range hits {
				if math.Abs(float64(hits[i].Score-want[i].Score)) > 1e-5 {
					t.Errorf("rank %d scores %v, want %v", i, hits[i].Score, want[i].Score)
				}
			}
		})
	}
}

// TestSearchTextFollowsWrites checks that cached document frequencies go
// stale with the index: a word rare at first, then in most items, changes
// which terms are pruned, and the hits stay those of the whole query.
func TestSearchTextFollowsWrites(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	s.pruneMinRows = 0
	put := func(id string, n int, text func(i int) string) {
		t.Helper()
		var items []mmrag.Item
		for i := range n {
			items = append(items, storetest.TextItem(id, i, text(i)))
		}
		if err := s.PutDocument(ctx, storetest.Doc(id), items, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	put("a", 30, func(i int) string {
		if i < 3 {
			return fmt.Sprintf("item %d about the quokka", i)
		}
		return fmt.Sprintf("item %d about the wombat", i)
	})
	check := func(step string) {
		t.Helper()
		q := mmrag.TextQuery{Query: "quokka wombat", K: 3}
		got, err := s.SearchText(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want, err := scoreAll(ctx, s, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d hits, want %d", step, len(got), len(want))
		}
		for i := range got {
			if math.Abs(float64(got[i].Score-want[i].Score)) > 1e-5 {
				t.Errorf("%s: rank %d scores %v, want %v", step, i, got[i].Score, want[i].Score)
			}
		}
	}
	check("quokka rare")
	// Now quokka is in most items and wombat rare.
	put("b", 60, func(i int) string { return fmt.Sprintf("quokka number %d", i) })
	put("a", 30, func(i int) string { return fmt.Sprintf("item %d about the quokka", i) })
	put("c", 2, func(i int) string { return fmt.Sprintf("a wombat %d", i) })
	check("quokka frequent")
	if err := s.DeleteDocument(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	check("after delete")
}

// TestSearchTextConcurrent runs pruned searches while documents change
// (for the race detector: the frequency cache is shared).
func TestSearchTextConcurrent(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	s.pruneMinRows = 0
	put := func(v int) error {
		var items []mmrag.Item
		for i := range 30 {
			text := fmt.Sprintf("item %d version %d about the wombat", i, v)
			if (i+v)%7 == 0 {
				text += " quokka"
			}
			items = append(items, storetest.TextItem("a", i, text))
		}
		return s.PutDocument(ctx, storetest.Doc("a"), items, nil, nil)
	}
	if err := put(0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	wg.Go(func() {
		for v := 1; v <= 20; v++ {
			if err := put(v); err != nil {
				errs <- err
				return
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 50 {
				hits, err := s.SearchText(ctx, mmrag.TextQuery{Query: "quokka wombat the", K: 3})
				if err != nil {
					errs <- err
					return
				}
				if len(hits) != 3 || hits[0].Score < hits[2].Score {
					errs <- fmt.Errorf("SearchText = %v, want 3 hits, best first", hits)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSQLiteVarint(t *testing.T) {
	tests := []struct {
		in   []byte
		want int64
		n    int
	}{
		{[]byte{0x00}, 0, 1},
		{[]byte{0x7f, 0xff}, 127, 1},
		{[]byte{0x81, 0x00}, 128, 2},
		{[]byte{0x86, 0xc3, 0x17}, 106_903, 3},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, -1, 9},
		{[]byte{0x81}, 0, 0},
		{nil, 0, 0},
	}
	for _, tc := range tests {
		got, n := sqliteVarint(tc.in)
		if got != tc.want || n != tc.n {
			t.Errorf("sqliteVarint(%x) = %d, %d; want %d, %d", tc.in, got, n, tc.want, tc.n)
		}
	}
}
