package sqlite

// Term bounds for the pruned full-text search.
//
// MaxScore (SearchText) may skip the rows holding only a query's frequent
// terms when the K-th best row holding a rarer one scores above what those
// terms can add. What a term can add is at most (k1+1)·IDF, whatever it
// occurs in; what it does add to the rows it is in is far less — at 1M items
// a word in 1.6 % of them adds at most ≈ 9.1 by the formula, and its rows
// hold it once or twice — so with the formula's bound a query holding such
// a word scores all its 16 000 rows (≈ 33 ms in this pure-Go SQLite) where
// a bound the rows hold would have pruned after scoring the rare terms'
// 1 000 (≈ 2 ms).
//
// That bound is the best score of the term alone: a phrase's part of a
// row's bm25() depends only on the phrase's count in the row, the row's
// length and the index's averages, all the same in a query of one term.
// Finding it costs a scoring of all the term's rows, as much as the query
// that needed it, so a search that had to score many rows (every row, or
// those of a frequent term it took as a rare one) learns the bounds of its
// frequent terms afterwards, in the background, for the queries that
// follow: one learner at a time, in a read transaction of its own, kept
// only while the index is in the state it read (the bounds are cached with
// the document frequencies, dropped at the next write). The learner must
// not slow the searches down — in this SQLite two statements of one process
// share one allocator lock, so a learner beside a search made it twice as
// slow — so it scores a term's rows boundChunk rows at a time, in rowid
// order, and starts a chunk only while no full-text search runs. It gives
// up after boundMaxTime, and the next search that scores many rows starts
// another.

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// background is a Store's background work besides the index worker.
type background struct {
	ctx      context.Context
	cancel   context.CancelFunc
	mu       sync.Mutex // orders starting work with stop
	wg       sync.WaitGroup
	learning atomic.Bool // a bound learner runs
	learned  func()      // called when a learner ends (tests)
}

// stop cancels the background work and waits for it.
func (b *background) stop() {
	b.mu.Lock()
	b.cancel()
	b.mu.Unlock()
	b.wg.Wait()
}

// boundMinRows: terms in fewer rows are not worth a bound; scoring their
// rows is cheap.
const boundMinRows = 2000

// boundChunk is the number of rows a learner scores at a time (≈ 8 ms at
// 1M items); boundMaxTime is how long it may take, waits included.
const (
	boundChunk   = 4096
	boundMaxTime = 10 * time.Second
)

// learnBounds starts learning, in the background, the bounds of the terms
// of ps in boundMinRows rows or more whose bound is not known and whose IDF
// is not clamped, unless a learner is running or the store is closing.
func (s *Store) learnBounds(ps []phraseStat) {
	var todo []string
	for _, p := range ps {
		if p.most == 0 && !p.negligible() && p.df >= boundMinRows {
			todo = append(todo, p.phrase)
		}
	}
	if len(todo) == 0 || !s.bg.learning.CompareAndSwap(false, true) {
		return
	}
	s.bg.mu.Lock()
	defer s.bg.mu.Unlock()
	if s.bg.ctx.Err() != nil {
		s.bg.learning.Store(false)
		return
	}
	s.bg.wg.Go(func() {
		defer s.bg.learning.Store(false)
		ctx, cancel := context.WithTimeout(s.bg.ctx, boundMaxTime)
		defer cancel()
		_ = s.termBounds(ctx, todo) // a failure leaves the formula's bound
		if s.bg.learned != nil {
			s.bg.learned()
		}
	})
}

// termBounds computes the bounds of phrases and caches them, if the index
// is still in the state the cache holds.
func (s *Store) termBounds(ctx context.Context, phrases []string) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, state, err := indexState(ctx, tx)
	if err != nil {
		return err
	}
	most := make(map[string]float64, len(phrases))
	for _, p := range phrases {
		best, err := s.bestScore(ctx, tx, p)
		if err != nil {
			return fmt.Errorf("bound of %s: %w", p, err)
		}
		if best > 0 {
			// A hair above: the query sums the terms' parts in its own order.
			most[p] = best * (1 + 1e-9)
		}
	}
	c := &s.ftsStats
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != state {
		return nil // written meanwhile: the bounds belong to an older state
	}
	for p, m := range most {
		c.most[p] = m
	}
	return nil
}

// bestScore is the best score of phrase alone over the rows holding it (0
// when none), scored boundChunk rows at a time in rowid order, each chunk
// started only while no full-text search runs.
func (s *Store) bestScore(ctx context.Context, tx *sql.Tx, phrase string) (float64, error) {
	var best float64
	after := int64(math.MinInt64)
	for {
		if err := s.waitTextIdle(ctx); err != nil {
			return 0, err
		}
		n, err := s.scoreChunk(ctx, tx, phrase, &after, &best)
		if err != nil || n < boundChunk {
			return best, err
		}
	}
}

// scoreChunk scores up to boundChunk rows of phrase after *after into
// *best, moving *after, and returns how many it scored.
func (s *Store) scoreChunk(ctx context.Context, tx *sql.Tx, phrase string, after *int64, best *float64) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT rowid, bm25(items_fts, `+bm25Weights+`) FROM items_fts
		WHERE items_fts MATCH ? AND rowid > ? ORDER BY rowid LIMIT ?`, phrase, *after, boundChunk)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var r float64
		if err := rows.Scan(after, &r); err != nil {
			return n, err
		}
		*best = max(*best, -r)
		n++
	}
	return n, rows.Err()
}

// waitTextIdle returns once no SearchText runs, or ctx is done.
func (s *Store) waitTextIdle(ctx context.Context) error {
	for s.textBusy.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return ctx.Err()
}
