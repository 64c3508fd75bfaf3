package sqlite

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"mmrag"
	"mmrag/store/storetest"
)

// BenchmarkChangeCheck reports what a vector search pays to learn that no
// other writer committed: sync with nothing to catch up.
func BenchmarkChangeCheck(b *testing.B) {
	s := openTemp(b)
	fillStore(b, s, 100)
	if _, err := s.SearchVectors(b.Context(), mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text,
		Vector: storetest.RandomVector(rand.New(rand.NewPCG(1, 2)), benchDim), K: 1}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := s.sync(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCatchUp reports how long a search waits for a document of 1000
// 512-d items that another Store replaced, in a store whose text matrix
// holds 100 000 rows (99 000 injected in memory, so that nothing but the
// changed document has to be written to SQLite).
func BenchmarkCatchUp(b *testing.B) {
	const docItems = 1000
	reader := openTemp(b)
	writer, err := Open(b.Context(), reader.Dir())
	if err != nil {
		b.Fatal(err)
	}
	defer writer.Close()
	injectMatrix(reader, 100_000-docItems)
	r := rand.New(rand.NewPCG(5, 5))
	put := func(tag string) {
		d := storetest.Doc("changed")
		var items []mmrag.Item
		var vecs []mmrag.Vector
		for i := range docItems {
			it := storetest.TextItem("changed", i, fmt.Sprintf("%s item %d", tag, i))
			items = append(items, it)
			vecs = append(vecs, mmrag.Vector{ItemID: it.ID, Model: storetest.Model, Values: storetest.RandomVector(r, benchDim)})
		}
		if err := writer.PutDocument(b.Context(), d, items, vecs, nil); err != nil {
			b.Fatal(err)
		}
	}
	// The first catch-up after a load grows the matrix past its capacity:
	// a copy of all 100 000 rows, as the first put of this Store would.
	// Measured apart.
	put("v0")
	start := time.Now()
	if err := reader.sync(b.Context()); err != nil {
		b.Fatal(err)
	}
	first := time.Since(start)
	i := 1
	for b.Loop() {
		b.StopTimer()
		put(fmt.Sprint("v", i))
		i++
		b.StartTimer()
		if err := reader.sync(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(first.Milliseconds()), "first-ms")
	reader.vec.mu.RLock()
	rows := reader.vec.m[vecKey{storetest.Model, mmrag.Text}].rows()
	reloaded := reader.vec.reloadedDocs
	reader.vec.mu.RUnlock()
	if rows != 100_000 || reloaded != i {
		b.Fatalf("matrix holds %d rows after %d reloads of %d puts, want 100000 rows", rows, reloaded, i)
	}
}
