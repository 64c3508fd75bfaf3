package openai

// Tests against a real OpenAI-compatible server: Ollama's /v1 API, as
// scripts/ollama.sh runs it:
//
//	eval "$(scripts/ollama.sh start)"
//	MMRAG_REQUIRE_OLLAMA=1 go test ./openai/
//
// They skip unless MMRAG_OLLAMA_URL is set, and fail instead when
// MMRAG_REQUIRE_OLLAMA=1.

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"mmrag/generate"
	"mmrag/internal/testenv"
)

func realServer(t *testing.T) (url, chat, embed string) {
	t.Helper()
	return testenv.OllamaURL(t), testenv.OllamaChatModel(), testenv.OllamaEmbedModel()
}

func TestRealChat(t *testing.T) {
	url, chat, _ := realServer(t)
	var notes []string
	c := &Client{BaseURL: url + "/v1", APIKey: "unused", Model: chat, Timeout: 2 * time.Minute, Notify: func(n string) { notes = append(notes, n) }}
	temp := 0.0
	var tokens []string
	resp, err := c.Generate(context.Background(), generate.Request{
		Messages:    []generate.Message{user("Once upon a time, there was a little dog.", pngBytes(t))},
		Temperature: &temp, MaxTokens: 30,
	}, func(s string) error { tokens = append(tokens, s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tokens, usage %d+%d: %q", len(tokens), resp.PromptTokens, resp.OutputTokens, resp.Text)
	if len(tokens) < 2 || resp.Text != strings.Join(tokens, "") {
		t.Errorf("text %q from tokens %q", resp.Text, tokens)
	}
	if resp.PromptTokens <= 0 || resp.OutputTokens <= 0 || resp.OutputTokens > 30 {
		t.Errorf("usage: prompt %d, output %d (max 30)", resp.PromptTokens, resp.OutputTokens)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "1 image(s) not sent") {
		t.Errorf("notes %q", notes)
	}

	ids, err := c.Models(context.Background())
	if err != nil || !slices.Contains(ids, chat+":latest") {
		t.Errorf("models %v, %v", ids, err)
	}
}

func TestRealEmbeddings(t *testing.T) {
	url, _, embed := realServer(t)
	e := &Embedder{Client: &Client{BaseURL: url}, Model: embed}
	ctx := context.Background()
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Dim() != 384 {
		t.Fatalf("dim %d, want 384", e.Dim())
	}
	vs, err := e.EmbedTexts(ctx, []string{"A cat is sleeping on the sofa.", "A kitten naps on the couch.", "The central bank raised interest rates again."})
	if err != nil {
		t.Fatal(err)
	}
	dot := func(a, b []float32) (s float64) {
		for i := range a {
			s += float64(a[i]) * float64(b[i])
		}
		return s
	}
	for i, v := range vs {
		if math.Abs(dot(v, v)-1) > 1e-5 {
			t.Errorf("vector %d not normalised: |v|² = %v", i, dot(v, v))
		}
	}
	if dot(vs[0], vs[1]) <= dot(vs[0], vs[2]) || dot(vs[0], vs[1]) <= dot(vs[1], vs[2]) {
		t.Errorf("paraphrases %.3f not above unrelated %.3f, %.3f", dot(vs[0], vs[1]), dot(vs[0], vs[2]), dot(vs[1], vs[2]))
	}
}

func TestRealModelNotFound(t *testing.T) {
	url, _, _ := realServer(t)
	c := &Client{BaseURL: url, Model: "mmrag-nosuch"}
	_, err := c.Generate(context.Background(), generate.Request{Messages: []generate.Message{user("hi")}}, nil)
	if !errors.Is(err, ErrModelNotFound) || !strings.Contains(err.Error(), "model mmrag-nosuch not found at "+url) {
		t.Errorf("chat: %v", err)
	}
	if _, err := (&Embedder{Client: c}).EmbedTexts(context.Background(), []string{"x"}); !errors.Is(err, ErrModelNotFound) {
		t.Errorf("embed: %v", err)
	}
}
