package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mmrag"
	"mmrag/store/storetest"
)

// TestFrontier adds random pairs to frontiers and checks them against
// brute force: under the cap, the frontier is exactly the pairs no other
// beats; past it, its best is never below the true best at any average.
func TestFrontier(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name       string
		pairs, max int // pairs added; their f2 below max
	}{
		{"one", 1, 4},
		{"few", 8, 6},
		{"many small", 200, 10},
		{"past the cap", 500, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 50 {
				var fr frontier
				var all []boundPair
				for range tc.pairs {
					p := boundPair{f2: 1 + r.Uint64N(uint64(tc.max)), d: 1 + r.Uint64N(300)}
					all = append(all, p)
					fr = fr.add(p)
				}
				if len(fr) > maxFrontier {
					t.Fatalf("frontier of %d pairs, cap %d", len(fr), maxFrontier)
				}
				for i := 1; i < len(fr); i++ {
					if fr[i].f2 <= fr[i-1].f2 || fr[i].d <= fr[i-1].d {
						t.Fatalf("frontier %v: pair %d beats or equals pair %d", fr, i-1, i)
					}
				}
				var want frontier
				for _, p := range all {
					if !slices.ContainsFunc(all, func(q boundPair) bool { return q != p && q.f2 >= p.f2 && q.d <= p.d }) && !slices.Contains(want, p) {
						want = append(want, p)
					}
				}
				slices.SortFunc(want, func(a, b boundPair) int { return int(a.f2) - int(b.f2) })
				if len(want) <= maxFrontier && !slices.Equal(fr, want) {
					t.Fatalf("frontier %v, want %v", fr, want)
				}
				for _, avg := range []float64{1, 20, 300} {
					var best float64
					for _, p := range all {
						best = max(best, p.g(avg))
					}
					if got := fr.best(avg); got < best || len(want) <= maxFrontier && got != best {
						t.Fatalf("best at avgdl %v = %v, want %v", avg, got, best)
					}
				}
				back, err := decodeFrontier(fr.encode())
				if err != nil || !slices.Equal(back, fr) {
					t.Fatalf("decode(encode(%v)) = %v, %v", fr, back, err)
				}
			}
		})
	}
	if _, err := decodeFrontier([]byte{0x80}); err == nil {
		t.Error("a torn frontier decodes")
	}
}

// TestTermBounds checks each bound against every row of its term: the best
// single-term score (within 1e-6, never below it) and not above the
// formula's (k1+1)·IDF — over the corpus, after a write that moves every
// term's IDF and the average row length, and, bounding from above only,
// after documents are removed.
func TestTermBounds(t *testing.T) {
	ctx := t.Context()
	s := textCorpus(t)
	phrases := []string{`"w5"`, `"w40"`, `"w150"`, `"w2000"`, `"w20"`, `"nosuchword"`}
	check := func(stage string, exact bool) {
		t.Helper()
		tx, err := s.r.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		idx, stats, err := s.ftsStats.lookup(ctx, tx, phrases)
		if err != nil {
			t.Fatal(err)
		}
		for i := range stats {
			stats[i].most = 0 // not the cache's: computed again
		}
		if err := s.termBounds(ctx, tx, stats, idx.avgdl); err != nil {
			t.Fatal(err)
		}
		for _, st := range stats {
			hits, err := scoreAll(ctx, s, mmrag.TextQuery{Query: st.phrase})
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) == 0 {
				if st.most != 0 {
					t.Errorf("%s: %s is in no row, but has a bound %v", stage, st.phrase, st.most)
				}
				continue
			}
			if st.negligible() {
				continue // FTS5 clamps its IDF: no bound needed
			}
			best := float64(hits[0].Score) // scoreAll: best first, float32
			formula := (bm25K1 + 1) * st.idf
			if st.most == 0 || st.most < best-1e-6*best || exact && st.most > best+1e-6*best || st.most > formula {
				t.Errorf("%s: %s (in %d rows): bound %v, want its best row's %v (exactly: %v), under (k1+1)·IDF %v",
					stage, st.phrase, st.df, st.most, best, exact, formula)
			}
			t.Logf("%s: %s: %d rows, bound %.4f, best %.4f, formula %.4f", stage, st.phrase, st.df, st.most, best, formula)
		}
	}
	check("corpus", true)

	// A document of long rows: the average length and every IDF move.
	var items []mmrag.Item
	for i := range 500 {
		items = append(items, storetest.TextItem("long", i, strings.Repeat("w5 w150 filler words here ", 20)))
	}
	if err := s.PutDocument(ctx, storetest.Doc("long"), items, nil, nil); err != nil {
		t.Fatal(err)
	}
	check("after a write", true)

	for _, id := range []string{"long", "d0000", "d0001", "d0002", "d0003"} {
		if err := s.DeleteDocument(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	check("after removals", false)
}

// TestTermBoundsFill checks that a store opened on a database of schema
// version 2 (no term bounds) fills them from its index: to the frontiers
// PutDocument kept, and after removals to frontiers no looser; and that
// puts after the fill keep them.
func TestTermBoundsFill(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	fillText(t, s, 3000)
	kept := readTermBounds(t, s.r)
	s.Close()
	s = reopenVersion2(t, dir)
	if filled := readTermBounds(t, s.r); !maps.EqualFunc(filled, kept, slices.Equal) {
		t.Errorf("filled %d frontiers, kept %d: they differ", len(filled), len(kept))
	}

	if err := s.DeleteDocument(ctx, "d0001"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = reopenVersion2(t, dir)
	defer s.Close()
	filled := readTermBounds(t, s.r)
	// d0001's rows are gone from the index: a token only they held has
	// no frontier any more; every other keeps one, no looser.
	if len(filled) == 0 || len(filled) > len(kept) {
		t.Fatalf("%d tokens filled, %d kept", len(filled), len(kept))
	}
	looser, tighter := 0, 0
	for term, fr := range filled {
		k, ok := kept[term]
		if !ok {
			t.Errorf("%q: filled, never kept", term)
			continue
		}
		for _, avg := range []float64{10, 40, 100} {
			if fr.best(avg) > k.best(avg)+1e-12 {
				looser++
			}
		}
		if !slices.Equal(fr, k) {
			tighter++
		}
	}
	t.Logf("%d tokens kept, %d filled after a removal, %d of them tighter", len(kept), len(filled), tighter)
	if looser > 0 || tighter == 0 && len(filled) == len(kept) {
		t.Errorf("after a removal: %d filled bounds above the kept ones, %d below", looser, tighter)
	}

	if err := s.PutDocument(ctx, storetest.Doc("more"), []mmrag.Item{storetest.TextItem("more", 0, "w5 w5 w5 w5 w5 quokka")}, nil, nil); err != nil {
		t.Fatal(err)
	}
	after := readTermBounds(t, s.r)
	if _, ok := after["quokka"]; !ok || slices.Equal(after["w5"], filled["w5"]) {
		t.Errorf("a put after the fill: quokka %v, w5 %v (was %v)", after["quokka"], after["w5"], filled["w5"])
	}
}

// undoVersion3 drops what schema version 3 added.
const undoVersion3 = `DROP TRIGGER term_bounds_insert; DROP TRIGGER term_bounds_update;
	DROP TABLE term_bounds_pending; DROP TABLE term_bounds`

// reopenVersion2 turns the closed store in dir back to schema version 2,
// without term bounds, and opens it.
func reopenVersion2(t *testing.T, dir string) *Store {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), undoVersion3+`; UPDATE schema_version SET version = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTermBoundsOlderWriter: rows written by a process of an older
// version (which knows nothing of term bounds) wait in
// term_bounds_pending; until a put takes them in, searches prune by the
// formula's bounds only, and their hits stay those of scoring every row.
func TestTermBoundsOlderWriter(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	fillText(t, s, 3000)
	// What PutDocument of the previous version wrote, less the vectors.
	old := strings.Repeat("quokka ", 30) + "w5 w150"
	for _, q := range []string{
		`INSERT INTO documents(id, source) VALUES ('old', '/old.html')`,
		`INSERT INTO items(id, doc_id, modality, text) VALUES ('old#0', 'old', 'text', '` + old + `')`,
		`INSERT INTO items_fts(rowid, text, section) SELECT rowid, text, section FROM items WHERE doc_id = 'old'`,
	} {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	bounds := func() []phraseStat {
		tx, err := s.r.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		idx, stats, err := s.ftsStats.lookup(ctx, tx, []string{`"quokka"`, `"w5"`, `"w150"`})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.termBounds(ctx, tx, stats, idx.avgdl); err != nil {
			t.Fatal(err)
		}
		return stats
	}
	for _, st := range bounds() {
		if st.most != 0 {
			t.Errorf("%s has a bound, %v, with a row no put took in", st.phrase, st.most)
		}
	}
	q := mmrag.TextQuery{Query: "quokka w150 w5", K: 5}
	got, err := s.SearchText(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	all, err := scoreAll(ctx, s, mmrag.TextQuery{Query: q.Query})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0].ItemID != "old#0" || got[0] != all[0] {
		t.Errorf("hits %v, want the best of scoring every row first: %v", got, all[:min(5, len(all))])
	}

	if err := s.PutDocument(ctx, storetest.Doc("new"), []mmrag.Item{storetest.TextItem("new", 0, "w5")}, nil, nil); err != nil {
		t.Fatal(err)
	}
	var pending int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM term_bounds_pending`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("%d rows pending after a put (%v)", pending, err)
	}
	for _, st := range bounds() {
		hits, err := scoreAll(ctx, s, mmrag.TextQuery{Query: st.phrase})
		if err != nil {
			t.Fatal(err)
		}
		best := float64(hits[0].Score)
		if math.Abs(st.most-best) > 1e-6*best {
			t.Errorf("%s: bound %v after the put, want its best row's %v", st.phrase, st.most, best)
		}
	}
}

func readTermBounds(t *testing.T, db *sql.DB) map[string]frontier {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT term, pairs FROM term_bounds`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]frontier{}
	for rows.Next() {
		var term string
		var b []byte
		if err := rows.Scan(&term, &b); err != nil {
			t.Fatal(err)
		}
		fr, err := decodeFrontier(b)
		if err != nil {
			t.Fatalf("%q: %v", term, err)
		}
		out[term] = fr
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTokenizerMatchesIndex checks that the tokenizer names the tokens
// the full-text index holds, for text in several scripts, with diacritics,
// inflections, numbers, punctuation and section paths; and that the
// schema's tokenizer is ftsTokenizer.
func TestTokenizerMatchesIndex(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	texts := []string{
		"Running runners ran; the connection's connected connections.",
		"Crème brûlée à la française — Ærøskøbing, Straße, İstanbul, ǅemal",
		"Ελληνικά κείμενα και Русский текст; 中文文本 日本語のテキスト 한국어",
		"v1.2.3 build-42 x86_64 user@example.com https://example.com/a?b=c",
		"emoji 🙂 and marks e\u0301 a\u0308 and tabs\tand\nnewlines",
		"CamelCaseWords snake_case_words and ALLCAPS",
	}
	var items []mmrag.Item
	for i, x := range texts {
		it := storetest.TextItem("tok", i, x)
		it.Section = []string{"Über uns", "Section ünïcödé"}
		items = append(items, it)
	}
	if err := s.PutDocument(ctx, storetest.Doc("tok"), items, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `CREATE VIRTUAL TABLE temp.items_fts_rows USING fts5vocab(main, items_fts, row)`); err != nil {
		t.Fatal(err)
	}
	var index []string
	rows, err := s.w.QueryContext(ctx, `SELECT term FROM temp.items_fts_rows`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var term string
		if err := rows.Scan(&term); err != nil {
			t.Fatal(err)
		}
		index = append(index, term)
	}
	rows.Close()
	keptBounds := readTermBounds(t, s.r)
	kept := slices.Sorted(maps.Keys(keptBounds))
	if len(index) < 40 || !slices.Equal(kept, index) {
		t.Errorf("term bounds name %d tokens, the index %d:\n%q\n%q", len(kept), len(index), kept, index)
	}
	// And their counts and row lengths are the index's: the frontiers
	// computed from the index itself are the same.
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	fromIndex, err := indexFrontiers(ctx, tx)
	tx.Rollback()
	if err != nil {
		t.Fatal(err)
	}
	for term, fr := range fromIndex {
		if !slices.Equal(keptBounds[term], fr) {
			t.Errorf("%q: kept frontier %v, the index's %v", term, keptBounds[term], fr)
		}
	}

	// A query's words, one by one, give the index's tokens.
	words := strings.Fields("running Connections brûlée ÆRØSKØBING straße ελληνικά")
	toks, err := s.tok.tokens(ctx, words)
	if err != nil {
		t.Fatal(err)
	}
	for i, ts := range toks {
		if len(ts) != 1 || !slices.Contains(index, ts[0]) {
			t.Errorf("%q → %q: want one token of the index", words[i], ts)
		}
	}

	var schema string
	if err := s.r.QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE name = 'items_fts'`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(schema, fmt.Sprintf("tokenize = '%s'", ftsTokenizer)) {
		t.Errorf("items_fts is\n%s\nwant its tokenizer %q", schema, ftsTokenizer)
	}
}

// TestTermBoundsFirstSearch: a query whose middle term the formula
// cannot bound tightly enough is pruned at its first search.
func TestTermBoundsFirstSearch(t *testing.T) {
	ctx := context.Background()
	s := textCorpus(t)
	var tr textTrace
	s.traceText = func(t textTrace) { tr = t }
	// search runs q at its first search (nothing cached), by the formula's
	// bounds or by the term bounds; it reports whether pruning answered.
	search := func(q mmrag.TextQuery, formula bool) ([]mmrag.Hit, bool) {
		t.Helper()
		s.ftsStats.mu.Lock()
		s.ftsStats.startOver("")
		s.ftsStats.mu.Unlock()
		s.formulaBounds = formula
		tr = textTrace{}
		hits, err := s.SearchText(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return hits, tr.pruned
	}
	prunedFormula, pruned := 0, 0
	for mid := 5; mid <= 12; mid++ {
		for rare := 20; rare <= 60; rare += 10 {
			q := mmrag.TextQuery{Query: fmt.Sprintf("w%d w%d", rare, mid), K: 10}
			want, p := search(q, true)
			if p {
				prunedFormula++
			}
			got, p := search(q, false)
			if p {
				pruned++
			}
			if !slices.Equal(got, want) {
				t.Errorf("%q: hits differ with the term bounds:\n got %v\nwant %v", q.Query, got, want)
			}
		}
	}
	t.Logf("40 first searches: %d pruned by the formula's bounds, %d by the term bounds", prunedFormula, pruned)
	if pruned <= prunedFormula {
		t.Errorf("the term bounds pruned %d first searches, the formula %d: want more", pruned, prunedFormula)
	}
}
