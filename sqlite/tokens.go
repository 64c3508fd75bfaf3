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
// of the index's columns and tokenizer (tok; its row lengths in
// tok_docsize), and a vocabulary table listing its token instances
// (tok_instances). Go cannot split text as FTS5 does (Unicode 6.1 classes,
// Porter's stemmer as FTS5 writes it), and the term bounds must name the
// tokens the index names. Safe for concurrent use: one caller at a time.
type tokenizer struct {
	mu   sync.Mutex
	db   *sql.DB
	conn *sql.Conn
	put  *sql.Stmt
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
	t.put, err = t.conn.PrepareContext(ctx, `INSERT INTO tok(rowid, text, section) VALUES (?, ?, ?)`)
	return err
}

// close closes the tokenizer, once no split runs.
func (t *tokenizer) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	if t.put != nil {
		errs = append(errs, t.put.Close())
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

// split puts rows into tok and calls read with the transaction that holds
// them; the transaction is rolled back after (FTS5 would flush a segment
// at every commit).
func (t *tokenizer) split(ctx context.Context, rows []tokenRow, read func(*sql.Tx) error) error {
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
	if err := read(tx); err != nil {
		return fmt.Errorf("tokenize: %w", err)
	}
	return nil
}

// tokens returns the distinct tokens of each of texts, as the index's text
// column would hold them.
func (t *tokenizer) tokens(ctx context.Context, texts []string) ([][]string, error) {
	rows := make([]tokenRow, len(texts))
	for i, s := range texts {
		rows[i] = tokenRow{rowid: int64(i), text: s}
	}
	out := make([][]string, len(texts))
	err := t.split(ctx, rows, func(tx *sql.Tx) error {
		return eachInstance(ctx, tx, "tok_instances", func(term string, rowid int64, _ bool) {
			if rowid < 0 || rowid >= int64(len(out)) {
				return // not one of texts: cannot be, the split is rolled back
			}
			ts := out[rowid]
			if len(ts) == 0 || ts[len(ts)-1] != term {
				out[rowid] = append(ts, term)
			}
		})
	})
	return out, err
}

// eachInstance calls each for every token instance of the fts5vocab
// instance table named, by token, then row and column (section says
// which).
func eachInstance(ctx context.Context, tx *sql.Tx, table string, each func(term string, rowid int64, section bool)) error {
	rows, err := tx.QueryContext(ctx, `SELECT term, doc, col = 'section' FROM `+table)
	if err != nil {
		return fmt.Errorf("list token instances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var term string
		var rowid int64
		var section bool
		if err := rows.Scan(&term, &rowid, &section); err != nil {
			return fmt.Errorf("list token instances: %w", err)
		}
		each(term, rowid, section)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list token instances: %w", err)
	}
	return nil
}

// rowLengths reads the FTS5 docsize table named: each row's length in
// tokens, all columns, as bm25() takes it.
func rowLengths(ctx context.Context, tx *sql.Tx, table string) (map[int64]uint64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, sz FROM `+table)
	if err != nil {
		return nil, fmt.Errorf("read row lengths: %w", err)
	}
	defer rows.Close()
	length := map[int64]uint64{}
	for rows.Next() {
		var id int64
		var sz []byte
		if err := rows.Scan(&id, &sz); err != nil {
			return nil, fmt.Errorf("read row lengths: %w", err)
		}
		length[id] = varintSum(sz)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read row lengths: %w", err)
	}
	return length, nil
}

// varintSum sums the SQLite varints of b (an FTS5 record of column sizes
// or totals), up to the first torn one.
func varintSum(b []byte) uint64 {
	var sum uint64
	for len(b) > 0 {
		v, n := sqliteVarint(b)
		if n == 0 {
			break
		}
		sum += uint64(v)
		b = b[n:]
	}
	return sum
}
