package hnsw

import (
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"mmrag/hnsw/clipdata"
)

// TestConcurrentUse runs searches while batches are added and nodes
// deleted (run it with -race): every result is a node that existed and
// was not deleted before the search began or is one added meanwhile.
func TestConcurrentUse(t *testing.T) {
	const n, batches, per = 1500, 4, 100
	base, queries := clipdata.Generate(clipdata.Seed+4, n+batches*per, 20)
	dim := clipdata.Dim
	vec := func(id uint32) []float32 { return base[int(id)*dim : (int(id)+1)*dim] }
	idx, err := New(dim, Config{M: 8, EfConstruction: 60, Workers: 2}, vec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idx.Add(rows(base[:n*dim], dim)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		r := rand.New(rand.NewPCG(5, 5))
		for b := range batches {
			lo := (n + b*per) * dim
			if _, err := idx.Add(rows(base[lo:lo+per*dim], dim)); err != nil {
				t.Error(err)
				return
			}
			if err := idx.Delete(uint32(r.IntN(n)), uint32(r.IntN(n))); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for i := range 200 {
				q := queries[(i%20)*dim : (i%20+1)*dim]
				res, err := idx.Search(q, 10, 32, nil)
				if err != nil || len(res) == 0 {
					t.Errorf("search: %d results, %v", len(res), err)
					return
				}
				for _, r := range res {
					if int(r.ID) >= n+batches*per {
						t.Errorf("result %d is no node", r.ID)
					}
				}
			}
		})
	}
	wg.Wait()
	if got := idx.Len(); got != n+batches*per {
		t.Errorf("Len = %d, want %d", got, n+batches*per)
	}
	for i := range 20 {
		res, _ := idx.Search(queries[i*dim:(i+1)*dim], 10, 32, nil)
		for _, r := range res {
			if idx.IsDeleted(r.ID) {
				t.Fatalf("deleted node %d returned", r.ID)
			}
		}
	}
}

// TestEmptyIndexRoundTrip saves and loads an index with no nodes.
func TestEmptyIndexRoundTrip(t *testing.T) {
	idx, err := New(8, Config{M: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "empty.hnsw")
	if err := idx.Save(path, 3); err != nil {
		t.Fatal(err)
	}
	got, seq, err := Load(path, nil, 1)
	if err != nil || seq != 3 || got.Len() != 0 || got.Dim() != 8 {
		t.Fatalf("Load = %v, seq %d, %v", got, seq, err)
	}
	if _, err := got.Add([][]float32{{1, 0, 0, 0, 0, 0, 0, 0}}); err != nil {
		t.Fatal(err)
	}
	if res, err := got.Search([]float32{1, 0, 0, 0, 0, 0, 0, 0}, 1, 0, nil); err != nil || len(res) != 1 || res[0].ID != 0 {
		t.Fatalf("search after load and add: %v, %v", res, err)
	}
}

func BenchmarkSearch(b *testing.B) {
	const n = 10_000
	base, queries := clipdata.Generate(clipdata.Seed, n, 100)
	dim := clipdata.Dim
	idx, err := New(dim, Config{M: 16, EfConstruction: 100, Workers: 2}, func(id uint32) []float32 { return base[int(id)*dim : (int(id)+1)*dim] })
	if err != nil {
		b.Fatal(err)
	}
	if _, err := idx.Add(rows(base, dim)); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if _, err := idx.Search(queries[(i%100)*dim:(i%100+1)*dim], 10, 64, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
