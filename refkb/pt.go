package refkb

import (
	"archive/zip"
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
	call, err := rebuildCall(v)
	if err != nil {
		return t, err
	}
	pid, ok := call.args[0].(pkPersID)
	if !ok {
		return t, fmt.Errorf("tensor storage is %s, not a persistent id", pkDescribe(call.args[0]))
	}
	if err := t.parseStorage(pid); err != nil {
		return t, err
	}
	if t.offset, ok = call.args[1].(int64); !ok || t.offset < 0 {
		return t, fmt.Errorf("storage offset %s is not a non-negative int", pkDescribe(call.args[1]))
	}
	if err := t.parseLayout(call.args[2], call.args[3]); err != nil {
		return t, err
	}
	return t, t.checkBounds()
}

// rebuildCall finds the torch._utils._rebuild_tensor_v2(storage, offset,
// shape, stride, …) call that data.pkl holds, inside the
// _rebuild_parameter(tensor, requires_grad, hooks) of a saved nn.Parameter
// too.
func rebuildCall(v any) (pkReduce, error) {
	call, ok := v.(pkReduce)
	if !ok {
		return call, fmt.Errorf("holds %s, not a tensor", pkDescribe(v))
	}
	if call.fn == (pkGlobal{"torch._utils", "_rebuild_parameter"}) && len(call.args) > 0 {
		if inner, ok := call.args[0].(pkReduce); ok {
			call = inner
		}
	}
	if call.fn != (pkGlobal{"torch._utils", "_rebuild_tensor_v2"}) {
		return call, fmt.Errorf("holds %s, not a plain tensor (want torch._utils._rebuild_tensor_v2)", pkDescribe(call))
	}
	if len(call.args) < 4 {
		return call, fmt.Errorf("_rebuild_tensor_v2 has %d arguments, want at least 4", len(call.args))
	}
	return call, nil
}

// parseStorage reads the storage's persistent id,
// ('storage', torch.<Type>Storage, key, location, numel).
func (t *tensorMeta) parseStorage(pid pkPersID) error {
	st, ok := pid.id.(pkTuple)
	if !ok || len(st) != 5 || st[0] != "storage" {
		return fmt.Errorf("storage id %s is not ('storage', type, key, location, numel)", pkDescribe(pid.id))
	}
	typ, ok := st[1].(pkGlobal)
	if !ok || typ.module != "torch" {
		return fmt.Errorf("storage type %s is not a torch storage class", pkDescribe(st[1]))
	}
	t.storage = typ.name
	if typ.name != "FloatStorage" {
		return fmt.Errorf("dtype storage is torch.%s, want torch.FloatStorage (float32)", typ.name)
	}
	key, ok := st[2].(string)
	if !ok || key == "" || strings.ContainsAny(key, "/\\") || key == "." || key == ".." {
		return fmt.Errorf("storage key %s is not a member name", pkDescribe(st[2]))
	}
	t.key = key
	numel, ok := st[4].(int64)
	if !ok || numel < 0 || numel > math.MaxInt64/4 {
		return fmt.Errorf("storage size %s is not a valid element count", pkDescribe(st[4]))
	}
	t.numel = numel
	return nil
}

// parseLayout reads a 2-D shape and stride, both non-negative, with at
// most MaxInt32 elements.
func (t *tensorMeta) parseLayout(shapeArg, strideArg any) error {
	shape, err := pkInts(shapeArg)
	if err != nil {
		return fmt.Errorf("shape: %w", err)
	}
	stride, err := pkInts(strideArg)
	if err != nil {
		return fmt.Errorf("stride: %w", err)
	}
	if len(shape) != 2 || len(stride) != 2 {
		return fmt.Errorf("tensor has shape %v: want 2-D", shape)
	}
	copy(t.shape[:], shape)
	copy(t.stride[:], stride)
	r, c := shape[0], shape[1]
	if r < 0 || c < 0 || stride[0] < 0 || stride[1] < 0 {
		return fmt.Errorf("negative shape %v or stride %v", shape, stride)
	}
	if c != 0 && r > math.MaxInt32/c {
		return fmt.Errorf("tensor shape %v is too large", shape)
	}
	return nil
}

// checkBounds checks that every element of a non-empty tensor lies inside
// its storage.
func (t *tensorMeta) checkBounds() error {
	if t.shape[0] == 0 || t.shape[1] == 0 {
		return nil
	}
	// The last element must lie inside the storage; earlier ones then do too.
	last := t.offset
	for i, n := range t.shape {
		if t.stride[i] != 0 && n-1 > (math.MaxInt64-last)/t.stride[i] {
			return fmt.Errorf("stride %v overflows", t.stride[:])
		}
		last += (n - 1) * t.stride[i]
	}
	if last >= t.numel {
		return fmt.Errorf("tensor shape %v stride %v offset %d needs element %d, storage holds %d", t.shape[:], t.stride[:], t.offset, last, t.numel)
	}
	return nil
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
