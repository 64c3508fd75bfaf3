package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"mmrag"
	"mmrag/hnsw/clipdata"
	"mmrag/internal/testenv"
)

// Environment of the child process TestANNCrash starts.
const (
	annCrashDirEnv   = "MMRAG_SQLITE_ANN_CRASH_DIR"   // store directory
	annCrashRoundEnv = "MMRAG_SQLITE_ANN_CRASH_ROUND" // round number: names the documents it puts
)

// The store of TestANNCrash: annCrashDocs documents to begin with, and
// annCrashPuts more put by each round's child.
const annCrashDocs, annCrashPuts, annCrashRounds = 30, 20, 20

func annCrashBase() []float32 {
	base, _ := clipdata.Generate(4, (annCrashDocs+annCrashRounds*annCrashPuts)*annDocItems, 0)
	return base
}

// TestANNCrash kills (SIGKILL) a child process that puts and deletes
// documents while its index follows them (and, in the rounds that begin
// without an index file, while it builds and saves one), then reopens the
// store: the index is loaded or rebuilt, every stored document is found,
// no deleted one is returned, and recall against the exact scan holds.
func TestANNCrash(t *testing.T) {
	if dir := os.Getenv(annCrashDirEnv); dir != "" {
		annCrashChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("starts child processes that are killed mid-ingest; skipped with -short")
	}
	base := annCrashBase()
	dir := t.TempDir()
	s := openANN(t, dir, annTestOptions)
	putANNDocs(t, s, base, 0, annCrashDocs)
	waitANN(t, s)
	closeStore(t, s)
	graph, _ := annPaths(dir, annKey)

	delays := []time.Duration{30 * time.Millisecond, 300 * time.Millisecond, time.Second, 80 * time.Millisecond, 600 * time.Millisecond, 2 * time.Second}
	for round := range annCrashRounds {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			if round%3 == 2 {
				// The child builds the index from scratch and saves it while
				// it writes.
				if err := os.Remove(graph); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
			}
			log := killANNChild(t, dir, round, delays[round%len(delays)])
			s := openANN(t, dir, annTestOptions)
			defer closeStore(t, s)
			a := waitANN(t, s)
			t.Logf("killed after %v (%d lines of output); index rebuilt: %v", delays[round%len(delays)], len(log), a.rebuilt)
			checkAgainstDB(t, s, base, annCrashDocs+(round+1)*annCrashPuts)
		})
	}
}

// checkAgainstDB checks that the approximate search finds an item of every
// stored document among the first ndocs first, returns none of a document
// the database does not hold, and keeps recall@10 ≥ 0.95 against the exact
// scan.
func checkAgainstDB(t *testing.T, s *Store, base []float32, ndocs int) {
	t.Helper()
	dim := clipdata.Dim
	var gone []int
	for d := range ndocs {
		_, err := s.Document(t.Context(), annDocID(d))
		switch {
		case errors.Is(err, mmrag.ErrNotFound):
			gone = append(gone, d)
		case err != nil:
			t.Fatal(err)
		}
	}
	found, total, selfMisses := 0, 0, 0
	for d := range ndocs {
		r := d*annDocItems + d%annDocItems
		q := base[r*dim : (r+1)*dim]
		hits := search(t, s, vq(q, 10, true, mmrag.Filter{}))
		for _, h := range hits {
			if slices.Contains(gone, annDocOf(t, h.ItemID)) {
				t.Errorf("search returned %s of a document the store does not hold", h.ItemID)
			}
		}
		if slices.Contains(gone, d) {
			continue
		}
		// Stored: the exact scan finds it first; the index finds it first
		// but for the rare node no beam search reaches (HNSW's promise,
		// counted below).
		if exact := search(t, s, vq(q, 1, false, mmrag.Filter{})); len(exact) == 0 || exact[0].ItemID != annItemID(r) {
			t.Errorf("exact search for the vector of stored %s returned %v", annItemID(r), hitIDs(exact))
		}
		if len(hits) == 0 || hits[0].ItemID != annItemID(r) {
			selfMisses++
			t.Logf("approximate search for the vector of stored %s returned %v", annItemID(r), hitIDs(hits))
		}
		// Recall on a query between items: the mean of two rows.
		q2 := make([]float32, dim)
		r2 := (r*7 + 13) % (ndocs * annDocItems)
		for i := range q2 {
			q2[i] = (q[i] + base[r2*dim+i]) / 2
		}
		exact := search(t, s, vq(q2, 10, false, mmrag.Filter{}))
		for _, h := range search(t, s, vq(q2, 10, true, mmrag.Filter{})) {
			total++
			if slices.Contains(exact, h) {
				found++
			}
		}
	}
	if selfMisses*100 > ndocs {
		t.Errorf("%d of %d stored documents not found first by their own vector", selfMisses, ndocs)
	}
	if recall := float64(found) / float64(total); recall < 0.95 {
		t.Errorf("recall@10 after the crash = %.3f, want ≥ 0.95", recall)
	}
}

// killANNChild runs the child of round and SIGKILLs it delay after it
// reports that it started writing; it returns the child's output.
func killANNChild(t *testing.T, dir string, round int, delay time.Duration) []string {
	t.Helper()
	cmd, lines := testenv.Child(t, "^TestANNCrash$", annCrashDirEnv+"="+dir, fmt.Sprint(annCrashRoundEnv, "=", round))
	var log []string
	for l := range lines {
		log = append(log, l)
		if l == "WRITING" {
			break
		}
	}
	if len(log) == 0 || log[len(log)-1] != "WRITING" {
		cmd.Wait()
		t.Fatalf("child ended before writing:\n%s", strings.Join(log, "\n"))
	}
	time.Sleep(delay)
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill child: %v", err)
	}
	for l := range lines {
		log = append(log, l)
	}
	cmd.Wait()
	return log
}

// annCrashChild is the child process: it opens the store with the index
// and puts new documents, deleting old ones, until it is killed.
func annCrashChild(t *testing.T, dir string) {
	var round int
	fmt.Sscan(os.Getenv(annCrashRoundEnv), &round)
	base := annCrashBase()
	s := openANN(t, dir, annTestOptions)
	q := make([]float32, clipdata.Dim)
	q[0] = 1
	if _, err := s.SearchVectors(context.Background(), vq(q, 1, true, mmrag.Filter{})); err != nil {
		t.Fatal(err)
	}
	fmt.Println("WRITING")
	first := annCrashDocs + round*annCrashPuts
	for j := range annCrashPuts {
		putANNDocs(t, s, base, first+j, first+j+1)
		fmt.Println("PUT", annDocID(first+j))
		if j%2 == 0 {
			victim := annDocID((round*annCrashPuts + j) % (first + j))
			if err := s.DeleteDocument(context.Background(), victim); err != nil && !errors.Is(err, mmrag.ErrNotFound) {
				t.Fatal(err)
			}
			fmt.Println("DEL", victim)
		}
	}
	fmt.Println("DONE")
	select {} // killed with the index still being updated or saved
}
