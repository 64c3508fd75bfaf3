package retrieve

import (
	"context"
	"fmt"
	"math"
	"testing"

	"mmrag"
	"mmrag/sqlite"
	"mmrag/store"
	"mmrag/store/storetest"
)

const testModel = "test-clip"

// fakeCLIP returns fixed vectors for known queries: it stands in for CLIP's
// text tower so that the code around it can be checked exactly.
type fakeCLIP struct {
	id    string
	vecs  map[string][]float32
	calls int
}

func (f *fakeCLIP) ModelID() string { return f.id }

func (f *fakeCLIP) TextProjections(_ context.Context, texts []string) ([][]float32, error) {
	f.calls++
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v, ok := f.vecs[t]
		if !ok {
			return nil, fmt.Errorf("fake embedder: no vector for %q", t)
		}
		out[i] = append([]float32(nil), v...)
	}
	return out, nil
}

// fakeText is a dedicated text embedder with fixed, normalised vectors.
type fakeText struct{ fakeCLIP }

func (f *fakeText) EmbedTexts(ctx context.Context, texts []string) ([][]float32, error) {
	v, err := f.TextProjections(ctx, texts)
	for _, x := range v {
		copy(x, store.Normalized(x))
	}
	return v, err
}

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// entry is an item with its (unnormalised) vector under testModel.
type entry struct {
	item mmrag.Item
	vec  []float32
}

func text(doc string, pos int, s string, vec ...float32) entry {
	return entry{storetest.TextItem(doc, pos, s), vec}
}

func img(doc string, pos int, blobSeed, caption string, vec ...float32) entry {
	_, hash := storetest.PNG(blobSeed)
	it := storetest.ImageItem(doc, pos, hash, caption)
	it.Meta = map[string]string{"seed": blobSeed}
	return entry{it, vec}
}

// put stores a document with its entries; vectors are normalised as every
// stored vector is.
func put(t testing.TB, s mmrag.Store, doc mmrag.Document, es ...entry) {
	t.Helper()
	var items []mmrag.Item
	var vecs []mmrag.Vector
	blobs := map[string][]byte{}
	for _, e := range es {
		items = append(items, e.item)
		if e.vec != nil {
			vecs = append(vecs, mmrag.Vector{ItemID: e.item.ID, Model: testModel, Values: store.Normalized(e.vec)})
		}
		if e.item.BlobHash != "" {
			b, h := storetest.PNG(e.item.Meta["seed"])
			blobs[h] = b
		}
	}
	if err := s.PutDocument(context.Background(), doc, items, vecs, blobs); err != nil {
		t.Fatalf("put %s: %v", doc.ID, err)
	}
}

func scale(v []float32, f float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * f
	}
	return out
}

// directSoftmax is the textbook computation the package must match:
// exp(q·e/T) / Σ exp(q·e/T) in float64 over normalised e, no tricks. It
// overflows for large logits, so callers keep them moderate.
func directSoftmax(q []float32, es [][]float32, temp float64) []float64 {
	out := make([]float64, len(es))
	var sum float64
	for i, e := range es {
		out[i] = math.Exp(store.Dot64(q, store.Normalized(e)) / temp)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func ids(rs []Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Item.ID
	}
	return out
}
