package hnsw

// Persistence. An index file is a 72-byte header and the payload:
//
//	magic "mmraghnw", version, dim, M, efConstruction, efSearch, count,
//	deleted, top layer, entry, scale, the change sequence the index
//	reflects, payload length, CRC-32C of header and payload, reserved
//
// then the codes, the layers, the tombstones, the ground-layer lists and
// the upper lists of the nodes that have them, little-endian. Save writes
// a temporary file beside the target, syncs it and renames it over the
// target, then syncs the folder: a crash leaves the old file or the new,
// never half of one. Load checks every length, the checksum and every
// link, and reports a file it cannot trust as ErrCorrupt; the caller
// compares the change sequence with its store's and rebuilds what is stale.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"unsafe"

	"mmrag/internal/atomicfile"
)

const (
	fileMagic   = "mmraghnw"
	fileVersion = 2 // 2: codes of rotated vectors (rotate.go)
	headerSize  = 72
	crcOffset   = 64
)

// ErrCorrupt is the error of Load for a file that is torn, damaged or not
// an index; ErrVersion for an index of another format version. Either way
// the caller rebuilds.
var (
	ErrCorrupt = errors.New("hnsw: index file is corrupt")
	ErrVersion = errors.New("hnsw: index file has another format version")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type header struct {
	dim, m, efC, efS, count, dead uint32
	top                           int32
	entry                         uint32
	scale                         float32
	seq                           int64
	payload                       uint64
	crc                           uint32
}

func (h *header) encode() []byte {
	b := make([]byte, headerSize)
	copy(b, fileMagic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], fileVersion)
	for i, v := range []uint32{h.dim, h.m, h.efC, h.efS, h.count, h.dead, uint32(h.top), h.entry, math.Float32bits(h.scale)} {
		le.PutUint32(b[12+4*i:], v)
	}
	le.PutUint64(b[48:], uint64(h.seq))
	le.PutUint64(b[56:], h.payload)
	return b
}

func decodeHeader(b []byte) (header, error) {
	le := binary.LittleEndian
	if string(b[:8]) != fileMagic {
		return header{}, fmt.Errorf("%w: no index header", ErrCorrupt)
	}
	if v := le.Uint32(b[8:]); v != fileVersion {
		return header{}, fmt.Errorf("%w: version %d, this build reads %d", ErrVersion, v, fileVersion)
	}
	u := func(i int) uint32 { return le.Uint32(b[12+4*i:]) }
	return header{dim: u(0), m: u(1), efC: u(2), efS: u(3), count: u(4), dead: u(5), top: int32(u(6)), entry: u(7),
		scale: math.Float32frombits(u(8)), seq: int64(le.Uint64(b[48:])), payload: le.Uint64(b[56:]), crc: le.Uint32(b[crcOffset:])}, nil
}

// Save writes the index to path atomically, recording seq, the change
// sequence of the store the index reflects.
func (x *Index) Save(path string, seq int64) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if err := x.save(path, seq); err != nil {
		return fmt.Errorf("hnsw: save %s: %w", filepath.Base(path), err)
	}
	return nil
}

func (x *Index) save(path string, seq int64) error {
	n := len(x.level)
	h := header{dim: uint32(x.dim), m: uint32(x.cfg.M), efC: uint32(x.cfg.EfConstruction), efS: uint32(x.cfg.EfSearch),
		count: uint32(n), dead: uint32(x.ndead), top: int32(x.top), entry: x.entry, scale: x.scale, seq: seq}
	h.payload = uint64(len(x.codes)) + 2*uint64(n) + 4*uint64(len(x.links0))
	for _, up := range x.upper {
		h.payload += 4 * uint64(len(up))
	}
	hb := h.encode()
	return atomicfile.Write(path, func(f *os.File) error {
		sum := crc32.New(castagnoli)
		sum.Write(hb[:crcOffset])
		bw := bufio.NewWriterSize(f, 1<<20)
		if _, err := bw.Write(hb); err != nil {
			return err
		}
		if err := x.writePayload(io.MultiWriter(bw, sum)); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		var crc [4]byte
		binary.LittleEndian.PutUint32(crc[:], sum.Sum32())
		_, err := f.WriteAt(crc[:], crcOffset)
		return err
	})
}

func (x *Index) writePayload(w io.Writer) error {
	if _, err := w.Write(int8Bytes(x.codes)); err != nil {
		return err
	}
	if _, err := w.Write(x.level); err != nil {
		return err
	}
	dead := make([]byte, len(x.dead))
	for i, d := range x.dead {
		if d {
			dead[i] = 1
		}
	}
	if _, err := w.Write(dead); err != nil {
		return err
	}
	if err := writeUint32s(w, x.links0); err != nil {
		return err
	}
	for _, up := range x.upper {
		if err := writeUint32s(w, up); err != nil {
			return err
		}
	}
	return nil
}

func int8Bytes(s []int8) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s))
}

func writeUint32s(w io.Writer, s []uint32) error {
	buf := make([]byte, 0, 4*min(len(s), 1<<14))
	for len(s) > 0 {
		chunk := s[:min(len(s), 1<<14)]
		s = s[len(chunk):]
		buf = buf[:0]
		for _, v := range chunk {
			buf = binary.LittleEndian.AppendUint32(buf, v)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

func readUint32s(r io.Reader, s []uint32) error {
	buf := make([]byte, 4*min(len(s), 1<<14))
	for len(s) > 0 {
		chunk := s[:min(len(s), 1<<14)]
		s = s[len(chunk):]
		b := buf[:4*len(chunk)]
		if _, err := io.ReadFull(r, b); err != nil {
			return err
		}
		for i := range chunk {
			chunk[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
	}
	return nil
}

// Load reads an index saved by Save and returns it with the change
// sequence it reflects. vec gives the originals for rescoring, as for New;
// workers (0: GOMAXPROCS) insert later batches.
func Load(path string, vec Vectors, workers int) (*Index, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("hnsw: load: %w", err)
	}
	defer f.Close()
	x, seq, err := load(f, vec, workers)
	if err != nil {
		return nil, 0, fmt.Errorf("hnsw: load %s: %w", filepath.Base(path), err)
	}
	return x, seq, nil
}

func load(f *os.File, vec Vectors, workers int) (*Index, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	hb := make([]byte, headerSize)
	if _, err := io.ReadFull(f, hb); err != nil {
		return nil, 0, fmt.Errorf("%w: short header", ErrCorrupt)
	}
	h, err := decodeHeader(hb)
	if err != nil {
		return nil, 0, err
	}
	if err := h.check(st.Size()); err != nil {
		return nil, 0, err
	}
	sum := crc32.New(castagnoli)
	sum.Write(hb[:crcOffset])
	r := io.TeeReader(bufio.NewReaderSize(io.LimitReader(f, int64(h.payload)), 1<<20), sum)
	x, err := New(int(h.dim), Config{M: int(h.m), EfConstruction: int(h.efC), EfSearch: int(h.efS), Workers: workers}, vec)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if err := x.readPayload(r, h, sum); err != nil {
		return nil, 0, err
	}
	x.scale, x.entry, x.top = h.scale, h.entry, int(h.top)
	x.rng = rand.New(rand.NewPCG(uint64(h.count), 0x686e7377))
	if err := x.validate(h); err != nil {
		return nil, 0, err
	}
	x.countInLinks()
	return x, h.seq, nil
}

// check compares the header's lengths with each other and with the size
// of the file, before anything is allocated from them.
func (h *header) check(size int64) error {
	switch {
	case h.dim == 0 || h.dim > 1<<16:
		return fmt.Errorf("%w: dimension %d", ErrCorrupt, h.dim)
	case h.m < 2 || h.m > 256:
		return fmt.Errorf("%w: M %d", ErrCorrupt, h.m)
	case uint64(size) != headerSize+h.payload:
		return fmt.Errorf("%w: %d bytes, header says %d", ErrCorrupt, size, headerSize+h.payload)
	case h.payload < uint64(h.count)*(uint64(h.dim)+2+4*(2*uint64(h.m)+1)):
		return fmt.Errorf("%w: payload of %d bytes too short for %d nodes", ErrCorrupt, h.payload, h.count)
	case h.count > 0 && (h.entry >= h.count || h.top < 0 || h.top > maxLevel) || h.count == 0 && h.top != -1:
		return fmt.Errorf("%w: entry point %d on layer %d of %d nodes", ErrCorrupt, h.entry, h.top, h.count)
	case h.count > 0 && (!(h.scale > 0) || math.IsInf(float64(h.scale), 0)):
		return fmt.Errorf("%w: scale %v", ErrCorrupt, h.scale)
	}
	return nil
}

func (x *Index) readPayload(r io.Reader, h header, sum hash.Hash32) error {
	n := int(h.count)
	x.codes = make([]int8, n*x.dim)
	x.level = make([]uint8, n)
	dead := make([]byte, n)
	x.links0 = make([]uint32, n*(x.m0()+1))
	for _, b := range [][]byte{int8Bytes(x.codes), x.level, dead} {
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	if err := readUint32s(r, x.links0); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	upper := uint64(0)
	for _, l := range x.level {
		if l > maxLevel {
			return fmt.Errorf("%w: node on layer %d", ErrCorrupt, l)
		}
		upper += uint64(l) * uint64(x.cfg.M+1) * 4
	}
	if uint64(len(x.codes))+2*uint64(n)+4*uint64(len(x.links0))+upper != h.payload {
		return fmt.Errorf("%w: payload length does not match the nodes' layers", ErrCorrupt)
	}
	x.upper = make([][]uint32, n)
	for id, l := range x.level {
		if l == 0 {
			continue
		}
		x.upper[id] = make([]uint32, int(l)*(x.cfg.M+1))
		if err := readUint32s(r, x.upper[id]); err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	if sum.Sum32() != h.crc {
		return fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	x.dead = make([]bool, n)
	for i, d := range dead {
		x.dead[i] = d != 0
		if d != 0 {
			x.ndead++
		}
	}
	return nil
}

// validate checks what the checksum cannot: that the links stay inside
// the graph and the lists inside their capacity.
func (x *Index) validate(h header) error {
	n := uint32(len(x.level))
	if n > 0 && int(x.level[x.entry]) != x.top {
		return fmt.Errorf("%w: entry point on layer %d, header says %d", ErrCorrupt, x.level[x.entry], x.top)
	}
	if uint32(x.ndead) != h.dead {
		return fmt.Errorf("%w: %d tombstones, header says %d", ErrCorrupt, x.ndead, h.dead)
	}
	for id := range n {
		for l := 0; l <= int(x.level[id]); l++ {
			lst := x.list(id, l)
			if int(lst[0]) > len(lst)-1 {
				return fmt.Errorf("%w: node %d has %d links on layer %d", ErrCorrupt, id, lst[0], l)
			}
			for _, nb := range lst[1 : 1+lst[0]] {
				if nb >= n || int(x.level[nb]) < l {
					return fmt.Errorf("%w: node %d links to %d on layer %d", ErrCorrupt, id, nb, l)
				}
			}
		}
	}
	return nil
}
