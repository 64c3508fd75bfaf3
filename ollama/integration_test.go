package ollama

// Tests against a real Ollama server, as scripts/ollama.sh runs it:
//
//	eval "$(scripts/ollama.sh start)"
//	MMRAG_REQUIRE_OLLAMA=1 go test ./ollama/
//
// They skip unless MMRAG_OLLAMA_URL is set, and fail instead when
// MMRAG_REQUIRE_OLLAMA=1.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mmrag/generate"
	"mmrag/internal/testenv"
)

type server struct {
	url, chat, embed string
}

func realServer(t *testing.T) server {
	t.Helper()
	return server{url: testenv.OllamaURL(t), chat: testenv.OllamaChatModel(), embed: testenv.OllamaEmbedModel()}
}

// recorder keeps the bodies of the requests a client sends.
type recorder struct {
	mu     sync.Mutex
	bodies map[string][][]byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		r.mu.Lock()
		if r.bodies == nil {
			r.bodies = map[string][][]byte{}
		}
		r.bodies[req.URL.Path] = append(r.bodies[req.URL.Path], b)
		r.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestRealVersionAndList(t *testing.T) {
	s := realServer(t)
	c := &Client{BaseURL: s.url}
	ctx := context.Background()
	v, err := c.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Ollama %s at %s", v, s.url)
	ms, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
		if m.Size <= 0 || m.Digest == "" {
			t.Errorf("model %+v lacks size or digest", m)
		}
	}
	for _, want := range []string{s.chat + ":latest", s.embed + ":latest"} {
		if !slices.Contains(names, want) {
			t.Errorf("list %v lacks %s", names, want)
		}
	}
}

func TestRealChatStreams(t *testing.T) {
	s := realServer(t)
	c := &Client{BaseURL: s.url, Model: s.chat, Timeout: 2 * time.Minute}
	temp := 0.0
	var tokens []string
	resp, err := c.Generate(context.Background(), generate.Request{
		Messages:    []generate.Message{{Role: generate.User, Content: "Once upon a time, there was a little girl named Lily."}},
		Temperature: &temp, MaxTokens: 40,
	}, func(tok string) error { tokens = append(tokens, tok); return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tokens streamed, %d prompt and %d output tokens counted: %q", len(tokens), resp.PromptTokens, resp.OutputTokens, resp.Text)
	if len(tokens) < 2 {
		t.Errorf("streamed %d tokens, want several", len(tokens))
	}
	if resp.Text == "" || resp.Text != strings.Join(tokens, "") {
		t.Errorf("final text %q is not the streamed tokens %q", resp.Text, tokens)
	}
	if resp.PromptTokens <= 0 || resp.OutputTokens <= 0 || resp.OutputTokens > 40 {
		t.Errorf("counts: prompt %d, output %d (max 40)", resp.PromptTokens, resp.OutputTokens)
	}
	if resp.Model != s.chat {
		t.Errorf("model %q, want %q", resp.Model, s.chat)
	}

	// Greedy decoding is deterministic: the same request gives the same story.
	again, err := c.Generate(context.Background(), generate.Request{
		Messages:    []generate.Message{{Role: generate.User, Content: "Once upon a time, there was a little girl named Lily."}},
		Temperature: &temp, MaxTokens: 40,
	}, nil)
	if err != nil || again.Text != resp.Text {
		t.Errorf("second greedy answer %q (%v) differs from %q", again.Text, err, resp.Text)
	}
}

func TestRealCancel(t *testing.T) {
	s := realServer(t)
	c := &Client{BaseURL: s.url, Model: s.chat}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	_, err := c.Generate(ctx, generate.Request{
		Messages: []generate.Message{{Role: generate.User, Content: "Once upon a time"}}, MaxTokens: 200,
	}, func(string) error { n++; cancel(); return nil })
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Errorf("after cancel in the first token: %d tokens, error %v; want 1 and context.Canceled", n, err)
	}
}

func TestRealCapabilitiesAndImages(t *testing.T) {
	s := realServer(t)
	rec := &recorder{}
	var notes []string
	c := &Client{BaseURL: s.url, Model: s.chat, HTTP: &http.Client{Transport: rec}, Notify: func(n string) { notes = append(notes, n) }}
	ctx := context.Background()
	info, err := c.Show(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(info.Capabilities, "completion") || slices.Contains(info.Capabilities, "vision") || info.Family != "llama" {
		t.Errorf("show %s: capabilities %v, family %q", s.chat, info.Capabilities, info.Family)
	}
	caps, err := c.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// num_ctx 512 from the Modelfile, below the 2048 the GGUF was trained for.
	if want := (generate.Capabilities{Model: s.chat, ContextTokens: 512}); caps != want {
		t.Errorf("capabilities %+v, want %+v", caps, want)
	}

	// Ollama would drop the image silently; the client must not send it,
	// and must say so.
	resp, err := c.Generate(ctx, generate.Request{
		Messages:  []generate.Message{{Role: generate.User, Content: "Once upon a time", Images: [][]byte{pngBytes(t)}}},
		MaxTokens: 8,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text == "" {
		t.Error("no answer from text alone")
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "has no vision capability") || !strings.Contains(notes[0], "1 image(s) not sent") {
		t.Errorf("notes %q", notes)
	}
	chats := rec.bodies["/api/chat"]
	if len(chats) != 1 || bytes.Contains(chats[0], []byte(`"images"`)) {
		t.Errorf("chat requests sent: %s", chats)
	}

	emb, err := c.Show(ctx, s.embed)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(emb.Capabilities, "embedding") || emb.EmbeddingLength != 384 || emb.Family != "bert" {
		t.Errorf("show %s: capabilities %v, embedding length %d, family %q", s.embed, emb.Capabilities, emb.EmbeddingLength, emb.Family)
	}
	_, err = (&Client{BaseURL: s.url, Model: s.embed}).Generate(ctx, generate.Request{Messages: []generate.Message{{Role: "user", Content: "hi"}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "does not support chat") {
		t.Errorf("chat with an embedding model: %v", err)
	}
}

func cosine(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestRealEmbed(t *testing.T) {
	s := realServer(t)
	e := &Embedder{Client: &Client{BaseURL: s.url}, Model: s.embed, BatchSize: 2}
	ctx := context.Background()
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Dim() != 384 {
		t.Fatalf("dim %d, want 384", e.Dim())
	}
	texts := []string{
		"A cat is sleeping on the sofa.",
		"A kitten naps on the couch.",
		"The central bank raised interest rates again.",
		"Inflation pushed the bank to increase its rates.",
		"How do I bake sourdough bread?",
	}
	vs, err := e.EmbedTexts(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != len(texts) {
		t.Fatalf("%d vectors for %d texts", len(vs), len(texts))
	}
	for i, v := range vs {
		if len(v) != 384 || math.Abs(norm(v)-1) > 1e-5 {
			t.Errorf("vector %d: %d dims, norm %v", i, len(v), norm(v))
		}
	}
	catCat, bankBank := cosine(vs[0], vs[1]), cosine(vs[2], vs[3])
	t.Logf("cos(cat, kitten) %.3f, cos(bank, inflation) %.3f, cos(cat, bank) %.3f, cos(cat, bread) %.3f",
		catCat, bankBank, cosine(vs[0], vs[2]), cosine(vs[0], vs[4]))
	for _, unrelated := range []float64{cosine(vs[0], vs[2]), cosine(vs[0], vs[4]), cosine(vs[1], vs[3]), cosine(vs[2], vs[4])} {
		if catCat <= unrelated || bankBank <= unrelated {
			t.Errorf("paraphrases (%.3f, %.3f) do not score above unrelated sentences (%.3f)", catCat, bankBank, unrelated)
		}
	}
	// Batching does not change a text's vector.
	one, err := e.EmbedTexts(ctx, texts[2:3])
	if err != nil {
		t.Fatal(err)
	}
	if d := 1 - cosine(one[0], vs[2]); d > 1e-4 {
		t.Errorf("text embedded alone differs from in a batch: 1-cos = %g", d)
	}
}

func TestRealErrors(t *testing.T) {
	s := realServer(t)
	ctx := context.Background()
	c := &Client{BaseURL: s.url, Model: "mmrag-nosuch"}
	_, err := c.Generate(ctx, generate.Request{Messages: []generate.Message{{Role: "user", Content: "hi"}}}, nil)
	if !errors.Is(err, ErrModelNotFound) || !strings.Contains(err.Error(), "model mmrag-nosuch not found: run `ollama pull mmrag-nosuch`") {
		t.Errorf("chat with a missing model: %v", err)
	}
	if _, err := c.Capabilities(ctx); !errors.Is(err, ErrModelNotFound) {
		t.Errorf("capabilities of a missing model: %v", err)
	}
	if _, err := (&Embedder{Client: c}).EmbedTexts(ctx, []string{"hi"}); !errors.Is(err, ErrModelNotFound) || !strings.Contains(err.Error(), "ollama pull mmrag-nosuch") {
		t.Errorf("embed with a missing model: %v", err)
	}

	// A port nothing listens on: take a free one and let it go.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + l.Addr().String()
	l.Close()
	_, err = (&Client{BaseURL: downURL, Model: s.chat}).Generate(ctx, generate.Request{Messages: []generate.Message{{Role: "user", Content: "hi"}}}, nil)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "cannot reach Ollama at "+downURL+": start it with `ollama serve`") {
		t.Errorf("server down: %v", err)
	}
}
