//go:build unix

package sqlite

import (
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
