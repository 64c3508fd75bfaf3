package weaviate

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"

	"mmrag"
	"mmrag/store"
)

// hitProps are what a search needs back of each object: the id to return
// and the version marker to drop objects that are not live.
var hitProps = []string{pItemID, pDocKey, pVersion}

// SearchVectors returns the q.K items of q.Modality whose vectors under
// q.Model have the highest dot product with q.Vector (all when q.K ≤ 0),
// best first. An unknown model has no hits; a query of another dimension
// than the model's is an error.
func (s *Store) SearchVectors(ctx context.Context, q mmrag.VectorQuery) ([]mmrag.Hit, error) {
	if err := store.CheckVectorQuery(q); err != nil {
		return nil, err
	}
	hits, err := s.searchVectors(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("search vectors (model %s, %s) in weaviate %s: %w", q.Model, q.Modality, s.url, err)
	}
	return hits, nil
}

func (s *Store) searchVectors(ctx context.Context, q mmrag.VectorQuery) ([]mmrag.Hit, error) {
	m, ok, err := s.lookupModel(ctx, q.Model)
	if err != nil || !ok {
		return nil, err
	}
	if err := store.CheckQueryDim(q.Model, len(q.Vector), m.dim); err != nil {
		return nil, err
	}
	w, none, err := s.itemWhere(ctx, &q.Filter)
	if err != nil || none {
		return nil, err
	}
	class := s.names.item(q.Modality)
	if q.K > s.cfg.MaxResults {
		return s.scanVectors(ctx, class, m.vector, q)
	}
	if q.K <= 0 {
		// All hits, in one query when they fit in one. Any filter makes
		// Weaviate score its matches one by one (below its
		// flatSearchCutoff) instead of walking HNSW with an ef of
		// thousands: exact, and for so many hits no slower.
		w = and(w, anyOf(pModels, []string{m.vector}))
		hits, full, err := s.searchLive(ctx, query{class: class, where: w,
			limit: s.cfg.MaxResults, props: hitProps, near: q.Vector, target: m.vector}, s.cfg.MaxResults)
		if err != nil || !full {
			return hits, err
		}
		// Exactly as many as Weaviate returns at most: complete only if
		// there are no more.
		if n, err := s.count(ctx, class, w); err != nil || n <= s.cfg.MaxResults {
			return hits, err
		}
		return s.scanVectors(ctx, class, m.vector, q)
	}
	// A few more than asked, so that items tying with the K-th are all
	// seen and the cut falls by item id, as in the embedded store, instead
	// of wherever the index stopped.
	hits, _, err := s.searchLive(ctx, query{class: class, where: w, limit: min(q.K+tiePad, s.cfg.MaxResults),
		props: hitProps, near: q.Vector, target: m.vector}, q.K)
	return hits, err
}

// tiePad is how many hits beyond K a search asks for.
const tiePad = 16

// searchLive runs a search, drops the hits that are not live and, when it
// dropped some from a full page, asks again for more; it returns the want
// best live hits, and whether the answer held as many objects as Weaviate
// returns at most (so that more may exist).
func (s *Store) searchLive(ctx context.Context, q query, want int) ([]mmrag.Hit, bool, error) {
	for {
		res, err := s.run(ctx, q)
		if err != nil {
			return nil, false, err
		}
		live, err := s.live(ctx, res)
		if err != nil {
			return nil, false, err
		}
		if len(live) == len(res) || len(res) < q.limit || q.limit >= s.cfg.MaxResults {
			hits := make([]mmrag.Hit, len(live))
			for i, r := range live {
				hits[i] = mmrag.Hit{ItemID: r.props.str(pItemID), Score: r.score}
			}
			sortHits(hits)
			if len(hits) > want {
				hits = hits[:want]
			}
			return hits, len(res) >= s.cfg.MaxResults, nil
		}
		q.limit = min(s.cfg.MaxResults, q.limit+2*(len(res)-len(live)))
	}
}

// scanVectors scores every vector of the collection in Go: the answer to
// a search for more hits than Weaviate returns at once.
func (s *Store) scanVectors(ctx context.Context, class, vector string, q mmrag.VectorQuery) ([]mmrag.Hit, error) {
	var hits []mmrag.Hit
	propNames := append(slices.Clone(hitProps), pDocID, pDocType, pDocSrcHex, pDocIngest)
	err := s.scan(ctx, class, propNames, []string{vector}, func(res []result) error {
		var keep []result
		for _, r := range res {
			v := r.vectors[vector]
			if len(v) != len(q.Vector) {
				continue
			}
			src, _ := hex.DecodeString(r.props.str(pDocSrcHex))
			ingested, err := r.props.time(pDocIngest)
			if err != nil {
				return err
			}
			if docMatches(&q.Filter, r.props.str(pDocID), r.props.str(pDocType), string(src), ingested) {
				keep = append(keep, r)
			}
		}
		live, err := s.live(ctx, keep)
		if err != nil {
			return err
		}
		for _, r := range live {
			hits = append(hits, mmrag.Hit{ItemID: r.props.str(pItemID), Score: store.Dot(q.Vector, r.vectors[vector])})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortHits(hits)
	if q.K > 0 && len(hits) > q.K {
		hits = hits[:q.K]
	}
	return hits, nil
}

// sortHits orders hits best first, ties by item id, as the embedded store.
func sortHits(hits []mmrag.Hit) {
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].ItemID < hits[j].ItemID
	})
}

// maxQueryTerms caps the terms of a full-text query.
const maxQueryTerms = 64

// queryTerms splits free text as Weaviate's "word" tokenization splits the
// indexed text (letters and digits, lowercased), dropping repeats. Sending
// the terms joined by spaces makes any user text a plain OR of words: there
// is no query syntax to escape.
func queryTerms(q string) []string {
	var terms []string
	seen := map[string]bool{}
	for _, t := range strings.FieldsFunc(q, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) }) {
		t = strings.ToLower(t)
		if seen[t] {
			continue
		}
		seen[t] = true
		terms = append(terms, t)
		if len(terms) == maxQueryTerms {
			break
		}
	}
	return terms
}

// SearchText ranks the text items matching any word of q.Query by BM25
// (k1 1.2, b 0.75, no stopwords, no stemming) over their text and section
// path, the text weighing twice as much as the section, and returns the
// q.K best, best first; q.K ≤ 0 returns all, up to Config.MaxResults. A
// query without any word has no hits.
func (s *Store) SearchText(ctx context.Context, q mmrag.TextQuery) ([]mmrag.Hit, error) {
	terms := queryTerms(q.Query)
	if len(terms) == 0 {
		return nil, nil
	}
	w, none, err := s.itemWhere(ctx, &q.Filter)
	if err != nil {
		return nil, fmt.Errorf("search text %q in weaviate %s: %w", q.Query, s.url, err)
	}
	if none {
		return nil, nil
	}
	limit := q.K
	if limit <= 0 || limit > s.cfg.MaxResults {
		limit = s.cfg.MaxResults
	}
	hits, _, err := s.searchLive(ctx, query{
		class: s.names.text, where: w, limit: limit, props: hitProps,
		bm25: strings.Join(terms, " "), bm25On: []string{pText + "^2", pSection},
	}, limit)
	if err != nil {
		return nil, fmt.Errorf("search text %q in weaviate %s: %w", q.Query, s.url, err)
	}
	return hits, nil
}
