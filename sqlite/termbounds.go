package sqlite

// Term bounds for the pruned full-text search.
//
// MaxScore (SearchText) may skip the rows holding only a query's frequent
// terms when the K-th best row holding a rarer one scores above what those
// terms can add. What a term can add is at most (k1+1)·IDF, whatever it
// occurs in; what it does add to the rows it is in is far less — at 1M items
// a word in 1.6 % of them adds at most ≈ 9.1 by the formula, and its rows
// hold it once or twice, 6.5 at most — so with the formula's bound a query
// holding such a word scores all its 16 000 rows (≈ 33 ms in this pure-Go
// SQLite) where the bound its rows hold prunes after scoring the rare
// terms' 1 000.
//
// A term's part of a row's bm25() is IDF · g(f, D), with f its weighted
// count in the row, D the row's length in tokens and
//
//	g(f, D) = f·(k1+1) / (f + k1·(1 − b + b·D/avgdl)),
//
// rising with f and falling with D. So the most a term adds to any row is
// IDF times the largest g over the pairs (f, D) of its rows that no other
// pair beats (larger f and smaller D): its frontier, a handful of pairs.
// The frontier does not depend on the collection's averages or the term's
// document frequency, which every write moves; so the store keeps it, per
// token of the index, in the table term_bounds, written in the transaction
// that indexes the rows (PutDocument), and a search reads it in its own
// snapshot. A removal leaves the frontiers as they were: a bound then may
// exceed the term's best row, which is safe (the search scores more rows),
// never below it.

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// bm25B is FTS5's b; bm25K1 is with the search (text.go).
const bm25B = 0.75

// columnHalves is each column's bm25() weight (bm25Weights) in halves: a
// frontier keeps f doubled, an integer.
var columnHalves = [2]uint64{2, 1} // text 1.0, section 0.5

// boundPair is a row's (f, D) for one term: f doubled, D in tokens.
type boundPair struct{ f2, d uint64 }

// g is the fraction of a row's score the pair's term gives per unit of IDF.
func (p boundPair) g(avgdl float64) float64 {
	f := float64(p.f2) / 2
	return f * (bm25K1 + 1) / (f + bm25K1*(1-bm25B+bm25B*float64(p.d)/avgdl))
}

// frontier is a term's pairs that no other beats, f ascending (so D
// ascending too).
type frontier []boundPair

// maxFrontier caps a frontier; past it two pairs give way to one that
// beats both, which keeps the bound an upper one.
const maxFrontier = 16

// add returns fr with p, unless a pair of fr beats it.
func (fr frontier) add(p boundPair) frontier {
	i, _ := slices.BinarySearchFunc(fr, p.f2, func(q boundPair, f2 uint64) int { return cmp.Compare(q.f2, f2) })
	// fr[i:] have f ≥ p's: the first, the smallest D among them, beats p
	// if its D is no larger; p beats it if its f is p's (and D larger).
	if i < len(fr) && fr[i].d <= p.d {
		return fr
	}
	end := i
	if i < len(fr) && fr[i].f2 == p.f2 {
		end++
	}
	// Pairs before i with D ≥ p's are beaten by p.
	j := i
	for j > 0 && fr[j-1].d >= p.d {
		j--
	}
	fr = slices.Replace(fr, j, end, p)
	if len(fr) > maxFrontier {
		// The two of smallest f give way to (f of the second, D of the first).
		fr[1].d = fr[0].d
		fr = fr[1:]
	}
	return fr
}

// best is the most the term adds to a row per unit of IDF, at avgdl.
func (fr frontier) best(avgdl float64) float64 {
	var g float64
	for _, p := range fr {
		g = max(g, p.g(avgdl))
	}
	return g
}

func (fr frontier) encode() []byte {
	b := make([]byte, 0, 4*len(fr))
	for _, p := range fr {
		b = binary.AppendUvarint(b, p.f2)
		b = binary.AppendUvarint(b, p.d)
	}
	return b
}

func decodeFrontier(b []byte) (frontier, error) {
	var fr frontier
	for len(b) > 0 {
		f2, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("torn frontier")
		}
		d, m := binary.Uvarint(b[n:])
		if m <= 0 {
			return nil, errors.New("torn frontier")
		}
		fr = append(fr, boundPair{f2, d})
		b = b[n+m:]
	}
	return fr, nil
}

// rowFrontiers splits rows with tok and returns each token's frontier over
// them.
func rowFrontiers(ctx context.Context, tok *tokenizer, rows []tokenRow) (fronts map[string]frontier, err error) {
	err = tok.split(ctx, rows, func(tx *sql.Tx) error {
		fronts, err = readFrontiers(ctx, tx, "tok_docsize", "tok_instances")
		return err
	})
	return fronts, err
}

// readFrontiers computes each token's frontier from an FTS5 table's row
// lengths and token instances (the tables named).
func readFrontiers(ctx context.Context, tx *sql.Tx, docsize, instances string) (map[string]frontier, error) {
	length, err := rowLengths(ctx, tx, docsize)
	if err != nil {
		return nil, err
	}
	// Instances come by token, then row: a row's count is known at the
	// next row or token.
	fronts := map[string]frontier{}
	var term string
	var rowid int64
	var f2 uint64
	flush := func() {
		if d, ok := length[rowid]; ok && f2 > 0 { // a row gone from docsize is deleted
			fronts[term] = fronts[term].add(boundPair{f2, d})
		}
		f2 = 0
	}
	err = eachInstance(ctx, tx, instances, func(t string, r int64, section bool) {
		if t != term || r != rowid {
			flush()
			term, rowid = t, r
		}
		f2 += columnHalves[b2i(section)]
	})
	if err != nil {
		return nil, err
	}
	flush()
	return fronts, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// keepTermBounds adds the text rows waiting in term_bounds_pending —
// those tx just wrote, and any a process of an older version wrote — to
// the frontiers of their tokens.
func (s *Store) keepTermBounds(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT i.rowid, i.text, coalesce(i.section, '')
		FROM term_bounds_pending p JOIN items i ON i.rowid = p.rowid WHERE i.modality = 'text'`)
	if err != nil {
		return fmt.Errorf("term bounds: read new rows: %w", err)
	}
	var batch []tokenRow
	for rows.Next() {
		var r tokenRow
		if err := rows.Scan(&r.rowid, &r.text, &r.section); err != nil {
			rows.Close()
			return fmt.Errorf("term bounds: read new rows: %w", err)
		}
		batch = append(batch, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("term bounds: read new rows: %w", err)
	}
	if len(batch) > 0 {
		fronts, err := rowFrontiers(ctx, s.writeTok, batch)
		if err != nil {
			return fmt.Errorf("term bounds: %w", err)
		}
		if err := mergeFrontiers(ctx, tx, fronts); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM term_bounds_pending`); err != nil {
		return fmt.Errorf("term bounds: %w", err)
	}
	return nil
}

// mergeFrontiers merges fronts into the table term_bounds, writing the
// frontiers that change.
func mergeFrontiers(ctx context.Context, tx *sql.Tx, fronts map[string]frontier) error {
	same := map[string]bool{}
	merge := func(term string, was frontier) {
		fr := slices.Clone(was) // add may write in place
		for _, p := range fronts[term] {
			fr = fr.add(p)
		}
		fronts[term] = fr
		same[term] = slices.Equal(fr, was)
	}
	// The stored frontiers of the terms, read in one statement; a term
	// that is not valid UTF-8 (FTS5 cuts a token at 32 KiB, possibly
	// inside a character) would not survive JSON: read on its own.
	var valid []string
	get, err := tx.PrepareContext(ctx, `SELECT pairs FROM term_bounds WHERE term = ?`)
	if err != nil {
		return fmt.Errorf("term bounds: %w", err)
	}
	defer get.Close()
	for t := range fronts {
		if utf8.ValidString(t) {
			valid = append(valid, t)
			continue
		}
		was, ok, err := storedFrontier(ctx, get, t)
		if err != nil {
			return err
		}
		if ok {
			merge(t, was)
		}
	}
	list, err := json.Marshal(valid)
	if err != nil {
		return fmt.Errorf("term bounds: %w", err)
	}
	old, err := tx.QueryContext(ctx, `SELECT term, pairs FROM term_bounds WHERE term IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return fmt.Errorf("term bounds: %w", err)
	}
	for old.Next() {
		var term string
		var b []byte
		if err := old.Scan(&term, &b); err != nil {
			old.Close()
			return fmt.Errorf("term bounds: %w", err)
		}
		was, err := decodeFrontier(b)
		if err != nil {
			old.Close()
			return fmt.Errorf("term bounds of %q: %w", term, err)
		}
		merge(term, was)
	}
	old.Close()
	if err := old.Err(); err != nil {
		return fmt.Errorf("term bounds: %w", err)
	}
	return putFrontiers(ctx, tx, fronts, same)
}

// storedFrontier reads term's frontier with get (SELECT pairs FROM
// term_bounds WHERE term = ?); ok is false when it has none.
func storedFrontier(ctx context.Context, get *sql.Stmt, term string) (fr frontier, ok bool, err error) {
	var b []byte
	switch err := get.QueryRowContext(ctx, term).Scan(&b); {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("read term bounds of %q: %w", term, err)
	}
	if fr, err = decodeFrontier(b); err != nil {
		return nil, false, fmt.Errorf("read term bounds of %q: %w", term, err)
	}
	return fr, true, nil
}

// putFrontiers writes fronts into term_bounds, but for the terms in skip.
func putFrontiers(ctx context.Context, tx *sql.Tx, fronts map[string]frontier, skip map[string]bool) error {
	set, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO term_bounds(term, pairs) VALUES (?, ?)`)
	if err != nil {
		return fmt.Errorf("term bounds: %w", err)
	}
	defer set.Close()
	for term, fr := range fronts {
		if skip[term] {
			continue
		}
		if _, err := set.ExecContext(ctx, term, fr.encode()); err != nil {
			return fmt.Errorf("term bounds of %q: %w", term, err)
		}
	}
	return nil
}

// fillTermBounds computes the frontiers of every token of the index from
// the index itself, for a database indexed before the store kept them
// (schema version 3). It reads every token instance: 42.6 s at 1M items
// of 40 words, under the write lock.
func fillTermBounds(ctx context.Context, tx *sql.Tx) error {
	fronts, err := indexFrontiers(ctx, tx)
	if err != nil {
		return err
	}
	return putFrontiers(ctx, tx, fronts, nil)
}

// indexFrontiers computes the frontier of every token of the index from
// the index: its rows' lengths and every token instance.
func indexFrontiers(ctx context.Context, tx *sql.Tx) (map[string]frontier, error) {
	if _, err := tx.ExecContext(ctx, `CREATE VIRTUAL TABLE IF NOT EXISTS temp.items_fts_instances USING fts5vocab(main, items_fts, instance)`); err != nil {
		return nil, fmt.Errorf("list token instances: %w", err)
	}
	// A temporary table of this connection; one left behind is reused.
	defer tx.ExecContext(context.WithoutCancel(ctx), `DROP TABLE temp.items_fts_instances`)
	return readFrontiers(ctx, tx, "items_fts_docsize", "temp.items_fts_instances")
}

// termBounds sets the most field of the stats not known yet whose IDF FTS5
// does not clamp, from the frontiers of their tokens in tx's snapshot, at
// the index's average row length avgdl; a phrase whose token has no
// frontier keeps the formula's bound. SearchText caches them with the
// document frequencies (ftsStats).
func (s *Store) termBounds(ctx context.Context, tx *sql.Tx, stats []phraseStat, avgdl float64) error {
	if s.formulaBounds || avgdl <= 0 {
		return nil
	}
	var todo []int
	var texts []string
	for i, st := range stats {
		if st.most == 0 && !st.negligible() && st.df > 0 {
			todo = append(todo, i)
			texts = append(texts, st.phrase)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	// Rows no put has taken into the frontiers yet: no bound holds.
	var pending bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM term_bounds_pending)`).Scan(&pending); err != nil {
		return fmt.Errorf("read term bounds: %w", err)
	}
	if pending {
		return nil
	}
	toks, err := s.tok.tokens(ctx, texts)
	if err != nil {
		return fmt.Errorf("split query phrases: %w", err)
	}
	get, err := tx.PrepareContext(ctx, `SELECT pairs FROM term_bounds WHERE term = ?`)
	if err != nil {
		return fmt.Errorf("read term bounds: %w", err)
	}
	defer get.Close()
	for k, i := range todo {
		// A phrase of several tokens is in a row at most as often as each
		// of them: any token's bound is its bound, the least the best.
		g := math.Inf(1)
		for _, t := range toks[k] {
			fr, ok, err := storedFrontier(ctx, get, t)
			if err != nil {
				return err
			}
			if ok {
				g = min(g, fr.best(avgdl))
			}
		}
		if g < bm25K1+1 {
			// A hair above: the query sums the terms' parts in its own order.
			stats[i].most = stats[i].idf * g * (1 + 1e-9)
		}
	}
	return nil
}
