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
	"syscall"
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

// mapFloat32s maps a 2-d float32 .npy file read-only: its values stay in
// the page cache, resident only where touched.
func mapFloat32s(path string) ([]float32, int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	defer f.Close()
	rows, cols, off, err := npyHeader(bufio.NewReader(f), path, "<f4")
	if err != nil {
		return nil, 0, nil, err
	}
	if off%4 != 0 || rows == 0 {
		return nil, 0, nil, fmt.Errorf("%s: data at offset %d, %d rows", path, off, rows)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, off+rows*cols*4, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("map %s: %w", path, err)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&m[off])), rows*cols), cols, m, nil
}
