package weaviate

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-openapi/strfmt"
	"github.com/weaviate/weaviate-go-client/v5/weaviate/graphql"
	"github.com/weaviate/weaviate/entities/models"

	"mmrag"
	"mmrag/store"
)

// blobStore keeps image bytes by sha256 hex. Callers validate hashes.
type blobStore interface {
	has(ctx context.Context, hash string) (bool, error)
	put(ctx context.Context, hash string, data []byte, mime string) error
	get(ctx context.Context, hash string) ([]byte, error) // wraps mmrag.ErrNotFound
	delete(ctx context.Context, hash string) error
	stats(ctx context.Context) (n int, bytes int64, err error)
	list(ctx context.Context, fn func(hashes []string) error) error
}

// Blob returns the bytes of the image whose sha256 is hash.
func (s *Store) Blob(ctx context.Context, hash string) ([]byte, error) {
	if !store.ValidHash(hash) {
		return nil, fmt.Errorf("blob %q: not a lowercase hex sha256: %w", hash, mmrag.ErrNotFound)
	}
	data, err := s.blobs.get(ctx, hash)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", hash, err)
	}
	return data, nil
}

// sweep deletes the blobs no item references.
func sweepBlobs(ctx context.Context, s *Store, b blobStore) (int, error) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	removed := 0
	err := b.list(ctx, func(hashes []string) error {
		for _, h := range hashes {
			n, err := s.blobRefs(ctx, h)
			if err != nil {
				return err
			}
			if n == 0 {
				if err := b.delete(ctx, h); err != nil {
					return err
				}
				removed++
			}
		}
		return nil
	})
	return removed, err
}

// collectionBlobs keeps blobs in the <Prefix>Blob collection, one object
// per hash, the bytes in a blob property.
type collectionBlobs struct{ s *Store }

func (b *collectionBlobs) has(ctx context.Context, hash string) (bool, error) {
	s := b.s
	res, err := s.run(ctx, query{class: s.names.blob, where: eq("_id", blobUUID(hash)), limit: 1, props: []string{pHash}})
	if err != nil {
		return false, fmt.Errorf("look up blob %s: %w", hash, err)
	}
	return len(res) > 0, nil
}

func (b *collectionBlobs) put(ctx context.Context, hash string, data []byte, mime string) error {
	s := b.s
	obj := &models.Object{
		Class: s.names.blob,
		ID:    strfmt.UUID(blobUUID(hash)),
		Properties: map[string]any{
			pHash: hash, pSize: len(data), pMIME: mime, pData: base64.StdEncoding.EncodeToString(data),
		},
	}
	if err := s.insert(ctx, []*models.Object{obj}); err != nil {
		return fmt.Errorf("write blob %s: %w", hash, err)
	}
	return nil
}

func (b *collectionBlobs) get(ctx context.Context, hash string) ([]byte, error) {
	s := b.s
	var objs []*models.Object
	err := s.retry(ctx, func() error {
		var err error
		objs, err = s.client.Data().ObjectsGetter().WithClassName(s.names.blob).WithID(blobUUID(hash)).
			WithConsistencyLevel(s.cl).Do(ctx)
		return err
	})
	if isStatus(err, http.StatusNotFound) || (err == nil && len(objs) == 0) {
		return nil, mmrag.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read from %s: %w", s.names.blob, err)
	}
	pr, _ := objs[0].Properties.(map[string]any)
	enc, _ := pr[pData].(string)
	data, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("decode blob: %w", err)
	}
	return data, nil
}

func (b *collectionBlobs) delete(ctx context.Context, hash string) error {
	s := b.s
	err := s.retry(ctx, func() error {
		err := s.client.Data().Deleter().WithClassName(s.names.blob).WithID(blobUUID(hash)).WithConsistencyLevel(s.cl).Do(ctx)
		if isStatus(err, http.StatusNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete blob %s: %w", hash, err)
	}
	return nil
}

func (b *collectionBlobs) list(ctx context.Context, fn func([]string) error) error {
	return b.s.scan(ctx, b.s.names.blob, []string{pHash}, nil, func(res []result) error {
		hashes := make([]string, len(res))
		for i, r := range res {
			hashes[i] = r.props.str(pHash)
		}
		return fn(hashes)
	})
}

func (b *collectionBlobs) stats(ctx context.Context) (int, int64, error) {
	s := b.s
	vals, err := s.aggregate(ctx, s.names.blob, nil,
		graphql.Field{Name: "meta", Fields: []graphql.Field{{Name: "count"}}},
		graphql.Field{Name: pSize, Fields: []graphql.Field{{Name: "sum"}}})
	if err != nil {
		return 0, 0, err
	}
	return int(vals["meta.count"]), int64(vals[pSize+".sum"]), nil
}

// dirBlobs keeps blobs as files of a local folder: dir/ab/cdef…, named by
// their hash.
type dirBlobs struct{ dir string }

func newDirBlobs(dir string) (*dirBlobs, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob folder %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("blob folder %s: %w", dir, err)
	}
	return &dirBlobs{dir: abs}, nil
}

func (b *dirBlobs) path(hash string) string { return filepath.Join(b.dir, hash[:2], hash[2:]) }

func (b *dirBlobs) has(_ context.Context, hash string) (bool, error) {
	fi, err := os.Stat(b.path(hash))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("blob %s: %w", hash, err)
	}
	return fi.Mode().IsRegular(), nil
}

// put writes atomically: a temporary file, fsync'd, renamed into place.
func (b *dirBlobs) put(_ context.Context, hash string, data []byte, _ string) (err error) {
	path := b.path(hash)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write blob %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("write blob %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write blob %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write blob %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write blob %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write blob %s: %w", path, err)
	}
	return nil
}

func (b *dirBlobs) get(_ context.Context, hash string) ([]byte, error) {
	data, err := os.ReadFile(b.path(hash))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("file %s: %w", b.path(hash), mmrag.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return data, nil
}

func (b *dirBlobs) delete(_ context.Context, hash string) error {
	path := b.path(hash)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", path, err)
	}
	os.Remove(filepath.Dir(path)) // only succeeds once empty
	return nil
}

func (b *dirBlobs) stats(ctx context.Context) (int, int64, error) {
	n, size := 0, int64(0)
	err := filepath.WalkDir(b.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		size += fi.Size()
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("count blobs in %s: %w", b.dir, err)
	}
	return n, size, nil
}

func (b *dirBlobs) list(ctx context.Context, fn func([]string) error) error {
	var hashes []string
	err := filepath.WalkDir(b.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") {
			return nil
		}
		if h := filepath.Base(filepath.Dir(path)) + d.Name(); store.ValidHash(h) {
			hashes = append(hashes, h)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list blobs in %s: %w", b.dir, err)
	}
	return fn(hashes)
}

func (b *dirBlobs) removeAll() error {
	if err := os.RemoveAll(b.dir); err != nil {
		return fmt.Errorf("remove blob folder %s: %w", b.dir, err)
	}
	return nil
}
