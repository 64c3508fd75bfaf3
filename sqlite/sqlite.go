// Package sqlite is mmrag's default embedded store: one directory holding a
// SQLite database (documents, items, vectors, an FTS5 index, the models that
// filled it) and the image blobs, content-addressed by sha256. Nothing has to
// be started; the pure-Go driver modernc.org/sqlite needs no cgo.
//
// Layout of a store directory:
//
//	dir/mmrag.db            SQLite, WAL mode (plus mmrag.db-wal, mmrag.db-shm)
//	dir/blobs/ab/cdef….png  image bytes, named by the sha256 of their content
//	dir/ann/…               approximate indexes of large collections (ann.go)
//
// The package owns the schema and its migrations, the blob files, the
// in-memory vector matrices used by SearchVectors, the translation of user
// queries into FTS5 syntax and the pruning that keeps SearchText from
// scoring every row a frequent word matches. Store is safe for concurrent
// use, and several processes may open the same directory: SQLite serialises
// their writes, and a vector search first catches up with the commits of the
// others (changes.go).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"mmrag"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Store is a mmrag.Store kept in one directory. Create it with Open.
type Store struct {
	dir      string
	dbPath   string
	blobDir  string
	w        *sql.DB // one connection; every transaction BEGIN IMMEDIATE
	r        *sql.DB // readers; WAL lets them run while w writes
	workers  int     // goroutines per large vector search
	closeErr error

	// writeMu serialises writers inside the process. SQLite would do it
	// anyway; holding a Go lock as well keeps blob files, the transaction and
	// the post-commit patch of the vector matrices one unit, so a concurrent
	// writer never removes a blob file another is about to reference.
	writeMu sync.Mutex

	// syncMu serialises catching up with other writers' commits (sync);
	// lastChange reads the change log's last sequence number.
	syncMu     sync.Mutex
	lastChange *sql.Stmt
	vec        vectorCache
	ann        annWorker // the approximate index's settings and worker (ann.go)

	// ftsStats caches the document frequencies SearchText prunes by;
	// pruneMinRows is the number of matching rows below which it does not
	// prune (tests lower it).
	ftsStats     ftsStats
	pruneMinRows int
	// tok and writeTok split text as the full-text index does (tokens.go),
	// for the term bounds: tok a search's query, writeTok a put's rows
	// (under writeMu), so that a search never waits for a large put.
	// formulaBounds has the search prune by the formula's bounds only
	// (tests).
	tok, writeTok *tokenizer
	formulaBounds bool
	// traceText, when set, learns how each SearchText with K > 0 ended
	// (tests and benchmarks).
	traceText func(textTrace)

	// checkpointAt is the WAL size from which a write checkpoints the WAL
	// after its commit (wal.go). Guarded by writeMu.
	checkpointAt int64

	closeOnce sync.Once
}

var _ mmrag.Store = (*Store)(nil)

// Option changes how Open opens a store.
type Option func(*config)

type config struct {
	busyTimeout time.Duration
	readers     int
	workers     int
	cacheKiB    int
	ann         ANNOptions
}

// WithBusyTimeout sets how long a statement waits for a lock held by another
// connection (another process, typically) before failing. Default 10s.
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) {
		if d >= 0 {
			c.busyTimeout = d
		}
	}
}

// WithWriteCache sets the page cache of the writing connection in KiB.
// Default 64 MiB: a put of a large document stays in memory until its
// commit instead of spilling pages into the WAL.
func WithWriteCache(kib int) Option {
	return func(c *config) {
		if kib > 0 {
			c.cacheKiB = kib
		}
	}
}

// WithReaders caps the number of concurrent read connections. Default
// 2×GOMAXPROCS, at least 4.
func WithReaders(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.readers = n
		}
	}
}

// WithSearchWorkers sets how many goroutines share one large vector search.
// Default GOMAXPROCS; 1 disables the split.
func WithSearchWorkers(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.workers = n
		}
	}
}

// DBFile and BlobDir are the names of the database file and of the blob
// folder inside a store directory.
const (
	DBFile  = "mmrag.db"
	BlobDir = "blobs"
)

// Open opens the store in dir, creating dir, the database and the blob folder
// when absent and migrating an older schema to the current one. It also
// removes blob files a crashed writer left behind (see Sweep).
func Open(ctx context.Context, dir string, opts ...Option) (*Store, error) {
	cfg := config{
		busyTimeout: 10 * time.Second,
		readers:     max(4, 2*runtime.GOMAXPROCS(0)),
		workers:     runtime.GOMAXPROCS(0),
		cacheKiB:    64 << 10,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if dir == "" {
		return nil, errors.New("open store: empty directory name")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	blobDir := filepath.Join(abs, BlobDir)
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	dbPath := filepath.Join(abs, DBFile)

	s := &Store{dir: abs, dbPath: dbPath, blobDir: blobDir, workers: cfg.workers, pruneMinRows: pruneMinRows,
		checkpointAt: checkpointWALBytes}
	s.vec.init()
	// Close releases what was opened when a step fails.
	if s.tok, err = openTokenizer(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if s.writeTok, err = openTokenizer(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if s.w, err = openDB(dbPath, cfg.busyTimeout, cfg.cacheKiB); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxIdleTime(0)
	s.w.SetConnMaxLifetime(0)
	if err := ensureWAL(ctx, s.w); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if s.r, err = openDB(dbPath, cfg.busyTimeout, 0); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s.r.SetMaxOpenConns(cfg.readers)
	s.r.SetMaxIdleConns(cfg.readers)
	if err := migrate(ctx, s.w, s.r); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if s.lastChange, err = s.r.PrepareContext(ctx, lastChangeQuery); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: prepare the change check: %w", dir, err)
	}
	// Matrices load later, from states at least this new.
	if s.vec.applied, err = s.lastChangeSeq(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	// A writer of another process may be between writing a blob file and
	// committing; an hour is far longer than any transaction.
	if _, err := s.Sweep(ctx, time.Hour); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s.startANN(cfg.ann)
	return s, nil
}

// openDB opens a pool on path: the writer's when cacheKiB > 0. The writer pool begins every transaction
// IMMEDIATE so that it takes the write lock up front instead of failing with
// SQLITE_BUSY when a read transaction turns into a write; reader connections
// are query_only so that a bug cannot write outside the writer's lock.
func openDB(path string, busy time.Duration, cacheKiB int) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	// NORMAL in WAL mode: a commit survives a process crash; a power loss
	// may drop the last commits but never corrupts the database. Blob files
	// are fsync'd before the commit that references them either way.
	q.Add("_pragma", "synchronous(NORMAL)")
	if cacheKiB > 0 {
		// journal_mode is not among them: it is persistent, and setting it
		// takes a lock; ensureWAL sets it once, when the database is new.
		q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -cacheKiB))
		// A WAL left large (a checkpoint that readers kept from finishing)
		// shrinks to this size when it next starts over.
		q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", checkpointWALBytes))
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	dsn := (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// Close releases the database connections and the vector matrices. It is
// safe to call more than once; later calls return the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		errs := []error{s.closeANN()}
		if s.lastChange != nil {
			errs = append(errs, s.lastChange.Close())
		}
		if s.r != nil {
			errs = append(errs, s.r.Close())
		}
		if s.w != nil {
			errs = append(errs, s.w.Close())
		}
		for _, t := range []*tokenizer{s.tok, s.writeTok} {
			if t != nil {
				errs = append(errs, t.close())
			}
		}
		s.vec.reset()
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close store %s: %w", s.dir, err)
		}
	})
	return s.closeErr
}

// Dir is the store directory, absolute.
func (s *Store) Dir() string { return s.dir }

// migrations[i] brings the schema from version i to i+1. Append only: a
// released migration is never edited.
var migrations = []string{
	// 1: initial schema.
	`
CREATE TABLE documents (
	id       TEXT PRIMARY KEY,
	source   TEXT NOT NULL UNIQUE,
	type     TEXT NOT NULL DEFAULT '',
	title    TEXT NOT NULL DEFAULT '',
	hash     TEXT NOT NULL DEFAULT '',
	size     INTEGER NOT NULL DEFAULT 0,
	mod_time INTEGER,          -- unix ns; NULL when unknown
	ingested INTEGER,          -- unix ns; NULL when unknown
	meta     TEXT              -- JSON object; NULL when empty
);
CREATE INDEX documents_ingested ON documents(ingested);

-- rowid is the integer key the FTS index and the vector matrices use.
CREATE TABLE items (
	rowid     INTEGER PRIMARY KEY,
	id        TEXT NOT NULL UNIQUE,
	doc_id    TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
	modality  TEXT NOT NULL,
	kind      TEXT NOT NULL DEFAULT '',
	text      TEXT NOT NULL DEFAULT '',
	section   TEXT,            -- JSON array; NULL when empty
	page      INTEGER NOT NULL DEFAULT 0,
	anchor    TEXT NOT NULL DEFAULT '',
	time_ns   INTEGER NOT NULL DEFAULT 0,
	position  INTEGER NOT NULL DEFAULT 0,
	blob_hash TEXT NOT NULL DEFAULT '',
	mime      TEXT NOT NULL DEFAULT '',
	alt       TEXT NOT NULL DEFAULT '',
	caption   TEXT NOT NULL DEFAULT '',
	context   TEXT NOT NULL DEFAULT '',
	width     INTEGER NOT NULL DEFAULT 0,
	height    INTEGER NOT NULL DEFAULT 0,
	meta      TEXT             -- JSON object; NULL when empty
);
CREATE INDEX items_doc ON items(doc_id, position);
CREATE INDEX items_blob ON items(blob_hash) WHERE blob_hash <> '';

CREATE TABLE vectors (
	item_id TEXT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
	model   TEXT NOT NULL,
	dim     INTEGER NOT NULL,
	data    BLOB NOT NULL,      -- dim little-endian float32
	PRIMARY KEY (model, item_id)
) WITHOUT ROWID;
CREATE INDEX vectors_item ON vectors(item_id);

-- The models that filled the store, with the dimension every vector of the
-- model must have and how many vectors of each modality it holds.
CREATE TABLE models (
	model        TEXT PRIMARY KEY,
	dim          INTEGER NOT NULL,
	text_count   INTEGER NOT NULL DEFAULT 0,
	image_count  INTEGER NOT NULL DEFAULT 0,
	created      INTEGER NOT NULL
);

-- Image blobs: one row per stored file.
CREATE TABLE blobs (
	hash TEXT PRIMARY KEY,      -- sha256, lowercase hex
	path TEXT NOT NULL,         -- relative to the blob folder
	size INTEGER NOT NULL,
	mime TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

-- BM25 over text items only: their text and their section path (the JSON
-- array; the tokenizer drops its brackets and quotes). Contentless: the
-- words live once, in items, and the index holds only the tokens. (An
-- external-content table over items would not do: its integrity check
-- expects every items row in the index, image items included.)
-- PutDocument indexes a document's text items in one INSERT … SELECT after
-- inserting them: a trigger per row would make FTS5 flush a tiny segment at
-- every statement. Triggers remove deleted rows (cascading deletes
-- included); contentless_delete lets them delete by rowid.
CREATE VIRTUAL TABLE items_fts USING fts5(
	text, section,
	content = '', contentless_delete = 1,
	tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER items_fts_delete AFTER DELETE ON items WHEN old.modality = 'text' BEGIN
	DELETE FROM items_fts WHERE rowid = old.rowid;
END;
CREATE TRIGGER items_fts_update AFTER UPDATE ON items BEGIN
	DELETE FROM items_fts WHERE rowid = old.rowid AND old.modality = 'text';
	INSERT INTO items_fts(rowid, text, section)
		SELECT new.rowid, new.text, new.section WHERE new.modality = 'text';
END;
`,
	// 2: the change log other processes follow (changes.go). AUTOINCREMENT:
	// a number is never used twice, even after pruning.
	`
CREATE TABLE changes (
	seq    INTEGER PRIMARY KEY AUTOINCREMENT,
	doc_id TEXT NOT NULL
);
`,
	// 3: the term bounds of the pruned full-text search (termbounds.go),
	// filled from the index by fillTermBounds (migrationFills). Text rows
	// written since the last put that kept the bounds — by this version,
	// or by a process of an older one still running — wait in
	// term_bounds_pending; the searches do without the bounds until a put
	// takes them in.
	`
CREATE TABLE term_bounds (
	term  TEXT PRIMARY KEY, -- a token of items_fts
	pairs BLOB NOT NULL     -- its frontier: uvarint pairs (2f, D)
) WITHOUT ROWID;
CREATE TABLE term_bounds_pending (rowid INTEGER PRIMARY KEY);
CREATE TRIGGER term_bounds_insert AFTER INSERT ON items WHEN new.modality = 'text' BEGIN
	INSERT OR IGNORE INTO term_bounds_pending(rowid) VALUES (new.rowid);
END;
CREATE TRIGGER term_bounds_update AFTER UPDATE ON items WHEN new.modality = 'text' BEGIN
	INSERT OR IGNORE INTO term_bounds_pending(rowid) VALUES (new.rowid);
END;
`,
}

// migrationFills[v] runs after migrations[v], in its transaction: what SQL
// alone cannot compute.
var migrationFills = map[int]func(context.Context, *sql.Tx) error{
	2: fillTermBounds,
}

// SchemaVersion is the schema version this package writes.
var SchemaVersion = len(migrations)

// ensureWAL switches the database to WAL mode unless it is already in it.
// The mode is stored in the database file, so only a new database (or one
// another program turned back) is switched; reading the mode takes no lock,
// so opening a store never waits for a writer of another process.
func ensureWAL(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if strings.EqualFold(mode, "wal") {
		return nil
	}
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
		return fmt.Errorf("switch journal mode from %s to WAL: %w", mode, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("switch journal mode to WAL: the database stays in %s mode", mode)
	}
	return nil
}

// migrate brings the schema to the current version. It reads the version
// with a plain read, which a writer of another process does not block, and
// takes the write lock only when a migration is due.
func migrate(ctx context.Context, w, r *sql.DB) error {
	v, err := schemaVersion(ctx, r)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	switch {
	case v > len(migrations):
		return fmt.Errorf("migrate: database schema version %d is newer than this program's %d", v, len(migrations))
	case v == len(migrations):
		return nil
	}
	return upgrade(ctx, w)
}

// schemaVersion reads the schema version in one read transaction: 0 for a
// database without the version table.
func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	defer tx.Rollback()
	var tables int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'`).Scan(&tables); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if tables == 0 {
		return 0, nil
	}
	var v int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// upgrade runs the migrations the database lacks in one IMMEDIATE
// transaction, reading the version again under the write lock: another
// process may have migrated meanwhile.
func upgrade(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: create schema_version: %w", err)
	}
	var v int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version(version) VALUES (0)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	case err != nil:
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("migrate: database schema version %d is newer than this program's %d", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrate to schema version %d: %w", v+1, err)
		}
		if fill := migrationFills[v]; fill != nil {
			if err := fill(ctx, tx); err != nil {
				return fmt.Errorf("migrate to schema version %d: %w", v+1, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}
