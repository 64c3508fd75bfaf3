package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mmrag"
)

// Environment of the helper processes the multi-process tests start: the
// test binary run again, which TestMain turns into the helper.
const (
	helperRoleEnv = "MMRAG_SQLITE_HELPER"     // what the helper does: "lock" or "writer"
	helperDirEnv  = "MMRAG_SQLITE_HELPER_DIR" // store directory
)

func TestMain(m *testing.M) {
	// Matrices over 64 KiB (32 rows of 512 dimensions) keep their rows in
	// a row file, so that the tests with more than a few rows (writers,
	// crashes, the approximate index) run on mapped rows as large stores do.
	mapMinBytes = 64 << 10
	if role := os.Getenv(helperRoleEnv); role != "" {
		if err := runHelper(role, os.Getenv(helperDirEnv), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stdout, "ERROR", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runHelper is the helper process. "lock" takes the write lock of the store's
// database, prints LOCKED and holds the lock until its input ends. "writer"
// opens the store and runs the commands of its input, one a line (see
// runCommand), answering each with "ok" or "ERROR …".
func runHelper(role, dir string, in io.Reader, out io.Writer) error {
	ctx := context.Background()
	switch role {
	case "lock":
		return holdWriteLock(ctx, filepath.Join(dir, DBFile), in, out)
	case "writer":
		s, err := Open(ctx, dir)
		if err != nil {
			return err
		}
		defer s.Close()
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			if err := runCommand(ctx, s, sc.Text()); err != nil {
				fmt.Fprintln(out, "ERROR", err)
				continue
			}
			fmt.Fprintln(out, "ok")
		}
		return sc.Err()
	}
	return fmt.Errorf("unknown helper role %q", role)
}

// holdWriteLock begins an IMMEDIATE transaction on path, writes a row in it
// and keeps it open until in ends: what another process committing a large
// document looks like to everyone else.
func holdWriteLock(ctx context.Context, path string, in io.Reader, out io.Writer) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO models(model, dim, created) VALUES ('lock-holder', 1, 0)`); err != nil {
		return fmt.Errorf("write under the lock: %w", err)
	}
	fmt.Fprintln(out, "LOCKED")
	io.Copy(io.Discard, in)
	_, err = conn.ExecContext(ctx, `ROLLBACK`)
	return err
}

// runCommand runs one command of the writer helper:
//
//	put ID TAG N DIM SEED   PutDocument of doc(ID, TAG, N, DIM, seeded by SEED)
//	del ID                  DeleteDocument
func runCommand(ctx context.Context, s *Store, line string) error {
	f := strings.Fields(line)
	switch {
	case len(f) == 6 && f[0] == "put":
		var n, dim int
		var seed uint64
		if _, err := fmt.Sscan(f[3]+" "+f[4]+" "+f[5], &n, &dim, &seed); err != nil {
			return fmt.Errorf("%q: %w", line, err)
		}
		d, items, vecs, blobs := doc(f[1], f[2], n, dim, rand.New(rand.NewPCG(seed, seed)))
		return s.PutDocument(ctx, d, items, vecs, blobs)
	case len(f) == 2 && f[0] == "del":
		return s.DeleteDocument(ctx, f[1])
	}
	return fmt.Errorf("unknown command %q", line)
}

// helper is a running helper process.
type helper struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

// startHelper starts a helper process with role on dir, stopped when the
// test ends.
func startHelper(t *testing.T, role, dir string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperRoleEnv+"="+role, helperDirEnv+"="+dir)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, in: in, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	t.Cleanup(h.stop)
	return h
}

// expect waits for the helper's next line and fails the test unless it is
// want.
func (h *helper) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case l, ok := <-h.lines:
		if !ok {
			t.Fatalf("helper ended before %s", want)
		}
		if l != want {
			t.Fatalf("helper said %q, want %q", l, want)
		}
	case <-time.After(time.Minute):
		t.Fatalf("helper did not say %s within a minute", want)
	}
}

// run sends a command to a writer helper and waits for its "ok".
func (h *helper) run(t *testing.T, format string, args ...any) {
	t.Helper()
	if _, err := fmt.Fprintf(h.in, format+"\n", args...); err != nil {
		t.Fatal(err)
	}
	h.expect(t, "ok")
}

// stop closes the helper's input and waits for it to exit.
func (h *helper) stop() {
	h.in.Close()
	done := make(chan struct{})
	go func() {
		for range h.lines {
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		h.cmd.Process.Kill()
	}
	h.cmd.Wait()
}

// TestOpenWhileLocked holds the write lock in another process, as a long
// PutDocument does, and checks that opening the store and reading it do not
// wait for that lock.
func TestOpenWhileLocked(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	d, items, vecs, blobs := doc("held", "v1", 20, 8, rand.New(rand.NewPCG(1, 2)))
	if err := s.PutDocument(ctx, d, items, vecs, blobs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	h := startHelper(t, "lock", dir)
	h.expect(t, "LOCKED")

	const busy = 2 * time.Second
	start := time.Now()
	s, err = Open(ctx, dir, WithBusyTimeout(busy))
	if err != nil {
		t.Fatalf("open while another process holds the write lock: %v", err)
	}
	defer s.Close()
	reads := []struct {
		name string
		read func() error
	}{
		{"Documents", func() error { _, err := s.Documents(ctx, mmrag.Filter{}); return err }},
		{"Stats", func() error { _, err := s.Stats(ctx); return err }},
		{"Items", func() error { _, err := s.Items(ctx, "held"); return err }},
		{"SearchText", func() error { _, err := s.SearchText(ctx, mmrag.TextQuery{Query: "paragraph"}); return err }},
		{"SearchVectors", func() error {
			_, err := s.SearchVectors(ctx, mmrag.VectorQuery{Model: vecs[0].Model, Modality: mmrag.Text, Vector: vecs[0].Values})
			return err
		}},
	}
	for _, r := range reads {
		if err := r.read(); err != nil {
			t.Errorf("%s while another process holds the write lock: %v", r.name, err)
		}
	}
	if el := time.Since(start); el >= busy {
		t.Errorf("open and reads took %v, as long as the busy timeout: they waited for the lock", el)
	}
}

// TestOpenConcurrently opens a new store from several goroutines at once:
// each reads schema version 0 without the lock, and all but the first must
// find the schema current once they hold it.
func TestOpenConcurrently(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	const n = 4
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			s, err := Open(ctx, dir)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestMigrateFromVersion1 opens a store written before the change log
// and the term bounds existed: it gains them, keeps its contents, and a
// second Store follows the first's writes.
func TestMigrateFromVersion1(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	d, items, vecs, blobs := doc("x", "v1", 10, crossDim, rand.New(rand.NewPCG(14, 14)))
	if err := s.PutDocument(ctx, d, items, vecs, blobs); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DROP TABLE changes`,
		`DELETE FROM sqlite_sequence WHERE name = 'changes'`,
		undoVersion3,
		`UPDATE schema_version SET version = 1`,
	} {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	a, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("open a version 1 store: %v", err)
	}
	defer a.Close()
	if v, err := schemaVersion(ctx, a.r); err != nil || v != SchemaVersion {
		t.Fatalf("schema version %d (%v) after opening, want %d", v, err, SchemaVersion)
	}
	b, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	checkLikeFresh(t, b, "migrated")
	if err := (crossOp{name: "v2", id: "x", items: 4}).run(ctx, a, 15); err != nil {
		t.Fatal(err)
	}
	checkLikeFresh(t, b, "after a write through the other store")
	items2, err := b.Items(ctx, "x")
	if err != nil || len(items2) != 5 {
		t.Errorf("document x has %d items (%v), want 5", len(items2), err)
	}
}
