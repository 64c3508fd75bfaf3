// Package gguf reads GGUF files, the model format of llama.cpp and Ollama:
// the header, the key–value metadata and the tensor table, and dequantises
// tensors to float32 (F32, F16, BF16, Q4_0, Q5_0, Q8_0, Q4_K and Q6_K).
//
// mmrag uses it only in tests and tools: to turn the real sentence-embedder
// weights that ship as GGUF in a Go module into an ONNX model (see
// embed/sbert/sberttest). It is not part of the mmrag binary.
//
// Format (version 2 and 3, little-endian): "GGUF", version uint32, tensor
// count uint64, metadata count uint64; metadata as key string, value type
// uint32, value; tensor infos as name, rank uint32, dims uint64 each
// (innermost first), type uint32, offset uint64 from the data section;
// the data section starts at the next multiple of general.alignment
// (default 32) after the tensor infos.
package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Limits that keep a corrupt or hostile file from making the reader
// allocate without bound.
const (
	maxString  = 1 << 20 // bytes of one string
	maxArray   = 1 << 24 // elements of one metadata array
	maxEntries = 1 << 20 // metadata entries, tensors
	maxRank    = 8
)

const magic = "GGUF"

// DefaultAlignment is the data alignment of a file without
// general.alignment.
const DefaultAlignment = 32

// TensorInfo is one entry of the tensor table.
type TensorInfo struct {
	Name   string
	Dims   []uint64 // innermost first, as ggml's ne: a [rows, cols] matrix is {cols, rows}
	Type   Type
	Offset uint64 // from the start of the data section
}

// Elements is the number of values the tensor holds.
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is an open GGUF file.
type File struct {
	Version  uint32
	Metadata map[string]any // uint8…int64, float32/64, bool, string, or []any of those
	Tensors  []TensorInfo

	path       string
	f          *os.File
	size       int64
	dataOffset int64
	byName     map[string]int
}

// Open reads path's header, metadata and tensor table; tensor data is read
// on demand by Float32s.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("gguf: %w", err)
	}
	g := &File{path: path, f: f, size: st.Size(), Metadata: map[string]any{}, byName: map[string]int{}}
	if err := g.readHeader(); err != nil {
		f.Close()
		return nil, fmt.Errorf("gguf %s: %w", path, err)
	}
	return g, nil
}

// Close closes the file.
func (g *File) Close() error { return g.f.Close() }

// counter is a reader that knows how far it has read.
type counter struct {
	r *bufio.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (g *File) readHeader() error {
	c := &counter{r: bufio.NewReaderSize(g.f, 1<<16)}
	d := &decoder{r: c}
	var m [4]byte
	d.read(m[:])
	if d.err == nil && string(m[:]) != magic {
		return fmt.Errorf("not a GGUF file (magic %q)", m[:])
	}
	g.Version = d.u32()
	if d.err == nil && (g.Version < 2 || g.Version > 3) {
		return fmt.Errorf("GGUF version %d is not supported (want 2 or 3)", g.Version)
	}
	nt, nkv := d.u64(), d.u64()
	if d.err != nil {
		return d.err
	}
	if nt > maxEntries || nkv > maxEntries {
		return fmt.Errorf("%d tensors and %d metadata entries: too many", nt, nkv)
	}
	for range nkv {
		key := d.str()
		v := d.value(d.u32(), 0)
		if d.err != nil {
			return fmt.Errorf("metadata %q: %w", key, d.err)
		}
		g.Metadata[key] = v
	}
	for range nt {
		t, err := d.tensorInfo()
		if err != nil {
			return err
		}
		g.byName[t.Name] = len(g.Tensors)
		g.Tensors = append(g.Tensors, t)
	}
	align := uint64(DefaultAlignment)
	if a, ok := g.Uint("general.alignment"); ok {
		if a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("general.alignment %d is not a power of two", a)
		}
		align = a
	}
	g.dataOffset = int64((uint64(c.n) + align - 1) / align * align)
	for _, t := range g.Tensors {
		if err := g.checkExtent(t); err != nil {
			return err
		}
	}
	return nil
}

// checkExtent makes sure t's data lies inside the file.
func (g *File) checkExtent(t TensorInfo) error {
	size, err := t.Type.bytes(t.Elements())
	if err != nil {
		return fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	end := uint64(g.dataOffset) + t.Offset + size
	if t.Offset > uint64(g.size) || end > uint64(g.size) {
		return fmt.Errorf("tensor %s: data [%d, %d) runs past the end of the file (%d bytes)", t.Name, uint64(g.dataOffset)+t.Offset, end, g.size)
	}
	return nil
}

// Tensor returns the table entry called name.
func (g *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := g.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	return g.Tensors[i], true
}

// Float32s reads tensor name and dequantises it, innermost dimension
// fastest (a ggml {cols, rows} matrix comes out row-major [rows][cols]).
func (g *File) Float32s(name string) ([]float32, error) {
	t, ok := g.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gguf %s: no tensor %q", g.path, name)
	}
	size, err := t.Type.bytes(t.Elements())
	if err != nil {
		return nil, fmt.Errorf("gguf %s: tensor %s: %w", g.path, name, err)
	}
	raw := make([]byte, size)
	if _, err := g.f.ReadAt(raw, g.dataOffset+int64(t.Offset)); err != nil {
		return nil, fmt.Errorf("gguf %s: read tensor %s: %w", g.path, name, err)
	}
	out, err := Dequantize(t.Type, raw, int(t.Elements()))
	if err != nil {
		return nil, fmt.Errorf("gguf %s: tensor %s: %w", g.path, name, err)
	}
	return out, nil
}

// Uint returns an unsigned or non-negative integer metadata value.
func (g *File) Uint(key string) (uint64, bool) {
	switch v := g.Metadata[key].(type) {
	case uint8:
		return uint64(v), true
	case uint16:
		return uint64(v), true
	case uint32:
		return uint64(v), true
	case uint64:
		return v, true
	case int8, int16, int32, int64:
		i := toInt64(v)
		return uint64(i), i >= 0
	}
	return 0, false
}

func toInt64(v any) int64 {
	switch v := v.(type) {
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int64:
		return v
	}
	return 0
}

// Float returns a floating-point metadata value.
func (g *File) Float(key string) (float64, bool) {
	switch v := g.Metadata[key].(type) {
	case float32:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

// String returns a string metadata value.
func (g *File) String(key string) (string, bool) {
	s, ok := g.Metadata[key].(string)
	return s, ok
}

// Strings returns an array-of-strings metadata value.
func (g *File) Strings(key string) ([]string, bool) {
	arr, ok := g.Metadata[key].([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(arr))
	for i, v := range arr {
		if out[i], ok = v.(string); !ok {
			return nil, false
		}
	}
	return out, true
}

// Metadata value types.
const (
	tUint8 = iota
	tInt8
	tUint16
	tInt16
	tUint32
	tInt32
	tFloat32
	tBool
	tString
	tArray
	tUint64
	tInt64
	tFloat64
)

// decoder reads little-endian values, keeping the first error.
type decoder struct {
	r   io.Reader
	err error
	buf [8]byte
}

func (d *decoder) read(p []byte) {
	if d.err != nil {
		return
	}
	if _, err := io.ReadFull(d.r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		d.err = err
	}
}

func (d *decoder) bytes(n int) []byte { d.read(d.buf[:n]); return d.buf[:n] }
func (d *decoder) u8() uint8          { return d.bytes(1)[0] }
func (d *decoder) u16() uint16        { return binary.LittleEndian.Uint16(d.bytes(2)) }
func (d *decoder) u32() uint32        { return binary.LittleEndian.Uint32(d.bytes(4)) }
func (d *decoder) u64() uint64        { return binary.LittleEndian.Uint64(d.bytes(8)) }

func (d *decoder) str() string {
	n := d.u64()
	if d.err != nil {
		return ""
	}
	if n > maxString {
		d.err = fmt.Errorf("string of %d bytes: too long", n)
		return ""
	}
	b := make([]byte, n)
	d.read(b)
	return string(b)
}

// value reads one metadata value of type typ; depth bounds nested arrays.
func (d *decoder) value(typ uint32, depth int) any {
	switch typ {
	case tUint8:
		return d.u8()
	case tInt8:
		return int8(d.u8())
	case tUint16:
		return d.u16()
	case tInt16:
		return int16(d.u16())
	case tUint32:
		return d.u32()
	case tInt32:
		return int32(d.u32())
	case tFloat32:
		return math.Float32frombits(d.u32())
	case tBool:
		return d.u8() != 0
	case tString:
		return d.str()
	case tUint64:
		return d.u64()
	case tInt64:
		return int64(d.u64())
	case tFloat64:
		return math.Float64frombits(d.u64())
	case tArray:
		elem, n := d.u32(), d.u64()
		if d.err != nil {
			return nil
		}
		if n > maxArray || depth > 2 {
			d.err = fmt.Errorf("array of %d elements at depth %d: too big", n, depth)
			return nil
		}
		out := make([]any, 0, min(n, 1<<16))
		for range n {
			v := d.value(elem, depth+1)
			if d.err != nil {
				return nil
			}
			out = append(out, v)
		}
		return out
	}
	if d.err == nil {
		d.err = fmt.Errorf("unknown value type %d", typ)
	}
	return nil
}

func (d *decoder) tensorInfo() (TensorInfo, error) {
	t := TensorInfo{Name: d.str()}
	rank := d.u32()
	if d.err == nil && (rank == 0 || rank > maxRank) {
		return t, fmt.Errorf("tensor %q: rank %d", t.Name, rank)
	}
	n := uint64(1)
	for range rank {
		dim := d.u64()
		if dim == 0 || dim > math.MaxInt32 || n > math.MaxInt64/dim {
			if d.err == nil {
				return t, fmt.Errorf("tensor %q: dimension %d", t.Name, dim)
			}
		}
		n *= max(dim, 1)
		t.Dims = append(t.Dims, dim)
	}
	t.Type = Type(d.u32())
	t.Offset = d.u64()
	if d.err != nil {
		return t, fmt.Errorf("tensor table: %w", d.err)
	}
	if n > math.MaxInt32 {
		return t, fmt.Errorf("tensor %q: %d elements: too many", t.Name, n)
	}
	return t, nil
}
