// Package onnx owns mmrag's use of ONNX Runtime: finding and loading the
// shared library once per process, checking its version, and running models
// with the inputs and outputs their graphs declare.
//
// The Go binding (github.com/yalue/onnxruntime_go) loads the library with
// dlopen at run time, so a binary built here runs against a CPU build, a GPU
// build, or whatever the user points MMRAG_ORT_LIB at.
package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"mmrag/internal/home"
)

// Version is the ONNX Runtime release mmrag is built and tested against. The
// binding asks the library for API version 24 (1.24); newer libraries serve
// older API versions, older ones cannot.
const Version = "1.24.1"

// minMinor is the oldest 1.x release whose C API the binding can use.
const minMinor = 24

// LibraryName is the file name setup installs.
const LibraryName = "libonnxruntime.so.1"

// ErrNoLibrary is wrapped by Init when no usable library was found.
var ErrNoLibrary = errors.New("ONNX Runtime shared library not found")

// Home returns mmrag's cache folder: $MMRAG_HOME, else <user cache dir>/mmrag
// (package internal/home), else, where there is no user cache folder,
// <temp dir>/mmrag.
func Home() string {
	dir, err := home.Dir()
	if err != nil {
		return filepath.Join(os.TempDir(), "mmrag")
	}
	return dir
}

// DefaultLibraryPath is where `make setup` installs the library.
func DefaultLibraryPath() string {
	return filepath.Join(Home(), "ort", Version, LibraryName)
}

// Candidates lists, in order, the paths Init tries when given no path:
// $MMRAG_ORT_LIB, $ONNXRUNTIME_SHARED_LIBRARY_PATH, the setup location, and
// the usual system library folders.
func Candidates() []string {
	var c []string
	for _, env := range []string{"MMRAG_ORT_LIB", "ONNXRUNTIME_SHARED_LIBRARY_PATH"} {
		if p := os.Getenv(env); p != "" {
			c = append(c, p)
		}
	}
	c = append(c, DefaultLibraryPath())
	for _, dir := range []string{"/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"} {
		c = append(c, filepath.Join(dir, LibraryName), filepath.Join(dir, "libonnxruntime.so"))
	}
	return c
}

var (
	initOnce sync.Once
	initErr  error
	initPath string
)

// Init loads ONNX Runtime once per process. An empty path searches
// Candidates(). Later calls return the first call's result, whatever path
// they pass: the library cannot be swapped inside a running process.
func Init(path string) error {
	initOnce.Do(func() { initPath, initErr = load(path) })
	return initErr
}

// LibraryPath returns the library Init loaded, or "" before a successful Init.
func LibraryPath() string {
	if initErr != nil {
		return ""
	}
	return initPath
}

func load(path string) (string, error) {
	tried := []string{path}
	if path == "" {
		tried = Candidates()
	}
	var found string
	for _, p := range tried {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			found = p
			break
		}
	}
	if found == "" {
		return "", fmt.Errorf("%w; looked for:\n  %s\ninstall ONNX Runtime %s with `make setup` (or scripts/install-ort.sh), or set MMRAG_ORT_LIB to a libonnxruntime.so of version %s or newer (a GPU build works too)",
			ErrNoLibrary, strings.Join(tried, "\n  "), Version, Version)
	}
	ort.SetSharedLibraryPath(found)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return found, fmt.Errorf("load ONNX Runtime from %s: %w (mmrag needs version %s or newer; install it with `make setup` or point MMRAG_ORT_LIB at another build)", found, err, Version)
	}
	v := ort.GetVersion()
	if !versionOK(v) {
		_ = ort.DestroyEnvironment()
		return found, fmt.Errorf("ONNX Runtime at %s is version %s; mmrag needs %s or newer (install it with `make setup` or set MMRAG_ORT_LIB)", found, v, Version)
	}
	_ = ort.DisableTelemetry()
	return found, nil
}

// RuntimeVersion reports the loaded library's version ("" before Init).
func RuntimeVersion() string {
	if !ort.IsInitialized() {
		return ""
	}
	return ort.GetVersion()
}

func versionOK(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > 1 || (major == 1 && minor >= minMinor)
}

// DefaultThreads is the intra-op thread count used when a caller passes 0:
// one per available core.
func DefaultThreads() int { return runtime.GOMAXPROCS(0) }
