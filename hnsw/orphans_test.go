package hnsw

import (
	"testing"

	"mmrag/hnsw/clipdata"
)

// TestNoOrphans: after batches of inserts like the store's, every live
// node has a ground-layer in-link, the in-link counts kept while inserting
// equal a recount, and nodes are found by their own vector (HNSW promises
// no more: a node with in-links may still sit where no beam search goes;
// at most one probe in a thousand may miss).
func TestNoOrphans(t *testing.T) {
	n := 43000
	if testing.Short() {
		n = 8000
	}
	base, _ := clipdata.Generate(4, n, 0)
	dim := clipdata.Dim
	// Seed 2 left row 70 unreachable before orphans were repaired.
	x, err := New(dim, Config{M: 16, EfConstruction: 100, EfSearch: 200, Seed: 2}, func(id uint32) []float32 { return base[int(id)*dim : (int(id)+1)*dim] })
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 256 {
		var vs [][]float32
		for j := i; j < min(n, i+256); j++ {
			vs = append(vs, base[j*dim:(j+1)*dim])
		}
		if _, err := x.Add(vs); err != nil {
			t.Fatal(err)
		}
	}
	kept := append([]int32(nil), x.indeg...)
	x.countInLinks()
	for id, d := range x.indeg {
		if kept[id] != d {
			t.Fatalf("node %d: %d in-links counted while inserting, %d recounted", id, kept[id], d)
		}
		if d == 0 && uint32(id) != x.entry {
			t.Errorf("node %d has no in-link", id)
		}
	}
	miss := 0
	for r := 0; r < n; r += 7 {
		res, err := x.Search(base[r*dim:(r+1)*dim], 10, 200, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) == 0 || res[0].ID != uint32(r) {
			miss++
			t.Logf("row %d: its own vector found %v", r, res[:min(3, len(res))])
		}
	}
	probes := (n + 6) / 7
	t.Logf("%d nodes, %d probed by their own vector, %d missed", n, probes, miss)
	if miss*1000 > probes {
		t.Errorf("%d of %d nodes not found by their own vector", miss, probes)
	}
}
