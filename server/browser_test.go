package server

import (
	"context"
	"mmrag/internal/browsertest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

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
	b := browsertest.New(t)

	files := t.TempDir()
	notes := filepath.Join(files, "notes.txt")
	fig := filepath.Join(files, "figure.png")
	xss := `CLIP embeds <img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> safely.`
	os.WriteFile(notes, []byte(sampleText+"\n\n"+xss), 0o644)
	os.WriteFile(fig, testPNG(t, 600, 300, false), 0o644)

	// Sign in.
	b.Do("sign in",
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SetValue(chromedp.ID("token"), token),
	)
	b.Do("submit the token", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS("button[type=submit]")))(ctx, t)
		return err
	}))
	if path := browsertest.Eval[string](b, `location.pathname`); path != "/" || !browsertest.Eval[bool](b, `!!document.querySelector("#tab-chat")`) {
		t.Fatalf("after signing in: %s", path)
	}

	// Upload two files through the file input and watch the job.
	b.Do("upload",
		chromedp.Navigate(ts.URL+"/#/library"),
		chromedp.WaitVisible(chromedp.ID("drop")),
		chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{notes, fig}),
	)
	b.Until("the job to finish", `document.querySelector("#jobs .job.done")`)
	if state := browsertest.Eval[string](b, `document.querySelector("#jobs .job .state").textContent`); state != "done (2/2)" {
		t.Errorf("job row says %q", state)
	}
	b.Until("the library to list both", `document.querySelectorAll("#library tr").length === 2`)
	b.Shot("library")

	// Ask; the engine holds the answer after its first word.
	ts.engine.gate = make(chan struct{})
	b.Do("ask",
		chromedp.Click(chromedp.ID("tab-chat")),
		chromedp.WaitVisible(chromedp.ID("question")),
		chromedp.SetValue(chromedp.ID("question"), "What was CLIP trained on?"),
		chromedp.Click(chromedp.ID("send")),
	)
	b.Until("sources and the first words", `document.querySelectorAll("#sources li").length > 0 && document.querySelector(".msg.assistant .body").textContent.length > 0`)
	partial := browsertest.Eval[string](b, `document.querySelector(".msg.assistant .body").textContent`)
	if done := browsertest.Eval[bool](b, `!!document.querySelector(".msg.assistant .meta")`); done {
		t.Fatal("the answer finished while the engine held it")
	}
	b.Shot("streaming")
	close(ts.engine.gate)
	b.Until("the answer to finish", `document.querySelector(".msg.assistant .meta")`)
	answer := browsertest.Eval[string](b, `document.querySelector(".msg.assistant .body").textContent`)
	if len(answer) <= len(partial) || !strings.HasPrefix(answer, strings.TrimSpace(partial)) || !strings.Contains(answer, "[1]") {
		t.Errorf("answer %q after partial %q", answer, partial)
	}
	if n := browsertest.Eval[int](b, `document.querySelectorAll(".msg.assistant a.cite").length`); n == 0 {
		t.Error("the answer's [1] is not a citation link")
	}
	b.Until("a figure thumbnail to load", `[...document.querySelectorAll("#figures img")].some((i) => i.complete && i.naturalWidth > 0)`)
	if src := browsertest.Eval[string](b, `document.querySelector("#figures img").getAttribute("src")`); !strings.Contains(src, "thumb=") {
		t.Errorf("figure src %q is not a thumbnail", src)
	}
	b.Shot("answer")

	// Ask about the hostile paragraph: it shows as text, never as markup.
	// From the keyboard: Enter sends.
	b.Do("ask about the hostile text",
		chromedp.Focus(chromedp.ID("question")),
		chromedp.SendKeys(chromedp.ID("question"), "CLIP embeds img onerror script safely"+kb.Enter),
	)
	b.Until("the second answer", `document.querySelectorAll(".msg.assistant .meta").length === 2`)
	if got := browsertest.Eval[string](b, `document.body.innerText`); !strings.Contains(got, "onerror") {
		t.Error("the hostile passage is not shown as text")
	}
	if x := browsertest.Eval[bool](b, `window.__xss !== undefined || !!document.querySelector("img[src=x], main script")`); x {
		t.Error("a passage's markup became live HTML")
	}

	// Open the first text source's citation link: the reader view at its
	// passage.
	want := browsertest.Eval[string](b, `document.querySelector("#sources li .snippet").textContent`)
	b.Do("open a citation", chromedp.Click(chromedp.CSS("#sources li a.open")))
	b.Until("the reader at the cited passage", `!document.querySelector("#view-reader").hidden && document.querySelector("#view-reader .reader-item.hl")`)
	hl := browsertest.Eval[string](b, `document.querySelector("#view-reader .reader-item.hl").textContent`)
	if !strings.Contains(hl, strings.TrimSuffix(want, "…")) {
		t.Errorf("highlighted passage %q, want the cited %q", hl, want)
	}
	if shown := browsertest.Eval[string](b, `getComputedStyle(document.querySelector("#view-chat")).display`); shown != "none" {
		t.Errorf("the chat view is still shown (display %s) beside the reader", shown)
	}
	if focused := browsertest.Eval[bool](b, `document.activeElement === document.querySelector(".reader-item.hl")`); !focused {
		t.Error("the cited passage does not have the focus")
	}
	b.Shot("reader")

	// A phone's width: one column, nothing wider than the screen.
	b.Do("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(ts.URL+"/#/"))
	b.Until("the chat at phone width", `!!document.querySelector("#question")`)
	if w := browsertest.Eval[int](b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the page is %d px wide on a 390 px screen", w)
	}
	b.Shot("phone")
	t.Logf("answer: %s", answer)
}
