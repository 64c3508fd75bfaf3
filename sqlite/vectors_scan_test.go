package sqlite

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"mmrag"
	"mmrag/store"
	"mmrag/store/storetest"
)

// TestScanExactAgainstFloat64 checks the scan's scores, all rows and the top
// rows, filtered (runs of allowed rows split by rejected ones) and not, on
// one goroutine and several, against float64 products to 1e-6: the
// reference scoring's softmax needs them that exact. The softmax sum the
// scan accumulates on the side is checked the same way: every allowed row
// counted, each hit's probability within 1e-6 of float64's.
func TestScanExactAgainstFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	const dim, rows = 129, 9000 // an odd dimension: the kernels' masked tail; rows×dim over parallelMin
	m := &matrix{dim: dim, docPos: map[string]int32{}}
	for i := range rows {
		d := &docMeta{id: fmt.Sprintf("d%03d", i/37)}
		if di, ok := m.docPos[d.id]; ok {
			d = m.docs[di]
		}
		m.add(d, fmt.Sprintf("i%05d", i), store.Normalized(storetest.RandomVector(r, dim)))
	}
	q := store.Normalized(storetest.RandomVector(r, dim))
	allow := make([]bool, len(m.docs))
	for i := range allow {
		allow[i] = i%3 != 1
	}
	for _, workers := range []int{1, 2} {
		for _, filter := range []bool{false, true} {
			for _, k := range []int{0, 10} {
				t.Run(fmt.Sprintf("workers=%d/filter=%v/k=%d", workers, filter, k), func(t *testing.T) {
					var a []bool
					if filter {
						a = allow
					}
					sum := store.Softmax{T: 0.25}
					hits, err := m.search(t.Context(), q, k, a, workers, &sum)
					if err != nil {
						t.Fatal(err)
					}
					var want []float64 // every allowed row's float64 score, for the rank check
					for row := range rows {
						if a == nil || a[m.rowDoc[row]] {
							want = append(want, store.Dot64(q, m.data[row*dim:(row+1)*dim]))
						}
					}
					if k == 0 && len(hits) != len(want) {
						t.Fatalf("%d hits, want every one of %d allowed rows", len(hits), len(want))
					}
					if k > 0 && len(hits) != k {
						t.Fatalf("%d hits, want %d", len(hits), k)
					}
					byItem := map[string]int{}
					for i, it := range m.items {
						byItem[it] = i
					}
					checkSoftmax(t, sum, want, hits, func(item string) float64 {
						row := byItem[item]
						return store.Dot64(q, m.data[row*dim:(row+1)*dim])
					})
					for i, h := range hits {
						row := byItem[h.ItemID]
						if a != nil && !a[m.rowDoc[row]] {
							t.Fatalf("hit %s is filtered out", h.ItemID)
						}
						ref := store.Dot64(q, m.data[row*dim:(row+1)*dim])
						if d := math.Abs(float64(h.Score) - ref); d > 1e-6 {
							t.Fatalf("hit %d (%s): score %v, float64 %v, off by %g", i, h.ItemID, h.Score, ref, d)
						}
						if i > 0 && hits[i-1].Score < h.Score {
							t.Fatalf("hits %d and %d out of order", i-1, i)
						}
					}
					// The k-th hit is the k-th best row, to the rounding of float32.
					slices.SortFunc(want, func(a, b float64) int { return cmp.Compare(b, a) })
					last := hits[len(hits)-1].Score
					if d := math.Abs(float64(last) - want[len(hits)-1]); d > 1e-6 {
						t.Fatalf("last hit scores %v, the %d-th best row %v", last, len(hits), want[len(hits)-1])
					}
				})
			}
		}
	}
}

// checkSoftmax compares the scan's softmax sum with float64's over the
// scores of every allowed row, and each hit's probability with float64's
// (ref: a hit's float64 score).
func checkSoftmax(t *testing.T, sum store.Softmax, scores []float64, hits []mmrag.Hit, ref func(item string) float64) {
	t.Helper()
	if sum.N != len(scores) {
		t.Fatalf("softmax counted %d rows, %d allowed", sum.N, len(scores))
	}
	top := slices.Max(scores)
	var z float64
	for _, s := range scores {
		z += math.Exp((s - top) / sum.T)
	}
	for i, h := range hits {
		got := sum.Term(float64(h.Score)) / sum.Sum
		want := math.Exp((ref(h.ItemID)-top)/sum.T) / z
		if d := math.Abs(got - want); d > 1e-6 {
			t.Fatalf("hit %d (%s): probability %v, float64 %v, off by %g", i, h.ItemID, got, want, d)
		}
	}
}

// BenchmarkScan100k measures the matrix scan alone (no change-log check,
// no hit building) over 100 000 random 512-d rows, per kernel: run with
// MMRAG_NOSIMD=1 for the portable one.
func BenchmarkScan100k(b *testing.B) {
	s := openTemp(b)
	injectMatrix(s, 100_000)
	m := s.vec.m[vecKey{storetest.Model, "text"}]
	q := storetest.RandomVector(rand.New(rand.NewPCG(3, 3)), benchDim)
	all := make([]bool, len(m.docs))
	for i := range all {
		all[i] = true
	}
	for _, tc := range []struct {
		name  string
		k     int
		allow []bool
	}{{"K=10", 10, nil}, {"K=10/allow=all", 10, all}, {"K=all", 0, nil}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := m.search(b.Context(), q, tc.k, tc.allow, s.workers, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
