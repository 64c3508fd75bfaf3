package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode"

	"mmrag"
)

// maxQueryTerms caps the terms of a full-text query; a pasted page would
// otherwise become a query of thousands of OR branches.
const maxQueryTerms = 64

// queryTerms splits free text into FTS5 phrases: every run of letters,
// numbers and combining marks (what FTS5's unicode61 tokenizer keeps)
// becomes one quoted, lower-cased term, once. Quoting makes FTS5 operators
// in the user's text (AND, OR, NOT, NEAR, *, ^, column filters) plain words;
// the runs hold no '"' to escape.
func queryTerms(q string) []string {
	var terms []string
	seen := map[string]bool{}
	for _, t := range strings.FieldsFunc(q, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.IsMark(r) && !unicode.Is(unicode.Co, r)
	}) {
		t = strings.ToLower(t)
		if seen[t] {
			continue
		}
		seen[t] = true
		terms = append(terms, `"`+t+`"`)
		if len(terms) == maxQueryTerms {
			break
		}
	}
	return terms
}

// ftsQuery turns free text into an FTS5 MATCH expression: its terms OR'ed,
// so that BM25 ranks items by how many terms they hold and how often instead
// of requiring all of them. It returns "" when the text has no term.
func ftsQuery(q string) string { return strings.Join(queryTerms(q), " OR ") }

// FTS5's bm25() is, per query phrase, IDF × f·(k1+1) / (f + k1·(1−b+b·D/avgdl))
// with k1 = 1.2, b = 0.75, f the phrase's weighted count in the row. The
// fraction stays below k1+1 whatever f and D, so a phrase adds at most
// (k1+1)·IDF to any row's score: the bound the pruned search falls back on
// where the tighter term bounds (termbounds.go) are not known. Column
// weights: text 1.0, section 0.5 (columnHalves).
const (
	bm25K1      = 1.2
	bm25MinIDF  = 1e-6 // FTS5's IDF of a phrase in half the rows or more
	bm25Weights = "1.0, 0.5"
)

// pruneMinRows: below this many matching rows (the sum of the terms'
// document frequencies) SearchText scores them all; pruning would not pay.
const pruneMinRows = 2000

// phraseStat is one query phrase with its document frequency.
type phraseStat struct {
	phrase string
	df     int64
	idf    float64
	// most is the most the phrase adds to any row's score in this state of
	// the index, when known (termbounds.go); 0 when not.
	most float64
}

// negligible says whether the phrase is in half the rows or more: FTS5
// clamps its IDF to 1e-6, so it changes scores by less than 3e-6.
func (p phraseStat) negligible() bool { return p.idf <= bm25MinIDF }

// bound is the most the phrase adds to a row's score: what the rows hold
// when known, else what any row could.
func (p phraseStat) bound() float64 {
	if p.most > 0 {
		return p.most
	}
	return (bm25K1 + 1) * p.idf
}

// SearchText ranks the text items matching any term of q.Query by BM25 over
// their text and section path (the section weighing half as much: Text
// usually repeats it) and returns the q.K best (all when q.K ≤ 0), best
// first; ties go to the item indexed first. Scores are FTS5's bm25()
// negated, so that higher is better. Image items are not in the full-text
// index; they are found through their vectors. A query without any word
// yields no hits.
//
// FTS5 computes bm25() for every matching row, some microseconds each: a
// query holding a frequent word ("the", or a word of the domain) would score
// most of the collection. With q.K > 0 SearchText first scores only the
// rows holding its rarer terms (MaxScore): the frequent terms add at most
// their bounds — the most each adds to any of its rows (termbounds.go), or
// (k1+1)·IDF — so when the K-th best of those rows scores above the sum no
// other row can enter the K best. It then scores those rows under
// the whole query, less the terms in half the rows or more, whose IDF FTS5
// clamps to 1e-6: the hits are those of the whole query and their scores
// differ from it by less than 3e-6 per such term. When the bound does not
// hold it widens the rare set, and scores every matching row as a last
// resort.
func (s *Store) SearchText(ctx context.Context, q mmrag.TextQuery) ([]mmrag.Hit, error) {
	terms := queryTerms(q.Query)
	if len(terms) == 0 {
		return nil, nil
	}
	where, fargs, err := filterSQL(q.Filter)
	if err != nil {
		return nil, fmt.Errorf("search text %q: %w", q.Query, err)
	}
	filtered := where != "1" // filterSQL's condition when f is zero
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("search text %q: %w", q.Query, err)
	}
	defer tx.Rollback()
	rank := func(match string, doubled bool) ([]ftsHit, error) {
		return rankRows(ctx, tx, match, doubled, filtered, where, fargs, q.K)
	}

	var hits []ftsHit
	if q.K <= 0 || len(terms) == 1 {
		hits, err = rank(strings.Join(terms, " OR "), false)
	} else {
		hits, err = s.searchPruned(ctx, tx, terms, q.K, rank)
	}
	if err != nil {
		return nil, fmt.Errorf("search text %q: %w", q.Query, err)
	}
	if len(hits) == 0 {
		return nil, nil
	}
	out := make([]mmrag.Hit, len(hits))
	for i, h := range hits {
		out[i] = mmrag.Hit{ItemID: h.id, Score: float32(-h.r)}
	}
	return out, nil
}

// textTrace tells how one pruned search went.
type textTrace struct {
	attempts int   // queries over the rows of rare terms
	pruned   bool  // an attempt gave the answer
	rows     int64 // rows the attempts scored, by document frequency
	allRows  int64 // rows holding any term, by document frequency
}

// searchPruned is SearchText for q.K > 0 and several terms: see there.
func (s *Store) searchPruned(ctx context.Context, tx *sql.Tx, terms []string, k int, rank func(string, bool) ([]ftsHit, error)) (hits []ftsHit, err error) {
	var tr textTrace
	if s.traceText != nil {
		defer func() { s.traceText(tr) }()
	}
	idx, stats, err := s.ftsStats.lookup(ctx, tx, terms)
	if err != nil {
		return nil, err
	}
	// Terms in no row add nothing to any score: drop them. The rest go
	// rarest first.
	var live []phraseStat
	var total int64
	for _, st := range stats {
		if st.df > 0 {
			live = append(live, st)
			total += st.df
		}
	}
	tr.allRows = total
	if len(live) == 0 {
		return nil, nil
	}
	slices.SortStableFunc(live, func(a, b phraseStat) int { return cmp.Compare(a.df, b.df) })
	all := func() ([]ftsHit, error) { return rank(orPhrases(live), false) }
	if idx.n <= 0 || len(live) == 1 || total < int64(s.pruneMinRows) {
		return all()
	}
	if err := s.termBounds(ctx, tx, live, idx.avgdl); err != nil {
		return nil, err
	}
	s.ftsStats.remember(idx.state, live)

	// spent counts the rows the attempts score: past half of what scoring
	// everything costs, scoring everything is the better bet.
	var spent int64
	for e := 1; e < len(live); e++ {
		rare, rest := live[:e], live[e:]
		var bound float64
		var mid []phraseStat // terms of rest whose IDF is not clamped
		for _, t := range rest {
			bound += t.bound()
			if !t.negligible() {
				mid = append(mid, t)
			}
		}
		if !promising(rare, bound, k) {
			continue
		}
		var rows int64
		for _, t := range rare {
			rows += t.df
		}
		if spent+rows > total/2 {
			break
		}
		spent += rows
		tr.attempts++
		tr.rows = spent
		// The rows holding a rare term, scored under rare and mid terms:
		// "(rare) AND (rare OR mid OR mid)" matches those rows only and
		// holds every phrase twice, so its bm25() is twice theirs.
		match, doubled := orPhrases(rare), false
		if len(mid) > 0 {
			match = "(" + match + ") AND (" + match + " OR " + orPhrases(mid) + " OR " + orPhrases(mid) + ")"
			doubled = true
		}
		hits, err := rank(match, doubled)
		if err != nil {
			return nil, err
		}
		// A row without a rare term scores at most bound.
		if len(hits) == k && -hits[k-1].r > bound {
			tr.pruned = true
			return hits, nil
		}
	}
	return all()
}

// promising says whether the rows holding a rare term are likely to fill
// the k best with scores above bound, before paying for the query: the k-th
// best row holds, at least, the term that brings the rare rows past k, once;
// a single occurrence in a row of average length scores its IDF.
func promising(rare []phraseStat, bound float64, k int) bool {
	var rows int64
	for _, t := range rare {
		rows += t.df
		if rows >= int64(k) {
			return t.idf > bound
		}
	}
	return false
}

func orPhrases(ps []phraseStat) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.phrase
	}
	return strings.Join(s, " OR ")
}

// ftsHit is a ranked row: bm25() as FTS5 returns it, lower is better.
type ftsHit struct {
	id string
	r  float64
}

// rankRows runs one ranked query: the rows matching match that pass the
// filter (where, over documents d, with fargs), the best limit first (all
// when limit ≤ 0). doubled halves the scores of an expression that holds
// every phrase twice.
//
// FTS5 leads the join (CROSS JOIN): driven from the items side, it would
// run the MATCH once per item. Without a filter the LIMIT applies inside
// the FTS5 query, so that only the rows kept look up their item.
func rankRows(ctx context.Context, tx *sql.Tx, match string, doubled, filtered bool, where string, fargs []any, limit int) ([]ftsHit, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	var query string
	var args []any
	if filtered {
		query = `SELECT i.id, bm25(items_fts, ` + bm25Weights + `) AS r
			FROM items_fts CROSS JOIN items i ON i.rowid = items_fts.rowid
			WHERE items_fts MATCH ? AND i.doc_id IN (SELECT d.id FROM documents d WHERE ` + where + `)
			ORDER BY r, items_fts.rowid
			LIMIT ?`
		args = append(append([]any{match}, fargs...), limit)
	} else {
		query = `SELECT i.id, f.r
			FROM (SELECT rowid, bm25(items_fts, ` + bm25Weights + `) AS r FROM items_fts
				WHERE items_fts MATCH ? ORDER BY r, rowid LIMIT ?) AS f
			CROSS JOIN items i ON i.rowid = f.rowid
			ORDER BY f.r, f.rowid`
		args = []any{match, limit}
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hits []ftsHit
	for rows.Next() {
		var h ftsHit
		if err := rows.Scan(&h.id, &h.r); err != nil {
			return nil, err
		}
		if doubled {
			h.r /= 2
		}
		hits = append(hits, h)
	}
	return hits, rows.Err()
}

// ftsStats caches the document frequency of query phrases for one state of
// the index. Counting a phrase's rows walks its whole doclist (milliseconds
// for a word in most rows), and the frequent words of a collection recur in
// most queries.
type ftsStats struct {
	mu    sync.Mutex
	state string // the index's averages and structure records
	df    map[string]int64
	most  map[string]float64 // phrase → the most it adds to a row (termbounds.go)
}

// startOver empties the cache for state. The caller holds c.mu.
func (c *ftsStats) startOver(state string) {
	c.state, c.df, c.most = state, map[string]int64{}, map[string]float64{}
}

// maxCachedPhrases bounds the cache; it starts over when full.
const maxCachedPhrases = 100_000

// lookup returns the index's state and, for each phrase, its document
// frequency, FTS5's IDF and its bound when known (termbounds.go).
func (c *ftsStats) lookup(ctx context.Context, tx *sql.Tx, phrases []string) (idx ftsIndex, stats []phraseStat, err error) {
	if idx, err = indexState(ctx, tx); err != nil {
		return idx, nil, err
	}
	state := idx.state
	stats = make([]phraseStat, len(phrases))
	var missing []int
	c.mu.Lock()
	if c.state != state || len(c.df) > maxCachedPhrases {
		c.startOver(state)
	}
	for i, p := range phrases {
		stats[i].phrase = p
		stats[i].most = c.most[p]
		if df, ok := c.df[p]; ok {
			stats[i].df = df
		} else {
			missing = append(missing, i)
		}
	}
	c.mu.Unlock()

	for _, i := range missing {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM items_fts WHERE items_fts MATCH ?`, phrases[i]).Scan(&stats[i].df); err != nil {
			return idx, nil, fmt.Errorf("count rows of %s: %w", phrases[i], err)
		}
	}
	if len(missing) > 0 {
		c.mu.Lock()
		if c.state == state {
			for _, i := range missing {
				c.df[phrases[i]] = stats[i].df
			}
		}
		c.mu.Unlock()
	}
	for i := range stats {
		stats[i].idf = ftsIDF(idx.n, stats[i].df)
	}
	return idx, stats, nil
}

// remember caches the bounds of stats found in state.
func (c *ftsStats) remember(state string, stats []phraseStat) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != state {
		return
	}
	for _, st := range stats {
		if st.most > 0 {
			c.most[st.phrase] = st.most
		}
	}
}

// ftsIndex is what SearchText needs of the full-text index's state.
type ftsIndex struct {
	n     int64   // rows; 0 when the index is empty or its averages unreadable
	avgdl float64 // the rows' mean length in tokens, all columns
	state string  // names the state that cached statistics belong to
}

// indexState reads the number of rows in the full-text index, their mean
// length and a string naming the index's state: the averages record (id 1)
// holds the row count and the tokens per column FTS5's bm25() uses, the
// structure record (id 10) changes at every write to the index, so the two
// name the state.
func indexState(ctx context.Context, tx *sql.Tx) (idx ftsIndex, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, block FROM items_fts_data WHERE id IN (1, 10) ORDER BY id`)
	if err != nil {
		return idx, fmt.Errorf("read index statistics: %w", err)
	}
	defer rows.Close()
	var avg, structure []byte
	for rows.Next() {
		var id int64
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			return idx, fmt.Errorf("read index statistics: %w", err)
		}
		if id == 1 {
			avg = b
		} else {
			structure = b
		}
	}
	if err := rows.Err(); err != nil {
		return idx, fmt.Errorf("read index statistics: %w", err)
	}
	idx.state = string(binary.AppendUvarint(nil, uint64(len(avg)))) + string(avg) + string(structure)
	n, k := sqliteVarint(avg)
	if k == 0 {
		return idx, nil
	}
	idx.n = n
	if n > 0 {
		idx.avgdl = float64(varintSum(avg[k:])) / float64(n)
	}
	return idx, nil
}

// ftsIDF is FTS5's IDF of a phrase in df of n rows.
func ftsIDF(n, df int64) float64 {
	idf := math.Log((float64(n-df) + 0.5) / (float64(df) + 0.5))
	if idf <= 0 {
		return bm25MinIDF
	}
	return idf
}

// sqliteVarint decodes a SQLite varint (big-endian, 7 bits a byte, the
// ninth byte whole), the encoding of FTS5's records, and returns the bytes
// it took: 0 when b is too short.
func sqliteVarint(b []byte) (v int64, n int) {
	var u uint64
	for i := 0; i < 9 && i < len(b); i++ {
		if i == 8 {
			return int64(u<<8 | uint64(b[i])), 9
		}
		u = u<<7 | uint64(b[i]&0x7f)
		if b[i]&0x80 == 0 {
			return int64(u), i + 1
		}
	}
	return 0, 0
}
