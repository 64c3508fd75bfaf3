package sqlite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"mmrag"
	"mmrag/store/storetest"
)

const crossDim = 8

// crossQueries are the vector searches the cross-store tests compare: both
// modalities, top 3 and the whole collection (K ≤ 0, what reference scoring
// asks for), with and without a filter.
func crossQueries() []mmrag.VectorQuery {
	r := rand.New(rand.NewPCG(11, 11))
	var qs []mmrag.VectorQuery
	vecs := [][]float32{storetest.RandomVector(r, crossDim), storetest.RandomVector(r, crossDim)}
	for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
		for _, v := range vecs {
			for _, f := range []mmrag.Filter{{}, {DocIDs: []string{"x", "y"}}} {
				for _, k := range []int{3, 0} {
					qs = append(qs, mmrag.VectorQuery{Model: storetest.Model, Modality: m, Vector: v, K: k, Filter: f})
				}
			}
		}
	}
	return qs
}

// searchAll runs every query of crossQueries on s.
func searchAll(ctx context.Context, s *Store) ([][]mmrag.Hit, error) {
	var out [][]mmrag.Hit
	for _, q := range crossQueries() {
		h, err := s.SearchVectors(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// checkLikeFresh fails the test unless s answers every query of
// crossQueries as a store freshly opened on its folder does: the matrices
// of s, patched and reloaded, hold what the database holds.
func checkLikeFresh(t *testing.T, s *Store, what string) {
	t.Helper()
	ctx := t.Context()
	got, err := searchAll(ctx, s)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	fresh, err := Open(ctx, s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	want, err := searchAll(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	qs := crossQueries()
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("%s: query %d (%s, K=%d, filter %v) gives %v, a fresh store %v",
				what, i, qs[i].Modality, qs[i].K, qs[i].Filter.DocIDs, hitIDs(got[i]), hitIDs(want[i]))
		}
	}
}

// crossOp is a write through one of two stores.
type crossOp struct {
	name  string
	on    string // "A" or "B"
	del   bool   // DeleteDocument, else PutDocument
	id    string
	items int
}

func (op crossOp) run(ctx context.Context, s *Store, seed uint64) error {
	if op.del {
		return s.DeleteDocument(ctx, op.id)
	}
	d, items, vecs, blobs := doc(op.id, op.name, op.items, crossDim, rand.New(rand.NewPCG(seed, seed)))
	return s.PutDocument(ctx, d, items, vecs, blobs)
}

// TestCrossStoreVectors writes through one Store and searches through
// another opened on the same folder, as two processes do: the second must
// find what the first committed by vector, stop finding what it deleted and
// rank a replaced document by its new vectors.
func TestCrossStoreVectors(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	stores := map[string]*Store{}
	for _, name := range []string{"A", "B"} {
		s, err := Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[name] = s
	}
	a, b := stores["A"], stores["B"]
	if _, err := searchAll(ctx, b); err != nil { // B loads its matrices, empty
		t.Fatal(err)
	}
	ops := []crossOp{
		{name: "put x", on: "A", id: "x", items: 12},
		{name: "put y", on: "A", id: "y", items: 5},
		{name: "replace x", on: "A", id: "x", items: 9},
		{name: "delete y", on: "A", del: true, id: "y"},
		{name: "B puts z", on: "B", id: "z", items: 4},
		{name: "replace x again", on: "A", id: "x", items: 3},
		{name: "B replaces x", on: "B", id: "x", items: 6},
		{name: "put y again", on: "A", id: "y", items: 7},
		{name: "B deletes x", on: "B", del: true, id: "x"},
		{name: "delete z", on: "A", del: true, id: "z"},
	}
	for i, op := range ops {
		if err := op.run(ctx, stores[op.on], uint64(i)); err != nil {
			t.Fatalf("%s: %v", op.name, err)
		}
		checkLikeFresh(t, b, op.name+", searched through B")
		checkLikeFresh(t, a, op.name+", searched through A")
	}
}

// TestCrossStoreFindsNewItem checks the first symptom directly: an item
// another Store committed is found by its own vector, top of the list.
func TestCrossStoreFindsNewItem(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	a, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r := rand.New(rand.NewPCG(12, 12))
	d, items, vecs, blobs := doc("old", "v", 20, crossDim, r)
	if err := a.PutDocument(ctx, d, items, vecs, blobs); err != nil {
		t.Fatal(err)
	}
	q := vecs[0].Values
	if _, err := b.SearchVectors(ctx, mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text, Vector: q, K: 1}); err != nil {
		t.Fatal(err)
	}
	it := storetest.TextItem("new", 0, "new item")
	if err := a.PutDocument(ctx, storetest.Doc("new"), []mmrag.Item{it},
		[]mmrag.Vector{{ItemID: it.ID, Model: storetest.Model, Values: q}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{1, 0} {
		hits, err := b.SearchVectors(ctx, mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text, Vector: q, K: k})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(hitIDs(hits), it.ID) {
			t.Errorf("K=%d: B does not find %s, which A committed: %v", k, it.ID, hitIDs(hits))
		}
	}
	if err := a.DeleteDocument(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	hits, err := b.SearchVectors(ctx, mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text, Vector: q})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(hitIDs(hits), it.ID) {
		t.Errorf("B still finds %s, which A deleted", it.ID)
	}
}

// TestCrossProcessVectors is TestCrossStoreVectors with a real second
// process writing.
func TestCrossProcessVectors(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := searchAll(ctx, s); err != nil {
		t.Fatal(err)
	}
	w := startHelper(t, "writer", dir)
	steps := []string{
		"put x one 12 8 1",
		"put y two 5 8 2",
		"put x three 9 8 3",
		"del y",
	}
	for _, st := range steps {
		w.run(t, "%s", st)
		checkLikeFresh(t, s, st)
	}
}

// TestCrossStoreConcurrent searches through B while A and B write, then
// checks that both end up holding what the database holds.
func TestCrossStoreConcurrent(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	a, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := searchAll(ctx, b); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	writer := func(s *Store, seed uint64) {
		r := rand.New(rand.NewPCG(seed, seed))
		for i := range 25 {
			op := crossOp{name: fmt.Sprint("w", seed, "-", i), id: fmt.Sprintf("d%d", r.IntN(4)), items: 1 + r.IntN(10), del: r.IntN(4) == 0}
			if err := op.run(ctx, s, seed*100+uint64(i)); err != nil && !errors.Is(err, mmrag.ErrNotFound) {
				errs <- err
				return
			}
		}
	}
	var writers sync.WaitGroup
	writers.Go(func() { writer(a, 1) })
	writers.Go(func() { writer(b, 2) })
	writers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkLikeFresh(t, b, "B after the writes")
	checkLikeFresh(t, a, "A after the writes")
}

// TestCatchUpReadsOnlyOthers checks what catching up reads: the documents
// other writers changed, never this Store's own commits, and everything once
// the log no longer reaches back to what the matrices hold.
func TestCatchUpReadsOnlyOthers(t *testing.T) {
	defer func(k int64) { keepChanges = k }(keepChanges)
	keepChanges = 6
	ctx := t.Context()
	dir := t.TempDir()
	stores := map[string]*Store{}
	for _, name := range []string{"A", "B"} {
		s, err := Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[name] = s
	}
	b := stores["B"]
	if _, err := searchAll(ctx, b); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name                   string
		ops                    []crossOp
		wantReloaded, wantFull int // added by the step
	}{
		{"own puts", []crossOp{{on: "B", id: "z", items: 3}, {on: "B", id: "w", items: 2}}, 0, 0},
		{"own delete", []crossOp{{on: "B", del: true, id: "w"}}, 0, 0},
		{"other puts", []crossOp{{on: "A", id: "x", items: 4}, {on: "A", id: "y", items: 2}, {on: "A", id: "x", items: 5}}, 2, 0},
		{"other delete", []crossOp{{on: "A", del: true, id: "y"}}, 1, 0},
		{"interleaved", []crossOp{{on: "B", id: "u", items: 2}, {on: "A", id: "v", items: 3}, {on: "B", id: "u", items: 1}}, 1, 0},
		{"ours after theirs", []crossOp{{on: "A", id: "x", items: 2}, {on: "B", id: "x", items: 3}}, 0, 0},
		{"no change", nil, 0, 0},
		{"log pruned", []crossOp{
			{on: "A", id: "p1", items: 1}, {on: "A", id: "p2", items: 1}, {on: "A", id: "p3", items: 1}, {on: "A", id: "p4", items: 1},
			{on: "A", id: "p5", items: 1}, {on: "A", id: "p6", items: 1}, {on: "A", id: "p7", items: 1}, {on: "A", id: "p8", items: 1},
		}, 0, 1},
	}
	for i, st := range steps {
		b.vec.mu.RLock()
		reloaded, full := b.vec.reloadedDocs, b.vec.fullReloads
		b.vec.mu.RUnlock()
		for j, op := range st.ops {
			op.name = st.name
			if err := op.run(ctx, stores[op.on], uint64(i*10+j)); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		checkLikeFresh(t, b, st.name)
		b.vec.mu.RLock()
		reloaded, full = b.vec.reloadedDocs-reloaded, b.vec.fullReloads-full
		b.vec.mu.RUnlock()
		if reloaded != st.wantReloaded || full != st.wantFull {
			t.Errorf("%s: B read %d changed documents and %d times everything, want %d and %d",
				st.name, reloaded, full, st.wantReloaded, st.wantFull)
		}
	}
}

// TestCatchUpRaces commits at the two places where this Store's own writes
// and catching up with another writer's interleave: between the catch-up's
// read and its patch, and between an own commit and its patch.
func TestCatchUpRaces(t *testing.T) {
	tests := []struct {
		name string
		// hook is where the interleaved write happens.
		hook *func()
		// first is written before the search; during runs in the hook.
		first, during crossOp
	}{
		{"own put during catch-up", &testHookCatchUpRead, crossOp{on: "A", id: "x", items: 4}, crossOp{on: "B", id: "x", items: 2}},
		{"own delete during catch-up", &testHookCatchUpRead, crossOp{on: "A", id: "x", items: 4}, crossOp{on: "B", del: true, id: "x"}},
		{"other put during catch-up", &testHookCatchUpRead, crossOp{on: "A", id: "x", items: 4}, crossOp{on: "A", id: "x", items: 6}},
		{"other put before own patch", &testHookAfterCommit, crossOp{on: "B", id: "x", items: 4}, crossOp{on: "A", id: "x", items: 7}},
		{"other delete before own patch", &testHookAfterCommit, crossOp{on: "B", id: "x", items: 4}, crossOp{on: "A", del: true, id: "x"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			stores := map[string]*Store{}
			for _, name := range []string{"A", "B"} {
				s, err := Open(ctx, dir)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				stores[name] = s
			}
			b := stores["B"]
			if err := (crossOp{name: "base", on: "A", id: "y", items: 3}).run(ctx, stores["A"], 99); err != nil {
				t.Fatal(err)
			}
			if _, err := searchAll(ctx, b); err != nil {
				t.Fatal(err)
			}
			*tc.hook = func() {
				*tc.hook = nil
				op := tc.during
				op.name = "during"
				if err := op.run(ctx, stores[op.on], uint64(i*10+1)); err != nil {
					t.Error(err)
				}
				if tc.hook == &testHookAfterCommit {
					// B catches up while its own commit waits to be patched in.
					if _, err := searchAll(ctx, b); err != nil {
						t.Error(err)
					}
				}
			}
			defer func() { *tc.hook = nil }()
			op := tc.first
			op.name = "first"
			if err := op.run(ctx, stores[op.on], uint64(i*10)); err != nil {
				t.Fatal(err)
			}
			if _, err := searchAll(ctx, b); err != nil {
				t.Fatal(err)
			}
			if *tc.hook != nil {
				t.Fatal("the hook did not run")
			}
			checkLikeFresh(t, b, "after the race")
		})
	}
}

// TestChangeCheckDoesNotWaitForSearches runs the check for other writers'
// commits while a search holds the matrices: finding nothing new, it must
// not wait for the search to end.
func TestChangeCheckDoesNotWaitForSearches(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	if err := (crossOp{name: "v", id: "x", items: 5}).run(ctx, s, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := searchAll(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.vec.mu.RLock() // a search scanning a matrix
	done := make(chan error, 1)
	go func() { done <- s.sync(ctx) }()
	select {
	case err := <-done:
		s.vec.mu.RUnlock()
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		s.vec.mu.RUnlock()
		<-done
		t.Fatal("the change check waited for a search to end")
	}
}
