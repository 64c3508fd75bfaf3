package weaviate

import (
	"context"
	"fmt"
	"sort"
	"time"

	"mmrag"
	"mmrag/store"
)

// modelInfo is an embedding model of the registry (<Prefix>Model).
type modelInfo struct {
	id     string
	vector string // named vector of the item collections
	dim    int
	ready  bool // the named vector is known to exist in both item collections
}

var modelProps2 = []string{pModel, pVector, pDim}

// lookupModel returns the registered model, if any. Entries never change
// once written, so a cached one is never stale.
func (s *Store) lookupModel(ctx context.Context, model string) (modelInfo, bool, error) {
	s.modelsMu.Lock()
	m, ok := s.models[model]
	s.modelsMu.Unlock()
	if ok {
		return m, true, nil
	}
	res, err := s.run(ctx, query{class: s.names.model, where: eq("_id", modelUUID(model)), limit: 1, props: modelProps2})
	if err != nil {
		return modelInfo{}, false, fmt.Errorf("look up model %s: %w", model, err)
	}
	for _, r := range res {
		if r.props.str(pModel) != model {
			continue
		}
		m := modelInfo{id: model, vector: r.props.str(pVector), dim: int(r.props.int(pDim))}
		s.modelsMu.Lock()
		if cached, ok := s.models[model]; ok {
			m = cached
		} else {
			s.models[model] = m
		}
		s.modelsMu.Unlock()
		return m, true, nil
	}
	return modelInfo{}, false, nil
}

// ensureModel registers a model with its dimension (refusing another
// dimension than the registered one) and gives both item collections its
// named vector.
func (s *Store) ensureModel(ctx context.Context, model string, dim int) (modelInfo, error) {
	m, ok, err := s.lookupModel(ctx, model)
	if err != nil {
		return m, err
	}
	if !ok {
		m = modelInfo{id: model, vector: vectorName(model), dim: dim}
		// Create, not upsert: of two writers registering a model at once,
		// the first wins and the second reads its dimension.
		var err error
		// A node that just went down can fail the first attempts until
		// the cluster notices; retry what may pass.
		for attempt := range 4 {
			_, err = s.client.Data().Creator().WithClassName(s.names.model).WithID(modelUUID(model)).
				WithProperties(map[string]any{pModel: model, pVector: m.vector, pDim: dim, pIndex: s.cfg.Index}).
				WithConsistencyLevel(s.cl).Do(ctx)
			if err == nil || !transient(ctx, err) {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(attempt+1) * 500 * time.Millisecond):
			}
		}
		if err != nil {
			createErr := err
			var ok2 bool
			m, ok2, err = s.lookupModel(ctx, model)
			if err != nil {
				return m, err
			}
			if !ok2 {
				return m, fmt.Errorf("register model %s: %w", model, createErr)
			}
		}
	}
	if err := store.CheckDim(model, dim, m.dim); err != nil {
		return m, err
	}
	if m.ready {
		return m, nil
	}
	// Adding a named vector rewrites the whole collection definition; one
	// writer of this process at a time.
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	for _, class := range []string{s.names.text, s.names.image} {
		var err error
		for range 3 {
			if err = s.addVector(ctx, class, m.vector); err != nil {
				continue
			}
			// A concurrent update by another process may have dropped it.
			var ok bool
			if ok, err = s.hasVector(ctx, class, m.vector); err == nil && ok {
				break
			}
			if err == nil {
				err = fmt.Errorf("named vector %s vanished from collection %s", m.vector, class)
			}
		}
		if err != nil {
			return m, fmt.Errorf("model %s: %w", model, err)
		}
	}
	m.ready = true
	s.modelsMu.Lock()
	s.models[model] = m
	s.modelsMu.Unlock()
	return m, nil
}

// Models lists the models that filled the store, by ID, including those
// whose vectors were all deleted since: their dimension stays fixed.
// Vectors of a put in progress (or left by a crash, until Sweep) are
// counted too.
func (s *Store) Models(ctx context.Context) ([]mmrag.Model, error) {
	res, err := s.run(ctx, query{class: s.names.model, limit: s.cfg.MaxResults, props: modelProps2})
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	var out []mmrag.Model
	for _, r := range res {
		m := mmrag.Model{ID: r.props.str(pModel), Dim: int(r.props.int(pDim)), Vectors: map[mmrag.Modality]int{}}
		for _, mod := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
			n, err := s.count(ctx, s.names.item(mod), anyOf(pModels, []string{r.props.str(pVector)}))
			if err != nil {
				return nil, fmt.Errorf("list models: %w", err)
			}
			m.Vectors[mod] = n
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
