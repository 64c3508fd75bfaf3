package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mmrag"
	"mmrag/store"
)

// blobExt maps image MIME types to the extension of their blob file, so that
// the blob folder can be browsed. Unknown types get no extension.
var blobExt = map[string]string{
	"image/png":     ".png",
	"image/jpeg":    ".jpg",
	"image/jpg":     ".jpg",
	"image/gif":     ".gif",
	"image/webp":    ".webp",
	"image/bmp":     ".bmp",
	"image/tiff":    ".tiff",
	"image/svg+xml": ".svg",
	"image/avif":    ".avif",
	"image/heic":    ".heic",
}

// blobRel is the path of a blob relative to the blob folder: ab/cdef….ext.
func blobRel(hash, mime string) string {
	mime, _, _ = strings.Cut(strings.ToLower(strings.TrimSpace(mime)), ";")
	return filepath.Join(hash[:2], hash[2:]+blobExt[strings.TrimSpace(mime)])
}

const tmpPrefix = ".tmp-"

// writeBlob writes data to the blob folder under rel atomically: a temporary
// file in the same folder, fsync'd, renamed into place, then the folder
// fsync'd so that the rename itself is durable. It reports whether it
// created the file (false when a file of the right size was already there).
func (s *Store) writeBlob(rel string, data []byte) (created bool, err error) {
	path := filepath.Join(s.blobDir, rel)
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(data)) {
		return false, nil
	}
	dir := filepath.Dir(path)
	newDir := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		newDir = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("write blob %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return false, fmt.Errorf("write blob %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return false, fmt.Errorf("write blob %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, fmt.Errorf("write blob %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("write blob %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("write blob %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return true, fmt.Errorf("write blob %s: %w", path, err)
	}
	if newDir {
		if err := syncDir(s.blobDir); err != nil {
			return true, fmt.Errorf("write blob %s: %w", path, err)
		}
	}
	return true, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// removeBlobFiles deletes the given blob files, best effort: a file left
// behind is an orphan that Sweep removes later, never a dangling reference.
func (s *Store) removeBlobFiles(rels []string) {
	for _, rel := range rels {
		path := filepath.Join(s.blobDir, rel)
		if err := os.Remove(path); err == nil {
			// Drop the two-letter folder once empty; fails harmlessly if not.
			os.Remove(filepath.Dir(path))
		}
	}
}

// Blob returns the bytes of the image whose sha256 is hash.
func (s *Store) Blob(ctx context.Context, hash string) ([]byte, error) {
	if !store.ValidHash(hash) {
		return nil, fmt.Errorf("blob %q: not a lowercase hex sha256: %w", hash, mmrag.ErrNotFound)
	}
	var rel string
	err := s.r.QueryRowContext(ctx, `SELECT path FROM blobs WHERE hash = ?`, hash).Scan(&rel)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("blob %s: %w", hash, mmrag.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", hash, err)
	}
	path := filepath.Join(s.blobDir, rel)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: file %s is missing: %w", hash, path, mmrag.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", hash, err)
	}
	return data, nil
}

// Sweep removes files of the blob folder that no blob row names (left by a
// writer that crashed between writing a blob and committing, or between
// committing a delete and removing its files) and leftover temporary files,
// when they are older than grace. Open sweeps with a grace of one hour, which
// spares the pending files of a writer in another process. It returns how
// many files it removed.
func (s *Store) Sweep(ctx context.Context, grace time.Duration) (int, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	known := map[string]bool{}
	rows, err := s.r.QueryContext(ctx, `SELECT path FROM blobs`)
	if err != nil {
		return 0, fmt.Errorf("sweep blobs: %w", err)
	}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sweep blobs: %w", err)
		}
		known[filepath.Clean(p)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sweep blobs: %w", err)
	}

	cutoff := time.Now().Add(-grace)
	removed := 0
	err = filepath.WalkDir(s.blobDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(s.blobDir, path)
		if err != nil || known[rel] {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if fi.ModTime().After(cutoff) {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("sweep blobs in %s: %w", s.blobDir, err)
	}
	return removed, nil
}
