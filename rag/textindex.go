package rag

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"mmrag"
)

// IndexText gives every text item of the documents docIDs (all when empty)
// a vector of the dedicated text embedder emb, beside the vectors of models
// it already has, so that text–text search can use a model made for it
// while CLIP keeps serving queries against figures. Documents whose text
// items all have one are left alone; it returns how many texts it embedded.
func IndexText(ctx context.Context, store mmrag.Store, emb TextEmbedder, models []string, docIDs []string) (int, error) {
	if len(docIDs) == 0 {
		docs, err := store.Documents(ctx, mmrag.Filter{})
		if err != nil {
			return 0, err
		}
		for _, d := range docs {
			docIDs = append(docIDs, d.ID)
		}
	}
	total := 0
	var errs []error
	for _, id := range docIDs {
		n, err := indexDoc(ctx, store, emb, models, id)
		total += n
		if err != nil {
			if ctx.Err() != nil {
				return total, ctx.Err()
			}
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

func indexDoc(ctx context.Context, store mmrag.Store, emb TextEmbedder, models []string, docID string) (int, error) {
	doc, err := store.Document(ctx, docID)
	if err != nil {
		return 0, err
	}
	items, err := store.Items(ctx, docID)
	if err != nil {
		return 0, err
	}
	stored, err := store.DocumentVectors(ctx, docID)
	if err != nil {
		return 0, fmt.Errorf("index %s: read vectors: %w", doc.Source, err)
	}
	has := map[string]bool{}
	for _, v := range stored {
		if v.Model == emb.ModelID() {
			has[v.ItemID] = true
		}
	}
	var missing []mmrag.Item
	for _, it := range items {
		if it.Modality == mmrag.Text && !has[it.ID] {
			missing = append(missing, it)
		}
	}
	if len(missing) == 0 {
		return 0, nil
	}
	texts := make([]string, len(missing))
	for i, it := range missing {
		texts[i] = it.Text
	}
	vecs, err := emb.EmbedTexts(ctx, texts)
	if err != nil {
		return 0, fmt.Errorf("index %s with %s: %w", doc.Source, emb.ModelID(), err)
	}
	if len(vecs) != len(texts) {
		return 0, fmt.Errorf("index %s: %s returned %d vectors for %d texts", doc.Source, emb.ModelID(), len(vecs), len(texts))
	}
	vectors := keepVectors(stored, models, items)
	for i, it := range missing {
		vectors = append(vectors, mmrag.Vector{ItemID: it.ID, Model: emb.ModelID(), Values: vecs[i]})
	}
	if err := store.PutDocument(ctx, doc, items, vectors, nil); err != nil {
		return 0, fmt.Errorf("index %s: %w", doc.Source, err)
	}
	return len(missing), nil
}

// keepVectors returns the vectors of stored that belong to items and are of
// one of models.
func keepVectors(stored []mmrag.Vector, models []string, items []mmrag.Item) []mmrag.Vector {
	keep := make(map[string]bool, len(items))
	for _, it := range items {
		keep[it.ID] = true
	}
	var out []mmrag.Vector
	for _, v := range stored {
		if keep[v.ItemID] && slices.Contains(models, v.Model) {
			out = append(out, v)
		}
	}
	return out
}
