package retrieve

import (
	"slices"

	"mmrag"
)

// Reading is one unit of a document as a reader shows it: a whole passage
// (a paragraph, list, table or code block, its windows stitched back
// together without their overlap) or a figure.
type Reading struct {
	Item  mmrag.Item // the first window of the passage, or the figure
	Text  string     // the passage; for a figure, "" (its caption is on Item)
	Items []string   // the items it holds, in order: a citation of any of them lands here
}

// Readings rebuilds a document from its items, in order: the windows of a
// block split by chunking become one passage again, so a reader never sees
// the overlapping windows one per line. Items that hold whole blocks and
// figures are their own unit.
func Readings(items []mmrag.Item) []Reading {
	items = slices.Clone(items)
	slices.SortStableFunc(items, func(a, b mmrag.Item) int { return a.Position - b.Position })
	var out []Reading
	for i := 0; i < len(items); i++ {
		it := items[i]
		block := it.Meta[mmrag.MetaBlock]
		j := i + 1
		if it.Modality == mmrag.Text && block != "" {
			for j < len(items) && items[j].Modality == mmrag.Text && items[j].DocID == it.DocID && items[j].Meta[mmrag.MetaBlock] == block {
				j++
			}
		}
		r := Reading{Item: it}
		for _, w := range items[i:j] {
			r.Items = append(r.Items, w.ID)
		}
		if it.Modality == mmrag.Text {
			r.Text = WindowText(it)
			if j-i > 1 {
				r.Text = stitch(items[i:j], it.Kind)
			}
		}
		out = append(out, r)
		i = j - 1
	}
	return out
}
