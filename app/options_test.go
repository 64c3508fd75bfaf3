package app

import (
	"errors"
	"slices"
	"testing"

	"mmrag"
	"mmrag/rag"
	"mmrag/retrieve"
)

func ptr[T any](v T) *T { return &v }

// TestSearchOptions: the caller's options combine with the defaults in one
// place; a k of 0 searches the other modality only.
func TestSearchOptions(t *testing.T) {
	s := &Service{Engine: &rag.Engine{Search: retrieve.DefaultOptions(retrieve.Hybrid)}}
	ref := retrieve.DefaultOptions(retrieve.Reference)
	for _, tc := range []struct {
		name  string
		in    SearchOptions
		check func(retrieve.Options) bool
		err   bool
	}{
		{"defaults", SearchOptions{}, func(o retrieve.Options) bool { return o.Mode == retrieve.Hybrid && o.Modalities == nil }, false},
		{"another mode takes its defaults", SearchOptions{Mode: "reference"}, func(o retrieve.Options) bool {
			return o.Mode == retrieve.Reference && o.Text == ref.Text && o.Images == ref.Images
		}, false},
		{"text k 0: images only", SearchOptions{TextK: ptr(0)}, func(o retrieve.Options) bool {
			return slices.Equal(o.Modalities, []mmrag.Modality{mmrag.Image})
		}, false},
		{"image k 0: text only", SearchOptions{ImageK: ptr(0), TextK: ptr(7)}, func(o retrieve.Options) bool {
			return slices.Equal(o.Modalities, []mmrag.Modality{mmrag.Text}) && o.Text.K == 7
		}, false},
		{"thresholds, pool, filter", SearchOptions{TextThreshold: ptr(0.3), ImageThreshold: ptr(0.1), Pool: 50, Filter: mmrag.Filter{Types: []string{"pdf"}}},
			func(o retrieve.Options) bool {
				return o.Text.Threshold == 0.3 && o.Images.Threshold == 0.1 && o.Text.Pool == 50 && o.Images.Pool == 50 && o.Filter.Types[0] == "pdf"
			}, false},
		{"both k 0", SearchOptions{TextK: ptr(0), ImageK: ptr(0)}, nil, true},
		{"negative k", SearchOptions{TextK: ptr(-2)}, nil, true},
		{"unknown mode", SearchOptions{Mode: "magic"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := s.SearchOptions(tc.in)
			if tc.err {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("err %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || !tc.check(o) {
				t.Errorf("%+v (%v)", o, err)
			}
		})
	}
}
