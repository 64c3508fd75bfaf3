package gguf

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// f16 encodes v, which must be exactly representable in half precision.
func f16(t *testing.T, v float32) []byte {
	t.Helper()
	for h := range 1 << 16 {
		if F16ToF32(uint16(h)) == v {
			return binary.LittleEndian.AppendUint16(nil, uint16(h))
		}
	}
	t.Fatalf("%g is not a half", v)
	return nil
}

func TestF16ToF32(t *testing.T) {
	tests := []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x3555, 0.33325195}, {0x7bff, 65504},
		{0x0001, 5.9604645e-08}, {0x0400, 6.1035156e-05}, {0x7c00, float32(math.Inf(1))}, {0xfc00, float32(math.Inf(-1))},
	}
	for _, tt := range tests {
		if got := F16ToF32(tt.h); got != tt.want {
			t.Errorf("F16ToF32(%#04x) = %g, want %g", tt.h, got, tt.want)
		}
	}
	if v := F16ToF32(0x7e00); !math.IsNaN(float64(v)) {
		t.Errorf("NaN decoded as %g", v)
	}
	if v := F16ToF32(0x8000); v != 0 || !math.Signbit(float64(v)) {
		t.Errorf("-0 decoded as %g", v)
	}
}

// The quantised formats are checked by packing chosen integer quants and
// scales the way ggml's quantize functions lay them out, then comparing
// Dequantize with scale·quant (− min) computed directly.

func TestQ8_0(t *testing.T) {
	b := f16(t, 0.5)
	want := make([]float32, 32)
	for j := range 32 {
		q := int8(j*8 - 128)
		b = append(b, byte(q))
		want[j] = 0.5 * float32(q)
	}
	check(t, Q8_0, b, want)
}

func TestQ4_0(t *testing.T) {
	b := f16(t, 0.25)
	want := make([]float32, 32)
	for j := range 16 {
		lo, hi := j, 15-j
		b = append(b, byte(lo|hi<<4))
		want[j], want[j+16] = 0.25*float32(lo-8), 0.25*float32(hi-8)
	}
	check(t, Q4_0, b, want)
}

func TestQ5_0(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	q := make([]int, 32) // 5-bit quants
	for j := range q {
		q[j] = r.IntN(32)
	}
	var qh uint32
	qs := make([]byte, 16)
	for j := range 16 {
		qs[j] = byte(q[j]&15 | (q[j+16]&15)<<4)
		qh |= uint32(q[j]>>4) << j
		qh |= uint32(q[j+16]>>4) << (j + 16)
	}
	b := append(f16(t, 2), binary.LittleEndian.AppendUint32(nil, qh)...)
	b = append(b, qs...)
	want := make([]float32, 32)
	for j := range q {
		want[j] = 2 * float32(q[j]-16)
	}
	check(t, Q5_0, b, want)
}

func TestQ4_K(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var sc, mn [8]int // 6-bit sub-block scales and mins
	for i := range 8 {
		sc[i], mn[i] = r.IntN(64), r.IntN(64)
	}
	// ggml packs sub-blocks 0–3 in the low 6 bits of bytes 0–3 (scales)
	// and 4–7 (mins); 4–7 in bytes 8–11 (low nibble scale, high nibble
	// min) with their top 2 bits in the top bits of bytes 0–7.
	scales := make([]byte, 12)
	for j := range 4 {
		scales[j] = byte(sc[j])
		scales[j+4] = byte(mn[j])
	}
	for j := 4; j < 8; j++ {
		scales[j+4] = byte(sc[j]&15 | (mn[j]&15)<<4)
		scales[j-4] |= byte(sc[j]>>4) << 6
		scales[j] |= byte(mn[j]>>4) << 6
	}
	q := make([]int, 256)
	for i := range q {
		q[i] = r.IntN(16)
	}
	qs := make([]byte, 128)
	for chunk := range 4 { // 64 values: 32 bytes, low nibbles then high
		for l := range 32 {
			qs[chunk*32+l] = byte(q[chunk*64+l] | q[chunk*64+32+l]<<4)
		}
	}
	const d, dmin = 0.125, 0.0625
	b := append(append(f16(t, d), f16(t, dmin)...), scales...)
	b = append(b, qs...)
	want := make([]float32, 256)
	for i := range want {
		sub := i / 32
		want[i] = d*float32(sc[sub])*float32(q[i]) - dmin*float32(mn[sub])
	}
	check(t, Q4_K, b, want)
}

func TestQ6_K(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	q := make([]int, 256) // 6-bit quants
	for i := range q {
		q[i] = r.IntN(64)
	}
	var sc [16]int8
	for i := range sc {
		sc[i] = int8(r.IntN(255) - 127)
	}
	// ggml: per 128 values, ql holds 64 bytes (values l and l+64 as low and
	// high nibbles of byte l, values l+32 and l+96 of byte l+32) and qh 32
	// bytes (2 high bits of l, l+32, l+64, l+96 at shifts 0, 2, 4, 6).
	ql, qh := make([]byte, 128), make([]byte, 64)
	for half := range 2 {
		v := q[half*128:]
		for l := range 32 {
			ql[half*64+l] = byte(v[l]&15 | (v[l+64]&15)<<4)
			ql[half*64+l+32] = byte(v[l+32]&15 | (v[l+96]&15)<<4)
			qh[half*32+l] = byte(v[l]>>4 | (v[l+32]>>4)<<2 | (v[l+64]>>4)<<4 | (v[l+96]>>4)<<6)
		}
	}
	const d = 0.015625
	b := append(append(ql, qh...), make([]byte, 16)...)
	for i, s := range sc {
		b[192+i] = byte(s)
	}
	b = append(b, f16(t, d)...)
	want := make([]float32, 256)
	for i := range want {
		want[i] = d * float32(sc[i/16]) * float32(q[i]-32)
	}
	check(t, Q6_K, b, want)
}

func check(t *testing.T, typ Type, raw []byte, want []float32) {
	t.Helper()
	got, err := Dequantize(typ, raw, len(want))
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6*math.Max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("%s value %d = %g, want %g", typ, i, got[i], want[i])
		}
	}
	// Two blocks decode independently.
	two, err := Dequantize(typ, append(append([]byte{}, raw...), raw...), 2*len(want))
	if err != nil || two[len(want)] != got[0] || two[2*len(want)-1] != got[len(want)-1] {
		t.Errorf("%s: second block decodes differently (%v)", typ, err)
	}
	if _, err := Dequantize(typ, raw[:len(raw)-1], len(want)); err == nil {
		t.Errorf("%s: short data accepted", typ)
	}
}

func BenchmarkDequantizeQ4_K(b *testing.B) {
	raw := make([]byte, 144*1536*384/256)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	for i := 0; i < len(raw); i += 144 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = 0, 0x2c, 0, 0x28 // d, dmin: small halves
	}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Dequantize(Q4_K, raw, 1536*384); err != nil {
			b.Fatal(err)
		}
	}
}
