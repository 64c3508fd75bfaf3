package weaviate

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/weaviate/weaviate-go-client/v5/weaviate/filters"
	"github.com/weaviate/weaviate-go-client/v5/weaviate/graphql"

	"mmrag"
	"mmrag/store"
)

var docPropNames = []string{pDocID, pSource, pType, pTitle, pHash, pSize, pModTime, pIngested, pMeta}

var itemPropNames = []string{
	pItemID, pDocID, pDocKey, pVersion, pOrd, pKind, pText, pSection, pPage, pAnchor, pTimeNs, pPosition,
	pBlobHash, pMIME, pAlt, pCaption, pContext, pWidth, pHeight, pMeta,
}

func decodeDoc(p props) (mmrag.Document, error) {
	d := mmrag.Document{
		ID: p.str(pDocID), Source: p.str(pSource), Type: p.str(pType), Title: p.str(pTitle),
		Hash: p.str(pHash), Size: p.int(pSize),
	}
	var err error
	if d.ModTime, err = p.time(pModTime); err != nil {
		return d, fmt.Errorf("document %s: %w", d.ID, err)
	}
	if d.Ingested, err = p.time(pIngested); err != nil {
		return d, fmt.Errorf("document %s: %w", d.ID, err)
	}
	if d.Meta, err = decMeta(p.str(pMeta)); err != nil {
		return d, fmt.Errorf("document %s: %w", d.ID, err)
	}
	return d, nil
}

func decodeItem(p props, m mmrag.Modality) (mmrag.Item, error) {
	it := mmrag.Item{
		ID: p.str(pItemID), DocID: p.str(pDocID), Modality: m, Kind: p.str(pKind), Text: p.str(pText),
		Section: p.strs(pSection), Page: int(p.int(pPage)), Anchor: p.str(pAnchor),
		Time: time.Duration(p.int(pTimeNs)), Position: int(p.int(pPosition)), BlobHash: p.str(pBlobHash),
		MIME: p.str(pMIME), Alt: p.str(pAlt), Caption: p.str(pCaption), Context: p.str(pContext),
		Width: int(p.int(pWidth)), Height: int(p.int(pHeight)),
	}
	var err error
	if it.Meta, err = decMeta(p.str(pMeta)); err != nil {
		return it, fmt.Errorf("item %s: %w", it.ID, err)
	}
	return it, nil
}

// Document returns the document with the given id.
func (s *Store) Document(ctx context.Context, id string) (mmrag.Document, error) {
	return s.oneDoc(ctx, eq("_id", docUUID(id)), func(d mmrag.Document) bool { return d.ID == id }, "document "+id)
}

// DocumentBySource returns the document ingested from source.
func (s *Store) DocumentBySource(ctx context.Context, source string) (mmrag.Document, error) {
	return s.oneDoc(ctx, eq(pSrcHex, hex.EncodeToString([]byte(source))),
		func(d mmrag.Document) bool { return d.Source == source }, "document from "+source)
}

func (s *Store) oneDoc(ctx context.Context, w *filters.WhereBuilder, ok func(mmrag.Document) bool, what string) (mmrag.Document, error) {
	res, err := s.run(ctx, query{class: s.names.doc, where: w, limit: 2, props: docPropNames})
	if err != nil {
		return mmrag.Document{}, fmt.Errorf("%s: %w", what, err)
	}
	for _, r := range res {
		d, err := decodeDoc(r.props)
		if err != nil {
			return d, fmt.Errorf("%s: %w", what, err)
		}
		if ok(d) {
			return d, nil
		}
	}
	return mmrag.Document{}, fmt.Errorf("%s: %w", what, mmrag.ErrNotFound)
}

// Documents lists the documents f matches, ordered by source (bytes). The
// filter runs in Weaviate; when it might have matched more documents than
// one query returns, the whole collection is scanned instead.
func (s *Store) Documents(ctx context.Context, f mmrag.Filter) ([]mmrag.Document, error) {
	var docs []mmrag.Document
	err := s.eachDoc(ctx, &f, nil, func(d mmrag.Document, _ props) {
		docs = append(docs, d)
	})
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].Source < docs[j].Source })
	return docs, nil
}

// eachDoc calls fn, in no particular order, with every document f matches
// and its properties: docPropNames and extra.
func (s *Store) eachDoc(ctx context.Context, f *mmrag.Filter, extra []string, fn func(mmrag.Document, props)) error {
	propNames := append(slices.Clone(docPropNames), extra...)
	keep := func(res []result) error {
		for _, r := range res {
			d, err := decodeDoc(r.props)
			if err != nil {
				return err
			}
			if docMatches(f, d.ID, d.Type, d.Source, d.Ingested) {
				fn(d, r.props)
			}
		}
		return nil
	}
	w := docWhere(f)
	if w == nil {
		return s.scan(ctx, s.names.doc, propNames, nil, keep)
	}
	res, err := s.run(ctx, query{class: s.names.doc, where: w, limit: s.cfg.MaxResults, props: propNames})
	switch {
	case err == nil && len(res) < s.cfg.MaxResults:
		return keep(res)
	case err == nil || tooLarge(err):
		return s.scan(ctx, s.names.doc, propNames, nil, keep)
	}
	return err
}

// Items returns the items of a document ordered by position.
func (s *Store) Items(ctx context.Context, docID string) ([]mmrag.Item, error) {
	key := docUUID(docID)
	st, err := s.docState(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("items of document %s: %w", docID, err)
	}
	if !st.exists {
		return nil, fmt.Errorf("items of document %s: %w", docID, mmrag.ErrNotFound)
	}
	items, err := s.itemsOf(ctx, key, st.version)
	if err != nil {
		return nil, fmt.Errorf("items of document %s: %w", docID, err)
	}
	return items, nil
}

// itemsOf reads the items of one version of a document, ordered by
// position: one query per modality and page.
func (s *Store) itemsOf(ctx context.Context, key, version string) ([]mmrag.Item, error) {
	type ordered struct {
		it  mmrag.Item
		ord int64
	}
	var all []ordered
	for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
		err := s.pageByOrd(ctx, m, key, version, itemPropNames, nil, func(r result) error {
			it, err := decodeItem(r.props, m)
			if err != nil {
				return err
			}
			all = append(all, ordered{it, r.props.int(pOrd)})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].it.Position != all[j].it.Position {
			return all[i].it.Position < all[j].it.Position
		}
		return all[i].ord < all[j].ord
	})
	items := make([]mmrag.Item, len(all))
	for i, o := range all {
		items[i] = o.it
	}
	return items, nil
}

// pageByOrd calls fn with every object of modality m of one version of a
// document, in ord order (the item's index in its put): pages by ord, as
// offsets would stop at the server's result cap. propNames must hold pOrd.
func (s *Store) pageByOrd(ctx context.Context, m mmrag.Modality, key, version string, propNames, vectors []string, fn func(result) error) error {
	last := int64(-1)
	page := min(500, s.cfg.MaxResults)
	for {
		res, err := s.run(ctx, query{
			class:   s.names.item(m),
			where:   and(eq(pDocKey, key), eq(pVersion, version), where(pOrd, filters.GreaterThan).WithValueInt(last)),
			limit:   page,
			props:   propNames,
			vectors: vectors,
			sort:    []graphql.Sort{{Path: []string{pOrd}, Order: graphql.Asc}},
		})
		if tooLarge(err) && page > 1 {
			page /= 2
			continue
		}
		if err != nil {
			return err
		}
		for _, r := range res {
			if err := fn(r); err != nil {
				return err
			}
			last = max(last, r.props.int(pOrd))
		}
		if len(res) < page {
			return nil
		}
	}
}

// Item returns the item with the given id.
func (s *Store) Item(ctx context.Context, id string) (mmrag.Item, error) {
	found, err := s.findItems(ctx, []string{id}, nil)
	if err != nil {
		return mmrag.Item{}, fmt.Errorf("item %s: %w", id, err)
	}
	f, ok := found[id]
	if !ok {
		return mmrag.Item{}, fmt.Errorf("item %s: %w", id, mmrag.ErrNotFound)
	}
	return f.item, nil
}

// ItemsByID returns the items with the given ids in the order asked,
// skipping ids that are not stored.
func (s *Store) ItemsByID(ctx context.Context, ids []string) ([]mmrag.Item, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	found, err := s.findItems(ctx, ids, nil)
	if err != nil {
		return nil, fmt.Errorf("items by id: %w", err)
	}
	out := make([]mmrag.Item, 0, len(found))
	for _, id := range ids {
		if f, ok := found[id]; ok {
			out = append(out, f.item)
		}
	}
	return out, nil
}

type foundItem struct {
	item    mmrag.Item
	vectors map[string][]float32
}

// findItems looks up live items by id in both item collections.
func (s *Store) findItems(ctx context.Context, ids []string, vectors []string) (map[string]foundItem, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	out := map[string]foundItem{}
	var lookup func(m mmrag.Modality, chunk []string) error
	lookup = func(m mmrag.Modality, chunk []string) error {
		// Room for a few versions of each id (a put in progress).
		res, err := s.run(ctx, query{
			class: s.names.item(m), where: anyOf(pItemID, chunk),
			limit: min(s.cfg.MaxResults, 4*len(chunk)), props: itemPropNames, vectors: vectors,
		})
		if tooLarge(err) && len(chunk) > 1 {
			if err := lookup(m, chunk[:len(chunk)/2]); err != nil {
				return err
			}
			return lookup(m, chunk[len(chunk)/2:])
		}
		if err != nil {
			return err
		}
		res, err = s.live(ctx, res)
		if err != nil {
			return err
		}
		for _, r := range res {
			it, err := decodeItem(r.props, m)
			if err != nil {
				return err
			}
			if _, asked := slices.BinarySearch(chunk, it.ID); asked {
				out[it.ID] = foundItem{it, r.vectors}
			}
		}
		return nil
	}
	for chunk := range slices.Chunk(ids, 250) {
		for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
			if err := lookup(m, chunk); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// live keeps the results that belong to the current version of their
// document: objects of a put in progress, of a replaced version not yet
// deleted, or left by a crash are dropped.
func (s *Store) live(ctx context.Context, res []result) ([]result, error) {
	if len(res) == 0 {
		return res, nil
	}
	var keys []string
	seen := map[string]bool{}
	for _, r := range res {
		if k := r.props.str(pDocKey); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	versions := map[string]string{}
	for chunk := range slices.Chunk(keys, 1000) {
		docs, err := s.run(ctx, query{class: s.names.doc, where: anyOf("_id", chunk), limit: len(chunk), props: []string{pVersion}})
		if err != nil {
			return nil, fmt.Errorf("check versions: %w", err)
		}
		for _, d := range docs {
			versions[d.id] = d.props.str(pVersion)
		}
	}
	out := make([]result, 0, len(res))
	for _, r := range res {
		if v, ok := versions[r.props.str(pDocKey)]; ok && v == r.props.str(pVersion) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Vector returns the vector of an item under a model.
func (s *Store) Vector(ctx context.Context, model, itemID string) ([]float32, error) {
	m, ok, err := s.lookupModel(ctx, model)
	if err != nil {
		return nil, fmt.Errorf("vector of item %s under model %s: %w", itemID, model, err)
	}
	if !ok {
		return nil, fmt.Errorf("vector of item %s under model %s: %w", itemID, model, mmrag.ErrNotFound)
	}
	found, err := s.findItems(ctx, []string{itemID}, []string{m.vector})
	if err != nil {
		return nil, fmt.Errorf("vector of item %s under model %s: %w", itemID, model, err)
	}
	v := found[itemID].vectors[m.vector]
	if len(v) == 0 {
		return nil, fmt.Errorf("vector of item %s under model %s: %w", itemID, model, mmrag.ErrNotFound)
	}
	return v, nil
}

// Stats counts what the store holds. Objects of a put in progress (or left
// by a crash, until Sweep) are counted too.
func (s *Store) Stats(ctx context.Context) (mmrag.Stats, error) {
	st := mmrag.Stats{Items: map[mmrag.Modality]int{}, Vectors: map[string]int{}}
	var err error
	if st.Documents, err = s.count(ctx, s.names.doc, nil); err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
		n, err := s.count(ctx, s.names.item(m), nil)
		if err != nil {
			return st, fmt.Errorf("stats: %w", err)
		}
		if n > 0 {
			st.Items[m] = n
		}
	}
	models, err := s.Models(ctx)
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	for _, m := range models {
		if n := m.Vectors[mmrag.Text] + m.Vectors[mmrag.Image]; n > 0 {
			st.Vectors[m.ID] = n
		}
	}
	if st.Blobs, st.BlobBytes, err = s.blobs.stats(ctx); err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}

// DocumentVectors returns the vectors of a document's items under every
// model, ordered by item position, then model, in one pass over its items.
func (s *Store) DocumentVectors(ctx context.Context, docID string) ([]mmrag.Vector, error) {
	key := docUUID(docID)
	st, err := s.docState(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("vectors of document %s: %w", docID, err)
	}
	if !st.exists {
		return nil, fmt.Errorf("vectors of document %s: %w", docID, mmrag.ErrNotFound)
	}
	models, err := s.run(ctx, query{class: s.names.model, limit: s.cfg.MaxResults, props: modelProps2})
	if err != nil {
		return nil, fmt.Errorf("vectors of document %s: %w", docID, err)
	}
	byVector := map[string]string{}
	var names []string
	for _, m := range models {
		byVector[m.props.str(pVector)] = m.props.str(pModel)
		names = append(names, m.props.str(pVector))
	}
	if len(names) == 0 {
		return nil, nil
	}
	type placed struct {
		v             mmrag.Vector
		position, ord int64
	}
	var all []placed
	for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
		err := s.pageByOrd(ctx, m, key, st.version, []string{pItemID, pOrd, pPosition}, names, func(r result) error {
			for _, name := range names {
				if v := r.vectors[name]; len(v) > 0 {
					all = append(all, placed{mmrag.Vector{ItemID: r.props.str(pItemID), Model: byVector[name], Values: v},
						r.props.int(pPosition), r.props.int(pOrd)})
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("vectors of document %s: %w", docID, err)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.position != b.position {
			return a.position < b.position
		}
		if a.ord != b.ord {
			return a.ord < b.ord
		}
		return a.v.Model < b.v.Model
	})
	out := make([]mmrag.Vector, len(all))
	for i, p := range all {
		out[i] = p.v
	}
	return out, nil
}

// CountItems counts the items of every document f selects, per modality:
// one listing of the documents, then per modality one aggregation grouped
// by version for every thousand documents.
func (s *Store) CountItems(ctx context.Context, f mmrag.Filter) (map[string]map[mmrag.Modality]int, error) {
	docOf := map[string]string{} // current version → document id
	err := s.eachDoc(ctx, &f, []string{pVersion}, func(d mmrag.Document, p props) {
		docOf[p.str(pVersion)] = d.ID
	})
	if err != nil {
		return nil, fmt.Errorf("count items: %w", err)
	}
	versions := slices.Sorted(maps.Keys(docOf))
	out := map[string]map[mmrag.Modality]int{}
	for chunk := range slices.Chunk(versions, 1000) {
		for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
			counts, err := s.countBy(ctx, s.names.item(m), pVersion, anyOf(pVersion, chunk), len(chunk))
			if err != nil {
				return nil, fmt.Errorf("count items: %w", err)
			}
			for v, n := range counts {
				id, ok := docOf[v]
				if !ok || n == 0 {
					continue
				}
				if out[id] == nil {
					out[id] = map[mmrag.Modality]int{}
				}
				out[id][m] = n
			}
		}
	}
	return out, nil
}

// ScanItems yields the items of the documents f selects, ordered by
// document source, then position: one listing of the documents, then one
// query per document and modality (and page), each reading the version the
// listing saw. A document replaced since the listing is read again at its
// new version; one deleted since is skipped.
func (s *Store) ScanItems(ctx context.Context, f mmrag.Filter) iter.Seq2[mmrag.Item, error] {
	type listed struct{ id, source, version string }
	var docs []listed
	return store.ScanItems(func() (int, error) {
		docs = docs[:0]
		err := s.eachDoc(ctx, &f, []string{pVersion}, func(d mmrag.Document, p props) {
			docs = append(docs, listed{d.ID, d.Source, p.str(pVersion)})
		})
		sort.Slice(docs, func(i, j int) bool { return docs[i].source < docs[j].source })
		return len(docs), err
	}, func(i int) ([]mmrag.Item, error) {
		d := docs[i]
		items, err := s.itemsOf(ctx, docUUID(d.id), d.version)
		if err == nil && len(items) == 0 {
			// Replaced or deleted since the listing: its current state.
			items, err = s.Items(ctx, d.id)
			if errors.Is(err, mmrag.ErrNotFound) {
				return nil, nil
			}
		}
		return items, err
	})
}
