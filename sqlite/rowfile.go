package sqlite

// Vector rows off the Go heap.
//
// A matrix of 1 000 000 rows of 512 dimensions is 2 GiB of float32. On the
// Go heap that is anonymous memory the process holds for as long as the
// store is open, although with an approximate index a search reads only the
// few rows it rescores (the index walks its own int8 codes). So once a
// matrix needs more than mapMinBytes it keeps its rows in a file of its own
// in the store directory, mapped shared into memory: the rows are then page
// cache, which the kernel writes back to the file and may evict, and reads
// again on the next access. The file is created and at once unlinked:
// nothing is left behind by a crash, no other process can open it, and the
// disk space returns when the store closes or the matrix is dropped. The
// matrix is still loaded from SQLite at start (the file is not reused).
//
// A row file is only reached through the matrix that owns it, under the
// cache's lock, and only while that matrix is the cache's (see release).
// Where a file cannot be created or mapped, or on systems without mmap, the
// rows stay on the heap.

import (
	"errors"
	"os"
	"slices"
	"unsafe"
)

// mapMinBytes is the size of a matrix's rows from which they move to a
// row file: 32 MiB, 16 384 rows of 512 dimensions.
var mapMinBytes = 32 << 20

// allocateRows reserves a row file's blocks (allocate; tests replace it).
var allocateRows = allocate

// rowFile is a mapped, unlinked file holding a matrix's float32 rows.
type rowFile struct {
	f   *os.File
	mem []byte // the mapping: the whole file
}

// floats returns the mapping as float32s.
func (rf *rowFile) floats() []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(rf.mem))), len(rf.mem)/4)
}

// newRowFile creates an unlinked file in dir.
func newRowFile(dir string) (*rowFile, error) {
	f, err := os.CreateTemp(dir, ".rows-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return &rowFile{f: f}, nil
}

// resize sets the file's length to n bytes, its blocks allocated, and
// maps all of it in place of the previous mapping.
func (rf *rowFile) resize(n int) error {
	if err := rf.f.Truncate(int64(n)); err != nil {
		return err
	}
	if err := allocateRows(rf.f, n); err != nil {
		return err
	}
	mem, err := mapFile(rf.f, n)
	if err != nil {
		return err
	}
	old := rf.mem
	rf.mem = mem
	if old != nil {
		return unmapFile(old)
	}
	return nil
}

func (rf *rowFile) close() error {
	var err error
	if rf.mem != nil {
		err = unmapFile(rf.mem)
		rf.mem = nil
	}
	return errors.Join(err, rf.f.Close())
}

// reserve makes room in m.data for n more float32s without a
// reallocation that append would do behind the matrix's back: on the heap
// while the rows fit in mapMinBytes, in the row file from then on.
// Growing the file goes by half its size again (at least a 4 KiB page),
// so appending rows one by one costs amortised constant time. When the
// file cannot grow, the rows move back to the heap and stay there.
func (m *matrix) reserve(n int) {
	need := len(m.data) + n
	if need <= cap(m.data) {
		return
	}
	if m.file == nil && (need*4 < mapMinBytes || m.dir == "" || m.fileErr != nil) {
		m.data = slices.Grow(m.data, n)
		return
	}
	size := max(need, cap(m.data)+cap(m.data)/2)
	size = (size + 1023) &^ 1023 // whole pages
	if err := m.growFile(size); err != nil {
		m.fileErr = err
		m.toHeap()
		m.data = slices.Grow(m.data, n)
	}
}

// growFile gives m.data a capacity of size float32s in the row file,
// creating the file first.
func (m *matrix) growFile(size int) error {
	if m.file == nil {
		rf, err := newRowFile(m.dir)
		if err != nil {
			return err
		}
		if err := rf.resize(size * 4); err != nil {
			rf.close()
			return err
		}
		copy(rf.floats(), m.data)
		m.file, m.data = rf, rf.floats()[:len(m.data)]
		return nil
	}
	if err := m.file.resize(size * 4); err != nil {
		return err
	}
	m.data = m.file.floats()[:len(m.data)]
	return nil
}

// toHeap moves m's rows to the heap and closes its row file.
func (m *matrix) toHeap() {
	m.data = slices.Clone(m.data)
	if m.file != nil {
		_ = m.file.close() // the rows are copied
		m.file = nil
	}
}

// release closes m's row file. The caller holds the cache's write lock and
// has just dropped m from the cache, or never put it there: no search or
// indexing step can reach m's rows again.
func (m *matrix) release() {
	if m.file != nil {
		_ = m.file.close()
		m.file, m.data = nil, nil
	}
}

// evict lets the kernel take the pages of m's row file out of the
// process (they stay in the page cache and are written back to the file):
// after a load wrote every row, the process's resident memory then grows
// only with the rows that searches read.
func (m *matrix) evict() {
	if m.file != nil {
		_ = dropPages(m.file.mem)
	}
}
