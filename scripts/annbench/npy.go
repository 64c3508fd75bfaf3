package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unsafe"
)

// npyHeader reads the header of a 2-d .npy file of descr: its shape and
// where the data starts.
func npyHeader(r *bufio.Reader, path, descr string) (rows, cols, offset int, err error) {
	pre := make([]byte, 8)
	if _, err := io.ReadFull(r, pre); err != nil || string(pre[:6]) != "\x93NUMPY" {
		return 0, 0, 0, fmt.Errorf("%s: not a .npy file", path)
	}
	var hlen, lenBytes int
	switch pre[6] {
	case 1:
		var b [2]byte
		_, err = io.ReadFull(r, b[:])
		hlen, lenBytes = int(binary.LittleEndian.Uint16(b[:])), 2
	case 2, 3:
		var b [4]byte
		_, err = io.ReadFull(r, b[:])
		hlen, lenBytes = int(binary.LittleEndian.Uint32(b[:])), 4
	default:
		return 0, 0, 0, fmt.Errorf("%s: .npy version %d", path, pre[6])
	}
	if err != nil || hlen > 1<<16 {
		return 0, 0, 0, fmt.Errorf("%s: bad .npy header", path)
	}
	h := make([]byte, hlen)
	if _, err := io.ReadFull(r, h); err != nil {
		return 0, 0, 0, err
	}
	hdr := string(h)
	if !strings.Contains(hdr, "'descr': '"+descr+"'") || !strings.Contains(hdr, "'fortran_order': False") {
		return 0, 0, 0, fmt.Errorf("%s: want %s in C order, header %s", path, descr, hdr)
	}
	m := regexp.MustCompile(`'shape': \((\d+), (\d+)\)`).FindStringSubmatch(hdr)
	if m == nil {
		return 0, 0, 0, fmt.Errorf("%s: not a 2-d array: %s", path, hdr)
	}
	rows, _ = strconv.Atoi(m[1])
	cols, _ = strconv.Atoi(m[2])
	return rows, cols, 8 + lenBytes + hlen, nil
}

// readNpy reads a 2-d little-endian float32 ('<f4') or int32 ('<i4') .npy
// file in C order: its raw values and shape.
func readNpy(path, descr string) (data []byte, rows, cols int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	rows, cols, _, err = npyHeader(r, path, descr)
	if err != nil {
		return nil, 0, 0, err
	}
	data = make([]byte, rows*cols*4)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return data, rows, cols, nil
}

func readFloat32s(path string) ([]float32, int, error) {
	b, rows, cols, err := readNpy(path, "<f4")
	if err != nil {
		return nil, 0, err
	}
	if rows == 0 {
		return nil, cols, nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), rows*cols), cols, nil
}

func readInt32s(path string) ([]int32, int, error) {
	b, rows, cols, err := readNpy(path, "<i4")
	if err != nil {
		return nil, 0, err
	}
	if rows == 0 {
		return nil, cols, nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), rows*cols), cols, nil
}

// writeNpy writes a rows × cols array of 4-byte values with descr.
func writeNpy(path, descr string, raw []byte, rows, cols int) error {
	if len(raw) != rows*cols*4 {
		return errors.New("writeNpy: size mismatch")
	}
	hdr := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d), }", descr, rows, cols)
	pad := 64 - (10+len(hdr)+1)%64
	hdr += strings.Repeat(" ", pad%64) + "\n"
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	w.WriteString("\x93NUMPY\x01\x00")
	binary.Write(w, binary.LittleEndian, uint16(len(hdr)))
	w.WriteString(hdr)
	w.Write(raw)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func float32Bytes(s []float32) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 4*len(s))
}

func int32Bytes(s []int32) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 4*len(s))
}

// buildChunk is the rows the build reads and inserts at a time.
const buildChunk = 8192

// originals are the float32 vectors of a 2-d .npy file, read with pread
// (resident only in the page cache, not in the process) or held in RAM.
type originals struct {
	f             *os.File
	off           int64 // of the first value
	rows, dim     int
	ram           []float32 // all of them, when held in RAM
	buf, chunkBuf []float32
}

func openOriginals(path string, inRAM bool) (*originals, error) {
	if inRAM {
		base, dim, err := readFloat32s(path)
		if err != nil {
			return nil, err
		}
		return &originals{ram: base, rows: len(base) / dim, dim: dim}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	rows, cols, off, err := npyHeader(bufio.NewReader(f), path, "<f4")
	if err != nil {
		f.Close()
		return nil, err
	}
	return &originals{f: f, off: int64(off), rows: rows, dim: cols, buf: make([]float32, cols)}, nil
}

func (o *originals) Close() error {
	if o.f == nil {
		return nil
	}
	return o.f.Close()
}

// read fills dst with the rows from lo on.
func (o *originals) read(dst []float32, lo int) error {
	if _, err := o.f.ReadAt(float32Bytes(dst), o.off+int64(lo)*int64(o.dim)*4); err != nil {
		return fmt.Errorf("read rows from %d: %w", lo, err)
	}
	return nil
}

// vector is the hnsw.Vectors of the originals; the slice it returns is
// valid until the next call (searches run one at a time).
func (o *originals) vector(id uint32) []float32 {
	if o.ram != nil {
		return o.ram[int(id)*o.dim : (int(id)+1)*o.dim]
	}
	if err := o.read(o.buf, int(id)); err != nil {
		panic(err) // a benchmark over a file that shrank underneath it
	}
	return o.buf
}

// chunk returns rows lo..hi-1, valid until the next call.
func (o *originals) chunk(lo, hi int) ([][]float32, error) {
	var flat []float32
	if o.ram != nil {
		flat = o.ram[lo*o.dim : hi*o.dim]
	} else {
		if cap(o.chunkBuf) < (hi-lo)*o.dim {
			o.chunkBuf = make([]float32, buildChunk*o.dim)
		}
		flat = o.chunkBuf[:(hi-lo)*o.dim]
		if err := o.read(flat, lo); err != nil {
			return nil, err
		}
	}
	vs := make([][]float32, hi-lo)
	for i := range vs {
		vs[i] = flat[i*o.dim : (i+1)*o.dim]
	}
	return vs, nil
}
