package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// checkpointWALBytes is the size of the WAL file from which a write, once
// committed, checkpoints the WAL into the database and truncates it. SQLite's
// own checkpoint after each commit copies the pages back but keeps the file
// at its largest size: one big ingest would leave gigabytes behind. Below
// the size, small writes leave the WAL to SQLite.
var checkpointWALBytes int64 = 64 << 20

// testHookBeforeCheckpoint, when set by a test, runs just before a
// checkpoint after a commit.
var testHookBeforeCheckpoint func()

// walPath is the WAL file of the store's database.
func (s *Store) walPath() string { return s.dbPath + "-wal" }

// checkpointIfLarge checkpoints and truncates the WAL when it reached
// s.checkpointAt bytes. The caller holds writeMu and has committed: a failed
// checkpoint leaves the WAL as it is (SQLite checkpoints it again later, and
// journal_size_limit shrinks it when it next starts over) and waits for
// another checkpointWALBytes of growth before the next try, so that a reader
// holding an old snapshot does not make every small write try again.
func (s *Store) checkpointIfLarge(ctx context.Context) error {
	fi, err := os.Stat(s.walPath())
	if err != nil || fi.Size() < s.checkpointAt {
		return nil
	}
	if testHookBeforeCheckpoint != nil {
		testHookBeforeCheckpoint()
	}
	if err := s.checkpoint(ctx); err != nil {
		s.checkpointAt = fi.Size() + checkpointWALBytes
		return err
	}
	s.checkpointAt = checkpointWALBytes
	return nil
}

// checkpoint copies every frame of the WAL into the database and truncates
// the WAL to zero bytes. It waits, up to the busy timeout, for readers of
// older snapshots to finish.
func (s *Store) checkpoint(ctx context.Context) error {
	var busy, frames, done int
	if err := s.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil {
		return fmt.Errorf("checkpoint %s: %w", s.walPath(), err)
	}
	if busy != 0 {
		return fmt.Errorf("checkpoint %s: %w: copied %d of %d frames", s.walPath(), errCheckpointBusy, done, frames)
	}
	return nil
}

var errCheckpointBusy = errors.New("readers of older snapshots kept it from finishing")
