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

	"mmrag/internal/home"
	"mmrag/internal/testenv"
)

// Wait bounds one step or wait: a guard against a hang, not a speed check.
// $MMRAG_BROWSER_WAIT (a duration) shortens it while writing a test.
var Wait = waitFromEnv(3 * time.Minute)

func waitFromEnv(def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv("MMRAG_BROWSER_WAIT")); err == nil && d > 0 {
		return d
	}
	return def
}

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

// EvalAwait evaluates a JavaScript expression whose value is a promise,
// and returns what it resolves to.
func EvalAwait[T any](b *Browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, Wait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// AxeVersion is the axe-core release .ci/run installs under
// $MMRAG_HOME/tools.
const AxeVersion = "4.10.3"

// AxeEnv names an axe.min.js to use instead of the installed one.
const AxeEnv = "MMRAG_AXE"

// Axe returns the source of axe-core's axe.min.js ($MMRAG_AXE, else the
// copy .ci/run installs); without it "" (CheckAxe then checks nothing),
// or under MMRAG_REQUIRE_TOOLS a failure, so the other checks still run.
func Axe(t *testing.T) string {
	t.Helper()
	var paths []string
	if p := os.Getenv(AxeEnv); p != "" {
		paths = append(paths, p)
	}
	if h, err := home.Dir(); err == nil {
		paths = append(paths, filepath.Join(h, "tools", "axe-core-"+AxeVersion, "node_modules", "axe-core", "axe.min.js"))
	}
	for _, p := range paths {
		if src, err := os.ReadFile(p); err == nil {
			return string(src)
		}
	}
	why := `axe-core's axe.min.js not found: npm install --prefix "$MMRAG_HOME/tools/axe-core-` + AxeVersion + `" axe-core@` + AxeVersion + ` (or set ` + AxeEnv + `) to check accessibility`
	testenv.Check(t, false, testenv.RequireTools, why)
	t.Log(why)
	return ""
}

// Violation is one accessibility rule a page breaks, as axe-core reports it.
type Violation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// CheckAxe runs axe-core (its source from Axe; "" checks nothing) on the
// page as it is now and fails the test for each serious or critical violation, naming the
// rule and the elements; what names the page's state in the message.
func (b *Browser) CheckAxe(what, axeSource string) {
	b.t.Helper()
	if axeSource == "" {
		return // Axe said why
	}
	if !Eval[bool](b, `typeof window.axe === "object"`) {
		Eval[any](b, axeSource+"\n;0")
	}
	res := EvalAwait[struct {
		Passed     int         `json:"passed"`
		Violations []Violation `json:"violations"`
	}](b, `axe.run(document, {resultTypes: ["violations"]}).then((r) => ({
		passed: r.passes.length,
		violations: r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => ({
			id: v.id, impact: v.impact, help: v.help,
			targets: v.nodes.map((n) => n.target.join(" ") + (n.failureSummary ? " — " + n.failureSummary.replace(/\s+/g, " ") : "")),
		})),
	}))`)
	found := res.Violations
	b.t.Logf("axe (%s): %d rules passed, %d serious or critical violations", what, res.Passed, len(found))
	for _, v := range found {
		b.t.Errorf("axe (%s): %s %s — %s: %s", what, v.Impact, v.ID, v.Help, strings.Join(v.Targets, "; "))
	}
	if len(found) > 0 {
		b.Shot("axe-" + strings.NewReplacer(" ", "-", "/", "-").Replace(what))
	}
}
