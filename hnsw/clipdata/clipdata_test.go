package clipdata

import (
	"math"
	"slices"
	"testing"

	"mmrag/store"
)

func TestGenerate(t *testing.T) {
	base, queries := Generate(Seed, 600, 50)
	if len(base) != 600*Dim || len(queries) != 50*Dim {
		t.Fatalf("%d base values, %d query values", len(base), len(queries))
	}
	for i := range 600 {
		if n := store.Norm(base[i*Dim : (i+1)*Dim]); math.Abs(n-1) > 1e-5 {
			t.Fatalf("row %d has norm %v", i, n)
		}
	}
	// The same seed gives the same set, and a smaller set is a prefix of a
	// larger one (gen.py's property); queries come from their own stream.
	small, q2 := Generate(Seed, 200, 50)
	if !slices.Equal(small, base[:200*Dim]) || !slices.Equal(q2, queries) {
		t.Error("a smaller set is not the prefix of a larger one of the same seed")
	}
	// The recipe's shape: mean pairwise cosine near gen.py's 0.25 (shared
	// offset over noise), a nearest neighbour far above it (clusters).
	var sum float64
	pairs := 0
	for i := range 200 {
		for j := i + 1; j < 200; j++ {
			sum += store.Dot64(base[i*Dim:(i+1)*Dim], base[j*Dim:(j+1)*Dim])
			pairs++
		}
	}
	if mean := sum / float64(pairs); mean < 0.15 || mean > 0.35 {
		t.Errorf("mean pairwise cosine %.3f, want ≈ 0.25", mean)
	}
}

func TestGroundTruthAndRecall(t *testing.T) {
	base, queries := Generate(Seed+9, 300, 5)
	truth := GroundTruth(base, queries, Dim, 10, 2)
	for q, top := range truth {
		if len(top) != 10 {
			t.Fatalf("query %d: %d neighbours", q, len(top))
		}
		qv := queries[q*Dim : (q+1)*Dim]
		score := func(id uint32) float64 { return store.Dot64(qv, base[int(id)*Dim:(int(id)+1)*Dim]) }
		for i := 1; i < len(top); i++ {
			if score(top[i-1]) < score(top[i]) {
				t.Fatalf("query %d: neighbours out of order", q)
			}
		}
		worst := score(top[9])
		for id := range uint32(300) {
			if !slices.Contains(top, id) && score(id) > worst+1e-6 {
				t.Fatalf("query %d: row %d (%v) beats the 10th neighbour (%v)", q, id, score(id), worst)
			}
		}
	}
	if r := Recall(truth, truth, 10); r != 1 {
		t.Errorf("recall of the truth against itself %v", r)
	}
	half := make([][]uint32, len(truth))
	for q := range truth {
		half[q] = append(slices.Clone(truth[q][:5]), 1000, 1001, 1002, 1003, 1004)
	}
	if r := Recall(half, truth, 10); r != 0.5 {
		t.Errorf("recall of half the truth %v, want 0.5", r)
	}
}
