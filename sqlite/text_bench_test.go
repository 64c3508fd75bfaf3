package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"mmrag"
	"mmrag/store/storetest"
)

// benchStops are the stop words of the generated corpus: each is in about
// 64% of the items, as "the" and "of" are in English prose.
var benchStops = []string{"the", "of", "and", "a", "to", "in", "is", "it", "that", "for", "with", "as", "what"}

// fillText puts n text items (no vectors) into s, in documents of 1000
// items, each document of type "html" or "pdf" in turn. An item is 20 to 60 words:
// a third stop words, the rest drawn from a 20 000-word vocabulary with Zipf
// frequencies (w4 and w5 are in about half the items); its section path
// holds two vocabulary words.
func fillText(tb testing.TB, s *Store, n int) {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(r, 1.1, 1, 19_999)
	const perDoc = 1000
	for d := 0; d*perDoc < n; d++ {
		id := fmt.Sprintf("d%04d", d)
		doc := storetest.Doc(id)
		doc.Source = fmt.Sprintf("/data/%s.html", id)
		if d%2 == 1 {
			doc.Type = "pdf"
		}
		var items []mmrag.Item
		for i := 0; i < perDoc && d*perDoc+i < n; i++ {
			nw := 20 + r.IntN(41)
			w := make([]string, 0, nw)
			for range nw {
				if r.IntN(3) == 0 {
					w = append(w, benchStops[r.IntN(len(benchStops))])
				} else {
					w = append(w, fmt.Sprintf("w%d", zipf.Uint64()))
				}
			}
			it := storetest.TextItem(id, i, strings.Join(w, " "))
			it.Section = []string{fmt.Sprintf("w%d", zipf.Uint64()), fmt.Sprintf("w%d", zipf.Uint64())}
			items = append(items, it)
		}
		if err := s.PutDocument(context.Background(), doc, items, nil, nil); err != nil {
			tb.Fatal(err)
		}
	}
}

// textCorpus opens a store holding fillText's 10 000 items; the test is
// skipped with -short.
func textCorpus(t *testing.T) *Store {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a 10 000-item corpus")
	}
	s := openTemp(t)
	fillText(t, s, 10_000)
	return s
}

// Queries of BenchmarkSearchText and TestSearchTextPruned, over fillText's
// corpus: rare terms only; rare terms and one in about half the items (as
// hybrid search sends them); that term alone; a 20-word question, stop
// words included.
var benchTextQueries = []struct{ name, query string }{
	{"rare", "w2000 w9000 w15000"},
	{"half+rare", "w5 w150 w2000 w9000"},
	{"half-alone", "w5"},
	{"question", "what is the w5 of w150 and w2000 in the w9000 that w12 for w777 with a w3 as w40"},
}

// BenchmarkSearchText reports ms/query of SearchText (K=50, the depth
// hybrid search asks for) over n generated text items, without and with a
// filter that keeps half the documents: "pruned" is SearchText as it runs
// once the document frequencies of the query terms are cached, "cold"
// counts them at every query, "scan-all" scores every matching row (the
// store before pruning).
func BenchmarkSearchText(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			s := openTemp(b)
			fillText(b, s, n)
			for _, f := range []struct {
				name string
				f    mmrag.Filter
			}{{"", mmrag.Filter{}}, {"/filter=pdf", mmrag.Filter{Types: []string{"pdf"}}}} {
				for _, bq := range benchTextQueries {
					for _, impl := range []string{"pruned", "cold", "scan-all"} {
						b.Run(bq.name+f.name+"/"+impl, func(b *testing.B) {
							q := mmrag.TextQuery{Query: bq.query, K: 50, Filter: f.f}
							search := s.SearchText
							if impl == "scan-all" {
								search = func(ctx context.Context, q mmrag.TextQuery) ([]mmrag.Hit, error) { return scoreAll(ctx, s, q) }
							}
							hits := 0
							for b.Loop() {
								if impl == "cold" {
									s.ftsStats.mu.Lock()
									s.ftsStats.state = ""
									s.ftsStats.mu.Unlock()
								}
								h, err := search(b.Context(), q)
								if err != nil {
									b.Fatal(err)
								}
								hits = len(h)
							}
							if hits == 0 {
								b.Fatalf("SearchText(%q): no hits", bq.query)
							}
						})
					}
				}
			}
		})
	}
}

// BenchmarkPutText reports items/s for fillText's 10 000 text items (no
// vectors) put into an empty store: the full-text index and the term
// bounds (termbounds.go) are most of the work.
func BenchmarkPutText(b *testing.B) {
	const n = 10_000
	var took time.Duration
	for b.Loop() {
		s := openTemp(b)
		start := time.Now()
		fillText(b, s, n)
		took += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/took.Seconds(), "items/s")
}
