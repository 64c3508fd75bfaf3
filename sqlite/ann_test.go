package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"mmrag"
	"mmrag/hnsw"
	"mmrag/hnsw/clipdata"
	"mmrag/store/storetest"
)

// annDocItems is the number of items of each document of the ANN tests:
// document i holds rows i·annDocItems … of the generated data.
const annDocItems = 100

var annKey = vecKey{storetest.Model, mmrag.Text}

// annTestOptions index from 1 000 rows, with a cheaper build than the
// defaults.
var annTestOptions = ANNOptions{Threshold: 1000, EfConstruction: 100}

// annSize is the collection of the recall tests: 30 000 items, 6 000 under
// the race detector or -short.
func annSize() int {
	if raceEnabled || testing.Short() {
		return 6000
	}
	return 30_000
}

func annDocID(i int) string { return fmt.Sprintf("a%05d", i) }

func annItemID(row int) string {
	return storetest.TextItem(annDocID(row/annDocItems), row%annDocItems, "").ID
}

// putANNDocs stores documents first … last-1 with the rows of base.
func putANNDocs(t testing.TB, s *Store, base []float32, first, last int) {
	t.Helper()
	if err := putANN(s, base, first, last); err != nil {
		t.Fatal(err)
	}
}

// putANN stores documents first … last-1 with the rows of base; every
// tenth document has type "pdf", the others "html".
func putANN(s *Store, base []float32, first, last int) error {
	ctx := context.Background()
	dim := clipdata.Dim
	for i := first; i < last; i++ {
		d := storetest.Doc(annDocID(i))
		d.Type = "html"
		if i%10 == 0 {
			d.Type = "pdf"
		}
		var items []mmrag.Item
		var vecs []mmrag.Vector
		for j := range annDocItems {
			row := i*annDocItems + j
			it := storetest.TextItem(d.ID, j, fmt.Sprintf("passage %d", row))
			items = append(items, it)
			vecs = append(vecs, mmrag.Vector{ItemID: it.ID, Model: storetest.Model, Values: base[row*dim : (row+1)*dim]})
		}
		if err := s.PutDocument(ctx, d, items, vecs, nil); err != nil {
			return fmt.Errorf("put %s: %w", d.ID, err)
		}
	}
	return nil
}

// waitANN triggers the load of the text matrix and waits until its index
// holds every row and is saved.
func waitANN(t testing.TB, s *Store) *annIndex {
	t.Helper()
	q := make([]float32, clipdata.Dim)
	q[0] = 1
	if _, err := s.SearchVectors(context.Background(), mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text, Vector: q, K: 1}); err != nil {
		t.Fatal(err)
	}
	for {
		s.vec.mu.RLock()
		var a *annIndex
		ready := false
		if m := s.vec.m[annKey]; m != nil && m.ann != nil {
			a = m.ann
			a.mu.RLock()
			ready = len(a.pending) == 0 && !a.saveDue
			a.mu.RUnlock()
		}
		s.vec.mu.RUnlock()
		if ready {
			return a
		}
		select {
		case <-t.(interface{ Context() context.Context }).Context().Done():
			t.Fatal("test ended before the index was ready")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func openANN(t testing.TB, dir string, o ANNOptions) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, WithANN(o))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func closeStore(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func vq(q []float32, k int, approx bool, f mmrag.Filter) mmrag.VectorQuery {
	return mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text, Vector: q, K: k, Filter: f, Approximate: approx}
}

func search(t testing.TB, s *Store, q mmrag.VectorQuery) []mmrag.Hit {
	t.Helper()
	hits, err := s.SearchVectors(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestANNSearch checks, through SearchVectors, the recall of the index
// against the exact scan, unfiltered and with a broad filter, that a
// selective filter is answered exactly, and that the searches that do not
// ask for an approximate answer are the exact scan's, bit for bit.
func TestANNSearch(t *testing.T) {
	n := annSize()
	base, queries := clipdata.Generate(1, n, 200)
	dir := t.TempDir()
	s := openANN(t, dir, annTestOptions)
	defer closeStore(t, s)
	putANNDocs(t, s, base, 0, n/annDocItems)
	a := waitANN(t, s)
	if a.rebuilt == nil {
		t.Fatal("a new store loaded an index, want a build")
	}
	exactStore := openANN(t, dir, ANNOptions{Off: true})
	defer closeStore(t, exactStore)

	html := mmrag.Filter{Types: []string{"html"}}
	few := mmrag.Filter{DocIDs: []string{annDocID(3), annDocID(7), annDocID(11)}}
	cases := []struct {
		name      string
		filter    mmrag.Filter
		useIndex  bool
		minRecall float64
	}{
		{"unfiltered", mmrag.Filter{}, true, 0.95},
		{"nine tenths", html, true, 0.95},
		{"three documents", few, false, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := a.searches.Load()
			found, total := 0, 0
			for i := range len(queries) / clipdata.Dim {
				q := queries[i*clipdata.Dim : (i+1)*clipdata.Dim]
				exact := search(t, s, vq(q, 10, false, c.filter))
				approx := search(t, s, vq(q, 10, true, c.filter))
				if len(approx) != len(exact) {
					t.Fatalf("query %d: %d approximate hits, %d exact", i, len(approx), len(exact))
				}
				for _, h := range approx {
					total++
					if slices.ContainsFunc(exact, func(e mmrag.Hit) bool { return e == h }) {
						found++
					}
					checkFilter(t, h.ItemID, c.filter)
				}
			}
			recall := float64(found) / float64(total)
			t.Logf("recall@10 %.4f over %d queries, %d rows", recall, len(queries)/clipdata.Dim, n)
			if recall < c.minRecall {
				t.Errorf("recall@10 = %.4f, want ≥ %.2f", recall, c.minRecall)
			}
			if used := a.searches.Load() > before; used != c.useIndex {
				t.Errorf("index used: %v, want %v", used, c.useIndex)
			}
		})
	}

	t.Run("exact queries unchanged", func(t *testing.T) {
		for i := range 20 {
			q := queries[i*clipdata.Dim : (i+1)*clipdata.Dim]
			for _, k := range []int{0, 10, 200} {
				got := search(t, s, vq(q, k, false, mmrag.Filter{}))
				want := search(t, exactStore, vq(q, k, false, mmrag.Filter{}))
				if !slices.Equal(got, want) {
					t.Fatalf("query %d, K %d: %d hits with the index on differ from the %d with it off", i, k, len(got), len(want))
				}
			}
		}
	})
}

// checkFilter fails unless the document of item id passes f's types and
// document IDs.
func checkFilter(t *testing.T, id string, f mmrag.Filter) {
	t.Helper()
	doc := annDocOf(t, id)
	typ := "html"
	if doc%10 == 0 {
		typ = "pdf"
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, typ) {
		t.Errorf("hit %s of type %s passed the filter %v", id, typ, f.Types)
	}
	if len(f.DocIDs) > 0 && !slices.Contains(f.DocIDs, annDocID(doc)) {
		t.Errorf("hit %s passed the filter %v", id, f.DocIDs)
	}
}

// annDocOf returns the document number of an item of the ANN tests.
func annDocOf(t *testing.T, id string) int {
	var doc int
	if _, err := fmt.Sscanf(id, "a%05d#", &doc); err != nil {
		t.Errorf("item %s: %v", id, err)
	}
	return doc
}

// TestANNPersistence follows one store through deletes, reopenings, a
// writer without the index, and damaged index files.
func TestANNPersistence(t *testing.T) {
	ndocs := 30
	if !testing.Short() && !raceEnabled {
		ndocs = 60
	}
	n := ndocs * annDocItems
	base, _ := clipdata.Generate(2, n+2*annDocItems, 0)
	dim := clipdata.Dim
	row := func(r int) []float32 { return base[r*dim : (r+1)*dim] }
	dir := t.TempDir()
	graph, items := annPaths(dir, annKey)

	s := openANN(t, dir, annTestOptions)
	putANNDocs(t, s, base, 0, ndocs)
	waitANN(t, s)
	if _, err := os.Stat(graph); err != nil {
		t.Fatalf("no index file after the build: %v", err)
	}
	deleted := []int{2, 5, 17}
	for _, d := range deleted {
		if err := s.DeleteDocument(t.Context(), annDocID(d)); err != nil {
			t.Fatal(err)
		}
	}
	checkANN(t, s, row, ndocs, deleted)
	closeStore(t, s)

	t.Run("reopened", func(t *testing.T) {
		s := openANN(t, dir, annTestOptions)
		defer closeStore(t, s)
		a := waitANN(t, s)
		if a.rebuilt != nil {
			t.Fatalf("index rebuilt: %v, want it loaded", a.rebuilt)
		}
		checkANN(t, s, row, ndocs, deleted)
	})

	t.Run("replayed", func(t *testing.T) {
		// Another process without the index adds a document and deletes
		// one: the saved index is behind the change log.
		w := openANN(t, dir, ANNOptions{Off: true})
		putANNDocs(t, w, base, ndocs, ndocs+1)
		if err := w.DeleteDocument(t.Context(), annDocID(9)); err != nil {
			t.Fatal(err)
		}
		closeStore(t, w)
		deleted = append(deleted, 9)
		ndocs++

		s := openANN(t, dir, annTestOptions)
		defer closeStore(t, s)
		a := waitANN(t, s)
		if a.rebuilt != nil {
			t.Fatalf("index rebuilt: %v, want it loaded and replayed", a.rebuilt)
		}
		checkANN(t, s, row, ndocs, deleted)
	})

	damage := []struct {
		name string
		do   func() error
		want error
	}{
		{"truncated graph", func() error { return truncateFile(graph) }, hnsw.ErrCorrupt},
		{"flipped side file", func() error { return flipByte(items) }, hnsw.ErrCorrupt},
		{"graph without side file", func() error { return os.Remove(items) }, os.ErrNotExist},
		{"log pruned past the index", pruneLog(t, dir, base, ndocs), errStaleIndex},
	}
	for _, c := range damage {
		t.Run(c.name, func(t *testing.T) {
			if err := c.do(); err != nil {
				t.Fatal(err)
			}
			s := openANN(t, dir, annTestOptions)
			defer closeStore(t, s)
			a := waitANN(t, s)
			if !errors.Is(a.rebuilt, c.want) {
				t.Fatalf("index rebuilt because %v, want %v", a.rebuilt, c.want)
			}
			checkANN(t, s, row, ndocs, deleted)
		})
	}
}

// checkANN searches the vector of one item of every document: a live
// document's item must come first, a deleted document's never.
func checkANN(t *testing.T, s *Store, row func(int) []float32, ndocs int, deleted []int) {
	t.Helper()
	for d := range ndocs {
		r := d*annDocItems + d%annDocItems
		hits := search(t, s, vq(row(r), 10, true, mmrag.Filter{}))
		gone := slices.Contains(deleted, d)
		for _, h := range hits {
			if gone && h.ItemID[:6] == annDocID(d) {
				t.Fatalf("search returned %s of deleted document %s", h.ItemID, annDocID(d))
			}
		}
		if !gone && (len(hits) == 0 || hits[0].ItemID != annItemID(r)) {
			t.Fatalf("search for the vector of %s returned %v first", annItemID(r), hitIDs(hits[:min(1, len(hits))]))
		}
	}
}

func truncateFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.Truncate(path, st.Size()/2)
}

func flipByte(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b[len(b)/2] ^= 0x40
	return os.WriteFile(path, b, 0o644)
}

// pruneLog returns a damage that saves a fresh index and then makes more
// commits than the change log keeps, without the index.
func pruneLog(t *testing.T, dir string, base []float32, ndocs int) func() error {
	return func() error {
		s := openANN(t, dir, annTestOptions)
		waitANN(t, s)
		closeStore(t, s)
		old := keepChanges
		keepChanges = 2
		defer func() { keepChanges = old }()
		w := openANN(t, dir, ANNOptions{Off: true})
		defer closeStore(t, w)
		for range 3 {
			putANNDocs(t, w, base, ndocs-1, ndocs)
		}
		return nil
	}
}

// TestANNConcurrent searches while a writer puts and deletes documents: a
// search never returns an item of a document deleted before it began, and
// finds (first) an item of a document put before it began and not yet
// being deleted when it ended.
func TestANNConcurrent(t *testing.T) {
	const ndocs, extra = 20, 10
	base, _ := clipdata.Generate(3, (ndocs+extra)*annDocItems, 0)
	dim := clipdata.Dim
	s := openANN(t, t.TempDir(), annTestOptions)
	defer closeStore(t, s)
	putANNDocs(t, s, base, 0, ndocs)
	waitANN(t, s)

	const (
		absent = iota
		stored
		deleting
		deleted
	)
	var mu sync.Mutex
	state := make([]int, ndocs+extra)
	for d := range ndocs {
		state[d] = stored
	}
	set := func(d, st int) {
		mu.Lock()
		state[d] = st
		mu.Unlock()
	}
	snapshot := func() []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(state)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for d := ndocs; d < ndocs+extra; d++ {
			if err := putANN(s, base, d, d+1); err != nil {
				t.Error(err)
				return
			}
			set(d, stored)
			victim := d - ndocs + 1
			set(victim, deleting)
			if err := s.DeleteDocument(context.Background(), annDocID(victim)); err != nil {
				t.Error(err)
				return
			}
			set(victim, deleted)
		}
	})
	for w := range 2 {
		wg.Go(func() {
			for i := w; ; i += 2 {
				select {
				case <-done:
					return
				default:
				}
				before := snapshot()
				d := i % len(before)
				r := d*annDocItems + i%annDocItems
				hits, err := s.SearchVectors(context.Background(), vq(base[r*dim:(r+1)*dim], 10, true, mmrag.Filter{}))
				if err != nil {
					t.Error(err)
					return
				}
				for _, h := range hits {
					if before[annDocOf(t, h.ItemID)] == deleted {
						t.Errorf("search returned %s of a deleted document", h.ItemID)
					}
				}
				if before[d] == stored && snapshot()[d] == stored && (len(hits) == 0 || hits[0].ItemID != annItemID(r)) {
					t.Errorf("search for the vector of stored %s returned %v", annItemID(r), hitIDs(hits))
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkANNSearch compares, through SearchVectors, the exact scan with
// the index on 30 000 CLIP-like items (top 10, no filter).
func BenchmarkANNSearch(b *testing.B) {
	const n = 30_000
	base, queries := clipdata.Generate(1, n, 200)
	s := openANN(b, b.TempDir(), ANNOptions{Threshold: 1000})
	defer closeStore(b, s)
	putANNDocs(b, s, base, 0, n/annDocItems)
	waitANN(b, s)
	nq := len(queries) / clipdata.Dim
	for _, approx := range []bool{false, true} {
		b.Run(fmt.Sprint("approximate=", approx), func(b *testing.B) {
			i := 0
			for b.Loop() {
				q := queries[(i%nq)*clipdata.Dim : (i%nq+1)*clipdata.Dim]
				search(b, s, vq(q, 10, approx, mmrag.Filter{}))
				i++
			}
		})
	}
}
