package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"mmrag"
	"mmrag/internal/browsertest"
	"mmrag/sqlite"
)

// uiEngine is the fake engine with what the browser flows need: an answer
// that cites the first figure too (so that it shows inline), a block
// after the sources that only the client's going away ends (Stop), and a
// record of what was asked.
type uiEngine struct {
	*fakeEngine

	mu        sync.Mutex
	block     chan struct{}
	cancelled int // asks whose context ended while blocked
	asks      []AskRequest
	searches  []SearchRequest
}

func (e *uiEngine) setBlock(c chan struct{}) { e.mu.Lock(); e.block = c; e.mu.Unlock() }

func (e *uiEngine) setFail(err error) {
	e.fakeEngine.mu.Lock()
	e.failWith = err
	e.fakeEngine.mu.Unlock()
}

func (e *uiEngine) Search(ctx context.Context, req SearchRequest) (*SearchResponse, error) {
	e.mu.Lock()
	e.searches = append(e.searches, req)
	e.mu.Unlock()
	return e.fakeEngine.Search(ctx, req)
}

func (e *uiEngine) Ask(ctx context.Context, req AskRequest, onSources func(*SearchResponse) error, onToken func(string) error) (*Answer, error) {
	e.mu.Lock()
	e.asks = append(e.asks, req)
	block := e.block
	e.mu.Unlock()
	var src *SearchResponse
	ans, err := e.fakeEngine.Ask(ctx, req, func(s *SearchResponse) error {
		src = s
		if onSources != nil {
			if err := onSources(s); err != nil {
				return err
			}
		}
		if block == nil {
			return nil
		}
		select {
		case <-block:
			return nil
		case <-ctx.Done():
			e.mu.Lock()
			e.cancelled++
			e.mu.Unlock()
			return ctx.Err()
		}
	}, onToken)
	if err == nil && strings.Contains(req.Question, "no figure") {
		// As if no figure passed the threshold.
		ans.Sources.Images, ans.Sources.ImagesNote = nil, &ImagesNote{BestScore: 0.18, Threshold: 0.25}
		return ans, nil
	}
	if err != nil || src == nil || len(src.Images) == 0 {
		return ans, err
	}
	n := src.Images[0].N
	if n == 0 {
		n = len(src.Text) + 1
	}
	tail := fmt.Sprintf(" The figure shows it [%d]. That is all.", n)
	if onToken != nil {
		if err := onToken(tail); err != nil {
			return nil, err
		}
	}
	ans.Answer += tail
	return ans, nil
}

func (e *uiEngine) snapshot() (asks []AskRequest, searches []SearchRequest, cancelled int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]AskRequest(nil), e.asks...), append([]SearchRequest(nil), e.searches...), e.cancelled
}

// uiServer is a Server on the store and workspace in dir, listening on
// addr: started again on the same dir and address, it is the same
// server restarted, as a page sees it.
type uiServer struct {
	URL    string
	addr   string
	store  *sqlite.Store
	engine *uiEngine
	ing    *fakeIngester
	stop   func()
}

// uiCatalog offers the extractive default and a vision model.
type uiCatalog struct{}

func (uiCatalog) Generators(context.Context) []Generator {
	return []Generator{
		{ID: "extractive", Capabilities: []string{"completion"}, Default: true},
		{ID: "ollama:llava", Capabilities: []string{"completion", "vision"}},
	}
}

// startUIServer starts the server; its models warm up until warm is
// closed (nil: at once).
func startUIServer(t *testing.T, dir, addr string, warm chan struct{}) *uiServer {
	t.Helper()
	ctx := context.Background()
	kbDir := filepath.Join(dir, "kb")
	st, err := sqlite.Open(ctx, kbDir)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := sqlite.OpenWorkspace(ctx, kbDir)
	if err != nil {
		t.Fatal(err)
	}
	eng := &uiEngine{fakeEngine: &fakeEngine{store: st}}
	ing := &fakeIngester{store: st}
	s, err := New(Config{
		Store: st, Engine: eng, Ingester: ing, Workspace: ws, Catalog: uiCatalog{},
		Warm: func(ctx context.Context) error {
			if warm == nil {
				return nil
			}
			select {
			case <-warm:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		Logger:    slog.New(slog.DiscardHandler),
		UploadDir: filepath.Join(kbDir, "uploads"),
		Settings:  Settings{Strategy: "multimodal", Mode: "hybrid", TextK: 15, ImageK: 5, Generator: "extractive"},
		Version:   "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stopWarm := context.WithCancel(context.Background())
	s.warm(wctx)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s again: %v", addr, err)
	}
	hs := httptest.NewUnstartedServer(s.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	stop := sync.OnceFunc(func() {
		stopWarm()
		s.Close()
		hs.CloseClientConnections()
		hs.Close()
		ws.Close()
		st.Close()
	})
	t.Cleanup(stop)
	return &uiServer{URL: hs.URL, addr: ln.Addr().String(), store: st, engine: eng, ing: ing, stop: stop}
}

// longDoc stores a document of 40 paragraphs with figures among them, the
// figures' sizes unknown to the page until they load (no width or
// height), so that landing before they load lands in the wrong place.
func longDoc(t *testing.T, st *sqlite.Store) (docID, figID string) {
	t.Helper()
	docID = "longdoc"
	png := testPNG(t, 800, 600, false)
	sum := sha256.Sum256(png)
	hash := hex.EncodeToString(sum[:])
	var items []mmrag.Item
	for i := range 40 {
		id := fmt.Sprintf("%s-%d", docID, i)
		sec := []string{"Long report", fmt.Sprintf("Chapter %d", i/10+1)}
		if i == 4 || i == 12 || i == 30 {
			items = append(items, mmrag.Item{ID: id, DocID: docID, Modality: mmrag.Image, Kind: "figure", Text: "a chart",
				BlobHash: hash, MIME: "image/png", Caption: fmt.Sprintf("Chart number %d", i), Section: sec, Position: i})
			continue
		}
		it := mmrag.Item{ID: id, DocID: docID, Modality: mmrag.Text, Kind: "paragraph", Position: i, Section: sec,
			Text: fmt.Sprintf("Paragraph %d of the long report says something about retrieval and figures, at some length so that it wraps.", i)}
		if i == 7 { // where it is on its page, as PDF ingest records it
			it.Page, it.Meta = 2, map[string]string{mmrag.MetaRegion: mmrag.Region{X0: 0.1, Y0: 0.2, X1: 0.9, Y1: 0.3}.String()}
		}
		items = append(items, it)
	}
	doc := mmrag.Document{ID: docID, Source: "/data/long-report.html", Type: "html", Title: "Long report", Size: 900_000, Ingested: time.Now().Add(-48 * time.Hour)}
	if err := st.PutDocument(context.Background(), doc, items, nil, map[string][]byte{hash: png}); err != nil {
		t.Fatal(err)
	}
	return docID, docID + "-30"
}

var uiSizes = []struct {
	name  string
	w, h  int64
	phone bool
}{
	{"desktop", 1400, 900, false},
	{"phone", 390, 844, true},
}

// TestBrowserFlows drives each flow of the web app in Chromium, at a
// desktop's and a phone's size: focus, tab keys, the library (sort,
// sizes, dates, a failed job, delete with confirmation), a dropped and a
// pasted image, the inline figure and its lightbox, more like this, the
// keyboard path to the sources and back, Stop, an error, the reader
// landing on a figure, conversations across a server restart, the theme;
// axe-core finds nothing serious in either theme.
func TestBrowserFlows(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	browsertest.Chromium(t)
	axe := browsertest.Axe(t)
	for _, size := range uiSizes {
		t.Run(size.name, func(t *testing.T) {
			f := &uiFlow{t: t, axe: axe, phone: size.phone, dir: t.TempDir()}
			f.warm = make(chan struct{})
			f.srv = startUIServer(t, f.dir, "127.0.0.1:0", f.warm)
			f.seed()
			f.b = browsertest.New(t)
			opts := []chromedp.EmulateViewportOption{}
			if size.phone {
				opts = append(opts, chromedp.EmulateMobile)
			}
			f.b.Do("set the viewport", chromedp.EmulateViewport(size.w, size.h, opts...))
			f.start()
			f.models()
			f.tabs()
			f.library()
			f.imageSearch()
			f.lightbox()
			f.sourcesByKeyboard()
			f.moreLikeThis()
			f.stop()
			f.failure()
			f.scope()
			f.pinned()
			f.reader()
			f.restart()
			f.theme()
			f.conversationsEdit()
		})
	}
}

type uiFlow struct {
	t     *testing.T
	b     *browsertest.Browser
	srv   *uiServer
	axe   string
	phone bool
	dir   string
	files string
	long  string // the long document's id
	fig30 string // its figure the reader lands on
	conv  string // the conversation's id
	warm  chan struct{}
	notes string // notes.txt's document id
}

func (f *uiFlow) eval(expr string) bool { f.t.Helper(); return browsertest.Eval[bool](f.b, expr) }
func (f *uiFlow) str(expr string) string {
	f.t.Helper()
	return browsertest.Eval[string](f.b, expr)
}

func (f *uiFlow) seed() {
	t := f.t
	f.files = t.TempDir()
	notes := filepath.Join(f.files, "notes.txt")
	fig := filepath.Join(f.files, "figure.png")
	spare := filepath.Join(f.files, "spare.txt")
	os.WriteFile(notes, []byte(sampleText), 0o644)
	os.WriteFile(fig, testPNG(t, 600, 300, false), 0o644)
	os.WriteFile(spare, []byte("A spare document about nothing in particular."), 0o644)
	for _, p := range []string{notes, fig, spare} {
		if err := f.srv.ing.one(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	f.long, f.fig30 = longDoc(t, f.srv.store)
	f.notes = docID(notes)
}

// start opens the app: the question box has the focus.
func (f *uiFlow) start() {
	f.b.Do("open the app", chromedp.Navigate(f.srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("question")))
	f.b.Until("the focus in the question box", `document.activeElement === document.querySelector("#question")`)
	f.b.Shot("start")
}

// tabs: arrow keys, Home and End move between the tabs and show theirs.
func (f *uiFlow) tabs() {
	f.b.Do("focus the chat tab", chromedp.Focus(chromedp.ID("tab-chat")))
	for _, step := range []struct{ key, want string }{
		{kb.ArrowRight, "library"}, {kb.ArrowRight, "figures"}, {kb.ArrowLeft, "library"},
		{kb.End, "settings"}, {kb.ArrowRight, "chat"}, {kb.ArrowLeft, "settings"}, {kb.Home, "chat"},
	} {
		f.b.Do("press a key on the tabs", chromedp.KeyEvent(step.key))
		f.b.Until("the "+step.want+" tab", fmt.Sprintf(`document.activeElement.id === "tab-%[1]s" && document.activeElement.getAttribute("aria-selected") === "true" && !document.querySelector("#view-%[1]s").hidden`, step.want))
		if n := browsertest.Eval[int](f.b, `document.querySelectorAll('[role=tab][tabindex="0"]').length`); n != 1 {
			f.t.Errorf("after %q: %d tabs in the tab order, want 1", step.key, n)
		}
	}
}

// library: sorted by size, dates and sizes shown, no squeezed columns,
// a failed job red and not full, delete confirmed by name.
func (f *uiFlow) library() {
	t := f.t
	f.b.Do("open the library", chromedp.Navigate(f.srv.URL+"/#/library"))
	f.b.Until("the documents", `document.querySelectorAll("#library tr").length === 4`)
	f.b.Do("sort by size", chromedp.Click(chromedp.CSS(`th[data-sort=size] button`)))
	f.b.Until("the biggest first", `document.querySelector("th[data-sort=size]").getAttribute("aria-sort") === "descending" && document.querySelector("#library tr").dataset.id === "longdoc"`)
	if n := browsertest.Eval[int](f.b, `document.querySelectorAll("#library time").length`); n != 4 {
		t.Errorf("%d documents show when they were added, want 4", n)
	}
	if size := f.str(`document.querySelector("#library tr td:nth-child(5)").textContent`); size != "879 KB" {
		t.Errorf("the long report's size shows as %q, want 879 KB", size)
	}
	// No cell so narrow that words break letter by letter.
	if narrow := f.str(`[...document.querySelectorAll("#library td")].filter((td) => td.offsetParent && td.textContent.trim() && td.clientWidth < 60).map((td) => td.textContent).join(" | ")`); narrow != "" {
		t.Errorf("squeezed library cells: %s", narrow)
	}

	// An upload of which one file fails: red, says why, never a full bar.
	good, bad := filepath.Join(f.files, "more.txt"), filepath.Join(f.files, "bad-scan.txt")
	os.WriteFile(good, []byte("More text about embeddings."), 0o644)
	os.WriteFile(bad, []byte("unreadable"), 0o644)
	f.b.Do("upload two files to a collection", chromedp.SendKeys(chromedp.ID("collection-input"), "Reports"),
		chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{good, bad}))
	f.b.Until("the job to end", `document.querySelector("#jobs .job.done, #jobs .job.failed")`)
	if !f.eval(`document.querySelector("#jobs .job").classList.contains("failed") && document.querySelector("#jobs .job progress").value < 1`) {
		t.Errorf("a job with a failed file: %s", f.str(`document.querySelector("#jobs .job").outerHTML`))
	}
	if why := f.str(`document.querySelector("#jobs .job .errors").textContent`); !strings.Contains(why, "cannot read this file") {
		t.Errorf("the failed job says %q, not why", why)
	}
	if state := f.str(`document.querySelector("#jobs .job .state").textContent`); !strings.Contains(state, "1 failed") {
		t.Errorf("the failed job's state %q does not count the failure", state)
	}
	f.b.Until("the library to list the new one in its collection", `document.querySelectorAll("#library tr").length === 5 && [...document.querySelectorAll("#library tr")].find((tr) => tr.textContent.includes("more.txt"))?.querySelector(".c-colls").textContent.includes("Reports")`)
	f.b.Shot("library")
	f.b.CheckAxe("library light", f.axe)

	// Delete asks, naming the document; Cancel keeps it.
	del := `document.querySelector('#library button[aria-label="Delete spare.txt"]')`
	f.b.Do("delete spare.txt", chromedp.Click(chromedp.CSS(`#library button[aria-label="Delete spare.txt"]`)))
	f.b.Until("the confirmation", `document.querySelector("#confirm").open`)
	if q := f.str(`document.querySelector("#confirm-text").textContent`); !strings.Contains(q, "spare.txt") {
		t.Errorf("the confirmation %q does not name the document", q)
	}
	f.b.Do("cancel", chromedp.Click(chromedp.ID("confirm-cancel")))
	f.b.Until("the dialog to close", `!document.querySelector("#confirm").open`)
	if !f.eval(`!!` + del) {
		t.Fatal("Cancel deleted the document")
	}
	f.b.Do("delete spare.txt again", chromedp.Click(chromedp.CSS(`#library button[aria-label="Delete spare.txt"]`)))
	f.b.Until("the confirmation", `document.querySelector("#confirm").open`)
	f.b.Do("confirm", chromedp.Click(chromedp.ID("confirm-ok")))
	f.b.Until("spare.txt gone", `!`+del+` && document.querySelectorAll("#library tr").length === 4`)
}

// dropImage dispatches a drop (or a paste) of a generated 64×48 PNG on the
// question box.
func (f *uiFlow) dropImage(event string) {
	js := `(async () => {
		const c = document.createElement("canvas"); c.width = 64; c.height = 48;
		const g = c.getContext("2d"); g.fillStyle = "#3366cc"; g.fillRect(0, 0, 64, 48); g.fillStyle = "#ffcc00"; g.fillRect(8, 8, 20, 20);
		const blob = await new Promise((r) => c.toBlob(r, "image/png"));
		const dt = new DataTransfer();
		dt.items.add(new File([blob], "query.png", { type: "image/png" }));
		const box = document.querySelector("#question");
		if ("` + event + `" === "paste") return box.dispatchEvent(new ClipboardEvent("paste", { bubbles: true, cancelable: true, clipboardData: dt }));
		box.dispatchEvent(new DragEvent("dragover", { bubbles: true, cancelable: true, dataTransfer: dt }));
		return box.dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: dt }));
	})()`
	if notCancelled := browsertest.EvalAwait[bool](f.b, js); notCancelled {
		f.t.Errorf("the page did not take the %s of an image", event)
	}
	f.b.Until("the image chip", `!document.querySelector("#attachments").hidden && document.querySelector("#attachments .chip img").complete`)
}

// imageSearch: a pasted image can be removed; a dropped one is sent with
// the question; the answer shows the cited figure inline.
func (f *uiFlow) imageSearch() {
	t := f.t
	f.b.Do("back to the chat", chromedp.Navigate(f.srv.URL+"/#/"), chromedp.WaitVisible(chromedp.ID("question")))
	f.dropImage("paste")
	f.b.Do("remove the pasted image", chromedp.Click(chromedp.CSS("#attachments .chip-remove")))
	f.b.Until("no chip", `document.querySelector("#attachments").hidden`)

	f.dropImage("drop")
	f.b.Shot("image-chip")
	f.b.Do("ask with the image", chromedp.SendKeys(chromedp.ID("question"), "What does this chart show?"), chromedp.Click(chromedp.ID("send")))
	f.b.Until("the answer", `document.querySelector(".msg.assistant .meta")`)
	asks, _, _ := f.srv.engine.snapshot()
	if len(asks) != 1 || asks[0].Image == nil || asks[0].Image.Bounds() != image.Rect(0, 0, 64, 48) || asks[0].Question != "What does this chart show?" {
		t.Fatalf("the server got %+v, want the question with the 64×48 picture", asks)
	}
	if asks[0].ConversationID == "" {
		t.Error("the question was not sent in a conversation")
	}
	if !f.eval(`document.querySelector("#attachments").hidden && document.querySelector("#question").value === "" && !!document.querySelector(".msg.user img.query-image")`) {
		t.Error("after sending, the chip or the question stayed, or the picture is not in the question's bubble")
	}
	// The figure follows the sentence that cites it, before the next one.
	order := f.str(`(() => {
		const p = [...document.querySelectorAll(".msg.assistant .body p")].find((p) => p.querySelector(".inline-figs"));
		if (!p) return "no inline figure";
		return [...p.childNodes].map((n) => n.nodeType === 3 ? n.textContent.trim() : n.className || n.tagName).filter(Boolean).join(" | ");
	})()`)
	if !strings.Contains(order, "cite | . | inline-figs | That is all.") {
		t.Errorf("the answer's parts: %s; want the figure after the sentence citing it", order)
	}
	f.b.Until("the inline thumbnail to load", `[...document.querySelectorAll(".msg.assistant .inline-figs img")].some((i) => i.complete && i.naturalWidth > 0)`)
	f.conv = strings.TrimPrefix(f.str(`location.hash`), "#/c/")
	if f.conv == "" || strings.Contains(f.conv, "/") {
		t.Errorf("the conversation is not in the URL: %q", f.str(`location.hash`))
	}
	f.b.Shot("image-answer")
}

// lightbox: the inline thumbnail opens the full image with its caption;
// focus stays inside; Esc closes it and the focus goes back.
func (f *uiFlow) lightbox() {
	t := f.t
	item := f.str(`document.querySelector(".msg.assistant .inline-figs button.thumb").dataset.item`)
	f.b.Do("open the lightbox", chromedp.Click(chromedp.CSS(".msg.assistant .inline-figs button.thumb")))
	// The full image: 600 or 800 px wide, not a 256 px thumbnail.
	f.b.Until("the full image", `document.querySelector("#lightbox").open && document.querySelector("#lightbox-img").complete && [600, 800].includes(document.querySelector("#lightbox-img").naturalWidth)`)
	c := f.str(`document.querySelector("#lightbox-caption").textContent + " / " + document.querySelector("#lightbox-where").textContent`)
	if !strings.Contains(c, "A test figure / figure.png › Figures") && !(strings.Contains(c, "Chart number") && strings.Contains(c, "/ Long report › Chapter")) {
		t.Errorf("the lightbox says %q, want the caption, document and section", c)
	}
	if href := f.str(`document.querySelector("#lightbox-open").getAttribute("href")`); !strings.HasPrefix(href, "#/doc/") || !strings.HasSuffix(href, "/"+item) {
		t.Errorf("open in document links to %q, want item %s", href, item)
	}
	f.b.Shot("lightbox")
	f.b.CheckAxe("lightbox", f.axe)
	for range 5 {
		f.b.Do("tab", chromedp.KeyEvent(kb.Tab))
		if !f.eval(`document.querySelector("#lightbox").contains(document.activeElement)`) {
			t.Fatalf("Tab left the lightbox for %s", f.str(`document.activeElement.outerHTML.slice(0, 80)`))
		}
	}
	f.b.Do("shift-tab", chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
	if !f.eval(`document.querySelector("#lightbox").contains(document.activeElement)`) {
		t.Fatal("Shift+Tab left the lightbox")
	}
	f.b.Do("escape", chromedp.KeyEvent(kb.Escape))
	f.b.Until("the lightbox to close and the focus to return", `!document.querySelector("#lightbox").open && document.activeElement && document.activeElement.matches(".msg.assistant .inline-figs button.thumb")`)
}

// sourcesByKeyboard: a citation takes the focus to its source; Escape
// brings it back.
func (f *uiFlow) sourcesByKeyboard() {
	browsertest.Eval[any](f.b, `document.querySelector(".msg.assistant a.cite").focus()`)
	f.b.Until("the citation focused", `document.activeElement.matches(".msg.assistant a.cite")`)
	f.b.Do("follow it", chromedp.KeyEvent(kb.Enter))
	f.b.Until("the focus on the source", `(() => { const a = document.activeElement, n = document.querySelector(".msg.assistant a.cite").dataset.n;
		return !!a.closest("#source-" + n) && a.offsetParent !== null; })()`)
	f.b.Shot("sources")
	f.b.Do("escape", chromedp.KeyEvent(kb.Escape))
	f.b.Until("the focus back on the citation", `document.activeElement.matches(".msg.assistant a.cite")`)
	f.b.CheckAxe("chat light", f.axe)
}

// moreLikeThis searches with the figure's own vector.
func (f *uiFlow) moreLikeThis() {
	item := f.str(`document.querySelector("#figures .figure button.thumb").dataset.item`)
	f.b.Do("more like the figure", chromedp.Click(chromedp.CSS(`#figures .figure button.like`)))
	f.b.Until("the results", `document.querySelector(".msg.results:not([aria-busy]) .inline-figs button.thumb")`)
	_, searches, _ := f.srv.engine.snapshot()
	if len(searches) == 0 || searches[len(searches)-1].Like != item || item == "" {
		f.t.Errorf("the last search %+v is not like %q", searches, item)
	}
}

// stop: Stop ends the fetch, the server's work stops with it, and the
// next question is answered.
func (f *uiFlow) stop() {
	t := f.t
	f.srv.engine.setBlock(make(chan struct{}))
	f.b.Do("ask", chromedp.SendKeys(chromedp.ID("question"), "What was CLIP trained on?"+kb.Enter))
	f.b.Until("the sources and Stop", `!document.querySelector("#stop").hidden && document.querySelectorAll("#sources li").length > 0`)
	f.b.Do("stop", chromedp.Click(chromedp.ID("stop")))
	f.b.Until("the answer stopped", `[...document.querySelectorAll(".msg.assistant .meta")].pop().textContent.includes("stopped") && !document.querySelector("#send").hidden`)
	deadline := time.Now().Add(browsertest.Wait)
	for {
		if _, _, n := f.srv.engine.snapshot(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server went on with the stopped answer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.srv.engine.setBlock(nil)
	before := browsertest.Eval[int](f.b, `document.querySelectorAll(".msg.assistant").length`)
	f.b.Do("ask again", chromedp.SendKeys(chromedp.ID("question"), "What does retrieval find?"+kb.Enter))
	f.b.Until("the next answer", fmt.Sprintf(`document.querySelectorAll(".msg.assistant").length === %d && [...document.querySelectorAll(".msg.assistant")].pop().querySelector(".meta")`, before+1))
	asks, _, _ := f.srv.engine.snapshot()
	got := f.str(`[...document.querySelectorAll(".msg.assistant")].pop().textContent`)
	if last := asks[len(asks)-1]; last.Question != "What does retrieval find?" || !strings.HasPrefix(got, "From the documents:") {
		t.Errorf("after Stop the server was asked %q and the page shows %q", last.Question, got)
	}
}

// failure: the error is plain, leaks no path, and the question stays.
func (f *uiFlow) failure() {
	t := f.t
	f.srv.engine.setFail(fmt.Errorf("generate: open /srv/secret/model.bin: permission denied"))
	f.b.Do("ask", chromedp.SendKeys(chromedp.ID("question"), "Will this work?"+kb.Enter))
	f.b.Until("the error", `[...document.querySelectorAll(".msg.assistant")].pop().classList.contains("error")`)
	f.srv.engine.setFail(nil)
	msg := f.str(`[...document.querySelectorAll(".msg.assistant")].pop().textContent`)
	if strings.Contains(msg, "/srv/") || strings.Contains(msg, "permission") || !strings.Contains(msg, "internal error") {
		t.Errorf("the error shown: %q", msg)
	}
	if q := f.str(`document.querySelector("#question").value`); q != "Will this work?" {
		t.Errorf("after the failure the box holds %q", q)
	}
	browsertest.Eval[any](f.b, `document.querySelector("#question").value = ""`)
}

// pinned: with a long chat the question box stays on screen and the page
// itself does not scroll.
func (f *uiFlow) pinned() {
	t := f.t
	f.b.Shot("long-chat")
	if !f.eval(`(() => { const r = document.querySelector("#question").getBoundingClientRect(); return r.top > 0 && r.bottom <= innerHeight; })()`) {
		t.Errorf("the question box is off-screen: %s", f.str(`JSON.stringify(document.querySelector("#question").getBoundingClientRect())`))
	}
	if !f.eval(`document.scrollingElement.scrollHeight <= innerHeight + 1 && document.documentElement.scrollWidth <= innerWidth`) {
		t.Errorf("the page scrolls as a whole: %s", f.str(`document.scrollingElement.scrollHeight + "×" + document.documentElement.scrollWidth + " in " + innerHeight + "×" + innerWidth`))
	}
	if !f.eval(`(() => { const m = document.querySelector("#messages"); return m.scrollHeight > m.clientHeight && getComputedStyle(m).overflowY === "auto"; })()`) {
		t.Error("the messages do not scroll on their own")
	}
}

// reader: the document once, in order; lands on the figure after the
// figures above it have loaded; the header stays.
func (f *uiFlow) reader() {
	t := f.t
	f.b.Do("open the figure in the reader", chromedp.Navigate(f.srv.URL+"/#/doc/"+f.long+"/"+f.fig30))
	f.b.Until("the reader on the figure", `document.activeElement && document.activeElement.id === "item-`+f.fig30+`"`)
	where := f.str(`(() => {
		const fig = document.activeElement.getBoundingClientRect();
		const head = document.querySelector(".reader-head").getBoundingClientRect();
		const above = [...document.querySelectorAll("#reader-items img")].slice(0, 2);
		return [fig.top >= head.bottom - 1, fig.top < innerHeight - 50, head.top >= 0, above.every((i) => i.complete && i.naturalWidth > 0),
			document.activeElement.classList.contains("hl")].join(",") + " fig " + JSON.stringify(fig) + " head " + JSON.stringify(head);
	})()`)
	if !strings.HasPrefix(where, "true,true,true,true,true ") {
		t.Errorf("the cited figure is not in view below the header, or landed early: %s", where)
	}
	text := f.str(`document.querySelector("#reader-items").innerText`)
	for i := range 40 {
		p := fmt.Sprintf("Paragraph %d of", i)
		if i == 4 || i == 12 || i == 30 {
			continue
		}
		if strings.Count(text, p) != 1 {
			t.Errorf("%q shows %d times in the reader", p, strings.Count(text, p))
		}
	}
	if strings.Index(text, "Paragraph 3 of") > strings.Index(text, "Paragraph 31 of") {
		t.Error("the reader's passages are out of order")
	}
	if n := browsertest.Eval[int](f.b, `document.querySelectorAll("#reader-gallery .card").length`); n != 3 {
		t.Errorf("the document's gallery has %d figures, want 3", n)
	}
	f.b.Shot("reader-figure")
	// Scrolled to the end, the header is still there.
	browsertest.Eval[any](f.b, `document.querySelector("#view-reader").scrollTop = 1e6`)
	if !f.eval(`(() => { const h = document.querySelector(".reader-head").getBoundingClientRect(); return h.top >= 0 && h.bottom < innerHeight / 2 && document.querySelector("#reader-back").offsetParent !== null; })()`) {
		t.Error("the reader's header scrolled away")
	}
	f.b.CheckAxe("reader light", f.axe)

	// The library's gallery lists every figure.
	f.b.Do("open the figures", chromedp.Navigate(f.srv.URL+"/#/figures"))
	f.b.Until("the gallery", `document.querySelectorAll("#gallery .card").length === 4`)
	f.b.Shot("gallery")
}

// restart: the conversation comes back after the server restarts, each
// answer with its own sources.
func (f *uiFlow) restart() {
	t := f.t
	f.srv.stop()
	// While it is down: a plain message (after one retry), the question kept.
	browsertest.Eval[any](f.b, `location.hash = "#/c/`+f.conv+`"`)
	f.b.Until("the chat", `!document.querySelector("#view-chat").hidden`)
	f.b.Do("ask the stopped server", chromedp.SendKeys(chromedp.ID("question"), "Are you there?"+kb.Enter))
	f.b.Until("the error", `[...document.querySelectorAll(".msg.assistant")].pop()?.classList.contains("error")`)
	if msg := f.str(`[...document.querySelectorAll(".msg.assistant")].pop().textContent`); !strings.Contains(msg, "Cannot reach the mmrag server") {
		t.Errorf("with the server down the page says %q", msg)
	}
	if q := f.str(`document.querySelector("#question").value`); q != "Are you there?" {
		t.Errorf("with the server down the box holds %q", q)
	}
	f.srv = startUIServer(t, f.dir, f.srv.addr, nil)
	f.b.Do("reload the conversation", chromedp.Navigate(f.srv.URL+"/#/c/"+f.conv))
	f.b.Until("the turns", `document.querySelectorAll("#messages .msg.user").length >= 3 && document.querySelectorAll("#messages .msg.assistant .meta").length >= 3`)
	if first := f.str(`document.querySelector("#messages .msg.user").textContent`); first != "What does this chart show?" {
		t.Errorf("the first question after the restart: %q", first)
	}
	// Each answer brings back its own sources.
	shown := func(answer string) string {
		browsertest.Eval[any](f.b, `[...document.querySelectorAll("#messages .msg.assistant")].find((m) => m.textContent.includes("`+answer+`")).querySelector("a.cite").click()`)
		f.b.Until("its sources", `document.querySelectorAll("#sources li, #figures .figure").length > 0`)
		return f.str(`document.querySelector("#sources-body").textContent`)
	}
	first, later := shown("I found nothing"), shown("Retrieval finds")
	if !strings.Contains(later, "Retrieval finds the nearest passages") || strings.Contains(first, "Retrieval finds the nearest passages") {
		t.Errorf("after the restart the answers' sources are not their own: first %q, later %q", first, later)
	}
	if f.phone {
		f.b.Do("open the conversations", chromedp.Click(chromedp.ID("convs-toggle")))
	}
	f.b.Until("the conversation listed as current", `document.querySelector("#conv-list .conv.current .conv-open") && document.querySelector("#conv-list .conv.current .conv-open").offsetParent !== null`)
	f.b.Shot("conversations")
	if f.phone {
		f.b.Do("close the conversations", chromedp.Click(chromedp.ID("convs-close")))
	}
}

// theme: the toggle switches and is remembered; axe in the dark theme.
func (f *uiFlow) theme() {
	t := f.t
	start := f.str(`document.documentElement.dataset.theme`)
	f.b.Do("toggle the theme", chromedp.Click(chromedp.ID("theme-toggle")))
	want := map[string]string{"light": "dark", "dark": "light"}[start]
	if got := f.str(`document.documentElement.dataset.theme + " " + document.querySelector("#theme-toggle").getAttribute("aria-pressed")`); got != want+" "+fmt.Sprint(want == "dark") {
		t.Fatalf("after the toggle from %s: %s", start, got)
	}
	f.b.Do("reload", chromedp.Reload())
	f.b.Until("the app", `!!document.querySelector("#question")`)
	if got := f.str(`document.documentElement.dataset.theme`); got != want {
		t.Errorf("after a reload the theme is %s, want %s", got, want)
	}
	if want != "dark" {
		f.b.Do("toggle to dark", chromedp.Click(chromedp.ID("theme-toggle")))
	}
	f.b.Until("the chat", `document.querySelectorAll("#messages .msg.assistant .meta").length >= 3`)
	f.b.Do("a citation", chromedp.Click(chromedp.CSS(`#messages .msg.assistant a.cite`)))
	f.b.Shot("dark-chat")
	f.b.CheckAxe("chat dark", f.axe)
	f.b.Do("library", chromedp.Navigate(f.srv.URL+"/#/library"))
	f.b.Until("the documents", `document.querySelectorAll("#library tr").length === 4`)
	f.b.Shot("dark-library")
	f.b.CheckAxe("library dark", f.axe)
	f.b.Do("reader", chromedp.Navigate(f.srv.URL+"/#/doc/"+f.long+"/"+f.long+"-7"))
	f.b.Until("the reader on the passage", `document.activeElement && document.activeElement.id === "item-`+f.long+`-7"`)
	f.b.Shot("dark-reader")
	f.b.CheckAxe("reader dark", f.axe)
	// The passage's page, its place marked (the page image itself needs a
	// PDF: this document has none, which the lightbox says).
	// From the keyboard (a synthetic mouse click at the phone's size
	// reaches the button without activating it in headless Chromium).
	browsertest.Eval[any](f.b, `document.querySelector("#item-`+f.long+`-7 .page-button").focus()`)
	f.b.Do("show its page", chromedp.KeyEvent(kb.Enter))
	f.b.Until("the page with the region", `document.querySelector("#lightbox").open && !document.querySelector("#lightbox-region").hidden`)
	if box := f.str(`(() => { const s = document.querySelector("#lightbox-region").style; return [s.left, s.top, s.width, s.height].join(" "); })()`); box != "10% 20% 80% 10%" {
		t.Errorf("the passage's region is drawn at %s, want 10%% 20%% 80%% 10%%", box)
	}
	if src := f.str(`document.querySelector("#lightbox-img").getAttribute("src")`); src != "/v1/documents/"+f.long+"/pages/2" {
		t.Errorf("the page image is %q", src)
	}
	f.b.Do("close the page", chromedp.KeyEvent(kb.Escape))
	f.b.Until("the page closed, the focus back", `!document.querySelector("#lightbox").open && document.activeElement.matches(".page-button")`)
	f.b.Do("back to light", chromedp.Click(chromedp.ID("theme-toggle")))
}

// conversationsEdit: rename, new chat, switch back, delete.
func (f *uiFlow) conversationsEdit() {
	t := f.t
	f.b.Do("the conversation", chromedp.Navigate(f.srv.URL+"/#/c/"+f.conv))
	f.b.Until("its turns", `document.querySelectorAll("#messages .msg.user").length >= 3`)
	if f.phone {
		f.b.Do("open the conversations", chromedp.Click(chromedp.ID("convs-toggle")))
	}
	f.b.Until("the list", `!!document.querySelector("#conv-list .conv.current")`)
	f.b.Do("rename", chromedp.Click(chromedp.CSS(`#conv-list .conv.current button[aria-label^="Rename"]`)))
	f.b.Until("the name box", `document.activeElement.matches(".conv-rename")`)
	browsertest.Eval[any](f.b, `document.activeElement.value = "Charts chat"`)
	f.b.Do("save the name", chromedp.KeyEvent(kb.Enter))
	f.b.Until("the new name", `document.querySelector("#conv-list .conv.current .conv-open")?.textContent === "Charts chat"`)

	f.b.Do("new chat", chromedp.Click(chromedp.ID("new-chat")))
	f.b.Until("an empty chat", `location.hash === "#/" && document.querySelectorAll("#messages li").length === 0 && document.activeElement === document.querySelector("#question")`)
	f.b.Do("ask in the new chat", chromedp.SendKeys(chromedp.ID("question"), "What are multimodal embeddings?"+kb.Enter))
	f.b.Until("its answer and a second conversation", `document.querySelector(".msg.assistant .meta") && document.querySelectorAll("#conv-list .conv").length === 2 && location.hash.startsWith("#/c/")`)
	if f.phone {
		f.b.Do("open the conversations", chromedp.Click(chromedp.ID("convs-toggle")))
	}
	f.b.Do("switch back", chromedp.Click(chromedp.CSS(`#conv-list .conv[data-id="`+f.conv+`"] .conv-open`)))
	f.b.Until("the first conversation", `location.hash === "#/c/`+f.conv+`" && document.querySelector("#messages .msg.user")?.textContent === "What does this chart show?"`)
	if f.phone {
		f.b.Do("open the conversations", chromedp.Click(chromedp.ID("convs-toggle")))
	}
	f.b.Do("delete it", chromedp.Click(chromedp.CSS(`#conv-list .conv.current button[aria-label^="Delete"]`)))
	f.b.Until("the confirmation", `document.querySelector("#confirm").open`)
	if q := f.str(`document.querySelector("#confirm-text").textContent`); !strings.Contains(q, "Charts chat") {
		t.Errorf("the confirmation %q does not name the chat", q)
	}
	f.b.Do("confirm", chromedp.Click(chromedp.ID("confirm-ok")))
	f.b.Until("it gone", `document.querySelectorAll("#conv-list .conv").length === 1 && location.hash === "#/" && document.querySelectorAll("#messages li").length === 0`)
}

// models: "loading models…" until the server's models are warm; the
// picker lists the generators, a vision badge on the vision one.
func (f *uiFlow) models() {
	t := f.t
	f.b.Until("loading models", `document.querySelector("#model-status").textContent.includes("Loading models")`)
	close(f.warm)
	f.b.Until("the models loaded", `document.querySelector("#model-status").textContent === ""`)
	if opts := f.str(`[...document.querySelectorAll("#model option")].map((o) => o.value + "=" + o.textContent).join("; ")`); opts != "=server default (extractive); ollama:llava=ollama:llava (vision)" {
		t.Errorf("the model picker offers %s", opts)
	}
	pick := func(v string) bool {
		return browsertest.Eval[bool](f.b, `(() => { const s = document.querySelector("#model"); s.value = "`+v+`"; s.dispatchEvent(new Event("change")); return !document.querySelector("#model-badge").hidden; })()`)
	}
	if !pick("ollama:llava") || pick("") {
		t.Error("the vision badge does not follow the chosen model")
	}
}

// scope: a collection, one document, and the note when no figure passed.
func (f *uiFlow) scope() {
	t := f.t
	ask := func(scope, q string) AskRequest {
		t.Helper()
		browsertest.Eval[any](f.b, `(() => { const s = document.querySelector("#scope"); s.value = "`+scope+`"; s.dispatchEvent(new Event("change")); })()`)
		if got := f.str(`document.querySelector("#scope").value`); got != scope {
			t.Fatalf("the scope picker has no %s (it says %s; options %s)", scope, got, f.str(`[...document.querySelectorAll("#scope option")].map((o) => o.value).join(" ")`))
		}
		n := browsertest.Eval[int](f.b, `document.querySelectorAll(".msg.assistant .meta").length`)
		f.b.Do("ask", chromedp.SendKeys(chromedp.ID("question"), q+kb.Enter))
		f.b.Until("the answer", fmt.Sprintf(`document.querySelectorAll(".msg.assistant .meta").length === %d`, n+1))
		asks, _, _ := f.srv.engine.snapshot()
		return asks[len(asks)-1]
	}
	if a := ask("c:Reports", "What is in the reports?"); len(a.Collections) != 1 || a.Collections[0] != "Reports" || len(a.DocIDs) != 0 {
		t.Errorf("asked in the collection: collections %q, doc_ids %q", a.Collections, a.DocIDs)
	}
	if a := ask("d:"+f.notes, "Show me no figure, only text"); len(a.DocIDs) != 1 || a.DocIDs[0] != f.notes || len(a.Collections) != 0 {
		t.Errorf("asked in one document: collections %q, doc_ids %q", a.Collections, a.DocIDs)
	}
	if note := f.str(`document.querySelector("#images-note").hidden + " " + document.querySelector("#images-note").textContent`); !strings.HasPrefix(note, "false No figure passed the threshold 0.25 (best 0.18)") {
		t.Errorf("the figures note: %q", note)
	}
	browsertest.Eval[any](f.b, `(() => { const s = document.querySelector("#scope"); s.value = "all"; s.dispatchEvent(new Event("change")); })()`)
}
