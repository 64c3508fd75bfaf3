package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestRoutesMatchOpenAPI: every API route is described in openapi.json and
// every described operation is served; every $ref resolves.
func TestRoutesMatchOpenAPI(t *testing.T) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if v, _ := spec["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		t.Errorf("openapi version %q, want 3.1.x", v)
	}
	info, _ := spec["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Error("info lacks title or version")
	}
	paths, _ := spec["paths"].(map[string]any)
	var described []string
	methods := []string{"get", "post", "put", "delete", "patch", "head", "options"}
	for p, item := range paths {
		ops, _ := item.(map[string]any)
		for m := range ops {
			if !slices.Contains(methods, m) {
				continue
			}
			described = append(described, strings.ToUpper(m)+" "+p)
			checkOperation(t, spec, p, m, ops)
		}
	}
	slices.Sort(described)
	ts := newTestServer(t, nil)
	served := ts.Routes()
	for _, r := range served {
		if !slices.Contains(described, r) {
			t.Errorf("route %s is served but not in openapi.json", r)
		}
	}
	for _, d := range described {
		if !slices.Contains(served, d) {
			t.Errorf("openapi.json describes %s, which is not served", d)
		}
	}
	// Every $ref points at something.
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if resolve(spec, ref) == nil {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(spec)
	// The server serves this very file.
	res := ts.do(t, "GET", "/openapi.json", nil)
	if got := readAll(t, res); !bytes.Equal(got, raw) || res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /openapi.json: %d bytes of %s, want the file's %d", len(got), res.Header.Get("Content-Type"), len(raw))
	}
}

func resolve(spec map[string]any, ref string) any {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var cur any = spec
	for _, k := range strings.Split(p, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func declaresParam(spec map[string]any, params any, name string) bool {
	list, _ := params.([]any)
	for _, p := range list {
		m, _ := p.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			m, _ = resolve(spec, ref).(map[string]any)
		}
		if m["name"] == name && m["in"] == "path" {
			return true
		}
	}
	return false
}

// checkOperation checks operation method of path p, whose path item is
// ops: its responses are status codes, 401 among them when the token
// guards it, and its path parameters are declared.
func checkOperation(t *testing.T, spec map[string]any, p, method string, ops map[string]any) {
	t.Helper()
	o, _ := ops[method].(map[string]any)
	responses, ok := o["responses"].(map[string]any)
	if !ok {
		t.Errorf("%s %s: no responses", method, p)
	}
	// Operations behind the token say so.
	if sec, ok := o["security"].([]any); !(ok && len(sec) == 0) && responses["401"] == nil {
		t.Errorf("%s %s: protected, but 401 is not among its responses", method, p)
	}
	for code := range responses {
		if code == "default" {
			continue // any other status: the error shape
		}
		if n, err := strconv.Atoi(code); err != nil || n < 100 || n > 599 {
			t.Errorf("%s %s: response %q is not a status code", method, p, code)
		}
	}
	// Path parameters must be declared, on the path or the operation.
	for _, name := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(p, -1) {
		if !declaresParam(spec, ops["parameters"], name[1]) && !declaresParam(spec, o["parameters"], name[1]) {
			t.Errorf("%s %s: path parameter %s not declared", method, p, name[1])
		}
	}
}

func TestAuth(t *testing.T) {
	const token = "s3cret-token"
	ts := newTestServer(t, func(c *Config) { c.Token = token })
	routes := []struct{ method, path, body string }{
		{"POST", "/v1/ask", `{"question":"clip"}`},
		{"POST", "/v1/search", `{"query":"clip"}`},
		{"GET", "/v1/documents", ""},
		{"POST", "/v1/documents", `{"urls":["https://example.org/"]}`},
		{"GET", "/v1/documents/x", ""},
		{"DELETE", "/v1/documents/x", ""},
		{"POST", "/v1/documents/x/reingest", ""},
		{"GET", "/v1/documents/x/pages/1", ""},
		{"GET", "/v1/jobs", ""},
		{"GET", "/v1/jobs/x", ""},
		{"DELETE", "/v1/jobs/x", ""},
		{"GET", "/v1/items/x", ""},
		{"GET", "/v1/items/x/image", ""},
		{"GET", "/v1/settings", ""},
		{"POST", "/v1/chat/completions", `{"model":"mmrag","messages":[{"role":"user","content":"hi"}]}`},
		{"GET", "/v1/models", ""},
		{"GET", "/v1/models/mmrag", ""},
		{"GET", "/metrics", ""},
		{"GET", "/v1/conversations", ""},
		{"POST", "/v1/conversations", `{}`},
		{"GET", "/v1/conversations/x", ""},
		{"PATCH", "/v1/conversations/x", `{"title":"t"}`},
		{"DELETE", "/v1/conversations/x", ""},
		{"GET", "/v1/collections", ""},
		{"PUT", "/v1/documents/x/collections", `{"collections":["a"]}`},
	}
	if len(routes) != len(ts.Routes())-2 { // all but /healthz and /openapi.json
		t.Errorf("the table covers %d protected routes; the server has %d routes in all", len(routes), len(ts.Routes()))
	}
	for _, rt := range routes {
		checkTokenGuards(t, ts, rt.method, rt.path, rt.body, token)
	}
	for _, p := range []string{"/healthz", "/openapi.json", "/app.js", "/app.css", "/login"} {
		if res := ts.do(t, "GET", p, nil, "Authorization", ""); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s without a token: %d, want 200", p, res.StatusCode)
		}
	}

	// The UI page: the login form, then a session cookie.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("GET / without a session: %d to %q, want 303 to /login", res.StatusCode, res.Header.Get("Location"))
	}
	res, err = noRedirect.PostForm(ts.URL+"/login", url.Values{"token": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	if res.StatusCode != http.StatusUnauthorized || !bytes.Contains(body, []byte("Wrong token")) || len(res.Cookies()) != 0 {
		t.Errorf("login with a wrong token: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	res, err = noRedirect.PostForm(ts.URL+"/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var session *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if res.StatusCode != http.StatusSeeOther || session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login: %d, cookie %+v", res.StatusCode, session)
	}
	if strings.Contains(session.Value, token) {
		t.Error("the session cookie holds the token itself")
	}
	withCookie := func(method, path string, hdr ...string) *http.Response {
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		req.AddCookie(session)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := withCookie("GET", "/"); res.StatusCode != http.StatusOK {
		t.Errorf("GET / with the session: %d", res.StatusCode)
	}
	if res := withCookie("GET", "/v1/documents"); res.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/documents with the session: %d", res.StatusCode)
	}
	// Another site's page posting with the user's cookie is refused.
	if res := withCookie("POST", "/v1/documents/x/reingest", "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST with the session: %d, want 403", res.StatusCode)
	}
	if res := withCookie("POST", "/v1/documents/x/reingest", "Sec-Fetch-Site", "same-origin"); res.StatusCode != http.StatusNotFound {
		t.Errorf("same-origin POST with the session: %d, want 404 (no such document)", res.StatusCode)
	}
	if !strings.Contains(ts.logs.String(), "login with a wrong token") {
		t.Error("a failed login is not logged")
	}
}

func TestSearch(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.upload(t, [2]string{"notes.txt", sampleText}, [2]string{"fig.png", string(testPNG(t, 40, 30, false))})
	tests := []struct {
		name, body string
		status     int
		contains   string
	}{
		{"bad JSON", `{"query": "clip"`, 400, "bad JSON"},
		{"not an object", `["clip"]`, 400, "bad JSON"},
		{"empty body", ``, 400, "empty request body"},
		{"trailing data", `{"query":"clip"} {}`, 400, "unexpected data"},
		{"missing query", `{}`, 400, "missing query"},
		{"blank query", `{"query":"   "}`, 400, "missing query"},
		{"unknown field", `{"query":"clip","txt_k":3}`, 400, "txt_k"},
		{"bad mode", `{"query":"clip","mode":"magic"}`, 400, "mode"},
		{"k too big", `{"query":"clip","text_k":1000}`, 400, "text_k"},
		{"both k zero", `{"query":"clip","text_k":0,"image_k":0}`, 400, "both 0"},
		{"threshold above 1", `{"query":"clip","image_threshold":1.5}`, 400, "image_threshold"},
		{"wrong type", `{"query":42}`, 400, "bad JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, ts.do(t, "POST", "/v1/search", tt.body), tt.status, tt.contains)
		})
	}
	var res SearchResponse
	decodeRes(t, ts.do(t, "POST", "/v1/search", `{"query":"CLIP contrastive","text_k":5}`), 200, &res)
	if len(res.Text) == 0 || !strings.Contains(res.Text[0].Text, "CLIP") {
		t.Fatalf("search results %+v, want the CLIP passage first", res.Text)
	}
	for i, s := range res.Text {
		if s.N != i+1 || s.DocID == "" || s.Title != "notes.txt" {
			t.Errorf("text source %d: %+v", i, s)
		}
	}
	// The big body limit: 413, not 400.
	big := `{"query":"` + strings.Repeat("a", maxQueryBodyBytes) + `"}`
	wantError(t, ts.do(t, "POST", "/v1/search", big), http.StatusRequestEntityTooLarge, "over")
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	name string
	data string
}

func readEvents(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.data != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data += strings.TrimPrefix(line, "data: ")
		}
	}
	return out
}

func TestAsk(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.upload(t, [2]string{"notes.txt", sampleText}, [2]string{"fig.png", string(testPNG(t, 40, 30, false))})

	t.Run("errors", func(t *testing.T) {
		for body, want := range map[string]string{
			`{"question":""}`: "missing question",
			`{}`:              "missing question",
			`{"question":"x","strategy":"telepathy"}`:                      "strategy",
			`{"question":"x","temperature":-1}`:                            "temperature",
			`{"question":"x","history":[{"role":"system","content":"x"}]}`: "role",
			`{"question":`: "bad JSON",
		} {
			wantError(t, ts.do(t, "POST", "/v1/ask", body), 400, want)
		}
	})

	t.Run("json", func(t *testing.T) {
		var a Answer
		decodeRes(t, ts.do(t, "POST", "/v1/ask", `{"question":"What was CLIP trained on?","strategy":"text","history":[{"role":"user","content":"hi"}]}`), 200, &a)
		if !strings.Contains(a.Answer, "[1]") || len(a.Sources.Text) == 0 || a.Model != "extractive" {
			t.Fatalf("answer %+v", a)
		}
		if len(a.Sources.Images) == 0 || a.Sources.Images[0].ThumbURL == "" || a.Sources.Images[0].N != len(a.Sources.Text)+1 {
			t.Errorf("image sources %+v: want numbered after the text, with a thumbnail link", a.Sources.Images)
		}
		if got := ts.engine.lastAsk; got.Strategy != "text" || len(got.History) != 1 {
			t.Errorf("engine got %+v", got)
		}
	})

	t.Run("stream", func(t *testing.T) {
		res := ts.do(t, "POST", "/v1/ask", `{"question":"What was CLIP trained on?","stream":true}`)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("status %d, type %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
		evs := readEvents(t, res.Body)
		if len(evs) < 3 || evs[0].name != "sources" || evs[len(evs)-1].name != "done" {
			t.Fatalf("events %v: want sources, token…, done", evs)
		}
		var text string
		for _, e := range evs[1 : len(evs)-1] {
			var tok struct{ Text string }
			if e.name != "token" || json.Unmarshal([]byte(e.data), &tok) != nil {
				t.Fatalf("event %+v, want a token", e)
			}
			text += tok.Text
		}
		var src SearchResponse
		var done Answer
		if err := json.Unmarshal([]byte(evs[0].data), &src); err != nil || len(src.Text) == 0 || src.Text[0].N != 1 {
			t.Errorf("sources event %s (%v)", evs[0].data, err)
		}
		if err := json.Unmarshal([]byte(evs[len(evs)-1].data), &done); err != nil || done.Answer != text || done.Answer == "" {
			t.Errorf("done %s: answer differs from the tokens %q", evs[len(evs)-1].data, text)
		}
	})

	t.Run("accept header streams", func(t *testing.T) {
		res := ts.do(t, "POST", "/v1/ask", `{"question":"CLIP"}`, "Accept", "text/event-stream")
		if evs := readEvents(t, res.Body); len(evs) == 0 || evs[0].name != "sources" {
			t.Errorf("events %v", evs)
		}
	})

	t.Run("error event after the sources", func(t *testing.T) {
		ts.engine.mu.Lock()
		ts.engine.failWith = fmt.Errorf("%w: the LLM server is down", ErrUnavailable)
		ts.engine.mu.Unlock()
		defer func() { ts.engine.mu.Lock(); ts.engine.failWith = nil; ts.engine.mu.Unlock() }()
		evs := readEvents(t, ts.do(t, "POST", "/v1/ask", `{"question":"CLIP","stream":true}`).Body)
		if len(evs) != 2 || evs[0].name != "sources" || evs[1].name != "error" || !strings.Contains(evs[1].data, "LLM server is down") {
			t.Errorf("events %v: want sources then error", evs)
		}
		wantError(t, ts.do(t, "POST", "/v1/ask", `{"question":"CLIP"}`), http.StatusServiceUnavailable, "down")
	})

	t.Run("engine refuses", func(t *testing.T) {
		ts.engine.mu.Lock()
		ts.engine.failWith = fmt.Errorf("%w: threshold unreachable", ErrInvalid)
		ts.engine.mu.Unlock()
		defer func() { ts.engine.mu.Lock(); ts.engine.failWith = nil; ts.engine.mu.Unlock() }()
		wantError(t, ts.do(t, "POST", "/v1/ask", `{"question":"CLIP"}`), 400, "threshold")
	})
}

// checkTokenGuards checks that a route answers 401, with
// WWW-Authenticate, to every Authorization but "Bearer token".
func checkTokenGuards(t *testing.T, ts *testServer, method, path, body, token string) {
	t.Helper()
	for _, auth := range []string{"", "Bearer wrong", "Basic " + token, token} {
		res := ts.do(t, method, path, body, "Authorization", auth)
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with Authorization %q: status %d, want 401", method, path, auth, res.StatusCode)
		} else if res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", method, path)
		}
	}
	if res := ts.do(t, method, path, body, "Authorization", "Bearer "+token); res.StatusCode == http.StatusUnauthorized {
		t.Errorf("%s %s with the token: 401", method, path)
	}
}

func TestDocumentsLifecycle(t *testing.T) {
	ts := newTestServer(t, nil)
	pic := testPNG(t, 600, 300, false)
	j := ts.upload(t, [2]string{"notes.txt", sampleText}, [2]string{"../../etc/fig.png", string(pic)}, [2]string{"bad.txt", "x"})
	checkUploadJob(t, ts, j)

	var list struct{ Documents []DocumentView }
	decodeRes(t, ts.do(t, "GET", "/v1/documents", nil), 200, &list)
	if len(list.Documents) != 2 {
		t.Fatalf("documents %+v", list.Documents)
	}
	var notes, fig DocumentView
	for _, d := range list.Documents {
		switch d.Title {
		case "notes.txt":
			notes = d
		case "fig.png":
			fig = d
		}
	}
	if notes.Items == nil || *notes.Items != 3 || fig.Items == nil || *fig.Items != 1 || notes.Ingested == nil {
		t.Fatalf("documents %+v %+v", notes, fig)
	}

	var one struct {
		Document DocumentView
		Items    []ItemView
	}
	decodeRes(t, ts.do(t, "GET", "/v1/documents/"+fig.ID, nil), 200, &one)
	if len(one.Items) != 1 || one.Items[0].ImageURL == "" || one.Items[0].ThumbURL == "" {
		t.Fatalf("figure document %+v", one)
	}
	img := one.Items[0]
	var item ItemView
	decodeRes(t, ts.do(t, "GET", "/v1/items/"+img.ID, nil), 200, &item)
	if item.Caption != "A test figure" || item.Modality != "image" {
		t.Errorf("item %+v", item)
	}

	// The original, byte for byte, and thumbnails.
	res := ts.do(t, "GET", img.ImageURL, nil)
	if got := readAll(t, res); !bytes.Equal(got, pic) || res.Header.Get("Content-Type") != "image/png" {
		t.Errorf("original: %d bytes of %s", len(got), res.Header.Get("Content-Type"))
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
		t.Errorf("picture CSP %q lacks sandbox", csp)
	}
	checkThumbnails(t, ts, img)
	textItem := notes.ID + "-0"
	wantError(t, ts.do(t, "GET", "/v1/items/"+textItem+"/image", nil), 404, "no picture")

	// Re-ingest queues the same source again.
	var rj Job
	decodeRes(t, ts.do(t, "POST", "/v1/documents/"+notes.ID+"/reingest", nil), 202, &rj)
	if rj = ts.waitJob(t, rj.ID); rj.State != JobDone || rj.Kind != "reingest" || !slices.Equal(rj.Sources, []string{"notes.txt"}) {
		t.Errorf("reingest job %+v", rj)
	}
	var jobs struct{ Jobs []Job }
	decodeRes(t, ts.do(t, "GET", "/v1/jobs", nil), 200, &jobs)
	if len(jobs.Jobs) != 2 || jobs.Jobs[0].ID != rj.ID {
		t.Errorf("jobs %+v: want both, newest first", jobs.Jobs)
	}

	// Delete: gone from the store and from the upload folder.
	if res := ts.do(t, "DELETE", "/v1/documents/"+notes.ID, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	wantError(t, ts.do(t, "GET", "/v1/documents/"+notes.ID, nil), 404, "not found")
	wantError(t, ts.do(t, "DELETE", "/v1/documents/"+notes.ID, nil), 404, "not found")
	if _, err := os.Stat(notes.Source); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the deleted upload %s is still there (%v)", notes.Source, err)
	}
	decodeRes(t, ts.do(t, "GET", "/v1/documents", nil), 200, &list)
	if len(list.Documents) != 1 {
		t.Errorf("documents after delete: %+v", list.Documents)
	}

	// Unknown ids.
	for _, p := range [][2]string{
		{"GET", "/v1/documents/nope"}, {"DELETE", "/v1/documents/nope"}, {"POST", "/v1/documents/nope/reingest"},
		{"GET", "/v1/jobs/nope"}, {"GET", "/v1/items/nope"}, {"GET", "/v1/items/nope/image"}, {"GET", "/v1/items/nope/image?thumb=64"},
	} {
		wantError(t, ts.do(t, p[0], p[1], nil), 404, "")
	}
	if res := ts.do(t, "GET", "/v1/nothing-here", nil); res.StatusCode != 404 {
		t.Errorf("unknown path: %d", res.StatusCode)
	}
}

// checkUploadJob checks the job of TestDocumentsLifecycle's upload of two
// good files and a bad one, and the uploads it kept.
func checkUploadJob(t *testing.T, ts *testServer, j Job) {
	t.Helper()
	if j.State != JobDone || j.Done != 2 || j.Failed != 1 || len(j.Documents) != 2 || j.Total != 3 || j.Kind != "upload" {
		t.Fatalf("job %+v", j)
	}
	if len(j.Errors) != 1 || j.Errors[0].Source != "bad.txt" || strings.Contains(j.Errors[0].Error, ts.dir) {
		t.Errorf("job errors %+v: want bad.txt, named as uploaded, without the server's paths", j.Errors)
	}
	if !slices.Equal(j.Sources, []string{"notes.txt", "fig.png", "bad.txt"}) {
		t.Errorf("job sources %v", j.Sources)
	}
	if j.Started == nil || j.Finished == nil {
		t.Errorf("job times %v %v", j.Started, j.Finished)
	}
	// The failed upload is not kept; the others are, content-addressed.
	uploads := ts.cfg.UploadDir
	entries, _ := os.ReadDir(uploads)
	var kept []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			sub, _ := os.ReadDir(uploads + "/" + e.Name())
			for _, f := range sub {
				kept = append(kept, f.Name())
			}
			if len(e.Name()) != 64 {
				t.Errorf("upload folder %s is not a sha256", e.Name())
			}
		}
	}
	slices.Sort(kept)
	if !slices.Equal(kept, []string{"fig.png", "notes.txt"}) {
		t.Errorf("uploads kept: %v", kept)
	}
}

// checkThumbnails checks the thumbnails of a 600×300 picture item: JPEG at
// the fixed sizes, cached, revalidated by ETag, any size in between served
// the next fixed size up (a client cannot make one decode per distinct
// value), and nonsense sizes refused.
func checkThumbnails(t *testing.T, ts *testServer, img ItemView) {
	t.Helper()
	for _, size := range []int{256, 64} {
		res := ts.do(t, "GET", fmt.Sprintf("%s?thumb=%d", img.ImageURL, size), nil)
		data := readAll(t, res)
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil || format != "jpeg" || cfg.Width != size || cfg.Height != size/2 {
			t.Errorf("thumb %d: %s %dx%d (%v)", size, format, cfg.Width, cfg.Height, err)
		}
		etag := res.Header.Get("ETag")
		if res := ts.do(t, "GET", fmt.Sprintf("%s?thumb=%d", img.ImageURL, size), nil, "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
			t.Errorf("thumb %d with its ETag: %d, want 304", size, res.StatusCode)
		}
	}
	if _, ok := ts.thumbs.get(pictureHash(t, ts, img.ID) + "/256"); !ok {
		t.Error("the thumbnail is not cached")
	}
	before := ts.thumbs.lru.Len()
	for size := 200; size <= 256; size++ {
		res := ts.do(t, "GET", fmt.Sprintf("%s?thumb=%d", img.ImageURL, size), nil)
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(readAll(t, res))); err != nil || cfg.Width != 256 {
			t.Fatalf("thumb %d: %dx%d (%v), want the 256 thumbnail", size, cfg.Width, cfg.Height, err)
		}
	}
	if after := ts.thumbs.lru.Len(); after != before {
		t.Errorf("57 sizes between 200 and 256 made %d new thumbnails, want 0", after-before)
	}
	for _, q := range []string{"thumb=abc", "thumb=8", "thumb=5000"} {
		wantError(t, ts.do(t, "GET", img.ImageURL+"?"+q, nil), 400, "thumb")
	}
}

func pictureHash(t *testing.T, ts *testServer, itemID string) string {
	it, err := ts.store.Item(context.Background(), itemID)
	if err != nil {
		t.Fatal(err)
	}
	return it.BlobHash
}

func TestUploadLimits(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxUploadBytes = 1000; c.MaxUploadFiles = 2 })
	ct, body := multipartBody(t, [2]string{"big.txt", strings.Repeat("x", 2000)})
	wantError(t, ts.do(t, "POST", "/v1/documents", body, "Content-Type", ct), 413, "limit")

	// Without a Content-Length the limit is found while reading.
	req, _ := http.NewRequest("POST", ts.URL+"/v1/documents", io.MultiReader(bytes.NewReader(body)))
	req.Header.Set("Content-Type", ct)
	req.ContentLength = -1
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, res, 413, "limit")

	ct, body = multipartBody(t, [2]string{"a.txt", "a"}, [2]string{"b.txt", "b"}, [2]string{"c.txt", "c"})
	wantError(t, ts.do(t, "POST", "/v1/documents", body, "Content-Type", ct), 413, "more than 2 files")
	ct, body = multipartBody(t)
	wantError(t, ts.do(t, "POST", "/v1/documents", body, "Content-Type", ct), 400, "no files")
	wantError(t, ts.do(t, "POST", "/v1/documents", []byte("--x\r\n"), "Content-Type", "multipart/form-data"), 400, "multipart")
	// Nothing of the refused uploads is kept.
	entries, _ := os.ReadDir(ts.cfg.UploadDir)
	for _, e := range entries {
		if e.Name() != ".tmp" {
			t.Errorf("refused upload left %s", e.Name())
		}
	}
	tmp, _ := os.ReadDir(ts.cfg.UploadDir + "/.tmp")
	if len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}

	for body, want := range map[string]string{
		`{}`:                                   "missing urls",
		`{"urls":[]}`:                          "missing urls",
		`{"urls":["ftp://example.org/x"]}`:     "http",
		`{"urls":["/etc/passwd"]}`:             "http",
		`{"urls":["http://127.0.0.1:8080/"]}`:  "--allow-private",
		`{"urls":["http://localhost/"]}`:       "--allow-private",
		`{"urls":["http://[::1]/"]}`:           "--allow-private",
		`{"urls":["http://10.1.2.3/"]}`:        "--allow-private",
		`{"urls":["http://169.254.169.254/"]}`: "--allow-private",
		`{"urls":["http://2130706433/"]}`:      "--allow-private",
		`{"urls":"http://example.org"}`:        "bad JSON",
	} {
		wantError(t, ts.do(t, "POST", "/v1/documents", body), 400, want)
	}
	wantError(t, ts.do(t, "POST", "/v1/documents", `{"urls":["https://a.example/","https://b.example/","https://c.example/"]}`), 413, "at most 2")
	var j Job
	decodeRes(t, ts.do(t, "POST", "/v1/documents", `{"urls":["https://example.org/page"]}`), 202, &j)
	if j.Kind != "urls" || j.Sources[0] != "https://example.org/page" {
		t.Errorf("url job %+v", j)
	}

	open := newTestServer(t, func(c *Config) { c.AllowPrivate = true })
	decodeRes(t, open.do(t, "POST", "/v1/documents", `{"urls":["http://127.0.0.1:8080/"]}`), 202, &j)

	none := newTestServer(t, func(c *Config) { c.Ingester = nil })
	wantError(t, none.do(t, "POST", "/v1/documents", `{"urls":["https://example.org/"]}`), 503, "no ingest")
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"notes.txt":                        "notes.txt",
		"../../etc/passwd":                 "passwd",
		`C:\Users\me\report.pdf`:           "report.pdf",
		".hidden.md":                       "hidden.md",
		"":                                 "upload",
		"..":                               "upload",
		"a\x00b\nc.txt":                    "a_b_c.txt",
		"what?.md":                         "what_.md",
		strings.Repeat("é", 150) + ".html": strings.Repeat("é", 97) + ".html",
	} {
		if got := cleanName(in); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrivateHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "localhost": true, "LOCALHOST.": true, "app.localhost": true, "::1": true,
		"10.0.0.1": true, "192.168.1.1": true, "172.16.0.1": true, "169.254.169.254": true, "0.0.0.0": true,
		"::ffff:127.0.0.1": true, "fe80::1": true, "fd00::1": true, "100.64.0.1": true, "2130706433": true, "0x7f.1": true,
		"example.org": false, "8.8.8.8": false, "2001:4860:4860::8888": false, "x": false, "100.128.0.1": false,
	} {
		if got := privateHost(host); got != want {
			t.Errorf("privateHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestMakeThumb(t *testing.T) {
	tests := []struct {
		name     string
		w, h     int
		alpha    bool
		size     int
		wantW    int
		wantH    int
		wantMIME string
		wantSame bool
	}{
		{"landscape", 400, 100, false, 100, 100, 25, "image/jpeg", false},
		{"portrait", 100, 400, false, 200, 50, 200, "image/jpeg", false},
		{"transparent stays PNG", 300, 300, true, 30, 30, 30, "image/png", false},
		{"small is served as is", 20, 10, false, 256, 20, 10, "image/png", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := testPNG(t, tt.w, tt.h, tt.alpha)
			th, _, err := makeThumb(src, tt.size)
			if err != nil {
				t.Fatal(err)
			}
			cfg, _, err := image.DecodeConfig(bytes.NewReader(th.data))
			if err != nil || cfg.Width != tt.wantW || cfg.Height != tt.wantH || th.mime != tt.wantMIME {
				t.Errorf("%dx%d %s (%v), want %dx%d %s", cfg.Width, cfg.Height, th.mime, err, tt.wantW, tt.wantH, tt.wantMIME)
			}
			if bytes.Equal(th.data, src) != tt.wantSame {
				t.Errorf("same bytes: %v, want %v", !tt.wantSame, tt.wantSame)
			}
		})
	}
	if _, _, err := makeThumb([]byte("<svg xmlns='http://www.w3.org/2000/svg'/>"), 64); err == nil {
		t.Error("an SVG decoded")
	}
}

func TestThumbCacheEvicts(t *testing.T) {
	c := newThumbCache(800)
	for i := range 10 {
		c.put(fmt.Sprint(i), thumb{data: make([]byte, 100)})
	}
	if _, ok := c.get("0"); ok {
		t.Error("the oldest entry survived past the budget")
	}
	if _, ok := c.get("9"); !ok {
		t.Error("the newest entry is gone")
	}
	if c.size > 800 {
		t.Errorf("cache holds %d bytes, budget 800", c.size)
	}
}

func TestMetrics(t *testing.T) {
	var embedded int64 = 42
	ts := newTestServer(t, func(c *Config) { c.Embeddings = func() int64 { return embedded } })
	ts.upload(t, [2]string{"notes.txt", sampleText}, [2]string{"fig.png", string(testPNG(t, 40, 30, false))})
	ts.do(t, "POST", "/v1/search", `{"query":"clip"}`)
	ts.do(t, "GET", "/v1/items/nope", nil)
	res := ts.do(t, "GET", "/metrics", nil)
	body := string(readAll(t, res))
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("content type %q", res.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`mmrag_http_request_duration_seconds_bucket{method="POST",route="/v1/search",le="+Inf"} 1`,
		`mmrag_http_request_duration_seconds_count{method="GET",route="/v1/jobs/{id}"}`,
		`mmrag_http_requests_total{method="GET",route="/v1/items/{id}",code="404"} 1`,
		`mmrag_items{modality="text"} 3`,
		`mmrag_items{modality="image"} 1`,
		`mmrag_documents 2`,
		`mmrag_jobs{state="done"} 1`,
		`mmrag_embeddings_total 42`,
		`mmrag_store_up 1`,
		"# TYPE mmrag_http_request_duration_seconds histogram",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Every sample line parses as name{labels} value, and bucket counts
	// never decrease.
	sample := regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? [-+0-9.eE]+(Inf)?$`)
	last := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if strings.HasPrefix(line, "# ") {
			continue
		}
		if !sample.MatchString(line) {
			t.Errorf("bad sample line %q", line)
		}
		if strings.Contains(line, "_bucket{") {
			series := line[:strings.Index(line, ",le=")]
			var v float64
			fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &v)
			if v < last[series] {
				t.Errorf("bucket counts decrease: %s", line)
			}
			last[series] = v
		}
	}
}

func TestSettingsAndHealth(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxUploadBytes = 12345 })
	var st Settings
	decodeRes(t, ts.do(t, "GET", "/v1/settings", nil), 200, &st)
	if st.Strategy != "multimodal" || st.TextK != 15 || st.MaxUploadBytes != 12345 || st.MaxUploadFiles != DefaultMaxUploadFiles {
		t.Errorf("settings %+v", st)
	}
	var h map[string]any
	decodeRes(t, ts.do(t, "GET", "/healthz", nil), 200, &h)
	if h["status"] != "ok" || h["version"] != "test" {
		t.Errorf("healthz %v", h)
	}
}

func TestHeadersAndRequestIDs(t *testing.T) {
	ts := newTestServer(t, nil)
	res := ts.do(t, "GET", "/", nil, "X-Request-ID", "abc-123")
	if res.Header.Get("X-Request-ID") != "abc-123" {
		t.Errorf("request id %q, want the client's", res.Header.Get("X-Request-ID"))
	}
	if !bytes.Contains(readAll(t, res), []byte(`<script src="app.js">`)) {
		t.Error("GET / is not the UI")
	}
	for k, want := range map[string]string{
		"Content-Security-Policy": "script-src 'self'",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
	} {
		if !strings.Contains(res.Header.Get(k), want) {
			t.Errorf("%s: %q, want %q", k, res.Header.Get(k), want)
		}
	}
	res = ts.do(t, "GET", "/healthz", nil, "X-Request-ID", "bad id with spaces")
	if id := res.Header.Get("X-Request-ID"); id == "" || strings.Contains(id, " ") {
		t.Errorf("request id %q for an unusable client id", id)
	}
	if !strings.Contains(ts.logs.String(), `"request_id":"abc-123"`) {
		t.Error("the request id is not in the logs")
	}
	// CORS is off: no header, and the preflight is not answered.
	res = ts.do(t, "OPTIONS", "/v1/search", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
	if res.Header.Get("Access-Control-Allow-Origin") != "" || res.StatusCode == http.StatusNoContent {
		t.Errorf("CORS answered while off: %d %v", res.StatusCode, res.Header)
	}
	// A cross-site POST without a token (a page the user visits, calling
	// the local server) is refused.
	wantError(t, ts.do(t, "POST", "/v1/search", `{"query":"x"}`, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), 403, "cross-origin")

	cors := newTestServer(t, func(c *Config) { c.CORSOrigins = []string{"https://app.example"} })
	res = cors.do(t, "OPTIONS", "/v1/search", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", res.StatusCode, res.Header)
	}
	res = cors.do(t, "POST", "/v1/search", `{"query":"x"}`, "Origin", "https://app.example", "Sec-Fetch-Site", "cross-site")
	if res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("CORS POST: %d %v", res.StatusCode, res.Header)
	}
	res = cors.do(t, "POST", "/v1/search", `{"query":"x"}`, "Origin", "https://other.example", "Sec-Fetch-Site", "cross-site")
	if res.StatusCode != 403 || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("POST from an origin not allowed: %d %v", res.StatusCode, res.Header)
	}
	if _, err := New(Config{Store: cors.store, Engine: cors.engine, CORSOrigins: []string{"app.example/"}}); err == nil {
		t.Error("a malformed CORS origin was accepted")
	}
}

func TestPanicIsRecovered(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.engine.panicMsg = "engine bug"
	wantError(t, ts.do(t, "POST", "/v1/ask", `{"question":"x"}`), 500, "internal error")
	if !strings.Contains(ts.logs.String(), "engine bug") || !strings.Contains(ts.logs.String(), "goroutine") {
		t.Error("the panic and its stack are not logged")
	}
	ts.engine.panicMsg = ""
	if res := ts.do(t, "POST", "/v1/ask", `{"question":"x"}`); res.StatusCode != 200 {
		t.Errorf("after a panic: %d", res.StatusCode)
	}
}

// TestGracefulShutdown: cancelling Serve's context ends open streams,
// keeps the unfinished jobs for the next start, and returns.
func TestGracefulShutdown(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.engine.block = make(chan struct{}) // answers never finish by themselves
	ts.ingester.block = make(chan struct{})
	stop := ts.serve(t)
	base := ts.URL

	// One job runs (blocked), one waits.
	for range 2 {
		res, err := http.Post(base+"/v1/documents", "application/json", strings.NewReader(`{"urls":["https://example.org/"]}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	res, err := http.Post(base+"/v1/ask", "application/json", strings.NewReader(`{"question":"x","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	if line, _ := br.ReadString('\n'); line != "event: sources\n" {
		t.Fatalf("first line %q", line)
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "event: error") {
		t.Errorf("the stream ended without an error event: %q", rest)
	}
	jobs := ts.jobs.list()
	if len(jobs) != 2 {
		t.Fatalf("jobs %+v", jobs)
	}
	for _, j := range jobs {
		if j.State != JobQueued {
			t.Errorf("job %+v after shutdown: want queued again, for the next start", j)
		}
	}
	if !strings.Contains(ts.logs.String(), "shutting down") {
		t.Error("shutdown is not logged")
	}
}

func TestNewNeedsStoreAndEngine(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a store succeeded")
	}
	ts := newTestServer(t, nil)
	if _, err := New(Config{Store: ts.store}); err == nil {
		t.Error("New without an engine succeeded")
	}
}

func TestThumbSize(t *testing.T) {
	for _, tt := range []struct{ ask, want int }{{16, 64}, {64, 64}, {65, 128}, {300, 512}, {2047, 2048}, {2048, 2048}} {
		if got := thumbSize(tt.ask); got != tt.want {
			t.Errorf("thumbSize(%d) = %d, want %d", tt.ask, got, tt.want)
		}
	}
}

// TestMakeThumbBudget: a picture whose pixels would take more than the
// decoding budget is not decoded (a 16-bit PNG declaring 8000×8000 would
// need 512 MiB).
func TestMakeThumbBudget(t *testing.T) {
	var buf bytes.Buffer
	img := image.NewNRGBA64(image.Rect(0, 0, 8000, 8000))
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	cost, err := decodeCost(buf.Bytes())
	if err != nil || cost != 8000*8000*8 {
		t.Fatalf("decodeCost = %d (%v), want %d", cost, err, 8000*8000*8)
	}
	if _, _, err := makeThumb(buf.Bytes(), 256); err == nil || !strings.Contains(err.Error(), "budget") {
		t.Errorf("makeThumb of a 512 MiB decode: %v, want a budget refusal", err)
	}
}
