package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"mmrag/internal/browsertest"
	"mmrag/onnx/onnxgraph"
	"mmrag/onnx/onnxtest"
	"mmrag/server"
)

// serveSeedBlog is the seed-blog fixture, from this package's folder.
var serveSeedBlog = filepath.Join("..", "..", "..", "shared", "fixtures", "seed-blog")

// serveKB starts `mmrag serve`'s server over the real pipeline: a tiny
// CLIP model (random weights, the real tokenizer), the SQLite store,
// ingest with the real extractors, retrieval and the extractive answer.
func serveKB(t *testing.T, o serveOptions) (base string, logs *bytes.Buffer) {
	t.Helper()
	tok := filepath.Join("..", "..", "..", "shared", "fixtures", "clip-tokenizer")
	if _, err := os.Stat(filepath.Join(tok, "vocab.json")); err != nil {
		t.Skipf("no CLIP tokenizer fixture at %s", tok)
	}
	onnxtest.Init(t)
	home := cliEnv(t, cliOffline)
	g := &globals{model: cliTinyModel(t, onnxgraph.FolderOptions{TokenizerDir: tok}), store: filepath.Join(home, "kb"), threads: 1}
	logs = &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(&serveLockedWriter{w: logs}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	srv, closeAll, err := g.buildServer(ctx, o, log, &serveLockedWriter{w: logs})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		closeAll()
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return "http://" + ln.Addr().String(), logs
}

type serveLockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *serveLockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func defaultServeOptions() serveOptions {
	return serveOptions{strategy: "multimodal", scoring: "hybrid", maxUploadMiB: 64, maxFiles: 8, maxFileMiB: 64, workers: 1}
}

// TestServeCommandFlags: bad settings are refused, naming the flag,
// before anything is opened.
func TestServeCommandFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--strategy", "telepathy"}, "--strategy"},
		{[]string{"--scoring", "magic"}, "--scoring"},
		{[]string{"--max-upload", "0"}, "--max-upload"},
		{[]string{"--log-format", "xml"}, "--log-format"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"extra"}, "unknown command"},
		{[]string{"--addr", "0.0.0.0:0"}, "--no-token"}, // reachable from elsewhere without a token
		{[]string{"--allow-model", "gpt-4o"}, "--allow-model"},
	} {
		cmd := newServeCmd(&globals{model: t.TempDir(), store: t.TempDir()})
		cmd.SetArgs(tc.args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.ExecuteContext(t.Context())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %v: %v, want an error about %s", tc.args, err, tc.want)
		}
	}
	if !loopback("127.0.0.1:8080") || !loopback("localhost:1") || !loopback("[::1]:80") || loopback("0.0.0.0:8080") || loopback(":8080") {
		t.Error("loopback misjudges an address")
	}
}

// TestServeAPI runs the real pipeline through the HTTP API: ingest a
// seed-blog post by URL, search, ask, and read the metrics.
func TestServeAPI(t *testing.T) {
	if _, err := os.Stat(filepath.Join(serveSeedBlog, "local")); err != nil {
		t.Skipf("no seed-blog fixture at %s", serveSeedBlog)
	}
	o := defaultServeOptions()
	o.allowPrivate = true
	base, _ := serveKB(t, o)
	files := httptest.NewServer(http.FileServer(http.Dir(serveSeedBlog)))
	defer files.Close()

	serveIngestPost(t, base, files.URL+"/local/2024-11-29_Multimodal-Embeddings--An-Introduction-5dc36975966f.html")
	serveSearches(t, base)
	serveAsk(t, base)
	serveMetrics(t, base)
}

// serveIngestPost adds a post by URL in the collection "blog" and checks
// the stored document and its items.
func serveIngestPost(t *testing.T, base, post string) {
	t.Helper()
	var job server.Job
	serveCall(t, "POST", base+"/v1/documents", `{"urls":["`+post+`"],"collection":"blog"}`, 202, &job)
	for job.State != server.JobDone && job.State != server.JobFailed {
		serveCall(t, "GET", base+"/v1/jobs/"+job.ID, "", 200, &job)
	}
	if job.State != server.JobDone || job.Done != 1 || len(job.Documents) != 1 {
		t.Fatalf("job %+v", job)
	}
	var doc struct {
		Document server.DocumentView
		Items    []server.ItemView
	}
	serveCall(t, "GET", base+"/v1/documents/"+job.Documents[0], "", 200, &doc)
	images := 0
	for _, it := range doc.Items {
		if it.Modality == "image" {
			images++
		}
	}
	if !strings.Contains(doc.Document.Title, "Multimodal Embeddings") || images == 0 || len(doc.Items) < 20 {
		t.Fatalf("document %+v with %d items, %d images", doc.Document, len(doc.Items), images)
	}
}

// serveSearches checks /v1/search: figures with thumbnails, the note when
// no figure passes, and collections scoping the search.
func serveSearches(t *testing.T, base string) {
	t.Helper()
	var res server.SearchResponse
	serveCall(t, "POST", base+"/v1/search", `{"query":"contrastive learning of text and image encoders","image_threshold":0}`, 200, &res)
	if len(res.Text) == 0 || len(res.Images) == 0 || res.Images[0].ThumbURL == "" {
		t.Fatalf("search: %d text, %d images", len(res.Text), len(res.Images))
	}
	if res.ImagesNote != nil {
		t.Errorf("images note %+v on a search that shows figures", res.ImagesNote)
	}
	// No figure passes a threshold of 1: the response says how close the best came.
	serveCall(t, "POST", base+"/v1/search", `{"query":"contrastive learning","image_threshold":1}`, 200, &res)
	if len(res.Images) != 0 || res.ImagesNote == nil || res.ImagesNote.Threshold != 1 || res.ImagesNote.BestScore <= 0 || res.ImagesNote.BestScore >= 1 {
		t.Errorf("search with an unreachable image threshold: %d images, note %+v", len(res.Images), res.ImagesNote)
	}
	// Collections scope the search, whatever the store.
	serveCall(t, "POST", base+"/v1/search", `{"query":"contrastive learning","collections":["blog"]}`, 200, &res)
	if len(res.Text) == 0 {
		t.Error("search in the collection of the document found nothing")
	}
	serveCall(t, "POST", base+"/v1/search", `{"query":"contrastive learning","collections":["other"]}`, 200, &res)
	if len(res.Text)+len(res.Images) != 0 {
		t.Errorf("search in an empty collection found %d text, %d images", len(res.Text), len(res.Images))
	}
}

// serveAsk asks in a conversation, waits for the models to warm up, and
// asks through the OpenAI-compatible chat route.
func serveAsk(t *testing.T, base string) {
	t.Helper()
	var conv server.ConversationView
	serveCall(t, "POST", base+"/v1/conversations", `{}`, 201, &conv)
	var ans server.Answer
	serveCall(t, "POST", base+"/v1/ask", `{"question":"What is contrastive learning?","image_threshold":0,"conversation_id":"`+conv.ID+`"}`, 200, &ans)
	if ans.Model != "extractive" || !strings.Contains(ans.Answer, "[") || len(ans.Sources.Text) == 0 || ans.Sources.Text[0].N != 1 {
		t.Errorf("answer %+v", ans)
	}
	if ans.Conversation == nil || ans.Conversation.Turns != 2 || ans.Conversation.Title != "What is contrastive learning?" {
		t.Errorf("answer's conversation %+v", ans.Conversation)
	}
	var st server.Settings
	for !st.Ready { // the models load in the background
		serveCall(t, "GET", base+"/v1/settings", "", 200, &st)
	}
	if st.WarmupError != "" {
		t.Errorf("warm-up: %s", st.WarmupError)
	}
	var chat struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	serveCall(t, "POST", base+"/v1/chat/completions", `{"model":"mmrag-text","messages":[{"role":"user","content":"What is contrastive learning?"}]}`, 200, &chat)
	if len(chat.Choices) != 1 || !strings.Contains(chat.Choices[0].Message.Content, "\n\nSources:\n[1] Multimodal Embeddings") {
		t.Errorf("chat completion %+v", chat)
	}
}

// serveMetrics checks that /metrics counts the document, the job and the
// embeddings the test made.
func serveMetrics(t *testing.T, base string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	mres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer mres.Body.Close()
	var metrics bytes.Buffer
	metrics.ReadFrom(mres.Body)
	for _, want := range []string{`mmrag_documents 1`, `mmrag_jobs{state="done"} 1`, `mmrag_embeddings_total `} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(metrics.String(), "mmrag_embeddings_total 0\n") {
		t.Error("no embedding was counted")
	}
}

func serveCall(t *testing.T, method, url, body string, status int, v any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(res.Body)
	if res.StatusCode != status {
		t.Fatalf("%s %s: %d, want %d: %s", method, url, res.StatusCode, status, buf.String())
	}
	if v != nil {
		if err := json.Unmarshal(buf.Bytes(), v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, buf.String())
		}
	}
}

// TestServeBrowser is the end-to-end test of the issue: in Chromium,
// upload a seed-blog post, add the other by URL, watch the jobs finish,
// ask a question, see the streamed extractive answer with its sources and
// a figure thumbnail, and open a citation at its section in the reader.
func TestServeBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	browsertest.Chromium(t)
	if _, err := os.Stat(filepath.Join(serveSeedBlog, "local")); err != nil {
		t.Skipf("no seed-blog fixture at %s", serveSeedBlog)
	}
	o := defaultServeOptions()
	o.allowPrivate = true // the second post comes from a local test server
	base, _ := serveKB(t, o)
	files := httptest.NewServer(http.FileServer(http.Dir(serveSeedBlog)))
	defer files.Close()
	b := browsertest.New(t)

	// The first post through the file input: its pictures are relative
	// links that an upload cannot carry, so it brings text only.
	upload, _ := filepath.Abs(filepath.Join(serveSeedBlog, "local", "2024-11-19_Multimodal-Models---LLMs-that-can-see-and-hear-5c6737c981d3.html"))
	b.Do("upload a post",
		chromedp.Navigate(base+"/#/library"),
		chromedp.WaitVisible(chromedp.ID("drop")),
		chromedp.SetUploadFiles(chromedp.ID("upload-input"), []string{upload}),
	)
	b.Until("the upload job", `document.querySelector("#jobs .job.done, #jobs .job.failed")`)
	if state := browsertest.Eval[string](b, `document.querySelector("#jobs .job").className + " " + document.querySelector("#jobs .job").textContent`); !strings.Contains(state, "done (1/1)") {
		t.Fatalf("upload job: %s", state)
	}
	// The second post by URL, with its figures.
	post := files.URL + "/local/2024-11-29_Multimodal-Embeddings--An-Introduction-5dc36975966f.html"
	b.Do("add a post by URL",
		chromedp.SetValue(chromedp.ID("url-input"), post),
		chromedp.Click(chromedp.CSS("#url-form button")),
	)
	b.Until("the URL job", `document.querySelectorAll("#jobs .job.done, #jobs .job.failed").length === 2`)
	if state := browsertest.Eval[string](b, `document.querySelector("#jobs .job").className + " " + document.querySelector("#jobs .job").textContent`); !strings.Contains(state, "done (1/1)") {
		t.Fatalf("URL job: %s", state)
	}
	b.Until("both posts in the library", `document.querySelectorAll("#library tr").length === 2`)
	b.Shot("library")

	// Random CLIP weights give figures arbitrary scores: let them all
	// through, as a user would in the settings.
	b.Do("settings",
		chromedp.Click(chromedp.ID("tab-settings")),
		chromedp.WaitVisible(chromedp.CSS(`#settings input[name=image_threshold]`)),
		chromedp.SetValue(chromedp.CSS(`#settings input[name=image_threshold]`), "0"),
		chromedp.Click(chromedp.CSS(`#settings button[type=submit]`)),
	)

	b.Do("ask",
		chromedp.Click(chromedp.ID("tab-chat")),
		chromedp.WaitVisible(chromedp.ID("question")),
		chromedp.SetValue(chromedp.ID("question"), "How does contrastive learning align text and image embeddings?"),
		chromedp.Click(chromedp.ID("send")),
	)
	b.Until("the answer", `document.querySelector(".msg.assistant .meta") || document.querySelector(".msg.assistant.error")`)
	answer := browsertest.Eval[string](b, `document.querySelector(".msg.assistant .body").textContent`)
	meta := browsertest.Eval[string](b, `document.querySelector(".msg.assistant .meta").textContent`)
	if !strings.HasPrefix(meta, "extractive") || len(answer) < 40 || browsertest.Eval[int](b, `document.querySelectorAll(".msg.assistant a.cite").length`) == 0 {
		t.Fatalf("answer %q (%s) without citation links", answer, meta)
	}
	b.Until("a figure thumbnail", `[...document.querySelectorAll("#figures img")].some((i) => i.complete && i.naturalWidth > 0)`)
	if src := browsertest.Eval[string](b, `document.querySelector("#figures img").getAttribute("src")`); !strings.Contains(src, "thumb=") {
		t.Errorf("figure src %q is not a thumbnail", src)
	}
	b.Shot("answer")

	// The first text source's link opens the reader at that passage, under
	// the source's section.
	where := browsertest.Eval[string](b, `document.querySelector("#sources li a.open").textContent`)
	href := browsertest.Eval[string](b, `document.querySelector("#sources li a.open").getAttribute("href")`)
	b.Do("open a citation", chromedp.Click(chromedp.CSS("#sources li a.open")))
	b.Until("the reader at the cited passage", `!document.querySelector("#view-reader").hidden && document.querySelector("#view-reader .reader-item.hl")`)
	hlID := browsertest.Eval[string](b, `document.querySelector(".reader-item.hl").id`)
	if !strings.HasSuffix(href, "/"+strings.TrimPrefix(hlID, "item-")) {
		t.Errorf("highlighted %s, the link was %s", hlID, href)
	}
	// The section heading shown last before the passage.
	section := browsertest.Eval[string](b, `(() => {
		for (let n = document.querySelector(".reader-item.hl"); n; n = n.previousElementSibling) {
			const s = n.querySelector(".sec");
			if (s) return s.textContent;
		}
		return "";
	})()`)
	last := section
	if i := strings.LastIndex(section, " › "); i >= 0 {
		last = section[i+len(" › "):]
	}
	if section == "" || !strings.Contains(where, last) {
		t.Errorf("the passage sits under %q; the source said %q", section, where)
	}
	b.Shot("reader")
	t.Logf("answer: %s", answer)
}
