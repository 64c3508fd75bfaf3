//go:build !unix

package sqlite

import (
	"errors"
	"os"
)

var errNoMmap = errors.New("no memory-mapped files on this system")

func mapFile(*os.File, int) ([]byte, error) { return nil, errNoMmap }

func unmapFile([]byte) error { return nil }

func dropPages([]byte) error { return nil }

func allocate(*os.File, int) error { return errNoMmap }
