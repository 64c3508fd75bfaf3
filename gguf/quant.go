package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Type is a ggml tensor type.
type Type uint32

// The types Dequantize reads (ggml's numbering).
const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q5_0 Type = 6
	Q8_0 Type = 8
	Q4_K Type = 12
	Q6_K Type = 14
	BF16 Type = 30
)

// layout is a type's block: values per block and bytes per block.
type layout struct {
	name          string
	values, bytes int
}

var layouts = map[Type]layout{
	F32:  {"F32", 1, 4},
	F16:  {"F16", 1, 2},
	Q4_0: {"Q4_0", 32, 2 + 16},
	Q5_0: {"Q5_0", 32, 2 + 4 + 16},
	Q8_0: {"Q8_0", 32, 2 + 32},
	Q4_K: {"Q4_K", 256, 2 + 2 + 12 + 128},
	Q6_K: {"Q6_K", 256, 128 + 64 + 16 + 2},
	BF16: {"BF16", 1, 2},
}

func (t Type) String() string {
	if l, ok := layouts[t]; ok {
		return l.name
	}
	return fmt.Sprintf("type %d", uint32(t))
}

// bytes is the data size of n values of type t.
func (t Type) bytes(n uint64) (uint64, error) {
	l, ok := layouts[t]
	if !ok {
		return 0, fmt.Errorf("%s is not supported (F32, F16, BF16, Q4_0, Q5_0, Q8_0, Q4_K and Q6_K are)", t)
	}
	if n%uint64(l.values) != 0 {
		return 0, fmt.Errorf("%d values are not whole %s blocks of %d", n, t, l.values)
	}
	return n / uint64(l.values) * uint64(l.bytes), nil
}

// Dequantize decodes n values of type t from raw.
func Dequantize(t Type, raw []byte, n int) ([]float32, error) {
	size, err := t.bytes(uint64(n))
	if err != nil {
		return nil, err
	}
	if uint64(len(raw)) != size {
		return nil, fmt.Errorf("%d values of %s take %d bytes, got %d", n, t, size, len(raw))
	}
	out := make([]float32, n)
	l := layouts[t]
	block := map[Type]func(dst []float32, b []byte){
		F32: func(dst []float32, b []byte) { dst[0] = math.Float32frombits(binary.LittleEndian.Uint32(b)) },
		F16: func(dst []float32, b []byte) { dst[0] = half(b) },
		BF16: func(dst []float32, b []byte) {
			dst[0] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16)
		},
		Q4_0: q4_0, Q5_0: q5_0, Q8_0: q8_0, Q4_K: q4_K, Q6_K: q6_K,
	}[t]
	for i := range n / l.values {
		block(out[i*l.values:(i+1)*l.values], raw[i*l.bytes:(i+1)*l.bytes])
	}
	return out, nil
}

// half decodes an IEEE 754 half-precision float.
func half(b []byte) float32 { return F16ToF32(binary.LittleEndian.Uint16(b)) }

// F16ToF32 converts IEEE 754 half-precision bits to a float32.
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: frac × 2^-24
		v := float32(frac) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

// q8_0: d (f16), then 32 int8 quants: x = d·q.
func q8_0(dst []float32, b []byte) {
	d := half(b)
	for j := range 32 {
		dst[j] = d * float32(int8(b[2+j]))
	}
}

// q4_0: d (f16), then 16 bytes: low nibbles are values 0–15, high
// nibbles 16–31; x = d·(q − 8).
func q4_0(dst []float32, b []byte) {
	d := half(b)
	qs := b[2:]
	for j := range 16 {
		dst[j] = d * float32(int(qs[j]&0x0f)-8)
		dst[j+16] = d * float32(int(qs[j]>>4)-8)
	}
}

// q5_0: d (f16), 32 high bits (uint32), 16 bytes of low nibbles as in
// q4_0; x = d·(q − 16) with q 5 bits.
func q5_0(dst []float32, b []byte) {
	d := half(b)
	qh := binary.LittleEndian.Uint32(b[2:])
	qs := b[6:]
	for j := range 16 {
		h0 := byte(qh>>uint(j)<<4) & 0x10
		h1 := byte(qh>>uint(j+12)) & 0x10
		dst[j] = d * float32(int(qs[j]&0x0f|h0)-16)
		dst[j+16] = d * float32(int(qs[j]>>4|h1)-16)
	}
}

// scaleMinK4 unpacks the j-th 6-bit scale and min of a Q4_K block's 12
// scale bytes.
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0x0f | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// q4_K: a super-block of 256 values in 8 sub-blocks of 32: d and dmin
// (f16), 12 bytes of 6-bit scales and mins, 128 bytes of nibbles; each 64
// values use 32 bytes, low nibbles first; x = d·sc·q − dmin·m.
func q4_K(dst []float32, b []byte) {
	d, dmin := half(b), half(b[2:])
	scales, q := b[4:16], b[16:]
	for j, is := 0, 0; j < 256; j, is = j+64, is+2 {
		sc, m := scaleMinK4(is, scales)
		d1, m1 := d*float32(sc), dmin*float32(m)
		sc, m = scaleMinK4(is+1, scales)
		d2, m2 := d*float32(sc), dmin*float32(m)
		for l := range 32 {
			dst[j+l] = d1*float32(q[l]&0x0f) - m1
			dst[j+32+l] = d2*float32(q[l]>>4) - m2
		}
		q = q[32:]
	}
}

// q6_K: a super-block of 256 values: 128 bytes of low nibbles, 64 bytes of
// high 2-bit pairs, 16 int8 scales (one per 16 values), d (f16);
// x = d·scale·(q − 32) with q 6 bits.
func q6_K(dst []float32, b []byte) {
	ql, qh, sc := b[:128], b[128:192], b[192:208]
	d := half(b[208:])
	for n := 0; n < 256; n += 128 {
		for l := range 32 {
			is := l / 16
			q1 := int(ql[l]&0x0f|(qh[l]>>0&3)<<4) - 32
			q2 := int(ql[l+32]&0x0f|(qh[l]>>2&3)<<4) - 32
			q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
			q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
			dst[n+l] = d * float32(int8(sc[is])) * float32(q1)
			dst[n+l+32] = d * float32(int8(sc[is+2])) * float32(q2)
			dst[n+l+64] = d * float32(int8(sc[is+4])) * float32(q3)
			dst[n+l+96] = d * float32(int8(sc[is+6])) * float32(q4)
		}
		ql, qh, sc = ql[64:], qh[32:], sc[8:]
	}
}
