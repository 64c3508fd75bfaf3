package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"mmrag"
)

// This file checks what commands list: models, item counts, the vectors of
// a document and the item iterator.

func modelDiff(got, want []mmrag.Model) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d models %+v, want %d %+v", len(got), got, len(want), want)
	}
	var d []string
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Dim != w.Dim || g.Vectors[mmrag.Text] != w.Vectors[mmrag.Text] || g.Vectors[mmrag.Image] != w.Vectors[mmrag.Image] {
			d = append(d, fmt.Sprintf("[%d] = %s %d-d %d text %d image, want %s %d-d %d text %d image", i,
				g.ID, g.Dim, g.Vectors[mmrag.Text], g.Vectors[mmrag.Image], w.ID, w.Dim, w.Vectors[mmrag.Text], w.Vectors[mmrag.Image]))
		}
	}
	return strings.Join(d, "; ")
}

func testModels(t *testing.T, s mmrag.Store) {
	ctx := ctxT(t)
	models, err := s.Models(ctx)
	must(t, err, "Models of an empty store")
	if len(models) != 0 {
		t.Errorf("Models of an empty store = %+v, want none", models)
	}
	r := rand.New(rand.NewPCG(19, 20))
	img, hash := PNG("models")
	items := []mmrag.Item{TextItem("mo", 0, "a"), TextItem("mo", 1, "b"), ImageItem("mo", 2, hash, "c")}
	var vecs []mmrag.Vector
	for _, it := range items {
		vecs = append(vecs, mmrag.Vector{ItemID: it.ID, Model: Model, Values: RandomVector(r, 8)})
		if it.Modality == mmrag.Text {
			vecs = append(vecs, mmrag.Vector{ItemID: it.ID, Model: "another-model", Values: RandomVector(r, 3)})
		}
	}
	must(t, s.PutDocument(ctx, Doc("mo"), items, vecs, map[string][]byte{hash: img}), "PutDocument")
	models, err = s.Models(ctx)
	must(t, err, "Models")
	want := []mmrag.Model{
		{ID: "another-model", Dim: 3, Vectors: map[mmrag.Modality]int{mmrag.Text: 2}},
		{ID: Model, Dim: 8, Vectors: map[mmrag.Modality]int{mmrag.Text: 2, mmrag.Image: 1}},
	}
	if d := modelDiff(models, want); d != "" {
		t.Errorf("Models: %s", d)
	}
	// A model whose vectors are all gone stays, its dimension fixed.
	must(t, s.DeleteDocument(ctx, "mo"), "DeleteDocument")
	models, err = s.Models(ctx)
	must(t, err, "Models after the delete")
	want[0].Vectors, want[1].Vectors = nil, nil
	if d := modelDiff(models, want); d != "" {
		t.Errorf("Models after deleting every vector: %s", d)
	}
}

// filtered builds a corpus of perDoc items per document, with a document
// without items beside it, and runs check once per filter of filters().
func filtered(t *testing.T, s mmrag.Store, seed uint64, perDoc int, check func(t *testing.T, c corpus, f mmrag.Filter)) {
	c := buildCorpus(t, s, 4, perDoc, rand.New(rand.NewPCG(seed, seed+1)))
	empty := Doc("empty")
	empty.Ingested = Base.Add(90 * time.Minute)
	must(t, s.PutDocument(t.Context(), empty, nil, nil, nil), "PutDocument without items")
	for _, fc := range filters() {
		t.Run(fc.name, func(t *testing.T) { check(t, c, fc.f) })
	}
}

func testCountItems(t *testing.T, s mmrag.Store) {
	filtered(t, s, 21, 6, func(t *testing.T, c corpus, f mmrag.Filter) {
		got, err := s.CountItems(t.Context(), f)
		must(t, err, "CountItems")
		want := map[string]map[mmrag.Modality]int{}
		for _, it := range c.items {
			if Matches(f, c.doc(it.DocID)) {
				if want[it.DocID] == nil {
					want[it.DocID] = map[mmrag.Modality]int{}
				}
				want[it.DocID][it.Modality]++
			}
		}
		if len(got) != len(want) {
			t.Errorf("CountItems has %d documents %v, want %d %v (none without items)", len(got), got, len(want), want)
		}
		for id, w := range want {
			if g := got[id]; g[mmrag.Text] != w[mmrag.Text] || g[mmrag.Image] != w[mmrag.Image] {
				t.Errorf("CountItems[%s] = %v, want %v", id, g, w)
			}
		}
	})
}

func testDocumentVectors(t *testing.T, s mmrag.Store) {
	ctx := ctxT(t)
	r := rand.New(rand.NewPCG(23, 24))
	img, hash := PNG("document vectors")
	// Put order is not position order; one item has no vector.
	items := []mmrag.Item{
		TextItem("dv", 2, "c"), ImageItem("dv", 0, hash, "a"), TextItem("dv", 1, "b"), TextItem("dv", 3, "none"),
	}
	vec := func(item, model string, dim int) mmrag.Vector {
		return mmrag.Vector{ItemID: item, Model: model, Values: RandomVector(r, dim)}
	}
	vecs := []mmrag.Vector{
		vec("dv#t2", Model, 8), vec("dv#t2", "other-model", 3),
		vec("dv#i0", Model, 8),
		vec("dv#t1", "other-model", 3), vec("dv#t1", Model, 8),
	}
	must(t, s.PutDocument(ctx, Doc("dv"), items, vecs, map[string][]byte{hash: img}), "PutDocument")
	must(t, s.PutDocument(ctx, Doc("bare"), []mmrag.Item{TextItem("bare", 0, "x")}, nil, nil), "PutDocument without vectors")
	got, err := s.DocumentVectors(ctx, "dv")
	must(t, err, "DocumentVectors")
	want := []mmrag.Vector{vecs[2], vecs[3], vecs[4], vecs[1], vecs[0]}
	key := func(v mmrag.Vector) string { return v.ItemID + "/" + v.Model }
	if len(got) != len(want) {
		t.Fatalf("DocumentVectors = %d vectors, want %d", len(got), len(want))
	}
	for i := range want {
		if key(got[i]) != key(want[i]) || !slices.Equal(got[i].Values, want[i].Values) {
			t.Errorf("DocumentVectors[%d] = %s %v, want %s %v (by position, then model)", i, key(got[i]), got[i].Values, key(want[i]), want[i].Values)
		}
	}
	got, err = s.DocumentVectors(ctx, "bare")
	must(t, err, "DocumentVectors of a document without vectors")
	if len(got) != 0 {
		t.Errorf("DocumentVectors of a document without vectors = %d vectors", len(got))
	}
}

func testScanItems(t *testing.T, s mmrag.Store) {
	filtered(t, s, 25, 5, func(t *testing.T, c corpus, f mmrag.Filter) {
		var want []mmrag.Item
		docs := slices.Clone(c.docs)
		sort.Slice(docs, func(i, j int) bool { return docs[i].Source < docs[j].Source })
		for _, d := range docs {
			if !Matches(f, d) {
				continue
			}
			var its []mmrag.Item
			for _, it := range c.items {
				if it.DocID == d.ID {
					its = append(its, it)
				}
			}
			sort.Slice(its, func(i, j int) bool { return its[i].Position < its[j].Position })
			want = append(want, its...)
		}
		var got []mmrag.Item
		for it, err := range s.ScanItems(t.Context(), f) {
			must(t, err, "ScanItems")
			got = append(got, it)
		}
		if !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("ScanItems = %v, want %v", ids(got), ids(want))
		}
		for i := range want {
			if d := ItemDiff(got[i], want[i]); d != "" {
				t.Errorf("ScanItems[%d]: %s", i, d)
			}
		}
	})
	// The caller may stop early.
	n := 0
	for _, err := range s.ScanItems(t.Context(), mmrag.Filter{}) {
		must(t, err, "ScanItems")
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("stopping after 3 items saw %d", n)
	}
}
