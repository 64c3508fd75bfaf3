package sqlite

// Vector search.
//
// Vectors are not read from SQLite row by row per query: a query must score
// every vector of its model and modality, and at 1 000 000 items of 512
// dimensions that is 2 GiB of BLOBs to page in, copy through database/sql
// and decode on every search, seconds instead of a memory-bandwidth-bound
// scan. Instead, per (model, modality) the vectors sit in memory as one
// contiguous row-major []float32 matrix with parallel item IDs and
// per-document metadata for the filters. A matrix is loaded by one scan on
// the first search that needs it and afterwards patched by every commit of
// this Store, and by the commits of other processes that each search first
// looks for in the change log (changes.go). Its rows×dim×4 bytes of rows
// are on the heap while small and in a mapped file of their own once large
// (rowfile.go): page cache the kernel may evict, not memory the process
// holds. Rows are scored in runs by the
// batched kernel of store/vecmath (AVX-512 where the CPU has it), exact to
// 1e-6 against float64. Queries marked Approximate may instead be answered
// by the matrix's HNSW index once it has one (ann.go).

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"mmrag"
	"mmrag/store"
	"mmrag/store/vecmath"
)

// testHookMatrixRead, when set by a test, runs between the scan of a matrix
// and its installation.
var testHookMatrixRead func()

// docMeta is what the filters need of a document.
type docMeta struct {
	id, source, typ string
	ingested        int64
	hasIngested     bool
}

func (d *docMeta) match(f *mmrag.Filter) bool {
	if len(f.DocIDs) > 0 && !slices.Contains(f.DocIDs, d.id) {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, d.typ) {
		return false
	}
	if f.SourcePrefix != "" && !strings.HasPrefix(d.source, f.SourcePrefix) {
		return false
	}
	if !f.Since.IsZero() && (!d.hasIngested || d.ingested < boundNS(f.Since)) {
		return false
	}
	if !f.Until.IsZero() && (!d.hasIngested || d.ingested >= boundNS(f.Until)) {
		return false
	}
	return true
}

func filterIsZero(f *mmrag.Filter) bool {
	return len(f.DocIDs) == 0 && len(f.Types) == 0 && f.SourcePrefix == "" && f.Since.IsZero() && f.Until.IsZero()
}

type vecKey struct {
	model    string
	modality mmrag.Modality
}

// matrix holds the vectors of one model and modality. Row r is
// data[r*dim:(r+1)*dim], the vector of items[r], an item of docs[rowDoc[r]].
// Row order carries no meaning: removing a document moves the last rows
// into its holes.
type matrix struct {
	dim    int // 0 until the first vector
	data   []float32
	items  []string
	rowDoc []int32
	docs   []*docMeta       // documents with at least one row
	docPos map[string]int32 // document id → index in docs
	ann    *annIndex        // nil while the matrix has no approximate index (ann.go)

	// data lives in file once it outgrows mapMinBytes (rowfile.go), a
	// file in dir ("": always on the heap); fileErr is why it moved back
	// to the heap, if it did.
	dir     string
	file    *rowFile
	fileErr error
}

func (m *matrix) rows() int { return len(m.items) }

// removeDoc drops every row of a document: O(rows) to find them, O(removed
// rows × dim) to move the last rows into their places.
func (m *matrix) removeDoc(id string) {
	di, ok := m.docPos[id]
	if !ok {
		return
	}
	dim := m.dim
	n := len(m.items)
	for r := 0; r < n; {
		if m.rowDoc[r] != di {
			r++
			continue
		}
		last := n - 1
		m.ann.removeRow(r, last)
		if r != last {
			copy(m.data[r*dim:(r+1)*dim], m.data[last*dim:(last+1)*dim])
			m.items[r] = m.items[last]
			m.rowDoc[r] = m.rowDoc[last]
		}
		m.items[last] = ""
		n--
	}
	m.data = m.data[:n*dim]
	m.items = m.items[:n]
	m.rowDoc = m.rowDoc[:n]

	lastDoc := int32(len(m.docs) - 1)
	if di != lastDoc {
		m.docs[di] = m.docs[lastDoc]
		m.docPos[m.docs[di].id] = di
		for r, d := range m.rowDoc {
			if d == lastDoc {
				m.rowDoc[r] = di
			}
		}
	}
	m.docs[lastDoc] = nil
	m.docs = m.docs[:lastDoc]
	delete(m.docPos, id)
}

// add appends a row; the caller has checked len(v) == m.dim or set m.dim.
func (m *matrix) add(d *docMeta, item string, v []float32) {
	di, ok := m.docPos[d.id]
	if !ok {
		di = int32(len(m.docs))
		m.docs = append(m.docs, d)
		m.docPos[d.id] = di
	}
	m.reserve(len(v))
	m.data = append(m.data, v...)
	m.items = append(m.items, item)
	m.rowDoc = append(m.rowDoc, di)
	m.ann.addRow(len(m.items) - 1)
}

// vectorCache holds the matrices loaded so far. Searches read a matrix under
// mu.RLock; the writer patches under mu.Lock after each commit, so a search
// sees one committed state or the next, never a half-patched matrix.
type vectorCache struct {
	mu      sync.RWMutex
	m       map[vecKey]*matrix
	loading map[vecKey]*pendingLoad

	// applied is the change log position (changes.go) up to which every
	// commit, whoever made it, is in the matrices; own holds this Store's
	// commits past applied, already patched in: sequence number → document.
	applied int64
	own     map[int64]string

	// reloadedDocs and fullReloads count what catching up with other
	// writers read from the database (tests).
	reloadedDocs, fullReloads int

	// annWake wakes the approximate index's worker (ann.go); nil when off.
	annWake chan struct{}
}

// pendingLoad is a matrix being read from the database. Commits that land
// meanwhile are logged and replayed onto it before it is installed: every
// change is "replace (or delete) this whole document", so replaying one the
// scan already saw is harmless, and replaying in commit order ends at the
// committed state. Loading therefore never waits for a writer, nor a writer
// for a load.
type pendingLoad struct {
	log   []change
	stale bool // the matrices were dropped meanwhile: not to be installed
	done  chan struct{}
}

// change is a committed PutDocument (put set) or DeleteDocument (del): the
// whole new state of one document.
type change struct {
	put *put
	del string
}

func (ch change) docID() string {
	if ch.put != nil {
		return ch.put.doc.ID
	}
	return ch.del
}

func (c *vectorCache) init() {
	c.m = map[vecKey]*matrix{}
	c.loading = map[vecKey]*pendingLoad{}
	c.own = map[int64]string{}
}

func (c *vectorCache) reset() {
	c.mu.Lock()
	c.releaseAll()
	c.mu.Unlock()
}

// releaseAll drops every loaded matrix and releases its row file. The
// caller holds mu.
func (c *vectorCache) releaseAll() {
	for _, m := range c.m {
		m.release()
	}
	c.m = map[vecKey]*matrix{}
}

// committed patches the matrices after this Store's commit number seq of
// the change log. A commit at or below applied is skipped: catching up with
// other writers read it, or a later state of its document, from the
// database first.
func (c *vectorCache) committed(ch change, seq int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq <= c.applied {
		return
	}
	c.own[seq] = ch.docID()
	c.advance(c.applied)
	c.patch(ch)
}

// patch applies a change to the loaded matrices and logs it for the
// matrices being loaded. Matrices neither loaded nor loading read the new
// state from the database when first needed. The caller holds mu.
func (c *vectorCache) patch(ch change) {
	for key, m := range c.m {
		m.apply(key, ch)
	}
	for _, p := range c.loading {
		p.log = append(p.log, ch)
	}
	c.wakeANN()
}

// advance moves applied up to last and over the commits of this Store that
// follow it without a gap, forgetting them. The caller holds mu.
func (c *vectorCache) advance(last int64) {
	c.applied = max(c.applied, last)
	for seq := range c.own {
		if seq <= c.applied {
			delete(c.own, seq)
		}
	}
	for {
		if _, ok := c.own[c.applied+1]; !ok {
			return
		}
		delete(c.own, c.applied+1)
		c.applied++
	}
}

// dropAll forgets every matrix, loaded or loading, and moves applied to
// last: the matrices load again, from a state at least that new, when next
// needed. The caller holds mu.
func (c *vectorCache) dropAll(last int64) {
	c.releaseAll()
	for _, p := range c.loading {
		p.stale = true
	}
	c.advance(last)
	c.fullReloads++
}

// apply patches m, the matrix of key, with a committed change.
func (m *matrix) apply(key vecKey, ch change) {
	if ch.put == nil {
		m.removeDoc(ch.del)
		return
	}
	p := ch.put
	m.removeDoc(p.doc.ID)
	var d *docMeta
	for _, v := range p.vectors {
		if v.Model != key.model || p.modality[v.ItemID] != key.modality {
			continue
		}
		if d == nil {
			d = &docMeta{id: p.doc.ID, source: p.doc.Source, typ: p.doc.Type}
			if !p.doc.Ingested.IsZero() {
				d.ingested, d.hasIngested = p.doc.Ingested.UnixNano(), true
			}
		}
		if m.dim == 0 {
			m.dim = len(v.Values)
		}
		m.add(d, v.ItemID, v.Values)
	}
}

// withMatrix runs fn on the matrix of key under the read lock, loading the
// matrix first when needed.
func (s *Store) withMatrix(ctx context.Context, key vecKey, fn func(*matrix) error) error {
	for {
		s.vec.mu.RLock()
		m := s.vec.m[key]
		if m != nil {
			defer s.vec.mu.RUnlock()
			return fn(m)
		}
		s.vec.mu.RUnlock()
		if err := s.loadMatrix(ctx, key); err != nil {
			return err
		}
	}
}

// loadMatrix reads the vectors of key in one scan, or waits for the load
// another goroutine started.
func (s *Store) loadMatrix(ctx context.Context, key vecKey) error {
	c := &s.vec
	c.mu.Lock()
	if c.m[key] != nil {
		c.mu.Unlock()
		return nil
	}
	if p := c.loading[key]; p != nil {
		c.mu.Unlock()
		select {
		case <-p.done: // loaded, or failed: the caller looks again
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Registered before the read transaction starts: every commit the scan
	// may miss is logged.
	p := &pendingLoad{done: make(chan struct{})}
	c.loading[key] = p
	c.mu.Unlock()

	m, err := readMatrix(ctx, s.r, key, s.dir)
	if testHookMatrixRead != nil {
		testHookMatrixRead()
	}

	c.mu.Lock()
	delete(c.loading, key)
	switch {
	case err == nil && !p.stale:
		for _, ch := range p.log {
			m.apply(key, ch)
		}
		m.evict()
		c.m[key] = m
		c.wakeANN()
	case m != nil:
		m.release()
	}
	c.mu.Unlock()
	close(p.done)
	if err != nil {
		return fmt.Errorf("load vectors of model %s, %s items: %w", key.model, key.modality, err)
	}
	return nil
}

// readMatrix reads the matrix of key from db; its rows go to a row file in
// dir once large enough. On error it may return a matrix to release.
func readMatrix(ctx context.Context, db *sql.DB, key vecKey, dir string) (*matrix, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	m := &matrix{docPos: map[string]int32{}, dir: dir}
	var textCount, imageCount int
	err = tx.QueryRowContext(ctx, `SELECT dim, text_count, image_count FROM models WHERE model = ?`, key.model).
		Scan(&m.dim, &textCount, &imageCount)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	n := textCount
	if key.modality == mmrag.Image {
		n = imageCount
	}
	if n > 0 {
		if err := loadRows(ctx, tx, key, m, n); err != nil {
			return m, err
		}
	}
	return m, nil
}

func loadRows(ctx context.Context, tx *sql.Tx, key vecKey, m *matrix, n int) error {
	docs := map[string]*docMeta{}
	rows, err := tx.QueryContext(ctx, `SELECT id, source, type, ingested FROM documents`)
	if err != nil {
		return err
	}
	for rows.Next() {
		d := &docMeta{}
		var ing sql.NullInt64
		if err := rows.Scan(&d.id, &d.source, &d.typ, &ing); err != nil {
			rows.Close()
			return err
		}
		d.ingested, d.hasIngested = ing.Int64, ing.Valid
		docs[d.id] = d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	m.reserve(n * m.dim)
	m.items = make([]string, 0, n)
	m.rowDoc = make([]int32, 0, n)
	rows, err = tx.QueryContext(ctx, `
		SELECT v.item_id, i.doc_id, v.data FROM vectors v JOIN items i ON i.id = v.item_id
		WHERE v.model = ? AND i.modality = ?`, key.model, string(key.modality))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if len(m.items)%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var item, doc string
		var data sql.RawBytes
		if err := rows.Scan(&item, &doc, &data); err != nil {
			return err
		}
		if len(data) != 4*m.dim {
			return fmt.Errorf("vector of item %s has %d bytes, want %d", item, len(data), 4*m.dim)
		}
		d := docs[doc]
		if d == nil {
			return fmt.Errorf("item %s: document %s is missing", item, doc)
		}
		di, ok := m.docPos[doc]
		if !ok {
			di = int32(len(m.docs))
			m.docs = append(m.docs, d)
			m.docPos[doc] = di
		}
		m.reserve(m.dim) // n may be short: never let append move the rows
		m.data = decVectorInto(m.data, data)
		m.items = append(m.items, item)
		m.rowDoc = append(m.rowDoc, di)
	}
	return rows.Err()
}

// SearchVectors scores every vector of q.Model and q.Modality that q.Filter
// lets through by its dot product with q.Vector and returns the q.K best
// (all when q.K ≤ 0), best first, ties by item ID. A model the store does not
// hold yields no hits; a query vector whose length differs from the model's
// dimension is refused. It first catches up with the commits of other
// processes (see sync), so that it sees every commit made before it began.
func (s *Store) SearchVectors(ctx context.Context, q mmrag.VectorQuery) ([]mmrag.Hit, error) {
	var hits []mmrag.Hit
	err := s.withQuery(ctx, q, func(m *matrix, allow []bool) error {
		if q.Approximate {
			ann, ok, err := m.annSearch(q.Vector, q.K, allow, s.ann.opts)
			if ok {
				hits = ann
				return err
			}
		}
		var err error
		hits, err = m.search(ctx, q.Vector, q.K, allow, s.workers, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("search vectors: %w", err)
	}
	return hits, nil
}

// SearchSoftmax is the exact scan of SearchVectors (q.Approximate is
// ignored) that also sums softmax(score/temperature)'s denominator over
// every row q.Filter lets through, in the same pass: the reference scoring
// gets its q.K best hits and their exact probabilities without a million
// hits sorted and handed over. q.K ≤ 0 returns every hit, as SearchVectors.
func (s *Store) SearchSoftmax(ctx context.Context, q mmrag.VectorQuery, temperature float64) ([]mmrag.Hit, store.Softmax, error) {
	if !(temperature > 0) {
		return nil, store.Softmax{}, fmt.Errorf("search softmax: temperature %v is not positive", temperature)
	}
	var hits []mmrag.Hit
	sum := store.Softmax{T: temperature}
	err := s.withQuery(ctx, q, func(m *matrix, allow []bool) error {
		var err error
		hits, err = m.search(ctx, q.Vector, q.K, allow, s.workers, &sum)
		return err
	})
	if err != nil {
		return nil, store.Softmax{}, fmt.Errorf("search softmax: %w", err)
	}
	return hits, sum, nil
}

// withQuery runs fn on the matrix of q's model and modality with the
// filter's allowed documents (nil: all), after checking q and catching up
// with other processes' commits (see sync), so that a search sees every
// commit made before it began. It does not call fn when there is nothing
// to search: no such model, no rows, or a filter that lets nothing through.
func (s *Store) withQuery(ctx context.Context, q mmrag.VectorQuery, fn func(m *matrix, allow []bool) error) error {
	if err := store.CheckVectorQuery(q); err != nil {
		return err
	}
	if err := s.sync(ctx); err != nil {
		return err
	}
	return s.withMatrix(ctx, vecKey{q.Model, q.Modality}, func(m *matrix) error {
		if m.dim == 0 || m.rows() == 0 {
			return nil
		}
		if err := store.CheckQueryDim(q.Model, len(q.Vector), m.dim); err != nil {
			return err
		}
		var allow []bool
		if !filterIsZero(&q.Filter) {
			allow = make([]bool, len(m.docs))
			some := false
			for i, d := range m.docs {
				allow[i] = d.match(&q.Filter)
				some = some || allow[i]
			}
			if !some {
				return nil
			}
		}
		return fn(m, allow)
	})
}

// scored is a row with its score.
type scored struct {
	row   int32
	score float32
}

// parallelMin is the number of multiply-adds below which one goroutine is
// faster than several.
var parallelMin = 1 << 20

// blockRows is the unit of work a search goroutine takes at a time: small
// enough that a filter keeping only one region of the matrix still spreads
// over every goroutine, large enough that taking a block costs nothing.
var blockRows = 4096

// search is the exact scan: the k best allowed rows (all when k ≤ 0) as
// hits, best first. When sum is not nil every allowed row's score is also
// added to it.
func (m *matrix) search(ctx context.Context, q []float32, k int, allow []bool, workers int, sum *store.Softmax) ([]mmrag.Hit, error) {
	n := m.rows()
	all := k <= 0 || k >= n
	if workers < 1 || n*m.dim < parallelMin {
		workers = 1
	}
	workers = max(1, min(workers, (n+blockRows-1)/blockRows))
	var cursor atomic.Int64
	next := func() (lo, hi int, ok bool) {
		lo = int(cursor.Add(1)-1) * blockRows
		return lo, min(lo+blockRows, n), lo < n
	}
	parts := make([][]scored, workers)
	sums := make([]*store.Softmax, workers)
	errs := make([]error, workers)
	var every []scored // K ≤ 0: row r's score lands at every[r], no merge needed
	if all {
		every = make([]scored, n)
	}
	var wg sync.WaitGroup
	for w := range workers {
		if sum != nil {
			sums[w] = &store.Softmax{T: sum.T}
		}
		run := func() {
			if all {
				errs[w] = m.scoreAll(ctx, q, next, allow, every, sums[w])
			} else {
				parts[w], errs[w] = m.topK(ctx, q, next, k, allow, sums[w])
			}
		}
		if workers == 1 {
			run()
			break
		}
		wg.Go(run)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if sum != nil {
		for _, p := range sums {
			sum.Merge(*p)
		}
	}
	var merged []scored
	switch {
	case all:
		merged = every
		if allow != nil {
			merged = slices.DeleteFunc(every, func(s scored) bool { return s.row < 0 })
		}
	case workers == 1:
		merged = parts[0]
	default:
		for _, p := range parts {
			merged = append(merged, p...)
		}
	}
	m.sortScored(merged)
	if !all && len(merged) > k {
		merged = merged[:k]
	}
	hits := make([]mmrag.Hit, len(merged))
	for i, s := range merged {
		hits[i] = mmrag.Hit{ItemID: m.items[s.row], Score: s.score}
	}
	return hits, nil
}

// cmpScored orders by score descending, then item ID ascending.
func (m *matrix) cmpScored(a, b scored) int {
	if c := cmp.Compare(b.score, a.score); c != 0 {
		return c
	}
	return strings.Compare(m.items[a.row], m.items[b.row])
}

// sortScored sorts s in cmpScored order. K ≤ 0 sorts every row of the matrix
// on every query, so large inputs get an LSD radix sort on the score bits
// (four byte passes, linear) instead of a comparison sort; runs of equal
// scores are then ordered by item ID.
func (m *matrix) sortScored(s []scored) {
	if len(s) < 1024 {
		slices.SortFunc(s, m.cmpScored)
		return
	}
	// key maps a score to a uint32 whose ascending order is the scores'
	// descending order.
	key := func(x scored) uint32 {
		b := math.Float32bits(x.score)
		if b>>31 == 1 {
			b = ^b
		} else {
			b |= 1 << 31
		}
		return ^b
	}
	src, dst := s, make([]scored, len(s))
	for shift := 0; shift < 32; shift += 8 {
		var count [256]int
		for _, x := range src {
			count[key(x)>>shift&0xff]++
		}
		pos := 0
		for i, c := range count {
			count[i] = pos
			pos += c
		}
		for _, x := range src {
			b := key(x) >> shift & 0xff
			dst[count[b]] = x
			count[b]++
		}
		src, dst = dst, src
	}
	// Four passes: the sorted data is back in s.
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && s[j].score == s[i].score {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(s[i:j], m.cmpScored)
		}
		i = j
	}
}

// scoreAll scores the rows of the blocks next hands out into out[row]; a
// row the filter rejects gets row -1. sum, when not nil, counts every
// allowed row's score.
func (m *matrix) scoreAll(ctx context.Context, q []float32, next func() (int, int, bool), allow []bool, out []scored, sum *store.Softmax) error {
	buf := make([]float32, blockRows)
	for lo, hi, ok := next(); ok; lo, hi, ok = next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := m.scoreBlock(q, lo, hi, allow, buf)
		for r := lo; r < hi; r++ {
			if allow != nil && !allow[m.rowDoc[r]] {
				out[r] = scored{row: -1}
				continue
			}
			out[r] = scored{int32(r), s[r-lo]}
			if sum != nil {
				sum.Add(s[r-lo])
			}
		}
	}
	return nil
}

// scoreBlock scores the allowed rows lo..hi-1 against q into s[r-lo],
// returning s = buf[:hi-lo]; the slots of rejected rows hold no score.
// Runs of allowed rows (the rows of a document are mostly adjacent) go to
// the batched kernel, one query against consecutive rows.
func (m *matrix) scoreBlock(q []float32, lo, hi int, allow []bool, buf []float32) []float32 {
	dim := m.dim
	s := buf[:hi-lo]
	for r := lo; r < hi; {
		if allow != nil && !allow[m.rowDoc[r]] {
			r++
			continue
		}
		end := r + 1
		for end < hi && (allow == nil || allow[m.rowDoc[end]]) {
			end++
		}
		vecmath.DotBatch(q, m.data[r*dim:end*dim], s[r-lo:end-lo])
		r = end
	}
	return s
}

// topK keeps the k best allowed rows of the blocks next hands out in a
// min-heap whose root is the worst kept row: a row enters only when it beats
// the root. sum, when not nil, counts every allowed row's score.
func (m *matrix) topK(ctx context.Context, q []float32, next func() (int, int, bool), k int, allow []bool, sum *store.Softmax) ([]scored, error) {
	h := make([]scored, 0, k)
	// worse reports whether a ranks below b: lower score, or the same score
	// and a larger item ID (the final order breaks ties by ID ascending).
	worse := func(a, b scored) bool {
		if a.score != b.score {
			return a.score < b.score
		}
		return m.items[a.row] > m.items[b.row]
	}
	buf := make([]float32, blockRows)
	for lo, hi, ok := next(); ok; lo, hi, ok = next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		scores := m.scoreBlock(q, lo, hi, allow, buf)
		for r := lo; r < hi; r++ {
			if allow != nil && !allow[m.rowDoc[r]] {
				continue
			}
			s := scored{int32(r), scores[r-lo]}
			if sum != nil {
				sum.Add(s.score)
			}
			if len(h) < k {
				h = append(h, s)
				siftUp(h, len(h)-1, worse)
				continue
			}
			if !worse(h[0], s) {
				continue
			}
			h[0] = s
			siftDown(h, 0, worse)
		}
	}
	return h, nil
}

func siftUp(h []scored, i int, worse func(a, b scored) bool) {
	for i > 0 {
		p := (i - 1) / 2
		if !worse(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func siftDown(h []scored, i int, worse func(a, b scored) bool) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && worse(h[r], h[l]) {
			c = r
		}
		if !worse(h[c], h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}
