package sqlite

// Commits of other processes.
//
// A Store patches its vector matrices with its own commits, but another
// process (a CLI ingest while a server runs, or a second Store on the same
// folder) commits to the same database. Every write therefore appends, in its
// own transaction, one row per document it changed to the changes table. Its
// AUTOINCREMENT sequence numbers have no gaps: a write that rolls back gives
// its number back, and pruning drops only the oldest rows.
//
// Before a vector search the Store reads the last sequence number (one
// indexed read) and compares it with applied, the number up to which its
// matrices hold every commit. Behind, it reads the log past applied and the
// current vectors of the documents other writers changed, in one read
// transaction, and patches them in like its own commits: every change is
// "this document is now exactly this", so replaying one is harmless. Its
// own commits are in the log as well; they are known by number and not read
// again. A Store that fell further behind than the log reaches drops its
// matrices, which then load again in one scan.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"mmrag"
)

// testHookCatchUpRead, when set by a test, runs between catching up's read
// of the database and its patch of the matrices.
var testHookCatchUpRead func()

// keepChanges is how many rows the change log keeps. A Store that missed
// more commits than that reloads its matrices whole.
var keepChanges int64 = 10_000

// logChange appends document id to the change log in tx and returns its
// sequence number, pruning rows more than keepChanges behind it.
func logChange(ctx context.Context, tx *sql.Tx, id string) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO changes(doc_id) VALUES (?)`, id)
	if err != nil {
		return 0, fmt.Errorf("log change: %w", err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("log change: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM changes WHERE seq <= ?`, seq-keepChanges); err != nil {
		return 0, fmt.Errorf("prune change log: %w", err)
	}
	return seq, nil
}

// lastChangeQuery reads the sequence number of the last commit: one seek
// to the end of the log's rowid b-tree. Prepared once (s.lastChange): the
// check runs before every vector search.
const lastChangeQuery = `SELECT seq FROM changes ORDER BY seq DESC LIMIT 1`

// lastChangeSeq returns the sequence number of the last commit, 0 before the
// first.
func (s *Store) lastChangeSeq(ctx context.Context) (int64, error) {
	var seq int64
	err := s.lastChange.QueryRowContext(ctx).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read change log: %w", err)
	}
	return seq, nil
}

// sync brings the matrices up to every commit made before it was called.
// Callers are serialised: one that arrives while another catches up waits
// for it, and then usually finds nothing left to do.
func (s *Store) sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	last, err := s.lastChangeSeq(ctx)
	if err != nil {
		return fmt.Errorf("look for commits of other writers: %w", err)
	}
	c := &s.vec
	// The read lock only: searches hold it while they scan, and a check
	// that finds nothing must not wait for them.
	c.mu.RLock()
	current := last <= c.applied
	c.mu.RUnlock()
	if current || c.skipUnloaded(last) {
		return nil
	}
	if err := s.catchUp(ctx); err != nil {
		return fmt.Errorf("read commits of other writers: %w", err)
	}
	return nil
}

// skipUnloaded moves applied to last when no matrix is loaded or loading:
// a matrix loaded later reads the new state anyway.
func (c *vectorCache) skipUnloaded(last int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 0 || len(c.loading) > 0 {
		return false
	}
	c.advance(last)
	return true
}

// logged is a row of the change log.
type logged struct {
	seq int64
	doc string
}

// catchUp reads, in one read transaction, the change log past applied and
// the vectors of the documents other writers changed, and patches them in.
func (s *Store) catchUp(ctx context.Context) error {
	c := &s.vec
	c.mu.RLock()
	applied, own := c.applied, maps.Clone(c.own)
	c.mu.RUnlock()

	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var first, last int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM changes`).Scan(&first, &last); err != nil {
		return fmt.Errorf("read change log: %w", err)
	}
	if last <= applied {
		return nil
	}
	if first > applied+1 {
		// Pruned past what the matrices hold.
		c.mu.Lock()
		c.dropAll(last)
		c.mu.Unlock()
		return nil
	}
	log, err := readLog(ctx, tx, applied)
	if err != nil {
		return err
	}
	var ids []string
	for doc, seq := range lastPerDoc(log) {
		if _, ours := own[seq]; !ours {
			ids = append(ids, doc)
		}
	}
	states, err := readDocStates(ctx, tx, ids)
	if err != nil {
		return err
	}
	tx.Rollback()
	if testHookCatchUpRead != nil {
		testHookCatchUpRead()
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.applyLog(log, states, last)
	return nil
}

// applyLog patches in the documents of log that other writers changed last,
// with their states as of sequence number last, and moves applied to last.
// A document whose last change is this Store's is left alone: the matrices
// hold that state, or a newer one this Store committed after last. The
// caller holds c.mu.
func (c *vectorCache) applyLog(log []logged, states map[string]*put, last int64) {
	newer := map[string]bool{}
	for seq, doc := range c.own {
		if seq > last {
			newer[doc] = true
		}
	}
	for doc, seq := range lastPerDoc(log) {
		if _, ours := c.own[seq]; ours || seq <= c.applied || newer[doc] {
			continue
		}
		st, read := states[doc]
		switch {
		case !read:
			continue // cannot happen: its change was not ours when the log was read
		case st == nil:
			c.patch(change{del: doc})
		default:
			c.patch(change{put: st})
		}
		c.reloadedDocs++
	}
	c.advance(last)
}

// lastPerDoc maps each document of log to its last sequence number.
func lastPerDoc(log []logged) map[string]int64 {
	m := make(map[string]int64, len(log))
	for _, l := range log {
		m[l.doc] = max(m[l.doc], l.seq)
	}
	return m
}

// readLog returns the change log past sequence number after, in order.
func readLog(ctx context.Context, tx *sql.Tx, after int64) ([]logged, error) {
	rows, err := tx.QueryContext(ctx, `SELECT seq, doc_id FROM changes WHERE seq > ? ORDER BY seq`, after)
	if err != nil {
		return nil, fmt.Errorf("read change log: %w", err)
	}
	defer rows.Close()
	var log []logged
	for rows.Next() {
		var l logged
		if err := rows.Scan(&l.seq, &l.doc); err != nil {
			return nil, fmt.Errorf("read change log: %w", err)
		}
		log = append(log, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read change log: %w", err)
	}
	return log, nil
}

// readDocStates reads what the matrices hold of the given documents: their
// filter fields and every vector of their items, as puts. A document that is
// not stored maps to nil.
func readDocStates(ctx context.Context, tx *sql.Tx, ids []string) (map[string]*put, error) {
	states := make(map[string]*put, len(ids))
	if len(ids) == 0 {
		return states, nil
	}
	for _, id := range ids {
		states[id] = nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	if err := readDocMeta(ctx, tx, string(list), states); err != nil {
		return nil, fmt.Errorf("read changed documents: %w", err)
	}
	if err := readDocVectors(ctx, tx, string(list), states); err != nil {
		return nil, fmt.Errorf("read vectors of changed documents: %w", err)
	}
	return states, nil
}

func readDocMeta(ctx context.Context, tx *sql.Tx, list string, states map[string]*put) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, source, type, ingested FROM documents WHERE id IN (SELECT value FROM json_each(?))`, list)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var d mmrag.Document
		var ing sql.NullInt64
		if err := rows.Scan(&d.ID, &d.Source, &d.Type, &ing); err != nil {
			return err
		}
		d.Ingested = decTime(ing)
		states[d.ID] = &put{doc: d, modality: map[string]mmrag.Modality{}}
	}
	return rows.Err()
}

func readDocVectors(ctx context.Context, tx *sql.Tx, list string, states map[string]*put) error {
	rows, err := tx.QueryContext(ctx, `
		SELECT i.doc_id, i.id, i.modality, v.model, v.dim, v.data FROM items i JOIN vectors v ON v.item_id = i.id
		WHERE i.doc_id IN (SELECT value FROM json_each(?))`, list)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var doc, item, modality, model string
		var dim int
		var data sql.RawBytes
		if err := rows.Scan(&doc, &item, &modality, &model, &dim, &data); err != nil {
			return err
		}
		p := states[doc]
		if p == nil {
			return fmt.Errorf("item %s: document %s is missing", item, doc)
		}
		if dim <= 0 || len(data) != 4*dim {
			return fmt.Errorf("vector of item %s (model %s) has %d bytes, want %d", item, model, len(data), 4*dim)
		}
		p.modality[item] = mmrag.Modality(modality)
		p.vectors = append(p.vectors, mmrag.Vector{ItemID: item, Model: model, Values: decVectorInto(make([]float32, 0, dim), data)})
	}
	return rows.Err()
}
