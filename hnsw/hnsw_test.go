package hnsw

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"mmrag/hnsw/clipdata"
)

// fixture is a generated data set, its exact answers and an index over it,
// built once per size and shared by the tests that only read it.
type fixture struct {
	base, queries []float32
	truth         [][]uint32
	idx           *Index
}

var (
	fixMu    sync.Mutex
	fixtures = map[int]*fixture{}
)

const nQueries = 200

// size is the data set the tests build: 20 000 CLIP-like vectors, 3000 in
// -short mode (the race detector's).
func size() int {
	if testing.Short() {
		return 3000
	}
	return 20_000
}

func rows(flat []float32, dim int) [][]float32 {
	out := make([][]float32, len(flat)/dim)
	for i := range out {
		out[i] = flat[i*dim : (i+1)*dim]
	}
	return out
}

func getFixture(t *testing.T, n int) *fixture {
	t.Helper()
	fixMu.Lock()
	defer fixMu.Unlock()
	if f := fixtures[n]; f != nil {
		return f
	}
	base, queries := clipdata.Generate(clipdata.Seed, n, nQueries)
	f := &fixture{base: base, queries: queries, truth: clipdata.GroundTruth(base, queries, clipdata.Dim, 10, 2)}
	f.idx = buildIndex(t, &f.base, Config{M: 16, EfConstruction: 200, Workers: 2, Seed: 1})
	fixtures[n] = f
	return f
}

// buildIndex indexes *base, which the index reads its originals from.
func buildIndex(t *testing.T, base *[]float32, cfg Config) *Index {
	t.Helper()
	dim := clipdata.Dim
	idx, err := New(dim, cfg, func(id uint32) []float32 { return (*base)[int(id)*dim : (int(id)+1)*dim] })
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	first, err := idx.Add(rows(*base, dim))
	if err != nil || first != 0 {
		t.Fatalf("Add: first id %d, %v", first, err)
	}
	t.Logf("built %d × %d-d, M=%d efC=%d, in %v", len(*base)/dim, dim, cfg.M, cfg.EfConstruction, time.Since(start))
	return idx
}

func searchAll(t *testing.T, f *fixture, idx *Index, ef int, allow func(uint32) bool) [][]uint32 {
	t.Helper()
	got := make([][]uint32, nQueries)
	for q := range nQueries {
		res, err := idx.Search(f.queries[q*clipdata.Dim:(q+1)*clipdata.Dim], 10, ef, allow)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if i > 0 && res[i-1].Score < r.Score {
				t.Fatalf("query %d: results out of order", q)
			}
			got[q] = append(got[q], r.ID)
		}
	}
	return got
}

func TestRecall(t *testing.T) {
	f := getFixture(t, size())
	if got := f.idx.Len(); got != size() {
		t.Fatalf("Len = %d, want %d", got, size())
	}
	// hnswlib 0.6.2 at 20k of gen.py's data, M=16, efC=200: 0.921 at ef 64,
	// 0.963 at ef 128.
	for _, tc := range []struct {
		ef   int
		want float64
	}{{64, 0.90}, {128, 0.95}} {
		rec := clipdata.Recall(searchAll(t, f, f.idx, tc.ef, nil), f.truth, 10)
		t.Logf("ef=%d: recall@10 %.4f", tc.ef, rec)
		if rec < tc.want {
			t.Errorf("ef=%d: recall@10 %.4f < %.2f", tc.ef, rec, tc.want)
		}
	}
}

// TestFilter keeps every third node: results are all allowed, and recall
// against the exact answers among allowed nodes stays high.
func TestFilter(t *testing.T) {
	f := getFixture(t, size())
	allow := func(id uint32) bool { return id%3 == 0 }
	n := len(f.base) / clipdata.Dim
	var kept []float32
	var ids []uint32
	for i := range n {
		if allow(uint32(i)) {
			kept = append(kept, f.base[i*clipdata.Dim:(i+1)*clipdata.Dim]...)
			ids = append(ids, uint32(i))
		}
	}
	truth := clipdata.GroundTruth(kept, f.queries, clipdata.Dim, 10, 2)
	for _, tr := range truth {
		for i := range tr {
			tr[i] = ids[tr[i]]
		}
	}
	got := searchAll(t, f, f.idx, 128, allow)
	for q, g := range got {
		for _, id := range g {
			if !allow(id) {
				t.Fatalf("query %d returned %d, which the filter refuses", q, id)
			}
		}
	}
	rec := clipdata.Recall(got, truth, 10)
	t.Logf("filter 1/3, ef=128: recall@10 %.4f", rec)
	if rec < 0.95 {
		t.Errorf("filtered recall@10 %.4f < 0.95", rec)
	}
}

// TestDelete deletes a tenth of the nodes, among them every query's true
// best: no search returns a deleted node, and recall against the exact
// answers among live nodes holds. Adding after deleting links new nodes.
func TestDelete(t *testing.T) {
	base, queries := clipdata.Generate(clipdata.Seed+1, size(), nQueries)
	f := &fixture{base: base, queries: queries}
	idx := buildIndex(t, &f.base, Config{M: 16, EfConstruction: 100, Workers: 2, Seed: 2})
	n := len(base) / clipdata.Dim
	r := rand.New(rand.NewPCG(3, 3))
	dead := map[uint32]bool{}
	for _, tr := range clipdata.GroundTruth(base, queries, clipdata.Dim, 1, 2) {
		dead[tr[0]] = true
	}
	for len(dead) < n/10 {
		dead[uint32(r.IntN(n))] = true
	}
	var del []uint32
	for id := range dead {
		del = append(del, id)
	}
	if err := idx.Delete(del...); err != nil {
		t.Fatal(err)
	}
	if err := idx.Delete(uint32(n)); err == nil {
		t.Error("Delete of an unknown id succeeded")
	}
	if idx.Deleted() != len(dead) {
		t.Errorf("Deleted = %d, want %d", idx.Deleted(), len(dead))
	}
	var live []float32
	var ids []uint32
	for i := range n {
		if !dead[uint32(i)] {
			live = append(live, base[i*clipdata.Dim:(i+1)*clipdata.Dim]...)
			ids = append(ids, uint32(i))
		}
	}
	truth := clipdata.GroundTruth(live, queries, clipdata.Dim, 10, 2)
	for _, tr := range truth {
		for i := range tr {
			tr[i] = ids[tr[i]]
		}
	}
	got := searchAll(t, f, idx, 128, nil)
	for q, g := range got {
		if len(g) != 10 {
			t.Fatalf("query %d: %d results, want 10", q, len(g))
		}
		for _, id := range g {
			if dead[id] {
				t.Fatalf("query %d returned deleted node %d", q, id)
			}
		}
	}
	rec := clipdata.Recall(got, truth, 10)
	t.Logf("after deleting %d: recall@10 %.4f", len(dead), rec)
	// Over build seeds 2–7 this measured 0.9425–0.9495 (mean 0.9456) with
	// the codes rotated, 0.9520–0.9575 (0.9539) before: on these synthetic
	// vectors the rotation leaves the int8 error as it was (mean 0.00047
	// against 0.00045) and the graphs merely differ; on real CLIP vectors it
	// cuts the error by 5–6× (TestRealCLIPCodes).
	if rec < 0.94 {
		t.Errorf("recall@10 after deletes %.4f < 0.94", rec)
	}

	// A query equal to a new node finds it first.
	extra := make([]float32, clipdata.Dim)
	copy(extra, queries[:clipdata.Dim])
	f.base = append(f.base, extra...)
	first, err := idx.Add([][]float32{extra})
	if err != nil || first != uint32(n) {
		t.Fatalf("Add after Delete: id %d, %v; want %d", first, err, n)
	}
	res, err := idx.Search(extra, 1, 64, nil)
	if err != nil || len(res) != 1 || res[0].ID != first {
		t.Fatalf("search for the added vector: %v, %v; want node %d", res, err, first)
	}
	for l := 0; l <= int(idx.level[first]); l++ {
		lst := idx.list(first, l)
		if lst[0] == 0 {
			t.Errorf("the added node has no links on layer %d", l)
		}
		for _, nb := range lst[1 : 1+lst[0]] {
			if dead[nb] {
				t.Errorf("the added node links to deleted node %d on layer %d", nb, l)
			}
		}
	}
}

func TestSearchArguments(t *testing.T) {
	idx, err := New(4, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := idx.Search([]float32{1, 0, 0, 0}, 10, 0, nil); err != nil || len(res) != 0 {
		t.Errorf("search of an empty index: %v, %v", res, err)
	}
	if _, err := idx.Search([]float32{1, 0}, 10, 0, nil); err == nil {
		t.Error("a query of the wrong dimension was accepted")
	}
	if _, err := idx.Add([][]float32{{1, 0, 0}}); err == nil {
		t.Error("a vector of the wrong dimension was accepted")
	}
	if _, err := idx.Add([][]float32{{1, 0, 0, float32(math.NaN())}}); err == nil {
		t.Error("a vector holding NaN was accepted")
	}
	for _, bad := range []struct {
		dim int
		cfg Config
	}{{0, Config{}}, {4, Config{M: 1}}, {4, Config{M: 1000}}} {
		if _, err := New(bad.dim, bad.cfg, nil); err == nil {
			t.Errorf("New(%d, %+v) succeeded", bad.dim, bad.cfg)
		}
	}
	// Without originals the scores are the int8 estimates, still ordered.
	vs := [][]float32{{1, 0, 0, 0}, {0, 1, 0, 0}, {0.6, 0.8, 0, 0}}
	if _, err := idx.Add(vs); err != nil {
		t.Fatal(err)
	}
	res, err := idx.Search([]float32{1, 0, 0, 0}, 3, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]uint32, len(res))
	for i, r := range res {
		ids[i] = r.ID
	}
	if !slices.Equal(ids, []uint32{0, 2, 1}) || res[0].Score < 0.98 || res[0].Score > 1.02 {
		t.Errorf("results %v, want ids 0, 2, 1 with the first scoring ≈ 1", fmt.Sprint(res))
	}
}

// TestRescore checks that a search reads the originals of the Rescore best
// candidates only (never fewer than k), and that the scores it returns are
// then the float32 products.
func TestRescore(t *testing.T) {
	const n, dim = 2000, clipdata.Dim
	base, queries := clipdata.Generate(clipdata.Seed, n, 1)
	for _, tc := range []struct{ rescore, k, ef, reads int }{
		{0, 10, 100, 100},
		{20, 10, 100, 20},
		{5, 10, 100, 10},
	} {
		t.Run(fmt.Sprintf("rescore=%d", tc.rescore), func(t *testing.T) {
			reads := 0
			idx, err := New(dim, Config{Workers: 2, Seed: 1, Rescore: tc.rescore}, func(id uint32) []float32 {
				reads++
				return base[int(id)*dim : (int(id)+1)*dim]
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := idx.Add(rows(base, dim)); err != nil {
				t.Fatal(err)
			}
			res, err := idx.Search(queries, tc.k, tc.ef, nil)
			if err != nil {
				t.Fatal(err)
			}
			if reads != tc.reads || len(res) != tc.k {
				t.Fatalf("%d originals read, %d results; want %d and %d", reads, len(res), tc.reads, tc.k)
			}
			for _, r := range res {
				v := base[int(r.ID)*dim : (int(r.ID)+1)*dim]
				var want float64
				for i := range v {
					want += float64(v[i]) * float64(queries[i])
				}
				if math.Abs(float64(r.Score)-want) > 1e-5 {
					t.Fatalf("node %d scores %v, its float product is %v", r.ID, r.Score, want)
				}
			}
		})
	}
}
