package migrate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"mmrag"
	"mmrag/internal/testenv"
	"mmrag/sqlite"
	"mmrag/store/storetest"
	"mmrag/weaviate"
)

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fill puts n documents with text and image items and two models' vectors.
func fill(t *testing.T, s mmrag.Store, n int) {
	t.Helper()
	r := mrand.New(mrand.NewPCG(1, 2))
	for d := range n {
		id := fmt.Sprintf("doc%02d", d)
		doc := storetest.Doc(id)
		doc.Hash = strings.Repeat(fmt.Sprintf("%02x", d), 32)
		var items []mmrag.Item
		var vecs []mmrag.Vector
		blobs := map[string][]byte{}
		for i := range 6 {
			var it mmrag.Item
			if i == 5 {
				img, h := storetest.PNG(id)
				it = storetest.ImageItem(id, i, h, "a picture")
				blobs[h] = img
			} else {
				it = storetest.TextItem(id, i, fmt.Sprintf("text %d of %s", i, id))
				it.Section = []string{"Intro", id}
				it.Meta = map[string]string{"k": id}
			}
			items = append(items, it)
			vecs = append(vecs, mmrag.Vector{ItemID: it.ID, Model: "a", Values: storetest.RandomVector(r, 8)})
			if i%2 == 0 {
				vecs = append(vecs, mmrag.Vector{ItemID: it.ID, Model: "b", Values: storetest.RandomVector(r, 3)})
			}
		}
		if err := s.PutDocument(context.Background(), doc, items, vecs, blobs); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCopyAndVerify(t *testing.T) {
	ctx := context.Background()
	src, dst := openSQLite(t), openSQLite(t)
	fill(t, src, 12)

	var calls []int
	res, err := CopyWith(ctx, dst, src, Options{Workers: 3, Progress: func(done, total int) {
		if total != 12 {
			t.Errorf("progress total %d, want 12", total)
		}
		calls = append(calls, done)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Documents != 12 || res.Items != 72 || res.Vectors != 72+36 || res.Blobs != 12 {
		t.Errorf("result %+v", res)
	}
	for i, c := range calls {
		if c != i+1 {
			t.Fatalf("progress calls %v, want 1…12", calls)
		}
	}
	if err := Verify(ctx, dst, src, 1000); err != nil {
		t.Fatal(err)
	}

	// A second run copies nothing.
	res, err = CopyWith(ctx, dst, src, Options{})
	if err != nil || res.Skipped != 12 || res.Documents != 0 {
		t.Errorf("second run: %+v, %v; want 12 skipped", res, err)
	}

	// A difference is reported.
	if err := dst.DeleteDocument(ctx, "doc03"); err != nil {
		t.Fatal(err)
	}
	err = Verify(ctx, dst, src, 1000)
	if err == nil || !strings.Contains(err.Error(), "documents: source 12, destination 11") {
		t.Errorf("Verify after a delete: %v", err)
	}
}

// An interrupted copy resumes where it stopped.
func TestCopyResumes(t *testing.T) {
	src, dst := openSQLite(t), openSQLite(t)
	fill(t, src, 10)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := CopyWith(ctx, dst, src, Options{Workers: 1, Progress: func(done, _ int) {
		if done == 4 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted copy: %v, want context.Canceled", err)
	}
	st, _ := dst.Stats(context.Background())
	if st.Documents < 4 || st.Documents == 10 {
		t.Fatalf("after the interruption the destination has %d documents", st.Documents)
	}
	res, err := CopyWith(context.Background(), dst, src, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != st.Documents || res.Documents != 10-st.Documents {
		t.Errorf("resumed copy %+v, want %d skipped", res, st.Documents)
	}
	if err := Verify(context.Background(), dst, src, 0); err != nil {
		t.Fatal(err)
	}
}

// sqlite → Weaviate → sqlite, when a server is available (see
// weaviate/weaviate_test.go).
func TestRoundTripWeaviate(t *testing.T) {
	u, port := testenv.Weaviate(t)
	var b [6]byte
	rand.Read(b[:])
	ctx := context.Background()
	w, err := weaviate.Open(ctx, weaviate.Config{URL: u, GRPCPort: port, Prefix: "M" + hex.EncodeToString(b[:]), Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Drop(ctx); w.Close() })

	src, back := openSQLite(t), openSQLite(t)
	fill(t, src, 8)
	if err := Copy(ctx, w, src, nil); err != nil {
		t.Fatal(err)
	}
	if err := Verify(ctx, w, src, 1000); err != nil {
		t.Fatal(err)
	}
	if err := Copy(ctx, back, w, nil); err != nil {
		t.Fatal(err)
	}
	if err := Verify(ctx, back, src, 1000); err != nil {
		t.Fatal(err)
	}
}
