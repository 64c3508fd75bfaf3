package refkb

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"strings"
)

// maxPickle bounds data.pkl: a tensor's pickle is a few hundred bytes, so
// anything larger is not what this reader understands.
const maxPickle = 1 << 20

// ReadTensor reads a float32 2-D tensor saved by torch.save (the zip format
// of PyTorch ≥ 1.6) and returns it as rows×cols.
//
// The archive's top folder may have any name; its data.pkl must hold one
// tensor (torch._utils._rebuild_tensor_v2) backed by a torch.FloatStorage,
// whose bytes are the member <top>/data/<storage key>. Strided views
// (a transposed tensor, a slice of a larger storage) are copied out; other
// dtypes, other ranks and storages whose size disagrees with data.pkl are
// refused. All rows share one backing array.
func ReadTensor(path string) (rows [][]float32, err error) {
	rows, err = readTensor(path)
	if err != nil {
		return nil, fmt.Errorf("read tensor %s: %w", path, err)
	}
	return rows, nil
}

func readTensor(name string) ([][]float32, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("not a PyTorch zip archive (the legacy torch.save format is not supported): %w", err)
	}

	pkl, err := findPickle(zr)
	if err != nil {
		return nil, err
	}
	top := strings.TrimSuffix(pkl.Name, "data.pkl") // "<top>/"
	pb, err := readMember(pkl, maxPickle)
	if err != nil {
		return nil, err
	}
	t, err := parseTensorPickle(pb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}

	big := false
	if bo := findMember(zr, top+"byteorder"); bo != nil {
		b, err := readMember(bo, 64)
		if err != nil {
			return nil, err
		}
		switch s := strings.TrimSpace(string(b)); s {
		case "little":
		case "big":
			big = true
		default:
			return nil, fmt.Errorf("%s: unknown byte order %q", bo.Name, s)
		}
	}

	dataName := top + "data/" + t.key
	dm := findMember(zr, dataName)
	if dm == nil {
		return nil, fmt.Errorf("member %s (storage %q named in %s) is missing", dataName, t.key, pkl.Name)
	}
	want := uint64(t.numel) * 4
	if dm.UncompressedSize64 != want {
		return nil, fmt.Errorf("%s holds %d bytes, want %d (%d float32s, as %s says)", dataName, dm.UncompressedSize64, want, t.numel, pkl.Name)
	}
	// Sizes in zip headers are claims: check them against the bytes really
	// there before allocating for them (deflate compresses at most ~1032:1).
	if (dm.Method == zip.Store && dm.CompressedSize64 != want) || dm.CompressedSize64 > uint64(st.Size()) ||
		want > 1032*dm.CompressedSize64+1024 {
		return nil, fmt.Errorf("%s claims %d bytes from %d compressed bytes in a %d-byte file", dataName, want, dm.CompressedSize64, st.Size())
	}
	if t.dense() {
		flat, err := streamFloats(dm, int(t.numel), big)
		if err != nil {
			return nil, err
		}
		return t.split(flat), nil
	}
	raw, err := readMember(dm, int64(want))
	if err != nil {
		return nil, err
	}
	return t.split(t.gather(raw, big)), nil
}

// streamFloats decodes a member of n float32s chunk by chunk, so that a
// large tensor is never held twice (as bytes and as floats).
func streamFloats(f *zip.File, n int, big bool) ([]float32, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", f.Name, err)
	}
	defer rc.Close()
	flat := make([]float32, n)
	buf := make([]byte, 4*min(n, 64<<10))
	for done := 0; done < n; {
		k := min(len(buf)/4, n-done)
		if _, err := io.ReadFull(rc, buf[:4*k]); err != nil {
			return nil, fmt.Errorf("member %s: %w", f.Name, err)
		}
		decodeFloats(flat[done:done+k], buf[:4*k], big)
		done += k
	}
	if err := readEOF(rc); err != nil {
		return nil, fmt.Errorf("member %s: %w", f.Name, err)
	}
	return flat, nil
}

// decodeFloats fills dst from b (4*len(dst) bytes). The byte order is a
// branch rather than a binary.ByteOrder so that the loads inline: the
// interface call costs 3× on large tensors.
func decodeFloats(dst []float32, b []byte, big bool) {
	b = b[:4*len(dst)]
	if big {
		for i := range dst {
			dst[i] = math.Float32frombits(binary.BigEndian.Uint32(b[4*i:]))
		}
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

// readEOF reads past the end of a member: only then does archive/zip
// check its CRC.
func readEOF(r io.Reader) error {
	n, err := r.Read(make([]byte, 1))
	switch {
	case n != 0:
		return errors.New("longer than its header says")
	case err != nil && err != io.EOF:
		return err
	}
	return nil
}

func findPickle(zr *zip.Reader) (*zip.File, error) {
	var found *zip.File
	for _, f := range zr.File {
		dir, base := path.Split(f.Name)
		// torch.save writes <top>/data.pkl, exactly one level deep.
		if base != "data.pkl" || dir == "" || strings.Count(dir, "/") != 1 {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("two pickles, %s and %s: not a single saved tensor", found.Name, f.Name)
		}
		found = f
	}
	if found == nil {
		return nil, errors.New("no <name>/data.pkl member: not a torch.save archive")
	}
	return found, nil
}

func findMember(zr *zip.Reader, name string) *zip.File {
	for _, f := range zr.File {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// readMember reads a whole member, refusing one larger than limit before
// allocating for it.
func readMember(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("member %s is %d bytes, more than the %d expected", f.Name, f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", f.Name, err)
	}
	defer rc.Close()
	b := make([]byte, f.UncompressedSize64)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("member %s: %w", f.Name, err)
	}
	if err := readEOF(rc); err != nil {
		return nil, fmt.Errorf("member %s: %w", f.Name, err)
	}
	return b, nil
}

// tensorMeta is what data.pkl says about a saved tensor.
type tensorMeta struct {
	storage string // the storage class, e.g. "FloatStorage"
	key     string // the storage's member name under data/
	numel   int64  // float32s in the storage
	offset  int64  // of element [0,0], in elements
	shape   [2]int64
	stride  [2]int64
}

// dense reports whether the storage is exactly the tensor in row-major
// order, the layout torch.save gives a freshly computed tensor.
func (t *tensorMeta) dense() bool {
	r, c := t.shape[0], t.shape[1]
	return t.offset == 0 && t.numel == r*c && (r*c == 0 || (t.stride[1] == 1 || c == 1) && (t.stride[0] == c || r == 1))
}

// gather copies a strided tensor out of its storage bytes (numel*4 long,
// every index inside it, as parseTensorPickle checked) in row-major order.
func (t *tensorMeta) gather(raw []byte, big bool) []float32 {
	r, c := int(t.shape[0]), int(t.shape[1])
	flat := make([]float32, r*c)
	for i := range r {
		for j := range c {
			k := t.offset + int64(i)*t.stride[0] + int64(j)*t.stride[1]
			decodeFloats(flat[i*c+j:i*c+j+1], raw[k*4:], big)
		}
	}
	return flat
}

// split cuts a row-major array into rows that share it.
func (t *tensorMeta) split(flat []float32) [][]float32 {
	r, c := int(t.shape[0]), int(t.shape[1])
	out := make([][]float32, r)
	for i := range out {
		out[i] = flat[i*c : (i+1)*c : (i+1)*c]
	}
	return out
}

// parseTensorPickle runs data.pkl and checks that it rebuilds one 2-D
// float32 tensor that fits inside its storage.
func parseTensorPickle(b []byte) (tensorMeta, error) {
	var t tensorMeta
	v, err := unpickle(b)
	if err != nil {
		return t, err
	}
	call, ok := v.(pkReduce)
	if !ok {
		return t, fmt.Errorf("holds %s, not a tensor", pkDescribe(v))
	}
	// A saved nn.Parameter wraps the tensor: _rebuild_parameter(tensor, requires_grad, hooks).
	if call.fn == (pkGlobal{"torch._utils", "_rebuild_parameter"}) && len(call.args) > 0 {
		if inner, ok := call.args[0].(pkReduce); ok {
			call = inner
		}
	}
	if call.fn != (pkGlobal{"torch._utils", "_rebuild_tensor_v2"}) {
		return t, fmt.Errorf("holds %s, not a plain tensor (want torch._utils._rebuild_tensor_v2)", pkDescribe(call))
	}
	if len(call.args) < 4 {
		return t, fmt.Errorf("_rebuild_tensor_v2 has %d arguments, want at least 4", len(call.args))
	}
	pid, ok := call.args[0].(pkPersID)
	if !ok {
		return t, fmt.Errorf("tensor storage is %s, not a persistent id", pkDescribe(call.args[0]))
	}
	// ('storage', torch.<Type>Storage, key, location, numel)
	st, ok := pid.id.(pkTuple)
	if !ok || len(st) != 5 || st[0] != "storage" {
		return t, fmt.Errorf("storage id %s is not ('storage', type, key, location, numel)", pkDescribe(pid.id))
	}
	typ, ok := st[1].(pkGlobal)
	if !ok || typ.module != "torch" {
		return t, fmt.Errorf("storage type %s is not a torch storage class", pkDescribe(st[1]))
	}
	t.storage = typ.name
	if typ.name != "FloatStorage" {
		return t, fmt.Errorf("dtype storage is torch.%s, want torch.FloatStorage (float32)", typ.name)
	}
	key, ok := st[2].(string)
	if !ok || key == "" || strings.ContainsAny(key, "/\\") || key == "." || key == ".." {
		return t, fmt.Errorf("storage key %s is not a member name", pkDescribe(st[2]))
	}
	t.key = key
	numel, ok := st[4].(int64)
	if !ok || numel < 0 || numel > math.MaxInt64/4 {
		return t, fmt.Errorf("storage size %s is not a valid element count", pkDescribe(st[4]))
	}
	t.numel = numel
	if t.offset, ok = call.args[1].(int64); !ok || t.offset < 0 {
		return t, fmt.Errorf("storage offset %s is not a non-negative int", pkDescribe(call.args[1]))
	}
	shape, err := pkInts(call.args[2])
	if err != nil {
		return t, fmt.Errorf("shape: %w", err)
	}
	stride, err := pkInts(call.args[3])
	if err != nil {
		return t, fmt.Errorf("stride: %w", err)
	}
	if len(shape) != 2 || len(stride) != 2 {
		return t, fmt.Errorf("tensor has shape %v: want 2-D", shape)
	}
	copy(t.shape[:], shape)
	copy(t.stride[:], stride)
	r, c := shape[0], shape[1]
	if r < 0 || c < 0 || stride[0] < 0 || stride[1] < 0 {
		return t, fmt.Errorf("negative shape %v or stride %v", shape, stride)
	}
	if c != 0 && r > math.MaxInt32/c {
		return t, fmt.Errorf("tensor shape %v is too large", shape)
	}
	if r == 0 || c == 0 {
		return t, nil
	}
	// The last element must lie inside the storage; earlier ones then do too.
	last := t.offset
	for i, n := range shape {
		if stride[i] != 0 && n-1 > (math.MaxInt64-last)/stride[i] {
			return t, fmt.Errorf("stride %v overflows", stride)
		}
		last += (n - 1) * stride[i]
	}
	if last >= numel {
		return t, fmt.Errorf("tensor shape %v stride %v offset %d needs element %d, storage holds %d", shape, stride, t.offset, last, numel)
	}
	return t, nil
}

func pkInts(v any) ([]int64, error) {
	tup, ok := v.(pkTuple)
	if !ok {
		return nil, fmt.Errorf("%s is not a tuple", pkDescribe(v))
	}
	out := make([]int64, len(tup))
	for i, e := range tup {
		n, ok := e.(int64)
		if !ok {
			return nil, fmt.Errorf("element %d is %s, not an int", i, pkDescribe(e))
		}
		out[i] = n
	}
	return out, nil
}

// The pickle values the reader builds. Python objects are never created:
// a class reference stays a pkGlobal and a call stays a pkReduce, which is
// all a tensor's pickle needs and keeps untrusted input inert.
type (
	pkGlobal struct{ module, name string }
	pkReduce struct {
		fn   any
		args pkTuple
	}
	pkPersID struct{ id any }
	pkTuple  []any
	pkList   struct{ items []any }    // pointer-shared: APPEND mutates in place
	pkDict   struct{ pairs [][2]any } // keys may be unhashable in Go
	pkBytes  []byte
	pkNone   struct{}
)

func pkDescribe(v any) string {
	switch x := v.(type) {
	case pkGlobal:
		return "global " + x.module + "." + x.name
	case pkReduce:
		return "a call of " + pkDescribe(x.fn)
	case pkPersID:
		return "a persistent id"
	case pkTuple:
		return fmt.Sprintf("a %d-tuple", len(x))
	case *pkList:
		return "a list"
	case *pkDict:
		return "a dict"
	case string:
		return fmt.Sprintf("%q", x)
	case int64:
		return fmt.Sprint(x)
	case float64:
		return fmt.Sprint(x)
	case bool:
		return fmt.Sprint(x)
	case pkNone:
		return "None"
	case pkBytes:
		return "bytes"
	}
	return fmt.Sprintf("%T", v)
}

// unpickle interprets the subset of pickle protocols 2–5 that torch.save
// emits for tensors (and the common container opcodes around them).
func unpickle(b []byte) (any, error) {
	var (
		stack []any
		marks []int
		memo  = map[int64]any{}
		pos   int
	)
	var (
		op byte
		at int // offset of op
	)
	fail := func(op byte, format string, a ...any) error {
		return fmt.Errorf("pickle opcode 0x%02x at offset %d: %s", op, at, fmt.Sprintf(format, a...))
	}
	truncated := func() error { return fail(op, "truncated argument") }
	underflow := func() error { return fail(op, "stack underflow") }
	need := func(n int) ([]byte, bool) {
		if n < 0 || n > len(b)-pos {
			return nil, false
		}
		s := b[pos : pos+n]
		pos += n
		return s, true
	}
	line := func() (string, bool) {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			return "", false
		}
		s := string(b[pos : pos+i])
		pos += i + 1
		return s, true
	}
	pop := func() (any, bool) {
		if len(stack) == 0 || (len(marks) > 0 && len(stack) == marks[len(marks)-1]) {
			return nil, false
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		return v, true
	}
	popMark := func() ([]any, bool) {
		if len(marks) == 0 {
			return nil, false
		}
		m := marks[len(marks)-1]
		marks = marks[:len(marks)-1]
		items := append([]any(nil), stack[m:]...)
		stack = stack[:m]
		return items, true
	}
	top := func() (any, bool) {
		if len(stack) == 0 || (len(marks) > 0 && len(stack) == marks[len(marks)-1]) {
			return nil, false
		}
		return stack[len(stack)-1], true
	}
	lenArg := func(width int) (int, bool) {
		s, ok := need(width)
		if !ok {
			return 0, false
		}
		var n uint64
		switch width {
		case 1:
			n = uint64(s[0])
		case 4:
			n = uint64(binary.LittleEndian.Uint32(s))
		case 8:
			n = binary.LittleEndian.Uint64(s)
		}
		if n > uint64(len(b)) {
			return 0, false
		}
		return int(n), true
	}

	for pos < len(b) {
		op, at = b[pos], pos
		pos++
		switch op {
		case 0x80: // PROTO
			p, ok := need(1)
			if !ok {
				return nil, truncated()
			}
			if p[0] > 5 {
				return nil, fail(op, "protocol %d is newer than 5", p[0])
			}
		case 0x95: // FRAME: framing only, the opcodes follow inline
			if _, ok := need(8); !ok {
				return nil, truncated()
			}
		case '.': // STOP
			v, ok := pop()
			if !ok {
				return nil, underflow()
			}
			return v, nil
		case '(': // MARK
			marks = append(marks, len(stack))
		case 'c': // GLOBAL
			mod, ok1 := line()
			name, ok2 := line()
			if !ok1 || !ok2 {
				return nil, truncated()
			}
			stack = append(stack, pkGlobal{mod, name})
		case 0x93: // STACK_GLOBAL
			name, ok1 := pop()
			mod, ok2 := pop()
			ns, ok3 := name.(string)
			ms, ok4 := mod.(string)
			if !ok1 || !ok2 || !ok3 || !ok4 {
				return nil, fail(op, "want module and name strings")
			}
			stack = append(stack, pkGlobal{ms, ns})
		case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE
			v, ok := top()
			if !ok {
				return nil, underflow()
			}
			var k int64
			switch op {
			case 'q':
				s, ok := need(1)
				if !ok {
					return nil, truncated()
				}
				k = int64(s[0])
			case 'r':
				s, ok := need(4)
				if !ok {
					return nil, truncated()
				}
				k = int64(binary.LittleEndian.Uint32(s))
			default:
				k = int64(len(memo))
			}
			memo[k] = v
		case 'h', 'j': // BINGET, LONG_BINGET
			var k int64
			if op == 'h' {
				s, ok := need(1)
				if !ok {
					return nil, truncated()
				}
				k = int64(s[0])
			} else {
				s, ok := need(4)
				if !ok {
					return nil, truncated()
				}
				k = int64(binary.LittleEndian.Uint32(s))
			}
			v, ok := memo[k]
			if !ok {
				return nil, fail(op, "memo %d is unset", k)
			}
			stack = append(stack, v)
		case 'X', 0x8c, 0x8d, 'T', 'U', 'B', 'C', 0x8e: // str and bytes of each length width
			width := 4
			switch op {
			case 0x8c, 'U', 'C':
				width = 1
			case 0x8d, 0x8e:
				width = 8
			}
			n, ok := lenArg(width)
			if !ok {
				return nil, truncated()
			}
			s, ok := need(n)
			if !ok {
				return nil, truncated()
			}
			if op == 'B' || op == 'C' || op == 0x8e {
				stack = append(stack, pkBytes(bytes.Clone(s)))
			} else {
				stack = append(stack, string(s))
			}
		case 'K': // BININT1
			s, ok := need(1)
			if !ok {
				return nil, truncated()
			}
			stack = append(stack, int64(s[0]))
		case 'M': // BININT2
			s, ok := need(2)
			if !ok {
				return nil, truncated()
			}
			stack = append(stack, int64(binary.LittleEndian.Uint16(s)))
		case 'J': // BININT
			s, ok := need(4)
			if !ok {
				return nil, truncated()
			}
			stack = append(stack, int64(int32(binary.LittleEndian.Uint32(s))))
		case 0x8a, 0x8b: // LONG1, LONG4: little-endian two's complement
			width := 1
			if op == 0x8b {
				width = 4
			}
			n, ok := lenArg(width)
			if !ok {
				return nil, truncated()
			}
			s, ok := need(n)
			if !ok {
				return nil, truncated()
			}
			if n > 8 {
				return nil, fail(op, "%d-byte integer does not fit in int64", n)
			}
			var u uint64
			for i := n - 1; i >= 0; i-- {
				u = u<<8 | uint64(s[i])
			}
			if n > 0 && n < 8 && s[n-1]&0x80 != 0 {
				u |= ^uint64(0) << (8 * n) // sign-extend
			}
			stack = append(stack, int64(u))
		case 'G': // BINFLOAT, big-endian
			s, ok := need(8)
			if !ok {
				return nil, truncated()
			}
			stack = append(stack, math.Float64frombits(binary.BigEndian.Uint64(s)))
		case 'N':
			stack = append(stack, pkNone{})
		case 0x88, 0x89: // NEWTRUE, NEWFALSE
			stack = append(stack, op == 0x88)
		case ')': // EMPTY_TUPLE
			stack = append(stack, pkTuple{})
		case 't': // TUPLE
			items, ok := popMark()
			if !ok {
				return nil, fail(op, "no mark")
			}
			stack = append(stack, pkTuple(items))
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(op - 0x84)
			items := make(pkTuple, n)
			for i := n - 1; i >= 0; i-- {
				v, ok := pop()
				if !ok {
					return nil, underflow()
				}
				items[i] = v
			}
			stack = append(stack, items)
		case ']': // EMPTY_LIST
			stack = append(stack, &pkList{})
		case 'l': // LIST
			items, ok := popMark()
			if !ok {
				return nil, fail(op, "no mark")
			}
			stack = append(stack, &pkList{items: items})
		case 'a', 'e': // APPEND, APPENDS
			var items []any
			if op == 'a' {
				v, ok := pop()
				if !ok {
					return nil, underflow()
				}
				items = []any{v}
			} else {
				var ok bool
				if items, ok = popMark(); !ok {
					return nil, fail(op, "no mark")
				}
			}
			l, ok := top()
			lst, isList := l.(*pkList)
			if !ok || !isList {
				return nil, fail(op, "target is not a list")
			}
			lst.items = append(lst.items, items...)
		case '}': // EMPTY_DICT
			stack = append(stack, &pkDict{})
		case 'd', 's', 'u': // DICT, SETITEM, SETITEMS
			var items []any
			if op == 's' {
				v, ok1 := pop()
				k, ok2 := pop()
				if !ok1 || !ok2 {
					return nil, underflow()
				}
				items = []any{k, v}
			} else {
				var ok bool
				if items, ok = popMark(); !ok {
					return nil, fail(op, "no mark")
				}
			}
			if len(items)%2 != 0 {
				return nil, fail(op, "odd number of keys and values")
			}
			var d *pkDict
			if op == 'd' {
				d = &pkDict{}
				stack = append(stack, d)
			} else {
				v, ok := top()
				if d, _ = v.(*pkDict); !ok || d == nil {
					return nil, fail(op, "target is not a dict")
				}
			}
			for i := 0; i < len(items); i += 2 {
				d.pairs = append(d.pairs, [2]any{items[i], items[i+1]})
			}
		case 'Q': // BINPERSID
			v, ok := pop()
			if !ok {
				return nil, underflow()
			}
			stack = append(stack, pkPersID{v})
		case 'R', 0x81: // REDUCE, NEWOBJ: record the call, never make it
			args, ok1 := pop()
			fn, ok2 := pop()
			if !ok1 || !ok2 {
				return nil, underflow()
			}
			tup, ok := args.(pkTuple)
			if !ok {
				return nil, fail(op, "arguments are %s, not a tuple", pkDescribe(args))
			}
			stack = append(stack, pkReduce{fn, tup})
		case 'b': // BUILD: the state of an object; tensors carry none we need
			if _, ok := pop(); !ok {
				return nil, underflow()
			}
			if _, ok := top(); !ok {
				return nil, underflow()
			}
		case '0': // POP
			if _, ok := pop(); !ok {
				return nil, underflow()
			}
		default:
			return nil, fail(op, "not supported by this minimal reader")
		}
	}
	return nil, errors.New("pickle ends without STOP")
}
