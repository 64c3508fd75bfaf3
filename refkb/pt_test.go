package refkb

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureDir is the reference knowledge base shared by the project's tests.
var fixtureDir = filepath.Join("..", "..", "shared", "fixtures", "seed-blog")

func needFixture(tb testing.TB) string {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(fixtureDir, TextFile)); err != nil {
		tb.Skipf("reference fixture %s absent: %v", fixtureDir, err)
	}
	return fixtureDir
}

// ptSpec describes the data.pkl of a saved tensor.
type ptSpec struct {
	storage       string // "FloatStorage"
	key           string // "0"
	numel, offset int
	shape, stride []int
	requiresGrad  bool
	proto4        bool // use the opcodes of protocol 4 (FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE)
}

func floatSpec(rows, cols int) ptSpec {
	return ptSpec{storage: "FloatStorage", key: "0", numel: rows * cols, shape: []int{rows, cols}, stride: []int{cols, 1}}
}

// ptPickle writes data.pkl byte for byte as torch.save (pickle protocol 2)
// does for a tensor: _rebuild_tensor_v2(persistent_id(('storage',
// torch.FloatStorage, key, 'cpu', numel)), offset, shape, stride,
// requires_grad, OrderedDict()).
func ptPickle(s ptSpec) []byte {
	var b bytes.Buffer
	memo := byte(0)
	put := func() {
		if s.proto4 {
			b.WriteByte(0x94) // MEMOIZE
		} else {
			b.Write([]byte{'q', memo}) // BINPUT
		}
		memo++
	}
	str := func(v string) {
		if s.proto4 {
			b.Write([]byte{0x8c, byte(len(v))}) // SHORT_BINUNICODE
		} else {
			b.WriteByte('X') // BINUNICODE
			binary.Write(&b, binary.LittleEndian, uint32(len(v)))
		}
		b.WriteString(v)
	}
	global := func(mod, name string) {
		if s.proto4 {
			str(mod)
			put()
			str(name)
			put()
			b.WriteByte(0x93) // STACK_GLOBAL
		} else {
			b.WriteString("c" + mod + "\n" + name + "\n")
		}
	}
	integer := func(n int) {
		switch {
		case n >= 0 && n < 256:
			b.Write([]byte{'K', byte(n)})
		case n >= 0 && n < 65536:
			b.WriteByte('M')
			binary.Write(&b, binary.LittleEndian, uint16(n))
		default:
			b.WriteByte('J')
			binary.Write(&b, binary.LittleEndian, int32(n))
		}
	}
	tuple := func(ns []int) {
		if len(ns) == 0 {
			b.WriteByte(')')
			return
		}
		if len(ns) > 3 {
			b.WriteByte('(')
		}
		for _, n := range ns {
			integer(n)
		}
		if len(ns) > 3 {
			b.WriteByte('t')
		} else {
			b.WriteByte(0x84 + byte(len(ns))) // TUPLE1..3
		}
	}
	if s.proto4 {
		b.Write([]byte{0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0}) // frame length is not checked
	} else {
		b.Write([]byte{0x80, 2})
	}
	global("torch._utils", "_rebuild_tensor_v2")
	put()
	b.WriteString("((")
	str("storage")
	put()
	global("torch", s.storage)
	put()
	str(s.key)
	put()
	str("cpu")
	put()
	integer(s.numel)
	b.WriteByte('t')
	put()
	b.WriteByte('Q')
	integer(s.offset)
	tuple(s.shape)
	put()
	tuple(s.stride)
	put()
	if s.requiresGrad {
		b.WriteByte(0x88)
	} else {
		b.WriteByte(0x89)
	}
	global("collections", "OrderedDict")
	put()
	b.WriteString(")R")
	put()
	b.WriteByte('t')
	put()
	b.WriteByte('R')
	put()
	b.WriteByte('.')
	return b.Bytes()
}

func floatBytes(order binary.ByteOrder, vals []float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		order.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// ptMembers are the members torch.save writes for a tensor, under top/.
func ptMembers(top string, s ptSpec, data []byte) map[string][]byte {
	return map[string][]byte{
		top + "/data.pkl":               ptPickle(s),
		top + "/byteorder":              []byte("little"),
		top + "/data/" + s.key:          data,
		top + "/version":                []byte("3\n"),
		top + "/.data/serialization_id": []byte("1234567890"),
		top + "/.data/version":          []byte("3\n"),
	}
}

func writeZip(tb testing.TB, path string, members map[string][]byte) {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range members {
		if data == nil {
			continue
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// seq is 0, 1, 2, … n-1 as float32.
func seq(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)
	}
	return v
}

func TestReadTensor(t *testing.T) {
	le := binary.LittleEndian
	tests := []struct {
		name    string
		members func(top string) map[string][]byte
		want    [][]float32
	}{
		{
			name:    "3x4 contiguous",
			members: func(top string) map[string][]byte { return ptMembers(top, floatSpec(3, 4), floatBytes(le, seq(12))) },
			want:    [][]float32{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}},
		},
		{
			name: "protocol 4 opcodes",
			members: func(top string) map[string][]byte {
				s := floatSpec(3, 4)
				s.proto4 = true
				return ptMembers(top, s, floatBytes(le, seq(12)))
			},
			want: [][]float32{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}},
		},
		{
			name: "big endian",
			members: func(top string) map[string][]byte {
				m := ptMembers(top, floatSpec(2, 2), floatBytes(binary.BigEndian, []float32{1.5, -2, 3e-7, 4}))
				m[top+"/byteorder"] = []byte("big")
				return m
			},
			want: [][]float32{{1.5, -2}, {3e-7, 4}},
		},
		{
			name: "no byteorder member means little endian",
			members: func(top string) map[string][]byte {
				m := ptMembers(top, floatSpec(1, 3), floatBytes(le, []float32{7, 8, 9}))
				delete(m, top+"/byteorder")
				return m
			},
			want: [][]float32{{7, 8, 9}},
		},
		{
			name: "transposed view",
			members: func(top string) map[string][]byte {
				// Storage holds a 4x3 row-major matrix; the tensor is its transpose.
				s := ptSpec{storage: "FloatStorage", key: "0", numel: 12, shape: []int{3, 4}, stride: []int{1, 3}}
				return ptMembers(top, s, floatBytes(le, seq(12)))
			},
			want: [][]float32{{0, 3, 6, 9}, {1, 4, 7, 10}, {2, 5, 8, 11}},
		},
		{
			name: "slice of a larger storage, other key",
			members: func(top string) map[string][]byte {
				s := ptSpec{storage: "FloatStorage", key: "7", numel: 16, offset: 4, shape: []int{3, 4}, stride: []int{4, 1}}
				return ptMembers(top, s, floatBytes(le, seq(16)))
			},
			want: [][]float32{{4, 5, 6, 7}, {8, 9, 10, 11}, {12, 13, 14, 15}},
		},
		{
			name:    "no rows",
			members: func(top string) map[string][]byte { return ptMembers(top, floatSpec(0, 512), floatBytes(le, nil)) },
			want:    [][]float32{},
		},
		{
			name: "wide integers in the shape",
			members: func(top string) map[string][]byte {
				return ptMembers(top, floatSpec(1, 70000), floatBytes(le, seq(70000)))
			},
			want: [][]float32{seq(70000)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.pt")
			m := tc.members("anything_named")
			writeZip(t, path, m)
			got, err := ReadTensor(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d rows, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if len(got[i]) != len(tc.want[i]) {
					t.Fatalf("row %d has %d columns, want %d", i, len(got[i]), len(tc.want[i]))
				}
				for j := range got[i] {
					if got[i][j] != tc.want[i][j] {
						t.Fatalf("[%d][%d] = %v, want %v", i, j, got[i][j], tc.want[i][j])
					}
				}
			}
		})
	}
}

func TestReadTensorErrors(t *testing.T) {
	le := binary.LittleEndian
	good := func() map[string][]byte { return ptMembers("t", floatSpec(3, 4), floatBytes(le, seq(12))) }
	with := func(edit func(m map[string][]byte)) func() []byte {
		return func() []byte {
			m := good()
			edit(m)
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			for name, data := range m {
				if data == nil {
					continue
				}
				w, _ := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
				w.Write(data)
			}
			zw.Close()
			return buf.Bytes()
		}
	}
	spec := func(edit func(s *ptSpec)) func(m map[string][]byte) {
		return func(m map[string][]byte) {
			s := floatSpec(3, 4)
			edit(&s)
			m["t/data.pkl"] = ptPickle(s)
		}
	}
	valid := with(func(map[string][]byte) {})()
	tests := []struct {
		name string
		file func() []byte
		want string // in the error, besides the file name
	}{
		{"not a zip", func() []byte { return []byte("\x80\x02legacy torch.save stream") }, "not a PyTorch zip archive"},
		{"empty file", func() []byte { return nil }, "not a PyTorch zip archive"},
		{"truncated zip", func() []byte { return valid[:len(valid)/2] }, "not a PyTorch zip archive"},
		{"corrupt data bytes", func() []byte {
			b := bytes.Clone(valid)
			i := bytes.Index(b, floatBytes(le, seq(12)))
			b[i+5] ^= 0xff
			return b
		}, "checksum"},
		{"size claim beyond the file", func() []byte {
			// A 2 GiB storage of which the tensor uses one element: the zip
			// header claims it all while the file holds 48 bytes.
			s := ptSpec{storage: "FloatStorage", key: "0", numel: 1 << 29, shape: []int{1, 1}, stride: []int{1, 1}}
			b := with(func(m map[string][]byte) { m["t/data.pkl"] = ptPickle(s) })()
			cd := bytes.Index(b, []byte("PK\x01\x02"))
			for cd >= 0 {
				nameLen := int(binary.LittleEndian.Uint16(b[cd+28:]))
				if string(b[cd+46:cd+46+nameLen]) == "t/data/0" {
					binary.LittleEndian.PutUint32(b[cd+24:], 1<<31)
				}
				next := bytes.Index(b[cd+4:], []byte("PK\x01\x02"))
				if next < 0 {
					break
				}
				cd += 4 + next
			}
			return b
		}, "claims 2147483648 bytes from 48 compressed bytes"},
		{"wrong dtype", with(spec(func(s *ptSpec) { s.storage = "DoubleStorage" })), "torch.DoubleStorage, want torch.FloatStorage"},
		{"half dtype", with(spec(func(s *ptSpec) { s.storage = "HalfStorage" })), "HalfStorage"},
		{"data shorter than storage", with(func(m map[string][]byte) { m["t/data/0"] = floatBytes(le, seq(11)) }), "holds 44 bytes, want 48"},
		{"data longer than storage", with(func(m map[string][]byte) { m["t/data/0"] = floatBytes(le, seq(13)) }), "holds 52 bytes, want 48"},
		{"shape beyond storage", with(spec(func(s *ptSpec) { s.shape = []int{4, 4}; s.stride = []int{4, 1} })), "storage holds 12"},
		{"missing data member", with(func(m map[string][]byte) { delete(m, "t/data/0") }), "t/data/0"},
		{"missing data.pkl", with(func(m map[string][]byte) { delete(m, "t/data.pkl") }), "data.pkl"},
		{"two pickles", with(func(m map[string][]byte) { m["u/data.pkl"] = m["t/data.pkl"] }), "two pickles"},
		{"1-D tensor", with(spec(func(s *ptSpec) { s.shape = []int{12}; s.stride = []int{1} })), "want 2-D"},
		{"3-D tensor", with(spec(func(s *ptSpec) { s.shape = []int{1, 3, 4}; s.stride = []int{12, 4, 1} })), "want 2-D"},
		{"storage key escapes", with(spec(func(s *ptSpec) { s.key = "../x" })), "not a member name"},
		{"unknown byte order", with(func(m map[string][]byte) { m["t/byteorder"] = []byte("middle") }), "unknown byte order"},
		{"dict instead of tensor", with(func(m map[string][]byte) { m["t/data.pkl"] = []byte("\x80\x02}q\x00.") }), "holds a dict, not a tensor"},
		{"other callable", with(func(m map[string][]byte) { m["t/data.pkl"] = []byte("\x80\x02cos\nsystem\n)R.") }), "global os.system"},
		{"unsupported opcode", with(func(m map[string][]byte) { m["t/data.pkl"] = []byte("\x80\x02I1\n.") }), "opcode 0x49"},
		{"pickle without STOP", with(func(m map[string][]byte) { m["t/data.pkl"] = []byte("\x80\x02K\x01") }), "without STOP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.pt")
			if err := os.WriteFile(path, tc.file(), 0o644); err != nil {
				t.Fatal(err)
			}
			rows, err := ReadTensor(path)
			if err == nil {
				t.Fatalf("no error; got %d rows", len(rows))
			}
			t.Log(err)
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %s and %q", err, path, tc.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "absent.pt")
		if _, err := ReadTensor(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("error %v does not name %s", err, path)
		}
	})
}

// Every prefix of a valid pickle is an error, never a panic.
func TestParseTensorPickleTruncated(t *testing.T) {
	for _, proto4 := range []bool{false, true} {
		s := floatSpec(17, 512)
		s.proto4 = proto4
		b := ptPickle(s)
		if _, err := parseTensorPickle(b); err != nil {
			t.Fatalf("full pickle: %v", err)
		}
		for n := range len(b) {
			if _, err := parseTensorPickle(b[:n]); err == nil {
				t.Fatalf("proto4=%v: prefix of %d bytes parsed", proto4, n)
			}
		}
	}
}

// The test's pickle writer matches what PyTorch wrote for the fixture, so
// the generated-archive tests exercise the real format.
func TestPicklerMatchesPyTorch(t *testing.T) {
	dir := needFixture(t)
	zr, err := zip.OpenReader(filepath.Join(dir, ImageTensor))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := zr.Open("image_embeddings/data.pkl")
	if err != nil {
		t.Fatal(err)
	}
	real, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	s := floatSpec(17, 512)
	s.requiresGrad = true // as the reference saved it
	if got := ptPickle(s); !bytes.Equal(got, real) {
		t.Fatalf("generated pickle differs from PyTorch's:\n got %q\nwant %q", got, real)
	}
	meta, err := parseTensorPickle(real)
	if err != nil {
		t.Fatal(err)
	}
	if meta.shape != [2]int64{17, 512} || meta.stride != [2]int64{512, 1} || meta.numel != 17*512 || meta.key != "0" {
		t.Fatalf("parsed %+v", meta)
	}
}

func TestReadTensorFixture(t *testing.T) {
	dir := needFixture(t)
	for _, tc := range []struct {
		file string
		rows int
	}{{TextTensor, 86}, {ImageTensor, 17}} {
		rows, err := ReadTensor(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != tc.rows {
			t.Fatalf("%s: %d rows, want %d", tc.file, len(rows), tc.rows)
		}
		for i, r := range rows {
			if len(r) != 512 {
				t.Fatalf("%s row %d: %d columns", tc.file, i, len(r))
			}
			if n := norm(r); math.Abs(n-1) > 1e-3 {
				t.Fatalf("%s row %d: norm %v", tc.file, i, n)
			}
		}
	}
}

func FuzzParseTensorPickle(f *testing.F) {
	f.Add(ptPickle(floatSpec(3, 4)))
	s := floatSpec(2, 5)
	s.proto4 = true
	f.Add(ptPickle(s))
	f.Add([]byte("\x80\x02(]q\x00(K\x01K\x02e}q\x01(X\x01\x00\x00\x00aq\x02h\x00utq\x03."))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseTensorPickle(b)
		if err != nil {
			return
		}
		// Whatever parses must fit in its storage.
		if m.shape[0] > 0 && m.shape[1] > 0 {
			last := m.offset + (m.shape[0]-1)*m.stride[0] + (m.shape[1]-1)*m.stride[1]
			if last >= m.numel || last < 0 {
				t.Fatalf("parsed %+v reaches past its storage", m)
			}
		}
	})
}

func norm(v []float32) float64 {
	var s float64
	for _, f := range v {
		s += float64(f) * float64(f)
	}
	return math.Sqrt(s)
}

func BenchmarkReadTensor(b *testing.B) {
	b.Run("fixture-86x512", func(b *testing.B) {
		path := filepath.Join(needFixture(b), TextTensor)
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(st.Size())
		for b.Loop() {
			if _, err := ReadTensor(path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("generated-20000x512", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "big.pt")
		writeZip(b, path, ptMembers("big", floatSpec(20000, 512), floatBytes(binary.LittleEndian, seq(20000*512))))
		b.SetBytes(20000 * 512 * 4)
		for b.Loop() {
			if _, err := ReadTensor(path); err != nil {
				b.Fatal(err)
			}
		}
	})
}
