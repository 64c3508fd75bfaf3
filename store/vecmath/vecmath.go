// Package vecmath holds the kernels of every vector search: the float32
// dot product, one query against many rows, and the int8 dot product of
// quantised codes. On amd64 with AVX-512 (F, BW, VNNI) they run Go assembly
// chosen once at start; elsewhere, or with MMRAG_NOSIMD=1 in the
// environment, portable Go.
//
// The float32 kernels accumulate in float32 over 16 (portable: 8) lanes:
// against a float64 reference a 512-d product of unit vectors is off by a
// few 1e-8, well inside the 1e-6 the reference scoring allows.
package vecmath

import "os"

// simd reports whether the assembly kernels are in use.
var simd = haveSIMD() && os.Getenv("MMRAG_NOSIMD") != "1"

// SIMD reports whether the assembly kernels are in use (for benchmarks and
// reports).
func SIMD() bool { return simd }

// Dot is the inner product of a and b over their common length.
func Dot(a, b []float32) float32 {
	n := min(len(a), len(b))
	if n == 0 {
		return 0
	}
	if simd {
		return dotAsm(&a[0], &b[0], n)
	}
	return dotGo(a[:n], b[:n])
}

// DotBatch scores one query against consecutive rows of len(q) values:
// out[i] = Dot(q, rows[i*len(q):(i+1)*len(q)]) for each i < len(out),
// bitwise equal to Dot row by row. It panics when rows holds fewer than
// len(out) rows.
func DotBatch(q, rows, out []float32) {
	dim := len(q)
	if len(out) == 0 {
		return
	}
	if len(rows) < len(out)*dim {
		panic("vecmath: DotBatch: rows shorter than len(out)×len(q)")
	}
	if dim == 0 {
		clear(out)
		return
	}
	if simd {
		dotBatchAsm(&q[0], &rows[0], dim, len(out), &out[0])
		return
	}
	for i := range out {
		out[i] = dotGo(q, rows[i*dim:(i+1)*dim])
	}
}

// DotInt8 is the inner product of two int8 code vectors over their common
// length, exact in int32 for lengths up to 131 072.
func DotInt8(a, b []int8) int32 {
	n := min(len(a), len(b))
	if n == 0 {
		return 0
	}
	if simd {
		return dotInt8Asm(&a[0], &b[0], n)
	}
	return dotInt8Go(a[:n], b[:n])
}

// dotGo is the portable float32 kernel: eight independent accumulators let
// the CPU overlap the multiply-adds, and the fixed-size subslices let the
// compiler drop the bounds checks.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	n := len(a) &^ 7
	for i := 0; i < n; i += 8 {
		x := a[i : i+8 : i+8]
		y := b[i : i+8 : i+8]
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
		s4 += x[4] * y[4]
		s5 += x[5] * y[5]
		s6 += x[6] * y[6]
		s7 += x[7] * y[7]
	}
	for i := n; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// dotInt8Go is the portable int8 kernel.
func dotInt8Go(a, b []int8) int32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int32
	n := len(a) &^ 3
	for i := 0; i < n; i += 4 {
		x := a[i : i+4 : i+4]
		y := b[i : i+4 : i+4]
		s0 += int32(x[0]) * int32(y[0])
		s1 += int32(x[1]) * int32(y[1])
		s2 += int32(x[2]) * int32(y[2])
		s3 += int32(x[3]) * int32(y[3])
	}
	for i := n; i < len(a); i++ {
		s0 += int32(a[i]) * int32(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}
