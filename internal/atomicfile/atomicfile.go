// Package atomicfile writes a file whole or not at all: into a temporary
// file beside it, synced, renamed into place, and the folder synced, so
// that a crash leaves either the old file or the new one, never a torn one.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write creates path with what fill writes to the open temporary file.
// When fill or any step fails, the temporary file is removed and path is
// left as it was.
func Write(path string, fill func(f *os.File) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
