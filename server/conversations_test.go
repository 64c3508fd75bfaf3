package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"mmrag/sqlite"
)

func TestConversations(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.upload(t, [2]string{"notes.txt", sampleText})

	var c ConversationView
	decodeRes(t, ts.do(t, "POST", "/v1/conversations", `{}`), http.StatusCreated, &c)
	if c.ID == "" || c.Title != "" || c.Turns != 0 {
		t.Fatalf("created %+v", c)
	}
	var titled ConversationView
	decodeRes(t, ts.do(t, "POST", "/v1/conversations", `{"title":"  Planning  "}`), http.StatusCreated, &titled)
	if titled.Title != "Planning" {
		t.Errorf("title %q, want trimmed", titled.Title)
	}

	a, done := askInConversation(t, ts, c.ID)
	checkStoredTurns(t, ts, c.ID, a, done)

	var list struct{ Conversations []ConversationView }
	decodeRes(t, ts.do(t, "GET", "/v1/conversations", nil), 200, &list)
	if len(list.Conversations) != 2 || list.Conversations[0].ID != c.ID || list.Conversations[0].Turns != 4 {
		t.Errorf("list %+v: want the updated one first", list.Conversations)
	}

	var renamed ConversationView
	decodeRes(t, ts.do(t, "PATCH", "/v1/conversations/"+c.ID, `{"title":"CLIP"}`), 200, &renamed)
	if renamed.Title != "CLIP" || renamed.Turns != 4 {
		t.Errorf("renamed %+v", renamed)
	}

	checkConversationErrors(t, ts, c.ID)

	res := ts.do(t, "DELETE", "/v1/conversations/"+titled.ID, nil)
	if res.StatusCode != http.StatusNoContent {
		t.Errorf("delete: %d", res.StatusCode)
	}
	wantError(t, ts.do(t, "GET", "/v1/conversations/"+titled.ID, nil), 404, "not found")

	// A server started again over the same knowledge base has them.
	ws, err := sqlite.OpenWorkspace(context.Background(), filepath.Join(ts.dir, "kb"))
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	again := newTestServer(t, func(cfg *Config) { cfg.Workspace = ws })
	var d2 ConversationDetail
	decodeRes(t, again.do(t, "GET", "/v1/conversations/"+c.ID, nil), 200, &d2)
	if d2.Title != "CLIP" || len(d2.Turns) != 4 || d2.Turns[3].Content != done.Answer {
		t.Errorf("after a restart: %+v", d2)
	}
}

// askInConversation asks twice in conversation id: the first answer names
// the conversation, the second (streamed) gets the stored turns as its
// history whatever it sends.
func askInConversation(t *testing.T, ts *testServer, id string) (a, done Answer) {
	t.Helper()
	// An ask in a conversation is appended to it with its own sources.
	decodeRes(t, ts.do(t, "POST", "/v1/ask", `{"question":"What was CLIP trained on?","conversation_id":"`+id+`"}`), 200, &a)
	if a.Conversation == nil || a.Conversation.ID != id || a.Conversation.Turns != 2 || a.Conversation.Title != "What was CLIP trained on?" {
		t.Fatalf("answer's conversation %+v", a.Conversation)
	}
	// The second ask gets the stored turns as its history, whatever it sends.
	res := ts.do(t, "POST", "/v1/ask", `{"question":"And retrieval?","stream":true,"conversation_id":"`+id+`","history":[{"role":"user","content":"ignored"}]}`)
	evs := readEvents(t, res.Body)
	if len(evs) == 0 || evs[len(evs)-1].name != "done" {
		t.Fatalf("events %v", evs)
	}
	if err := json.Unmarshal([]byte(evs[len(evs)-1].data), &done); err != nil || done.Conversation == nil || done.Conversation.Turns != 4 {
		t.Fatalf("done %s (%v)", evs[len(evs)-1].data, err)
	}
	hist := ts.engine.lastAsk.History
	if len(hist) != 2 || hist[0] != (Turn{Role: "user", Content: "What was CLIP trained on?"}) || hist[1].Role != "assistant" || hist[1].Content != a.Answer {
		t.Errorf("history sent to the engine %+v", hist)
	}

	return a, done
}

// checkStoredTurns checks conversation id holds the two questions and
// answers, each answer with its own sources.
func checkStoredTurns(t *testing.T, ts *testServer, id string, a, done Answer) {
	t.Helper()
	var d ConversationDetail
	decodeRes(t, ts.do(t, "GET", "/v1/conversations/"+id, nil), 200, &d)
	if len(d.Turns) != 4 || d.Turns[1].Content != a.Answer || d.Turns[3].Content != done.Answer || d.Turns[1].Model != "extractive" {
		t.Fatalf("turns %+v", d.Turns)
	}
	if string(d.Turns[0].Sources) != "null" {
		t.Errorf("a question's sources: %s, want null", d.Turns[0].Sources)
	}
	var src SearchResponse
	if err := json.Unmarshal(d.Turns[1].Sources, &src); err != nil || len(src.Text) != len(a.Sources.Text) || src.Text[0].ItemID != a.Sources.Text[0].ItemID || src.Text[0].N != 1 {
		t.Errorf("stored sources %s, want those of the answer (%v)", d.Turns[1].Sources, err)
	}

}

// checkConversationErrors checks the refusals of the conversation routes.
func checkConversationErrors(t *testing.T, ts *testServer, id string) {
	t.Helper()
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/v1/conversations", `{"title":"` + strings.Repeat("x", 201) + `"}`, 400, "at most 200"},
		{"POST", "/v1/conversations", `{"title":"a\u0007b"}`, 400, "control"},
		{"POST", "/v1/conversations", `{"name":"x"}`, 400, "unknown field"},
		{"PATCH", "/v1/conversations/" + id, `{}`, 400, "missing title"},
		{"GET", "/v1/conversations/no%20such", "", 400, "conversation id"},
		{"GET", "/v1/conversations/" + strings.Repeat("a", 65), "", 400, "conversation id"},
		{"GET", "/v1/conversations/unknown", "", 404, "not found"},
		{"PATCH", "/v1/conversations/unknown", `{"title":"x"}`, 404, "not found"},
		{"DELETE", "/v1/conversations/unknown", "", 404, "not found"},
		{"POST", "/v1/ask", `{"question":"x","conversation_id":"unknown"}`, 404, "not found"},
		{"POST", "/v1/ask", `{"question":"x","conversation_id":"../x"}`, 400, "conversation id"},
	} {
		var body any
		if tc.body != "" {
			body = tc.body
		}
		wantError(t, ts.do(t, tc.method, tc.path, body), tc.status, tc.want)
	}

}

func TestConversationsWithoutWorkspace(t *testing.T) {
	ts := newTestServer(t, func(cfg *Config) { cfg.Workspace = nil })
	wantError(t, ts.do(t, "GET", "/v1/conversations", nil), http.StatusServiceUnavailable, "conversations")
	wantError(t, ts.do(t, "POST", "/v1/ask", `{"question":"x","conversation_id":"abc"}`), http.StatusServiceUnavailable, "conversations")
}

// serialEngine answers one question at a time, as a model server with one
// slot does; an answer to "block" writes one token, then waits for its
// context. It proves that a client who stops an answer frees the slot.
type serialEngine struct {
	slot    sync.Mutex
	started chan struct{} // a blocking answer wrote its token
}

func (e *serialEngine) Search(ctx context.Context, req SearchRequest) (*SearchResponse, error) {
	return &SearchResponse{}, nil
}

func (e *serialEngine) Ask(ctx context.Context, req AskRequest, onSources func(*SearchResponse) error, onToken func(string) error) (*Answer, error) {
	e.slot.Lock()
	defer e.slot.Unlock()
	src := &SearchResponse{Text: []Source{{ItemID: "i1", DocID: "d1", Modality: "text", Text: "a passage"}}}
	if onSources != nil {
		if err := onSources(src); err != nil {
			return nil, err
		}
	}
	if onToken != nil {
		if err := onToken("Half an "); err != nil {
			return nil, err
		}
	}
	if req.Question == "block" {
		e.started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &Answer{Answer: "Half an answer.", Sources: *src, Model: "fake"}, nil
}

// TestStopFreesTheServer: a client that stops a streaming answer cancels
// the engine's work; the next question is answered instead of waiting
// behind it, and the conversation keeps the stopped answer as written.
func TestStopFreesTheServer(t *testing.T) {
	eng := &serialEngine{started: make(chan struct{}, 1)}
	ts := newTestServer(t, func(cfg *Config) { cfg.Engine = eng })
	var c ConversationView
	decodeRes(t, ts.do(t, "POST", "/v1/conversations", `{"title":"stop"}`), http.StatusCreated, &c)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/ask",
		strings.NewReader(`{"question":"block","stream":true,"conversation_id":"`+c.ID+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "event: token") {
	}
	<-eng.started
	cancel() // Stop
	res.Body.Close()

	// With the slot still held this would wait forever.
	var a Answer
	decodeRes(t, ts.do(t, "POST", "/v1/ask", `{"question":"next"}`), 200, &a)
	if a.Answer != "Half an answer." {
		t.Errorf("next answer %q", a.Answer)
	}
	// The stopped answer was recorded when its ask returned, before the
	// slot was free.
	var d ConversationDetail
	decodeRes(t, ts.do(t, "GET", "/v1/conversations/"+c.ID, nil), 200, &d)
	if len(d.Turns) != 2 || d.Turns[0].Content != "block" || !d.Turns[1].Stopped || d.Turns[1].Content != "Half an " {
		t.Fatalf("turns after a stop %+v", d.Turns)
	}
	var src SearchResponse
	if err := json.Unmarshal(d.Turns[1].Sources, &src); err != nil || len(src.Text) != 1 {
		t.Errorf("stopped answer's sources %s (%v)", d.Turns[1].Sources, err)
	}
}
