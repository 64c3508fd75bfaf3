package sqlite

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mmrag"
	"mmrag/internal/testenv"
	"mmrag/store/storetest"
)

// Environment of the child process TestCrash starts.
const (
	crashDirEnv  = "MMRAG_SQLITE_CRASH_DIR"  // store directory
	crashStepEnv = "MMRAG_SQLITE_CRASH_STEP" // attempt number: names the version
	crashHookEnv = "MMRAG_SQLITE_CRASH_HOOK" // where to stop: "commit" (just before it) or "checkpoint" (just before the WAL checkpoint after it)
)

// Size of the version the child writes (about 10 MB): with the child's 2 MiB
// page cache, SQLite spills pages into the WAL well before the commit.
const crashItems, crashDim = 12000, 128

// TestCrash kills (SIGKILL) a child process in the middle of PutDocument and
// checks that the store reopens with the previous version intact, or, for a
// kill that may land after the commit, with one whole version, and that the
// database passes SQLite's integrity check. The child checkpoints the WAL
// after every commit (a low checkpointWALBytes), so that the later kills may
// land in the checkpoint too.
func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("starts child processes writing 12 000 items; skipped with -short")
	}
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	d, items, vecs, blobs := doc("big", "v1", 50, crashDim, rand.New(rand.NewPCG(7, 7)))
	if err := s.PutDocument(ctx, d, items, vecs, blobs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{"v1": len(items)} // version tag → items
	current := "v1"

	steps := []struct {
		name  string
		hook  string        // kill while the child waits at this hook: "commit" or "checkpoint"
		delay time.Duration // else: kill this long after the put starts
	}{
		{"before commit", "commit", 0},
		{"after 10ms", "", 10 * time.Millisecond},
		{"after 150ms", "", 150 * time.Millisecond},
		{"after 600ms", "", 600 * time.Millisecond},
		{"after 4s", "", 4 * time.Second}, // usually after the commit
		{"before commit again", "commit", 0},
		{"before checkpoint", "checkpoint", 0}, // committed, WAL not yet copied back
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			tag := fmt.Sprintf("v%d", i+2)
			counts[tag] = crashItems + crashItems/4
			committed := killChild(t, dir, i+2, st.hook, st.delay)
			if st.hook == "commit" {
				// The uncommitted version reached the WAL: recovery has
				// frames to ignore, not just an untouched file.
				fi, err := os.Stat(filepath.Join(dir, DBFile+"-wal"))
				if err != nil {
					t.Errorf("WAL after the kill: %v", err)
				} else if fi.Size() < 1<<20 {
					t.Errorf("WAL after the kill holds %d bytes; want over 1 MiB of spilled pages", fi.Size())
				}
			}

			s, err := Open(ctx, dir)
			if err != nil {
				t.Fatalf("reopen after the crash: %v", err)
			}
			defer s.Close()
			checkIntegrity(t, s)
			got := checkVersion(t, s, counts)
			switch {
			case st.hook == "commit" && got != current:
				t.Errorf("killed before the commit, the store holds version %s, want the previous %s", got, current)
			case (committed || st.hook == "checkpoint") && got != tag:
				t.Errorf("the child committed version %s, the store holds %s", tag, got)
			case got != current && got != tag:
				t.Errorf("store holds version %s, want %s or %s", got, current, tag)
			}
			t.Logf("killed %s: store holds %s", st.name, got)
			current = got

			// Blob files the killed writer wrote without committing are
			// orphans: swept, after which files and rows agree.
			n, err := s.Sweep(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if st.hook == "commit" && n == 0 {
				t.Error("no orphan blob file swept, though the child wrote new images before it was killed")
			}
			stats, err := s.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if files := countFiles(t, filepath.Join(dir, BlobDir)); files != stats.Blobs {
				t.Errorf("%d blob files after the sweep, %d blob rows", files, stats.Blobs)
			}
		})
	}
}

// killChild runs the child and SIGKILLs it once it reports the put is
// under way (after delay) or, with hook, waiting at that hook. It reports
// whether the child said its put returned before the kill.
func killChild(t *testing.T, dir string, step int, hook string, delay time.Duration) (committed bool) {
	t.Helper()
	cmd, lines := testenv.Child(t, "^TestCrash$", crashDirEnv+"="+dir, fmt.Sprint(crashStepEnv, "=", step), crashHookEnv+"="+hook)
	var log []string
	want := map[string]string{"": "STARTED", "commit": "COMMITTING", "checkpoint": "CHECKPOINTING"}[hook]
	timeout := time.After(3 * time.Minute)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("child ended before %s:\n%s", want, strings.Join(log, "\n"))
			}
			log = append(log, l)
			if l == want {
				break wait
			}
		case <-timeout:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child did not reach %s:\n%s", want, strings.Join(log, "\n"))
		}
	}
	time.Sleep(delay)
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill child: %v", err)
	}
	for l := range lines {
		committed = committed || l == "DONE"
	}
	cmd.Wait()
	return committed
}

// checkVersion reads document big and returns its version tag, failing the
// test unless the document is one whole version.
func checkVersion(t *testing.T, s *Store, counts map[string]int) string {
	t.Helper()
	ctx := t.Context()
	d, err := s.Document(ctx, "big")
	if err != nil {
		t.Fatalf("document after the crash: %v", err)
	}
	tag := d.Title
	items, err := s.Items(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != counts[tag] {
		t.Errorf("version %s has %d items, want %d", tag, len(items), counts[tag])
	}
	for _, it := range items {
		if !strings.HasPrefix(it.Text, tag+" ") {
			t.Fatalf("version %s holds item %s of another version: %q", tag, it.ID, it.Text)
		}
		if it.BlobHash != "" {
			if _, err := s.Blob(ctx, it.BlobHash); err != nil {
				t.Errorf("blob of %s: %v", it.ID, err)
			}
		}
	}
	hits, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: storetest.Model, Modality: mmrag.Text,
		Vector: storetest.RandomVector(rand.New(rand.NewPCG(8, 8)), crashDim)})
	if err != nil {
		t.Fatal(err)
	}
	text := 0
	for _, it := range items {
		if it.Modality == mmrag.Text {
			text++
		}
	}
	if len(hits) != text {
		t.Errorf("%d text vectors, want %d", len(hits), text)
	}
	th, err := s.SearchText(ctx, mmrag.TextQuery{Query: tag})
	if err != nil {
		t.Fatal(err)
	}
	if len(th) != text {
		t.Errorf("full-text search for %s finds %d items, want %d", tag, len(th), text)
	}
	return tag
}

// crashChild is the child process: it writes the next version of document
// big and is killed on the way.
func crashChild(t *testing.T, dir string) {
	ctx := t.Context()
	checkpointWALBytes = 1 << 20
	s, err := Open(ctx, dir, WithWriteCache(2<<10))
	if err != nil {
		t.Fatal(err)
	}
	step := os.Getenv(crashStepEnv)
	var seed uint64
	fmt.Sscan(step, &seed)
	d, items, vecs, blobs := doc("big", "v"+step, crashItems, crashDim, rand.New(rand.NewPCG(seed, 1)))
	switch os.Getenv(crashHookEnv) {
	case "commit":
		testHookBeforeCommit = func() {
			fmt.Println("COMMITTING")
			select {} // wait for SIGKILL
		}
	case "checkpoint":
		testHookBeforeCheckpoint = func() {
			fmt.Println("CHECKPOINTING")
			select {} // wait for SIGKILL
		}
	}
	fmt.Println("STARTED")
	if err := s.PutDocument(ctx, d, items, vecs, blobs); err != nil {
		t.Fatal(err)
	}
	fmt.Println("DONE")
	s.Close()
}
