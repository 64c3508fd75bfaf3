package store_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"mmrag"
	"mmrag/store"
	"mmrag/store/storetest"
)

func TestDot(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{0, 1, 3, 4, 5, 8, 13, 512} {
		a, b := storetest.RandomVector(r, n+1)[:n], storetest.RandomVector(r, n+1)[:n]
		var want float64
		for i := range a {
			want += float64(a[i]) * float64(b[i])
		}
		if got := store.Dot(a, b); math.Abs(float64(got)-want) > 1e-5 {
			t.Errorf("Dot of %d components = %v, want %v", n, got, want)
		}
		if got := store.Dot64(a, b); math.Abs(got-want) > 1e-12 {
			t.Errorf("Dot64 of %d components = %v, want %v", n, got, want)
		}
	}
	// Over the common length when the lengths differ.
	if got := store.Dot([]float32{1, 2, 3}, []float32{4, 5}); got != 14 {
		t.Errorf("Dot of lengths 3 and 2 = %v, want 14", got)
	}
	if got := store.Dot64([]float32{1, 2}, []float32{4, 5, 6}); got != 14 {
		t.Errorf("Dot64 of lengths 2 and 3 = %v, want 14", got)
	}
}

func BenchmarkDot512(b *testing.B) {
	r := rand.New(rand.NewPCG(6, 6))
	x, y := storetest.RandomVector(r, 512), storetest.RandomVector(r, 512)
	var sink float32
	for b.Loop() {
		sink += store.Dot(x, y)
	}
	_ = sink
}

func TestNormalize(t *testing.T) {
	v := []float32{3, 4}
	n := store.Normalized(v)
	if v[0] != 3 || v[1] != 4 {
		t.Errorf("Normalized changed its argument to %v", v)
	}
	if math.Abs(float64(n[0])-0.6) > 1e-7 || math.Abs(float64(n[1])-0.8) > 1e-7 {
		t.Errorf("Normalized(3, 4) = %v, want (0.6, 0.8)", n)
	}
	store.Normalize(v)
	if math.Abs(float64(v[0])-0.6) > 1e-7 || math.Abs(float64(v[1])-0.8) > 1e-7 {
		t.Errorf("Normalize(3, 4) = %v, want (0.6, 0.8)", v)
	}
	zero := []float32{0, 0}
	store.Normalize(zero)
	if z := store.Normalized(zero); zero[0] != 0 || z[0] != 0 || z[1] != 0 {
		t.Errorf("a zero vector normalises to %v and %v, want zeros", zero, z)
	}
}

func TestUnit(t *testing.T) {
	f, err := store.Unit([]float64{0, 3, 4})
	if err != nil || f[1] != 0.6 || f[2] != 0.8 {
		t.Errorf("Unit(0, 3, 4) = %v, %v", f, err)
	}
	for _, bad := range [][]float64{nil, {0, 0}, {math.NaN(), 1}, {math.Inf(1)}} {
		if _, err := store.Unit(bad); err == nil {
			t.Errorf("Unit(%v) succeeded, want an error", bad)
		}
	}
}

func TestDim(t *testing.T) {
	var d store.Dim
	if d.Get() != 0 {
		t.Fatalf("a new Dim knows %d", d.Get())
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := d.Check(4); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := d.Check(5); err == nil || !strings.Contains(err.Error(), "5 dimensions") {
		t.Errorf("Check(5) after 4 = %v, want a refusal", err)
	}
	d.Set(7) // known already: ignored
	if d.Get() != 4 {
		t.Errorf("Get = %d, want 4", d.Get())
	}
	var e store.Dim
	e.Set(3)
	if err := e.Check(3); err != nil || e.Get() != 3 {
		t.Errorf("after Set(3): Check(3) = %v, Get = %d", err, e.Get())
	}
}

func TestValidHash(t *testing.T) {
	good := strings.Repeat("0a", 32)
	for h, want := range map[string]bool{
		good:                                  true,
		strings.ToUpper(good):                 false,
		good[:63]:                             false,
		good + "0":                            false,
		strings.Repeat("g", 64):               false,
		"../" + good[3:]:                      false,
		strings.Repeat("0123456789abcdef", 4): true,
	} {
		if got := store.ValidHash(h); got != want {
			t.Errorf("ValidHash(%q) = %v, want %v", h, got, want)
		}
	}
}

// TestCheckPut covers what CheckPut returns; what it refuses is the
// conformance suite's BadInput, run against every backend.
func TestCheckPut(t *testing.T) {
	img, hash := storetest.PNG("a")
	other, otherHash := storetest.PNG("b")
	doc := storetest.Doc("d")
	items := []mmrag.Item{
		storetest.TextItem("", 0, "x"),
		storetest.ImageItem("d", 1, hash, "pic"),
		storetest.ImageItem("d", 2, hash, "pic again"),
	}
	items[0].DocID = ""
	items[2].MIME = "image/jpeg"
	vecs := []mmrag.Vector{
		{ItemID: items[0].ID, Model: "m", Values: []float32{1, 0}},
		{ItemID: items[1].ID, Model: "m", Values: []float32{0, 1}},
		{ItemID: items[1].ID, Model: "n", Values: []float32{1, 0, 0}},
	}
	p, err := store.CheckPut(doc, items, vecs, map[string][]byte{hash: img, otherHash: other})
	if err != nil {
		t.Fatal(err)
	}
	if p.Items[0].DocID != "d" || items[0].DocID != "" {
		t.Errorf("DocID of the item = %q (argument %q), want d filled in a copy", p.Items[0].DocID, items[0].DocID)
	}
	if p.Dims["m"] != 2 || p.Dims["n"] != 3 || len(p.Dims) != 2 {
		t.Errorf("Dims = %v", p.Dims)
	}
	if p.Refs[hash] != "image/png" || len(p.Refs) != 1 {
		t.Errorf("Refs = %v, want the hash with the MIME of its first item", p.Refs)
	}
	if _, ok := p.Blobs[otherHash]; ok || len(p.Blobs) != 1 {
		t.Errorf("Blobs holds %d, want only the referenced one", len(p.Blobs))
	}
	if p.Modality[items[1].ID] != mmrag.Image {
		t.Errorf("Modality = %v", p.Modality)
	}
	if err := store.CheckDim("m", 2, 3); err == nil {
		t.Error("CheckDim(2 against 3) succeeded")
	}
	if err := store.CheckDim("m", 2, 0); err != nil {
		t.Errorf("CheckDim against no stored vectors: %v", err)
	}
}

func TestCheckVectorQuery(t *testing.T) {
	ok := mmrag.VectorQuery{Model: "m", Modality: mmrag.Text, Vector: []float32{1}}
	if err := store.CheckVectorQuery(ok); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*mmrag.VectorQuery){
		"no model": func(q *mmrag.VectorQuery) { q.Model = "" },
		"modality": func(q *mmrag.VectorQuery) { q.Modality = "audio" },
		"empty":    func(q *mmrag.VectorQuery) { q.Vector = nil },
		"NaN":      func(q *mmrag.VectorQuery) { q.Vector = []float32{float32(math.NaN())} },
		"infinite": func(q *mmrag.VectorQuery) { q.Vector = []float32{float32(math.Inf(-1))} },
	} {
		q := ok
		change(&q)
		if err := store.CheckVectorQuery(q); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := store.CheckQueryDim("m", 3, 4); err == nil {
		t.Error("CheckQueryDim(3 against 4) succeeded")
	}
}
