package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

func TestChatCompletionsRaw(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.upload(t, [2]string{"notes.txt", sampleText})

	oaiError := func(t *testing.T, res *http.Response, status int, contains string) {
		t.Helper()
		var e struct {
			Error struct{ Message, Type string }
		}
		decodeRes(t, res, status, &e)
		if e.Error.Type == "" || !strings.Contains(e.Error.Message, contains) {
			t.Errorf("error %+v, want one mentioning %q", e.Error, contains)
		}
	}
	for body, want := range map[string]string{
		`{"messages":[{"role":"user","content":"x"}]}`:                                 "missing model",
		`{"model":"mmrag","messages":[]}`:                                              "missing messages",
		`{"model":"mmrag","messages":[{"role":"assistant","content":"x"}]}`:            "user's question last",
		`{"model":"mmrag","messages":[{"role":"user","content":""}]}`:                  "missing question",
		`{"model":"mmrag","messages":[{"role":"user","content":42}]}`:                  "content",
		`{"model":"mmrag","messages":[{"role":"user","content":"x"}],"temperature":5}`: "temperature",
		`{"model":"mmrag","messages":`:                                                 "bad JSON",
	} {
		oaiError(t, ts.do(t, "POST", "/v1/chat/completions", body), 400, want)
	}
	oaiError(t, ts.do(t, "POST", "/v1/chat/completions", `{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}`), 404, "does not exist")
	oaiError(t, ts.do(t, "GET", "/v1/models/gpt-9", nil), 404, "does not exist")

	// History: system messages dropped, the sources list cut from
	// assistant turns, content parts read; the model picks the strategy.
	body := `{"model":"mmrag-text","stream_options":null,"user":"someone","messages":[
		{"role":"system","content":"You are a pirate."},
		{"role":"user","content":[{"type":"text","text":"What is CLIP?"}]},
		{"role":"assistant","content":"A model [1].\n\nSources:\n[1] notes.txt"},
		{"role":"user","content":[{"type":"text","text":"What was it"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + base64.StdEncoding.EncodeToString(testPNG(t, 4, 3, false)) + `"}},{"type":"text","text":"trained on?"}]}]}`
	var c chatResponse
	decodeRes(t, ts.do(t, "POST", "/v1/chat/completions", body), 200, &c)
	got := ts.engine.lastAsk
	if got.Question != "What was it\ntrained on?" || got.Strategy != "text" || got.Image == nil || got.Image.Bounds().Dx() != 4 ||
		!slices.Equal(got.History, []Turn{{"user", "What is CLIP?"}, {"assistant", "A model [1]."}}) {
		t.Errorf("engine got %+v", got)
	}
	if c.Object != "chat.completion" || len(c.Choices) != 1 || *c.Choices[0].FinishReason != "stop" || c.Model != "mmrag-text" {
		t.Fatalf("completion %+v", c)
	}
	content, _ := c.Choices[0].Message["content"].(string)
	if !strings.Contains(content, "[1]") || !strings.Contains(content, "\n\nSources:\n[1] notes.txt › Part 2") {
		t.Errorf("content %q lacks the cited sources", content)
	}
	if strings.Contains(content, "[2] ") {
		t.Errorf("content %q lists sources it does not cite", content)
	}
	if c.Usage == nil || c.Usage.TotalTokens != 15 || c.Sources == nil || len(c.Sources.Text) == 0 {
		t.Errorf("usage %+v, sources %+v", c.Usage, c.Sources)
	}
}

func TestSourcesList(t *testing.T) {
	src := SearchResponse{
		Text: []Source{
			{N: 1, Modality: "text", Title: "Post", Section: []string{"Intro"}, Source: "https://blog.example/post", Anchor: "intro"},
			{N: 2, Modality: "text", Title: "Paper", Page: 3, Source: "/docs/paper.pdf", Anchor: "x"},
		},
		Images: []Source{{N: 3, Modality: "image", Caption: "CLIP [diagram]", Title: "Post", Source: "https://blog.example/post",
			ImageURL: "/v1/items/i3/image", ThumbURL: "/v1/items/i3/image?thumb=256"}},
	}
	const fig = "\n\n[![Figure 3: CLIP (diagram)](http://h:1/v1/items/i3/image?thumb=256)](http://h:1/v1/items/i3/image)"
	tests := []struct{ answer, want string }{
		{"See [1] and [3].", "\n\nSources:\n[1] Post › Intro — https://blog.example/post#intro\n[3] Figure: CLIP [diagram] — Post — https://blog.example/post" + fig},
		{"See [2, 3].", "\n\nSources:\n[2] Paper (p. 3) — paper.pdf\n[3] Figure: CLIP [diagram] — Post — https://blog.example/post" + fig},
		{"No citations.", "\n\nSources:\n[1] Post › Intro — https://blog.example/post#intro\n[2] Paper (p. 3) — paper.pdf\n[3] Figure: CLIP [diagram] — Post — https://blog.example/post" + fig},
	}
	for _, tt := range tests {
		if got := (&Server{}).sourcesList(tt.answer, src, "http://h:1"); got != tt.want {
			t.Errorf("sourcesList(%q) =\n%q\nwant\n%q", tt.answer, got, tt.want)
		}
	}
	if got := (&Server{}).sourcesList("x", SearchResponse{}, "http://h:1"); got != "" {
		t.Errorf("no sources: %q", got)
	}
}

// checkOpenAIModels checks the models the OpenAI client lists and gets.
func checkOpenAIModels(t *testing.T, client openai.Client) {
	t.Helper()
	ctx := context.Background()
	models, err := client.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range models.Data {
		ids = append(ids, m.ID)
	}
	if !slices.Equal(ids, []string{"mmrag", "mmrag-text", "mmrag-text+images", "mmrag-multimodal"}) {
		t.Errorf("models %v", ids)
	}
	if m, err := client.Models.Get(ctx, "mmrag-multimodal"); err != nil || m.ID != "mmrag-multimodal" {
		t.Errorf("get model: %+v %v", m, err)
	}
}

// checkOpenAIStream checks that a streamed completion, with usage, is the
// unstreamed answer in several chunks.
func checkOpenAIStream(t *testing.T, client openai.Client, params openai.ChatCompletionNewParams, answer string) {
	t.Helper()
	stream := client.Chat.Completions.NewStreaming(context.Background(), params)
	acc := openai.ChatCompletionAccumulator{}
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != answer {
		t.Errorf("streamed %q, want the same as unstreamed %q", acc.Choices[0].Message.Content, answer)
	}
	if chunks < 5 || acc.Usage.TotalTokens != 15 || acc.Choices[0].FinishReason != "stop" {
		t.Errorf("%d chunks, usage %+v, finish %q", chunks, acc.Usage, acc.Choices[0].FinishReason)
	}
}

// TestOpenAIClient talks to the server with the official OpenAI Go client.
func TestOpenAIClient(t *testing.T) {
	const token = "kb-key"
	ts := newTestServer(t, func(c *Config) { c.Token = token })
	ct, body := multipartBody(t, [2]string{"notes.txt", sampleText})
	var j Job
	decodeRes(t, ts.do(t, "POST", "/v1/documents", body, "Content-Type", ct, "Authorization", "Bearer "+token), 202, &j)
	ts.waitJob(t, j.ID)
	ctx := context.Background()
	client := openai.NewClient(option.WithBaseURL(ts.URL+"/v1/"), option.WithAPIKey(token), option.WithMaxRetries(0))

	checkOpenAIModels(t, client)

	params := openai.ChatCompletionNewParams{
		Model: "mmrag",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Answer briefly."),
			openai.UserMessage("What is CLIP?"),
			openai.AssistantMessage("A model."),
			openai.UserMessage("What was CLIP trained on?"),
		},
		Temperature: openai.Float(0.2),
	}
	comp, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	answer := comp.Choices[0].Message.Content
	if !strings.Contains(answer, "contrastive") || !strings.Contains(answer, "Sources:\n[1] notes.txt") || comp.Choices[0].FinishReason != "stop" {
		t.Errorf("answer %q (finish %q)", answer, comp.Choices[0].FinishReason)
	}
	if got := ts.engine.lastAsk; got.Temperature == nil || *got.Temperature != 0.2 || len(got.History) != 2 {
		t.Errorf("engine got %+v", got)
	}

	// Streaming, with usage.
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	checkOpenAIStream(t, client, params, answer)

	// An error in the middle of a stream reaches the client as an error.
	ts.engine.mu.Lock()
	ts.engine.failWith = errors.New("the LLM server hung up")
	ts.engine.mu.Unlock()
	stream := client.Chat.Completions.NewStreaming(ctx, params)
	for stream.Next() {
	}
	// A server fault reaches the client as "internal error" and a request
	// id; its chain stays in the log.
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "internal error") || strings.Contains(err.Error(), "hung up") {
		t.Errorf("stream error %v, want an internal error without the chain", err)
	}
	_, err = client.Chat.Completions.New(ctx, params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 || !strings.Contains(apiErr.Message, "request id") || strings.Contains(apiErr.Message, "hung up") {
		t.Errorf("error %v, want a 500 API error with a request id and no chain", err)
	}
	// An unavailable dependency says what is wrong, for the client to act on.
	ts.engine.mu.Lock()
	ts.engine.failWith = fmt.Errorf("%w: the LLM server hung up", ErrUnavailable)
	ts.engine.mu.Unlock()
	_, err = client.Chat.Completions.New(ctx, params)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || !strings.Contains(apiErr.Message, "hung up") {
		t.Errorf("error %v, want a 503 API error carrying the message", err)
	}

	// A wrong key and an unknown model are API errors too.
	bad := openai.NewClient(option.WithBaseURL(ts.URL+"/v1/"), option.WithAPIKey("wrong"), option.WithMaxRetries(0))
	if _, err := bad.Models.List(ctx); !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Errorf("wrong key: %v", err)
	}
	ts.engine.mu.Lock()
	ts.engine.failWith = nil
	ts.engine.mu.Unlock()
	params.Model = "gpt-4o"
	if _, err := client.Chat.Completions.New(ctx, params); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Errorf("unknown model: %v", err)
	}
}
