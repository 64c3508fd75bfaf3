package sqlite

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"mmrag"
)

// maxQueryTerms caps the terms of a full-text query; a pasted page would
// otherwise become a query of thousands of OR branches.
const maxQueryTerms = 64

// ftsQuery turns free text into an FTS5 MATCH expression: every run of
// letters, numbers and combining marks (what FTS5's
// unicode61 tokenizer keeps) becomes one quoted term, and the terms
// are OR'ed, so that BM25 ranks items by how many terms they hold and how
// often instead of requiring all of them. Quoting makes FTS5 operators in the
// user's text (AND, OR, NOT, NEAR, *, ^, column filters) plain words. It
// returns "" when the text has no term.
func ftsQuery(q string) string {
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
	return strings.Join(terms, " OR ")
}

// SearchText ranks the text items matching q.Query by BM25 over their text
// and section path (the section weighing half as much: Text usually repeats
// it) and returns the q.K best (all when q.K ≤ 0), best first. Scores are
// FTS5's bm25() negated, so that higher is better. Image items are not in the
// full-text index; they are found through their vectors. A query without any
// word yields no hits.
func (s *Store) SearchText(ctx context.Context, q mmrag.TextQuery) ([]mmrag.Hit, error) {
	match := ftsQuery(q.Query)
	if match == "" {
		return nil, nil
	}
	where, args, err := filterSQL(q.Filter)
	if err != nil {
		return nil, fmt.Errorf("search text %q: %w", q.Query, err)
	}
	limit := q.K
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	args = append([]any{match}, args...)
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, `
		SELECT i.id, bm25(items_fts, 1.0, 0.5) AS r
		FROM items_fts
		JOIN items i ON i.rowid = items_fts.rowid
		JOIN documents d ON d.id = i.doc_id
		WHERE items_fts MATCH ? AND `+where+`
		ORDER BY r, i.id
		LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("search text %q: %w", q.Query, err)
	}
	defer rows.Close()
	var hits []mmrag.Hit
	for rows.Next() {
		var h mmrag.Hit
		var r float64
		if err := rows.Scan(&h.ItemID, &r); err != nil {
			return nil, fmt.Errorf("search text %q: %w", q.Query, err)
		}
		h.Score = float32(-r)
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search text %q: %w", q.Query, err)
	}
	return hits, nil
}
