package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"mmrag"
)

// Collections lists the collections by name with their documents.
func (w *Workspace) Collections(ctx context.Context) ([]mmrag.Collection, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT name, count(*) FROM collections GROUP BY name ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	defer rows.Close()
	out := []mmrag.Collection{}
	for rows.Next() {
		var c mmrag.Collection
		if err := rows.Scan(&c.Name, &c.Documents); err != nil {
			return nil, fmt.Errorf("list collections: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	return out, nil
}

// cleanNames checks and trims names, dropping repeats.
func cleanNames(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		n, err := mmrag.CleanCollectionName(n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// AddToCollection puts documents in the collection name
// (mmrag.CleanCollectionName).
func (w *Workspace) AddToCollection(ctx context.Context, name string, docIDs ...string) error {
	name, err := mmrag.CleanCollectionName(name)
	if err != nil {
		return err
	}
	return w.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range docIDs {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO collections(name, doc) VALUES (?, ?)`, name, id); err != nil {
				return fmt.Errorf("add %s to collection %q: %w", id, name, err)
			}
		}
		return nil
	})
}

// SetCollections makes names the collections of a document.
func (w *Workspace) SetCollections(ctx context.Context, docID string, names []string) error {
	names, err := cleanNames(names)
	if err != nil {
		return err
	}
	return w.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM collections WHERE doc = ?`, docID); err != nil {
			return fmt.Errorf("set the collections of %s: %w", docID, err)
		}
		for _, n := range names {
			if _, err := tx.ExecContext(ctx, `INSERT INTO collections(name, doc) VALUES (?, ?)`, n, docID); err != nil {
				return fmt.Errorf("set the collections of %s: %w", docID, err)
			}
		}
		return nil
	})
}

// DocumentCollections maps each document in a collection to its
// collections' names, sorted.
func (w *Workspace) DocumentCollections(ctx context.Context) (map[string][]string, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT doc, name FROM collections ORDER BY doc, name`)
	if err != nil {
		return nil, fmt.Errorf("read collections: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var doc, name string
		if err := rows.Scan(&doc, &name); err != nil {
			return nil, fmt.Errorf("read collections: %w", err)
		}
		out[doc] = append(out[doc], name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read collections: %w", err)
	}
	return out, nil
}

// CollectionDocuments lists the documents of any of the collections
// named, sorted; unknown names hold none.
func (w *Workspace) CollectionDocuments(ctx context.Context, names []string) ([]string, error) {
	names, err := cleanNames(names)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return []string{}, nil
	}
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	q := `SELECT DISTINCT doc FROM collections WHERE name IN (?` + strings.Repeat(", ?", len(names)-1) + `) ORDER BY doc`
	rows, err := w.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("documents of collections %q: %w", names, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("documents of collections %q: %w", names, err)
		}
		out = append(out, doc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("documents of collections %q: %w", names, err)
	}
	return out, nil
}

// ForgetDocument removes a document from every collection.
func (w *Workspace) ForgetDocument(ctx context.Context, docID string) error {
	return w.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM collections WHERE doc = ?`, docID); err != nil {
			return fmt.Errorf("remove %s from its collections: %w", docID, err)
		}
		return nil
	})
}
