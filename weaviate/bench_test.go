package weaviate

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"mmrag"
	"mmrag/sqlite"
	"mmrag/store/storetest"
)

// Throughput of the Weaviate store next to the embedded one on the same
// synthetic data (docs/SCALING.md):
//
//	go test -c -o /tmp/weaviate.test ./weaviate/
//	scripts/weaviate.sh exec sh -c 'cd weaviate && /tmp/weaviate.test -test.run XXX -test.bench . -test.benchtime 100x'
//
// MMRAG_BENCH_ITEMS sets the size of the searched collection (default
// 10000 items of 512 dimensions, 50 per document). Without a server only
// the embedded store runs.

const benchDim, benchPerDoc = 512, 50

func benchDoc(r *mrand.Rand, n int) (mmrag.Document, []mmrag.Item, []mmrag.Vector) {
	id := fmt.Sprintf("bench%06d", n)
	doc := storetest.Doc(id)
	doc.Type = []string{"html", "pdf", "markdown"}[n%3]
	doc.Ingested = storetest.Base.Add(time.Duration(n) * time.Minute)
	items := make([]mmrag.Item, benchPerDoc)
	vecs := make([]mmrag.Vector, benchPerDoc)
	for i := range items {
		items[i] = storetest.TextItem(id, i, fmt.Sprintf("paragraph %d of document %d about subject%d and subject%d", i, n, r.IntN(100), r.IntN(1000)))
		vecs[i] = mmrag.Vector{ItemID: items[i].ID, Model: "bench", Values: storetest.RandomVector(r, benchDim)}
	}
	return doc, items, vecs
}

type benchStore struct {
	name string
	open func(b *testing.B) mmrag.Store
}

func benchStores(b *testing.B) []benchStore {
	stores := []benchStore{{"sqlite", func(b *testing.B) mmrag.Store {
		s, err := sqlite.Open(context.Background(), b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}}}
	if os.Getenv("MMRAG_WEAVIATE_URL") != "" {
		stores = append(stores, benchStore{"weaviate", func(b *testing.B) mmrag.Store { return openTest(b, nil) }})
	}
	return stores
}

// BenchmarkIngest puts documents of 50 512-d text items; items/s is the
// figure to read.
func BenchmarkIngest(b *testing.B) {
	for _, bs := range benchStores(b) {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			r := mrand.New(mrand.NewPCG(1, 1))
			docs := make([]func() error, b.N)
			for n := range b.N {
				doc, items, vecs := benchDoc(r, n)
				docs[n] = func() error { return s.PutDocument(context.Background(), doc, items, vecs, nil) }
			}
			b.ResetTimer()
			for _, put := range docs {
				if err := put(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*benchPerDoc)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

// BenchmarkSearch searches a collection of MMRAG_BENCH_ITEMS items.
func BenchmarkSearch(b *testing.B) {
	total := 10000
	if v, err := strconv.Atoi(os.Getenv("MMRAG_BENCH_ITEMS")); err == nil && v > 0 {
		total = v
	}
	for _, bs := range benchStores(b) {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			ctx := context.Background()
			r := mrand.New(mrand.NewPCG(2, 2))
			t0 := time.Now()
			for n := range total / benchPerDoc {
				doc, items, vecs := benchDoc(r, n)
				if err := s.PutDocument(ctx, doc, items, vecs, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.Logf("%s: ingested %d items in %v (%.0f items/s)", bs.name, total, time.Since(t0), float64(total)/time.Since(t0).Seconds())
			queries := make([][]float32, 64)
			for i := range queries {
				queries[i] = storetest.RandomVector(r, benchDim)
			}
			cases := []struct {
				name string
				run  func(i int) error
			}{
				{"vector-k10", func(i int) error {
					_, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: "bench", Modality: mmrag.Text, Vector: queries[i%64], K: 10})
					return err
				}},
				{"vector-k10-filtered", func(i int) error {
					_, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: "bench", Modality: mmrag.Text, Vector: queries[i%64], K: 10,
						Filter: mmrag.Filter{Types: []string{"pdf"}, Since: storetest.Base.Add(time.Duration(total/benchPerDoc/2) * time.Minute)}})
					return err
				}},
				{"vector-all", func(i int) error {
					_, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: "bench", Modality: mmrag.Text, Vector: queries[i%64]})
					return err
				}},
				{"text-k10", func(i int) error {
					_, err := s.SearchText(ctx, mmrag.TextQuery{Query: fmt.Sprintf("subject%d paragraph", i%100), K: 10})
					return err
				}},
				{"items-by-id", func(i int) error {
					_, err := s.ItemsByID(ctx, []string{fmt.Sprintf("bench%06d#t%d", i%(total/benchPerDoc), i%benchPerDoc)})
					return err
				}},
			}
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) {
					for i := range b.N {
						if err := c.run(i); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
				})
			}
		})
	}
}
