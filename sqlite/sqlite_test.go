package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mmrag"
	"mmrag/store/storetest"
)

// openTemp opens a store in a fresh temporary directory, closed when the
// test ends.
func openTemp(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mmrag.Store { return openTemp(t) })
}

// TestConformanceParallelSearch runs the suite with vector searches split
// across goroutines, in blocks of 7 rows, even for the suite's small
// matrices, and ScanItems reading two documents per query.
func TestConformanceParallelSearch(t *testing.T) {
	oldMin, oldRows, oldBatch := parallelMin, blockRows, scanBatch
	parallelMin, blockRows, scanBatch = 1, 7, 2
	defer func() { parallelMin, blockRows, scanBatch = oldMin, oldRows, oldBatch }()
	storetest.Run(t, func(t *testing.T) mmrag.Store { return openTemp(t, WithSearchWorkers(3)) })
}

// doc builds a document of n text items and n/4 image items (sharing
// nImages distinct images), each with a dim-d vector of model storetest.Model.
// Texts carry tag so that tests can tell versions apart.
func doc(id, tag string, n, dim int, r *rand.Rand) (mmrag.Document, []mmrag.Item, []mmrag.Vector, map[string][]byte) {
	d := storetest.Doc(id)
	d.Title = tag
	var items []mmrag.Item
	var vecs []mmrag.Vector
	blobs := map[string][]byte{}
	for i := range n {
		it := storetest.TextItem(id, i, fmt.Sprintf("%s paragraph %d of %s", tag, i, id))
		it.Section = []string{"Part " + tag, fmt.Sprint("Chapter ", i/10)}
		items = append(items, it)
		vecs = append(vecs, mmrag.Vector{ItemID: it.ID, Model: storetest.Model, Values: storetest.RandomVector(r, dim)})
		if i%4 == 0 {
			img, h := storetest.PNG(fmt.Sprintf("%s-%s-%d", id, tag, i%16))
			im := storetest.ImageItem(id, n+i, h, tag+" figure")
			items = append(items, im)
			vecs = append(vecs, mmrag.Vector{ItemID: im.ID, Model: storetest.Model, Values: storetest.RandomVector(r, dim)})
			blobs[h] = img
		}
	}
	return d, items, vecs, blobs
}

func TestPersistence(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 1))
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	var allItems []mmrag.Item
	for _, id := range []string{"p1", "p2", "p3"} {
		d, items, vecs, blobs := doc(id, "v1", 40, 16, r)
		if err := s.PutDocument(ctx, d, items, vecs, blobs); err != nil {
			t.Fatal(err)
		}
		allItems = append(allItems, items...)
	}
	if err := s.DeleteDocument(ctx, "p2"); err != nil {
		t.Fatal(err)
	}
	q := storetest.RandomVector(r, 16)
	vh1, th1, st1 := probeStore(t, s, q)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	vh2, th2, st2 := probeStore(t, s, q)
	if !slices.Equal(vh1, vh2) {
		t.Errorf("vector hits after reopening differ:\n%v\n%v", vh1, vh2)
	}
	if !slices.Equal(th1, th2) || len(th1) == 0 {
		t.Errorf("text hits after reopening differ (or none):\n%v\n%v", th1, th2)
	}
	if st1.Documents != 2 || st2.Documents != 2 || st1.Blobs != st2.Blobs || st1.BlobBytes != st2.BlobBytes ||
		!maps.Equal(st1.Items, st2.Items) || !maps.Equal(st1.Vectors, st2.Vectors) {
		t.Errorf("stats after reopening: %+v, before: %+v", st2, st1)
	}
	for _, it := range allItems {
		checkItemAfterReopen(t, s, it, it.DocID == "p2")
	}
	models, err := s.Models(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(models) != 1 || models[0].ID != storetest.Model || models[0].Dim != 16 ||
		models[0].Vectors[mmrag.Text] != 80 || models[0].Vectors[mmrag.Image] != 20 {
		t.Errorf("Models = %+v, want %s, 16-d, 80 text and 20 image vectors", models, storetest.Model)
	}
	var v int
	if err := s.r.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil || v != SchemaVersion {
		t.Errorf("schema version %d (%v), want %d", v, err, SchemaVersion)
	}
	var mode string
	if err := s.r.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q (%v), want wal", mode, err)
	}
	checkIntegrity(t, s)
}

// probeStore returns what a vector search for q, a full-text search and
// the statistics give.
func probeStore(t *testing.T, s *Store, q []float32) ([]mmrag.Hit, []mmrag.Hit, mmrag.Stats) {
	t.Helper()
	ctx := t.Context()
	vh, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text, Vector: q, K: 10})
	if err != nil {
		t.Fatal(err)
	}
	th, err := s.SearchText(ctx, mmrag.TextQuery{Query: "paragraph 7", K: 0})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return vh, th, st
}

// checkItemAfterReopen checks that a reopened store gives back item it
// and its image unchanged, or nothing when its document was deleted.
func checkItemAfterReopen(t *testing.T, s *Store, it mmrag.Item, deleted bool) {
	t.Helper()
	got, err := s.Item(t.Context(), it.ID)
	if deleted {
		if !errors.Is(err, mmrag.ErrNotFound) {
			t.Errorf("item %s of the deleted document: %v", it.ID, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("item %s after reopening: %v", it.ID, err)
	}
	if d := storetest.ItemDiff(got, it); d != "" {
		t.Errorf("after reopening: %s", d)
	}
	if it.BlobHash != "" {
		if _, err := s.Blob(t.Context(), it.BlobHash); err != nil {
			t.Errorf("blob of %s after reopening: %v", it.ID, err)
		}
	}
}

// checkIntegrity runs SQLite's and FTS5's own consistency checks. The
// PRAGMA runs on a new connection: FTS5's part of integrity_check trusts the
// index structure a long-lived connection cached before another connection
// rewrote it, and reports phantom corruption (SQLite 3.50; queries on that
// connection refresh the cache and are unaffected).
func checkIntegrity(t *testing.T, s *Store) {
	t.Helper()
	db, err := openDB(filepath.Join(s.Dir(), DBFile), time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(t.Context(), `PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity_check: %q %v", res, err)
	}
	var fk int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM pragma_foreign_key_check`).Scan(&fk); err != nil || fk != 0 {
		t.Errorf("foreign_key_check: %d violations %v", fk, err)
	}
	if _, err := s.w.ExecContext(t.Context(), `INSERT INTO items_fts(items_fts) VALUES ('integrity-check')`); err != nil {
		t.Errorf("FTS integrity-check: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	newer := t.TempDir()
	s, err := Open(ctx, newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE schema_version SET version = 999`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	notDB := t.TempDir()
	if err := os.WriteFile(filepath.Join(notDB, DBFile), bytes.Repeat([]byte("not a database "), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, want string
	}{
		{"empty name", "", "empty directory"},
		{"a file, not a folder", file, file},
		{"newer schema", newer, "newer"},
		{"not a database", notDB, "not a database"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, tc.dir)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestBlobFiles(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	shared, sharedHash := storetest.PNG("shared")
	own, ownHash := storetest.PNG("own")
	a := []mmrag.Item{storetest.ImageItem("a", 0, sharedHash, "x"), storetest.ImageItem("a", 1, ownHash, "y")}
	a[1].MIME = "application/x-unknown"
	b := []mmrag.Item{storetest.ImageItem("b", 0, sharedHash, "x")}
	if err := s.PutDocument(ctx, storetest.Doc("a"), a, nil, map[string][]byte{sharedHash: shared, ownHash: own}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDocument(ctx, storetest.Doc("b"), b, nil, map[string][]byte{sharedHash: shared}); err != nil {
		t.Fatal(err)
	}
	sharedPath := filepath.Join(s.Dir(), BlobDir, sharedHash[:2], sharedHash[2:]+".png")
	ownPath := filepath.Join(s.Dir(), BlobDir, ownHash[:2], ownHash[2:]) // unknown MIME: no extension
	for _, p := range []string{sharedPath, ownPath} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("blob file: %v", err)
		}
	}
	if got, err := os.ReadFile(sharedPath); err != nil || !bytes.Equal(got, shared) {
		t.Errorf("blob file %s holds other bytes (%v)", sharedPath, err)
	}

	// Orphans and temporary files: swept once older than the grace period.
	orphan := filepath.Join(s.Dir(), BlobDir, "00", strings.Repeat("0", 62)+".png")
	tmp := filepath.Join(filepath.Dir(sharedPath), tmpPrefix+"123")
	for _, p := range []string{orphan, tmp} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Sweep(ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("Sweep with a grace of an hour removed %d fresh files (%v), want 0", n, err)
	}
	if n, err := s.Sweep(ctx, 0); err != nil || n != 2 {
		t.Errorf("Sweep removed %d files (%v), want the orphan and the temporary file", n, err)
	}
	for _, p := range []string{orphan, tmp} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survived the sweep: %v", p, err)
		}
	}

	if err := s.DeleteDocument(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ownPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("blob file only the deleted document referenced survived: %v", err)
	}
	if _, err := os.Stat(sharedPath); err != nil {
		t.Errorf("blob file another document references was removed: %v", err)
	}

	// A blob file lost behind the store's back is rewritten by the next put
	// that carries its bytes.
	if err := os.Remove(sharedPath); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Blob(ctx, sharedHash); !errors.Is(err, mmrag.ErrNotFound) {
		t.Errorf("Blob of a lost file: %v, want ErrNotFound", err)
	}
	if err := s.PutDocument(ctx, storetest.Doc("b"), b, nil, map[string][]byte{sharedHash: shared}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Blob(ctx, sharedHash); err != nil || !bytes.Equal(got, shared) {
		t.Errorf("Blob after rewriting: %v", err)
	}
	if err := s.DeleteDocument(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(t, filepath.Join(s.Dir(), BlobDir)); n != 0 {
		t.Errorf("%d files left in an empty store's blob folder", n)
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMatrixPatch checks the in-memory matrices that commits patch against
// matrices freshly loaded from the database, over a random sequence of
// puts, replaces and deletes.
func TestMatrixPatch(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(2, 2))
	const dim = 8
	queries := [][]float32{storetest.RandomVector(r, dim), storetest.RandomVector(r, dim)}
	filters := []mmrag.Filter{{}, {DocIDs: []string{"m1", "m3"}}, {SourcePrefix: "/data/m2"}, {Since: storetest.Base.Add(time.Hour)}}
	searchAll := func(s *Store) [][]mmrag.Hit {
		var out [][]mmrag.Hit
		for _, m := range []mmrag.Modality{mmrag.Text, mmrag.Image} {
			for _, q := range queries {
				for _, f := range filters {
					for _, k := range []int{3, 0} {
						h, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: storetest.Model, Modality: m, Vector: q, K: k, Filter: f})
						if err != nil {
							t.Fatal(err)
						}
						out = append(out, h)
					}
				}
			}
		}
		return out
	}
	searchAll(s) // loads the matrices, empty
	for step := range 40 {
		id := fmt.Sprintf("m%d", r.IntN(5))
		if r.IntN(4) == 0 {
			if err := s.DeleteDocument(ctx, id); err != nil && !errors.Is(err, mmrag.ErrNotFound) {
				t.Fatal(err)
			}
		} else {
			d, items, vecs, blobs := doc(id, fmt.Sprint("s", step), 1+r.IntN(12), dim, r)
			d.Ingested = storetest.Base.Add(time.Duration(r.IntN(3)) * time.Hour)
			if err := s.PutDocument(ctx, d, items, vecs, blobs); err != nil {
				t.Fatal(err)
			}
		}
		patched := searchAll(s)
		fresh, err := Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		loaded := searchAll(fresh)
		fresh.Close()
		for i := range patched {
			if !slices.Equal(patched[i], loaded[i]) {
				t.Fatalf("step %d, query %d: patched matrix gives %v, loaded one %v", step, i, patched[i], loaded[i])
			}
		}
	}
}

// TestConcurrentReaders holds a long write open mid-transaction while
// readers run: they must never fail and must see the old version or the new,
// never a mix.
func TestConcurrentReaders(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	r := rand.New(rand.NewPCG(3, 3))
	const n, dim = 400, 16
	versions := map[string]int{} // tag → number of items
	put := func(tag string) error {
		d, items, vecs, blobs := doc("c", tag, n+len(versions)*50, dim, r)
		versions[tag] = len(items)
		return s.PutDocument(ctx, d, items, vecs, blobs)
	}
	if err := put("old"); err != nil {
		t.Fatal(err)
	}
	d2, items2, vecs2, blobs2 := doc("c", "new", n+50, dim, r)
	versions["new"] = len(items2)

	inTx := make(chan struct{})
	release := make(chan struct{})
	testHookBeforeCommit = func() {
		close(inTx)
		<-release
	}
	defer func() { testHookBeforeCommit = nil }()
	writeErr := make(chan error, 1)
	go func() { writeErr <- s.PutDocument(ctx, d2, items2, vecs2, blobs2) }()
	<-inTx

	q := storetest.RandomVector(r, dim)
	check := func(wantTags ...string) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for w := range 4 {
			wg.Go(func() {
				for i := range 15 {
					if err := readOnce(ctx, s, q, wantTags, versions, w+i); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	check("old") // the write is open: readers see the committed old version
	close(release)
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	check("new")

	// And without the hook, readers racing a sequence of writes see whole
	// versions only.
	testHookBeforeCommit = nil
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 6 && err == nil; i++ {
			tag := []string{"old", "new"}[i%2]
			d, items, vecs, blobs := doc("c", tag, versions[tag]*4/5, dim, rand.New(rand.NewPCG(uint64(i), 9)))
			if len(items) != versions[tag] {
				err = fmt.Errorf("fixture of %s has %d items, want %d", tag, len(items), versions[tag])
				break
			}
			err = s.PutDocument(ctx, d, items, vecs, blobs)
		}
		done <- err
	}()
	check("old", "new")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkIntegrity(t, s)
}

// readOnce reads document c every way a reader can and checks that what it
// sees is one whole version among wantTags.
func readOnce(ctx context.Context, s *Store, q []float32, wantTags []string, versions map[string]int, seed int) error {
	items, err := s.Items(ctx, "c")
	if err != nil {
		return fmt.Errorf("Items: %w", err)
	}
	tag := strings.Fields(items[0].Text)[0]
	if !slices.Contains(wantTags, tag) {
		return fmt.Errorf("Items: version %q, want one of %v", tag, wantTags)
	}
	if len(items) != versions[tag] {
		return fmt.Errorf("Items: %d items of version %s, which has %d", len(items), tag, versions[tag])
	}
	for _, it := range items {
		if !strings.HasPrefix(it.Text, tag+" ") {
			return fmt.Errorf("Items: version %s mixed with item %q", tag, it.Text)
		}
	}
	hits, err := s.SearchText(ctx, mmrag.TextQuery{Query: fmt.Sprint("paragraph ", seed%50)})
	if err != nil {
		return fmt.Errorf("SearchText: %w", err)
	}
	if len(hits) == 0 {
		return errors.New("SearchText: no hits")
	}
	vh, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text, Vector: q, K: 5})
	if err != nil {
		return fmt.Errorf("SearchVectors: %w", err)
	}
	if len(vh) != 5 {
		return fmt.Errorf("SearchVectors: %d hits, want 5", len(vh))
	}
	if _, err := s.ItemsByID(ctx, hitIDs(vh)); err != nil {
		return fmt.Errorf("ItemsByID: %w", err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		return fmt.Errorf("Stats: %w", err)
	}
	if st.Documents != 1 {
		return fmt.Errorf("Stats: %d documents, want 1", st.Documents)
	}
	if _, err := s.Document(ctx, "c"); err != nil {
		return fmt.Errorf("Document: %w", err)
	}
	return nil
}

func hitIDs(hits []mmrag.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ItemID
	}
	return out
}

func TestContextCanceled(t *testing.T) {
	s := openTemp(t)
	r := rand.New(rand.NewPCG(4, 4))
	d, items, vecs, blobs := doc("x", "v", 20, 8, r)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.PutDocument(ctx, d, items, vecs, blobs); !errors.Is(err, context.Canceled) {
		t.Errorf("PutDocument with a canceled context: %v", err)
	}
	if err := s.PutDocument(t.Context(), d, items, vecs, blobs); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"SearchVectors": func() error {
			_, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text, Vector: vecs[0].Values})
			return err
		},
		"SearchText": func() error { _, err := s.SearchText(ctx, mmrag.TextQuery{Query: "paragraph"}); return err },
		"Items":      func() error { _, err := s.Items(ctx, "x"); return err },
		"Stats":      func() error { _, err := s.Stats(ctx); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: %v", name, err)
		}
	}
}

func TestFTSQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"  !!! ... ", ""},
		{`"`, ""},
		{"kiwi", `"kiwi"`},
		{"Kiwi kiwi KIWI", `"kiwi"`},
		{"kiwi* AND NEAR(bird, 2)", `"kiwi" OR "and" OR "near" OR "bird" OR "2"`},
		{`say "hi"`, `"say" OR "hi"`},
		{"col:value ^start -not", `"col" OR "value" OR "start" OR "not"`},
		{"naïve café", `"naïve" OR "café"`},
		{"日本語のテキスト", `"日本語のテキスト"`},
		{"x² ½", `"x²" OR "½"`},
	}
	for _, tc := range tests {
		if got := ftsQuery(tc.in); got != tc.want {
			t.Errorf("ftsQuery(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	long := ftsQuery(strings.Repeat("w ", 10) + strings.Join(strings.Fields(strings.Repeat("a b c d e f g h i j ", 20)), "x "))
	if n := strings.Count(long, " OR ") + 1; n > maxQueryTerms {
		t.Errorf("a long query became %d terms, more than %d", n, maxQueryTerms)
	}
}

// TestTextSearchFolding covers what this backend's tokenizer adds to the
// suite: diacritics and English inflections fold.
func TestTextSearchFolding(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	items := []mmrag.Item{
		storetest.TextItem("f", 0, "a naïve café serving crêpes"),
		storetest.TextItem("f", 1, "the runners were running"),
		storetest.TextItem("f", 2, "unrelated"),
	}
	items[2].Section = []string{"Appendix", "Glossary"}
	if err := s.PutDocument(ctx, storetest.Doc("f"), items, nil, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ query, want string }{
		{"NAIVE cafe", "f#t0"},
		{"crepe", "f#t0"},
		{"run", "f#t1"},
		{"glossary", "f#t2"}, // section path is indexed
	}
	for _, tc := range tests {
		hits, err := s.SearchText(ctx, mmrag.TextQuery{Query: tc.query})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 1 || hits[0].ItemID != tc.want {
			t.Errorf("SearchText(%q) = %v, want [%s]", tc.query, hitIDs(hits), tc.want)
		}
	}
}

// TestCommitDuringLoad commits a put and a delete between the scan that
// loads a matrix and its installation: the installed matrix must show both.
func TestCommitDuringLoad(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	r := rand.New(rand.NewPCG(6, 6))
	const dim = 8
	for _, id := range []string{"stay", "gone"} {
		d, items, vecs, blobs := doc(id, "v", 10, dim, r)
		if err := s.PutDocument(ctx, d, items, vecs, blobs); err != nil {
			t.Fatal(err)
		}
	}
	d, items, vecs, blobs := doc("late", "v", 10, dim, r)
	testHookMatrixRead = func() {
		testHookMatrixRead = nil
		if err := s.PutDocument(ctx, d, items, vecs, blobs); err != nil {
			t.Error(err)
		}
		if err := s.DeleteDocument(ctx, "gone"); err != nil {
			t.Error(err)
		}
	}
	defer func() { testHookMatrixRead = nil }()
	hits, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text, Vector: storetest.RandomVector(r, dim)})
	if err != nil {
		t.Fatal(err)
	}
	perDoc := map[string]int{}
	for _, h := range hits {
		perDoc[strings.Split(h.ItemID, "#")[0]]++
	}
	if want := map[string]int{"stay": 10, "late": 10}; !maps.Equal(perDoc, want) {
		t.Errorf("text hits per document = %v, want %v", perDoc, want)
	}
}

func TestSortScored(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{0, 5, 1023, 1024, 5000} {
		m := &matrix{}
		s := make([]scored, n)
		for i := range s {
			m.items = append(m.items, fmt.Sprintf("item%05d", r.IntN(100000)))
			var v float32
			switch r.IntN(4) {
			case 0: // ties
				v = float32(r.IntN(5)) - 2
			case 1:
				v = -r.Float32() * 1e6
			default:
				v = float32(r.NormFloat64())
			}
			s[i] = scored{int32(i), v}
		}
		want := slices.Clone(s)
		slices.SortFunc(want, m.cmpScored)
		m.sortScored(s)
		if !slices.Equal(s, want) {
			t.Errorf("n=%d: radix order differs from comparison order", n)
		}
	}
}

// TestItemsAround: a range of positions of a document, in order, without
// the rest; an absent document is ErrNotFound.
func TestItemsAround(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	doc := mmrag.Document{ID: "d", Source: "/d.md", Type: "markdown", Hash: strings.Repeat("a", 64), Ingested: time.Now()}
	var items []mmrag.Item
	for i := range 10 {
		items = append(items, mmrag.Item{ID: fmt.Sprintf("d-%d", i), DocID: "d", Modality: mmrag.Text, Kind: "paragraph", Text: fmt.Sprint("window ", i), Position: i})
	}
	if err := st.PutDocument(ctx, doc, items, nil, nil); err != nil {
		t.Fatal(err)
	}
	got, err := st.ItemsAround(ctx, "d", 3, 5)
	if err != nil || len(got) != 3 || got[0].ID != "d-3" || got[2].ID != "d-5" {
		t.Errorf("ItemsAround(3, 5) = %v (%v)", got, err)
	}
	if _, err := st.ItemsAround(ctx, "nope", 0, 1); !errors.Is(err, mmrag.ErrNotFound) {
		t.Errorf("absent document: %v", err)
	}
}
