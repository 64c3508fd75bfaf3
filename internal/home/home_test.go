package home

import (
	"path/filepath"
	"runtime"
	"testing"
)

func TestDir(t *testing.T) {
	t.Setenv(Env, "/x/y")
	if d, err := Dir(); err != nil || d != "/x/y" {
		t.Errorf("with %s set: %q, %v", Env, d, err)
	}
	if runtime.GOOS != "linux" {
		return
	}
	cache := t.TempDir()
	t.Setenv(Env, "")
	t.Setenv("XDG_CACHE_HOME", cache)
	if d, err := Dir(); err != nil || d != filepath.Join(cache, "mmrag") {
		t.Errorf("unset: %q, %v; want %s/mmrag", d, err, cache)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if _, err := Dir(); err == nil {
		t.Error("no cache folder and no MMRAG_HOME: no error")
	}
}
