package sberttest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mmrag/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The Go module that ships real all-MiniLM-L6-v2 weights, and the file.
const (
	GGUFModule = "github.com/mutablelogic/go-llama@v0.0.11"
	GGUFFile   = "testdata/all-MiniLM-L6-v2-Q4_K_M.gguf"
)

// Required reports whether a missing GGUF or server must fail a test
// instead of skipping it: CI sets MMRAG_REQUIRE_OLLAMA=1 (scripts/ollama.sh
// downloads the module).
func Required() bool { return testenv.Required(testenv.RequireOllama) }

// FindGGUF returns the path of all-MiniLM-L6-v2-Q4_K_M.gguf: $MMRAG_MINILM_GGUF
// when set, else the file in the Go module cache, downloading the module
// through the Go module proxy when it is not there yet.
func FindGGUF() (string, error) {
	if p := os.Getenv("MMRAG_MINILM_GGUF"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("MMRAG_MINILM_GGUF: %w", err)
		}
		return p, nil
	}
	if out, err := goCmd("env", "GOMODCACHE"); err == nil {
		p := filepath.Join(string(bytes.TrimSpace(out)), filepath.FromSlash(GGUFModule), filepath.FromSlash(GGUFFile))
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	out, err := goCmd("mod", "download", "-json", GGUFModule)
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %v: %s", GGUFModule, err, bytes.TrimSpace(out))
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no module folder (%s%v)", GGUFModule, mod.Error, err)
	}
	p := filepath.Join(mod.Dir, filepath.FromSlash(GGUFFile))
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("module %s: %w", GGUFModule, err)
	}
	return p, nil
}

// goCmd runs the go command outside any module, so that nothing is added
// to this one's go.mod.
func goCmd(args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return stderr.Bytes(), err
	}
	return out, nil
}

// GGUF returns the MiniLM GGUF's path, or skips t (fails it when Required).
func GGUF(t testing.TB) string {
	t.Helper()
	p, err := FindGGUF()
	if err != nil {
		testenv.Need(t, false, testenv.RequireOllama, fmt.Sprintf("real MiniLM weights not available: %v", err))
	}
	return p
}

// converterVersion changes when Convert's output changes, so that cached
// folders are rebuilt.
const converterVersion = "3"

// ConvertCached converts ggufPath once into a folder under cacheDir named
// after the file's content and the converter's version, and returns it. A
// folder is complete once renamed into place, so concurrent callers (test
// binaries of several packages) never see half a model.
func ConvertCached(ggufPath, cacheDir string) (string, error) {
	sum, err := fileSum(ggufPath)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cacheDir, "minilm-"+sum[:16]+"-v"+converterVersion)
	if _, err := os.Stat(filepath.Join(dir, ModelFile)); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cacheDir, ".convert-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := Convert(ggufPath, tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, ModelFile)); serr == nil {
			return dir, nil // another process won the race
		}
		return "", fmt.Errorf("move converted model into place: %w", err)
	}
	return dir, nil
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CacheDir is where MiniLM keeps converted folders: $MMRAG_SBERTTEST_CACHE,
// else mmrag-sberttest in the system's temporary folder.
func CacheDir() string {
	if d := os.Getenv("MMRAG_SBERTTEST_CACHE"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "mmrag-sberttest")
}

// MiniLM returns a folder holding the real all-MiniLM-L6-v2 converted from
// its GGUF, converting it on first use; it skips t when the GGUF cannot be
// had (fails it when Required).
func MiniLM(t testing.TB) string {
	t.Helper()
	p := GGUF(t)
	dir, err := ConvertCached(p, CacheDir())
	if err != nil {
		t.Fatalf("convert %s: %v", p, err)
	}
	return dir
}
