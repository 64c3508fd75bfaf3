package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		fill func(f *os.File) error
		err  error
		want string
	}{
		{"failed fill keeps the old file", func(f *os.File) error { f.WriteString("half"); return boom }, boom, "old"},
		{"written whole", func(f *os.File) error { _, err := f.WriteString("new"); return err }, nil, "new"},
	} {
		if err := Write(path, tc.fill); !errors.Is(err, tc.err) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
		}
		if got, _ := os.ReadFile(path); string(got) != tc.want {
			t.Errorf("%s: file holds %q, want %q", tc.name, got, tc.want)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Errorf("%s: %d files in the folder, want no temporary left", tc.name, len(ents))
		}
	}
	if err := Write(filepath.Join(dir, "missing", "f"), func(*os.File) error { return nil }); err == nil {
		t.Error("a file in a missing folder was written")
	}
}
