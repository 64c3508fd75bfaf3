package app

import (
	"context"
	"errors"
	"slices"
	"testing"

	"mmrag"
	"mmrag/rag"
	"mmrag/retrieve"
)

// fakeCollections maps collection names to documents.
type fakeCollections map[string][]string

func (f fakeCollections) CollectionDocuments(ctx context.Context, names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		for _, id := range f[n] {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// TestCollectionScope: collections become the filter's document ids,
// intersected with those the caller named, so that every store honours
// them; a scope without documents finds nothing.
func TestCollectionScope(t *testing.T) {
	s := &Service{Engine: &rag.Engine{}, Collections: fakeCollections{"papers": {"d1", "d2"}, "notes": {"d2", "d3"}}}
	for _, tc := range []struct {
		name    string
		in      SearchOptions
		want    []string
		none    bool
		invalid bool
	}{
		{"no collections", SearchOptions{Filter: mmrag.Filter{DocIDs: []string{"d9"}}}, []string{"d9"}, false, false},
		{"one", SearchOptions{Collections: []string{" papers "}}, []string{"d1", "d2"}, false, false},
		{"any of two", SearchOptions{Collections: []string{"papers", "notes"}}, []string{"d1", "d2", "d3"}, false, false},
		{"within doc_ids", SearchOptions{Collections: []string{"papers"}, Filter: mmrag.Filter{DocIDs: []string{"d2", "d3"}}}, []string{"d2"}, false, false},
		{"disjoint with doc_ids", SearchOptions{Collections: []string{"papers"}, Filter: mmrag.Filter{DocIDs: []string{"d3"}}}, []string{}, true, false},
		{"unknown", SearchOptions{Collections: []string{"nothing"}}, nil, true, false},
		{"bad name", SearchOptions{Collections: []string{""}}, nil, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.in
			none, err := s.scope(context.Background(), &o)
			if tc.invalid {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("err %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || none != tc.none || len(o.Filter.DocIDs) != len(tc.want) || !slices.Equal(o.Filter.DocIDs, tc.want) && len(tc.want) > 0 {
				t.Errorf("doc ids %v, none %v (%v); want %v, %v", o.Filter.DocIDs, none, err, tc.want, tc.none)
			}
		})
	}

	// An empty scope answers without searching (the searcher has no store).
	res, err := s.Search(context.Background(), Query{Text: "x"}, SearchOptions{Collections: []string{"nothing"}})
	if err != nil || len(res.Text)+len(res.Images) != 0 {
		t.Errorf("search of an empty collection: %+v, %v", res, err)
	}
	noWS := &Service{Engine: &rag.Engine{Search: retrieve.DefaultOptions(retrieve.Hybrid)}}
	if _, err := noWS.Search(context.Background(), Query{Text: "x"}, SearchOptions{Collections: []string{"papers"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("collections without a resolver: %v, want ErrInvalid", err)
	}
}
