package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
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

// fake records request bodies and headers and answers by path.
type fake struct {
	mu       sync.Mutex
	bodies   []map[string]any
	auth     []string
	paths    []string
	handlers map[string]http.HandlerFunc
}

func newFake(t *testing.T, handlers map[string]http.HandlerFunc) (*fake, *httptest.Server) {
	f := &fake{handlers: handlers}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.paths = append(f.paths, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
		h, ok := f.handlers[r.URL.Path]
		if !ok {
			w.WriteHeader(404)
			io.WriteString(w, `{"error":{"message":"Not Found","type":"invalid_request_error"}}`)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

// sse streams events as OpenAI does: "data: …\n\n", flushed.
func sse(events ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range events {
			fmt.Fprintf(w, "data: %s\n\n", e)
			w.(http.Flusher).Flush()
		}
	}
}

func raw(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// Events as OpenAI streams them with stream_options.include_usage.
var (
	evRole  = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1744100000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`
	evHello = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1744100000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}`
	evWorld = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1744100000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}],"usage":null}`
	evStop  = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1744100000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}`
	evUsage = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1744100000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}}`
)

func pngBytes(t testing.TB) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func user(s string, imgs ...[]byte) generate.Message {
	return generate.Message{Role: generate.User, Content: s, Images: imgs}
}

func TestGenerateStreams(t *testing.T) {
	f, srv := newFake(t, map[string]http.HandlerFunc{"/v1/chat/completions": sse(evRole, evHello, evWorld, evStop, evUsage, "[DONE]")})
	c := &Client{BaseURL: srv.URL + "/v1/", APIKey: "sk-test", Model: "gpt-4o-mini"}
	temp := 0.0
	var tokens []string
	resp, err := c.Generate(context.Background(), generate.Request{
		Messages:    []generate.Message{{Role: generate.System, Content: "be brief"}, user("hi")},
		Temperature: &temp, MaxTokens: 50,
	}, func(s string) error { tokens = append(tokens, s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tokens, "|") != "Hello| world" {
		t.Errorf("tokens %q", tokens)
	}
	if resp.Text != "Hello world" || resp.Model != "gpt-4o-mini-2024-07-18" || resp.PromptTokens != 12 || resp.OutputTokens != 2 || resp.Duration <= 0 {
		t.Errorf("response %+v", resp)
	}
	if f.paths[0] != "POST /v1/chat/completions" || f.auth[0] != "Bearer sk-test" {
		t.Errorf("request %s with %q", f.paths[0], f.auth[0])
	}
	b := f.bodies[0]
	if b["model"] != "gpt-4o-mini" || b["stream"] != true || b["temperature"] != 0.0 || b["max_tokens"] != 50.0 ||
		b["stream_options"].(map[string]any)["include_usage"] != true {
		t.Errorf("body %v", b)
	}
	if m := b["messages"].([]any)[1].(map[string]any); m["content"] != "hi" || m["role"] != "user" {
		t.Errorf("text message sent as %v", m)
	}
}

func TestGenerateImages(t *testing.T) {
	img := pngBytes(t)
	tests := []struct {
		name      string
		vision    bool
		max       int
		wantParts []int // image parts per message; -1: plain string content
		wantNote  string
	}{
		{"vision", true, 0, []int{-1, 1, 2}, ""},
		{"no vision", false, 0, []int{-1, -1, -1}, "is not configured as taking images: 3 image(s) not sent"},
		{"one image", true, 1, []int{-1, 1, -1}, "sent the first 1 of 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t, map[string]http.HandlerFunc{"/v1/chat/completions": sse(evHello, evStop, "[DONE]")})
			var notes []string
			c := &Client{BaseURL: srv.URL, Model: "m", Vision: tt.vision, MaxImages: tt.max, Notify: func(s string) { notes = append(notes, s) }}
			_, err := c.Generate(context.Background(), generate.Request{Messages: []generate.Message{
				{Role: "system", Content: "s"}, user("a", img), user("b", img, img),
			}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			msgs := f.bodies[0]["messages"].([]any)
			for i, want := range tt.wantParts {
				content := msgs[i].(map[string]any)["content"]
				parts, isParts := content.([]any)
				if want < 0 {
					if isParts {
						t.Errorf("message %d sent as parts %v", i, content)
					}
					continue
				}
				if !isParts || len(parts) != want+1 {
					t.Fatalf("message %d: %v, want text and %d images", i, content, want)
				}
				if p := parts[0].(map[string]any); p["type"] != "text" || p["text"] == "" {
					t.Errorf("first part %v", p)
				}
				p := parts[1].(map[string]any)
				url := p["image_url"].(map[string]any)["url"].(string)
				if p["type"] != "image_url" || url != "data:image/png;base64,"+base64.StdEncoding.EncodeToString(img) {
					t.Errorf("image part %v", p)
				}
			}
			if (tt.wantNote == "") != (len(notes) == 0) || tt.wantNote != "" && !strings.Contains(notes[0], tt.wantNote) {
				t.Errorf("notes %q, want %q", notes, tt.wantNote)
			}
			caps, _ := c.Capabilities(context.Background())
			if caps.Vision != tt.vision || caps.MaxImages != tt.max || caps.Model != "m" {
				t.Errorf("capabilities %+v", caps)
			}
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	closeMidStream := func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "data: %s\n\n", evHello)
		w.(http.Flusher).Flush()
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}
	tests := []struct {
		name     string
		url      string
		chat     http.HandlerFunc
		req      generate.Request
		wantIs   error
		wantText string
		wantPart string
	}{
		{name: "server down", url: downURL, wantIs: ErrUnreachable, wantText: "cannot reach the OpenAI-compatible server at " + downURL},
		{name: "model not found (OpenAI)", chat: raw(404, `{"error":{"message":"The model `+"`nosuch`"+` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`),
			wantIs: ErrModelNotFound, wantText: "model m not found at"},
		{name: "model not found (vLLM)", chat: raw(404, `{"object":"error","message":"The model `+"`nosuch`"+` does not exist.","type":"NotFoundError","param":null,"code":404}`),
			wantIs: ErrModelNotFound, wantText: "model m not found at"},
		{name: "model not found (llama.cpp)", chat: raw(400, `{"error":{"code":400,"message":"model not found","type":"invalid_request_error"}}`),
			wantIs: ErrModelNotFound},
		{name: "unauthorized", chat: raw(401, `{"error":{"message":"Incorrect API key provided: sk-x.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`),
			wantIs: ErrUnauthorized, wantText: "set the API key (OPENAI_API_KEY)"},
		{name: "wrong base URL", chat: nil, url: "+/api", wantText: "is the base URL the server's root?"},
		{name: "FastAPI detail", chat: raw(422, `{"detail":"messages: field required"}`), wantText: "HTTP 422: messages: field required"},
		{name: "proxy page", chat: raw(502, `<html>Bad Gateway</html>`), wantText: "HTTP 502: <html>Bad Gateway</html>"},
		{name: "error event", chat: sse(evHello, `{"error":{"message":"context length exceeded","type":"invalid_request_error"}}`),
			wantText: "context length exceeded", wantPart: "Hello"},
		{name: "malformed event", chat: sse(evHello, `{"choices":[{"delta":{"content":"x"`), wantText: "malformed JSON", wantPart: "Hello"},
		{name: "closed mid-stream", chat: closeMidStream, wantIs: io.ErrUnexpectedEOF, wantText: "closed the connection", wantPart: "Hello"},
		{name: "no [DONE] nor finish", chat: sse(evHello, evWorld), wantIs: io.ErrUnexpectedEOF, wantPart: "Hello world"},
		{name: "line cut off", chat: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "data: "+evHello+"\n\ndata: {\"cho") }, wantIs: io.ErrUnexpectedEOF, wantPart: "Hello"},
		{name: "no messages", req: generate.Request{Messages: []generate.Message{}}, wantText: "no messages"},
		{name: "bad role", req: generate.Request{Messages: []generate.Message{{Role: "function"}}}, wantText: `unknown role "function"`},
		{name: "not an image", req: generate.Request{Messages: []generate.Message{user("x", []byte("plain text, no image"))}}, wantText: "message 0, image 0: not an image"},
		{name: "negative max tokens", req: generate.Request{Messages: []generate.Message{user("x")}, MaxTokens: -1}, wantText: "max tokens -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]http.HandlerFunc{}
			if tt.chat != nil {
				h["/v1/chat/completions"] = tt.chat
			}
			_, srv := newFake(t, h)
			c := &Client{BaseURL: srv.URL, Model: "m", Vision: true}
			if tt.url == "+/api" {
				c.BaseURL = srv.URL + "/api"
			} else if tt.url != "" {
				c.BaseURL = tt.url
			}
			req := tt.req
			if req.Messages == nil {
				req.Messages = []generate.Message{user("hello")}
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

func TestGenerateLenientEnds(t *testing.T) {
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"finish without [DONE]", sse(evHello, evStop)},
		{"comments, CRLF and [DONE] without blank line", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, ": keep-alive\r\n\r\nevent: message\r\ndata: "+evHello+"\r\n\r\ndata: [DONE]")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newFake(t, map[string]http.HandlerFunc{"/v1/chat/completions": tt.h})
			c := &Client{BaseURL: srv.URL, Model: "m"}
			resp, err := c.Generate(context.Background(), generate.Request{Messages: []generate.Message{user("x")}}, nil)
			if err != nil || resp.Text != "Hello" {
				t.Errorf("%q, %v", resp.Text, err)
			}
		})
	}
}

func hang(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "data: %s\n\n", evHello)
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func TestGenerateStopping(t *testing.T) {
	t.Run("context cancelled", func(t *testing.T) {
		_, srv := newFake(t, map[string]http.HandlerFunc{"/v1/chat/completions": hang})
		c := &Client{BaseURL: srv.URL, Model: "m"}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, err := c.Generate(ctx, generate.Request{Messages: []generate.Message{user("x")}}, func(string) error { cancel(); return nil })
		if !errors.Is(err, context.Canceled) || resp.Text != "Hello" {
			t.Errorf("%q, %v; want context.Canceled", resp.Text, err)
		}
	})
	t.Run("stalled", func(t *testing.T) {
		_, srv := newFake(t, map[string]http.HandlerFunc{"/v1/chat/completions": hang})
		c := &Client{BaseURL: srv.URL, Model: "m", Timeout: 50 * time.Millisecond}
		_, err := c.Generate(context.Background(), generate.Request{Messages: []generate.Message{user("x")}}, nil)
		if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "sent nothing for 50ms") {
			t.Errorf("error %v, want ErrStalled", err)
		}
	})
	t.Run("onToken error", func(t *testing.T) {
		_, srv := newFake(t, map[string]http.HandlerFunc{"/v1/chat/completions": sse(evHello, evWorld, evStop, "[DONE]")})
		c := &Client{BaseURL: srv.URL, Model: "m"}
		stop := errors.New("enough")
		_, err := c.Generate(context.Background(), generate.Request{Messages: []generate.Message{user("x")}}, func(string) error { return stop })
		if err != stop {
			t.Errorf("error %v, want the callback's", err)
		}
	})
}

func TestURLAndKey(t *testing.T) {
	t.Setenv("OPENAI_BASE_URL", "http://env:8000/v1")
	t.Setenv("OPENAI_API_KEY", "sk-env")
	tests := []struct {
		c            Client
		wantURL, key string
	}{
		{Client{}, "http://env:8000", "sk-env"},
		{Client{BaseURL: "http://cfg:1234/"}, "http://cfg:1234", ""}, // the env key is not sent to a configured server
		{Client{BaseURL: "http://cfg:1234/v1", APIKey: "k"}, "http://cfg:1234", "k"},
	}
	for _, tt := range tests {
		if got := tt.c.URL(); got != tt.wantURL {
			t.Errorf("URL %q, want %q", got, tt.wantURL)
		}
		if got := tt.c.apiKey(); got != tt.key {
			t.Errorf("key %q, want %q", got, tt.key)
		}
	}
	t.Setenv("OPENAI_BASE_URL", "")
	if got := (&Client{}).URL(); got != DefaultBaseURL {
		t.Errorf("default URL %q", got)
	}
}

func TestModels(t *testing.T) {
	f, srv := newFake(t, map[string]http.HandlerFunc{"/v1/models": raw(200, `{"object":"list","data":[{"id":"qwen2.5-vl","object":"model","created":1,"owned_by":"vllm"},{"id":"all-minilm","object":"model"}]}`)})
	ids, err := (&Client{BaseURL: srv.URL}).Models(context.Background())
	if err != nil || strings.Join(ids, ",") != "qwen2.5-vl,all-minilm" || f.paths[0] != "GET /v1/models" {
		t.Errorf("%v, %v via %v", ids, err, f.paths)
	}
}

// embedReply answers /v1/embeddings with vectors in reverse index order,
// as the API allows.
func embedReply(dim int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Input []string }
		json.NewDecoder(r.Body).Decode(&req)
		type datum struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float64 `json:"embedding"`
		}
		var data []datum
		for i := len(req.Input) - 1; i >= 0; i-- {
			v := make([]float64, dim)
			v[0] = float64(len(req.Input[i]))
			v[1] = 1
			data = append(data, datum{"embedding", i, v})
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": "m", "usage": map[string]int{"prompt_tokens": 3, "total_tokens": 3}})
	}
}

func TestEmbedder(t *testing.T) {
	f, srv := newFake(t, map[string]http.HandlerFunc{"/v1/embeddings": embedReply(3)})
	e := &Embedder{Client: &Client{BaseURL: srv.URL, APIKey: "k"}, Model: "all-minilm", BatchSize: 2}
	if e.ModelID() != "openai/all-minilm" || e.Dim() != 0 {
		t.Errorf("id %q dim %d", e.ModelID(), e.Dim())
	}
	texts := []string{"a", "bbb", "cc"}
	vs, err := e.EmbedTexts(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 3 || e.Dim() != 3 || len(f.bodies) != 2 {
		t.Fatalf("%d vectors, dim %d, %d requests", len(vs), e.Dim(), len(f.bodies))
	}
	for i, v := range vs {
		n := float64(len(texts[i]))
		if math.Abs(float64(v[0])-n/math.Sqrt(n*n+1)) > 1e-6 {
			t.Errorf("vector %d = %v: not in input order or not normalised", i, v)
		}
	}
	if b := f.bodies[0]; b["model"] != "all-minilm" || b["encoding_format"] != "float" || len(b["input"].([]any)) != 2 || b["dimensions"] != nil {
		t.Errorf("body %v", b)
	}
	e2 := &Embedder{Client: &Client{BaseURL: srv.URL, Model: "text-embedding-3-small"}, Dimensions: 3}
	if e2.ModelID() != "openai/text-embedding-3-small@3" || e2.Dim() != 3 {
		t.Errorf("id %q dim %d", e2.ModelID(), e2.Dim())
	}
	if err := e2.Load(context.Background()); err != nil || f.bodies[2]["dimensions"] != 3.0 {
		t.Errorf("load: %v, body %v", err, f.bodies[2])
	}
}

func TestEmbedderErrors(t *testing.T) {
	tests := []struct {
		name  string
		h     http.HandlerFunc
		texts []string
		want  string
	}{
		{"model not found", raw(404, `{"error":{"message":"model not found","code":"model_not_found"}}`), []string{"a"}, "model e not found at"},
		{"too few", raw(200, `{"data":[{"index":0,"embedding":[1,0]}]}`), []string{"a", "b"}, "asked for 2 vectors, got 1"},
		{"repeated index", raw(200, `{"data":[{"index":0,"embedding":[1,0]},{"index":0,"embedding":[1,0]}]}`), []string{"a", "b"}, "index 0 out of range or repeated"},
		{"zero vector", raw(200, `{"data":[{"index":0,"embedding":[0,0]}]}`), []string{"a"}, "cannot be normalised"},
		{"base64 answer", raw(200, `{"data":[{"index":0,"embedding":"AACAPw=="}]}`), []string{"a"}, "malformed JSON"},
		{"truncated", raw(200, `{"data":[{"index":0,"embedding":[1,`), []string{"a"}, "closed the connection"},
		{"empty text", embedReply(2), []string{""}, "text 0 is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newFake(t, map[string]http.HandlerFunc{"/v1/embeddings": tt.h})
			e := &Embedder{Client: &Client{BaseURL: srv.URL}, Model: "e"}
			if vs, err := e.EmbedTexts(context.Background(), tt.texts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v, %v; want error containing %q", vs, err, tt.want)
			}
		})
	}
}
