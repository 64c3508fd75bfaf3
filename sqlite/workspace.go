package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"mmrag"
)

// WorkspaceFile is the workspace database's name in a knowledge-base
// folder.
const WorkspaceFile = "workspace.db"

// Workspace keeps a knowledge base's conversations and collections in a
// SQLite database of its own (WorkspaceFile), beside whatever store holds
// the documents: the embedded one or Weaviate. It is safe for concurrent
// use, also by several processes. Create it with OpenWorkspace.
type Workspace struct {
	path string
	db   *sql.DB // every transaction BEGIN IMMEDIATE
}

var (
	_ mmrag.Conversations = (*Workspace)(nil)
	_ mmrag.Collections   = (*Workspace)(nil)
)

// workspaceSchema creates the tables when absent; user_version says which
// schema a database has.
const workspaceSchema = `
CREATE TABLE IF NOT EXISTS conversations (
	id      TEXT PRIMARY KEY,
	title   TEXT NOT NULL,
	created INTEGER NOT NULL, -- Unix nanoseconds
	updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations(updated);
CREATE TABLE IF NOT EXISTS turns (
	conversation TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
	seq          INTEGER NOT NULL,
	role         TEXT NOT NULL,
	content      TEXT NOT NULL,
	created      INTEGER NOT NULL,
	sources      TEXT,           -- JSON, as the serving layer showed them
	model        TEXT NOT NULL DEFAULT '',
	notes        TEXT,           -- JSON array of strings
	stopped      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (conversation, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS collections (
	name TEXT NOT NULL,
	doc  TEXT NOT NULL,
	PRIMARY KEY (name, doc)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS collections_doc ON collections(doc);
PRAGMA user_version = 1;
`

// workspaceVersion is the schema this program writes.
const workspaceVersion = 1

// OpenWorkspace opens (creating when absent) the workspace of the
// knowledge base in dir.
func OpenWorkspace(ctx context.Context, dir string) (*Workspace, error) {
	if dir == "" {
		return nil, errors.New("open workspace: empty directory name")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open workspace in %s: %w", dir, err)
	}
	path := filepath.Join(dir, WorkspaceFile)
	db, err := openDB(path, 10*time.Second, 2<<10)
	if err != nil {
		return nil, fmt.Errorf("open workspace: %w", err)
	}
	db.SetMaxOpenConns(4)
	w := &Workspace{path: path, db: db}
	if err := w.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open workspace %s: %w", path, err)
	}
	return w, nil
}

func (w *Workspace) init(ctx context.Context) error {
	if err := ensureWAL(ctx, w.db); err != nil {
		return err
	}
	var v int
	if err := w.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case v > workspaceVersion:
		return fmt.Errorf("schema version %d is newer than this program's %d", v, workspaceVersion)
	case v == workspaceVersion:
		return nil
	}
	return w.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, workspaceSchema); err != nil {
			return fmt.Errorf("create the schema: %w", err)
		}
		return nil
	})
}

// Close releases the database.
func (w *Workspace) Close() error {
	if err := w.db.Close(); err != nil {
		return fmt.Errorf("close workspace %s: %w", w.path, err)
	}
	return nil
}

// tx runs fn in one write transaction.
func (w *Workspace) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// newID is a random conversation id: 24 hex digits.
func newID() string {
	b := make([]byte, 12)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
