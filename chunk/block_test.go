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
