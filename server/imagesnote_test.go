package server

import (
	"testing"

	"mmrag"
	"mmrag/prompt"
	"mmrag/rag"
	"mmrag/retrieve"
)

// TestImagesNote: an answer without figures because none passed the
// threshold says so on its sources, with the best score; an answer with
// figures, or whose retrieval noted nothing, does not.
func TestImagesNote(t *testing.T) {
	below := map[mmrag.Modality]retrieve.BelowThreshold{mmrag.Image: {Best: 0.18, Threshold: 0.25}}
	fig := prompt.Citation{N: 1, ItemID: "f", Modality: mmrag.Image}
	for _, tc := range []struct {
		name string
		ans  *rag.Answer
		want *ImagesNote
	}{
		{"none passed", &rag.Answer{Results: &retrieve.Results{Below: below}}, &ImagesNote{BestScore: 0.18, Threshold: 0.25}},
		{"a figure shown", &rag.Answer{Results: &retrieve.Results{Below: below}, Citations: []prompt.Citation{fig}}, nil},
		{"nothing noted", &rag.Answer{Results: &retrieve.Results{}}, nil},
		{"no retrieval", &rag.Answer{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := citedSources(tc.ans).ImagesNote
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("images note %+v, want %+v", got, tc.want)
			}
		})
	}
}
