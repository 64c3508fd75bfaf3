package sqlite

// Approximate vector search.
//
// A matrix of at least ANNOptions.Threshold rows gets an HNSW index
// (package hnsw: int8 codes, float32 rescoring from the matrix) that
// answers the searches that allow it (mmrag.VectorQuery.Approximate:
// cosine and hybrid top-k); every other search, and every search while
// the index is not ready, is the exact scan.
//
// The index maps its nodes to matrix rows (nodeRow, rowNode) and follows
// the matrix: the functions that remove or add rows (removeDoc, add: every
// commit of this Store, every commit of another process replayed from the
// change log, every load) tombstone the node of a removed row, move the
// mapping of a moved row, and leave a new row pending. A background worker
// (one per Store) indexes pending rows in small batches; a search scans
// the pending rows exactly and merges them with the index's results, so a
// new item is found at once, and takes a result only through a live row,
// so a deleted item is never returned. Until few rows are pending (a
// build, a rebuild) searches stay exact: a search never waits for a build.
//
// The worker saves the index to ann/ in the store directory when a build
// completes, and Close saves it again when it changed, recording the change
// sequence it reflects. On open the worker loads it, reads the documents the
// change log names past that sequence and drops their nodes (their rows are
// indexed again); a file that is torn, damaged, of other parameters, or
// older than the log reaches is rebuilt. Locks: searches and the worker's
// batches hold the cache's read lock, writers its write lock; a batch binds
// its new nodes under annIndex.mu, which searches read-lock.

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"mmrag"
	"mmrag/hnsw"
	"mmrag/store/vecmath"
)

// ANNOptions are the settings of the approximate index of a store.
type ANNOptions struct {
	// Off keeps every search exact.
	Off bool
	// Threshold is the number of rows of one (model, modality) from which
	// it gets an index; default 20 000.
	Threshold int
	// M, EfConstruction and EfSearch are the HNSW parameters: defaults 16,
	// 200 and 200 (recall@10 0.97 on CLIP-like data at 30 000 items, where
	// ef 128 gave 0.957). A search for K items uses ef ≥ 2K.
	M, EfConstruction, EfSearch int
}

// Defaults of ANNOptions.
const (
	DefaultANNThreshold      = 20_000
	DefaultANNM              = 16
	DefaultANNEfConstruction = 200
	DefaultANNEfSearch       = 200
)

// WithANN sets the approximate index's options.
func WithANN(o ANNOptions) Option {
	return func(c *config) { c.ann = o }
}

func (o ANNOptions) withDefaults() ANNOptions {
	if o.Threshold <= 0 {
		o.Threshold = DefaultANNThreshold
	}
	if o.M <= 0 {
		o.M = DefaultANNM
	}
	if o.EfConstruction <= 0 {
		o.EfConstruction = DefaultANNEfConstruction
	}
	if o.EfSearch <= 0 {
		o.EfSearch = DefaultANNEfSearch
	}
	return o
}

const (
	annBatch         = 256   // rows a worker batch inserts while holding the read lock
	annMaxK          = 512   // larger K: exact scan
	annMaxEf         = 2048  // cap of a filtered search's ef
	annFilterMinRows = 5_000 // a filter passing fewer rows (or under a tenth): exact scan
	annMaxPending    = 20_000
)

// annIndex is the index of one matrix.
type annIndex struct {
	idx *hnsw.Index

	mu      sync.RWMutex
	nodeRow []int32 // node → row; -1 once the row is gone
	rowNode []int32 // row → node; -1 while pending
	pending map[int32]struct{}

	dirty   bool  // changed since loaded or saved
	evicted bool  // the matrix's rows were evicted once the index held them all
	saveDue bool  // a build completed: save when nothing is pending
	rebuilt error // why the saved index was not used (nil: it was)

	searches atomic.Int64 // searches the index answered (tests)
}

// newANN returns an empty index over m with every row pending.
func (o ANNOptions) newANN(m *matrix) (*annIndex, error) {
	a := &annIndex{}
	x, err := hnsw.New(m.dim, hnsw.Config{M: o.M, EfConstruction: o.EfConstruction, EfSearch: o.EfSearch}, a.vectors(m))
	if err != nil {
		return nil, err
	}
	a.idx, a.dirty, a.saveDue = x, true, true
	a.rowNode = make([]int32, m.rows())
	a.pending = make(map[int32]struct{}, m.rows())
	for r := range a.rowNode {
		a.rowNode[r] = -1
		a.pending[int32(r)] = struct{}{}
	}
	return a, nil
}

// vectors gives hnsw the float32 row of a node; it is called only for nodes
// the search's allow function accepted, whose rows are live.
func (a *annIndex) vectors(m *matrix) hnsw.Vectors {
	return func(id uint32) []float32 {
		r := int(a.nodeRow[id])
		return m.data[r*m.dim : (r+1)*m.dim]
	}
}

// caughtUp reports whether few enough of a matrix's rows are pending for
// searches to use the index (and scan the pending rows exactly). The
// caller holds a.mu.
func (a *annIndex) caughtUp(rows int) bool {
	return len(a.pending) <= min(annMaxPending, rows/4)
}

// removeRow follows matrix.removeDoc dropping row r and moving the last row
// into its place. The caller holds the cache's write lock.
func (a *annIndex) removeRow(r, last int) {
	if a == nil {
		return
	}
	if nd := a.rowNode[r]; nd >= 0 {
		_ = a.idx.Delete(uint32(nd)) // nd < Len: cannot fail
		a.nodeRow[nd] = -1
	} else {
		delete(a.pending, int32(r))
	}
	if r != last {
		nd := a.rowNode[last]
		a.rowNode[r] = nd
		if nd >= 0 {
			a.nodeRow[nd] = int32(r)
		} else {
			delete(a.pending, int32(last))
			a.pending[int32(r)] = struct{}{}
		}
	}
	a.rowNode = a.rowNode[:last]
	a.dirty = true
}

// addRow follows matrix.add appending row r. The caller holds the cache's
// write lock.
func (a *annIndex) addRow(r int) {
	if a == nil {
		return
	}
	a.rowNode = append(a.rowNode, -1)
	a.pending[int32(r)] = struct{}{}
	a.dirty = true
}

// bind maps the nodes of a loaded index to the rows of their items. A node
// whose item is gone, or whose document changed after the index was saved
// (changed), is deleted; rows without a node are pending.
func (a *annIndex) bind(m *matrix, nodes []string, changed map[string]bool) error {
	rowOf := make(map[string]int32, m.rows())
	for r, it := range m.items {
		rowOf[it] = int32(r)
	}
	a.nodeRow = make([]int32, len(nodes))
	a.rowNode = make([]int32, m.rows())
	for r := range a.rowNode {
		a.rowNode[r] = -1
	}
	var dead []uint32
	for n, it := range nodes {
		r, ok := rowOf[it]
		if it == "" || !ok || changed[m.docs[m.rowDoc[r]].id] || a.rowNode[r] >= 0 {
			a.nodeRow[n] = -1
			dead = append(dead, uint32(n))
			continue
		}
		a.nodeRow[n], a.rowNode[r] = r, int32(n)
	}
	if err := a.idx.Delete(dead...); err != nil {
		return err
	}
	if a.idx.Deleted() > a.idx.Len()/2 {
		return fmt.Errorf("%w: %d of %d nodes deleted", errStaleIndex, a.idx.Deleted(), a.idx.Len())
	}
	a.pending = map[int32]struct{}{}
	for r, nd := range a.rowNode {
		if nd < 0 {
			a.pending[int32(r)] = struct{}{}
		}
	}
	return nil
}

// annSearch answers q from the index when it is ready and the filter (allow,
// per document; nil: none) lets through enough rows; ok is false when the
// caller must scan exactly. The caller holds the cache's read lock.
func (m *matrix) annSearch(q []float32, k int, allow []bool, o ANNOptions) (hits []mmrag.Hit, ok bool, err error) {
	a := m.ann
	rows := m.rows()
	if a == nil || o.Off || rows < o.Threshold || k <= 0 || k > annMaxK {
		return nil, false, nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if !a.caughtUp(rows) {
		return nil, false, nil
	}
	live := func(id uint32) bool { return int(id) < len(a.nodeRow) && a.nodeRow[id] >= 0 }
	keep := live
	ef := max(o.EfSearch, 2*k)
	if allow != nil {
		n := 0
		for _, d := range m.rowDoc {
			if allow[d] {
				n++
			}
		}
		if n < annFilterMinRows || n*10 < rows {
			return nil, false, nil
		}
		ef = min(annMaxEf, max(ef, ef*rows/n))
		keep = func(id uint32) bool { return live(id) && allow[m.rowDoc[a.nodeRow[id]]] }
	}
	res, err := a.idx.Search(q, k, ef, keep)
	if err != nil {
		return nil, true, err
	}
	out := make([]scored, 0, len(res)+len(a.pending))
	for _, r := range res {
		row := a.nodeRow[r.ID]
		if row < 0 || int(row) >= rows || a.rowNode[row] != int32(r.ID) {
			continue // not a live row: never returned
		}
		out = append(out, scored{row, r.Score})
	}
	for r := range a.pending {
		if allow != nil && !allow[m.rowDoc[r]] {
			continue
		}
		out = append(out, scored{r, vecmath.Dot(q, m.data[int(r)*m.dim:(int(r)+1)*m.dim])})
	}
	m.sortScored(out)
	out = out[:min(k, len(out))]
	hits = make([]mmrag.Hit, len(out))
	for i, s := range out {
		hits[i] = mmrag.Hit{ItemID: m.items[s.row], Score: s.score}
	}
	a.searches.Add(1)
	return hits, true, nil
}

// annWorker is the background indexer of a Store.
type annWorker struct {
	opts   ANNOptions
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	failed map[vecKey]error // attach failed: exact until reopened (worker only)
}

// startANN starts the worker unless the index is off.
func (s *Store) startANN(o ANNOptions) {
	s.ann.opts = o.withDefaults()
	if o.Off {
		return
	}
	s.ann.ctx, s.ann.cancel = context.WithCancel(context.Background())
	s.ann.done = make(chan struct{})
	s.ann.failed = map[vecKey]error{}
	s.vec.annWake = make(chan struct{}, 1)
	go s.annLoop()
}

// wakeANN tells the worker that a matrix changed or loaded.
func (c *vectorCache) wakeANN() {
	select {
	case c.annWake <- struct{}{}:
	default:
	}
}

func (s *Store) annLoop() {
	defer close(s.ann.done)
	for {
		select {
		case <-s.ann.ctx.Done():
			return
		case <-s.vec.annWake:
		}
		for s.ann.ctx.Err() == nil && s.annStep() {
		}
	}
}

type annJob int

const (
	jobNone annJob = iota
	jobAttach
	jobIndex
	jobSave
	jobRebuild
)

// annStep does one bounded piece of work and reports whether there was any.
func (s *Store) annStep() bool {
	key, m, job := s.annNextJob()
	switch job {
	case jobAttach:
		if err := s.attachANN(key, m); err != nil {
			s.ann.failed[key] = err
		}
		s.evictOnceReady(key, m)
	case jobIndex:
		if err := s.indexBatch(key, m); err != nil {
			s.ann.failed[key] = err
		}
		s.evictOnceReady(key, m)
	case jobSave:
		s.vec.mu.RLock()
		if s.vec.m[key] == m { // not dropped meanwhile: applied is its state
			_ = s.saveANN(key, m) // on failure the next open rebuilds
		}
		s.vec.mu.RUnlock()
	case jobRebuild:
		s.vec.mu.Lock()
		if s.vec.m[key] == m && m.ann != nil {
			if a, err := s.ann.opts.newANN(m); err == nil {
				m.ann = a
			}
		}
		s.vec.mu.Unlock()
	default:
		return false
	}
	return true
}

// evictOnceReady evicts the rows of m from the process (rowfile.go) the
// first time its index holds every row: the exact scans that ran until
// the index was ready read every row, and so did the build (each
// insertion rescores its candidates with their rows), while searches
// through the index read only the rows they rescore. A shared file
// mapping keeps the rows in the page cache, so this is safe beside
// searches. Once a large index is ready it also hands the garbage of the
// build (or of reading the saved index) back to the system: the heap's
// next collection would otherwise wait for it to double (at 300 000 rows
// 865 MB resident, 398 MB after).
func (s *Store) evictOnceReady(key vecKey, m *matrix) {
	if s.evictRows(key, m) >= freeAfterRows {
		debug.FreeOSMemory()
	}
}

// freeAfterRows is the size of an index from which its readiness returns
// memory to the system.
const freeAfterRows = 100_000

// evictRows is evictOnceReady's eviction; it returns the rows of the
// index when it became ready now, else 0.
func (s *Store) evictRows(key vecKey, m *matrix) int {
	s.vec.mu.RLock()
	defer s.vec.mu.RUnlock()
	a := m.ann
	if s.vec.m[key] != m || a == nil {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.evicted || len(a.pending) > 0 {
		return 0
	}
	a.evicted = true
	m.evict()
	return len(a.nodeRow)
}

func (s *Store) annNextJob() (vecKey, *matrix, annJob) {
	s.vec.mu.RLock()
	defer s.vec.mu.RUnlock()
	for key, m := range s.vec.m {
		if s.ann.failed[key] != nil {
			continue
		}
		a := m.ann
		switch {
		case a == nil && m.rows() >= s.ann.opts.Threshold && m.dim > 0:
			return key, m, jobAttach
		case a == nil:
		case a.idx.Deleted() > a.idx.Len()/2 && a.idx.Len() >= s.ann.opts.Threshold:
			return key, m, jobRebuild
		case len(a.pending) > 0:
			return key, m, jobIndex
		case a.saveDue:
			return key, m, jobSave
		}
	}
	return vecKey{}, nil, jobNone
}

// attachANN gives m its index: the saved one brought up to date, or a new
// one to build.
func (s *Store) attachANN(key vecKey, m *matrix) error {
	graph, items := annPaths(s.dir, key)
	a := &annIndex{}
	x, nodes, seq, err := loadIndexFiles(graph, items, a.vectors(m), 0)
	if err == nil {
		if c := x.Config(); x.Dim() != m.dim || c.M != s.ann.opts.M || c.EfConstruction != s.ann.opts.EfConstruction {
			err = fmt.Errorf("%w: built with other parameters", errStaleIndex)
		}
	}
	s.vec.mu.Lock()
	defer s.vec.mu.Unlock()
	if s.vec.m[key] != m {
		return nil // dropped meanwhile: the next matrix attaches again
	}
	if err == nil {
		var changed map[string]bool
		if changed, err = s.changedSince(s.ann.ctx, seq); err == nil {
			a.idx = x
			err = a.bind(m, nodes, changed)
		}
	}
	if err == nil {
		m.ann = a
		return nil
	}
	if s.ann.ctx.Err() != nil {
		return nil
	}
	fresh, nerr := s.ann.opts.newANN(m)
	if nerr != nil {
		return fmt.Errorf("index vectors of model %s, %s items: %w", key.model, key.modality, nerr)
	}
	fresh.rebuilt = err
	m.ann = fresh
	return nil
}

// changedSince returns the documents the change log names after seq, or an
// error when the log no longer reaches back to seq or never reached it.
func (s *Store) changedSince(ctx context.Context, seq int64) (map[string]bool, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var first, last int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM changes`).Scan(&first, &last); err != nil {
		return nil, fmt.Errorf("read change log: %w", err)
	}
	switch {
	case seq > last:
		return nil, fmt.Errorf("%w: index at change %d, the store at %d", errStaleIndex, seq, last)
	case last > seq && first > seq+1:
		return nil, fmt.Errorf("%w: the change log starts at %d, after the index's %d", errStaleIndex, first, seq)
	}
	log, err := readLog(ctx, tx, seq)
	if err != nil {
		return nil, err
	}
	changed := make(map[string]bool, len(log))
	for _, l := range log {
		changed[l.doc] = true
	}
	return changed, nil
}

// indexBatch inserts up to annBatch pending rows of m under the read lock:
// searches go on, writers wait for one batch at most.
func (s *Store) indexBatch(key vecKey, m *matrix) error {
	s.vec.mu.RLock()
	defer s.vec.mu.RUnlock()
	a := m.ann
	if s.vec.m[key] != m || a == nil {
		return nil
	}
	rows := make([]int32, 0, annBatch)
	for r := range a.pending {
		if len(rows) == annBatch {
			break
		}
		rows = append(rows, r)
	}
	slices.Sort(rows)
	vecs := make([][]float32, len(rows))
	for i, r := range rows {
		vecs[i] = m.data[int(r)*m.dim : (int(r)+1)*m.dim]
	}
	first, err := a.idx.Add(vecs)
	if err != nil {
		return fmt.Errorf("index vectors of model %s, %s items: %w", key.model, key.modality, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if int(first) != len(a.nodeRow) {
		return fmt.Errorf("index vectors of model %s, %s items: node %d added, %d mapped", key.model, key.modality, first, len(a.nodeRow))
	}
	for i, r := range rows {
		a.nodeRow = append(a.nodeRow, r)
		a.rowNode[r] = int32(first) + int32(i)
		delete(a.pending, r)
	}
	a.dirty = true
	return nil
}

// saveANN writes the index of m with the change sequence the matrices
// reflect. The caller holds the cache's read lock (or its write lock).
func (s *Store) saveANN(key vecKey, m *matrix) error {
	a := m.ann
	if a == nil {
		return nil
	}
	nodes := make([]string, len(a.nodeRow))
	for n, r := range a.nodeRow {
		if r >= 0 {
			nodes[n] = m.items[r]
		}
	}
	graph, items := annPaths(s.dir, key)
	err := saveIndexFiles(graph, items, a.idx, nodes, s.vec.applied)
	a.mu.Lock()
	a.saveDue = false
	if err == nil {
		a.dirty = false
	}
	a.mu.Unlock()
	if err != nil {
		return fmt.Errorf("save the index of model %s, %s items: %w", key.model, key.modality, err)
	}
	return nil
}

// closeANN stops the worker and saves every index that changed.
func (s *Store) closeANN() error {
	if s.ann.cancel == nil {
		return nil
	}
	s.ann.cancel()
	<-s.ann.done
	s.vec.mu.Lock()
	defer s.vec.mu.Unlock()
	var errs []error
	for key, m := range s.vec.m {
		if m.ann != nil && m.ann.dirty {
			errs = append(errs, s.saveANN(key, m))
		}
	}
	return errors.Join(errs...)
}

// ANNStatus is the state of the approximate index of one model and modality.
type ANNStatus struct {
	Model    string
	Modality mmrag.Modality
	Rows     int  // vectors the matrix holds
	Pending  int  // of them, not yet in the index
	Ready    bool // searches with Approximate set use it
	Saved    bool // nothing changed since it was last loaded or saved
}

// ANNStatus reports the indexes of the matrices loaded so far (a matrix
// loads on its first search); a matrix under the threshold has none.
func (s *Store) ANNStatus() []ANNStatus {
	s.vec.mu.RLock()
	defer s.vec.mu.RUnlock()
	var out []ANNStatus
	for key, m := range s.vec.m {
		a := m.ann
		if a == nil {
			continue
		}
		a.mu.RLock()
		st := ANNStatus{Model: key.model, Modality: key.modality, Rows: m.rows(), Pending: len(a.pending), Saved: !a.dirty}
		st.Ready = !s.ann.opts.Off && st.Rows >= s.ann.opts.Threshold && a.caughtUp(st.Rows)
		a.mu.RUnlock()
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b ANNStatus) int {
		return cmp.Or(strings.Compare(a.Model, b.Model), strings.Compare(string(a.Modality), string(b.Modality)))
	})
	return out
}
