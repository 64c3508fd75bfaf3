package eval

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"mmrag"
	"mmrag/retrieve"
)

// Cross-modal proxies.
//
// Without a real CLIP text tower (only the stored vectors of a reference
// knowledge base are real) a question cannot be embedded in CLIP's space.
// A stored vector can stand in for one: a figure's vector asks "which
// passages explain me?", a passage's vector "which figure illustrates
// me?". The relevant items are those of the query item's own section
// (document and heading): an author puts a figure beside the passages it
// illustrates. This is a proxy: a passage is not a question, and a
// section's passages are not all about its figure.

// ProxyOptions say what a SectionProxy run asks.
type ProxyOptions struct {
	// From is the modality of the query items, To the modality ranked.
	From, To mmrag.Modality
	// Model names the vectors used (both the queries' and the ranked
	// items'): CLIP's, in which both modalities share one space.
	Model string
	// Scale multiplies each stored (unit) vector before it is used as the
	// query: the raw-norm assumption. Reference scoring used CLIP's
	// unnormalised text projection, whose norm (about 8–10 for ViT-B/16)
	// sharpens its softmax; a stored passage vector scaled by about 8.5
	// stands in for the raw projection of a question about it. Rankings do
	// not depend on it (a softmax is monotonic); which items pass a
	// softmax threshold does. 0 means 1.
	Scale float64
	// Search scores the To items; its Modalities are set to To.
	Search retrieve.Options
}

// ProxyResult is what a SectionProxy run measured.
type ProxyResult struct {
	// Queries is every query item; Ranked those whose section holds at
	// least one To item (the others have nothing relevant to find).
	Queries, Ranked int
	// Top1 counts the Ranked queries whose first result is of their own
	// section; MRR is the mean reciprocal rank of the first such result
	// (0 when none is returned).
	Top1 int
	MRR  float64
	// AUC is the mean, over Ranked queries, of the share of (own-section,
	// other-section) item pairs ranked in that order: 1 is a perfect
	// ordering, 0.5 chance. Items not returned rank below those returned,
	// tied among themselves.
	AUC float64
	// Shown counts all queries with at least one result (the options'
	// thresholds passed), ShownOwn those whose first result is of their
	// own section, and Results the results over all queries.
	Shown, ShownOwn, Results int
}

// Top1Rate is Top1 / Ranked.
func (r ProxyResult) Top1Rate() float64 { return ratio(r.Top1, r.Ranked) }

// ShownOwnRate is ShownOwn / Shown: how often a figure that is shown at
// all is one of the section's own.
func (r ProxyResult) ShownOwnRate() float64 { return ratio(r.ShownOwn, r.Shown) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// SectionProxy queries s with the stored vector (scaled) of every From
// item in items and measures how the To items of the query's own section
// rank (see ProxyResult). items must hold every item of the collection
// searched, of both modalities: they give the sections. The query item
// itself is left out of its results when From equals To.
func SectionProxy(ctx context.Context, s *retrieve.Searcher, items []mmrag.Item, opt ProxyOptions) (ProxyResult, error) {
	var res ProxyResult
	if opt.Model == "" {
		return res, fmt.Errorf("section proxy: no model named")
	}
	scale := opt.Scale
	if scale == 0 {
		scale = 1
	}
	opt.Search.Modalities = []mmrag.Modality{opt.To}
	perSection := map[string]int{} // To items per section
	var nTo int
	for _, it := range items {
		if it.Modality == opt.To {
			perSection[SectionKey(it)]++
			nTo++
		}
	}
	for _, q := range items {
		if q.Modality != opt.From {
			continue
		}
		v, err := s.Store.Vector(ctx, opt.Model, q.ID)
		if err != nil {
			return res, fmt.Errorf("section proxy: vector of item %s: %w", q.ID, err)
		}
		qv := make([]float32, len(v))
		for i, x := range v {
			qv[i] = float32(float64(x) * scale)
		}
		out, err := s.SearchVector(ctx, opt.Model, qv, opt.Search)
		if err != nil {
			return res, fmt.Errorf("section proxy: query by item %s: %w", q.ID, err)
		}
		list := out.Text
		if opt.To == mmrag.Image {
			list = out.Images
		}
		own := SectionKey(q)
		res.Queries++
		var ownSeen, otherSeen, ordered int
		first := 0
		n := 0
		for _, r := range list {
			if r.Item.ID == q.ID {
				continue
			}
			n++
			res.Results++
			if SectionKey(r.Item) == own {
				if first == 0 {
					first = n
				}
				ownSeen++
			} else {
				otherSeen++
				// Each own-section item already listed is above this one.
				ordered += ownSeen
			}
		}
		if n > 0 {
			res.Shown++
			if first == 1 {
				res.ShownOwn++
			}
		}
		pos := perSection[own]
		if opt.From == opt.To {
			pos-- // the query itself
		}
		neg := nTo - perSection[own]
		if pos <= 0 {
			continue
		}
		res.Ranked++
		if first == 1 {
			res.Top1++
		}
		if first > 0 {
			res.MRR += 1 / float64(first)
		}
		if neg > 0 {
			// Pairs: listed own above listed other (ordered), listed own
			// above unlisted other, and half of the unlisted-unlisted ties.
			unOwn, unOther := pos-ownSeen, neg-otherSeen
			good := float64(ordered) + float64(ownSeen*unOther) + 0.5*float64(unOwn*unOther)
			res.AUC += good / float64(pos*neg)
		} else {
			res.AUC++
		}
	}
	if res.Ranked > 0 {
		res.MRR /= float64(res.Ranked)
		res.AUC /= float64(res.Ranked)
	}
	return res, nil
}

// SectionKey names an item's document and heading path, with runs of
// spaces (no-break and hair spaces included: the reference's image records
// spell some headings with them, its text records not) folded to one.
func SectionKey(it mmrag.Item) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '\u200a' || r == '\u00a0' {
			return ' '
		}
		return r
	}, strings.Join(it.Section, " / "))
	return it.DocID + "|" + strings.Join(strings.Fields(s), " ")
}
