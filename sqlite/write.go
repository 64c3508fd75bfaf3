package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"mmrag"
	"mmrag/store"
)

// testHookBeforeCommit, when set by a test, runs inside PutDocument's
// transaction after every row and blob is written, just before the commit.
var testHookBeforeCommit func()

// testHookAfterCommit, when set by a test, runs after PutDocument's commit,
// before the matrices are patched.
var testHookAfterCommit func()

// put is a validated PutDocument call.
type put struct {
	doc      mmrag.Document
	items    []mmrag.Item
	modality map[string]mmrag.Modality // item id → modality
	vectors  []mmrag.Vector
	dims     map[string]int        // model → dim
	counts   map[modelModality]int // vectors per model and modality
	blobMIME map[string]string     // hash referenced by an item → MIME of its first item
	blobs    map[string][]byte     // referenced hashes whose bytes were given
}

type modelModality struct {
	model    string
	modality mmrag.Modality
}

// preparePut checks a PutDocument call before anything is written: the
// contract's checks (store.CheckPut), then the times this store can hold.
func preparePut(doc mmrag.Document, items []mmrag.Item, vectors []mmrag.Vector, blobs map[string][]byte) (*put, error) {
	c, err := store.CheckPut(doc, items, vectors, blobs)
	if err != nil {
		return nil, err
	}
	if _, err := encTime(doc.ModTime); err != nil {
		return nil, fmt.Errorf("mod time: %w", err)
	}
	if _, err := encTime(doc.Ingested); err != nil {
		return nil, fmt.Errorf("ingest time: %w", err)
	}
	p := &put{
		doc:      c.Doc,
		items:    c.Items,
		modality: c.Modality,
		vectors:  c.Vectors,
		dims:     c.Dims,
		counts:   map[modelModality]int{},
		blobMIME: c.Refs,
		blobs:    c.Blobs,
	}
	for _, v := range c.Vectors {
		p.counts[modelModality{v.Model, c.Modality[v.ItemID]}]++
	}
	return p, nil
}

// PutDocument stores doc with its items, their vectors and the image bytes
// they reference (blobs, keyed by sha256 hex), replacing any earlier version
// of the document, in one transaction.
//
// Items get doc.ID as DocID. Every vector must belong to one of items and
// have the dimension the store recorded for its model when the model first
// filled it; a mismatch is refused, as two models (or two dimensions) never
// share an index. Every blob hash an item names must be in blobs or already
// stored; blobs no item references are ignored. New blob files are written
// and fsync'd before the commit; blob files no item references any more are
// removed after it.
func (s *Store) PutDocument(ctx context.Context, doc mmrag.Document, items []mmrag.Item, vectors []mmrag.Vector, blobs map[string][]byte) error {
	p, err := preparePut(doc, items, vectors, blobs)
	if err != nil {
		return fmt.Errorf("put document %s (%s): %w", doc.ID, doc.Source, err)
	}
	if err := s.put(ctx, p); err != nil {
		return fmt.Errorf("put document %s (%s): %w", doc.ID, doc.Source, err)
	}
	return nil
}

func (s *Store) put(ctx context.Context, p *put) (err error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var created []string // blob files this call created: removed again on failure
	defer func() {
		if err != nil {
			tx.Rollback()
			s.removeBlobFiles(created)
		}
	}()

	for _, model := range slices.Sorted(maps.Keys(p.dims)) {
		var dim int
		err := tx.QueryRowContext(ctx, `SELECT dim FROM models WHERE model = ?`, model).Scan(&dim)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read model %s: %w", model, err)
		}
		if err := store.CheckDim(model, p.dims[model], dim); err != nil {
			return err
		}
	}

	old, err := deleteDoc(ctx, tx, p.doc.ID)
	if err != nil {
		return err
	}
	if err := insertDoc(ctx, tx, p); err != nil {
		return err
	}
	if err := s.keepTermBounds(ctx, tx); err != nil {
		return err
	}
	if err := updateModelCounts(ctx, tx, p.dims, old.counts, p.counts); err != nil {
		return err
	}
	seq, err := logChange(ctx, tx, p.doc.ID)
	if err != nil {
		return err
	}

	for _, h := range slices.Sorted(maps.Keys(p.blobMIME)) {
		var rel string
		err := tx.QueryRowContext(ctx, `SELECT path FROM blobs WHERE hash = ?`, h).Scan(&rel)
		stored := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read blob %s: %w", h, err)
		}
		data, given := p.blobs[h]
		switch {
		case !stored && !given:
			return fmt.Errorf("blob %s is referenced by an item but neither given nor stored", h)
		case !given:
			continue
		case !stored:
			rel = blobRel(h, p.blobMIME[h])
		}
		// A stored blob whose file went missing is written again.
		made, err := s.writeBlob(rel, data)
		if made {
			created = append(created, rel)
		}
		if err != nil {
			return err
		}
		if !stored {
			if _, err := tx.ExecContext(ctx, `INSERT INTO blobs(hash, path, size, mime) VALUES (?, ?, ?, ?)`,
				h, rel, len(data), p.blobMIME[h]); err != nil {
				return fmt.Errorf("insert blob %s: %w", h, err)
			}
		}
	}
	garbage, err := collectBlobs(ctx, tx, old.hashes)
	if err != nil {
		return err
	}
	if testHookBeforeCommit != nil {
		testHookBeforeCommit()
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	created = nil
	if testHookAfterCommit != nil {
		testHookAfterCommit()
	}
	s.removeBlobFiles(garbage)
	s.vec.committed(change{put: p}, seq)
	// The document is stored whether or not the checkpoint succeeds.
	_ = s.checkpointIfLarge(ctx)
	return nil
}

// DeleteDocument removes a document with its items, vectors, full-text rows
// and the blob files no other item references.
func (s *Store) DeleteDocument(ctx context.Context, id string) (err error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete document %s: begin: %w", id, err)
	}
	defer tx.Rollback()
	old, err := deleteDoc(ctx, tx, id)
	if err != nil {
		return fmt.Errorf("delete document %s: %w", id, err)
	}
	if !old.existed {
		return fmt.Errorf("delete document %s: %w", id, mmrag.ErrNotFound)
	}
	if err := updateModelCounts(ctx, tx, nil, old.counts, nil); err != nil {
		return fmt.Errorf("delete document %s: %w", id, err)
	}
	seq, err := logChange(ctx, tx, id)
	if err != nil {
		return fmt.Errorf("delete document %s: %w", id, err)
	}
	garbage, err := collectBlobs(ctx, tx, old.hashes)
	if err != nil {
		return fmt.Errorf("delete document %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete document %s: commit: %w", id, err)
	}
	s.removeBlobFiles(garbage)
	s.vec.committed(change{del: id}, seq)
	// The document is gone whether or not the checkpoint succeeds.
	_ = s.checkpointIfLarge(ctx)
	return nil
}

type deleted struct {
	existed bool
	counts  map[modelModality]int // vectors removed
	hashes  []string              // blob hashes the removed items referenced
}

// deleteDoc removes a document; the foreign keys cascade to its items and
// vectors, and the items' triggers to the FTS index.
func deleteDoc(ctx context.Context, tx *sql.Tx, id string) (deleted, error) {
	d := deleted{counts: map[modelModality]int{}}
	rows, err := tx.QueryContext(ctx, `
		SELECT v.model, i.modality, count(*) FROM items i JOIN vectors v ON v.item_id = i.id
		WHERE i.doc_id = ? GROUP BY v.model, i.modality`, id)
	if err != nil {
		return d, fmt.Errorf("count old vectors: %w", err)
	}
	for rows.Next() {
		var k modelModality
		var n int
		if err := rows.Scan(&k.model, &k.modality, &n); err != nil {
			rows.Close()
			return d, fmt.Errorf("count old vectors: %w", err)
		}
		d.counts[k] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d, fmt.Errorf("count old vectors: %w", err)
	}
	if d.hashes, err = queryStrings(ctx, tx, `SELECT DISTINCT blob_hash FROM items WHERE doc_id = ? AND blob_hash <> ''`, id); err != nil {
		return d, fmt.Errorf("list old blobs: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM documents WHERE id = ?`, id)
	if err != nil {
		return d, fmt.Errorf("delete old version: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return d, fmt.Errorf("delete old version: %w", err)
	}
	d.existed = n > 0
	return d, nil
}

func insertDoc(ctx context.Context, tx *sql.Tx, p *put) error {
	doc := p.doc
	modTime, _ := encTime(doc.ModTime)
	ingested, _ := encTime(doc.Ingested)
	meta, err := encJSON(doc.Meta, len(doc.Meta) == 0)
	if err != nil {
		return fmt.Errorf("encode meta: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO documents(id, source, type, title, hash, size, mod_time, ingested, meta)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		doc.ID, doc.Source, doc.Type, doc.Title, doc.Hash, doc.Size, modTime, ingested, meta); err != nil {
		var other string
		if tx.QueryRowContext(ctx, `SELECT id FROM documents WHERE source = ?`, doc.Source).Scan(&other) == nil {
			return fmt.Errorf("source %s is already stored as document %s", doc.Source, other)
		}
		return fmt.Errorf("insert document: %w", err)
	}

	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO items(id, doc_id, modality, kind, text, section, page, anchor, time_ns, position,
			blob_hash, mime, alt, caption, context, width, height, meta)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("prepare item insert: %w", err)
	}
	defer stmt.Close()
	for i, it := range p.items {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		section, err := encJSON(it.Section, len(it.Section) == 0)
		if err != nil {
			return fmt.Errorf("item %s: encode section: %w", it.ID, err)
		}
		meta, err := encJSON(it.Meta, len(it.Meta) == 0)
		if err != nil {
			return fmt.Errorf("item %s: encode meta: %w", it.ID, err)
		}
		if _, err := stmt.ExecContext(ctx, it.ID, it.DocID, string(it.Modality), it.Kind, it.Text, section,
			it.Page, it.Anchor, int64(it.Time), it.Position, it.BlobHash, it.MIME, it.Alt, it.Caption,
			it.Context, it.Width, it.Height, meta); err != nil {
			var other string
			if tx.QueryRowContext(ctx, `SELECT doc_id FROM items WHERE id = ?`, it.ID).Scan(&other) == nil {
				return fmt.Errorf("item %s already belongs to document %s", it.ID, other)
			}
			return fmt.Errorf("insert item %s: %w", it.ID, err)
		}
	}

	if _, err := tx.ExecContext(ctx, `
		INSERT INTO items_fts(rowid, text, section)
		SELECT rowid, text, section FROM items WHERE doc_id = ? AND modality = 'text'`, doc.ID); err != nil {
		return fmt.Errorf("index text: %w", err)
	}

	vstmt, err := tx.PrepareContext(ctx, `INSERT INTO vectors(item_id, model, dim, data) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("prepare vector insert: %w", err)
	}
	defer vstmt.Close()
	for i, v := range p.vectors {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if _, err := vstmt.ExecContext(ctx, v.ItemID, v.Model, len(v.Values), encVector(v.Values)); err != nil {
			return fmt.Errorf("insert vector of item %s (model %s): %w", v.ItemID, v.Model, err)
		}
	}
	return nil
}

// updateModelCounts records new models with their dimension and moves the
// per-modality vector counts by added minus removed. A model stays recorded
// when its count drops to zero: the store remembers what filled it.
func updateModelCounts(ctx context.Context, tx *sql.Tx, dims map[string]int, removed, added map[modelModality]int) error {
	now := time.Now().UnixNano()
	for _, model := range slices.Sorted(maps.Keys(dims)) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO models(model, dim, created) VALUES (?, ?, ?) ON CONFLICT(model) DO NOTHING`,
			model, dims[model], now); err != nil {
			return fmt.Errorf("record model %s: %w", model, err)
		}
	}
	delta := map[modelModality]int{}
	for k, n := range removed {
		delta[k] -= n
	}
	for k, n := range added {
		delta[k] += n
	}
	for k, n := range delta {
		if n == 0 {
			continue
		}
		col := "text_count"
		if k.modality == mmrag.Image {
			col = "image_count"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE models SET `+col+` = `+col+` + ? WHERE model = ?`, n, k.model); err != nil {
			return fmt.Errorf("count vectors of model %s: %w", k.model, err)
		}
	}
	return nil
}

// collectBlobs deletes the rows of the given blobs that no item references
// any more and returns their files, to remove once the transaction commits.
func collectBlobs(ctx context.Context, tx *sql.Tx, hashes []string) ([]string, error) {
	var files []string
	for _, h := range hashes {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM items WHERE blob_hash = ? LIMIT 1`, h).Scan(&one)
		if err == nil {
			continue
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("check blob %s: %w", h, err)
		}
		var rel string
		err = tx.QueryRowContext(ctx, `DELETE FROM blobs WHERE hash = ? RETURNING path`, h).Scan(&rel)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("delete blob %s: %w", h, err)
		}
		files = append(files, rel)
	}
	return files, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func queryStrings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
