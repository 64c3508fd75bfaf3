package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// ftsTokenizer is the tokenizer of the full-text index, items_fts (the
// schema's first migration names it literally; TestTokenizerMatchesIndex
// checks the two agree).
const ftsTokenizer = "porter unicode61 remove_diacritics 2"

// tokenizer splits text into the tokens the full-text index holds, with
// FTS5 itself: a private in-memory database holds a contentless FTS5 table
// of the index's columns and tokenizer, and a vocabulary table listing its
// token instances. Go cannot split text as FTS5 does (Unicode 6.1 classes,
// Porter's stemmer as FTS5 writes it), and the term bounds must name the
// tokens the index names. Safe for concurrent use: one caller at a time.
type tokenizer struct {
	mu    sync.Mutex
	db    *sql.DB
	conn  *sql.Conn
	put   *sql.Stmt
	list  *sql.Stmt
	sizes *sql.Stmt
}

// tokenRow is one row to split: its rowid, text and section column as the
// index gets them.
type tokenRow struct {
	rowid   int64
	text    string
	section string
}

// openTokenizer opens a tokenizer.
func openTokenizer(ctx context.Context) (*tokenizer, error) {
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		return nil, fmt.Errorf("open tokenizer: %w", err)
	}
	t := &tokenizer{db: db}
	if err := t.prepare(ctx); err != nil {
		t.close()
		return nil, fmt.Errorf("open tokenizer: %w", err)
	}
	return t, nil
}

func (t *tokenizer) prepare(ctx context.Context) (err error) {
	// One connection for life: each holds its own in-memory database.
	if t.conn, err = t.db.Conn(ctx); err != nil {
		return err
	}
	if _, err = t.conn.ExecContext(ctx, `
		CREATE VIRTUAL TABLE tok USING fts5(text, section, content = '', tokenize = '`+ftsTokenizer+`');
		CREATE VIRTUAL TABLE tok_instances USING fts5vocab(tok, instance);`); err != nil {
		return err
	}
	if t.put, err = t.conn.PrepareContext(ctx, `INSERT INTO tok(rowid, text, section) VALUES (?, ?, ?)`); err != nil {
		return err
	}
	// Instances come by token, then row, column and offset.
	if t.list, err = t.conn.PrepareContext(ctx, `SELECT term, doc, col = 'section' FROM tok_instances`); err != nil {
		return err
	}
	t.sizes, err = t.conn.PrepareContext(ctx, `SELECT id, sz FROM tok_docsize`)
	return err
}

// close closes the tokenizer, once no split runs.
func (t *tokenizer) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for _, st := range []*sql.Stmt{t.put, t.list, t.sizes} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if t.conn != nil {
		errs = append(errs, t.conn.Close())
	}
	errs = append(errs, t.db.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close tokenizer: %w", err)
	}
	return nil
}

// instances splits rows and calls each for every token instance, by token,
// then row and column (section says which), then length for each row with
// its length in tokens, all columns. The rows go in in one transaction,
// rolled back after: FTS5 would flush a segment at every commit.
func (t *tokenizer) instances(ctx context.Context, rows []tokenRow, each func(term string, rowid int64, section bool), length func(rowid int64, tokens uint64)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	tx, err := t.conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("tokenize: %w", err)
	}
	defer tx.Rollback()
	put := tx.StmtContext(ctx, t.put)
	for _, r := range rows {
		if _, err := put.ExecContext(ctx, r.rowid, r.text, r.section); err != nil {
			return fmt.Errorf("tokenize row %d: %w", r.rowid, err)
		}
	}
	list, err := tx.StmtContext(ctx, t.list).QueryContext(ctx)
	if err != nil {
		return fmt.Errorf("tokenize: %w", err)
	}
	defer list.Close()
	for list.Next() {
		var term string
		var rowid int64
		var section bool
		if err := list.Scan(&term, &rowid, &section); err != nil {
			return fmt.Errorf("tokenize: %w", err)
		}
		each(term, rowid, section)
	}
	if err := list.Err(); err != nil {
		return fmt.Errorf("tokenize: %w", err)
	}
	if length == nil {
		return nil
	}
	sizes, err := tx.StmtContext(ctx, t.sizes).QueryContext(ctx)
	if err != nil {
		return fmt.Errorf("tokenize: %w", err)
	}
	defer sizes.Close()
	for sizes.Next() {
		var rowid int64
		var sz []byte
		if err := sizes.Scan(&rowid, &sz); err != nil {
			return fmt.Errorf("tokenize: %w", err)
		}
		length(rowid, rowLength(sz))
	}
	if err := sizes.Err(); err != nil {
		return fmt.Errorf("tokenize: %w", err)
	}
	return nil
}

// rowLength sums the column sizes of an FTS5 docsize record: a row's
// length in tokens, as bm25() takes it.
func rowLength(sz []byte) uint64 {
	var d uint64
	for len(sz) > 0 {
		v, n := sqliteVarint(sz)
		if n == 0 {
			break
		}
		d += uint64(v)
		sz = sz[n:]
	}
	return d
}

// tokens returns the distinct tokens of each of texts, as the index's text
// column would hold them.
func (t *tokenizer) tokens(ctx context.Context, texts []string) ([][]string, error) {
	rows := make([]tokenRow, len(texts))
	for i, s := range texts {
		rows[i] = tokenRow{rowid: int64(i), text: s}
	}
	out := make([][]string, len(texts))
	err := t.instances(ctx, rows, func(term string, rowid int64, _ bool) {
		if rowid < 0 || rowid >= int64(len(out)) {
			return // not one of texts: cannot be, the split is rolled back
		}
		ts := out[rowid]
		if len(ts) == 0 || ts[len(ts)-1] != term {
			out[rowid] = append(ts, term)
		}
	}, nil)
	return out, err
}
