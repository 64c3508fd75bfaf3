// Package clipdata generates CLIP-like embeddings for approximate-search
// tests and benchmarks: the recipe of /work/shared/bench/ann/gen.py (a
// Gaussian mixture of 2000 centres sharing a common offset direction,
// log-normal cluster sizes, anisotropic noise with a decaying spectrum,
// 512-d, unit length) ported to Go. The same seed gives the same vectors
// here on every run, not the vectors numpy draws: where gen.py and numpy
// are at hand, benchmarks use its files instead.
package clipdata

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"mmrag/store/vecmath"
)

// The recipe's constants, as in gen.py.
const (
	Dim      = 512
	Centres  = 2000
	offset   = 0.9 // strength of the shared mean direction
	scaleLo  = 0.75
	scaleHi  = 1.0
	Seed     = 20261128
	sizeSpan = 1.0 // sigma of the log-normal cluster sizes
)

// Model is a drawn mixture: centres, their weights and the noise transform.
type Model struct {
	centres []float32 // Centres × Dim, unit rows
	cumw    []float64 // cumulative cluster weights, last 1
	noise   []float32 // Dim × Dim: noise_j = Σ_i z_i·noise[j*Dim+i]
}

// NewModel draws the mixture of seed.
func NewModel(seed uint64) *Model {
	r := rand.New(rand.NewPCG(seed, 0))
	mean := gaussian(r, Dim)
	unit(mean)
	m := &Model{centres: make([]float32, Centres*Dim), cumw: make([]float64, Centres)}
	for k := range Centres {
		g := gaussian(r, Dim)
		unit(g)
		c := m.centres[k*Dim : (k+1)*Dim]
		for i := range c {
			c[i] = offset*mean[i] + g[i]
		}
		unit(c)
	}
	total := 0.0
	for k := range m.cumw {
		total += math.Exp(r.NormFloat64() * sizeSpan)
		m.cumw[k] = total
	}
	for k := range m.cumw {
		m.cumw[k] /= total
	}
	// Per-axis variance ∝ 1/(i+10), scaled so E|noise|² = 1, rotated by a
	// random orthogonal matrix (Gram–Schmidt on Gaussian rows).
	spec := make([]float64, Dim)
	sum := 0.0
	for i := range spec {
		spec[i] = 1 / (float64(i) + 10)
		sum += spec[i]
	}
	rot := orthogonal(r)
	m.noise = make([]float32, Dim*Dim)
	for j := range Dim {
		for i := range Dim {
			std := math.Sqrt(spec[i] / sum)
			m.noise[j*Dim+i] = float32(std) * rot[i*Dim+j]
		}
	}
	return m
}

// Draw returns n points (n × Dim, unit rows) drawn with r.
func (m *Model) Draw(r *rand.Rand, n int) []float32 {
	out := make([]float32, n*Dim)
	z := make([]float32, Dim)
	for p := range n {
		k, _ := slices.BinarySearch(m.cumw, r.Float64())
		k = min(k, Centres-1)
		s := float32(scaleLo + (scaleHi-scaleLo)*r.Float64())
		for i := range z {
			z[i] = float32(r.NormFloat64())
		}
		x := out[p*Dim : (p+1)*Dim]
		vecmath.DotBatch(z, m.noise, x)
		c := m.centres[k*Dim : (k+1)*Dim]
		for i := range x {
			x[i] = c[i] + s*x[i]
		}
		unit(x)
	}
	return out
}

// Generate returns n base points and nq queries of the recipe with seed:
// the base from one random stream, the queries from another. The first n
// points of a larger set equal the smaller set.
func Generate(seed uint64, n, nq int) (base, queries []float32) {
	m := NewModel(seed)
	base = m.Draw(rand.New(rand.NewPCG(seed, 1)), n)
	queries = m.Draw(rand.New(rand.NewPCG(seed, 2)), nq)
	return base, queries
}

// GroundTruth returns, per query, the row numbers of the k rows of base
// with the largest inner product, best first, by exhaustive search on
// workers goroutines.
func GroundTruth(base, queries []float32, dim, k, workers int) [][]uint32 {
	nq, n := len(queries)/dim, len(base)/dim
	out := make([][]uint32, nq)
	var wg sync.WaitGroup
	for w := range max(1, workers) {
		wg.Go(func() {
			scores := make([]float32, n)
			idx := make([]uint32, n)
			for qi := w; qi < nq; qi += max(1, workers) {
				vecmath.DotBatch(queries[qi*dim:(qi+1)*dim], base, scores)
				for i := range idx {
					idx[i] = uint32(i)
				}
				top := idx[:0:0]
				for _, i := range idx {
					top = pushTop(top, i, scores, k)
				}
				slices.SortFunc(top, func(a, b uint32) int {
					if scores[a] != scores[b] {
						if scores[a] > scores[b] {
							return -1
						}
						return 1
					}
					return int(a) - int(b)
				})
				out[qi] = top
			}
		})
	}
	wg.Wait()
	return out
}

// pushTop keeps the k best rows by score in top (unordered: k is small).
func pushTop(top []uint32, i uint32, scores []float32, k int) []uint32 {
	if len(top) < k {
		return append(top, i)
	}
	worst := 0
	for j := range top {
		if scores[top[j]] < scores[top[worst]] {
			worst = j
		}
	}
	if scores[i] > scores[top[worst]] {
		top[worst] = i
	}
	return top
}

// Recall is the mean fraction of each query's true k nearest (truth) that
// its results (got) hold.
func Recall(got, truth [][]uint32, k int) float64 {
	if len(truth) == 0 {
		return 0
	}
	hit := 0
	for q := range truth {
		want := truth[q][:min(k, len(truth[q]))]
		for _, id := range got[q][:min(k, len(got[q]))] {
			if slices.Contains(want, id) {
				hit++
			}
		}
	}
	return float64(hit) / float64(len(truth)*k)
}

func gaussian(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func unit(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := 1 / math.Sqrt(s)
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
}

// orthogonal returns a random Dim × Dim orthogonal matrix, row-major:
// modified Gram–Schmidt on Gaussian rows, in float64.
func orthogonal(r *rand.Rand) []float32 {
	rows := make([][]float64, Dim)
	for i := range rows {
		row := make([]float64, Dim)
		for j := range row {
			row[j] = r.NormFloat64()
		}
		for _, prev := range rows[:i] {
			var d float64
			for j := range row {
				d += row[j] * prev[j]
			}
			for j := range row {
				row[j] -= d * prev[j]
			}
		}
		var s float64
		for _, x := range row {
			s += x * x
		}
		inv := 1 / math.Sqrt(s)
		for j := range row {
			row[j] *= inv
		}
		rows[i] = row
	}
	out := make([]float32, Dim*Dim)
	for i, row := range rows {
		for j, x := range row {
			out[i*Dim+j] = float32(x)
		}
	}
	return out
}
