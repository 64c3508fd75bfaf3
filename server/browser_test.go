package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// browser is a headless Chromium driven through chromedp.
type browser struct {
	t   *testing.T
	ctx context.Context
	mu  sync.Mutex
	js  []string // uncaught exceptions of the page
}

// chromium finds the browser, or skips (fails under MMRAG_REQUIRE_TOOLS).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("MMRAG_REQUIRE_TOOLS") != "" {
		t.Fatal("chromium not found and MMRAG_REQUIRE_TOOLS is set (apt-get install chromium)")
	}
	t.Skip("chromium not found (apt-get install chromium)")
	return ""
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
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
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx}
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

// browserWait bounds one wait: a guard against a hang, not a speed check.
const browserWait = 2 * time.Minute

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// until waits for a JavaScript predicate to hold.
func (b *browser) until(what, predicate string) {
	b.t.Helper()
	b.do("wait for "+what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(browserWait), chromedp.WithPollingInterval(50*time.Millisecond))(ctx, t)
		return err
	}))
}

// shot saves a screenshot as a test artifact and prints its path.
func (b *browser) shot(name string) {
	b.t.Helper()
	dir := os.Getenv("MMRAG_ARTIFACTS")
	if dir == "" {
		dir = b.t.TempDir()
	} else {
		dir = filepath.Join(dir, b.t.Name())
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(dir, name+".png")
	if err = os.MkdirAll(dir, 0o755); err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.t.Logf("screenshot: %s", path)
}

// TestBrowserUI drives the web UI in Chromium with the fake engine: sign
// in, upload, watch the job, ask, see the answer stream with its sources
// and figure, open a citation in the reader; nothing from the documents
// runs as HTML.
func TestBrowserUI(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	const token = "ui-token"
	ts := newTestServer(t, func(c *Config) { c.Token = token })
	b := newBrowser(t)

	files := t.TempDir()
	notes := filepath.Join(files, "notes.txt")
	fig := filepath.Join(files, "figure.png")
	xss := `CLIP embeds <img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> safely.`
	os.WriteFile(notes, []byte(sampleText+"\n\n"+xss), 0o644)
	os.WriteFile(fig, testPNG(t, 600, 300, false), 0o644)

	// Sign in.
	b.do("sign in",
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SetValue(chromedp.ID("token"), token),
	)
	b.do("submit the token", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS("button[type=submit]")))(ctx, t)
		return err
	}))
	if path := eval[string](b, `location.pathname`); path != "/" || !eval[bool](b, `!!document.querySelector("#tab-chat")`) {
		t.Fatalf("after signing in: %s", path)
	}

	// Upload two files through the file input and watch the job.
	b.do("upload",
		chromedp.Navigate(ts.URL+"/#/library"),
		chromedp.WaitVisible(chromedp.ID("drop")),
		chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{notes, fig}),
	)
	b.until("the job to finish", `document.querySelector("#jobs .job.done")`)
	if state := eval[string](b, `document.querySelector("#jobs .job .state").textContent`); state != "done (2/2)" {
		t.Errorf("job row says %q", state)
	}
	b.until("the library to list both", `document.querySelectorAll("#library tr").length === 2`)
	b.shot("library")

	// Ask; the engine holds the answer after its first word.
	ts.engine.gate = make(chan struct{})
	b.do("ask",
		chromedp.Click(chromedp.ID("tab-chat")),
		chromedp.WaitVisible(chromedp.ID("question")),
		chromedp.SetValue(chromedp.ID("question"), "What was CLIP trained on?"),
		chromedp.Click(chromedp.ID("send")),
	)
	b.until("sources and the first words", `document.querySelectorAll("#sources li").length > 0 && document.querySelector(".msg.assistant .body").textContent.length > 0`)
	partial := eval[string](b, `document.querySelector(".msg.assistant .body").textContent`)
	if done := eval[bool](b, `!!document.querySelector(".msg.assistant .meta")`); done {
		t.Fatal("the answer finished while the engine held it")
	}
	b.shot("streaming")
	close(ts.engine.gate)
	b.until("the answer to finish", `document.querySelector(".msg.assistant .meta")`)
	answer := eval[string](b, `document.querySelector(".msg.assistant .body").textContent`)
	if len(answer) <= len(partial) || !strings.HasPrefix(answer, strings.TrimSpace(partial)) || !strings.Contains(answer, "[1]") {
		t.Errorf("answer %q after partial %q", answer, partial)
	}
	if n := eval[int](b, `document.querySelectorAll(".msg.assistant a.cite").length`); n == 0 {
		t.Error("the answer's [1] is not a citation link")
	}
	b.until("a figure thumbnail to load", `[...document.querySelectorAll("#figures img")].some((i) => i.complete && i.naturalWidth > 0)`)
	if src := eval[string](b, `document.querySelector("#figures img").getAttribute("src")`); !strings.Contains(src, "thumb=") {
		t.Errorf("figure src %q is not a thumbnail", src)
	}
	b.shot("answer")

	// Ask about the hostile paragraph: it shows as text, never as markup.
	// From the keyboard: Enter sends.
	b.do("ask about the hostile text",
		chromedp.Focus(chromedp.ID("question")),
		chromedp.SendKeys(chromedp.ID("question"), "CLIP embeds img onerror script safely"+kb.Enter),
	)
	b.until("the second answer", `document.querySelectorAll(".msg.assistant .meta").length === 2`)
	if got := eval[string](b, `document.body.innerText`); !strings.Contains(got, "onerror") {
		t.Error("the hostile passage is not shown as text")
	}
	if x := eval[bool](b, `window.__xss !== undefined || !!document.querySelector("img[src=x], main script")`); x {
		t.Error("a passage's markup became live HTML")
	}

	// Open the first text source's citation link: the reader view at its
	// passage.
	want := eval[string](b, `document.querySelector("#sources li .snippet").textContent`)
	b.do("open a citation", chromedp.Click(chromedp.CSS("#sources li a.open")))
	b.until("the reader at the cited passage", `!document.querySelector("#view-reader").hidden && document.querySelector("#view-reader .reader-item.hl")`)
	hl := eval[string](b, `document.querySelector("#view-reader .reader-item.hl").textContent`)
	if !strings.Contains(hl, strings.TrimSuffix(want, "…")) {
		t.Errorf("highlighted passage %q, want the cited %q", hl, want)
	}
	if shown := eval[string](b, `getComputedStyle(document.querySelector("#view-chat")).display`); shown != "none" {
		t.Errorf("the chat view is still shown (display %s) beside the reader", shown)
	}
	if focused := eval[bool](b, `document.activeElement === document.querySelector(".reader-item.hl")`); !focused {
		t.Error("the cited passage does not have the focus")
	}
	b.shot("reader")

	// A phone's width: one column, nothing wider than the screen.
	b.do("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(ts.URL+"/#/"))
	b.until("the chat at phone width", `!!document.querySelector("#question")`)
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the page is %d px wide on a 390 px screen", w)
	}
	b.shot("phone")
	t.Logf("answer: %s", answer)
}
