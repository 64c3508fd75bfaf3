package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"strings"
	"time"

	"mmrag"
	"mmrag/store"
)

const docColumns = `d.id, d.source, d.type, d.title, d.hash, d.size, d.mod_time, d.ingested, d.meta`

type scanner interface{ Scan(dest ...any) error }

func scanDoc(sc scanner) (mmrag.Document, error) {
	var (
		d                 mmrag.Document
		modTime, ingested sql.NullInt64
		meta              sql.NullString
	)
	if err := sc.Scan(&d.ID, &d.Source, &d.Type, &d.Title, &d.Hash, &d.Size, &modTime, &ingested, &meta); err != nil {
		return d, err
	}
	d.ModTime = decTime(modTime)
	d.Ingested = decTime(ingested)
	var err error
	if d.Meta, err = decMeta(meta); err != nil {
		return d, fmt.Errorf("document %s: %w", d.ID, err)
	}
	return d, nil
}

const itemColumns = `i.id, i.doc_id, i.modality, i.kind, i.text, i.section, i.page, i.anchor, i.time_ns, i.position,
	i.blob_hash, i.mime, i.alt, i.caption, i.context, i.width, i.height, i.meta`

func scanItem(sc scanner) (mmrag.Item, error) {
	var (
		it            mmrag.Item
		section, meta sql.NullString
		timeNS        int64
	)
	if err := sc.Scan(&it.ID, &it.DocID, &it.Modality, &it.Kind, &it.Text, &section, &it.Page, &it.Anchor,
		&timeNS, &it.Position, &it.BlobHash, &it.MIME, &it.Alt, &it.Caption, &it.Context, &it.Width,
		&it.Height, &meta); err != nil {
		return it, err
	}
	it.Time = time.Duration(timeNS)
	var err error
	if it.Section, err = decSection(section); err != nil {
		return it, fmt.Errorf("item %s: %w", it.ID, err)
	}
	if it.Meta, err = decMeta(meta); err != nil {
		return it, fmt.Errorf("item %s: %w", it.ID, err)
	}
	return it, nil
}

// Document returns the document with the given id.
func (s *Store) Document(ctx context.Context, id string) (mmrag.Document, error) {
	d, err := scanDoc(s.r.QueryRowContext(ctx, `SELECT `+docColumns+` FROM documents d WHERE d.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("document %s: %w", id, mmrag.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("document %s: %w", id, err)
	}
	return d, nil
}

// DocumentBySource returns the document ingested from source.
func (s *Store) DocumentBySource(ctx context.Context, source string) (mmrag.Document, error) {
	d, err := scanDoc(s.r.QueryRowContext(ctx, `SELECT `+docColumns+` FROM documents d WHERE d.source = ?`, source))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("document from %s: %w", source, mmrag.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("document from %s: %w", source, err)
	}
	return d, nil
}

// Documents lists the documents f matches, ordered by source.
func (s *Store) Documents(ctx context.Context, f mmrag.Filter) ([]mmrag.Document, error) {
	where, args, err := filterSQL(f)
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+docColumns+` FROM documents d WHERE `+where+` ORDER BY d.source`, args...)
	docs, err := collect(rows, err, scanDoc)
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	return docs, nil
}

// Items returns the items of a document ordered by position.
func (s *Store) Items(ctx context.Context, docID string) ([]mmrag.Item, error) {
	items, err := s.itemsBetween(ctx, docID, math.MinInt64, math.MaxInt64)
	if err != nil {
		return nil, fmt.Errorf("items of document %s: %w", docID, err)
	}
	return items, nil
}

// ItemsAround returns the items of a document whose position lies in
// [lo, hi], in order: the neighbours of a window, read without the rest of
// a long document (retrieval rebuilds passages from them).
func (s *Store) ItemsAround(ctx context.Context, docID string, lo, hi int) ([]mmrag.Item, error) {
	items, err := s.itemsBetween(ctx, docID, int64(lo), int64(hi))
	if err != nil {
		return nil, fmt.Errorf("items %d–%d of document %s: %w", lo, hi, docID, err)
	}
	return items, nil
}

// itemsBetween reads the items of a document at positions lo to hi, in
// order, in one snapshot with the check that the document exists.
func (s *Store) itemsBetween(ctx context.Context, docID string, lo, hi int64) ([]mmrag.Item, error) {
	items := []mmrag.Item{}
	err := s.readDoc(ctx, docID, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+itemColumns+` FROM items i WHERE i.doc_id = ? AND i.position BETWEEN ? AND ? ORDER BY i.position, i.rowid`, docID, lo, hi)
		list, err := collect(rows, err, scanItem)
		items = append(items, list...)
		return err
	})
	return items, err
}

// readDoc runs fn in one read transaction once it has checked that the
// document id exists (mmrag.ErrNotFound otherwise): both see one snapshot,
// so a concurrent replace shows old or new, never none.
func (s *Store) readDoc(ctx context.Context, id string, fn func(*sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM documents WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return mmrag.ErrNotFound
	}
	if err != nil {
		return err
	}
	return fn(tx)
}

// Item returns the item with the given id.
func (s *Store) Item(ctx context.Context, id string) (mmrag.Item, error) {
	it, err := scanItem(s.r.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM items i WHERE i.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return it, fmt.Errorf("item %s: %w", id, mmrag.ErrNotFound)
	}
	if err != nil {
		return it, fmt.Errorf("item %s: %w", id, err)
	}
	return it, nil
}

// ItemsByID returns the items with the given ids in the order asked,
// skipping ids that are not stored (a search hit whose document was replaced
// meanwhile, typically).
func (s *Store) ItemsByID(ctx context.Context, ids []string) ([]mmrag.Item, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("items by id: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+itemColumns+` FROM items i WHERE i.id IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, fmt.Errorf("items by id: %w", err)
	}
	defer rows.Close()
	byID := make(map[string]mmrag.Item, len(ids))
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, fmt.Errorf("items by id: %w", err)
		}
		byID[it.ID] = it
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("items by id: %w", err)
	}
	out := make([]mmrag.Item, 0, len(byID))
	for _, id := range ids {
		if it, ok := byID[id]; ok {
			out = append(out, it)
		}
	}
	return out, nil
}

// Vector returns the vector of an item under a model.
func (s *Store) Vector(ctx context.Context, model, itemID string) ([]float32, error) {
	var data []byte
	err := s.r.QueryRowContext(ctx, `SELECT data FROM vectors WHERE model = ? AND item_id = ?`, model, itemID).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("vector of item %s under model %s: %w", itemID, model, mmrag.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("vector of item %s under model %s: %w", itemID, model, err)
	}
	return decVectorInto(make([]float32, 0, len(data)/4), data), nil
}

// Stats counts what the store holds. Vectors lists the models holding at
// least one vector; Models lists every model that ever filled the store.
func (s *Store) Stats(ctx context.Context) (mmrag.Stats, error) {
	st := mmrag.Stats{Items: map[mmrag.Modality]int{}, Vectors: map[string]int{}}
	// One read transaction: the counts describe one state of the store.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM documents`).Scan(&st.Documents); err != nil {
		return st, fmt.Errorf("stats: count documents: %w", err)
	}
	if err := scanCounts(ctx, tx, `SELECT modality, count(*) FROM items GROUP BY modality`, func(k string, n int) {
		st.Items[mmrag.Modality(k)] = n
	}); err != nil {
		return st, fmt.Errorf("stats: count items: %w", err)
	}
	if err := scanCounts(ctx, tx, `SELECT model, text_count + image_count FROM models WHERE text_count + image_count > 0`, func(k string, n int) {
		st.Vectors[k] = n
	}); err != nil {
		return st, fmt.Errorf("stats: count vectors: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0) FROM blobs`).Scan(&st.Blobs, &st.BlobBytes); err != nil {
		return st, fmt.Errorf("stats: count blobs: %w", err)
	}
	return st, nil
}

func scanCounts(ctx context.Context, tx *sql.Tx, query string, put func(string, int)) error {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		put(k, n)
	}
	return rows.Err()
}

// Models lists the models that filled the store, by ID, including those
// whose vectors were all deleted since: their dimension stays fixed.
func (s *Store) Models(ctx context.Context) ([]mmrag.Model, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT model, dim, text_count, image_count FROM models ORDER BY model`)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	defer rows.Close()
	var out []mmrag.Model
	for rows.Next() {
		var m mmrag.Model
		var t, i int
		if err := rows.Scan(&m.ID, &m.Dim, &t, &i); err != nil {
			return nil, fmt.Errorf("list models: %w", err)
		}
		m.Vectors = map[mmrag.Modality]int{mmrag.Text: t, mmrag.Image: i}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	return out, nil
}

// CountItems counts the items of every document f selects, per modality,
// in one query.
func (s *Store) CountItems(ctx context.Context, f mmrag.Filter) (map[string]map[mmrag.Modality]int, error) {
	where, args, err := filterSQL(f)
	if err != nil {
		return nil, fmt.Errorf("count items: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT i.doc_id, i.modality, count(*) FROM items i JOIN documents d ON d.id = i.doc_id
		WHERE `+where+` GROUP BY i.doc_id, i.modality`, args...)
	if err != nil {
		return nil, fmt.Errorf("count items: %w", err)
	}
	defer rows.Close()
	out := map[string]map[mmrag.Modality]int{}
	for rows.Next() {
		var doc, modality string
		var n int
		if err := rows.Scan(&doc, &modality, &n); err != nil {
			return nil, fmt.Errorf("count items: %w", err)
		}
		if out[doc] == nil {
			out[doc] = map[mmrag.Modality]int{}
		}
		out[doc][mmrag.Modality(modality)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count items: %w", err)
	}
	return out, nil
}

// DocumentVectors returns the vectors of a document's items under every
// model, ordered by item position, then model, in one query.
func (s *Store) DocumentVectors(ctx context.Context, docID string) ([]mmrag.Vector, error) {
	var out []mmrag.Vector
	err := s.readDoc(ctx, docID, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT v.item_id, v.model, v.data FROM items i JOIN vectors v ON v.item_id = i.id
			WHERE i.doc_id = ? ORDER BY i.position, i.rowid, v.model`, docID)
		out, err = collect(rows, err, func(sc scanner) (mmrag.Vector, error) {
			var v mmrag.Vector
			var data []byte
			err := sc.Scan(&v.ItemID, &v.Model, &data)
			v.Values = decVectorInto(make([]float32, 0, len(data)/4), data)
			return v, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("vectors of document %s: %w", docID, err)
	}
	return out, nil
}

// scanBatch is how many documents' items ScanItems reads in one query.
var scanBatch = 256

// ScanItems yields the items of the documents f selects, ordered by
// document source, then position: one query lists the documents, then one
// query per scanBatch documents reads their items. No connection is held
// between batches, so the caller may read and write the store meanwhile.
func (s *Store) ScanItems(ctx context.Context, f mmrag.Filter) iter.Seq2[mmrag.Item, error] {
	var ids []string
	return store.ScanItems(func() (int, error) {
		where, args, err := filterSQL(f)
		if err != nil {
			return 0, err
		}
		ids, err = queryStrings(ctx, s.r, `SELECT d.id FROM documents d WHERE `+where+` ORDER BY d.source`, args...)
		return (len(ids) + scanBatch - 1) / scanBatch, err
	}, func(i int) ([]mmrag.Item, error) {
		return s.itemsOf(ctx, ids[i*scanBatch:min((i+1)*scanBatch, len(ids))])
	})
}

// itemsOf reads the items of the documents ids, ordered by document source,
// then position.
func (s *Store) itemsOf(ctx context.Context, ids []string) ([]mmrag.Item, error) {
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+itemColumns+` FROM items i JOIN documents d ON d.id = i.doc_id
		WHERE i.doc_id IN (SELECT value FROM json_each(?)) ORDER BY d.source, i.position, i.rowid`, string(list))
	return collect(rows, err, scanItem)
}

// collect reads every row of a query with scan; err is the query's.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// filterSQL turns f into a condition on the documents table aliased d.
// Since is inclusive and Until exclusive; a document without an ingest time
// fails both. SourcePrefix compares bytes.
func filterSQL(f mmrag.Filter) (string, []any, error) {
	conds := []string{"1"}
	var args []any
	if len(f.DocIDs) > 0 {
		b, err := json.Marshal(f.DocIDs)
		if err != nil {
			return "", nil, err
		}
		conds = append(conds, `d.id IN (SELECT value FROM json_each(?))`)
		args = append(args, string(b))
	}
	if len(f.Types) > 0 {
		b, err := json.Marshal(f.Types)
		if err != nil {
			return "", nil, err
		}
		conds = append(conds, `d.type IN (SELECT value FROM json_each(?))`)
		args = append(args, string(b))
	}
	if f.SourcePrefix != "" {
		conds = append(conds, `substr(CAST(d.source AS BLOB), 1, ?) = CAST(? AS BLOB)`)
		args = append(args, len(f.SourcePrefix), f.SourcePrefix)
	}
	if !f.Since.IsZero() {
		conds = append(conds, `d.ingested >= ?`)
		args = append(args, boundNS(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, `d.ingested < ?`)
		args = append(args, boundNS(f.Until))
	}
	return strings.Join(conds, " AND "), args, nil
}
