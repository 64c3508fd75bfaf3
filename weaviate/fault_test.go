package weaviate

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mmrag"
	"mmrag/refkb"
	"mmrag/store/storetest"
)

// The fault tests stop and start server nodes through scripts/weaviate.sh
// and therefore run only when asked:
//
//	MMRAG_WEAVIATE_FAULTS=1   single node: the server dies mid-ingest
//	MMRAG_WEAVIATE_CLUSTER=1  three nodes (scripts/weaviate.sh start 3),
//	                          replication factor 3: one node dies

// synthetic returns n documents of per items with 16-d vectors.
func synthetic(n, per int) []refkb.Doc {
	r := mrand.New(mrand.NewPCG(7, 7))
	var out []refkb.Doc
	for d := range n {
		id := fmt.Sprintf("syn%03d", d)
		doc := storetest.Doc(id)
		var items []mmrag.Item
		var vecs []mmrag.Vector
		for i := range per {
			it := storetest.TextItem(id, i, fmt.Sprintf("synthetic paragraph %d of %s about topic %d", i, id, r.IntN(50)))
			items = append(items, it)
			vecs = append(vecs, mmrag.Vector{ItemID: it.ID, Model: "syn", Values: storetest.RandomVector(r, 16)})
		}
		out = append(out, refkb.Doc{Doc: doc, Items: items, Vectors: vecs})
	}
	return out
}

// The only node dies in the middle of an ingest, between writing a
// document's items and committing it: that put fails with an error naming
// the server, the half-written version is invisible once the node is back,
// and a re-run of the whole ingest completes without duplicates.
func TestDownMidIngest(t *testing.T) {
	if os.Getenv("MMRAG_WEAVIATE_FAULTS") != "1" {
		t.Skip("set MMRAG_WEAVIATE_FAULTS=1 to let the test kill and restart the server (scripts/weaviate.sh)")
	}
	s := openTest(t, func(c *Config) { c.Retries = 2; c.Timeout = 10 * time.Second })
	ctx := context.Background()
	docs := synthetic(30, 40)
	killed := false
	t.Cleanup(func() {
		testHookAfterItems = nil
		if killed {
			scriptNode(t, "restart", "0")
		}
	})
	testHookAfterItems = func(id string) {
		if id == docs[10].Doc.ID {
			scriptNode(t, "kill", "0")
			killed = true
		}
	}
	var putErr error
	for i, d := range docs {
		if putErr = s.PutDocument(ctx, d.Doc, d.Items, d.Vectors, d.Blobs); putErr != nil {
			if i != 10 {
				t.Fatalf("put %d failed, want put 10 to fail: %v", i, putErr)
			}
			break
		}
	}
	testHookAfterItems = nil
	if putErr == nil {
		t.Fatal("every put succeeded though the server died")
	}
	t.Logf("put 10 failed: %v", putErr)
	if !strings.Contains(putErr.Error(), s.url) {
		t.Errorf("the error does not name the server %s: %v", s.url, putErr)
	}
	scriptNode(t, "restart", "0")
	killed = false

	// The items of the failed put reached the server, its document did not.
	if _, err := s.Document(ctx, docs[10].Doc.ID); !errors.Is(err, mmrag.ErrNotFound) {
		t.Errorf("document of the failed put: %v, want ErrNotFound", err)
	}
	hits, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: "syn", Modality: mmrag.Text, Vector: docs[10].Vectors[3].Values, K: 1})
	must(t, err)
	if len(hits) == 1 && hits[0].ItemID == docs[10].Items[3].ID {
		t.Errorf("an item of the failed put is searchable")
	}

	// The re-run: every document again (the first ten are replaced by
	// identical versions).
	for _, d := range docs {
		if err := s.PutDocument(ctx, d.Doc, d.Items, d.Vectors, d.Blobs); err != nil {
			t.Fatalf("re-run: %v", err)
		}
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Documents != 30 || st.Items[mmrag.Text] != 30*40 || st.Vectors["syn"] != 30*40 {
		t.Errorf("after the re-run: %+v, want 30 documents, 1200 items and vectors", st)
	}
	items, err := s.Items(ctx, docs[10].Doc.ID)
	must(t, err)
	if len(items) != 40 {
		t.Errorf("document %s has %d items, want 40", docs[10].Doc.ID, len(items))
	}
}

// Three nodes, replication factor 3: the seed-blog knowledge base stays
// searchable while a node is down (SIGKILL), writes continue at QUORUM, and
// once the node is back nothing is lost.
func TestClusterNodeDown(t *testing.T) {
	if os.Getenv("MMRAG_WEAVIATE_CLUSTER") != "1" {
		t.Skip("set MMRAG_WEAVIATE_CLUSTER=1 with a 3-node cluster (scripts/weaviate.sh start 3)")
	}
	if n := os.Getenv("MMRAG_WEAVIATE_NODES"); n != "3" {
		t.Fatalf("MMRAG_WEAVIATE_NODES=%q: the cluster test needs 3 nodes", n)
	}
	dir := filepath.Join("..", "..", "shared", "fixtures", "seed-blog")
	if _, err := os.Stat(filepath.Join(dir, refkb.TextFile)); err != nil {
		t.Skipf("fixture %s absent: %v", dir, err)
	}
	ctx := context.Background()
	const model = "Xenova/clip-vit-base-patch16"
	kb, err := refkb.Read(ctx, dir, refkb.Options{Model: model})
	must(t, err)

	s := openTest(t, func(c *Config) { c.Replication = 3; c.Consistency = "QUORUM" })
	t0 := time.Now()
	for _, d := range kb.Docs {
		must(t, s.PutDocument(ctx, d.Doc, d.Items, d.Vectors, d.Blobs))
	}
	t.Logf("ingested seed-blog at replication 3 in %v", time.Since(t0))
	before, err := s.Stats(ctx)
	must(t, err)

	type probe struct {
		q    mmrag.VectorQuery
		hits []mmrag.Hit
	}
	var probes []probe
	for _, d := range kb.Docs {
		for i := 0; i < len(d.Items); i += 7 {
			q := mmrag.VectorQuery{Model: model, Modality: d.Items[i].Modality, Vector: d.Vectors[i].Values, K: 5}
			hits, err := s.SearchVectors(ctx, q)
			must(t, err)
			probes = append(probes, probe{q, hits})
		}
	}
	textBefore, err := s.SearchText(ctx, mmrag.TextQuery{Query: "embedding model", K: 10})
	must(t, err)

	killed := true
	scriptNode(t, "kill", "2")
	t.Cleanup(func() {
		if killed {
			scriptNode(t, "restart", "2")
		}
	})
	// Searches and reads keep answering through the two others.
	for _, p := range probes {
		hits, err := s.SearchVectors(ctx, p.q)
		if err != nil {
			t.Fatalf("search with a node down: %v", err)
		}
		if !slices.Equal(hitIDs(hits), hitIDs(p.hits)) {
			t.Errorf("with a node down, search returns %v, before %v", hitIDs(hits), hitIDs(p.hits))
		}
	}
	hits, err := s.SearchText(ctx, mmrag.TextQuery{Query: "embedding model", K: 10})
	if err != nil || !slices.Equal(hitIDs(hits), hitIDs(textBefore)) {
		t.Errorf("full-text search with a node down: %v, %v; before %v", hitIDs(hits), err, hitIDs(textBefore))
	}
	for _, d := range kb.Docs {
		items, err := s.Items(ctx, d.Doc.ID)
		if err != nil || len(items) != len(d.Items) {
			t.Errorf("Items of %s with a node down: %d, %v", d.Doc.Title, len(items), err)
		}
	}
	// Writes go on at QUORUM: a document added while the node is down.
	extra := synthetic(1, 20)[0]
	must(t, s.PutDocument(ctx, extra.Doc, extra.Items, extra.Vectors, nil))

	scriptNode(t, "restart", "2")
	killed = false

	// Nothing lost: read everything at consistency ALL, which needs the
	// restarted node too and repairs what it missed.
	cfg := s.cfg
	cfg.Consistency = "ALL"
	all, err := Open(ctx, cfg)
	must(t, err)
	defer all.Close()
	for _, d := range append(kb.Docs, extra) {
		checkRestored(t, all, d)
	}
	after, err := all.Stats(ctx)
	must(t, err)
	if after.Documents != before.Documents+1 || after.Items[mmrag.Text] != before.Items[mmrag.Text]+20 ||
		after.Items[mmrag.Image] != before.Items[mmrag.Image] || after.Blobs != before.Blobs || after.BlobBytes != before.BlobBytes {
		t.Errorf("stats after the restart %+v, before %+v (+1 document of 20 text items)", after, before)
	}
	for _, p := range probes {
		hits, err := all.SearchVectors(ctx, p.q)
		if err != nil || !slices.Equal(hitIDs(hits), hitIDs(p.hits)) {
			t.Errorf("after the restart, search returns %v (%v), before %v", hitIDs(hits), err, hitIDs(p.hits))
		}
	}
}

// checkRestored checks, through a store reading at consistency ALL, that
// d's items and (every fifth) vectors are all there after a node restart.
func checkRestored(t *testing.T, all *Store, d refkb.Doc) {
	t.Helper()
	ctx := context.Background()
	var items []mmrag.Item
	var err error
	for try := 0; try < 20; try++ { // the node may still be catching up
		if items, err = all.Items(ctx, d.Doc.ID); err == nil && len(items) == len(d.Items) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil || len(items) != len(d.Items) {
		t.Errorf("after the restart, %s has %d items (%v), want %d", d.Doc.Title, len(items), err, len(d.Items))
		return
	}
	for i := 0; i < len(items); i += 5 {
		if diff := storetest.ItemDiff(items[i], d.Items[i]); diff != "" {
			t.Errorf("after the restart: %s", diff)
		}
		v, err := all.Vector(ctx, d.Vectors[i].Model, d.Vectors[i].ItemID)
		if err != nil || !slices.Equal(v, d.Vectors[i].Values) {
			t.Errorf("after the restart, vector of %s: %v", d.Vectors[i].ItemID, err)
		}
	}
}

func hitIDs(hits []mmrag.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ItemID
	}
	return out
}
