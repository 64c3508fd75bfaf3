// Package browsertest drives a headless Chromium through chromedp for the
// web UI's end-to-end tests (package server's, with a fake engine, and
// `mmrag serve`'s, over the real pipeline): one set of flags, one way to
// wait, evaluate and take screenshots, and every uncaught exception of the
// page reported as a test error.
package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"mmrag/internal/testenv"
)

// Wait bounds one step or wait: a guard against a hang, not a speed check.
const Wait = 3 * time.Minute

// Browser is a headless Chromium with one tab.
type Browser struct {
	t   *testing.T
	ctx context.Context
	mu  sync.Mutex
	js  []string // uncaught exceptions of the page
}

// Chromium returns the browser's path, or skips t (fails it under
// MMRAG_REQUIRE_TOOLS).
func Chromium(t *testing.T) string {
	t.Helper()
	return testenv.Tool(t, "chromium", "chromium", "chromium-browser", "google-chrome")
}

// New starts Chromium for t with the flags CI uses, and stops it when t
// ends; an exception the page did not catch fails t then.
func New(t *testing.T) *Browser {
	t.Helper()
	path := Chromium(t)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &Browser{t: t, ctx: ctx}
	// Start the browser, then watch the page for uncaught exceptions.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	go func() {
		for ev, err := range chromedp.Events(ctx, runtime.ExceptionThrown) {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.js = append(b.js, (&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error())
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.js {
			t.Errorf("uncaught exception in the page: %s", e)
		}
	})
	return b
}

// Context is the tab's chromedp context.
func (b *Browser) Context() context.Context { return b.ctx }

// Do runs steps within Wait; on failure it takes a screenshot and fails
// the test, naming what was being done.
func (b *Browser) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, Wait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.Shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// Until waits for a JavaScript predicate to hold.
func (b *Browser) Until(what, predicate string) {
	b.t.Helper()
	b.Do("wait for "+what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(Wait), chromedp.WithPollingInterval(50*time.Millisecond))(ctx, t)
		return err
	}))
}

// Eval evaluates a JavaScript expression in the page.
func Eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// Shot saves a screenshot as name.png under $MMRAG_ARTIFACTS/<test name>
// (else a temporary folder) and logs its path.
func (b *Browser) Shot(name string) {
	b.t.Helper()
	dir := os.Getenv("MMRAG_ARTIFACTS")
	if dir == "" {
		dir = b.t.TempDir()
	} else {
		dir = filepath.Join(dir, b.t.Name())
	}
	path := filepath.Join(dir, name+".png")
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err == nil {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			err = os.WriteFile(path, png, 0o644)
		}
	}
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.t.Logf("screenshot: %s", path)
}
