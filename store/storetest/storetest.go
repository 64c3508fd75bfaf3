// Package storetest is the conformance suite of mmrag.Store: every backend
// (SQLite, Weaviate, …) runs Run unchanged and must pass it. It owns the
// contract the interface comment leaves implicit:
//
//   - Every field of Document and Item round-trips; times to at least the
//     millisecond (the suite uses millisecond times), nil and empty Meta and
//     Section are equal.
//   - PutDocument replaces a document entirely: old items, vectors, full-text
//     entries and blobs no other item references are gone. A refused put
//     leaves the previous version intact.
//   - Vectors of one model share one dimension; a put or a query with another
//     is refused.
//   - SearchVectors scores by dot product, best first, and returns the K best
//     hits, or all when K ≤ 0; only items of the asked modality.
//   - SearchText ranks text items only, by BM25, higher is better; any user
//     text is a valid query (FTS operators are plain words, a query without
//     words has no hits); K ≤ 0 returns all hits.
//   - Filter: DocIDs and Types are sets, SourcePrefix a byte prefix, Since
//     inclusive and Until exclusive on Document.Ingested.
//   - Documents is ordered by source, Items by position, ItemsByID follows the
//     order asked and skips absent ids; lookups of absent ids wrap
//     mmrag.ErrNotFound.
//   - Models lists every model that filled the store with its dimension
//     and vectors per modality, also once they are all deleted; CountItems
//     counts per document and modality under a Filter; DocumentVectors
//     returns a document's vectors of every model by item position, then
//     model; ScanItems yields the items of the filtered documents by
//     source, then position, and stops when the caller does.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"mmrag"
	"mmrag/store"
)

// Run runs the suite. open returns a new, empty store for each subtest and
// arranges its closing (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) mmrag.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, mmrag.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Replace", testReplace},
		{"RefusedPutKeepsPrevious", testRefusedPut},
		{"Delete", testDelete},
		{"NotFound", testNotFound},
		{"BadInput", testBadInput},
		{"DimensionMismatch", testDimensionMismatch},
		{"VectorSearch", testVectorSearch},
		{"Documents", testDocuments},
		{"TextRanking", testTextRanking},
		{"TextFilter", testTextFilter},
		{"OddQueries", testOddQueries},
		{"Models", testModels},
		{"CountItems", testCountItems},
		{"DocumentVectors", testDocumentVectors},
		{"ScanItems", testScanItems},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// Model is the model name the suite's vectors use.
const Model = "storetest-model"

// Base is the reference time of the fixtures, millisecond precision.
var Base = time.Date(2024, 5, 17, 9, 30, 15, 123_000_000, time.UTC)

// PNG returns distinct fake image bytes for seed, and their sha256 hex.
func PNG(seed string) ([]byte, string) {
	b := append([]byte("\x89PNG\r\n\x1a\n"), []byte("storetest image "+seed)...)
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

// RandomVector returns a unit vector of dim components.
func RandomVector(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	var n float64
	for i := range v {
		v[i] = float32(r.NormFloat64())
		n += float64(v[i]) * float64(v[i])
	}
	n = math.Sqrt(n)
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
	return v
}

// Doc returns a document with every field set.
func Doc(id string) mmrag.Document {
	return mmrag.Document{
		ID:       id,
		Source:   "/data/" + id + ".html",
		Type:     "html",
		Title:    "Title of " + id,
		Hash:     fmt.Sprintf("%x", sha256.Sum256([]byte(id))), // distinct documents, distinct contents
		Size:     12345,
		ModTime:  Base.Add(-48 * time.Hour),
		Ingested: Base,
		Meta:     map[string]string{"author": "Ada", "lang": "en"},
	}
}

// TextItem returns a text item of doc at position pos.
func TextItem(doc string, pos int, text string) mmrag.Item {
	return mmrag.Item{
		ID:       fmt.Sprintf("%s#t%d", doc, pos),
		DocID:    doc,
		Modality: mmrag.Text,
		Kind:     "paragraph",
		Text:     text,
		Position: pos,
	}
}

// ImageItem returns an image item of doc referencing the blob hash.
func ImageItem(doc string, pos int, hash, caption string) mmrag.Item {
	return mmrag.Item{
		ID:       fmt.Sprintf("%s#i%d", doc, pos),
		DocID:    doc,
		Modality: mmrag.Image,
		Kind:     "figure",
		Text:     caption,
		Position: pos,
		BlobHash: hash,
		MIME:     "image/png",
		Caption:  caption,
		Width:    64,
		Height:   48,
	}
}

func ctxT(t *testing.T) context.Context { return t.Context() }

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantNotFound(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, mmrag.ErrNotFound) {
		t.Errorf("%s: error %v, want one wrapping ErrNotFound", what, err)
	}
}

func docDiff(got, want mmrag.Document) string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.Source != want.Source {
		add("Source", got.Source, want.Source)
	}
	if got.Type != want.Type {
		add("Type", got.Type, want.Type)
	}
	if got.Title != want.Title {
		add("Title", got.Title, want.Title)
	}
	if got.Hash != want.Hash {
		add("Hash", got.Hash, want.Hash)
	}
	if got.Size != want.Size {
		add("Size", got.Size, want.Size)
	}
	if !got.ModTime.Equal(want.ModTime) {
		add("ModTime", got.ModTime, want.ModTime)
	}
	if !got.Ingested.Equal(want.Ingested) {
		add("Ingested", got.Ingested, want.Ingested)
	}
	if !mapsEqual(got.Meta, want.Meta) {
		add("Meta", got.Meta, want.Meta)
	}
	return strings.Join(d, "; ")
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// ItemDiff describes how got differs from want; "" when equal.
func ItemDiff(got, want mmrag.Item) string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %#v, want %#v", field, g, w)) }
	for _, f := range []struct {
		name string
		g, w any
	}{
		{"ID", got.ID, want.ID}, {"DocID", got.DocID, want.DocID}, {"Modality", got.Modality, want.Modality},
		{"Kind", got.Kind, want.Kind}, {"Text", got.Text, want.Text}, {"Page", got.Page, want.Page},
		{"Anchor", got.Anchor, want.Anchor}, {"Time", got.Time, want.Time}, {"Position", got.Position, want.Position},
		{"BlobHash", got.BlobHash, want.BlobHash}, {"MIME", got.MIME, want.MIME}, {"Alt", got.Alt, want.Alt},
		{"Caption", got.Caption, want.Caption}, {"Context", got.Context, want.Context},
		{"Width", got.Width, want.Width}, {"Height", got.Height, want.Height},
	} {
		if f.g != f.w {
			add(f.name, f.g, f.w)
		}
	}
	if !slices.Equal(got.Section, want.Section) {
		add("Section", got.Section, want.Section)
	}
	if !mapsEqual(got.Meta, want.Meta) {
		add("Meta", got.Meta, want.Meta)
	}
	if len(d) == 0 {
		return ""
	}
	return got.ID + ": " + strings.Join(d, "; ")
}

func ids(items []mmrag.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func hitIDs(hits []mmrag.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ItemID
	}
	return out
}

func testRoundTrip(t *testing.T, s mmrag.Store) {
	ctx := ctxT(t)
	img, hash := PNG("round trip")
	doc := Doc("rt")
	items := []mmrag.Item{
		{
			ID: "rt#0", DocID: "rt", Modality: mmrag.Text, Kind: "paragraph",
			Text:    "Intro › Setup: install the <tool> & run it — naïve café 日本語",
			Section: []string{"Intro", "Setup & <config>"}, Page: 3, Anchor: "setup",
			Time: 90*time.Second + 250*time.Millisecond, Position: 0,
			Meta: map[string]string{"lang": "fr", "quote": `he said "hi"`},
		},
		{
			// Only the required fields: zero values must come back as zero.
			ID: "rt#1", DocID: "rt", Modality: mmrag.Text, Position: 1,
		},
		{
			ID: "rt#2", DocID: "rt", Modality: mmrag.Image, Kind: "figure", Text: "A diagram of the pipeline",
			Section: []string{"Intro"}, Page: 4, Anchor: "fig-1", Position: 2, BlobHash: hash,
			MIME: "image/png", Alt: "pipeline diagram", Caption: "Figure 1: the pipeline",
			Context: "As the figure shows…", Width: 640, Height: 480,
			Meta: map[string]string{"exif.camera": "none"},
		},
		{
			// DocID left empty: PutDocument fills it in.
			ID: "rt#3", Modality: mmrag.Text, Kind: "code", Text: "func main() {}", Position: 3,
		},
	}
	r := rand.New(rand.NewPCG(1, 2))
	var vecs []mmrag.Vector
	for _, it := range items {
		vecs = append(vecs, mmrag.Vector{ItemID: it.ID, Model: Model, Values: RandomVector(r, 8)})
	}
	must(t, s.PutDocument(ctx, doc, items, vecs, map[string][]byte{hash: img}), "PutDocument")

	want := slices.Clone(items)
	want[3].DocID = "rt"

	got, err := s.Document(ctx, "rt")
	must(t, err, "Document")
	if d := docDiff(got, doc); d != "" {
		t.Errorf("Document: %s", d)
	}
	got, err = s.DocumentBySource(ctx, doc.Source)
	must(t, err, "DocumentBySource")
	if d := docDiff(got, doc); d != "" {
		t.Errorf("DocumentBySource: %s", d)
	}

	// A document with only its required fields round-trips too.
	bare := mmrag.Document{ID: "bare", Source: "https://example.com/bare"}
	must(t, s.PutDocument(ctx, bare, nil, nil, nil), "PutDocument bare")
	gotBare, err := s.Document(ctx, "bare")
	must(t, err, "Document bare")
	if d := docDiff(gotBare, bare); d != "" {
		t.Errorf("Document bare: %s", d)
	}
	bareItems, err := s.Items(ctx, "bare")
	must(t, err, "Items bare")
	if len(bareItems) != 0 {
		t.Errorf("Items of a document without items = %v, want none", ids(bareItems))
	}

	gotItems, err := s.Items(ctx, "rt")
	must(t, err, "Items")
	if len(gotItems) != len(want) {
		t.Fatalf("Items returned %v, want %v", ids(gotItems), ids(want))
	}
	for i := range want {
		if d := ItemDiff(gotItems[i], want[i]); d != "" {
			t.Errorf("Items[%d]: %s", i, d)
		}
		it, err := s.Item(ctx, want[i].ID)
		must(t, err, "Item "+want[i].ID)
		if d := ItemDiff(it, want[i]); d != "" {
			t.Errorf("Item: %s", d)
		}
		v, err := s.Vector(ctx, Model, want[i].ID)
		must(t, err, "Vector "+want[i].ID)
		if !slices.Equal(v, vecs[i].Values) {
			t.Errorf("Vector(%s) = %v, want %v", want[i].ID, v, vecs[i].Values)
		}
	}

	byID, err := s.ItemsByID(ctx, []string{"rt#2", "absent", "rt#0", "rt#3"})
	must(t, err, "ItemsByID")
	if g, w := ids(byID), []string{"rt#2", "rt#0", "rt#3"}; !slices.Equal(g, w) {
		t.Errorf("ItemsByID = %v, want %v (order asked, absent skipped)", g, w)
	} else if d := ItemDiff(byID[0], want[2]); d != "" {
		t.Errorf("ItemsByID: %s", d)
	}

	b, err := s.Blob(ctx, hash)
	must(t, err, "Blob")
	if string(b) != string(img) {
		t.Errorf("Blob returned %d bytes that differ from the %d stored", len(b), len(img))
	}

	st, err := s.Stats(ctx)
	must(t, err, "Stats")
	wantStats := mmrag.Stats{
		Documents: 2,
		Items:     map[mmrag.Modality]int{mmrag.Text: 3, mmrag.Image: 1},
		Vectors:   map[string]int{Model: 4},
		Blobs:     1,
		BlobBytes: int64(len(img)),
	}
	if d := statsDiff(st, wantStats); d != "" {
		t.Errorf("Stats: %s", d)
	}
}

func statsDiff(got, want mmrag.Stats) string {
	var d []string
	if got.Documents != want.Documents {
		d = append(d, fmt.Sprintf("Documents = %d, want %d", got.Documents, want.Documents))
	}
	if got.Blobs != want.Blobs || got.BlobBytes != want.BlobBytes {
		d = append(d, fmt.Sprintf("Blobs = %d (%d bytes), want %d (%d bytes)", got.Blobs, got.BlobBytes, want.Blobs, want.BlobBytes))
	}
	for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
		if got.Items[m] != want.Items[m] {
			d = append(d, fmt.Sprintf("Items[%s] = %d, want %d", m, got.Items[m], want.Items[m]))
		}
	}
	for m, n := range want.Vectors {
		if got.Vectors[m] != n {
			d = append(d, fmt.Sprintf("Vectors[%s] = %d, want %d", m, got.Vectors[m], n))
		}
	}
	for m, n := range got.Vectors {
		if _, ok := want.Vectors[m]; !ok && n != 0 {
			d = append(d, fmt.Sprintf("Vectors[%s] = %d, want none", m, n))
		}
	}
	return strings.Join(d, "; ")
}

func testReplace(t *testing.T, s mmrag.Store) {
	ctx := ctxT(t)
	r := rand.New(rand.NewPCG(3, 4))
	oldImg, oldHash := PNG("old")
	newImg, newHash := PNG("new")
	doc := Doc("rep")
	v1 := []mmrag.Item{
		TextItem("rep", 0, "the zebra grazes near the river"),
		TextItem("rep", 1, "a second zebra paragraph"),
		ImageItem("rep", 2, oldHash, "old zebra photo"),
	}
	vec := func(items []mmrag.Item) []mmrag.Vector {
		var out []mmrag.Vector
		for _, it := range items {
			out = append(out, mmrag.Vector{ItemID: it.ID, Model: Model, Values: RandomVector(r, 8)})
		}
		return out
	}
	must(t, s.PutDocument(ctx, doc, v1, vec(v1), map[string][]byte{oldHash: oldImg}), "PutDocument v1")
	hits, err := s.SearchText(ctx, mmrag.TextQuery{Query: "zebra"})
	must(t, err, "SearchText v1")
	if len(hits) != 2 {
		t.Fatalf("before the replace, zebra matched %v, want the 2 text items", hitIDs(hits))
	}
	// Searching before the replace too catches a backend that caches the
	// old vectors.
	for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
		hits, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: Model, Modality: m, Vector: RandomVector(r, 8)})
		must(t, err, "SearchVectors v1")
		if want := map[mmrag.Modality]int{mmrag.Text: 2, mmrag.Image: 1}[m]; len(hits) != want {
			t.Fatalf("before the replace, SearchVectors(%s) = %v, want %d hits", m, hitIDs(hits), want)
		}
	}

	doc2 := doc
	doc2.Title = "Replaced"
	doc2.Hash = strings.Repeat("cd", 32)
	doc2.Ingested = Base.Add(time.Hour)
	v2 := []mmrag.Item{
		{ID: "rep#new0", Modality: mmrag.Text, Text: "a yak on the mountain", Position: 0},
		{ID: "rep#new1", Modality: mmrag.Image, Text: "yak photo", BlobHash: newHash, MIME: "image/png", Position: 1},
	}
	vecs2 := vec(v2)
	must(t, s.PutDocument(ctx, doc2, v2, vecs2, map[string][]byte{newHash: newImg}), "PutDocument v2")

	got, err := s.Document(ctx, "rep")
	must(t, err, "Document")
	if got.Title != "Replaced" || !got.Ingested.Equal(doc2.Ingested) {
		t.Errorf("Document after replace = %q ingested %v, want %q ingested %v", got.Title, got.Ingested, doc2.Title, doc2.Ingested)
	}
	items, err := s.Items(ctx, "rep")
	must(t, err, "Items")
	if g, w := ids(items), []string{"rep#new0", "rep#new1"}; !slices.Equal(g, w) {
		t.Errorf("Items after replace = %v, want %v", g, w)
	}
	for _, it := range v1 {
		_, err := s.Item(ctx, it.ID)
		wantNotFound(t, err, "Item "+it.ID+" of the old version")
		_, err = s.Vector(ctx, Model, it.ID)
		wantNotFound(t, err, "Vector of old item "+it.ID)
	}
	hits, err = s.SearchText(ctx, mmrag.TextQuery{Query: "zebra"})
	must(t, err, "SearchText old text")
	if len(hits) != 0 {
		t.Errorf("the old text still matches: %v", hitIDs(hits))
	}
	hits, err = s.SearchText(ctx, mmrag.TextQuery{Query: "yak"})
	must(t, err, "SearchText new text")
	if g, w := hitIDs(hits), []string{"rep#new0"}; !slices.Equal(g, w) {
		t.Errorf("SearchText(yak) = %v, want %v", g, w)
	}
	for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
		hits, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: Model, Modality: m, Vector: vecs2[0].Values})
		must(t, err, "SearchVectors")
		for _, h := range hits {
			if !strings.HasPrefix(h.ItemID, "rep#new") {
				t.Errorf("SearchVectors(%s) returned old item %s", m, h.ItemID)
			}
		}
		if len(hits) != 1 {
			t.Errorf("SearchVectors(%s) = %v, want the one new %s item", m, hitIDs(hits), m)
		}
	}
	_, err = s.Blob(ctx, oldHash)
	wantNotFound(t, err, "Blob of the replaced image")
	b, err := s.Blob(ctx, newHash)
	must(t, err, "Blob new")
	if string(b) != string(newImg) {
		t.Errorf("new blob differs")
	}
	st, err := s.Stats(ctx)
	must(t, err, "Stats")
	want := mmrag.Stats{
		Documents: 1,
		Items:     map[mmrag.Modality]int{mmrag.Text: 1, mmrag.Image: 1},
		Vectors:   map[string]int{Model: 2},
		Blobs:     1, BlobBytes: int64(len(newImg)),
	}
	if d := statsDiff(st, want); d != "" {
		t.Errorf("Stats after replace: %s", d)
	}

	// Replacing with the same content again changes nothing visible.
	must(t, s.PutDocument(ctx, doc2, v2, vecs2, map[string][]byte{newHash: newImg}), "PutDocument v2 again")
	b, err = s.Blob(ctx, newHash)
	must(t, err, "Blob after identical replace")
	if string(b) != string(newImg) {
		t.Errorf("blob differs after an identical replace")
	}
	// The blob is stored: a later version may reference it without bytes.
	v3 := []mmrag.Item{{ID: "rep#v3", Modality: mmrag.Image, BlobHash: newHash, MIME: "image/png"}}
	must(t, s.PutDocument(ctx, doc2, v3, nil, nil), "PutDocument referencing a stored blob")
	if _, err := s.Blob(ctx, newHash); err != nil {
		t.Errorf("Blob still referenced by the new version: %v", err)
	}
}

func testRefusedPut(t *testing.T, s mmrag.Store) {
	ctx := ctxT(t)
	r := rand.New(rand.NewPCG(5, 6))
	doc := Doc("keep")
	items := []mmrag.Item{TextItem("keep", 0, "original walrus text")}
	vecs := []mmrag.Vector{{ItemID: items[0].ID, Model: Model, Values: RandomVector(r, 8)}}
	must(t, s.PutDocument(ctx, doc, items, vecs, nil), "PutDocument v1")

	_, missingHash := PNG("missing")
	bad := []struct {
		name  string
		items []mmrag.Item
		vecs  []mmrag.Vector
	}{
		{"wrong dimension", []mmrag.Item{TextItem("keep", 0, "new narwhal text")},
			[]mmrag.Vector{{ItemID: "keep#t0", Model: Model, Values: RandomVector(r, 9)}}},
		{"missing blob", []mmrag.Item{TextItem("keep", 0, "new narwhal text"), ImageItem("keep", 1, missingHash, "x")}, nil},
		{"vector of an unknown item", []mmrag.Item{TextItem("keep", 0, "new narwhal text")},
			[]mmrag.Vector{{ItemID: "nope", Model: Model, Values: RandomVector(r, 8)}}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			doc2 := doc
			doc2.Title = "must not be stored"
			if err := s.PutDocument(ctx, doc2, tc.items, tc.vecs, nil); err == nil {
				t.Fatal("PutDocument succeeded, want an error")
			}
			got, err := s.Document(ctx, "keep")
			must(t, err, "Document")
			if d := docDiff(got, doc); d != "" {
				t.Errorf("after a refused put: %s", d)
			}
			gotItems, err := s.Items(ctx, "keep")
			must(t, err, "Items")
			if len(gotItems) != 1 || ItemDiff(gotItems[0], items[0]) != "" {
				t.Errorf("after a refused put, Items = %v, want the original", ids(gotItems))
			}
			hits, err := s.SearchText(ctx, mmrag.TextQuery{Query: "narwhal"})
			must(t, err, "SearchText")
			if len(hits) != 0 {
				t.Errorf("text of a refused put is searchable: %v", hitIDs(hits))
			}
			v, err := s.Vector(ctx, Model, "keep#t0")
			must(t, err, "Vector")
			if !slices.Equal(v, vecs[0].Values) {
				t.Errorf("vector changed by a refused put")
			}
		})
	}
}

func testDelete(t *testing.T, s mmrag.Store) {
	ctx := ctxT(t)
	r := rand.New(rand.NewPCG(7, 8))
	shared, sharedHash := PNG("shared")
	own, ownHash := PNG("own")
	a, b := Doc("a"), Doc("b")
	aItems := []mmrag.Item{
		TextItem("a", 0, "the okapi lives in the forest"),
		ImageItem("a", 1, sharedHash, "shared logo"),
		ImageItem("a", 2, ownHash, "own photo"),
	}
	bItems := []mmrag.Item{
		TextItem("b", 0, "another okapi page"),
		ImageItem("b", 1, sharedHash, "shared logo again"),
	}
	vecs := func(items []mmrag.Item) []mmrag.Vector {
		var out []mmrag.Vector
		for _, it := range items {
			out = append(out, mmrag.Vector{ItemID: it.ID, Model: Model, Values: RandomVector(r, 8)})
		}
		return out
	}
	must(t, s.PutDocument(ctx, a, aItems, vecs(aItems), map[string][]byte{sharedHash: shared, ownHash: own}), "PutDocument a")
	must(t, s.PutDocument(ctx, b, bItems, vecs(bItems), map[string][]byte{sharedHash: shared}), "PutDocument b")
	for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
		hits, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: Model, Modality: m, Vector: RandomVector(r, 8)})
		must(t, err, "SearchVectors before delete")
		if want := map[mmrag.Modality]int{mmrag.Text: 2, mmrag.Image: 3}[m]; len(hits) != want {
			t.Fatalf("before the delete, SearchVectors(%s) = %v, want %d hits", m, hitIDs(hits), want)
		}
	}
	st, err := s.Stats(ctx)
	must(t, err, "Stats")
	if st.Blobs != 2 || st.BlobBytes != int64(len(shared)+len(own)) {
		t.Errorf("Stats before delete: %d blobs of %d bytes, want 2 of %d (a shared image is stored once)", st.Blobs, st.BlobBytes, len(shared)+len(own))
	}

	must(t, s.DeleteDocument(ctx, "a"), "DeleteDocument a")
	_, err = s.Document(ctx, "a")
	wantNotFound(t, err, "Document of a deleted document")
	_, err = s.Items(ctx, "a")
	wantNotFound(t, err, "Items of a deleted document")
	for _, it := range aItems {
		_, err := s.Item(ctx, it.ID)
		wantNotFound(t, err, "Item of a deleted document")
		_, err = s.Vector(ctx, Model, it.ID)
		wantNotFound(t, err, "Vector of a deleted document")
	}
	hits, err := s.SearchText(ctx, mmrag.TextQuery{Query: "okapi"})
	must(t, err, "SearchText")
	if g, w := hitIDs(hits), []string{"b#t0"}; !slices.Equal(g, w) {
		t.Errorf("SearchText after delete = %v, want %v", g, w)
	}
	for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
		hits, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: Model, Modality: m, Vector: RandomVector(r, 8)})
		must(t, err, "SearchVectors")
		for _, h := range hits {
			if strings.HasPrefix(h.ItemID, "a#") {
				t.Errorf("SearchVectors returned %s of the deleted document", h.ItemID)
			}
		}
	}
	got, err := s.Blob(ctx, sharedHash)
	if err != nil || string(got) != string(shared) {
		t.Errorf("the image b shares with the deleted a is gone: %v", err)
	}
	_, err = s.Blob(ctx, ownHash)
	wantNotFound(t, err, "Blob only the deleted document referenced")
	st, err = s.Stats(ctx)
	must(t, err, "Stats")
	want := mmrag.Stats{
		Documents: 1,
		Items:     map[mmrag.Modality]int{mmrag.Text: 1, mmrag.Image: 1},
		Vectors:   map[string]int{Model: 2},
		Blobs:     1, BlobBytes: int64(len(shared)),
	}
	if d := statsDiff(st, want); d != "" {
		t.Errorf("Stats after deleting a: %s", d)
	}

	must(t, s.DeleteDocument(ctx, "b"), "DeleteDocument b")
	_, err = s.Blob(ctx, sharedHash)
	wantNotFound(t, err, "Blob after its last document is deleted")
	st, err = s.Stats(ctx)
	must(t, err, "Stats")
	if d := statsDiff(st, mmrag.Stats{}); d != "" {
		t.Errorf("Stats of an emptied store: %s", d)
	}
	wantNotFound(t, s.DeleteDocument(ctx, "b"), "deleting a deleted document")
}

func testNotFound(t *testing.T, s mmrag.Store) {
	ctx := ctxT(t)
	must(t, s.PutDocument(ctx, Doc("x"), []mmrag.Item{TextItem("x", 0, "present")}, nil, nil), "PutDocument")
	_, h := PNG("never stored")
	tests := []struct {
		name string
		call func() error
	}{
		{"Document", func() error { _, err := s.Document(ctx, "absent"); return err }},
		{"DocumentBySource", func() error { _, err := s.DocumentBySource(ctx, "/nowhere"); return err }},
		{"Items", func() error { _, err := s.Items(ctx, "absent"); return err }},
		{"Item", func() error { _, err := s.Item(ctx, "absent"); return err }},
		{"Vector of an absent item", func() error { _, err := s.Vector(ctx, Model, "absent"); return err }},
		{"Vector of an item without vectors", func() error { _, err := s.Vector(ctx, Model, "x#t0"); return err }},
		{"Vector of an unknown model", func() error { _, err := s.Vector(ctx, "other", "x#t0"); return err }},
		{"Blob", func() error { _, err := s.Blob(ctx, h); return err }},
		{"Blob with a malformed hash", func() error { _, err := s.Blob(ctx, "../../etc/passwd"); return err }},
		{"DeleteDocument", func() error { return s.DeleteDocument(ctx, "absent") }},
		{"DocumentVectors", func() error { _, err := s.DocumentVectors(ctx, "absent"); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantNotFound(t, tc.call(), tc.name) })
	}
	got, err := s.ItemsByID(ctx, []string{"absent", "also absent"})
	must(t, err, "ItemsByID")
	if len(got) != 0 {
		t.Errorf("ItemsByID of absent ids = %v, want none", ids(got))
	}
	got, err = s.ItemsByID(ctx, nil)
	must(t, err, "ItemsByID(nil)")
	if len(got) != 0 {
		t.Errorf("ItemsByID(nil) = %v, want none", ids(got))
	}
}

func testBadInput(t *testing.T, s mmrag.Store) {
	ctx := ctxT(t)
	r := rand.New(rand.NewPCG(9, 10))
	img, hash := PNG("bad input")
	_, otherHash := PNG("other")
	must(t, s.PutDocument(ctx, Doc("owner"), []mmrag.Item{TextItem("owner", 0, "taken")}, nil, nil), "PutDocument owner")
	sameSource := Doc("imposter")
	sameSource.Source = Doc("owner").Source
	tests := []struct {
		name  string
		doc   mmrag.Document
		items []mmrag.Item
		vecs  []mmrag.Vector
		blobs map[string][]byte
	}{
		{name: "no document ID", doc: mmrag.Document{Source: "/s"}},
		{name: "no source", doc: mmrag.Document{ID: "nosrc"}},
		{name: "source of another document", doc: sameSource},
		{name: "item without ID", doc: Doc("d"), items: []mmrag.Item{{Modality: mmrag.Text, Text: "x"}}},
		{name: "duplicate item IDs", doc: Doc("d"), items: []mmrag.Item{TextItem("d", 0, "x"), TextItem("d", 0, "y")}},
		{name: "item of another document", doc: Doc("d"), items: []mmrag.Item{TextItem("other", 0, "x")}},
		{name: "item ID of another document", doc: Doc("d"), items: []mmrag.Item{{ID: "owner#t0", Modality: mmrag.Text}}},
		{name: "unknown modality", doc: Doc("d"), items: []mmrag.Item{{ID: "d#0", Modality: "smell"}}},
		{name: "vector without model", doc: Doc("d"), items: []mmrag.Item{TextItem("d", 0, "x")},
			vecs: []mmrag.Vector{{ItemID: "d#t0", Values: RandomVector(r, 8)}}},
		{name: "empty vector", doc: Doc("d"), items: []mmrag.Item{TextItem("d", 0, "x")},
			vecs: []mmrag.Vector{{ItemID: "d#t0", Model: Model}}},
		{name: "NaN in a vector", doc: Doc("d"), items: []mmrag.Item{TextItem("d", 0, "x")},
			vecs: []mmrag.Vector{{ItemID: "d#t0", Model: Model, Values: []float32{1, float32(math.NaN()), 0, 0, 0, 0, 0, 0}}}},
		{name: "two vectors of one item and model", doc: Doc("d"), items: []mmrag.Item{TextItem("d", 0, "x")},
			vecs: []mmrag.Vector{{ItemID: "d#t0", Model: Model, Values: RandomVector(r, 8)}, {ItemID: "d#t0", Model: Model, Values: RandomVector(r, 8)}}},
		{name: "blob bytes not matching their hash", doc: Doc("d"), items: []mmrag.Item{ImageItem("d", 0, otherHash, "x")},
			blobs: map[string][]byte{otherHash: img}},
		{name: "malformed blob hash", doc: Doc("d"), items: []mmrag.Item{ImageItem("d", 0, "../../escape", "x")},
			blobs: map[string][]byte{"../../escape": img}},
		{name: "blob neither given nor stored", doc: Doc("d"), items: []mmrag.Item{ImageItem("d", 0, hash, "x")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.PutDocument(ctx, tc.doc, tc.items, tc.vecs, tc.blobs); err == nil {
				t.Fatal("PutDocument succeeded, want an error")
			}
			if tc.doc.ID != "" && tc.doc.ID != "owner" {
				_, err := s.Document(ctx, tc.doc.ID)
				wantNotFound(t, err, "Document after a refused put")
			}
		})
	}
	st, err := s.Stats(ctx)
	must(t, err, "Stats")
	if d := statsDiff(st, mmrag.Stats{Documents: 1, Items: map[mmrag.Modality]int{mmrag.Text: 1}}); d != "" {
		t.Errorf("Stats after refused puts: %s", d)
	}
	it, err := s.Item(ctx, "owner#t0")
	must(t, err, "Item owner#t0")
	if it.DocID != "owner" {
		t.Errorf("item owner#t0 moved to document %s", it.DocID)
	}
}

func testDimensionMismatch(t *testing.T, s mmrag.Store) {
	ctx := ctxT(t)
	r := rand.New(rand.NewPCG(11, 12))
	must(t, s.PutDocument(ctx, Doc("d8"), []mmrag.Item{TextItem("d8", 0, "x")},
		[]mmrag.Vector{{ItemID: "d8#t0", Model: Model, Values: RandomVector(r, 8)}}, nil), "PutDocument 8-d")
	tests := []struct {
		name string
		vecs []mmrag.Vector
	}{
		{"other dimension than stored", []mmrag.Vector{{ItemID: "d9#t0", Model: Model, Values: RandomVector(r, 9)}}},
		{"two dimensions in one put", []mmrag.Vector{
			{ItemID: "d9#t0", Model: "fresh-model", Values: RandomVector(r, 4)},
			{ItemID: "d9#t1", Model: "fresh-model", Values: RandomVector(r, 5)},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items := []mmrag.Item{TextItem("d9", 0, "y"), TextItem("d9", 1, "z")}
			if err := s.PutDocument(ctx, Doc("d9"), items, tc.vecs, nil); err == nil {
				t.Fatal("PutDocument mixing dimensions succeeded, want an error")
			}
			_, err := s.Document(ctx, "d9")
			wantNotFound(t, err, "Document of a refused put")
		})
	}
	// Another model may have another dimension.
	must(t, s.PutDocument(ctx, Doc("other"), []mmrag.Item{TextItem("other", 0, "x")},
		[]mmrag.Vector{{ItemID: "other#t0", Model: "other-model", Values: RandomVector(r, 3)}}, nil), "PutDocument other model")
	if _, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: Model, Modality: mmrag.Text, Vector: RandomVector(r, 9)}); err == nil {
		t.Error("SearchVectors with a 9-d query on an 8-d model succeeded, want an error")
	}
	hits, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: "other-model", Modality: mmrag.Text, Vector: RandomVector(r, 3)})
	must(t, err, "SearchVectors other model")
	if g, w := hitIDs(hits), []string{"other#t0"}; !slices.Equal(g, w) {
		t.Errorf("SearchVectors(other-model) = %v, want %v: models must not mix", g, w)
	}
	hits, err = s.SearchVectors(ctx, mmrag.VectorQuery{Model: "never-stored", Modality: mmrag.Text, Vector: RandomVector(r, 3)})
	must(t, err, "SearchVectors unknown model")
	if len(hits) != 0 {
		t.Errorf("SearchVectors of an unknown model = %v, want none", hitIDs(hits))
	}
}

// corpus is the fixture of the search tests: six documents of three types
// and two source prefixes, ingested an hour apart, with text and image items.
type corpus struct {
	docs    []mmrag.Document
	items   map[string]mmrag.Item
	vectors map[string][]float32 // item id → vector
}

func buildCorpus(t *testing.T, s mmrag.Store, dim int, perDoc int, r *rand.Rand) corpus {
	t.Helper()
	c := corpus{items: map[string]mmrag.Item{}, vectors: map[string][]float32{}}
	types := []string{"html", "pdf", "markdown"}
	for d := range 6 {
		id := fmt.Sprintf("doc%d", d)
		doc := Doc(id)
		doc.Type = types[d%3]
		if d >= 3 {
			doc.Source = "https://example.com/" + id
		}
		doc.Ingested = Base.Add(time.Duration(d) * time.Hour)
		var items []mmrag.Item
		var vecs []mmrag.Vector
		blobs := map[string][]byte{}
		for i := range perDoc {
			var it mmrag.Item
			if i%4 == 3 {
				img, h := PNG(fmt.Sprintf("%s-%d", id, i))
				it = ImageItem(id, i, h, "picture")
				blobs[h] = img
			} else {
				it = TextItem(id, i, fmt.Sprintf("text %d of %s", i, id))
			}
			v := RandomVector(r, dim)
			items = append(items, it)
			vecs = append(vecs, mmrag.Vector{ItemID: it.ID, Model: Model, Values: v})
			c.items[it.ID] = it
			c.vectors[it.ID] = v
		}
		must(t, s.PutDocument(t.Context(), doc, items, vecs, blobs), "PutDocument "+id)
		c.docs = append(c.docs, doc)
	}
	return c
}

func (c corpus) doc(id string) mmrag.Document {
	for _, d := range c.docs {
		if d.ID == id {
			return d
		}
	}
	return mmrag.Document{}
}

// Matches is the reference semantics of a Filter.
func Matches(f mmrag.Filter, d mmrag.Document) bool {
	if len(f.DocIDs) > 0 && !slices.Contains(f.DocIDs, d.ID) {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, d.Type) {
		return false
	}
	if !strings.HasPrefix(d.Source, f.SourcePrefix) {
		return false
	}
	if !f.Since.IsZero() && (d.Ingested.IsZero() || d.Ingested.Before(f.Since)) {
		return false
	}
	if !f.Until.IsZero() && (d.Ingested.IsZero() || !d.Ingested.Before(f.Until)) {
		return false
	}
	return true
}

func filters() []struct {
	name string
	f    mmrag.Filter
} {
	return []struct {
		name string
		f    mmrag.Filter
	}{
		{"none", mmrag.Filter{}},
		{"doc ids", mmrag.Filter{DocIDs: []string{"doc1", "doc4"}}},
		{"absent doc id", mmrag.Filter{DocIDs: []string{"nope"}}},
		{"types", mmrag.Filter{Types: []string{"pdf", "markdown"}}},
		{"source prefix", mmrag.Filter{SourcePrefix: "https://example.com/"}},
		{"since (inclusive)", mmrag.Filter{Since: Base.Add(2 * time.Hour)}},
		{"until (exclusive)", mmrag.Filter{Until: Base.Add(2 * time.Hour)}},
		{"since and until", mmrag.Filter{Since: Base.Add(time.Hour), Until: Base.Add(4 * time.Hour)}},
		{"all fields", mmrag.Filter{DocIDs: []string{"doc0", "doc3", "doc4", "doc5"}, Types: []string{"html", "pdf"},
			SourcePrefix: "https://", Since: Base.Add(3 * time.Hour), Until: Base.Add(5 * time.Hour)}},
		{"matching nothing", mmrag.Filter{Types: []string{"html"}, DocIDs: []string{"doc1"}}},
	}
}

func testVectorSearch(t *testing.T, s mmrag.Store) {
	const dim = 24
	r := rand.New(rand.NewPCG(13, 14))
	c := buildCorpus(t, s, dim, 40, r)
	ctx := ctxT(t)
	for _, fc := range filters() {
		for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
			q := RandomVector(r, dim)
			type ref struct {
				id    string
				score float64
			}
			var want []ref
			for id, it := range c.items {
				if it.Modality == m && Matches(fc.f, c.doc(it.DocID)) {
					want = append(want, ref{id, store.Dot64(q, c.vectors[id])})
				}
			}
			sort.Slice(want, func(i, j int) bool { return want[i].score > want[j].score })
			for _, k := range []int{1, 5, 17, 0, -1, 10_000} {
				t.Run(fmt.Sprintf("%s/%s/K=%d", fc.name, m, k), func(t *testing.T) {
					hits, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: Model, Modality: m, Vector: q, K: k, Filter: fc.f})
					must(t, err, "SearchVectors")
					n := len(want)
					if k > 0 && k < n {
						n = k
					}
					if len(hits) != n {
						t.Fatalf("got %d hits, want %d (of %d matching)", len(hits), n, len(want))
					}
					seen := map[string]bool{}
					for i, h := range hits {
						if seen[h.ItemID] {
							t.Errorf("hit %s returned twice", h.ItemID)
						}
						seen[h.ItemID] = true
						it, ok := c.items[h.ItemID]
						switch {
						case !ok:
							t.Errorf("hit %s is not an item of the corpus", h.ItemID)
							continue
						case it.Modality != m:
							t.Errorf("hit %s is a %s item, asked for %s", h.ItemID, it.Modality, m)
						case !Matches(fc.f, c.doc(it.DocID)):
							t.Errorf("hit %s of %s passes the filter though it should not", h.ItemID, it.DocID)
						}
						if d := math.Abs(float64(h.Score) - store.Dot64(q, c.vectors[h.ItemID])); d > 1e-4 {
							t.Errorf("hit %s scores %v, its dot product is %v", h.ItemID, h.Score, store.Dot64(q, c.vectors[h.ItemID]))
						}
						// Rank by rank the scores equal the brute-force ones,
						// which makes the hits the K best up to ties.
						if d := math.Abs(float64(h.Score) - want[i].score); d > 1e-4 {
							t.Errorf("rank %d: %s scores %v, brute force has %s at %v", i, h.ItemID, h.Score, want[i].id, want[i].score)
						}
						if i > 0 && hits[i-1].Score < h.Score {
							t.Errorf("hits not sorted: rank %d %v < rank %d %v", i-1, hits[i-1].Score, i, h.Score)
						}
					}
				})
			}
		}
	}
	// The exact vector of an item finds that item first.
	for _, id := range []string{"doc2#t5", "doc4#i7"} {
		it := c.items[id]
		hits, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: Model, Modality: it.Modality, Vector: c.vectors[id], K: 3})
		must(t, err, "SearchVectors")
		if len(hits) == 0 || hits[0].ItemID != id {
			t.Errorf("searching with the vector of %s ranks %v first", id, hitIDs(hits))
		}
	}
}

func testDocuments(t *testing.T, s mmrag.Store) {
	r := rand.New(rand.NewPCG(15, 16))
	c := buildCorpus(t, s, 4, 2, r)
	for _, fc := range filters() {
		t.Run(fc.name, func(t *testing.T) {
			got, err := s.Documents(t.Context(), fc.f)
			must(t, err, "Documents")
			var want []mmrag.Document
			for _, d := range c.docs {
				if Matches(fc.f, d) {
					want = append(want, d)
				}
			}
			sort.Slice(want, func(i, j int) bool { return want[i].Source < want[j].Source })
			if len(got) != len(want) {
				t.Fatalf("Documents returned %d, want %d", len(got), len(want))
			}
			for i := range want {
				if d := docDiff(got[i], want[i]); d != "" {
					t.Errorf("Documents[%d]: %s", i, d)
				}
			}
		})
	}
}

func testTextRanking(t *testing.T, s mmrag.Store) {
	ctx := ctxT(t)
	doc := Doc("rank")
	items := []mmrag.Item{
		// Same length; "pelican" 3× in one, once in the other.
		TextItem("rank", 0, "pelican birds fly low over calm water near the shore today"),
		TextItem("rank", 1, "pelican pelican pelican fly low over calm water near shore"),
		ImageItem("rank", 3, "", "pelican pelican pelican pelican image caption"),
	}
	// Fillers keep "pelican" a rare term, as in any real corpus.
	for i := 4; i < 14; i++ {
		items = append(items, TextItem("rank", i, fmt.Sprintf("filler paragraph number %d about gulls and water", i)))
	}
	must(t, s.PutDocument(ctx, doc, items, nil, nil), "PutDocument")

	hits, err := s.SearchText(ctx, mmrag.TextQuery{Query: "pelican", K: 10})
	must(t, err, "SearchText")
	if g, w := hitIDs(hits), []string{"rank#t1", "rank#t0"}; !slices.Equal(g, w) {
		t.Fatalf("SearchText(pelican) = %v, want %v (3 mentions above 1; image items are not full-text indexed)", g, w)
	}
	if !(hits[0].Score > hits[1].Score) {
		t.Errorf("scores %v then %v: higher must be better", hits[0].Score, hits[1].Score)
	}
	// Two query terms: the item holding both ranks first.
	hits, err = s.SearchText(ctx, mmrag.TextQuery{Query: "gulls birds"})
	must(t, err, "SearchText")
	if len(hits) != 11 {
		t.Errorf("SearchText(gulls birds) = %d hits, want 11: any term matches", len(hits))
	}
	if len(hits) > 0 && hits[0].ItemID != "rank#t0" {
		t.Errorf("SearchText(gulls birds) ranks %s first, want rank#t0, the one item with the rare term", hits[0].ItemID)
	}
	// K bounds the hits; K ≤ 0 returns all.
	for _, tc := range []struct{ k, want int }{{1, 1}, {5, 5}, {0, 10}, {-3, 10}, {100, 10}} {
		hits, err := s.SearchText(ctx, mmrag.TextQuery{Query: "filler", K: tc.k})
		must(t, err, "SearchText")
		if len(hits) != tc.want {
			t.Errorf("SearchText(filler, K=%d) = %d hits, want %d", tc.k, len(hits), tc.want)
		}
		for i := 1; i < len(hits); i++ {
			if hits[i-1].Score < hits[i].Score {
				t.Errorf("K=%d: hits not sorted by score", tc.k)
			}
		}
	}
	// Case does not matter.
	hits, err = s.SearchText(ctx, mmrag.TextQuery{Query: "PELICAN"})
	must(t, err, "SearchText")
	if len(hits) != 2 {
		t.Errorf("SearchText(PELICAN) = %v, want the 2 pelican items", hitIDs(hits))
	}
}

func testTextFilter(t *testing.T, s mmrag.Store) {
	r := rand.New(rand.NewPCG(17, 18))
	c := buildCorpus(t, s, 4, 8, r)
	for _, fc := range filters() {
		t.Run(fc.name, func(t *testing.T) {
			hits, err := s.SearchText(t.Context(), mmrag.TextQuery{Query: "text", Filter: fc.f})
			must(t, err, "SearchText")
			want := 0
			for _, it := range c.items {
				if it.Modality == mmrag.Text && Matches(fc.f, c.doc(it.DocID)) {
					want++
				}
			}
			if len(hits) != want {
				t.Errorf("got %d hits, want %d", len(hits), want)
			}
			for _, h := range hits {
				it := c.items[h.ItemID]
				if !Matches(fc.f, c.doc(it.DocID)) {
					t.Errorf("hit %s of %s should be filtered out", h.ItemID, it.DocID)
				}
			}
		})
	}
}

func testOddQueries(t *testing.T, s mmrag.Store) {
	ctx := ctxT(t)
	items := []mmrag.Item{
		TextItem("odd", 0, "NEAR and AND or OR: the kiwi* is a \"bird\" (mostly) — col:value ^start"),
		TextItem("odd", 1, "nothing relevant here"),
	}
	must(t, s.PutDocument(ctx, Doc("odd"), items, nil, nil), "PutDocument")
	const (
		none  = iota // no hits allowed
		kiwi         // odd#t0 must rank first
		maybe        // hits or none: stopwords of a backend may drop the words
	)
	tests := []struct {
		query string
		want  int
	}{
		{"", none},
		{"   \t\n", none},
		{"!!!", none},
		{`"`, none},
		{`""`, none},
		{"*", none},
		{"(", none},
		{")", none},
		{"-", none},
		{"^", none},
		{":", none},
		{"'", none},
		{`\`, none},
		{"...?!,;", none},
		{"kiwi", kiwi},
		{"kiwi*", kiwi},
		{"*kiwi", kiwi},
		{`"kiwi`, kiwi},
		{`kiwi"`, kiwi},
		{`"kiwi bird"`, kiwi},
		{"kiwi AND", kiwi},
		{"AND kiwi", kiwi},
		{"NOT kiwi", kiwi},
		{"kiwi OR", kiwi},
		{"NEAR(kiwi bird)", kiwi},
		{"NEAR(kiwi bird, 2)", kiwi},
		{"text:kiwi", kiwi},
		{"{text}:kiwi", kiwi},
		{"^kiwi", kiwi},
		{"-kiwi", kiwi},
		{"kiwi + bird", kiwi},
		{"AND", maybe},
		{"OR", maybe},
		{"NEAR", maybe},
		{"col:value", maybe},
		{"🥝 kiwi", kiwi},
		{strings.Repeat("kiwi ", 500), kiwi},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%.20q", tc.query), func(t *testing.T) {
			hits, err := s.SearchText(ctx, mmrag.TextQuery{Query: tc.query, K: 10})
			if err != nil {
				t.Fatalf("SearchText(%q): %v", tc.query, err)
			}
			switch {
			case tc.want == kiwi && (len(hits) == 0 || hits[0].ItemID != "odd#t0"):
				t.Errorf("SearchText(%q) = %v, want odd#t0 first", tc.query, hitIDs(hits))
			case tc.want == none && len(hits) != 0:
				t.Errorf("SearchText(%q) = %v, want no hits", tc.query, hitIDs(hits))
			case tc.want == maybe && len(hits) > 0 && hits[0].ItemID != "odd#t0":
				t.Errorf("SearchText(%q) = %v: odd#t0 holds the word, %s does not", tc.query, hitIDs(hits), hits[0].ItemID)
			}
		})
	}
}
