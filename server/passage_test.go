package server

import (
	"testing"

	"mmrag"
)

// A text source shows its passage as Text and keeps the window it was
// found by beside it; a passage equal to the window adds nothing.
func TestSourcePassage(t *testing.T) {
	it := mmrag.Item{ID: "i", DocID: "d", Modality: mmrag.Text, Text: "Sec: a window",
		Meta: map[string]string{mmrag.MetaText: "a window"}}
	s := SourceFrom(it, mmrag.Document{}, 1)
	s.withPassage("The paragraph holding a window, whole.")
	if s.Text != "The paragraph holding a window, whole." || s.Window != "a window" {
		t.Errorf("text %q, window %q", s.Text, s.Window)
	}
	s = SourceFrom(it, mmrag.Document{}, 1)
	s.withPassage("a window")
	if s.Text != "a window" || s.Window != "" {
		t.Errorf("same passage: text %q, window %q", s.Text, s.Window)
	}
}
