package hnsw

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"mmrag/hnsw/clipdata"
)

func TestSaveLoad(t *testing.T) {
	base, queries := clipdata.Generate(clipdata.Seed+3, 3000, 50)
	idx := buildIndex(t, &base, Config{M: 16, EfConstruction: 100, Workers: 2})
	f := &fixture{base: base, queries: queries, idx: idx}
	if err := f.idx.Delete(7, 11); err != nil { // tombstones travel too
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "text.hnsw")
	if err := f.idx.Save(path, 42); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(path + ".tmp*"); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	dim := clipdata.Dim
	got, seq, err := Load(path, func(id uint32) []float32 { return f.base[int(id)*dim : (int(id)+1)*dim] }, 2)
	if err != nil {
		t.Fatal(err)
	}
	if seq != 42 || got.Len() != f.idx.Len() || got.Deleted() != 2 || !got.IsDeleted(7) || got.IsDeleted(8) || got.Config().M != 16 {
		t.Fatalf("loaded seq %d, %d nodes, %d deleted, config %+v", seq, got.Len(), got.Deleted(), got.Config())
	}
	for q := range 50 {
		qv := f.queries[q*dim : (q+1)*dim]
		a, err1 := f.idx.Search(qv, 10, 64, nil)
		b, err2 := got.Search(qv, 10, 64, nil)
		if err1 != nil || err2 != nil || !slices.Equal(a, b) {
			t.Fatalf("query %d: saved index %v (%v), loaded %v (%v)", q, a, err1, b, err2)
		}
	}
	// The loaded index takes new nodes.
	if _, err := got.Add([][]float32{f.queries[:dim]}); err != nil {
		t.Fatal(err)
	}
}

// TestLoadDamaged: every kind of damage is ErrCorrupt (or ErrVersion),
// never an index.
func TestLoadDamaged(t *testing.T) {
	base, _ := clipdata.Generate(clipdata.Seed+2, 500, 0)
	idx := buildIndex(t, &base, Config{M: 8, EfConstruction: 40, Workers: 2})
	dir := t.TempDir()
	good := filepath.Join(dir, "good.hnsw")
	if err := idx.Save(good, 7); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(off int) []byte {
		b := slices.Clone(data)
		b[off] ^= 0x40
		return b
	}
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"torn header", data[:40], ErrCorrupt},
		{"torn payload", data[:len(data)-100], ErrCorrupt},
		{"extra bytes", append(slices.Clone(data), 0), ErrCorrupt},
		{"not an index", append([]byte("notindex"), data[8:]...), ErrCorrupt},
		{"other version", flip(8), ErrVersion},
		{"flipped code", flip(headerSize + 10), ErrCorrupt},
		{"flipped link", flip(len(data) - 3), ErrCorrupt},
		{"flipped sequence", flip(48), ErrCorrupt},
		{"flipped count", flip(28), ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "bad.hnsw")
			if err := os.WriteFile(p, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			x, _, err := Load(p, nil, 1)
			if !errors.Is(err, tc.want) || x != nil {
				t.Fatalf("Load = %v, %v; want %v", x, err, tc.want)
			}
		})
	}
	if _, _, err := Load(filepath.Join(dir, "missing.hnsw"), nil, 1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v", err)
	}
}
