package sqlite

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"mmrag/store/storetest"
)

// TestRowFile grows matrices row by row past the row-file threshold and
// removes documents from them (the last rows move into the holes), in a
// directory (rows in a row file), in a directory that does not exist (the
// file cannot be created: rows stay on the heap) and with none, and checks
// every step against the rows kept in a plain slice, and once more with a
// disk that fills up after the file's first growth (the rows move back to
// the heap); the row file leaves no name in the directory, and release
// closes it.
func TestRowFile(t *testing.T) {
	const dim = 48
	old := mapMinBytes
	mapMinBytes = 100 * dim * 4 // 100 rows
	defer func() { mapMinBytes = old }()

	dir := t.TempDir()
	for _, c := range []struct {
		name, dir string
		file      bool
		full      bool // the disk is full from the file's second growth on
	}{
		{"file", dir, true, false},
		{"disk-full", dir, false, true},
		{"no-such-dir", filepath.Join(dir, "missing"), false, false},
		{"heap", "", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.full {
				grown := 0
				allocateRows = func(f *os.File, n int) error {
					if grown++; grown > 1 {
						return syscall.ENOSPC
					}
					return allocate(f, n)
				}
				defer func() { allocateRows = allocate }()
			}
			r := rand.New(rand.NewPCG(1, 2))
			m := &matrix{dim: dim, docPos: map[string]int32{}, dir: c.dir}
			want := map[string][]float32{} // item → vector
			for d := range 40 {
				doc := &docMeta{id: fmt.Sprintf("d%d", d)}
				for i := range 1 + r.IntN(30) {
					item := fmt.Sprintf("%s#%d", doc.id, i)
					v := storetest.RandomVector(r, dim)
					m.add(doc, item, v)
					want[item] = v
				}
				if d%3 == 2 {
					gone := fmt.Sprintf("d%d", r.IntN(d))
					m.removeDoc(gone)
					for item := range want {
						if strings.HasPrefix(item, gone+"#") {
							delete(want, item)
						}
					}
				}
				checkRows(t, m, want)
			}
			if got := m.file != nil; got != c.file {
				t.Fatalf("rows in a row file: %v, want %v (fileErr %v)", got, c.file, m.fileErr)
			}
			if c.file {
				if len(m.data)*4 <= mapMinBytes {
					t.Fatalf("%d rows: the test never passed the threshold", m.rows())
				}
				names, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				if len(names) != 0 {
					t.Fatalf("row file left a name in the directory: %v", names)
				}
				m.evict() // the pages come back from the page cache
				checkRows(t, m, want)
			}
			if c.dir != "" && !c.file && m.fileErr == nil {
				t.Fatal("row file could not be created, but no error was kept")
			}
			m.release()
			if m.file != nil || c.file && m.data != nil {
				t.Fatal("release kept the row file")
			}
		})
	}
}

// checkRows compares every row of m with the vector of its item in want.
func checkRows(t *testing.T, m *matrix, want map[string][]float32) {
	t.Helper()
	if m.rows() != len(want) || len(m.data) != m.rows()*m.dim {
		t.Fatalf("%d rows, %d floats; want %d rows", m.rows(), len(m.data), len(want))
	}
	for r, item := range m.items {
		if !slices.Equal(m.data[r*m.dim:(r+1)*m.dim], want[item]) {
			t.Fatalf("row %d (%s) differs from its vector", r, item)
		}
	}
}
