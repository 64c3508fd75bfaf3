package store

import (
	"math"
	"testing"
)

// TestSoftmax checks the streamed denominator against a two-pass float64
// one, for scores in rising, falling and mixed order (every rescaling
// path), split in two halves and merged, and at logits that would overflow
// an exponential taken without the running maximum.
func TestSoftmax(t *testing.T) {
	for _, tc := range []struct {
		name   string
		t      float64
		scores []float32
	}{
		{"rising", 0.25, []float32{-0.3, -0.1, 0.05, 0.2, 0.31}},
		{"falling", 0.25, []float32{0.31, 0.2, 0.05, -0.1, -0.3}},
		{"mixed", 0.5, []float32{0.1, 0.4, -0.2, 0.4, 0.39, 0}},
		{"huge logits", 0.001, []float32{3, 1, 2.5, 3.2, -4}},
		{"one", 0.25, []float32{0.7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := math.Inf(-1)
			for _, s := range tc.scores {
				top = max(top, float64(s))
			}
			var z float64
			for _, s := range tc.scores {
				z += math.Exp((float64(s) - top) / tc.t)
			}
			whole := Softmax{T: tc.t}
			left, right := Softmax{T: tc.t}, Softmax{T: tc.t}
			for i, s := range tc.scores {
				whole.Add(s)
				if i < len(tc.scores)/2 {
					left.Add(s)
				} else {
					right.Add(s)
				}
			}
			left.Merge(right)
			for name, a := range map[string]Softmax{"streamed": whole, "merged": left} {
				if a.N != len(tc.scores) || a.Max != top {
					t.Fatalf("%s: N %d, Max %v; want %d, %v", name, a.N, a.Max, len(tc.scores), top)
				}
				if math.IsInf(a.Sum, 0) || math.Abs(a.Sum-z) > 1e-12*z {
					t.Fatalf("%s: Sum %v, two-pass %v", name, a.Sum, z)
				}
			}
		})
	}
}

// TestSoftmaxReplace swaps a score for a rescored one: the sum is the one
// that would have been computed with the new score.
func TestSoftmaxReplace(t *testing.T) {
	a, b := Softmax{T: 0.25}, Softmax{T: 0.25}
	for _, s := range []float32{0.3, 0.1, 0.2} {
		a.Add(s)
	}
	for _, s := range []float32{0.3, 0.1, 0.25} {
		b.Add(s)
	}
	a.Replace(float64(float32(0.2)), float64(float32(0.25)))
	if math.Abs(a.Sum-b.Sum) > 1e-15 {
		t.Fatalf("after Replace Sum %v, want %v", a.Sum, b.Sum)
	}
	var empty Softmax
	empty.Merge(Softmax{})
	if empty.N != 0 || empty.Sum != 0 {
		t.Fatalf("merging nothing into nothing: %+v", empty)
	}
}
