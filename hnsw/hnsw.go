// Package hnsw is an approximate nearest-neighbour index for inner-product
// (cosine, on unit vectors) search: a hierarchical navigable small-world
// graph (Malkov & Yashunin) over int8 codes of the vectors, scored with the
// AVX-512 VNNI kernel of store/vecmath, whose best candidates are rescored
// with the float32 originals the caller keeps.
//
// Nodes are dense uint32 ids in insertion order; the caller maps them to
// its own keys. Delete leaves a tombstone: the node still routes searches
// (the graph stays connected) but is never returned, and new nodes do not
// link to it; a caller rebuilds when Deleted grows past a fraction of Len. Filters work the same way: an allow
// function decides what may be returned, and a caller with a selective
// filter scans its few allowed rows exactly instead.
//
// Add and Delete take the index's write lock, Search its read lock: an
// index is safe for concurrent use. Add inserts a batch on Config.Workers
// goroutines that lock the link lists they touch.
package hnsw

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"mmrag/store/vecmath"
)

// Config holds the parameters of an index.
type Config struct {
	M              int // links per node on the upper layers, 2M on the ground layer; default 16
	EfConstruction int // candidate list size while inserting; default 200
	EfSearch       int // candidate list size of a search that names none; default 64
	// Rescore is how many of a search's best candidates by int8 estimate
	// are rescored with the float32 originals (at least k); 0: all ef of
	// them. Fewer reads of the originals where they are on disk.
	Rescore int
	Workers int    // goroutines inserting a batch; default GOMAXPROCS
	Seed    uint64 // of the layer draws
}

func (c Config) withDefaults() Config {
	if c.M <= 0 {
		c.M = 16
	}
	if c.EfConstruction <= 0 {
		c.EfConstruction = 200
	}
	if c.EfSearch <= 0 {
		c.EfSearch = 64
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	return c
}

// Vectors returns the float32 original of node id, for rescoring; nil
// leaves the int8 estimate as the score.
type Vectors func(id uint32) []float32

// Result is a node and its score: the float32 inner product with the query
// when the index has the originals, the int8 estimate otherwise.
type Result struct {
	ID    uint32
	Score float32
}

// maxLevel caps the layer draw (a node of layer l has l upper link lists).
const maxLevel = 16

// Index is an HNSW graph over int8 codes.
type Index struct {
	mu  sync.RWMutex
	cfg Config
	dim int
	vec Vectors

	rot   rotation // what codes are taken of (rotate.go)
	scale float32  // code = round(x·scale) of the turned x, clamped to ±127; 0 until the first Add
	codes []int8   // node id → dim codes at id*dim
	level []uint8  // node id → its top layer
	dead  []bool   // tombstones
	ndead int

	// links0 holds the ground-layer lists, stride 2M+1: a count, then
	// neighbours. upper[id] holds the lists of layers 1..level[id], stride
	// M+1 each.
	links0 []uint32
	upper  [][]uint32
	indeg  []int32 // ground-layer in-links per node (orphans.go)

	orphanMu sync.Mutex
	orphans  []uint32 // nodes whose last in-link went while inserting

	entry    uint32
	top      int // layer of entry; -1 while empty
	entryMu  sync.Mutex
	stripes  [1024]sync.Mutex // link-list locks while a batch is inserted
	rng      *rand.Rand
	visitors sync.Pool
}

// New returns an empty index of dim-dimensional vectors.
func New(dim int, cfg Config, vec Vectors) (*Index, error) {
	if dim <= 0 {
		return nil, fmt.Errorf("hnsw: dimension %d", dim)
	}
	cfg = cfg.withDefaults()
	if cfg.M < 2 || cfg.M > 256 {
		return nil, fmt.Errorf("hnsw: M %d outside 2..256", cfg.M)
	}
	return &Index{cfg: cfg, dim: dim, vec: vec, rot: newRotation(dim), top: -1, rng: rand.New(rand.NewPCG(cfg.Seed, 0x686e7377))}, nil
}

// Config returns the parameters of the index.
func (x *Index) Config() Config { return x.cfg }

// Dim returns the dimension of the indexed vectors.
func (x *Index) Dim() int { return x.dim }

// Len returns the number of nodes, deleted ones included.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.level)
}

// Deleted returns the number of tombstones.
func (x *Index) Deleted() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.ndead
}

func (x *Index) m0() int { return 2 * x.cfg.M }

// Add inserts vectors (each of Dim values, unit length for cosine) and
// returns the id of the first: the others follow in order.
func (x *Index) Add(vectors [][]float32) (uint32, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	first := len(x.level)
	if uint64(first)+uint64(len(vectors)) > math.MaxUint32 {
		return 0, errors.New("hnsw: index full")
	}
	for i, v := range vectors {
		if len(v) != x.dim {
			return 0, fmt.Errorf("hnsw: vector %d has %d dimensions, the index %d", i, len(v), x.dim)
		}
		for _, f := range v {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return 0, fmt.Errorf("hnsw: vector %d holds NaN or Inf", i)
			}
		}
	}
	if len(vectors) == 0 {
		return uint32(first), nil
	}
	if x.scale == 0 {
		x.scale = x.chooseScale(vectors)
	}
	x.grow(vectors)
	ids := make(chan uint32)
	next := uint32(first)
	if x.top < 0 { // the first node is the entry: nothing to link
		x.entry, x.top = next, int(x.level[next])
		next++
	}
	var wg sync.WaitGroup
	for range x.cfg.Workers {
		wg.Go(func() {
			w := x.newWorker()
			for id := range ids {
				x.insert(w, id)
			}
		})
	}
	for id := next; id < uint32(len(x.level)); id++ {
		ids <- id
	}
	close(ids)
	wg.Wait()
	x.repairOrphans(uint32(first))
	return uint32(first), nil
}

// grow appends the codes, layers and empty link lists of new nodes.
func (x *Index) grow(vectors [][]float32) {
	ml := 1 / math.Log(float64(x.cfg.M))
	x.codes = slices.Grow(x.codes, len(vectors)*x.dim)
	turned := make([]float32, x.dim)
	for _, v := range vectors {
		x.codes = x.encode(x.codes, v, turned)
		l := min(int(-math.Log(1-x.rng.Float64())*ml), maxLevel)
		x.level = append(x.level, uint8(l))
		x.dead = append(x.dead, false)
		x.links0 = append(x.links0, make([]uint32, x.m0()+1)...)
		x.indeg = append(x.indeg, 0)
		var up []uint32
		if l > 0 {
			up = make([]uint32, l*(x.cfg.M+1))
		}
		x.upper = append(x.upper, up)
	}
}

// Delete marks nodes deleted: they are never returned again. A tombstone
// keeps its links and still routes searches; relinking its neighbours
// around it measured worse (20 000 nodes, a tenth deleted including every
// query's true best, ef 128: recall@10 0.9555 before, 0.9535 with
// tombstones, 0.9465 with the neighbours relinked by the heuristic), so a
// caller rebuilds instead once Deleted is a large share of Len. Unknown
// ids are refused before any is marked.
func (x *Index) Delete(ids ...uint32) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, id := range ids {
		if int(id) >= len(x.level) {
			return fmt.Errorf("hnsw: delete %d: no such node (%d nodes)", id, len(x.level))
		}
	}
	for _, id := range ids {
		if !x.dead[id] {
			x.dead[id] = true
			x.ndead++
		}
	}
	return nil
}

// IsDeleted reports whether id carries a tombstone.
func (x *Index) IsDeleted(id uint32) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return int(id) < len(x.dead) && x.dead[id]
}

// Search returns the k nodes nearest q (largest inner product), best first,
// ties by id, among those not deleted and, when allow is not nil, allowed.
// ef (0: Config.EfSearch; raised to k) is the candidate list size: larger
// is slower and finds more of the true nearest. The ef best candidates by
// int8 estimate (Config.Rescore of them, when set) are rescored with the
// float32 originals.
func (x *Index) Search(q []float32, k, ef int, allow func(id uint32) bool) ([]Result, error) {
	if len(q) != x.dim {
		return nil, fmt.Errorf("hnsw: query has %d dimensions, the index %d", len(q), x.dim)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.top < 0 || k <= 0 {
		return nil, nil
	}
	if ef <= 0 {
		ef = x.cfg.EfSearch
	}
	ef = max(ef, k)
	w := x.getWorker()
	defer x.visitors.Put(w)
	if len(w.turned) != x.dim {
		w.turned = make([]float32, x.dim)
	}
	qc := x.encode(w.query[:0], q, w.turned)
	w.query = qc
	keep := func(id uint32) bool { return !x.dead[id] && (allow == nil || allow(id)) }

	ep := cand{x.score(qc, x.entry), x.entry}
	for l := x.top; l > 0; l-- {
		ep = x.greedy(w, qc, ep, l, false)
	}
	found := x.searchLayer(w, qc, []cand{ep}, ef, 0, keep, false)
	if x.vec != nil && x.cfg.Rescore > 0 {
		found = found[:min(len(found), max(k, x.cfg.Rescore))]
	}
	res := make([]Result, len(found))
	for i, c := range found {
		res[i] = Result{ID: c.id, Score: float32(c.s) / (x.scale * x.scale)}
		if x.vec != nil {
			res[i].Score = vecmath.Dot(q, x.vec(c.id))
		}
	}
	slices.SortFunc(res, func(a, b Result) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return int(a.ID) - int(b.ID)
	})
	return res[:min(k, len(res))], nil
}

// chooseScale maps the 99.99th percentile of |component| over (a sample
// of) the first batch, turned, to 127: a few outliers clip, the rest keep
// their resolution. The percentile is never taken below 4/√dim, four
// standard deviations of a random unit vector's components, so that a
// first batch of a few vectors does not clip the ones after it.
func (x *Index) chooseScale(vectors [][]float32) float32 {
	step := max(1, len(vectors)/2000)
	var abs []float32
	turned := make([]float32, x.dim)
	for i := 0; i < len(vectors); i += step {
		x.rot.apply(turned, vectors[i])
		for _, f := range turned {
			abs = append(abs, float32(math.Abs(float64(f))))
		}
	}
	slices.Sort(abs)
	hi := abs[min(len(abs)-1, int(float64(len(abs))*0.9999))]
	hi = max(hi, float32(4/math.Sqrt(float64(len(vectors[0])))))
	return 127 / hi
}

// encode appends the int8 codes of v, turned (into scratch, of dim
// values), to dst.
func (x *Index) encode(dst []int8, v, scratch []float32) []int8 {
	x.rot.apply(scratch, v)
	for _, f := range scratch {
		c := math.Round(float64(f * x.scale))
		dst = append(dst, int8(max(-127, min(127, c))))
	}
	return dst
}

func (x *Index) code(id uint32) []int8 {
	return x.codes[int(id)*x.dim : (int(id)+1)*x.dim]
}

func (x *Index) score(q []int8, id uint32) int32 { return vecmath.DotInt8(q, x.code(id)) }

// worker is the scratch space of one search or insertion.
type worker struct {
	marks  []uint32 // visited: marks[id] == gen
	gen    uint32
	cands  heap // to expand, best first
	found  heap // kept, worst first
	nbuf   []uint32
	query  []int8
	turned []float32 // the query turned (rotate.go)
}

func (x *Index) newWorker() *worker {
	return &worker{marks: make([]uint32, len(x.level)), nbuf: make([]uint32, 0, x.m0())}
}

func (x *Index) getWorker() *worker {
	w, _ := x.visitors.Get().(*worker)
	if w == nil || len(w.marks) < len(x.level) {
		return x.newWorker()
	}
	return w
}

// visit starts a new search: every node unvisited.
func (w *worker) visit() {
	w.gen++
	if w.gen == 0 {
		clear(w.marks)
		w.gen = 1
	}
}
