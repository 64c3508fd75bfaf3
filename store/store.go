// Package store owns what every mmrag.Store backend shares: the checks of
// the store contract, run once before anything is written or searched, and
// the vector maths (dot products, normalisation) that backends, embedders
// and retrieval all use.
//
// A backend calls CheckPut at the top of PutDocument and CheckVectorQuery
// at the top of SearchVectors, and writes or searches only what they
// accepted; its own checks are those only it can make (a model's stored
// dimension, the range of times it can store). The conformance suite of
// the contract is store/storetest.
package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"math"
	"sync"

	"mmrag"
	"mmrag/store/vecmath"
)

// Put is a PutDocument call that CheckPut accepted.
type Put struct {
	Doc      mmrag.Document
	Items    []mmrag.Item              // DocID set to Doc.ID
	Modality map[string]mmrag.Modality // item id → modality
	Vectors  []mmrag.Vector            // as given: each names an item of Items, at most one per model and item
	Dims     map[string]int            // model → the dimension of its vectors
	Refs     map[string]string         // blob hash referenced by an item → MIME of its first item
	Blobs    map[string][]byte         // the referenced blobs whose bytes were given, verified against their hash
}

// CheckPut checks a PutDocument call before anything is written: the
// document has an ID, a source and no negative size; every item has a
// unique ID, belongs to the document (an empty DocID is filled in), is text
// or image and names its blob by a lowercase hex sha256; every vector
// belongs to one of the items, names a model, is non-empty and finite, has
// the dimension of the other vectors of its model in the call, and is the
// only one of its model for its item; every given blob an item references
// hashes to its key (blobs no item references are dropped: nothing would
// keep them alive). Times are the backend's to check: what it can store
// differs.
func CheckPut(doc mmrag.Document, items []mmrag.Item, vectors []mmrag.Vector, blobs map[string][]byte) (*Put, error) {
	switch {
	case doc.ID == "":
		return nil, errors.New("document has no ID")
	case doc.Source == "":
		return nil, errors.New("document has no source")
	case doc.Size < 0:
		return nil, fmt.Errorf("negative size %d", doc.Size)
	}
	p := &Put{
		Doc:      doc,
		Items:    make([]mmrag.Item, len(items)),
		Modality: make(map[string]mmrag.Modality, len(items)),
		Vectors:  vectors,
		Dims:     map[string]int{},
		Refs:     map[string]string{},
		Blobs:    map[string][]byte{},
	}
	if err := p.checkItems(items); err != nil {
		return nil, err
	}
	if err := p.checkVectors(vectors); err != nil {
		return nil, err
	}
	for h, data := range blobs {
		if _, used := p.Refs[h]; !used {
			continue
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != h {
			return nil, fmt.Errorf("blob %s: its bytes hash to %s", h, got)
		}
		p.Blobs[h] = data
	}
	return p, nil
}

func (p *Put) checkItems(items []mmrag.Item) error {
	for i, it := range items {
		switch {
		case it.ID == "":
			return fmt.Errorf("item %d has no ID", i)
		case it.DocID != "" && it.DocID != p.Doc.ID:
			return fmt.Errorf("item %s belongs to document %q, not %q", it.ID, it.DocID, p.Doc.ID)
		case !ValidModality(it.Modality):
			return fmt.Errorf("item %s: modality %q is neither %q nor %q", it.ID, it.Modality, mmrag.Text, mmrag.Image)
		case it.BlobHash != "" && !ValidHash(it.BlobHash):
			return fmt.Errorf("item %s: blob hash %q is not a lowercase hex sha256", it.ID, it.BlobHash)
		}
		if _, dup := p.Modality[it.ID]; dup {
			return fmt.Errorf("item ID %s appears twice", it.ID)
		}
		p.Modality[it.ID] = it.Modality
		it.DocID = p.Doc.ID
		p.Items[i] = it
		if it.BlobHash != "" {
			if _, ok := p.Refs[it.BlobHash]; !ok {
				p.Refs[it.BlobHash] = it.MIME
			}
		}
	}
	return nil
}

func (p *Put) checkVectors(vectors []mmrag.Vector) error {
	type modelItem struct{ model, item string }
	seen := make(map[modelItem]struct{}, len(vectors))
	for i, v := range vectors {
		_, ok := p.Modality[v.ItemID]
		switch {
		case v.Model == "":
			return fmt.Errorf("vector %d (item %s) has no model", i, v.ItemID)
		case !ok:
			return fmt.Errorf("vector %d (model %s): item %q is not among the document's items", i, v.Model, v.ItemID)
		case len(v.Values) == 0:
			return fmt.Errorf("vector of item %s (model %s) is empty", v.ItemID, v.Model)
		case !Finite(v.Values):
			return fmt.Errorf("vector of item %s (model %s) holds NaN or Inf", v.ItemID, v.Model)
		}
		if d, ok := p.Dims[v.Model]; ok && d != len(v.Values) {
			return fmt.Errorf("model %s: vector of item %s has %d dimensions, others have %d", v.Model, v.ItemID, len(v.Values), d)
		}
		p.Dims[v.Model] = len(v.Values)
		k := modelItem{v.Model, v.ItemID}
		if _, dup := seen[k]; dup {
			return fmt.Errorf("model %s: item %s has two vectors", v.Model, v.ItemID)
		}
		seen[k] = struct{}{}
	}
	return nil
}

// CheckDim refuses vectors of model with n dimensions when the store holds
// vectors of that model with stored dimensions (0: none yet).
func CheckDim(model string, n, stored int) error {
	if stored != 0 && n != stored {
		return fmt.Errorf("model %s: vectors have %d dimensions but the store holds %d-dimensional vectors of that model", model, n, stored)
	}
	return nil
}

// CheckVectorQuery checks a vector search before it runs: a model, a
// modality that is text or image, and a non-empty, finite vector. Whether
// its dimension is the model's is the backend's to check (CheckQueryDim).
func CheckVectorQuery(q mmrag.VectorQuery) error {
	switch {
	case q.Model == "":
		return errors.New("search vectors: no model")
	case !ValidModality(q.Modality):
		return fmt.Errorf("search vectors: modality %q is neither %q nor %q", q.Modality, mmrag.Text, mmrag.Image)
	case len(q.Vector) == 0:
		return errors.New("search vectors: empty query vector")
	case !Finite(q.Vector):
		return errors.New("search vectors: query vector holds NaN or Inf")
	}
	return nil
}

// CheckQueryDim refuses a query vector of n dimensions against a model of
// dim dimensions.
func CheckQueryDim(model string, n, dim int) error {
	if n != dim {
		return fmt.Errorf("query vector has %d dimensions, model %s has %d", n, model, dim)
	}
	return nil
}

// ScanItems is the sequence a backend's mmrag.Store.ScanItems returns,
// made of its two steps: list, run each time iteration starts, reads what
// to scan and says in how many batches; batch(i) then reads the items of
// batch i, in order. The sequence ends at the first error, or when the
// caller stops.
func ScanItems(list func() (batches int, err error), batch func(i int) ([]mmrag.Item, error)) iter.Seq2[mmrag.Item, error] {
	return func(yield func(mmrag.Item, error) bool) {
		n, err := list()
		if err != nil {
			yield(mmrag.Item{}, fmt.Errorf("scan items: %w", err))
			return
		}
		for i := range n {
			items, err := batch(i)
			if err != nil {
				yield(mmrag.Item{}, fmt.Errorf("scan items: %w", err))
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
		}
	}
}

// ValidModality reports whether m is one of the two modalities.
func ValidModality(m mmrag.Modality) bool { return m == mmrag.Text || m == mmrag.Image }

// ValidHash reports whether h is a lowercase hex sha256 digest; only such
// names are ever turned into blob paths or keys.
func ValidHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Finite reports whether every component of v is a number: neither NaN nor
// infinite.
func Finite(v []float32) bool {
	for _, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return false
		}
	}
	return true
}

// Dot is the inner product of a and b over their common length, in float32:
// the inner loop of every search, run by the kernels of store/vecmath
// (AVX-512 where the CPU has it).
func Dot(a, b []float32) float32 { return vecmath.Dot(a, b) }

// Dot64 is the inner product of a and b over their common length,
// accumulated in float64: for scores compared against references.
func Dot64(a, b []float32) float64 {
	var s float64
	for i := range min(len(a), len(b)) {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// Norm is the Euclidean length of v, accumulated in float64.
func Norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// Normalize scales v to unit length in place; a zero vector stays zero.
func Normalize(v []float32) {
	n := Norm(v)
	if n == 0 {
		return
	}
	inv := float32(1 / n)
	for i := range v {
		v[i] *= inv
	}
}

// Normalized returns v scaled to unit length, computed in float64, leaving
// v as it is; a zero vector gives zeros.
func Normalized(v []float32) []float32 {
	out := make([]float32, len(v))
	n := Norm(v)
	if n == 0 {
		return out
	}
	inv := 1 / n
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out
}

// Unit scales a float64 vector (as embedding APIs return them) to unit
// length in float32, refusing vectors that cannot be: empty, zero, or with
// NaN or infinite components.
func Unit(v []float64) ([]float32, error) {
	if len(v) == 0 {
		return nil, errors.New("empty vector")
	}
	var ss float64
	for _, x := range v {
		ss += x * x
	}
	n := math.Sqrt(ss)
	if n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return nil, fmt.Errorf("vector of norm %v cannot be normalised", n)
	}
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x / n)
	}
	return f, nil
}

// Dim learns the dimension of a model's vectors from the first one and
// refuses any other after it. The zero value is ready; it is safe for
// concurrent use.
type Dim struct {
	mu sync.Mutex
	n  int
}

// Check records n if no dimension is known yet, and refuses n when it
// differs from the known one.
func (d *Dim) Check(n int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == 0 {
		d.n = n
	}
	if n != d.n {
		return fmt.Errorf("vector has %d dimensions, the model's earlier ones %d", n, d.n)
	}
	return nil
}

// Get returns the known dimension, 0 before the first vector.
func (d *Dim) Get() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// Set records a known dimension (a model that states it), unless one is
// known already.
func (d *Dim) Set(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == 0 {
		d.n = n
	}
}
