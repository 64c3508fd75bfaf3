package retrieve

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"mmrag"
	"mmrag/chunk"
	"mmrag/extract"
)

// chunkedDoc chunks blocks as ingest does and stores the windows with
// their block (mmrag.MetaBlock) and bare text.
func chunkedDoc(t *testing.T, st mmrag.Store, doc string, blocks ...extract.Block) []mmrag.Item {
	t.Helper()
	res := &extract.Result{Blocks: blocks}
	var items []mmrag.Item
	for _, c := range chunk.Split(res, chunk.Options{}) {
		b := strconv.Itoa(c.Block)
		switch {
		case c.BlockEnd > c.Block:
			b += "-" + strconv.Itoa(c.BlockEnd)
		case c.Pieces > 1:
			b += "/" + strconv.Itoa(c.Pieces)
		}
		items = append(items, mmrag.Item{
			ID: fmt.Sprintf("%s#%d", doc, c.Position), DocID: doc, Modality: mmrag.Text, Kind: string(c.Kind),
			Text: c.Embed, Section: c.Place.Section, Position: c.Position,
			Meta: map[string]string{mmrag.MetaText: c.Text, mmrag.MetaBlock: b},
		})
	}
	if err := st.PutDocument(context.Background(), mmrag.Document{ID: doc, Source: "/" + doc}, items, nil, nil); err != nil {
		t.Fatal(err)
	}
	return items
}

func TestPassages(t *testing.T) {
	st := openStore(t)
	var long []string
	for i := range 12 {
		long = append(long, fmt.Sprintf("Sentence number %d tells the reader one more thing about contrastive learning.", i+1))
	}
	sec := []string{"Intro"}
	items := chunkedDoc(t, st, "d",
		extract.Block{Kind: extract.Paragraph, Text: "A short opening paragraph.", Place: extract.Place{Section: sec}},
		extract.Block{Kind: extract.Paragraph, Text: strings.Join(long, " "), Place: extract.Place{Section: sec}},
		extract.Block{Kind: extract.Paragraph, Text: "A closing paragraph of its own.", Place: extract.Place{Section: []string{"End"}}},
	)
	var windows []mmrag.Item // of the long block
	for _, it := range items {
		if strings.HasPrefix(it.Meta[mmrag.MetaBlock], "1/") {
			windows = append(windows, it)
		}
	}
	if len(windows) < 3 {
		t.Fatalf("the long paragraph made %d windows; want at least 3", len(windows))
	}
	hits := func(its ...mmrag.Item) *Results {
		r := &Results{}
		for i, it := range its {
			r.Text = append(r.Text, Result{Item: it, Score: 1 / float64(i+1), Rank: i + 1})
		}
		return r
	}
	last := items[len(items)-1]

	// The whole block fits the default budget: both of its windows collapse
	// into one source holding the whole paragraph, at the first one's rank.
	res := hits(windows[1], last, windows[0])
	if err := Passages(context.Background(), st, res, PassageOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(res.Text) != 2 {
		t.Fatalf("got %d results, want 2 (the long block's windows collapsed): %+v", len(res.Text), res.Text)
	}
	if got, want := res.Text[0].Passage, strings.Join(long, " "); got != want {
		t.Errorf("passage\n%q\nwant the whole paragraph\n%q", got, want)
	}
	if w := res.Text[0].Windows; len(w) != 2 || w[0] != windows[1].ID || w[1] != windows[0].ID {
		t.Errorf("windows %v, want [%s %s]", w, windows[1].ID, windows[0].ID)
	}
	if res.Text[0].Item.ID != windows[1].ID || res.Text[0].Score != 1 {
		t.Errorf("the passage keeps its best window's item and score: %+v", res.Text[0])
	}
	if res.Text[1].Passage != "A closing paragraph of its own." || res.Text[1].Rank != 2 {
		t.Errorf("a one-window block is its own passage: %+v", res.Text[1])
	}

	// A small budget: the window and its neighbours, cut at sentence ends.
	res = hits(windows[len(windows)/2])
	if err := Passages(context.Background(), st, res, PassageOptions{MaxTokens: 60}); err != nil {
		t.Fatal(err)
	}
	p := res.Text[0].Passage
	if len(p) >= len(strings.Join(long, " ")) || !strings.Contains(strings.Join(long, " "), p) {
		t.Errorf("budgeted passage %q is not a part of the paragraph", p)
	}
	if first := []rune(p)[0]; !unicode.IsUpper(first) || !strings.HasSuffix(p, ".") {
		t.Errorf("budgeted passage %q does not start and end with whole sentences", p)
	}

	// Items without a block (a reference knowledge base) are their own
	// passage.
	bare := mmrag.Item{ID: "x", DocID: "none", Modality: mmrag.Text, Text: "Section: the text", Meta: map[string]string{mmrag.MetaText: "the text"}}
	res = hits(bare)
	if err := Passages(context.Background(), st, res, PassageOptions{}); err != nil {
		t.Fatal(err)
	}
	if res.Text[0].Passage != "the text" {
		t.Errorf("passage of an item without a block: %q", res.Text[0].Passage)
	}
}
