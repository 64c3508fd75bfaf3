package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the driver the store itself uses
)

// storeState is what a store directory holds, read straight from its
// SQLite database and blob folder (not through mmrag).
type storeState struct {
	integrity string              // PRAGMA integrity_check: "ok"
	docs      map[string]string   // id → source
	items     map[string]itemInfo // id → item
	vectors   map[string]int      // item id → vectors of it
	blobs     map[string]bool     // blob hashes with a row

	orphanItems    int // items whose document is missing
	orphanVectors  int // vectors whose item is missing
	unknownBlobs   int // image items whose blob has no row
	missingFiles   []string
	foreignKeyErrs int
}

type itemInfo struct {
	doc, modality, text, blob string
}

// inspectStore reads dir's database read-only (query_only) while other
// processes may be using it.
func inspectStore(ctx context.Context, dir string) (*storeState, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	path := filepath.Join(dir, "mmrag.db")
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(20000)&_pragma=query_only(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// One read transaction: a consistent snapshot while others write.
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	st := &storeState{docs: map[string]string{}, items: map[string]itemInfo{}, vectors: map[string]int{}, blobs: map[string]bool{}}
	var lines []string
	rows, err := tx.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return nil, fmt.Errorf("integrity_check: %w", err)
	}
	for rows.Next() {
		var l string
		rows.Scan(&l)
		lines = append(lines, l)
	}
	rows.Close()
	st.integrity = strings.Join(lines, "; ")

	if err := scanRows(ctx, tx, "SELECT id, source FROM documents", func(r *sql.Rows) error {
		var id, src string
		err := r.Scan(&id, &src)
		st.docs[id] = src
		return err
	}); err != nil {
		return nil, err
	}
	if err := scanRows(ctx, tx, "SELECT id, doc_id, modality, text, blob_hash FROM items", func(r *sql.Rows) error {
		var id string
		var it itemInfo
		err := r.Scan(&id, &it.doc, &it.modality, &it.text, &it.blob)
		st.items[id] = it
		return err
	}); err != nil {
		return nil, err
	}
	if err := scanRows(ctx, tx, "SELECT item_id FROM vectors", func(r *sql.Rows) error {
		var id string
		err := r.Scan(&id)
		st.vectors[id]++
		return err
	}); err != nil {
		return nil, err
	}
	var blobPaths = map[string]string{}
	if err := scanRows(ctx, tx, "SELECT hash, path FROM blobs", func(r *sql.Rows) error {
		var h, p string
		err := r.Scan(&h, &p)
		st.blobs[h] = true
		blobPaths[h] = p
		return err
	}); err != nil {
		return nil, err
	}
	if err := scanRows(ctx, tx, "PRAGMA foreign_key_check", func(r *sql.Rows) error {
		st.foreignKeyErrs++
		return nil
	}); err != nil {
		return nil, err
	}
	for id, it := range st.items {
		if _, ok := st.docs[it.doc]; !ok {
			st.orphanItems++
		}
		if it.blob != "" {
			p, ok := blobPaths[it.blob]
			if !ok {
				st.unknownBlobs++
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, "blobs", p)); err != nil {
				st.missingFiles = append(st.missingFiles, id)
			}
		}
	}
	for id := range st.vectors {
		if _, ok := st.items[id]; !ok {
			st.orphanVectors++
		}
	}
	return st, nil
}

func scanRows(ctx context.Context, tx *sql.Tx, q string, each func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return rows.Err()
}

// healthy lists what is wrong with the store: integrity, orphans, blobs.
func (st *storeState) healthy() []string {
	var p []string
	if st.integrity != "ok" {
		p = append(p, "integrity_check: "+firstLine(st.integrity))
	}
	if st.orphanItems > 0 {
		p = append(p, fmt.Sprintf("%d items without their document", st.orphanItems))
	}
	if st.orphanVectors > 0 {
		p = append(p, fmt.Sprintf("%d vectors without their item", st.orphanVectors))
	}
	if st.unknownBlobs > 0 {
		p = append(p, fmt.Sprintf("%d image items whose blob has no row", st.unknownBlobs))
	}
	if len(st.missingFiles) > 0 {
		p = append(p, fmt.Sprintf("%d image items whose blob file is missing", len(st.missingFiles)))
	}
	if st.foreignKeyErrs > 0 {
		p = append(p, fmt.Sprintf("%d foreign key violations", st.foreignKeyErrs))
	}
	var noVec int
	for id := range st.items {
		if st.vectors[id] == 0 {
			noVec++
		}
	}
	if noVec > 0 {
		p = append(p, fmt.Sprintf("%d items without a vector", noVec))
	}
	return p
}

// sources lists the documents' sources, sorted.
func (st *storeState) sources() []string {
	var s []string
	for _, src := range st.docs {
		s = append(s, src)
	}
	slices.Sort(s)
	return s
}

func hasSource(st *storeState, src string) bool {
	for _, s := range st.docs {
		if s == src {
			return true
		}
	}
	return false
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// lsDocs is `mmrag ls --json` without what differs between two ingests of
// the same files (when they were ingested).
type lsDoc struct {
	ID         string            `json:"id"`
	Source     string            `json:"source"`
	Type       string            `json:"type"`
	Title      string            `json:"title"`
	Hash       string            `json:"hash"`
	Size       int64             `json:"size"`
	TextItems  int               `json:"text_items"`
	ImageItems int               `json:"image_items"`
	Meta       map[string]string `json:"meta,omitempty"`
}

// listing runs `mmrag ls --json` and `mmrag ls --items --json` and returns
// both, canonical (sorted, volatile fields dropped) for comparing.
func (e *env) listing(store string) (docs []lsDoc, items []map[string]any, err error) {
	r := e.run(2*time.Minute, store, "ls", "--json")
	if ok, why := r.ok(); !ok {
		return nil, nil, fmt.Errorf("mmrag ls --json: %s", why)
	}
	if err := json.Unmarshal([]byte(r.Stdout), &docs); err != nil {
		return nil, nil, fmt.Errorf("mmrag ls --json: %w", err)
	}
	for i := range docs {
		delete(docs[i].Meta, "ingested") // none today; in case
	}
	slices.SortFunc(docs, func(a, b lsDoc) int { return strings.Compare(a.ID, b.ID) })
	r = e.run(2*time.Minute, store, "ls", "--items", "--json")
	if ok, why := r.ok(); !ok {
		return nil, nil, fmt.Errorf("mmrag ls --items --json: %s", why)
	}
	if err := json.Unmarshal([]byte(r.Stdout), &items); err != nil {
		return nil, nil, fmt.Errorf("mmrag ls --items --json: %w", err)
	}
	slices.SortFunc(items, func(a, b map[string]any) int { return strings.Compare(fmt.Sprint(a["id"]), fmt.Sprint(b["id"])) })
	return docs, items, nil
}

// diffListings describes the first differences between two listings.
func diffListings(d1 []lsDoc, i1 []map[string]any, d2 []lsDoc, i2 []map[string]any) []string {
	var out []string
	if len(d1) != len(d2) {
		out = append(out, fmt.Sprintf("%d documents vs %d", len(d1), len(d2)))
	}
	if len(i1) != len(i2) {
		out = append(out, fmt.Sprintf("%d items vs %d", len(i1), len(i2)))
	}
	m2 := map[string]lsDoc{}
	for _, d := range d2 {
		m2[d.ID] = d
	}
	for _, d := range d1 {
		o, ok := m2[d.ID]
		if !ok {
			out = append(out, "document "+d.Source+" only in the first")
			continue
		}
		a, _ := json.Marshal(d)
		b, _ := json.Marshal(o)
		if string(a) != string(b) {
			out = append(out, fmt.Sprintf("document %s differs: %s vs %s", d.Source, a, b))
		}
		if len(out) > 8 {
			return out
		}
	}
	mi := map[string]string{}
	for _, it := range i2 {
		b, _ := json.Marshal(it)
		mi[fmt.Sprint(it["id"])] = string(b)
	}
	for _, it := range i1 {
		b, _ := json.Marshal(it)
		o, ok := mi[fmt.Sprint(it["id"])]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("item %v only in the first", it["id"]))
		case o != string(b):
			out = append(out, fmt.Sprintf("item %v differs", it["id"]))
		}
		if len(out) > 8 {
			return out
		}
	}
	return out
}
