package retrieve

import (
	"slices"
	"testing"

	"mmrag"
)

// TestReadings: a document rebuilt for reading shows each split block once,
// its windows stitched without their overlap, figures and whole blocks as
// they are, in position order.
func TestReadings(t *testing.T) {
	win := func(id string, pos int, block, text string) mmrag.Item {
		return mmrag.Item{ID: id, DocID: "d", Modality: mmrag.Text, Kind: "paragraph", Position: pos, Text: text,
			Meta: map[string]string{mmrag.MetaBlock: block}}
	}
	items := []mmrag.Item{
		win("c", 2, "1/3", "gamma delta epsilon zeta eta"),
		win("a", 0, "0", "A short first paragraph."),
		win("b", 1, "1/3", "alpha beta gamma delta epsilon"),
		win("d", 3, "1/3", "zeta eta theta iota."),
		{ID: "f", DocID: "d", Modality: mmrag.Image, Position: 4, Caption: "a figure"},
		win("e", 5, "2", "The last paragraph."),
	}
	got := Readings(items)
	want := []struct {
		text  string
		items []string
	}{
		{"A short first paragraph.", []string{"a"}},
		{"alpha beta gamma delta epsilon zeta eta theta iota.", []string{"b", "c", "d"}},
		{"", []string{"f"}},
		{"The last paragraph.", []string{"e"}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d readings, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Text != w.text || !slices.Equal(got[i].Items, w.items) {
			t.Errorf("reading %d: %q %v, want %q %v", i, got[i].Text, got[i].Items, w.text, w.items)
		}
	}
}
