package retrieve

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mmrag"
	"mmrag/sqlite"
	"mmrag/store/storetest"
)

const benchDim = 512

// fillBench puts n text items with random 512-d vectors into s, in
// documents of 10 000 items. Their text is 40 words: a third stop words,
// the rest drawn from a 20 000-word vocabulary with Zipf frequencies, as
// in natural text.
func fillBench(b testing.TB, s mmrag.Store, n int) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(r, 1.1, 1, 19_999)
	stops := []string{"the", "of", "and", "a", "to", "in", "is", "it", "that", "for", "with", "as", "what"}
	const perDoc = 10_000
	for d := 0; d*perDoc < n; d++ {
		id := fmt.Sprintf("d%04d", d)
		var items []mmrag.Item
		var vecs []mmrag.Vector
		for i := 0; i < perDoc && d*perDoc+i < n; i++ {
			var w []string
			for range 40 {
				if r.IntN(3) == 0 {
					w = append(w, stops[r.IntN(len(stops))])
				} else {
					w = append(w, fmt.Sprintf("w%d", zipf.Uint64()))
				}
			}
			it := storetest.TextItem(id, i, strings.Join(w, " "))
			items = append(items, it)
			vecs = append(vecs, mmrag.Vector{ItemID: it.ID, Model: testModel, Values: storetest.RandomVector(r, benchDim)})
		}
		if err := s.PutDocument(context.Background(), storetest.Doc(id), items, vecs, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// benchQuery has stop words and content words of high, middle and low
// frequency (w3 is in about half the items); rareQuery only rare ones.
const (
	benchQuery = "what is the w3 of w150 and w2000 in w9000"
	rareQuery  = "what is the w2000 of w9000"
)

// BenchmarkSearch is one search (query embedding excluded: a fixed raw
// vector of norm 8.5) over n stored 512-d text items in the sqlite store.
func BenchmarkSearch(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			s := openStore(b)
			fillBench(b, s, n)
			benchSearch(b, s)
		})
	}
}

// BenchmarkSearchLarge is BenchmarkSearch over MMRAG_BENCH_ITEMS items
// (skipped when unset; say 1000000) in the knowledge base folder
// MMRAG_BENCH_KB (a temporary one when unset), filled on the first run and
// reused by the next: at 1M items the fill takes ≈ 10 min and the
// approximate index ≈ 6 min more to build in the background, which the
// benchmark waits for; a later run loads the saved index instead. It logs
// the fill, the matrix load and the wait for the index.
func BenchmarkSearchLarge(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("MMRAG_BENCH_ITEMS"))
	if n <= 0 {
		b.Skip("set MMRAG_BENCH_ITEMS (and MMRAG_BENCH_KB to keep the knowledge base)")
	}
	dir := os.Getenv("MMRAG_BENCH_KB")
	if dir == "" {
		dir = b.TempDir()
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	st, err := s.Stats(ctx)
	if err != nil {
		b.Fatal(err)
	}
	switch have := st.Items[mmrag.Text]; have {
	case 0:
		start := time.Now()
		fillBench(b, s, n)
		b.Logf("filled %d items in %v", n, time.Since(start).Round(time.Second))
	case n:
	default:
		b.Fatalf("%s holds %d text items, not %d: empty it or name another folder", dir, have, n)
	}
	start := time.Now()
	q := make([]float32, benchDim)
	q[0] = 1
	if _, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: testModel, Modality: mmrag.Text, Vector: q, K: 1}); err != nil {
		b.Fatal(err)
	}
	b.Logf("vector matrix loaded in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	for !annReady(s) {
		time.Sleep(100 * time.Millisecond)
	}
	b.Logf("approximate index ready in %v more", time.Since(start).Round(time.Millisecond))
	b.Logf("memory once loaded: %s", residentMemory())
	benchSearch(b, s)
}

// residentMemory reads the process's resident memory from /proc: all of
// it, its anonymous part (the Go heap and stacks) and its file-backed part
// (mapped files: the row files of large vector matrices, whose pages the
// kernel may evict).
func residentMemory() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, k := range []string{"VmRSS:", "RssAnon:", "RssFile:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				out = append(out, k+" "+strings.Join(strings.Fields(v), " "))
			}
		}
	}
	return strings.Join(out, ", ")
}

// annReady reports whether the store's text index holds every row.
func annReady(s *sqlite.Store) bool {
	for _, st := range s.ANNStatus() {
		if st.Modality == mmrag.Text && st.Model == testModel {
			return st.Pending == 0
		}
	}
	return false
}

// benchSearch runs the scoring modes over the items fillBench put in s.
func benchSearch(b *testing.B, s *sqlite.Store) {
	r := rand.New(rand.NewPCG(3, 4))
	q := scale(storetest.RandomVector(r, benchDim), rawNorm)
	const query = benchQuery
	vecs := map[string][]float32{query: q, rareQuery: q}
	for i := range newTermQueries {
		vecs[newTermQuery(i)] = q
	}
	srch := &Searcher{Store: s, CLIP: &fakeCLIP{id: testModel, vecs: vecs}}
	pooled := DefaultOptions(Reference)
	pooled.Text.Pool = 100
	cases := []struct {
		name  string
		query string
		opt   Options
	}{
		{"cosine", query, DefaultOptions(Cosine)},
		{"hybrid", query, DefaultOptions(Hybrid)},
		{"hybrid/rare-terms", rareQuery, DefaultOptions(Hybrid)},
		{"reference", query, DefaultOptions(Reference)},
		{"reference/pool=100", query, pooled},
	}
	// What the stop-word filter saves: BM25 alone, on the query as
	// typed and as hybrid mode sends it. The first search of the first
	// (first-ms) runs before the store knows its terms' bounds (the
	// sqlite store learns them in the background after a search that had
	// to score every row); the others after.
	for _, bq := range []struct{ name, q string }{{"bm25/as-typed", query}, {"bm25/keywords", keywordQuery(query)}} {
		b.Run(bq.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := s.SearchText(b.Context(), mmrag.TextQuery{Query: bq.q, K: 60}); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			b.ReportMetric(float64(took[0].Microseconds())/1000, "first-ms")
			reportP50(b, took)
		})
	}
	for _, c := range cases {
		c.opt.Modalities = []mmrag.Modality{mmrag.Text}
		b.Run(c.name, func(b *testing.B) {
			// The first search loads the store's vector matrix.
			if _, err := srch.Search(b.Context(), c.query, c.opt); err != nil {
				b.Fatal(err)
			}
			n := 0
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				res, err := srch.Search(b.Context(), c.query, c.opt)
				took = append(took, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				n = len(res.Text)
			}
			// Reference scoring over many random vectors keeps
			// few items or none (quirk 2), so it loads fewer.
			b.ReportMetric(float64(n), "results")
			reportP50(b, took)
		})
		b.Logf("memory after %s: %s", c.name, residentMemory())
	}
	// benchQuery with its middle-frequency word replaced, at every search,
	// by one no search has used: the store has not learned its bound yet.
	b.Run("hybrid/new-middle-term", func(b *testing.B) {
		opt := DefaultOptions(Hybrid)
		opt.Modalities = []mmrag.Modality{mmrag.Text}
		var took []time.Duration
		i := 0
		for b.Loop() {
			if i == newTermQueries {
				b.Fatalf("more than %d searches: run with -benchtime %dx or less", newTermQueries, newTermQueries)
			}
			start := time.Now()
			if _, err := srch.Search(b.Context(), newTermQuery(i), opt); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(start))
			i++
		}
		reportP50(b, took)
	})
}

// newTermQueries is how many distinct queries newTermQuery makes: their
// middle words, w120–w159, are each in ≈ 1.5 % of the items at 1M.
const newTermQueries = 40

func newTermQuery(i int) string {
	return fmt.Sprintf("what is the w3 of w%d and w2000 in w9000", 120+i)
}

// reportP50 reports the median of took in milliseconds.
func reportP50(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
}

func BenchmarkReferenceScores(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(5, 6))
			hits := make([]mmrag.Hit, n)
			for i := range hits {
				hits[i] = mmrag.Hit{ItemID: fmt.Sprint(i), Score: float32(r.NormFloat64())}
			}
			for b.Loop() {
				ReferenceScores(hits, 0.25)
			}
		})
	}
}
