package ollama

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"mmrag/generate"
)

// fake is an Ollama server that replays the wire format of Ollama 0.6.5
// (captured from the real server that scripts/ollama.sh runs).
type fake struct {
	t        *testing.T
	mu       sync.Mutex
	requests map[string][]map[string]any // bodies by path
	handlers map[string]http.HandlerFunc
}

func newFake(t *testing.T, handlers map[string]http.HandlerFunc) (*fake, *httptest.Server) {
	f := &fake{t: t, requests: map[string][]map[string]any{}, handlers: handlers}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if r.Body != nil {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			_ = json.Unmarshal(b, &body)
		}
		f.mu.Lock()
		f.requests[r.URL.Path] = append(f.requests[r.URL.Path], body)
		f.mu.Unlock()
		h, ok := f.handlers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fake) bodies(path string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[path]
}

// ndjson writes lines as Ollama streams them: one JSON object per line,
// flushed.
func ndjson(lines ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		for _, l := range lines {
			fmt.Fprintln(w, l)
			w.(http.Flusher).Flush()
		}
	}
}

func jsonReply(status int, v string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, v)
	}
}

// Lines as Ollama 0.6.5 streams them for /api/chat.
var (
	chunkOnce  = `{"model":"stories","created_at":"2025-04-08T10:00:00.1Z","message":{"role":"assistant","content":" Once"},"done":false}`
	chunkUpon  = `{"model":"stories","created_at":"2025-04-08T10:00:00.2Z","message":{"role":"assistant","content":" upon"},"done":false}`
	chunkFinal = `{"model":"stories","created_at":"2025-04-08T10:00:00.3Z","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"total_duration":30511000,"load_duration":2011000,"prompt_eval_count":7,"prompt_eval_duration":1000000,"eval_count":2,"eval_duration":2000000}`
)

func showReply(caps []string, family, extra string) http.HandlerFunc {
	c, _ := json.Marshal(caps)
	return jsonReply(200, fmt.Sprintf(`{"license":"","modelfile":"# Modelfile","parameters":"num_ctx                        4096\nstop                           \"<|eot_id|>\"","template":"{{ .Prompt }}","details":{"parent_model":"","format":"gguf","family":%q,"families":[%q],"parameter_size":"10.7B","quantization_level":"Q4_K_M"},"model_info":{"general.architecture":%q,"general.parameter_count":10670220835,"%s.context_length":131072,"%s.embedding_length":4096%s},"capabilities":%s,"modified_at":"2025-04-08T10:00:00Z"}`,
		family, family, family, family, family, extra, c))
}

func pngBytes(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGenerateStreams(t *testing.T) {
	f, srv := newFake(t, map[string]http.HandlerFunc{"/api/chat": ndjson(chunkOnce, chunkUpon, chunkFinal)})
	c := &Client{BaseURL: srv.URL, Model: "stories", KeepAlive: 10 * time.Minute, Options: map[string]any{"num_ctx": 512}}
	temp := 0.2
	var tokens []string
	resp, err := c.Generate(context.Background(), generate.Request{
		Messages:    []generate.Message{{Role: generate.System, Content: "be brief"}, {Role: generate.User, Content: "tell a story"}},
		Temperature: &temp, MaxTokens: 20,
	}, func(s string) error { tokens = append(tokens, s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(tokens, "|"), " Once| upon"; got != want {
		t.Errorf("tokens %q, want %q", got, want)
	}
	if resp.Text != " Once upon" || resp.Model != "stories" || resp.PromptTokens != 7 || resp.OutputTokens != 2 || resp.Duration <= 0 {
		t.Errorf("response %+v", resp)
	}
	b := f.bodies("/api/chat")[0]
	if b["stream"] != true || b["model"] != "stories" || b["keep_alive"] != "10m0s" {
		t.Errorf("request %v", b)
	}
	opts := b["options"].(map[string]any)
	if opts["temperature"] != 0.2 || opts["num_predict"] != 20.0 || opts["num_ctx"] != 512.0 {
		t.Errorf("options %v", opts)
	}
	msgs := b["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["role"] != "system" || msgs[1].(map[string]any)["content"] != "tell a story" {
		t.Errorf("messages %v", msgs)
	}
	if _, ok := msgs[1].(map[string]any)["images"]; ok {
		t.Errorf("images sent for a text-only message: %v", msgs[1])
	}
	if len(f.bodies("/api/show")) != 0 {
		t.Error("text-only request asked /api/show")
	}
}

func TestGenerateImages(t *testing.T) {
	img := pngBytes(t)
	img2 := append(pngBytes(t), 0) // distinct bytes, still a PNG to sniffing
	tests := []struct {
		name      string
		show      http.HandlerFunc
		wantSent  []int // images sent per message
		wantFirst []byte
		wantNote  string
	}{
		{"vision", showReply([]string{"completion", "vision"}, "gemma3", ""), []int{0, 1, 1}, img, ""},
		{"no vision", showReply([]string{"completion"}, "llama", ""), []int{0, 0, 0}, nil, "has no vision capability (per /api/show): 2 image(s) not sent"},
		{"projector before 0.6.4", jsonReply(200, `{"details":{"family":"llama"},"model_info":{},"projector_info":{"clip.has_vision_encoder":true}}`), []int{0, 1, 1}, img, ""},
		{"mllama takes one", showReply([]string{"completion", "vision"}, "mllama", ""), []int{0, 1, 0}, img, "takes 1 image(s) per request: sent the first 1 of 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t, map[string]http.HandlerFunc{"/api/chat": ndjson(chunkOnce, chunkFinal), "/api/show": tt.show})
			var notes []string
			c := &Client{BaseURL: srv.URL, Model: "m", Notify: func(s string) { notes = append(notes, s) }}
			req := generate.Request{Messages: []generate.Message{
				{Role: generate.System, Content: "s"},
				{Role: generate.User, Content: "first", Images: [][]byte{img}},
				{Role: generate.User, Content: "second", Images: [][]byte{img2}},
			}}
			for i := 0; i < 2; i++ { // the second call uses the remembered capabilities
				if _, err := c.Generate(context.Background(), req, nil); err != nil {
					t.Fatal(err)
				}
			}
			if n := len(f.bodies("/api/show")); n != 1 {
				t.Errorf("/api/show asked %d times, want 1", n)
			}
			msgs := f.bodies("/api/chat")[0]["messages"].([]any)
			for i, want := range tt.wantSent {
				imgs, _ := msgs[i].(map[string]any)["images"].([]any)
				if len(imgs) != want {
					t.Errorf("message %d: %d images sent, want %d", i, len(imgs), want)
				}
			}
			if tt.wantFirst != nil {
				got, _ := msgs[1].(map[string]any)["images"].([]any)[0].(string)
				if got != base64.StdEncoding.EncodeToString(tt.wantFirst) {
					t.Errorf("image not sent as base64 of its bytes: %.40q", got)
				}
			}
			if tt.wantNote == "" && len(notes) > 0 {
				t.Errorf("unexpected notes %q", notes)
			}
			if tt.wantNote != "" && (len(notes) == 0 || !strings.Contains(notes[0], tt.wantNote)) {
				t.Errorf("notes %q, want one containing %q", notes, tt.wantNote)
			}
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	closeMidStream := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintln(w, chunkOnce)
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	img := pngBytes(t)
	tests := []struct {
		name     string
		url      string
		chat     http.HandlerFunc
		show     http.HandlerFunc
		req      generate.Request
		model    string
		wantIs   error
		wantText string
		wantPart string // the partial text returned with the error
	}{
		{name: "server down", url: downURL, wantIs: ErrUnreachable, wantText: "cannot reach Ollama at " + downURL + ": start it with `ollama serve`"},
		{name: "model not found", chat: jsonReply(404, `{"error":"model \"nosuch\" not found, try pulling it first"}`), model: "nosuch",
			wantIs: ErrModelNotFound, wantText: "model nosuch not found: run `ollama pull nosuch`"},
		{name: "model not found on show", show: jsonReply(404, `{"error":"model 'nosuch' not found"}`), model: "nosuch",
			req:    generate.Request{Messages: []generate.Message{{Role: "user", Content: "x", Images: [][]byte{img}}}},
			wantIs: ErrModelNotFound, wantText: "run `ollama pull nosuch`"},
		{name: "not an Ollama API", chat: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, wantText: "HTTP 404: 404 page not found (is the URL an Ollama server's?)"},
		{name: "no chat capability", chat: jsonReply(400, `{"error":"\"minilm\" does not support chat"}`), wantText: "HTTP 400: \"minilm\" does not support chat"},
		{name: "server error", chat: jsonReply(500, `{"error":"llama runner process has terminated: exit status 2"}`), wantText: "HTTP 500: llama runner process has terminated"},
		{name: "proxy page", chat: jsonReply(502, `<html><body>Bad Gateway</body></html>`), wantText: "HTTP 502: <html><body>Bad Gateway"},
		{name: "error mid-stream", chat: ndjson(chunkOnce, `{"error":"an error was encountered while running the model: unexpected EOF"}`),
			wantText: "an error was encountered while running the model", wantPart: " Once"},
		{name: "malformed JSON", chat: ndjson(chunkOnce, `{"model":"stories","message":{"content":" x"`+"\n"+`garbage}`),
			wantText: "malformed JSON", wantPart: " Once"},
		{name: "not JSON at all", chat: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>hello</html>") }, wantText: "malformed JSON"},
		{name: "closed mid-stream", chat: closeMidStream, wantIs: io.ErrUnexpectedEOF, wantText: "closed the connection before the answer was complete", wantPart: " Once"},
		{name: "stream without done", chat: ndjson(chunkOnce, chunkUpon), wantIs: io.ErrUnexpectedEOF, wantPart: " Once upon"},
		{name: "no model", model: "-", wantText: "no model set"},
		{name: "no messages", req: generate.Request{Messages: []generate.Message{}}, wantText: "no messages"},
		{name: "bad role", req: generate.Request{Messages: []generate.Message{{Role: "tool", Content: "x"}}}, wantText: `unknown role "tool"`},
		{name: "not an image", req: generate.Request{Messages: []generate.Message{{Role: "user", Content: "x", Images: [][]byte{[]byte("%PDF-1.4 not an image")}}}},
			wantText: "message 0, image 0: not an image (content looks like application/pdf)"},
		{name: "empty image", req: generate.Request{Messages: []generate.Message{{Role: "user", Content: "x", Images: [][]byte{{}}}}}, wantText: "empty image"},
		{name: "negative temperature", req: generate.Request{Messages: []generate.Message{{Role: "user", Content: "x"}}, Temperature: new(-1.0)}, wantText: "temperature -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]http.HandlerFunc{"/api/show": showReply([]string{"completion", "vision"}, "gemma3", "")}
			if tt.chat != nil {
				h["/api/chat"] = tt.chat
			}
			if tt.show != nil {
				h["/api/show"] = tt.show
			}
			_, srv := newFake(t, h)
			c := &Client{BaseURL: srv.URL, Model: "stories"}
			if tt.url != "" {
				c.BaseURL = tt.url
			}
			switch tt.model {
			case "":
			case "-":
				c.Model = ""
			default:
				c.Model = tt.model
			}
			req := tt.req
			if req.Messages == nil {
				req.Messages = []generate.Message{{Role: "user", Content: "hello"}}
			}
			resp, err := c.Generate(context.Background(), req, nil)
			if err == nil {
				t.Fatalf("no error; response %+v", resp)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", err, tt.wantText)
			}
			if resp.Text != tt.wantPart {
				t.Errorf("partial text %q, want %q", resp.Text, tt.wantPart)
			}
		})
	}
}

// hang streams one chunk, then waits for the client to give up.
func hang(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, chunkOnce)
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func TestGenerateStopping(t *testing.T) {
	t.Run("context cancelled mid-stream", func(t *testing.T) {
		_, srv := newFake(t, map[string]http.HandlerFunc{"/api/chat": hang})
		c := &Client{BaseURL: srv.URL, Model: "stories"}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, err := c.Generate(ctx, generate.Request{Messages: []generate.Message{{Role: "user", Content: "x"}}},
			func(string) error { cancel(); return nil })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
		if resp.Text != " Once" {
			t.Errorf("partial text %q", resp.Text)
		}
	})
	t.Run("stalled server", func(t *testing.T) {
		_, srv := newFake(t, map[string]http.HandlerFunc{"/api/chat": hang})
		c := &Client{BaseURL: srv.URL, Model: "stories", Timeout: 50 * time.Millisecond}
		_, err := c.Generate(context.Background(), generate.Request{Messages: []generate.Message{{Role: "user", Content: "x"}}}, nil)
		if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "sent nothing for 50ms") {
			t.Errorf("error %v, want ErrStalled", err)
		}
	})
	t.Run("stalled before headers", func(t *testing.T) {
		_, srv := newFake(t, map[string]http.HandlerFunc{"/api/chat": func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }})
		c := &Client{BaseURL: srv.URL, Model: "stories", Timeout: 50 * time.Millisecond}
		_, err := c.Generate(context.Background(), generate.Request{Messages: []generate.Message{{Role: "user", Content: "x"}}}, nil)
		if !errors.Is(err, ErrStalled) {
			t.Errorf("error %v, want ErrStalled", err)
		}
	})
	t.Run("onToken error", func(t *testing.T) {
		_, srv := newFake(t, map[string]http.HandlerFunc{"/api/chat": ndjson(chunkOnce, chunkUpon, chunkFinal)})
		c := &Client{BaseURL: srv.URL, Model: "stories"}
		stop := errors.New("enough")
		n := 0
		resp, err := c.Generate(context.Background(), generate.Request{Messages: []generate.Message{{Role: "user", Content: "x"}}},
			func(string) error { n++; return stop })
		if err != stop || n != 1 || resp.Text != " Once" {
			t.Errorf("err %v after %d tokens, text %q; want the callback's error after 1", err, n, resp.Text)
		}
	})
}

func TestCapabilities(t *testing.T) {
	tests := []struct {
		name    string
		show    http.HandlerFunc
		options map[string]any
		want    generate.Capabilities
	}{
		{"vision, Modelfile num_ctx", showReply([]string{"completion", "vision"}, "gemma3", ""), nil,
			generate.Capabilities{Model: "m", Vision: true, ContextTokens: 4096}},
		{"options num_ctx", showReply([]string{"completion"}, "llama", ""), map[string]any{"num_ctx": 8192},
			generate.Capabilities{Model: "m", ContextTokens: 8192}},
		{"mllama", showReply([]string{"completion", "vision"}, "mllama", ""), nil,
			generate.Capabilities{Model: "m", Vision: true, MaxImages: 1, ContextTokens: 4096}},
		{"trained context caps num_ctx", jsonReply(200, `{"parameters":"num_ctx 4096","details":{"family":"llama"},"model_info":{"general.architecture":"llama","llama.context_length":512},"capabilities":["completion"]}`), nil,
			generate.Capabilities{Model: "m", ContextTokens: 512}},
		{"server default context", jsonReply(200, `{"details":{"family":"qwen2"},"model_info":{"general.architecture":"qwen2","qwen2.context_length":32768},"capabilities":["completion","tools"]}`), nil,
			generate.Capabilities{Model: "m", ContextTokens: ServerDefaultContext}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t, map[string]http.HandlerFunc{"/api/show": tt.show})
			c := &Client{BaseURL: srv.URL, Model: "m", Options: tt.options}
			got, err := c.Capabilities(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if b := f.bodies("/api/show"); len(b) != 1 || b[0]["model"] != "m" {
				t.Errorf("show requests %v", b)
			}
		})
	}
}

func TestShow(t *testing.T) {
	_, srv := newFake(t, map[string]http.HandlerFunc{"/api/show": showReply([]string{"completion", "vision"}, "mllama", `,"mllama.vision.block_count":32`)})
	c := &Client{BaseURL: srv.URL}
	info, err := c.Show(context.Background(), "llama3.2-vision")
	if err != nil {
		t.Fatal(err)
	}
	if info.Model != "llama3.2-vision" || info.Family != "mllama" || info.ContextLength != 131072 || info.EmbeddingLength != 4096 ||
		info.NumCtx != 4096 || info.Quantization != "Q4_K_M" || info.ParameterSize != "10.7B" || info.Format != "gguf" || len(info.Capabilities) != 2 {
		t.Errorf("info %+v", info)
	}
}

func TestListVersion(t *testing.T) {
	_, srv := newFake(t, map[string]http.HandlerFunc{
		"/api/tags":    jsonReply(200, `{"models":[{"name":"mmrag-stories:latest","model":"mmrag-stories:latest","modified_at":"2025-04-08T10:00:00.5+00:00","size":1185589,"digest":"1f3a","details":{"parent_model":"","format":"gguf","family":"llama","families":["llama"],"parameter_size":"292.80K","quantization_level":"F32"}}]}`),
		"/api/version": jsonReply(200, `{"version":"0.6.5"}`),
	})
	c := &Client{BaseURL: srv.URL}
	ms, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Name != "mmrag-stories:latest" || ms[0].Size != 1185589 || ms[0].Family != "llama" || ms[0].ModifiedAt.IsZero() {
		t.Errorf("list %+v", ms)
	}
	v, err := c.Version(context.Background())
	if err != nil || v != "0.6.5" {
		t.Errorf("version %q, %v", v, err)
	}

	_, other := newFake(t, map[string]http.HandlerFunc{"/api/version": jsonReply(200, `{}`)})
	if _, err := (&Client{BaseURL: other.URL}).Version(context.Background()); err == nil || !strings.Contains(err.Error(), "is this an Ollama server") {
		t.Errorf("version from a non-Ollama server: %v", err)
	}
}

func TestHostURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "http://127.0.0.1:11434"},
		{"127.0.0.1:11500", "http://127.0.0.1:11500"},
		{":11500", "http://127.0.0.1:11500"},
		{"0.0.0.0", "http://127.0.0.1:11434"},
		{"example.org", "http://example.org:11434"},
		{"https://example.org", "https://example.org:443"},
		{"http://[::1]:9000/", "http://[::1]:9000"},
		{"http://host:1/ollama/", "http://host:1/ollama"},
	}
	for _, tt := range tests {
		if got := hostURL(tt.in); got != tt.want {
			t.Errorf("hostURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	t.Setenv("OLLAMA_HOST", "127.0.0.1:11777")
	if got := (&Client{}).URL(); got != "http://127.0.0.1:11777" {
		t.Errorf("URL from OLLAMA_HOST: %q", got)
	}
	if got := (&Client{BaseURL: "http://x:1/"}).URL(); got != "http://x:1" {
		t.Errorf("URL from BaseURL: %q", got)
	}
}

// embedReply answers /api/embed with vectors of dim components that are not
// unit length, as the request's input count asks.
func embedReply(dim int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Input []string }
		json.NewDecoder(r.Body).Decode(&req)
		vs := make([][]float64, len(req.Input))
		for i, s := range req.Input {
			vs[i] = make([]float64, dim)
			for j := range vs[i] {
				vs[i][j] = float64(len(s) + j + 1)
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"model": "minilm", "embeddings": vs, "total_duration": 1000, "load_duration": 10, "prompt_eval_count": 3})
	}
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func TestEmbedder(t *testing.T) {
	f, srv := newFake(t, map[string]http.HandlerFunc{"/api/embed": embedReply(4)})
	e := &Embedder{Client: &Client{BaseURL: srv.URL, Model: "chat"}, Model: "minilm", BatchSize: 2}
	if e.ModelID() != "ollama/minilm" || e.Dim() != 0 {
		t.Errorf("before use: id %q dim %d", e.ModelID(), e.Dim())
	}
	texts := []string{"a", "bb", "ccc", "dddd", "eeeee"}
	vs, err := e.EmbedTexts(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != len(texts) || e.Dim() != 4 {
		t.Fatalf("%d vectors, dim %d", len(vs), e.Dim())
	}
	for i, v := range vs {
		if math.Abs(norm(v)-1) > 1e-6 {
			t.Errorf("vector %d has norm %v", i, norm(v))
		}
		// component 0 ∝ len(text)+1 tells the order survived batching
		want := float64(len(texts[i])+1) / math.Sqrt(float64((len(texts[i])+1)*(len(texts[i])+1)+(len(texts[i])+2)*(len(texts[i])+2)+(len(texts[i])+3)*(len(texts[i])+3)+(len(texts[i])+4)*(len(texts[i])+4)))
		if math.Abs(float64(v[0])-want) > 1e-6 {
			t.Errorf("vector %d[0] = %v, want %v", i, v[0], want)
		}
	}
	reqs := f.bodies("/api/embed")
	if len(reqs) != 3 || len(reqs[0]["input"].([]any)) != 2 || len(reqs[2]["input"].([]any)) != 1 || reqs[0]["model"] != "minilm" {
		t.Errorf("requests %v", reqs)
	}
	if vs, err := e.EmbedTexts(context.Background(), nil); err != nil || vs != nil {
		t.Errorf("no texts: %v, %v", vs, err)
	}
}

func TestEmbedderLoad(t *testing.T) {
	t.Run("from show", func(t *testing.T) {
		f, srv := newFake(t, map[string]http.HandlerFunc{
			"/api/show": jsonReply(200, `{"details":{"family":"bert"},"model_info":{"general.architecture":"bert","bert.embedding_length":384,"bert.pooling_type":1},"capabilities":["embedding"]}`),
		})
		e := &Embedder{Client: &Client{BaseURL: srv.URL}, Model: "minilm"}
		if err := e.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		if e.Dim() != 384 || len(f.bodies("/api/embed")) != 0 {
			t.Errorf("dim %d after %d embeds", e.Dim(), len(f.bodies("/api/embed")))
		}
	})
	t.Run("by embedding", func(t *testing.T) {
		f, srv := newFake(t, map[string]http.HandlerFunc{
			"/api/show":  jsonReply(200, `{"details":{"family":"x"},"model_info":{}}`),
			"/api/embed": embedReply(7),
		})
		e := &Embedder{Client: &Client{BaseURL: srv.URL}, Model: "minilm"}
		if err := e.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		if e.Dim() != 7 || len(f.bodies("/api/embed")) != 1 {
			t.Errorf("dim %d", e.Dim())
		}
	})
	t.Run("model missing", func(t *testing.T) {
		_, srv := newFake(t, map[string]http.HandlerFunc{"/api/show": jsonReply(404, `{"error":"model 'minilm' not found"}`)})
		e := &Embedder{Client: &Client{BaseURL: srv.URL}, Model: "minilm"}
		if err := e.Load(context.Background()); !errors.Is(err, ErrModelNotFound) || !strings.Contains(err.Error(), "ollama pull minilm") {
			t.Errorf("error %v", err)
		}
	})
}

func TestEmbedderErrors(t *testing.T) {
	tests := []struct {
		name  string
		embed http.HandlerFunc
		texts []string
		want  string
	}{
		{"not found", jsonReply(404, `{"error":"model \"minilm\" not found, try pulling it first"}`), []string{"a"}, "run `ollama pull minilm`"},
		{"too few vectors", jsonReply(200, `{"embeddings":[[1,0]]}`), []string{"a", "b"}, "asked for 2 vectors, got 1"},
		{"zero vector", jsonReply(200, `{"embeddings":[[0,0]]}`), []string{"a"}, "text 0: vector of norm 0 cannot be normalised"},
		{"empty vector", jsonReply(200, `{"embeddings":[[]]}`), []string{"a"}, "text 0: empty vector"},
		{"dimension changes", jsonReply(200, `{"embeddings":[[1,0],[1,0,0]]}`), []string{"a", "b"}, "text 1: vector has 3 dimensions, the model's earlier ones 2"},
		{"malformed", jsonReply(200, `{"embeddings":[[1,0],`), []string{"a"}, "closed the connection before the answer was complete"},
		{"wrong type", jsonReply(200, `{"embeddings":"none"}`), []string{"a"}, "malformed JSON"},
		{"empty text", embedReply(2), []string{"a", ""}, "text 1 is empty"},
		{"not supported", jsonReply(400, `{"error":"\"stories\" does not support embeddings"}`), []string{"a"}, "does not support embeddings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newFake(t, map[string]http.HandlerFunc{"/api/embed": tt.embed})
			e := &Embedder{Client: &Client{BaseURL: srv.URL}, Model: "minilm"}
			vs, err := e.EmbedTexts(context.Background(), tt.texts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, %v; want error containing %q", vs, err, tt.want)
			}
		})
	}
	t.Run("no model", func(t *testing.T) {
		if _, err := (&Embedder{}).EmbedTexts(context.Background(), []string{"a"}); err == nil || !strings.Contains(err.Error(), "no model set") {
			t.Errorf("error %v", err)
		}
	})
}

func TestGenerateConcurrent(t *testing.T) {
	_, srv := newFake(t, map[string]http.HandlerFunc{
		"/api/chat": ndjson(chunkOnce, chunkUpon, chunkFinal),
		"/api/show": showReply([]string{"completion", "vision"}, "gemma3", ""),
	})
	c := &Client{BaseURL: srv.URL, Model: "stories"}
	img := pngBytes(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.Generate(context.Background(), generate.Request{Messages: []generate.Message{{Role: "user", Content: "x", Images: [][]byte{img}}}}, nil)
			if err == nil && r.Text != " Once upon" {
				err = fmt.Errorf("text %q", r.Text)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
