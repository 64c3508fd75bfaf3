package sqlite

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestCheckpointAfterLargeWrite checks that a large write leaves a small
// WAL behind and that small writes do not checkpoint.
func TestCheckpointAfterLargeWrite(t *testing.T) {
	defer func(n int64) { checkpointWALBytes = n }(checkpointWALBytes)
	checkpointWALBytes = 1 << 20
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(13, 13))
	walSize := func() int64 {
		fi, err := os.Stat(filepath.Join(dir, DBFile+"-wal"))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	steps := []struct {
		name     string
		write    func() error
		min, max int64 // WAL size after the write
	}{
		{"small put", func() error {
			d, items, vecs, blobs := doc("small", "v", 10, 128, r)
			return s.PutDocument(ctx, d, items, vecs, blobs)
		}, 1, checkpointWALBytes},
		{"large put", func() error {
			d, items, vecs, blobs := doc("large", "v", 6000, 128, r)
			return s.PutDocument(ctx, d, items, vecs, blobs)
		}, 0, checkpointWALBytes / 4},
		{"another small put", func() error {
			d, items, vecs, blobs := doc("small2", "v", 10, 128, r)
			return s.PutDocument(ctx, d, items, vecs, blobs)
		}, 1, checkpointWALBytes},
		{"large delete", func() error { return s.DeleteDocument(ctx, "large") }, 0, checkpointWALBytes / 4},
	}
	for _, st := range steps {
		if err := st.write(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		t.Logf("after the %s: WAL %d bytes", st.name, walSize())
		if n := walSize(); n < st.min || n > st.max {
			t.Errorf("after the %s the WAL holds %d bytes, want %d to %d", st.name, n, st.min, st.max)
		}
	}
	checkIntegrity(t, s)
}
