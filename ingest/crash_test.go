package ingest

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mmrag"
	"mmrag/internal/testenv"
	"mmrag/sqlite"
)

// Environment of the child process TestCrash starts.
const (
	crashStoreEnv = "MMRAG_INGEST_CRASH_STORE"
	crashSrcEnv   = "MMRAG_INGEST_CRASH_SRC"
)

const crashFiles = 60

// crashVersion writes version tag of every file of the crash corpus.
func crashVersion(t *testing.T, dir, tag string) {
	t.Helper()
	files := map[string]string{}
	for i := range crashFiles {
		var b strings.Builder
		fmt.Fprintf(&b, "# File %d\n\n", i)
		for j := range 6 {
			fmt.Fprintf(&b, "%s\n\n", para(fmt.Sprintf("%s%dp%d", tag, i, j), 16))
		}
		files[fmt.Sprintf("f%02d.md", i)] = b.String()
	}
	writeFiles(t, dir, files)
}

// TestCrash SIGKILLs an ingest in the middle and checks that the store
// reopens intact: every document is one whole version, old or new, and a
// rerun completes the update.
func TestCrash(t *testing.T) {
	if store := os.Getenv(crashStoreEnv); store != "" {
		crashChild(t, store, os.Getenv(crashSrcEnv))
		return
	}
	if testing.Short() {
		t.Skip("starts a child process; skipped with -short")
	}
	ctx := t.Context()
	src, store := t.TempDir(), t.TempDir()
	crashVersion(t, src, "one")
	p := &Pipeline{Store: openStore(t, store), Embedder: newFake(), Extractors: testExtractors()}
	rep, err := p.Add(ctx, []string{src}, WalkOptions{})
	if err != nil || rep.Added != crashFiles {
		t.Fatalf("first version: %v %+v", err, rep)
	}
	p.Store.Close()

	crashVersion(t, src, "two")
	cmd, lines := testenv.Child(t, "^TestCrash$", crashStoreEnv+"="+store, crashSrcEnv+"="+src)
	// Kill once a few documents are stored: the store then holds both
	// versions, and more puts are under way.
	stored := 0
	var log []string
	timeout := time.After(3 * time.Minute)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("child ended before it was killed:\n%s", strings.Join(log, "\n"))
			}
			log = append(log, l)
			if strings.HasPrefix(l, "STORED ") {
				if stored++; stored == 5 {
					break wait
				}
			}
		case <-timeout:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child stored too little:\n%s", strings.Join(log, "\n"))
		}
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	for l := range lines {
		if strings.HasPrefix(l, "STORED ") {
			stored++
		}
	}
	cmd.Wait()

	s := openStore(t, store)
	checkIntegrity(t, store)
	versions := map[string]int{}
	docs, err := s.Documents(ctx, mmrag.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != crashFiles {
		t.Fatalf("%d documents after the crash, want %d", len(docs), crashFiles)
	}
	for _, d := range docs {
		versions[crashDocVersion(t, s, d)]++
	}
	t.Logf("after the kill: %d documents of version one, %d of version two (the child reported %d stored)", versions["one"], versions["two"], stored)
	if versions["two"] < 5 || versions["two"] < stored-1 {
		t.Errorf("%d documents of version two, but the child stored %d before the kill", versions["two"], stored)
	}

	// A rerun finishes the job and embeds only what is still of version one.
	emb := newFake()
	p = &Pipeline{Store: s, Embedder: emb, Extractors: testExtractors()}
	rep, err = p.Add(ctx, []string{src}, WalkOptions{})
	if err != nil || rep.Failed != 0 || rep.Updated != versions["one"] || rep.Unchanged != versions["two"] {
		t.Errorf("rerun: %v %+v", err, rep)
	}
}

// crashDocVersion checks that document d is one whole version, with a
// vector per item, and returns it: "one" or "two".
func crashDocVersion(t *testing.T, s *sqlite.Store, d mmrag.Document) string {
	t.Helper()
	items, err := s.Items(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	tag := ""
	for _, it := range items {
		for _, v := range []string{"one", "two"} {
			if strings.Contains(it.Text, v) {
				if tag != "" && tag != v {
					t.Fatalf("%s mixes versions", d.Source)
				}
				tag = v
			}
		}
		if _, err := s.Vector(t.Context(), "fake", it.ID); err != nil {
			t.Errorf("%s: item without vector: %v", d.Source, err)
		}
	}
	if len(items) < 6 || tag == "" { // six paragraphs, each one chunk or more
		t.Errorf("%s: %d items of version %q", d.Source, len(items), tag)
	}
	return tag
}

func crashChild(t *testing.T, store, src string) {
	s, err := sqlite.Open(t.Context(), store)
	if err != nil {
		t.Fatal(err)
	}
	emb := newFake()
	emb.delay = 5 * time.Millisecond // a kill must land while puts go on
	p := &Pipeline{Store: s, Embedder: emb, Extractors: testExtractors(), TextBatch: 6, Progress: func(e Event) {
		if e.Kind == Updated {
			fmt.Println("STORED", e.Source)
		}
	}}
	if _, err := p.Add(t.Context(), []string{src}, WalkOptions{}); err != nil {
		t.Fatal(err)
	}
	fmt.Println("DONE")
}

// checkIntegrity runs SQLite's integrity check on the store's database.
func checkIntegrity(t *testing.T, store string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(store, sqlite.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&res); err != nil {
		t.Fatal(err)
	}
	if res != "ok" {
		t.Errorf("integrity check: %s", res)
	}
}
