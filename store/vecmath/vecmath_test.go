package vecmath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

var lengths = []int{0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 511, 512, 513}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func randCodes(r *rand.Rand, n int) []int8 {
	v := make([]int8, n)
	for i := range v {
		v[i] = int8(r.IntN(256) - 128)
	}
	return v
}

// ref64 is the float64 product and the sum of |a_i·b_i|, the scale the
// rounding error of any summation order is bounded by.
func ref64(a, b []float32) (dot, mag float64) {
	for i := range a {
		p := float64(a[i]) * float64(b[i])
		dot += p
		mag += math.Abs(p)
	}
	return dot, mag
}

// kernels are the implementations under test: the portable one always,
// the assembly one where the CPU has it.
func kernels(t *testing.T) []bool {
	if haveSIMD() {
		return []bool{false, true}
	}
	t.Log("no AVX-512 VNNI: testing the portable kernels only")
	return []bool{false}
}

func withSIMD(on bool, fn func()) {
	old := simd
	simd = on
	defer func() { simd = old }()
	fn()
}

func TestDot(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, asm := range kernels(t) {
		for _, n := range lengths {
			t.Run(fmt.Sprintf("asm=%v/n=%d", asm, n), func(t *testing.T) {
				for range 20 {
					a, b := randVec(r, n), randVec(r, n+r.IntN(3)) // b may be longer
					want, mag := ref64(a, b[:n])
					var got float32
					withSIMD(asm, func() { got = Dot(a, b) })
					if math.Abs(float64(got)-want) > 1e-6*mag {
						t.Fatalf("Dot = %v, float64 reference %v (|error| %g > 1e-6 × %g)", got, want, math.Abs(float64(got)-want), mag)
					}
				}
			})
		}
	}
}

func TestDotBatchEqualsDot(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, asm := range kernels(t) {
		for _, dim := range lengths {
			t.Run(fmt.Sprintf("asm=%v/dim=%d", asm, dim), func(t *testing.T) {
				const rows = 37
				q := randVec(r, dim)
				m := randVec(r, rows*dim+5) // spare values past the last row are not read
				out := make([]float32, rows)
				for i := range out {
					out[i] = float32(math.NaN())
				}
				withSIMD(asm, func() {
					DotBatch(q, m, out)
					for i := range rows {
						row := m[i*dim : (i+1)*dim]
						if got, want := out[i], Dot(q, row); math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("row %d: DotBatch %v, Dot %v", i, got, want)
						}
						want, mag := ref64(q, row)
						if math.Abs(float64(out[i])-want) > 1e-6*mag {
							t.Fatalf("row %d: DotBatch %v, float64 %v", i, out[i], want)
						}
					}
				})
			})
		}
	}
}

func TestDotBatchShortRowsPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("DotBatch with too few rows did not panic")
		}
	}()
	DotBatch(make([]float32, 4), make([]float32, 7), make([]float32, 2))
}

func TestDotInt8(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, asm := range kernels(t) {
		for _, n := range append(lengths, 1000, 1023) {
			t.Run(fmt.Sprintf("asm=%v/n=%d", asm, n), func(t *testing.T) {
				for trial := range 20 {
					a, b := randCodes(r, n), randCodes(r, n)
					if trial == 0 { // extremes: the unsigned shift and the int32 lanes at their limits
						for i := range a {
							a[i], b[i] = -128, -128
						}
					}
					if trial == 1 {
						for i := range a {
							a[i], b[i] = 127, -128
						}
					}
					var want int64
					for i := range a {
						want += int64(a[i]) * int64(b[i])
					}
					var got int32
					withSIMD(asm, func() { got = DotInt8(a, b) })
					if int64(got) != want {
						t.Fatalf("DotInt8 = %d, want %d", got, want)
					}
				}
			})
		}
	}
}

func BenchmarkDot512(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	x, y := randVec(r, 512), randVec(r, 512)
	for _, asm := range []bool{false, true} {
		if asm && !haveSIMD() {
			continue
		}
		b.Run(fmt.Sprint("asm=", asm), func(b *testing.B) {
			withSIMD(asm, func() {
				var s float32
				for b.Loop() {
					s += Dot(x, y)
				}
				_ = s
			})
		})
	}
}

func BenchmarkDotBatch512x4096(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	q, m, out := randVec(r, 512), randVec(r, 512*4096), make([]float32, 4096)
	for _, asm := range []bool{false, true} {
		if asm && !haveSIMD() {
			continue
		}
		b.Run(fmt.Sprint("asm=", asm), func(b *testing.B) {
			withSIMD(asm, func() {
				for b.Loop() {
					DotBatch(q, m, out)
				}
			})
		})
	}
}

func BenchmarkDotInt8_512(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	x, y := randCodes(r, 512), randCodes(r, 512)
	for _, asm := range []bool{false, true} {
		if asm && !haveSIMD() {
			continue
		}
		b.Run(fmt.Sprint("asm=", asm), func(b *testing.B) {
			withSIMD(asm, func() {
				var s int32
				for b.Loop() {
					s += DotInt8(x, y)
				}
				_ = s
			})
		})
	}
}
