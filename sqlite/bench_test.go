package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"mmrag"
	"mmrag/store/storetest"
)

const benchDim = 512

// fillStore puts n items with benchDim-d vectors through PutDocument, in
// documents of 10 000 items.
func fillStore(b *testing.B, s *Store, n int) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 1))
	const perDoc = 10_000
	for d := 0; d*perDoc < n; d++ {
		id := fmt.Sprintf("d%04d", d)
		doc := storetest.Doc(id)
		doc.Ingested = storetest.Base.Add(time.Duration(d) * time.Hour)
		var items []mmrag.Item
		var vecs []mmrag.Vector
		for i := 0; i < perDoc && d*perDoc+i < n; i++ {
			it := storetest.TextItem(id, i, fmt.Sprintf("item %d of %s", i, id))
			items = append(items, it)
			vecs = append(vecs, mmrag.Vector{ItemID: it.ID, Model: storetest.Model, Values: storetest.RandomVector(r, benchDim)})
		}
		if err := s.PutDocument(b.Context(), doc, items, vecs, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// injectMatrix fills the text matrix of an empty store directly with n
// random rows, in documents of 10 000: it measures the search itself without
// writing 2 GiB to SQLite first.
func injectMatrix(s *Store, n int) {
	r := rand.New(rand.NewPCG(2, 2))
	m := &matrix{dim: benchDim, docPos: map[string]int32{}, data: make([]float32, 0, n*benchDim)}
	for i := range n {
		d := i / 10_000
		meta := &docMeta{id: fmt.Sprintf("d%04d", d), source: "/data/" + fmt.Sprint(d), typ: "html",
			ingested: storetest.Base.Add(time.Duration(d) * time.Hour).UnixNano(), hasIngested: true}
		if di, ok := m.docPos[meta.id]; ok {
			meta = m.docs[di]
		}
		m.add(meta, fmt.Sprintf("%s#t%d", meta.id, i), storetest.RandomVector(r, benchDim))
	}
	s.vec.mu.Lock()
	s.vec.m[vecKey{storetest.Model, mmrag.Text}] = m
	s.vec.mu.Unlock()
}

// BenchmarkSearchVectors reports ms/query over n random 512-d vectors:
// 100k put through the store (the matrix loads before the timer), 1M
// injected in memory.
func BenchmarkSearchVectors(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			s := openTemp(b)
			if n <= 100_000 {
				fillStore(b, s, n)
			} else {
				injectMatrix(s, n)
			}
			r := rand.New(rand.NewPCG(3, 3))
			q := storetest.RandomVector(r, benchDim)
			// softmax: what the reference scoring asks of the store, the
			// 2k+8 best hits (k = 15) and the softmax's sum over all rows.
			cases := []struct {
				name    string
				k       int
				f       mmrag.Filter
				softmax bool
			}{
				{"K=10", 10, mmrag.Filter{}, false},
				{"K=all", 0, mmrag.Filter{}, false},
				{"softmax/K=38", 38, mmrag.Filter{}, true},
				{"K=10/filter=half", 10, mmrag.Filter{Since: storetest.Base.Add(time.Duration(n/20_000) * time.Hour)}, false},
			}
			for _, tc := range cases {
				b.Run(tc.name, func(b *testing.B) {
					vq := mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text, Vector: q, K: tc.k, Filter: tc.f}
					search := s.SearchVectors
					if tc.softmax {
						search = func(ctx context.Context, q mmrag.VectorQuery) ([]mmrag.Hit, error) {
							hits, _, err := s.SearchSoftmax(ctx, q, 0.25)
							return hits, err
						}
					}
					if _, err := search(b.Context(), vq); err != nil { // loads the matrix
						b.Fatal(err)
					}
					start := time.Now()
					queries := 0
					for b.Loop() {
						hits, err := search(b.Context(), vq)
						if err != nil || len(hits) == 0 {
							b.Fatalf("%d hits, %v", len(hits), err)
						}
						queries++
					}
					b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(queries), "ms/query")
				})
			}
		})
	}
}

// BenchmarkLoadMatrix reports how long the first search waits for 100k
// 512-d vectors to load from SQLite.
func BenchmarkLoadMatrix(b *testing.B) {
	s := openTemp(b)
	fillStore(b, s, 100_000)
	q := storetest.RandomVector(rand.New(rand.NewPCG(4, 4)), benchDim)
	for b.Loop() {
		s.vec.reset()
		if _, err := s.SearchVectors(b.Context(), mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text, Vector: q, K: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutDocument reports items/s for documents of 1000 text items and
// 50 images, each with a 512-d vector: new documents, and documents
// replacing an earlier version of themselves.
func BenchmarkPutDocument(b *testing.B) {
	for _, replace := range []bool{false, true} {
		b.Run(map[bool]string{false: "new", true: "replace"}[replace], func(b *testing.B) {
			s := openTemp(b)
			r := rand.New(rand.NewPCG(5, 5))
			const variants = 4
			type fixture struct {
				items []mmrag.Item
				vecs  []mmrag.Vector
				blobs map[string][]byte
			}
			var fx []fixture
			for v := range variants {
				_, items, vecs, blobs := doc("p", fmt.Sprint("t", v), 1000, benchDim, r)
				fx = append(fx, fixture{items[:1050], vecs[:1050], blobs})
			}
			start := time.Now()
			n := 0
			for i := 0; b.Loop(); i++ {
				f := fx[i%variants]
				d := storetest.Doc("p")
				items := f.items
				if !replace {
					// Item IDs are global: rename them for a new document.
					d = storetest.Doc(fmt.Sprint("p", i))
					items = make([]mmrag.Item, len(f.items))
					for j, it := range f.items {
						it.ID = fmt.Sprint(d.ID, "/", it.ID)
						it.DocID = d.ID
						items[j] = it
					}
				}
				vecs := make([]mmrag.Vector, len(f.vecs))
				for j, v := range f.vecs {
					v.ItemID = items[j].ID
					vecs[j] = v
				}
				if err := s.PutDocument(b.Context(), d, items, vecs, f.blobs); err != nil {
					b.Fatal(err)
				}
				n += len(items)
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "items/s")
		})
	}
}
