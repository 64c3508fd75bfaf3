package chunk

import (
	"strings"
	"testing"

	"mmrag/extract"
)

// Every chunk names the block it comes from: merged short blocks their
// first and last, the pieces of a split block the same one, and the
// indices are those of Result.Blocks (empty blocks dropped still count).
func TestChunkBlocks(t *testing.T) {
	long := strings.Repeat("A sentence that is long enough to need several windows of its own. ", 12)
	sec := extract.Place{Section: []string{"S"}}
	res := &extract.Result{Blocks: []extract.Block{
		{Kind: extract.Paragraph, Text: "First short paragraph.", Place: sec},
		{Kind: extract.Paragraph, Text: "   ", Place: sec}, // dropped
		{Kind: extract.Paragraph, Text: "Second short paragraph.", Place: sec},
		{Kind: extract.Paragraph, Text: long, Place: sec},
		{Kind: extract.Code, Text: "x := 1", Place: sec},
	}}
	chunks := Split(res, Options{})
	if len(chunks) < 4 {
		t.Fatalf("%d chunks, want the merged pair, at least two pieces, the code", len(chunks))
	}
	if c := chunks[0]; c.Block != 0 || c.BlockEnd != 2 || !strings.Contains(c.Text, "Second") {
		t.Errorf("merged chunk: block %d–%d %q, want 0–2", c.Block, c.BlockEnd, c.Text)
	}
	for _, c := range chunks[1 : len(chunks)-1] {
		if c.Block != 3 || c.BlockEnd != 3 || c.Pieces != len(chunks)-2 {
			t.Errorf("piece of the long paragraph: block %d–%d, one of %d, want 3, one of %d", c.Block, c.BlockEnd, c.Pieces, len(chunks)-2)
		}
	}
	if chunks[0].Pieces != 1 || chunks[len(chunks)-1].Pieces != 1 {
		t.Errorf("whole blocks: pieces %d and %d, want 1", chunks[0].Pieces, chunks[len(chunks)-1].Pieces)
	}
	if c := chunks[len(chunks)-1]; c.Block != 4 || c.BlockEnd != 4 || c.Text != "x := 1" {
		t.Errorf("code chunk: block %d–%d %q, want 4", c.Block, c.BlockEnd, c.Text)
	}
}

// A chunk's box is the union of its blocks' boxes on its page: merged
// blocks widen it, the pieces of a split block share the block's, and
// blocks without a box leave it zero.
func TestChunkBox(t *testing.T) {
	long := strings.Repeat("A sentence that is long enough to need several windows of its own. ", 12)
	p1 := extract.Place{Section: []string{"S"}, Page: 1}
	p2 := extract.Place{Section: []string{"S"}, Page: 2}
	a := extract.Box{X0: 0.1, Y0: 0.1, X1: 0.5, Y1: 0.2}
	b := extract.Box{X0: 0.2, Y0: 0.25, X1: 0.9, Y1: 0.3}
	c := extract.Box{X0: 0.1, Y0: 0.4, X1: 0.9, Y1: 0.8}
	res := &extract.Result{Blocks: []extract.Block{
		{Kind: extract.Paragraph, Text: "First short paragraph.", Place: p1, Box: a},
		{Kind: extract.Paragraph, Text: "Second short paragraph.", Place: p1, Box: b},
		{Kind: extract.Paragraph, Text: long, Place: p2, Box: c},
		{Kind: extract.Paragraph, Text: "No box.", Place: extract.Place{Page: 3}},
	}}
	chunks := Split(res, Options{})
	if len(chunks) < 4 {
		t.Fatalf("%d chunks, want the merged pair, at least two pieces, the last", len(chunks))
	}
	want := extract.Box{X0: 0.1, Y0: 0.1, X1: 0.9, Y1: 0.3}
	if got := chunks[0].Box; got != want {
		t.Errorf("merged chunk: box %+v, want %+v", got, want)
	}
	for _, ch := range chunks[1 : len(chunks)-1] {
		if ch.Box != c {
			t.Errorf("piece %q: box %+v, want %+v", ch.Text[:20], ch.Box, c)
		}
	}
	if got := chunks[len(chunks)-1].Box; !got.IsZero() {
		t.Errorf("block without a box: chunk box %+v, want zero", got)
	}
}
