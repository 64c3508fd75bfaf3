package refkb

import (
	"bytes"
	"context"
	"testing"

	"mmrag"
	"mmrag/sqlite"
)

// The reference knowledge base goes into the real store unchanged and is
// searchable there.
func TestPutIntoSQLite(t *testing.T) {
	kb := readFixture(t)
	ctx := context.Background()
	s, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, d := range kb.Docs {
		if err := s.PutDocument(ctx, d.Doc, d.Items, d.Vectors, d.Blobs); err != nil {
			t.Fatal(err)
		}
	}

	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Documents != 2 || st.Items[mmrag.Text] != 86 || st.Items[mmrag.Image] != 17 || st.Vectors[testModel] != 103 || st.Blobs != 15 {
		t.Fatalf("stats %+v", st)
	}

	checkStoredDocs(t, s, kb)
	// Every stored vector, used as a query over the whole collection,
	// finds its own item first; identical records tie (two figures appear
	// twice, and both articles end with the same "Exported from Medium" line).
	byID := map[string]mmrag.Item{}
	for _, d := range kb.Docs {
		for i, it := range d.Items {
			byID[it.ID] = it
			checkSelfSearch(t, s, d, i)
		}
	}
	// Image bytes come back from the blob store.
	for _, d := range kb.Docs {
		for h, data := range d.Blobs {
			got, err := s.Blob(ctx, h)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("blob %s: %d bytes, %v", h, len(got), err)
			}
		}
	}

	// The whole knowledge base shares its source prefix.
	hits, err := s.SearchVectors(ctx, mmrag.VectorQuery{
		Model: testModel, Modality: mmrag.Text, Vector: kb.Docs[1].Vectors[0].Values, K: 5,
		Filter: mmrag.Filter{SourcePrefix: "reference:seed-blog#" + kb.Docs[1].Doc.Title},
	})
	if err != nil || len(hits) != 5 || hits[0].ItemID != kb.Docs[1].Items[0].ID {
		t.Fatalf("filtered search: %v, %v", hits, err)
	}
	for _, h := range hits {
		if byID[h.ItemID].DocID != kb.Docs[1].Doc.ID {
			t.Fatalf("filtered search returned item %s of another document", h.ItemID)
		}
	}
}

// checkStoredDocs checks that the store gives back each document and its
// items.
func checkStoredDocs(t *testing.T, s *sqlite.Store, kb *KB) {
	t.Helper()
	ctx := context.Background()
	for _, d := range kb.Docs {
		got, err := s.DocumentBySource(ctx, d.Doc.Source)
		if err != nil || got.ID != d.Doc.ID || got.Hash != d.Doc.Hash || got.Type != DocType {
			t.Fatalf("document by source %q: %+v, %v", d.Doc.Source, got, err)
		}
		items, err := s.Items(ctx, d.Doc.ID)
		if err != nil || len(items) != len(d.Items) {
			t.Fatalf("items of %s: %d, %v", d.Doc.Title, len(items), err)
		}
		for i, it := range items {
			if it.ID != d.Items[i].ID || it.Text != d.Items[i].Text || it.Meta[mmrag.MetaRow] != d.Items[i].Meta[mmrag.MetaRow] {
				t.Fatalf("stored item %d of %s differs", i, d.Doc.Title)
			}
		}
	}
}

// checkSelfSearch searches the store with the vector of item i of d and
// checks that the item comes first, with a score of about 1.
func checkSelfSearch(t *testing.T, s *sqlite.Store, d Doc, i int) {
	t.Helper()
	it := d.Items[i]
	hits, err := s.SearchVectors(context.Background(), mmrag.VectorQuery{Model: testModel, Modality: it.Modality, Vector: d.Vectors[i].Values})
	if err != nil {
		t.Fatal(err)
	}
	want := 86
	if it.Modality == mmrag.Image {
		want = 17
	}
	if len(hits) != want {
		t.Fatalf("%s search returned %d hits, want %d", it.Modality, len(hits), want)
	}
	own := -1
	for j, h := range hits {
		if h.ItemID == it.ID {
			own = j
		}
	}
	if own < 0 || hits[own].Score < hits[0].Score-1e-6 {
		t.Errorf("%s item %d of %s: first hit %s (%.4f), not itself (rank %d)", it.Modality, i, d.Doc.Title, hits[0].ItemID, hits[0].Score, own)
	}
	if hits[0].Score < 0.999 || hits[0].Score > 1.001 {
		t.Errorf("self score %v, want ≈1", hits[0].Score)
	}
}
