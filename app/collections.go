package app

import (
	"context"
	"fmt"
	"slices"

	"mmrag"
	"mmrag/retrieve"
)

// CollectionResolver names the documents of collections (package
// sqlite's Workspace).
type CollectionResolver interface {
	CollectionDocuments(ctx context.Context, names []string) ([]string, error)
}

// scope narrows o's filter to the documents of the collections it names,
// within the documents it names already, so that every store honours
// collections through Filter.DocIDs. none says that no document is left:
// the search must find nothing (an empty DocIDs would match everything).
func (s *Service) scope(ctx context.Context, o *SearchOptions) (none bool, err error) {
	if len(o.Collections) == 0 {
		return false, nil
	}
	if s.Collections == nil {
		return false, fmt.Errorf("%w: this knowledge base has no collections", ErrInvalid)
	}
	names := make([]string, len(o.Collections))
	for i, n := range o.Collections {
		if names[i], err = mmrag.CleanCollectionName(n); err != nil {
			return false, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	ids, err := s.Collections.CollectionDocuments(ctx, names)
	if err != nil {
		return false, fmt.Errorf("documents of collections %q: %w", names, err)
	}
	if len(o.Filter.DocIDs) > 0 {
		ids = slices.DeleteFunc(ids, func(id string) bool { return !slices.Contains(o.Filter.DocIDs, id) })
	}
	o.Filter.DocIDs, o.Collections = ids, nil
	return len(ids) == 0, nil
}

// noResults is the search of an empty scope.
func noResults(query string, opt retrieve.Options) *retrieve.Results {
	return &retrieve.Results{Query: query, Mode: opt.Mode, Text: []retrieve.Result{}, Images: []retrieve.Result{}, Scored: map[mmrag.Modality]int{}}
}
