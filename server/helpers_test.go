package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mmrag"
	"mmrag/sqlite"
)

// The fakes stand in for the retrieve/generate and ingest packages; the
// store is the real SQLite one, so documents, items and pictures go
// through the real code.

// fakeEngine searches with the store's full-text index and answers with
// the best passage, streamed word by word, citing it as [1].
type fakeEngine struct {
	store mmrag.Store

	mu         sync.Mutex
	lastAsk    AskRequest
	lastSearch SearchRequest
	failWith   error // returned by Ask after the sources are sent
	panicMsg   string
	block      chan struct{} // when set, Ask waits for it or for its context
	// gate, when set, holds the answer after its first token until closed,
	// so that a test can see a half-streamed answer.
	gate chan struct{}
}

func (e *fakeEngine) Search(ctx context.Context, req SearchRequest) (*SearchResponse, error) {
	e.mu.Lock()
	e.lastSearch = req
	e.mu.Unlock()
	hits, err := e.store.SearchText(ctx, mmrag.TextQuery{Query: req.Query, K: 5})
	if err != nil {
		return nil, err
	}
	res := &SearchResponse{}
	for _, h := range hits {
		it, err := e.store.Item(ctx, h.ItemID)
		if err != nil {
			return nil, err
		}
		doc, err := e.store.Document(ctx, it.DocID)
		if err != nil {
			return nil, err
		}
		res.Text = append(res.Text, SourceFrom(it, doc, float64(h.Score)))
	}
	// Figures: every image in the store.
	all, err := e.store.Documents(ctx, mmrag.Filter{})
	if err != nil {
		return nil, err
	}
	for _, doc := range all {
		items, err := e.store.Items(ctx, doc.ID)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if it.Modality == mmrag.Image {
				res.Images = append(res.Images, SourceFrom(it, doc, 0.5))
			}
		}
	}
	return res, nil
}

func (e *fakeEngine) Ask(ctx context.Context, req AskRequest, onSources func(*SearchResponse) error, onToken func(string) error) (*Answer, error) {
	e.mu.Lock()
	e.lastAsk = req
	failWith, panicMsg, block, gate := e.failWith, e.panicMsg, e.block, e.gate
	e.mu.Unlock()
	if panicMsg != "" {
		panic(panicMsg)
	}
	src, err := e.Search(ctx, SearchRequest{SearchOptions: req.SearchOptions, Query: req.Question})
	if err != nil {
		return nil, err
	}
	if onSources != nil {
		if err := onSources(src); err != nil {
			return nil, err
		}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if failWith != nil {
		return nil, failWith
	}
	answer := "I found nothing about that."
	if len(src.Text) > 0 {
		answer = "From the documents: " + firstWords(src.Text[0].Text, 12) + " [1]"
	}
	if onToken != nil {
		for i, w := range strings.SplitAfter(answer, " ") {
			if err := onToken(w); err != nil {
				return nil, err
			}
			if i == 0 && gate != nil {
				select {
				case <-gate:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		}
	}
	return &Answer{Answer: answer, Sources: *src, Model: "extractive", Strategy: req.Strategy, PromptTokens: 10, OutputTokens: 5}, nil
}

func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		f = f[:n]
	}
	return strings.Join(f, " ")
}

// fakeIngester stores each file as a document: paragraphs (split at blank
// lines) become text items, PNG files one image item. It fails files
// whose name contains "bad".
type fakeIngester struct {
	store mmrag.Store
	block chan struct{} // when set, Ingest waits for it or for its context
	calls int
	mu    sync.Mutex
}

func docID(source string) string {
	sum := sha256.Sum256([]byte(source))
	return hex.EncodeToString(sum[:8])
}

func (f *fakeIngester) Ingest(ctx context.Context, sources []string, progress func(Progress)) ([]string, error) {
	f.mu.Lock()
	f.calls++
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var p Progress
	p.Total = len(sources)
	var ids []string
	for _, src := range sources {
		p.Current = src
		progress(p)
		if err := f.one(ctx, src); err != nil {
			p.Failed++
			p.Errors = append(p.Errors, JobError{Source: src, Error: src + ": " + err.Error()})
		} else {
			p.Done++
			ids = append(ids, docID(src))
		}
		progress(p)
	}
	return ids, nil
}

func (f *fakeIngester) one(ctx context.Context, src string) error {
	if strings.Contains(filepath.Base(src), "bad") {
		return errors.New("cannot read this file")
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	id := docID(src)
	doc := mmrag.Document{ID: id, Source: src, Type: "text", Title: filepath.Base(src), Size: int64(len(data)), Ingested: time.Now()}
	var items []mmrag.Item
	blobs := map[string][]byte{}
	if filepath.Ext(src) == ".png" {
		sum := sha256.Sum256(data)
		h := hex.EncodeToString(sum[:])
		blobs[h] = data
		items = append(items, mmrag.Item{ID: id + "-img", DocID: id, Modality: mmrag.Image, Kind: "figure",
			Text: "a figure", BlobHash: h, MIME: "image/png", Caption: "A test figure", Section: []string{"Figures"}})
	} else {
		for i, para := range strings.Split(string(data), "\n\n") {
			if strings.TrimSpace(para) == "" {
				continue
			}
			items = append(items, mmrag.Item{ID: fmt.Sprintf("%s-%d", id, i), DocID: id, Modality: mmrag.Text, Kind: "paragraph",
				Text: strings.TrimSpace(para), Section: []string{"Part " + fmt.Sprint(i+1)}, Anchor: fmt.Sprintf("part-%d", i+1), Position: i})
		}
	}
	return f.store.PutDocument(ctx, doc, items, nil, blobs)
}

// testServer is a Server on the real store behind httptest.
type testServer struct {
	*Server
	URL      string
	store    *sqlite.Store
	ws       *sqlite.Workspace
	engine   *fakeEngine
	ingester *fakeIngester
	dir      string
	logs     *bytes.Buffer
	token    string // sent by do unless the call names an Authorization
}

func newTestServer(t *testing.T, mod func(*Config)) *testServer {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "kb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ws, err := sqlite.OpenWorkspace(ctx, filepath.Join(dir, "kb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	eng := &fakeEngine{store: st}
	ing := &fakeIngester{store: st}
	logs := &bytes.Buffer{}
	cfg := Config{
		Store: st, Engine: eng, Ingester: ing, Workspace: ws,
		Logger:    slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		UploadDir: filepath.Join(dir, "kb", "uploads"),
		Settings:  Settings{Strategy: "multimodal", Mode: "hybrid", TextK: 15, ImageK: 5, Generator: "extractive"},
		Version:   "test",
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return &testServer{Server: s, URL: hs.URL, store: st, ws: ws, engine: eng, ingester: ing, dir: dir, logs: logs, token: cfg.Token}
}

// serve runs the server's own Serve (graceful shutdown included, which
// the httptest server does not exercise) on a loopback listener and points
// ts.URL at it; stop cancels Serve and returns what it returned.
func (ts *testServer) serve(t *testing.T) (stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ts.Serve(ctx, ln) }()
	ts.URL = "http://" + ln.Addr().String()
	return func() error {
		cancel()
		return <-served
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// do sends a request; body may be a string (sent as JSON), []byte or nil.
func (ts *testServer) do(t *testing.T, method, path string, body any, hdr ...string) *http.Response {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, ts.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := body.(string); ok {
		req.Header.Set("Content-Type", "application/json")
	}
	if ts.token != "" {
		req.Header.Set("Authorization", "Bearer "+ts.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1] // net/http sends req.Host, not a Host header
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	ts.checkResponse(t, req, res) // every JSON response matches openapi.json
	return res
}

func readAll(t *testing.T, res *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeRes checks the status and decodes the JSON body into v.
func decodeRes(t *testing.T, res *http.Response, status int, v any) {
	t.Helper()
	b := readAll(t, res)
	if res.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %s", res.Request.Method, res.Request.URL.Path, res.StatusCode, status, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: decode %s: %v", res.Request.Method, res.Request.URL.Path, b, err)
		}
	}
}

// wantError checks an error answer: the status and the JSON shape.
func wantError(t *testing.T, res *http.Response, status int, contains string) {
	t.Helper()
	var e errorBody
	decodeRes(t, res, status, &e)
	if e.Error == "" || e.RequestID == "" {
		t.Errorf("%s %s: error body %+v lacks error or request_id", res.Request.Method, res.Request.URL.Path, e)
	}
	if !strings.Contains(e.Error, contains) {
		t.Errorf("%s %s: error %q does not mention %q", res.Request.Method, res.Request.URL.Path, e.Error, contains)
	}
}

// multipartBody builds an upload of files (name → content); a name
// starting with "asset:" goes in the assets field.
func multipartBody(t *testing.T, files ...[2]string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range files {
		field, name := filesField, f[0]
		if n, ok := strings.CutPrefix(name, "asset:"); ok {
			field, name = assetsField, n
		}
		w, err := mw.CreateFormFile(field, name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f[1]))
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

// testPNG is a w×h opaque gradient, or with an alpha channel when alpha.
func testPNG(t testing.TB, w, h int, alpha bool) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			a := uint8(255)
			if alpha && x < w/2 {
				a = 100
			}
			img.Set(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, a})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// upload posts files and waits for the job to finish.
func (ts *testServer) upload(t *testing.T, files ...[2]string) Job {
	t.Helper()
	ct, body := multipartBody(t, files...)
	var j Job
	decodeRes(t, ts.do(t, "POST", "/v1/documents", body, "Content-Type", ct), http.StatusAccepted, &j)
	return ts.waitJob(t, j.ID)
}

func (ts *testServer) waitJob(t *testing.T, id string) Job {
	t.Helper()
	for {
		var j Job
		decodeRes(t, ts.do(t, "GET", "/v1/jobs/"+id, nil), http.StatusOK, &j)
		if j.State == JobDone || j.State == JobFailed || j.State == JobCancelled {
			return j
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const sampleText = "Multimodal embeddings map text and images into one space.\n\nCLIP was trained on image and caption pairs with a contrastive loss.\n\nRetrieval finds the nearest passages for a question."
