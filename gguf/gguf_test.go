package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// builder writes GGUF files for tests.
type builder struct {
	kv      bytes.Buffer
	nkv     int
	infos   bytes.Buffer
	data    bytes.Buffer
	tensors int
	align   int
}

func (b *builder) str(w *bytes.Buffer, s string) {
	binary.Write(w, binary.LittleEndian, uint64(len(s)))
	w.WriteString(s)
}

// meta adds a key of value type typ whose encoded value is v.
func (b *builder) meta(key string, typ uint32, v []byte) {
	b.str(&b.kv, key)
	binary.Write(&b.kv, binary.LittleEndian, typ)
	b.kv.Write(v)
	b.nkv++
}

func le(v any) []byte {
	var w bytes.Buffer
	binary.Write(&w, binary.LittleEndian, v)
	return w.Bytes()
}

func (b *builder) metaString(key, v string) {
	var w bytes.Buffer
	b.str(&w, v)
	b.meta(key, tString, w.Bytes())
}

func (b *builder) metaStrings(key string, vs ...string) {
	var w bytes.Buffer
	binary.Write(&w, binary.LittleEndian, uint32(tString))
	binary.Write(&w, binary.LittleEndian, uint64(len(vs)))
	for _, v := range vs {
		b.str(&w, v)
	}
	b.meta(key, tArray, w.Bytes())
}

// tensor adds a tensor whose raw data is raw, aligned to 32 bytes.
func (b *builder) tensor(name string, typ Type, raw []byte, dims ...uint64) {
	for b.data.Len()%32 != 0 {
		b.data.WriteByte(0)
	}
	b.str(&b.infos, name)
	binary.Write(&b.infos, binary.LittleEndian, uint32(len(dims)))
	for _, d := range dims {
		binary.Write(&b.infos, binary.LittleEndian, d)
	}
	binary.Write(&b.infos, binary.LittleEndian, uint32(typ))
	binary.Write(&b.infos, binary.LittleEndian, uint64(b.data.Len()))
	b.data.Write(raw)
	b.tensors++
}

func (b *builder) bytes() []byte {
	var w bytes.Buffer
	w.WriteString("GGUF")
	binary.Write(&w, binary.LittleEndian, uint32(3))
	binary.Write(&w, binary.LittleEndian, uint64(b.tensors))
	binary.Write(&w, binary.LittleEndian, uint64(b.nkv))
	w.Write(b.kv.Bytes())
	w.Write(b.infos.Bytes())
	align := b.align
	if align == 0 {
		align = DefaultAlignment
	}
	for w.Len()%align != 0 {
		w.WriteByte(0)
	}
	w.Write(b.data.Bytes())
	return w.Bytes()
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func f32s(v ...float32) []byte {
	var w bytes.Buffer
	for _, x := range v {
		binary.Write(&w, binary.LittleEndian, math.Float32bits(x))
	}
	return w.Bytes()
}

func TestOpen(t *testing.T) {
	var b builder
	b.metaString("general.architecture", "bert")
	b.meta("bert.block_count", tUint32, le(uint32(6)))
	b.meta("bert.attention.layer_norm_epsilon", tFloat32, le(float32(1e-12)))
	b.meta("signed", tInt32, le(int32(-3)))
	b.meta("flag", tBool, []byte{1})
	b.metaStrings("tokenizer.ggml.tokens", "[PAD]", "▁hello", "ing")
	b.tensor("w", F32, f32s(1, 2, 3, 4, 5, 6), 3, 2)
	b.tensor("h", F16, []byte{0x00, 0x3c, 0x00, 0xc0}, 2) // 1, -2
	g, err := Open(writeTemp(t, b.bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if s, _ := g.String("general.architecture"); s != "bert" {
		t.Errorf("architecture %q", s)
	}
	if n, ok := g.Uint("bert.block_count"); !ok || n != 6 {
		t.Errorf("block_count %d %v", n, ok)
	}
	if _, ok := g.Uint("signed"); ok {
		t.Error("negative int read as unsigned")
	}
	if f, ok := g.Float("bert.attention.layer_norm_epsilon"); !ok || math.Abs(f-1e-12) > 1e-18 {
		t.Errorf("eps %g %v", f, ok)
	}
	if v, ok := g.Strings("tokenizer.ggml.tokens"); !ok || !slices.Equal(v, []string{"[PAD]", "▁hello", "ing"}) {
		t.Errorf("tokens %q %v", v, ok)
	}
	if g.Metadata["flag"] != true {
		t.Errorf("flag %v", g.Metadata["flag"])
	}
	w, err := g.Float32s("w")
	if err != nil || !slices.Equal(w, []float32{1, 2, 3, 4, 5, 6}) {
		t.Errorf("w = %v, %v", w, err)
	}
	if ti, _ := g.Tensor("w"); ti.Elements() != 6 || !slices.Equal(ti.Dims, []uint64{3, 2}) {
		t.Errorf("w info %+v", ti)
	}
	h, err := g.Float32s("h")
	if err != nil || !slices.Equal(h, []float32{1, -2}) {
		t.Errorf("h = %v, %v", h, err)
	}
	if _, err := g.Float32s("missing"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing tensor: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	good := func() *builder {
		var b builder
		b.metaString("k", "v")
		b.tensor("w", F32, f32s(1, 2), 2)
		return &b
	}
	tests := []struct {
		name string
		data func() []byte
		want string
	}{
		{"not gguf", func() []byte { return []byte("GGML0000000000000000000000") }, "not a GGUF file"},
		{"empty", func() []byte { return nil }, "EOF"},
		{"truncated metadata", func() []byte { return good().bytes()[:30] }, "EOF"},
		{"version", func() []byte {
			d := good().bytes()
			binary.LittleEndian.PutUint32(d[4:], 9)
			return d
		}, "version 9"},
		{"data past the end", func() []byte { d := good().bytes(); return d[:len(d)-4] }, "past the end"},
		{"unsupported type", func() []byte {
			var b builder
			b.tensor("w", Type(10), make([]byte, 84), 256) // Q2_K
			return b.bytes()
		}, "not supported"},
		{"partial block", func() []byte {
			var b builder
			b.tensor("w", Q8_0, make([]byte, 34), 16)
			return b.bytes()
		}, "whole Q8_0 blocks"},
		{"huge string", func() []byte {
			var b builder
			b.meta("k", tString, le(uint64(1<<40)))
			return b.bytes()
		}, "too long"},
		{"unknown value type", func() []byte {
			var b builder
			b.meta("k", 99, nil)
			return b.bytes()
		}, "unknown value type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := Open(writeTemp(t, tt.data()))
			if err == nil {
				g.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}
