package onnxgraph

import (
	"bufio"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// message is a protobuf message as a list of fields in wire order. Nested
// messages stay a tree until written, so large tensor payloads are written
// straight from their slices instead of being copied into every enclosing
// message's buffer.
type message []field

type field struct {
	num protowire.Number
	typ protowire.Type // VarintType, Fixed32Type or BytesType
	u   uint64         // varint value or fixed32 bits
	b   []byte         // bytes payload, when sub is nil
	sub message        // nested message payload
}

func (m *message) varint(num protowire.Number, v int64) {
	*m = append(*m, field{num: num, typ: protowire.VarintType, u: uint64(v)})
}

func (m *message) float(num protowire.Number, v float32) {
	*m = append(*m, field{num: num, typ: protowire.Fixed32Type, u: uint64(math.Float32bits(v))})
}

func (m *message) bytes(num protowire.Number, b []byte) {
	*m = append(*m, field{num: num, typ: protowire.BytesType, b: b})
}

func (m *message) str(num protowire.Number, s string) { m.bytes(num, []byte(s)) }

func (m *message) msg(num protowire.Number, sub message) {
	// A nil sub would be written as an empty bytes field, which is the
	// encoding of an empty message, so normalise it for clarity.
	if sub == nil {
		sub = message{}
	}
	*m = append(*m, field{num: num, typ: protowire.BytesType, sub: sub})
}

func (f field) payloadSize() int {
	switch f.typ {
	case protowire.VarintType:
		return protowire.SizeVarint(f.u)
	case protowire.Fixed32Type:
		return protowire.SizeFixed32()
	}
	if f.sub != nil {
		return protowire.SizeBytes(f.sub.size())
	}
	return protowire.SizeBytes(len(f.b))
}

func (m message) size() int {
	n := 0
	for _, f := range m {
		n += protowire.SizeTag(f.num) + f.payloadSize()
	}
	return n
}

func (m message) appendTo(b []byte) []byte {
	for _, f := range m {
		b = protowire.AppendTag(b, f.num, f.typ)
		switch {
		case f.typ == protowire.VarintType:
			b = protowire.AppendVarint(b, f.u)
		case f.typ == protowire.Fixed32Type:
			b = protowire.AppendFixed32(b, uint32(f.u))
		case f.sub != nil:
			b = protowire.AppendVarint(b, uint64(f.sub.size()))
			b = f.sub.appendTo(b)
		default:
			b = protowire.AppendBytes(b, f.b)
		}
	}
	return b
}

// writeTo streams m to w. Small fields go through a scratch buffer; bytes
// payloads are written directly.
func (m message) writeTo(w *bufio.Writer) error {
	var scratch [2 * binaryVarintMax]byte
	for _, f := range m {
		b := protowire.AppendTag(scratch[:0], f.num, f.typ)
		switch {
		case f.typ == protowire.VarintType:
			b = protowire.AppendVarint(b, f.u)
		case f.typ == protowire.Fixed32Type:
			b = protowire.AppendFixed32(b, uint32(f.u))
		case f.sub != nil:
			b = protowire.AppendVarint(b, uint64(f.sub.size()))
		default:
			b = protowire.AppendVarint(b, uint64(len(f.b)))
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		switch {
		case f.typ != protowire.BytesType:
		case f.sub != nil:
			if err := f.sub.writeTo(w); err != nil {
				return err
			}
		default:
			if _, err := w.Write(f.b); err != nil {
				return err
			}
		}
	}
	return nil
}

const binaryVarintMax = 10
