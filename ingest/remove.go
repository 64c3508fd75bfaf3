package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"mmrag"
)

// Find resolves a reference to stored documents. ref may be a document id,
// a unique prefix of one (at least 4 hex digits), a source (a URL, or a path
// made absolute against the working folder) or a folder, which names every
// document stored from under it. A reference matching nothing returns an
// error wrapping mmrag.ErrNotFound.
func Find(ctx context.Context, store mmrag.Store, ref string) ([]mmrag.Document, error) {
	if ref == "" {
		return nil, errors.New("empty document reference")
	}
	if d, err := store.Document(ctx, ref); err == nil {
		return []mmrag.Document{d}, nil
	} else if !errors.Is(err, mmrag.ErrNotFound) {
		return nil, err
	}
	source := ref
	if isURL(ref) {
		source = normalizeURL(ref)
	} else if abs, err := filepath.Abs(ref); err == nil {
		source = abs
	}
	if d, err := store.DocumentBySource(ctx, source); err == nil {
		return []mmrag.Document{d}, nil
	} else if !errors.Is(err, mmrag.ErrNotFound) {
		return nil, err
	}
	if !isURL(ref) {
		info, err := os.Stat(source)
		if (err == nil && info.IsDir()) || strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, string(filepath.Separator)) {
			docs, err := store.Documents(ctx, mmrag.Filter{SourcePrefix: strings.TrimSuffix(source, string(filepath.Separator)) + string(filepath.Separator)})
			if err != nil {
				return nil, err
			}
			if len(docs) > 0 {
				return docs, nil
			}
		}
	}
	if len(ref) >= 4 && isHex(ref) {
		all, err := store.Documents(ctx, mmrag.Filter{})
		if err != nil {
			return nil, err
		}
		var found []mmrag.Document
		for _, d := range all {
			if strings.HasPrefix(d.ID, strings.ToLower(ref)) {
				found = append(found, d)
			}
		}
		switch len(found) {
		case 1:
			return found, nil
		case 0:
		default:
			return nil, fmt.Errorf("id prefix %s is ambiguous: %d documents match", ref, len(found))
		}
	}
	return nil, fmt.Errorf("no document %s: %w", ref, mmrag.ErrNotFound)
}

// Remove deletes the documents refs name (see Find), with their items,
// vectors and the image blobs no other document uses. It stops at the first
// reference that cannot be resolved or deleted and returns what it removed.
func Remove(ctx context.Context, store mmrag.Store, refs []string) ([]mmrag.Document, error) {
	var removed []mmrag.Document
	for _, ref := range refs {
		docs, err := Find(ctx, store, ref)
		if err != nil {
			return removed, err
		}
		for _, d := range docs {
			if err := store.DeleteDocument(ctx, d.ID); err != nil {
				return removed, fmt.Errorf("remove %s: %w", d.Source, err)
			}
			removed = append(removed, d)
		}
	}
	return removed, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
