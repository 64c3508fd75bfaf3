//go:build unix

package sqlite

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

func mapFile(f *os.File, n int) ([]byte, error) {
	return unix.Mmap(int(f.Fd()), 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

func unmapFile(b []byte) error { return unix.Munmap(b) }

// dropPages unmaps b's pages from the process; a shared file mapping keeps
// their contents in the page cache.
func dropPages(b []byte) error { return unix.Madvise(b, unix.MADV_DONTNEED) }

// allocate reserves the disk blocks of f's first n bytes: a write through
// the mapping to a block the file system cannot allocate (a full disk)
// would kill the process with SIGBUS, a failed fallocate is an error the
// store handles. File systems without fallocate keep the file sparse.
func allocate(f *os.File, n int) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, int64(n))
	if errors.Is(err, unix.EOPNOTSUPP) {
		return nil
	}
	return err
}
